"""Model options more than one detector shares (see :class:`core.models.registry.Option`)."""

from __future__ import annotations

from core.models.registry import Option

#: The stem option of the CNN and of the Capsule Network (which uses the CNN's feature
#: extractor). 2 since paired seeds showed it no less accurate for both; runs saved
#: before used 1.
STEM_STRIDE = Option(
    2,
    "Stride of the stem's second convolution: 2 runs every later block on a quarter "
    "of the pixels (several times faster); 1 keeps them at full resolution.",
    minimum=1,
    maximum=2,
    label="Stem stride",
    saved_default=1,
)

#: Batch normalization in TensorFlow's fused kernel (core.models.layers). On since paired
#: seeds showed it no less accurate (docs/BENCHMARKS.md); runs saved before used Keras's.
FUSED_BATCH_NORM = Option(
    True,
    "Compute batch normalization with TensorFlow's fused kernel: the same arithmetic "
    "as Keras's own layer in one pass, faster to train on a CPU. Off: Keras's layer.",
    label="Fused batch normalization",
    saved_default=False,
)

#: Separable convolutions whose 1x1 step is a matrix product (core.models.layers). Runs
#: saved before it used Keras's own layer.
POINTWISE_MATMUL = Option(
    True,
    "Compute each separable convolution's 1x1 step as a matrix product: the same "
    "arithmetic, faster to train on a CPU at Xception's widths. Off: Keras's layer.",
    label="Pointwise step as a matrix product",
    saved_default=False,
)
