"""Custom Keras layers and blocks shared by the detectors.

A forensic high-pass front end, statistics pooling, a small residual backbone, and
faster equivalents of Keras's batch norm and separable convolution (same weights).

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


@keras.saving.register_keras_serializable(package=PACKAGE)
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras's batch normalization, computed by TensorFlow's fused kernel.

    Keras 3 composes batch norm from a dozen element-wise operations (moments, then
    scale and shift), and their gradients as many again: on a CPU they took a third
    of an Xception training step. ``FusedBatchNormV3`` (oneDNN's kernel where oneDNN
    is on) does the same arithmetic in one pass forward and one backward, about 3x
    faster per layer. Same weights, same moving-statistics rule (Keras's: the biased
    batch variance), so a model saved with either layer loads into the other.

    Anything the fused kernel does not cover (another backend, a mask, renorm,
    synchronized statistics, an axis other than the last of a 4-D input) falls back
    to Keras's own computation.

    In bfloat16, oneDNN's kernels take 4-5x longer, forward and backward, when the
    channels are not a multiple of 16 (Xception's 728 channels: half the batch norm
    time of its training step). The layer then pads the channels with zeros for the
    kernel and slices them off again: each channel's statistics and output are
    computed as before. float32 is left unpadded, as padding slowed it on AVX2-only CPUs.
    """

    #: Pad bfloat16 channels to a multiple of this for the kernel (1: never pad).
    bfloat16_channel_multiple: int = 16

    def _channel_padding(self, channels: int) -> int:
        if self.compute_dtype != "bfloat16":
            return 0
        return -channels % self.bfloat16_channel_multiple

    def _fusable(self, inputs: Any, mask: Any) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
        )

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        pad = self._channel_padding(channels)
        x = ops.cast(inputs, self.compute_dtype)
        scale = ops.cast(self.gamma, "float32") if self.scale else ops.ones((channels,))
        offset = ops.cast(self.beta, "float32") if self.center else ops.zeros((channels,))
        if pad:
            x = tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, pad]])
            scale = tf.pad(scale, [[0, pad]], constant_values=1.0)
            offset = tf.pad(offset, [[0, pad]])
        if training and self.trainable:
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, scale, offset, epsilon=self.epsilon, is_training=True
            )
            mean, variance = mean[:channels], variance[:channels]
            # The kernel returns the unbiased (n / (n - 1)) variance; Keras keeps the biased.
            count = ops.cast(ops.prod(ops.shape(inputs)[:-1]), "float32")
            variance = variance * (count - 1.0) / count
            momentum = self.momentum
            self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
            self.moving_variance.assign(
                self.moving_variance * momentum + variance * (1.0 - momentum)
            )
        else:
            mean = ops.cast(self.moving_mean, "float32")
            variance = ops.cast(self.moving_variance, "float32")
            if pad:
                mean = tf.pad(mean, [[0, pad]])
                variance = tf.pad(variance, [[0, pad]], constant_values=1.0)
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x,
                scale,
                offset,
                mean=mean,
                variance=variance,
                epsilon=self.epsilon,
                is_training=False,
            )
        if pad:
            # tf.slice, not x[..., :channels]: a strided slice's gradient is several
            # times slower in bfloat16.
            outputs = tf.slice(outputs, [0, 0, 0, 0], [-1, -1, -1, channels])
        return ops.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class MatmulSeparableConv2D(keras.layers.SeparableConv2D):
    """Keras's separable convolution, its 1x1 (pointwise) step computed as a matrix product.

    A 1x1 convolution over (batch, height, width, channels) is a product of the
    (batch x height x width, channels) matrix with the (channels, filters) kernel.
    Written as one, forward and both gradients run through the matrix-product kernel
    instead of oneDNN's convolution: whole layers with Xception's 728 channels ran
    1.15x (8x8) and 1.31x (16x16) faster, forward and backward, on a 2-core Xeon, though
    the first 61x61 layer ran 0.84x (``bench.speed_bench --pointwise-ops``). Same
    weights, same arithmetic up to the order of the sums, so a model saved with either
    layer loads into the other.

    Anything else (another backend, channels first) uses Keras's own computation.
    """

    def _matmul_applies(self) -> bool:
        return keras.backend.backend() == "tensorflow" and self.data_format == "channels_last"

    def call(self, inputs: Any) -> Any:
        if not self._matmul_applies():
            return super().call(inputs)
        import tensorflow as tf

        x = ops.depthwise_conv(
            inputs,
            self.depthwise_kernel,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )
        kernel = ops.convert_to_tensor(self.pointwise_kernel)
        channels, filters = kernel.shape[-2], kernel.shape[-1]
        shape = tf.shape(x)
        outputs = tf.matmul(tf.reshape(x, (-1, channels)), tf.reshape(kernel, (channels, filters)))
        outputs = tf.reshape(outputs, tf.concat([shape[:-1], [filters]], axis=0))
        if self.use_bias:
            outputs = outputs + self.bias
        if self.activation is not None:
            return self.activation(outputs)
        return outputs


