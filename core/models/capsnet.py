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

Statistics pooling makes the capsules independent of the image size, so the network
trains on native-resolution patches and scores whole images.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from core.models.layers import PACKAGE, StatsPooling, batch_norm, preprocess, separable_backbone
from core.models.registry import register

EPSILON = 1e-7


def squash(vectors: Any, axis: int = -1) -> Any:
    """Sabour et al.'s non-linearity: keep the direction, map the norm into [0, 1).

    ``squash(s) = |s|^2 / (1 + |s|^2) * s / |s|``.
    """
    squared = ops.sum(ops.square(vectors), axis=axis, keepdims=True)
    scale = squared / (1.0 + squared) / ops.sqrt(squared + EPSILON)
    return vectors * scale


@keras.saving.register_keras_serializable(package=PACKAGE)
class Squash(keras.layers.Layer):
    """Layer form of :func:`squash` over the last axis."""

    def call(self, inputs: Any) -> Any:
        return squash(inputs)


@keras.saving.register_keras_serializable(package=PACKAGE)
class CapsuleRouting(keras.layers.Layer):
    """Capsules -> capsules by dynamic routing by agreement (Sabour et al. 2017).

    Input (batch, n_in, dim_in); output (batch, n_out, dim_out), squashed.

    Args:
        n_out: number of output capsules.
        dim_out: dimension of each output capsule.
        iterations: routing iterations (Capsule-Forensics uses 2, Sabour 3).
    """

    def __init__(self, n_out: int, dim_out: int, iterations: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if iterations < 1:
            raise ValueError("Routing needs at least one iteration.")
        self.n_out = int(n_out)
        self.dim_out = int(dim_out)
        self.iterations = int(iterations)

    def build(self, input_shape: tuple) -> None:
        n_in, dim_in = input_shape[1], input_shape[2]
        # One transformation matrix per (input capsule, output capsule) pair.
        self.transform = self.add_weight(
            name="transform",
            shape=(n_in, self.n_out, dim_in, self.dim_out),
            initializer=keras.initializers.RandomNormal(stddev=0.5 / dim_in**0.5),
        )

    def predictions(self, inputs: Any) -> Any:
        """Prediction vectors u_hat_j|i = W_ij u_i, shape (batch, n_in, n_out, dim_out)."""
        return ops.einsum("bid,ijde->bije", inputs, self.transform)

    def route(self, inputs: Any) -> tuple[Any, Any]:
        """Run the routing; return (output capsules, final coupling coefficients).

        The coefficients have shape (batch, n_in, n_out) and sum to 1 over n_out.
        """
        u_hat = self.predictions(inputs)
        logits = ops.zeros(ops.shape(u_hat)[:3], dtype=u_hat.dtype)
        # Routing updates the logits only: gradients flow through the last pass,
        # as in Sabour et al.'s reference implementation.
        u_hat_stopped = ops.stop_gradient(u_hat)
        for iteration in range(self.iterations):
            coupling = ops.softmax(logits, axis=2)
            last = iteration == self.iterations - 1
            source = u_hat if last else u_hat_stopped
            outputs = squash(ops.einsum("bij,bije->bje", coupling, source))
            if not last:
                logits = logits + ops.einsum("bije,bje->bij", u_hat_stopped, outputs)
        return outputs, coupling

    def call(self, inputs: Any) -> Any:
        return self.route(inputs)[0]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.n_out, self.dim_out)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "n_out": self.n_out,
            "dim_out": self.dim_out,
            "iterations": self.iterations,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class CapsuleLength(keras.layers.Layer):
    """Euclidean length of each capsule: (batch, n, dim) -> (batch, n)."""

    def call(self, inputs: Any) -> Any:
        return ops.sqrt(ops.sum(ops.square(inputs), axis=-1) + EPSILON)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape[:-1]


def _conv(x: Any, filters: int, name: str) -> Any:
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(batch_norm(x, f"{name}_bn"))


@register("capsnet")
def make_model(
    image_size: int,
    augment: bool = True,
    patch_size: int | None = None,
    high_pass: bool = True,
    n_primary: int = 8,
    primary_dim: int = 8,
    class_dim: int = 8,
    routing_iterations: int = 2,
    widths: tuple[int, ...] = (128, 256, 384),
    seed: int | None = None,
    **_: Any,
) -> keras.Model:
    """Build the capsule network.

    Args:
        image_size: side of the square raw-RGB input.
        augment: random horizontal flips while training.
        patch_size: train on random patches of this side (None: the whole image).
        high_pass: add the fixed SRM residual channels to the input.
        n_primary: number of primary capsules (independent conv branches).
        primary_dim: dimension of each primary capsule.
        class_dim: dimension of the two class capsules.
        routing_iterations: dynamic-routing iterations.
        widths: filters of each residual block of the shared feature extractor.
        seed: seeds the random layers.

    Returns:
        An uncompiled model: raw 0-255 RGB (image_size, image_size, 3) -> one logit of P(Real).
    """
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = preprocess(inputs, augment, patch_size, seed, high_pass)
    x = separable_backbone(x, widths)
    capsules = []
    for i in range(n_primary):
        branch = _conv(x, 32, f"primary{i}")
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
