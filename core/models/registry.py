"""A registry of detectors by name: one file per model, each registering a builder.

Usage::

    @register("cnn")
    def make_model(image_size: int, **options) -> keras.Model: ...

    build("cnn", image_size=128)

The registry key is also the model's file name and its run-folder prefix.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

ModelBuilder = Callable[..., Any]

_BUILDERS: dict[str, ModelBuilder] = {}
#: Known model modules, imported lazily so listing names does not import TensorFlow.
MODEL_NAMES = ("cnn", "capsnet", "xception")
DISPLAY_NAMES = {"cnn": "CNN", "capsnet": "Capsule Network", "xception": "Xception"}
#: Smallest input side each model accepts (Xception's stem needs 71 px).
MIN_IMAGE_SIZE = {"cnn": 32, "capsnet": 32, "xception": 71}


def register(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Register ``make_model`` of a model module under ``name``."""

    def decorator(builder: ModelBuilder) -> ModelBuilder:
        _BUILDERS[name] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    """Return the registered model names, in display order."""
    return list(MODEL_NAMES)


def get_builder(name: str) -> ModelBuilder:
    """Return the builder registered under ``name``.

    Raises:
        KeyError: unknown name; the message lists the valid ones.
    """
    if name not in MODEL_NAMES:
        raise KeyError(f"Unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}.")
    if name not in _BUILDERS:
        importlib.import_module(f"core.models.{name}")
    return _BUILDERS[name]


def build(name: str, precision: str = "float32", **kwargs: Any) -> Any:
    """Build the model registered under ``name`` with the given options.

    Args:
        name: registry name.
        precision: Keras dtype policy the layers compute in (``"float32"`` or
            ``"mixed_bfloat16"``); the models keep their input front end and their
            logit in float32 either way. The global policy is restored afterwards.
        **kwargs: the builder's options (``image_size`` and the model's own).
    """
    builder = get_builder(name)
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        return builder(**kwargs)
    finally:
        keras.config.set_dtype_policy(previous)


def import_all() -> None:
    """Import every model module, registering its builder and custom layers.

    Call before ``keras.saving.load_model`` so custom layers deserialize.
    """
    for name in MODEL_NAMES:
        get_builder(name)
