"""A fourth detector that lives only in tests/: proof that adding a model is one file.

A deliberately tiny network (one strided convolution, average pooling, a logit)
so the registry test can train it, list it, score it, classify with it and explain
it in seconds. Registered like the built-in models; the app picks it up when this
module is imported, or from ``DEEPFAKE_EXTRA_MODELS=tests.fourth_detector``.
"""

from __future__ import annotations

from typing import Any

from core.models.registry import ModelSpec, Option, register


def make_model(
    image_size: int, augment: bool = True, seed: int | None = None, filters: int = 4, **_: Any
) -> Any:
    """Raw 0-255 RGB -> one logit of P(Real), from built-in Keras layers only."""
    import keras

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(inputs)
    if augment:
        x = keras.layers.RandomFlip("horizontal", seed=seed, name="flip")(x)
    x = keras.layers.Conv2D(filters, 3, strides=2, activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs, outputs, name="tinyconv")


SPEC = register(
    ModelSpec(
        name="tinyconv",
        display_name="Tiny conv (test)",
        build=make_model,
        summary="One convolution: a test model.",
        options={"filters": Option(4, "Filters of the convolution.", minimum=1, maximum=64)},
        min_image_size=16,
        default_image_size=32,
        gradcam_layer="features",
    )
)
