"""The detector registry: one :class:`ModelSpec` per model file, found by name.

A model file describes everything the app needs to know about its detector in one
frozen :class:`ModelSpec` and registers it::

    SPEC = register(ModelSpec(name="cnn", display_name="CNN", build=make_model, ...))

Pages, training, prediction, Grad-CAM and comparison read the spec; nothing outside
a model's own file names a model. The registry key is also the model's file name
and its run-folder prefix.

Model files import Keras only inside their builders, so listing the models (the
Train and Compare pages do) never imports TensorFlow. The built-in model files are
listed in :data:`MODEL_MODULES`; more can be added without touching this file by
naming their modules in ``DEEPFAKE_EXTRA_MODELS`` (comma-separated), or by
importing a module that calls :func:`register`.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

logger = logging.getLogger(__name__)

#: The built-in model files, in display order: this tuple is the registry's entry list.
MODEL_MODULES = ("core.models.cnn", "core.models.capsnet", "core.models.xception")
#: Environment variable naming further model modules to register (comma-separated).
EXTRA_MODELS_ENV = "DEEPFAKE_EXTRA_MODELS"
#: The custom Keras layers every built-in model may use; imported before loading a model.
LAYER_MODULES = ("core.models.layers",)


@dataclass(frozen=True)
class Option:
    """One model option: its default and how a person may set it.

    Attributes:
        default: the value used when none is given; its type is the option's type
            (bool, int, float, or a tuple of ints).
        help: one sentence for the Train page and ``--help``.
        minimum: smallest accepted number (each item for a tuple), if any.
        maximum: largest accepted number (each item for a tuple), if any.
        label: the plain name the Train page shows (the option's own name stays in
            its help); empty: the name with spaces.
        saved_default: when the default changed, the value runs saved without this
            option in their config were built with; None: the default.
    """

    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    label: str = ""
    saved_default: Any = None

    def parse(self, value: Any) -> Any:
        """Convert ``value`` (a JSON value or command-line text) to the option's type.

        Raises:
            ValueError: the value has the wrong type or lies outside the limits.
        """
        parsed = _convert(self.default, value)
        for item in parsed if isinstance(parsed, tuple) else (parsed,):
            if isinstance(item, bool):
                continue
            if self.minimum is not None and item < self.minimum:
                raise ValueError(f"{value!r} is below the minimum of {self.minimum:g}")
            if self.maximum is not None and item > self.maximum:
                raise ValueError(f"{value!r} is above the maximum of {self.maximum:g}")
        return parsed


_TRUE = ("true", "yes", "1", "on")
_FALSE = ("false", "no", "0", "off")


def _convert(default: Any, value: Any) -> Any:
    text = value.strip() if isinstance(value, str) else None
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in (*_TRUE, *_FALSE):
            return text.lower() in _TRUE
        raise ValueError(f"{value!r} is not true or false")
    if isinstance(default, tuple):
        items = text.replace(" ", "").split(",") if text is not None else value
        if not isinstance(items, list | tuple) or not items or items == [""]:
            raise ValueError(f"{value!r} is not a list of whole numbers")
        return tuple(_convert(default[0] if default else 0, item) for item in items)
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if isinstance(default, int):
        if not number.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)
    return number


@dataclass(frozen=True)
class WeightsChoice:
    """Where a model's pre-trained weights come from at the start of a run, if anywhere.

    Attributes:
        path: the weights file to load, or None to train from scratch.
        pretrained: True when pre-trained weights are used.
        message: one plain sentence for the run's config and the UI.
        source: what happened: ``file`` (named by the person), ``cached``,
            ``downloaded``, ``download failed``, ``unreachable`` or ``file missing``.
        download_tried: True when a download was attempted.
    """

    path: str | None
    pretrained: bool
    message: str
    source: str = ""
    download_tried: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The ``weights`` entry of a run's config.json (``imagenet`` kept for old readers)."""
        return {
            "imagenet": self.pretrained,
            "message": self.message,
            "source": self.source,
            "download_tried": self.download_tried,
        }


