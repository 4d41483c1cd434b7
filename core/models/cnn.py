"""A compact convolutional detector (registry name ``cnn``).

A forensic front end, a conv stem, three residual blocks of separable
convolutions, statistics pooling.

The body is the keras-io "image classification from scratch" network (itself a
small Xception: Chollet 2017, "Xception: Deep Learning with Depthwise Separable
Convolutions"). On the shared FFHQ/StyleGAN2 data it ranked test images far better
than a plain stack of conv blocks of the same size (AUC 0.92 vs 0.84), and pooling
the mean *and variance* of each channel instead of the mean alone lifted it to 0.97
(statistics pooling, as in Capsule-Forensics). With what face-forgery work found
to matter on small data: fixed SRM high-pass residuals next to the RGB input (Zhou
et al. 2018, "Learning Rich Features for Image Manipulation Detection"), no
resampling augmentation (it blurs away generator traces, Wang et al. 2020,
"CNN-generated images are surprisingly easy to spot... for now").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.models.options import FUSED_BATCH_NORM, STEM_STRIDE
from core.models.registry import ModelSpec, Option, register

if TYPE_CHECKING:
    import keras


def make_model(
    image_size: int,
    augment: bool = True,
    seed: int | None = None,
    high_pass: bool = True,
    widths: tuple[int, ...] = (128, 256, 384),
    stem_stride: int = 2,
    dropout: float = 0.3,
    fused_batch_norm: bool = True,
    **_: Any,
) -> keras.Model:
    """Build the CNN.

    Args:
        image_size: side of the square raw-RGB input.
        augment: random horizontal flips while training.
        seed: seeds the random layers.
        high_pass: add the fixed SRM residual channels to the input.
        widths: filters of each residual block after the stem.
        stem_stride: 2 strides the stem's second convolution: a quarter of the pixels
            in every block after it (the default since it was measured as fast and no
            less accurate, docs/BENCHMARKS.md); 1 is the network before that.
        dropout: dropout rate before the logit.
        fused_batch_norm: batch norm in TensorFlow's fused kernel (the same arithmetic).

    Returns:
        An uncompiled model: raw 0-255 RGB (image_size, image_size, 3) -> one logit of P(Real).
    """
    import keras

    from core.models.layers import StatsPooling, preprocess, separable_backbone

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = preprocess(inputs, augment, seed, high_pass)
    x = separable_backbone(x, widths, stem_stride, fused_batch_norm)
    x = StatsPooling(name="stats_pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs, outputs, name="cnn")


SPEC = register(
    ModelSpec(
        name="cnn",
        display_name="CNN",
        build=make_model,
        summary="A small residual separable CNN on RGB plus SRM noise residuals.",
        options={
            "high_pass": Option(
                True,
                "Add the fixed SRM noise-residual channels to the input.",
                label="Noise-residual (SRM) input channels",
            ),
            "stem_stride": STEM_STRIDE,
            "fused_batch_norm": FUSED_BATCH_NORM,
            "widths": Option(
                (128, 256, 384),
                "Filters of each residual block (comma-separated; one block each).",
                minimum=1,
                maximum=2048,
                label="Filters per residual block",
            ),
            "dropout": Option(
                0.3, "Dropout rate before the logit.", 0.0, 0.9, label="Dropout rate"
            ),
        },
        min_image_size=32,
    )
)