def batch_norm(x: Any, name: str, fused: bool = False) -> Any:
    """Batch norm with momentum 0.9 (``fused``: :class:`FusedBatchNormalization`).

    With ~13 steps an epoch, Keras's 0.99 leaves the inference statistics near their
    initial values and the model answers one class on validation.
    """
    layer = FusedBatchNormalization if fused else keras.layers.BatchNormalization
    return layer(momentum=0.9, name=name)(x)


def swap_layers(
    model: keras.Model, fused_batch_norm: bool = True, pointwise_matmul: bool = False
) -> keras.Model:
    """A copy of a functional ``model`` with faster layers computing the same thing.

    ``fused_batch_norm`` swaps Keras's batch norm for :class:`FusedBatchNormalization`,
    ``pointwise_matmul`` its separable convolutions for :class:`MatmulSeparableConv2D`.
    Layer names, weights and their order are kept, so weight files saved for the
    original (ImageNet's for Xception) load into the copy; so are the weights' values,
    so a seed gives the same initial network with either layer.
    """
    swaps: dict[type, type] = {}
    if fused_batch_norm:
        swaps[keras.layers.BatchNormalization] = FusedBatchNormalization
    if pointwise_matmul:
        swaps[keras.layers.SeparableConv2D] = MatmulSeparableConv2D
    if not swaps:
        return model

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        return swaps.get(type(layer), type(layer)).from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def _stem(x: Any, stride: int = 1, name: str = "block1", fused: bool = False) -> Any:
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name=f"{name}_conv1")(
        x
    )
    x = keras.layers.Activation("relu", name=f"{name}_relu1")(batch_norm(x, f"{name}_bn1", fused))
    x = keras.layers.Conv2D(
        64, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv2"
    )(x)
    x = batch_norm(x, f"{name}_bn2", fused)
    return keras.layers.Activation("relu", name=f"{name}_relu2")(x)


def _residual_block(x: Any, filters: int, name: str, fused: bool = False) -> Any:
    """Two separable 3x3 convs and a strided max-pool, added to a 1x1 strided shortcut."""
    shortcut = keras.layers.Conv2D(
        filters, 1, strides=2, padding="same", use_bias=False, name=f"{name}_shortcut"
    )(x)
    shortcut = batch_norm(shortcut, f"{name}_shortcut_bn", fused)
    for i in (1, 2):
        x = keras.layers.SeparableConv2D(
            filters, 3, padding="same", use_bias=False, name=f"{name}_sepconv{i}"
        )(x)
        x = batch_norm(x, f"{name}_bn{i}", fused)
        if i == 1:
            x = keras.layers.Activation("relu", name=f"{name}_relu1")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return keras.layers.Activation("relu", name=f"{name}_relu2")(x)


def separable_backbone(
    x: Any, widths: tuple[int, ...], stem_stride: int = 1, fused_batch_norm: bool = False
) -> Any:
    """A small Xception: a conv stem, then one residual separable block per width.

    The keras-io "image classification from scratch" network (Chollet 2017,
    "Xception: Deep Learning with Depthwise Separable Convolutions"). Each block
    halves the resolution; block ``i`` (from 2) names its layers ``block{i}_*``.
    ``stem_stride`` 2 makes the stem's second convolution strided too, so every
    block runs on a quarter of the pixels (a speed lever; 1 is the network above).
    ``fused_batch_norm`` uses :class:`FusedBatchNormalization` (the same arithmetic).
    """
    x = _stem(x, stem_stride, fused=fused_batch_norm)
    for i, filters in enumerate(widths, start=2):
        x = _residual_block(x, filters, f"block{i}", fused_batch_norm)
    return x