@dataclass(frozen=True)
class ModelSpec:
    """Everything the app knows about one detector.

    Attributes:
        name: registry key, model file name and run-folder prefix.
        display_name: how people call it.
        build: ``build(image_size, *, augment, seed, weights=None, **options)`` returning
            an uncompiled ``keras.Model`` named ``name``: raw 0-255 RGB in, one logit of
            P(Real) out, its last layer a one-unit Dense named ``logit``.
        options: option name -> :class:`Option` (defaults recorded in config.json).
        min_image_size: smallest input side the model accepts.
        default_image_size: the input side proposed by the Train page.
        summary: one sentence for the Train page.
        gradcam_layer: the layer Grad-CAM explains (searched in nested models too);
            None: the last convolutional stage every path goes through, found
            automatically.
        gradcam_model: for models that nest another model: ``(model, layer_name) ->
            keras.Model`` with outputs ``[activation, logit]``; None: a sub-model of
            the model's own inputs and outputs.
        layer_modules: modules defining the custom layers of saved models, imported
            before loading one.
        resolve_weights: ``(weights_path or None) -> WeightsChoice``, called at the
            start of a run, for models with pre-trained weights.
        weights_status: ``(weights_path or None) -> str``: what this machine has
            (weights cached or not, whether a download will be tried), for the page.
        weights_file_hint: file name of the weights, for the page's placeholder.
        fine_tune: ``model -> layers opened``: unfreezes the top of a pre-trained base
            for a second, low-rate phase; None when the model has no such phase.
        frozen_split: ``model -> (extractor, head)`` or None: while the pre-trained
            base is frozen, the model cut after it (pixels to pooled features, in
            inference mode) and the rest (features to logit, sharing the model's
            layers), so the base's features can be computed once and cached
            (:mod:`core.training.features`); None when the model has no frozen base.
        default_precision: the training precision when ``DEEPFAKE_PRECISION`` is not
            set (:func:`core.settings.training_precision`): ``float32``, or ``auto``
            where bfloat16 passed the paired-seed rule for this model.
    """

    name: str
    display_name: str
    build: Callable[..., Any]
    options: Mapping[str, Option] = field(default_factory=dict)
    min_image_size: int = 32
    default_image_size: int = 128
    summary: str = ""
    gradcam_layer: str | None = None
    gradcam_model: Callable[[Any, str], Any] | None = None
    layer_modules: tuple[str, ...] = LAYER_MODULES
    resolve_weights: Callable[[str | None], WeightsChoice] | None = None
    weights_status: Callable[[str | None], str] | None = None
    weights_file_hint: str = ""
    fine_tune: Callable[[Any], int] | None = None
    frozen_split: Callable[[Any], tuple[Any, Any] | None] | None = None
    default_precision: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def pretrained(self) -> bool:
        """True when the model can start from pre-trained weights."""
        return self.resolve_weights is not None

    def defaults(self) -> dict[str, Any]:
        """Option name -> default value."""
        return {name: option.default for name, option in self.options.items()}

    def saved_options(self, saved: Mapping[str, Any] | None) -> dict[str, Any]:
        """A saved config's options, with what runs saved before an option existed used.

        An option whose default changed since carries the old one in ``saved_default``;
        a saved config that lacks it was built with that value, not today's default.
        """
        earlier = {
            key: option.saved_default
            for key, option in self.options.items()
            if option.saved_default is not None
        }
        return {**earlier, **(saved or {})}

    def resolve_options(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults overridden by ``given``, each converted to its type.

        Raises:
            ValueError: an unknown option or a bad value; the message names it.
        """
        values = self.defaults()
        for key, value in (given or {}).items():
            if key not in self.options:
                known = ", ".join(self.options) or "none"
                raise ValueError(f"{self.name} has no option {key!r} (options: {known}).")
            try:
                values[key] = self.options[key].parse(value)
            except ValueError as error:
                raise ValueError(f"{self.name} option {key}: {error}.") from None
        return values


_SPECS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Register a model spec under its name (registering a name again replaces it)."""
    _SPECS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove the spec registered under ``name`` (tests register models of their own)."""
    _SPECS.pop(name, None)


def _modules() -> list[str]:
    extra = os.environ.get(EXTRA_MODELS_ENV, "")
    return [*MODEL_MODULES, *(name.strip() for name in extra.split(",") if name.strip())]


def _load() -> None:
    """Import the model modules not imported yet (light: Keras loads inside the builders)."""
    for module in _modules():
        if module in sys.modules:
            continue
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise
            logger.warning("Model module %s not found; its runs cannot be used.", module)


def list_models() -> list[str]:
    """Return the registered model names: built-in ones first, in display order."""
    _load()
    modules = _modules()
    registered = list(_SPECS.values())

    def position(spec: ModelSpec) -> tuple[int, int]:
        module = getattr(spec.build, "__module__", "")
        rank = modules.index(module) if module in modules else len(modules)
        return rank, registered.index(spec)

    return [spec.name for spec in sorted(registered, key=position)]


def get_spec(name: str) -> ModelSpec:
    """Return the spec registered under ``name``.

    Raises:
        KeyError: unknown name; the message lists the valid ones.
    """
    _load()
    if name not in _SPECS:
        raise KeyError(f"Unknown model {name!r}; choose one of: {', '.join(_SPECS)}.")
    return _SPECS[name]


def find_spec(name: str | None) -> ModelSpec | None:
    """The spec registered under ``name``, or None."""
    _load()
    return _SPECS.get(name or "")


def display_name(name: str) -> str:
    """How people call the model ``name`` (the name itself for an unknown model)."""
    spec = find_spec(name)
    return spec.display_name if spec else name


def build(name: str, precision: str = "float32", **kwargs: Any) -> Any:
    """Build the model registered under ``name`` with the given options.

    Args:
        name: registry name.
        precision: Keras dtype policy the layers compute in (``"float32"`` or
            ``"mixed_bfloat16"``); the models keep their input front end and their
            logit in float32 either way. The global policy is restored afterwards.
        **kwargs: the builder's arguments (``image_size``, ``augment``, ``seed``,
            ``weights`` and the model's options; missing options take their defaults).

    Returns:
        The uncompiled ``keras.Model``.
    """
    spec = get_spec(name)
    import keras

    options = {key: kwargs.pop(key) for key in list(kwargs) if key in spec.options}
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        return spec.build(**kwargs, **spec.resolve_options(options))
    finally:
        keras.config.set_dtype_policy(previous)


def import_all() -> None:
    """Register every model and import its custom layers.

    Call before ``keras.saving.load_model`` so custom layers deserialize.
    """
    _load()
    for spec in list(_SPECS.values()):
        for module in spec.layer_modules:
            importlib.import_module(module)
