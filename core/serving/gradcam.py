"""Grad-CAM: which regions of an image drove a detector's verdict.

Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization". The feature maps of the last convolutional stage are
weighted by the spatially averaged gradient of the decision (the logit for a Real
verdict, its negative for a Fake one), summed, passed through a ReLU and
normalised to [0, 1], then upsampled to the image.

The layer is the one the model's spec names (``gradcam_layer``), else found
automatically: the last convolution (with the batch norm and activation right after
it) that every path from the input to the output goes through. That picks
``block4_relu2`` in the CNN and in the CapsNet (there, the shared backbone before
its parallel primary-capsule branches; a conv inside one branch would explain only
that branch); Xception's spec names ``block14_sepconv2_act`` inside its nested base.

Only public Keras API is used: the activation and the logit come from a sub-model
``keras.Model(model.inputs, [layer.output, model.output])`` sharing the trained
layers (for a nested layer, the spec's ``gradcam_model`` hook builds the
equivalent), so nothing is patched and concurrent calls are safe.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.data import images
from core.settings import CLASS_NAMES, LABEL_REAL

if TYPE_CHECKING:
    import keras

DEFAULT_COLORMAP = "jet"
DEFAULT_ALPHA = 0.45
#: model -> {layer name asked for: (layer path name, explaining model, why not)}; finding
#: the layer and building the sub-model is done once per loaded model.
_EXPLAINERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class GradCam:
    """A Grad-CAM heatmap, or why there is none.

    Attributes:
        heatmap: float32 (height, width) in [0, 1] at the image's size; None if unavailable.
        layer: path of the layer explained (``outer/inner`` for nested models).
        target: the verdict explained, ``"Real"`` or ``"Fake"``.
        p_real: the model's P(Real) for the image.
        reason: why there is no heatmap, or a remark (e.g. all gradients zero).
    """

    heatmap: np.ndarray | None
    layer: str | None
    target: str | None
    p_real: float | None
    reason: str | None = None


def _conv_types() -> tuple[type, ...]:
    import keras

    return (
        keras.layers.Conv2D,
        keras.layers.SeparableConv2D,
        keras.layers.DepthwiseConv2D,
    )


def _follow_types() -> tuple[type, ...]:
    import keras

    return (
        keras.layers.BatchNormalization,
        keras.layers.Activation,
        keras.layers.ReLU,
        keras.layers.LeakyReLU,
        keras.layers.ELU,
        keras.layers.PReLU,
    )


def _is_spatial(layer: Any) -> bool:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):  # unbuilt, or called at several places
        return False
    return len(shape) == 4


def _all_paths_through(model: keras.Model, layer: Any) -> bool:
    """True when every path from the inputs to the output goes through ``layer``.

    Public API only: a model from the layer's output to the model's output can be
    built exactly when nothing reaches the output around the layer.
    """
    import keras

    try:
        keras.Model(layer.output, model.outputs)
    except (ValueError, AttributeError):
        return False
    return True


def _ends_a_stage(layers: list[Any], position: int, stages: tuple, follow: tuple) -> bool:
    """True for a conv or residual sum, or a batch norm / activation right after one."""
    layer = layers[position]
    if isinstance(layer, stages):
        return True
    if not isinstance(layer, follow):
        return False
    before = [item for item in reversed(layers[:position]) if not isinstance(item, follow)]
    return bool(before) and isinstance(before[0], stages)


def find_target_layer(model: keras.Model) -> list[Any] | None:
    """Return the path to the layer Grad-CAM should explain, outermost model first.

    The last layer ending a convolutional stage, with a spatial output, that every
    path from the input to the output goes through (a conv inside one of several
    parallel branches would explain only that branch).

    Returns:
        ``[layer]``; None when the model has no such layer.
    """
    import keras

    stages = (*_conv_types(), keras.layers.Add)
    follow = _follow_types()
    layers = list(model.layers)
    for position in range(len(layers) - 1, -1, -1):
        layer = layers[position]
        if (
            _is_spatial(layer)
            and _ends_a_stage(layers, position, stages, follow)
            and _all_paths_through(model, layer)
        ):
            return [layer]
    return None


def find_layer_by_name(model: keras.Model, name: str) -> list[Any] | None:
    """Return the path to the layer called ``name``, searching nested models too."""
    import keras

    for layer in model.layers:
        if layer.name == name:
            return [layer]
        if isinstance(layer, keras.Model) and getattr(layer, "layers", None):
            inner = find_layer_by_name(layer, name)
            if inner is not None:
                return [layer, *inner]
    return None


def _layer_path_name(path: list[Any]) -> str:
    return "/".join(layer.name for layer in path)


def _explaining_model(model: keras.Model, path: list[Any]) -> keras.Model:
    """A model with outputs ``[activation of the layer, logit]``, built with public Keras API.

    For a layer of the model itself: ``keras.Model(model.inputs, [layer.output,
    model.output])``. For a layer inside a nested model: the model spec's
    ``gradcam_model`` hook (only the model's own file knows how it nests).

    Raises:
        ValueError: a nested layer and no hook for this model.
    """
    import keras

    from core.models import registry

    if len(path) == 1:
        return keras.Model(model.inputs, [path[-1].output, *model.outputs])
    spec = registry.find_spec(model.name)
    if spec is None or spec.gradcam_model is None:
        raise ValueError(f"{model.name} nests {path[0].name} and has no gradcam_model hook.")
    return spec.gradcam_model(model, path[-1].name)


def _target_path(model: keras.Model, layer_name: str | None) -> tuple[list[Any] | None, str]:
    """The layer to explain (named, else the spec's, else automatic), or why there is none."""
    from core.models import registry

    spec = registry.find_spec(model.name)
    name = layer_name or (spec.gradcam_layer if spec else None)
    if name:
        return find_layer_by_name(model, name), f"The model has no layer named {name!r}."
    return find_target_layer(model), (
        "This model has no convolutional layer that all of its paths go through, "
        "so Grad-CAM cannot show one map for it."
    )


def _explainer(model: keras.Model, layer_name: str | None) -> tuple[str | None, Any, str]:
    """(layer path name, explaining model, "") or (None, None, why not), cached per model."""
    per_model = _EXPLAINERS.setdefault(model, {})
    if layer_name not in per_model:
        path, why_not = _target_path(model, layer_name)
        if path is None:
            per_model[layer_name] = (None, None, why_not)
        else:
            per_model[layer_name] = (_layer_path_name(path), _explaining_model(model, path), "")
    return per_model[layer_name]


def compute_gradcam(
    model: keras.Model,
    pixels: np.ndarray,
    layer_name: str | None = None,
    target: str = "predicted",
    threshold: float = 0.5,
) -> GradCam:
    """Grad-CAM heatmap of ``model``'s verdict on one image.

    Args:
        model: a loaded detector (raw RGB in, one logit of P(Real) out).
        pixels: ``uint8`` RGB image (height, width, 3), any size; it is resized to
            the model's input like any prediction, and the heatmap back to this size.
        layer_name: the layer to explain (searched in nested models too); None: the
            spec's layer, else automatic.
        target: ``"predicted"`` (the verdict at ``threshold``), ``"Real"`` or ``"Fake"``.
        threshold: P(Real) threshold used when ``target`` is ``"predicted"``.

    Returns:
        The heatmap at the image's size with values in [0, 1], or None with a reason.
    """
    import tensorflow as tf

    from core.evaluation.scoring import model_image_size, sigmoid

    name, explaining, why_not = _explainer(model, layer_name)
    if explaining is None:
        return GradCam(None, None, None, None, why_not)
    size = model_image_size(model)
    batch = tf.convert_to_tensor(images.resize(pixels, size)[None].astype("float32"))
    with tf.GradientTape() as tape:
        activation, logit = explaining(batch, training=False)
        logit = tf.reshape(logit, (-1,))[0]
        p_real = float(sigmoid(float(logit)))
        if target == "predicted":
            target = CLASS_NAMES[LABEL_REAL] if p_real >= threshold else CLASS_NAMES[1 - LABEL_REAL]
        if target not in CLASS_NAMES:
            raise ValueError(f"target must be 'predicted', 'Real' or 'Fake', not {target!r}.")
        score = logit if target == CLASS_NAMES[LABEL_REAL] else -logit
    gradients = tape.gradient(score, activation)
    if gradients is None:
        return GradCam(None, name, target, p_real, "The verdict does not depend on this layer.")
    weights = tf.reduce_mean(gradients[0], axis=(0, 1))
    cam = tf.nn.relu(tf.reduce_sum(activation[0] * weights, axis=-1)).numpy()
    reason = None
    top = float(cam.max())
    if top > 0 and np.isfinite(top):
        cam = cam / top
    else:
        cam = np.zeros_like(cam)
        reason = "No region pushed the model towards this verdict (all-zero map)."
    heatmap = _resize_map(cam.astype("float32"), pixels.shape[0], pixels.shape[1])
    return GradCam(heatmap, name, target, p_real, reason)


def _resize_map(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    resized = cv2.resize(cam, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(resized, 0.0, 1.0).astype("float32")


def overlay(
    pixels: np.ndarray,
    heatmap: np.ndarray,
    alpha: float = DEFAULT_ALPHA,
    colormap: str = DEFAULT_COLORMAP,
) -> np.ndarray:
    """Blend a [0, 1] heatmap, coloured with a matplotlib colormap, over an RGB image.

    Args:
        pixels: ``uint8`` RGB image (height, width, 3).
        heatmap: float (height, width) in [0, 1] (resized if its size differs).
        alpha: weight of the heatmap in the blend.
        colormap: matplotlib colormap name.

    Returns:
        ``uint8`` RGB image of the same size as ``pixels``.
    """
    import matplotlib

    height, width = pixels.shape[:2]
    if heatmap.shape != (height, width):
        heatmap = _resize_map(heatmap.astype("float32"), height, width)
    colours = matplotlib.colormaps[colormap](np.clip(heatmap, 0.0, 1.0))[..., :3] * 255.0
    blended = (1.0 - alpha) * pixels.astype("float32") + alpha * colours
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
