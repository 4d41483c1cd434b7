"""Capsule layers: the squash non-linearity, dynamic routing, capsule lengths.

Sabour, Frosst and Hinton 2017, "Dynamic Routing Between Capsules".

Used by :mod:`core.models.capsnet`; registered for ``keras.saving.load_model``.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from core.models.layers import PACKAGE

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
