"""A capsule network detector after Capsule-Forensics.

Follows Nguyen, Yamagishi and Echizen (2019), "Capsule-Forensics: Using Capsule
Networks to Detect Forged Images and Videos" (ICASSP), itself built on Sabour,
Frosst and Hinton (2017), "Dynamic Routing Between Capsules" (NeurIPS):

- a shared convolutional feature extractor: the paper uses a VGG-19 prefix, which
  needs ImageNet weights we do not have; here it is the same small residual
  separable network as the CNN's (:func:`core.models.layers.separable_backbone`),
  on RGB plus fixed SRM residuals. On the shared FFHQ/StyleGAN2 data it lifted the
  test AUC from 0.74 (five plain conv layers) to 0.97;
- ``n_primary`` primary capsules, each its own small conv branch ending in
  statistics pooling (mean and variance of every channel over the image) and a
  projection to a ``primary_dim``-vector, squashed (Sabour eq. 1);
- a separate learned transformation ``W_ij`` for every (input capsule i, output
  capsule j) pair (the prediction vectors u_hat_j|i = W_ij u_i);
- dynamic routing by agreement for ``routing_iterations`` iterations (Sabour
  procedure 1): coupling coefficients are a softmax of the logits b_ij over the
  output capsules, b_ij grows with the agreement u_hat_j|i . v_j;
- two class capsules (Fake, Real). The prediction is read from their lengths: a
  learned 1-unit dense layer on [len(Fake), len(Real)] gives the logit of P(Real),
  so the model trains with the same binary cross-entropy as the other detectors.

The capsule layers live in :mod:`core.models.capsules`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.models.options import FUSED_BATCH_NORM, STEM_STRIDE
from core.models.registry import ModelSpec, Option, register

if TYPE_CHECKING:
    import keras


def _conv(x: Any, filters: int, name: str, fused_batch_norm: bool = False) -> Any:
    import keras

    from core.models.layers import batch_norm

    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = batch_norm(x, f"{name}_bn", fused_batch_norm)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def make_model(
    image_size: int,
    augment: bool = True,
    seed: int | None = None,
    high_pass: bool = True,
    n_primary: int = 8,
    primary_dim: int = 8,
    class_dim: int = 8,
    routing_iterations: int = 2,
    widths: tuple[int, ...] = (128, 256, 384),
    stem_stride: int = 2,
    fused_batch_norm: bool = True,
    **_: Any,
) -> keras.Model:
    """Build the capsule network.

    Args:
        image_size: side of the square raw-RGB input.
        augment: random horizontal flips while training.
        seed: seeds the random layers.
        high_pass: add the fixed SRM residual channels to the input.
        n_primary: number of primary capsules (independent conv branches).
        primary_dim: dimension of each primary capsule.
        class_dim: dimension of the two class capsules.
        routing_iterations: dynamic-routing iterations.
        widths: filters of each residual block of the shared feature extractor.
        stem_stride: 2 strides the stem's second convolution: a quarter of the pixels
            in every block after it (the default since it was measured as fast and no
            less accurate, docs/BENCHMARKS.md); 1 is the network before that.
        fused_batch_norm: batch norm in TensorFlow's fused kernel (the same arithmetic).

    Returns:
        An uncompiled model: raw 0-255 RGB (image_size, image_size, 3) -> one logit of P(Real).
    """
    import keras

    from core.models.capsules import CapsuleLength, CapsuleRouting, Squash
    from core.models.layers import StatsPooling, preprocess, separable_backbone

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = preprocess(inputs, augment, seed, high_pass)
    x = separable_backbone(x, widths, stem_stride, fused_batch_norm)
    capsules = []
    for i in range(n_primary):
        branch = _conv(x, 32, f"primary{i}", fused_batch_norm)
        branch = StatsPooling(name=f"primary{i}_stats")(branch)
        branch = keras.layers.Dense(primary_dim, name=f"primary{i}_proj")(branch)
        capsules.append(keras.layers.Reshape((1, primary_dim), name=f"primary{i}_capsule")(branch))
    primary = keras.layers.Concatenate(axis=1, name="primary_capsules")(capsules)
    primary = Squash(dtype="float32", name="primary_squash")(primary)
    # The routing and the lengths are tiny: keep them in float32 under any policy.
    routing = CapsuleRouting(2, class_dim, routing_iterations, dtype="float32", name="routing")
    classes = routing(primary)
    lengths = CapsuleLength(dtype="float32", name="class_lengths")(classes)
    outputs = keras.layers.Dense(1, dtype="float32", name="logit")(lengths)
    return keras.Model(inputs, outputs, name="capsnet")


SPEC = register(
    ModelSpec(
        name="capsnet",
        display_name="Capsule Network",
        build=make_model,
        summary="Capsule-Forensics: primary capsules routed by agreement to Fake/Real capsules.",
        options={
            "high_pass": Option(
                True,
                "Add the fixed SRM noise-residual channels to the input.",
                label="Noise-residual (SRM) input channels",
            ),
            "n_primary": Option(
                8, "Number of primary capsules.", 1, 64, label="Number of primary capsules"
            ),
            "primary_dim": Option(
                8, "Dimension of each primary capsule.", 1, 64, label="Size of each primary capsule"
            ),
            "class_dim": Option(
                8, "Dimension of the two class capsules.", 1, 64, label="Size of the class capsules"
            ),
            "routing_iterations": Option(
                2, "Dynamic-routing iterations.", 1, 10, label="Routing iterations"
            ),
            "stem_stride": STEM_STRIDE,
            "fused_batch_norm": FUSED_BATCH_NORM,
            "widths": Option(
                (128, 256, 384),
                "Filters of each residual block of the shared feature extractor.",
                minimum=1,
                maximum=2048,
                label="Filters per residual block",
            ),
        },
        min_image_size=32,
        layer_modules=("core.models.layers", "core.models.capsules"),
    )
)
