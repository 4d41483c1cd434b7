"""Custom Keras layers and blocks shared by the detectors.

A forensic high-pass front end, statistics pooling and a small residual backbone.

Generators leave their fingerprints in the high frequencies (Zhang et al. 2019,
"Detecting and Simulating Artifacts in GAN Fake Images"; Frank et al. 2020), which
a network fed only with smoothly scaled RGB needs many examples to find. The
:class:`HighPassResidual` layer computes fixed SRM noise residuals (Fridrich and
Kodovsky 2012, "Rich Models for Steganalysis of Digital Images", as used for
forensics by Zhou et al. 2018, "Learning Rich Features for Image Manipulation
Detection") so the trainable layers start from those traces.

Every layer builds its weights in ``build()``, implements ``get_config()`` and is
registered for ``keras.saving.load_model(..., safe_mode=True)``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

PACKAGE = "deepfake"

# The three SRM kernels of Zhou et al. (2018), each normalised by its own scale.
_SRM_KERNELS = np.array(
    [
        [
            [0, 0, 0, 0, 0],
            [0, -1, 2, -1, 0],
            [0, 2, -4, 2, 0],
            [0, -1, 2, -1, 0],
            [0, 0, 0, 0, 0],
        ],
        [
            [-1, 2, -2, 2, -1],
            [2, -6, 8, -6, 2],
            [-2, 8, -12, 8, -2],
            [2, -6, 8, -6, 2],
            [-1, 2, -2, 2, -1],
        ],
        [
            [0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
            [0, 1, -2, 1, 0],
            [0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
        ],
    ],
    dtype="float32",
) / np.array([4.0, 12.0, 2.0], dtype="float32").reshape(3, 1, 1)


def srm_kernel() -> np.ndarray:
    """Return the depthwise kernel (5, 5, 3, 3): each SRM filter on each colour channel."""
    kernel = np.zeros((5, 5, 3, 3), dtype="float32")
    for channel in range(3):
        for k in range(3):
            kernel[:, :, channel, k] = _SRM_KERNELS[k]
    return kernel


@keras.saving.register_keras_serializable(package=PACKAGE)
class HighPassResidual(keras.layers.Layer):
    """Fixed SRM high-pass residuals of raw 0-255 RGB, truncated and scaled.

    Output: 9 channels (3 filters x 3 colour channels) in [-1, 1]: the residual in
    grey levels, clipped at ``truncation`` levels (the "TLU" of steganalysis, which
    keeps strong edges from drowning the faint noise) and divided by it.

    Args:
        truncation: clip residuals at this many grey levels.
    """

    def __init__(self, truncation: float = 3.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.truncation = float(truncation)

    def build(self, input_shape: tuple) -> None:
        if input_shape[-1] != 3:
            raise ValueError(f"HighPassResidual expects RGB input, got {input_shape[-1]} channels.")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(5, 5, 3, 3),
            initializer=keras.initializers.Constant(srm_kernel()),
            trainable=False,
        )

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, self.compute_dtype)
        residual = ops.depthwise_conv(x, self.kernel, strides=1, padding="same")
        return ops.clip(residual, -self.truncation, self.truncation) / self.truncation

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], 9)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "truncation": self.truncation}


def preprocess(inputs: Any, augment: bool, seed: int | None, high_pass: bool) -> Any:
    """The shared front end: flips, RGB scaled to [-1, 1] (+ SRM residuals).

    Args:
        inputs: the raw 0-255 RGB model input.
        augment: random horizontal flips while training (no resampling: blur
            would erase the high-frequency traces).
        seed: seeds the random layers.
        high_pass: append the 9 SRM residual channels to the scaled RGB.

    Returns:
        The feature map the trainable layers start from, always computed in float32:
        under a bfloat16 policy the SRM residuals (small differences of large pixel
        values) would lose most of their precision.
    """
    x = inputs
    if augment:
        x = keras.layers.RandomFlip("horizontal", seed=seed, dtype="float32", name="flip")(x)
    rgb = keras.layers.Rescaling(1 / 127.5, offset=-1.0, dtype="float32", name="scale")(x)
    if not high_pass:
        return rgb
    residual = HighPassResidual(dtype="float32", name="srm")(x)
    return keras.layers.Concatenate(dtype="float32", name="rgb_srm")([rgb, residual])


@keras.saving.register_keras_serializable(package=PACKAGE)
class StatsPooling(keras.layers.Layer):
    """Mean and variance of every channel over the spatial axes, concatenated.

    The variance keeps what global average pooling throws away: how strongly a
    texture or residual pattern varies over the image, a cue generators get wrong.
    """

    def call(self, inputs: Any) -> Any:
        mean = ops.mean(inputs, axis=(1, 2))
        variance = ops.var(inputs, axis=(1, 2))
        return ops.concatenate([mean, variance], axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], 2 * input_shape[-1])


def batch_norm(x: Any, name: str) -> Any:
    """Batch norm with momentum 0.9.

    With ~13 steps an epoch, Keras's 0.99 leaves the inference statistics near their
    initial values and the model answers one class on validation.
    """
    return keras.layers.BatchNormalization(momentum=0.9, name=name)(x)


def _stem(x: Any, stride: int = 1, name: str = "block1") -> Any:
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name=f"{name}_conv1")(
        x
    )
    x = keras.layers.Activation("relu", name=f"{name}_relu1")(batch_norm(x, f"{name}_bn1"))
    x = keras.layers.Conv2D(
        64, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv2"
    )(x)
    return keras.layers.Activation("relu", name=f"{name}_relu2")(batch_norm(x, f"{name}_bn2"))


def _residual_block(x: Any, filters: int, name: str) -> Any:
    """Two separable 3x3 convs and a strided max-pool, added to a 1x1 strided shortcut."""
    shortcut = keras.layers.Conv2D(
        filters, 1, strides=2, padding="same", use_bias=False, name=f"{name}_shortcut"
    )(x)
    shortcut = batch_norm(shortcut, f"{name}_shortcut_bn")
    for i in (1, 2):
        x = keras.layers.SeparableConv2D(
            filters, 3, padding="same", use_bias=False, name=f"{name}_sepconv{i}"
        )(x)
        x = batch_norm(x, f"{name}_bn{i}")
        if i == 1:
            x = keras.layers.Activation("relu", name=f"{name}_relu1")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return keras.layers.Activation("relu", name=f"{name}_relu2")(x)


def separable_backbone(x: Any, widths: tuple[int, ...], stem_stride: int = 1) -> Any:
    """A small Xception: a conv stem, then one residual separable block per width.

    The keras-io "image classification from scratch" network (Chollet 2017,
    "Xception: Deep Learning with Depthwise Separable Convolutions"). Each block
    halves the resolution; block ``i`` (from 2) names its layers ``block{i}_*``.
    ``stem_stride`` 2 makes the stem's second convolution strided too, so every
    block runs on a quarter of the pixels (a speed lever; 1 is the network above).
    """
    x = _stem(x, stem_stride)
    for i, filters in enumerate(widths, start=2):
        x = _residual_block(x, filters, f"block{i}")
    return x
