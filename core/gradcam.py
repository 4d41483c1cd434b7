"""Grad-CAM: which regions of an image drove a detector's verdict.

Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization". The feature maps of the last convolutional stage are
weighted by the spatially averaged gradient of the decision (the logit for a Real
verdict, its negative for a Fake one), summed, passed through a ReLU and
normalised to [0, 1], then upsampled to the image.

The layer is found automatically: the last convolution (with the batch norm and
activation right after it) that every path from the input to the output goes
through. That picks ``block4_relu2`` in the CNN and in the CapsNet (there, the
shared backbone before its parallel primary-capsule branches; a conv inside one
branch would explain only that branch), and ``block14_sepconv2_act`` inside the
nested Xception base. Nested models are searched too. The activation is captured by a
short-lived hook on that layer, so this works for any Keras 3 functional model,
nested or not, without rebuilding it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core import images
from core.settings import CLASS_NAMES, LABEL_REAL

if TYPE_CHECKING:
    import keras

DEFAULT_COLORMAP = "jet"
DEFAULT_ALPHA = 0.45
_hook_lock = threading.Lock()  # the hook patches a shared (cached) model for one call


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


def _parents(model: keras.Model) -> dict[str, list[str]]:
    """Layer name -> names of the layers feeding it, within this model's graph only."""
    own_nodes = {
        id(node) for nodes in getattr(model, "_nodes_by_depth", {}).values() for node in nodes
    }
    parents: dict[str, list[str]] = {}
    for layer in model.layers:
        names: list[str] = []
        for node in layer._inbound_nodes:
            if own_nodes and id(node) not in own_nodes:
                continue
            names.extend(parent.operation.name for parent in node.parent_nodes)
        parents[layer.name] = names
    return parents


def _dominators(model: keras.Model) -> list[Any]:
    """Layers (in order) that every path from the inputs to the outputs goes through."""
    parents = _parents(model)
    children: dict[str, list[str]] = {name: [] for name in parents}
    for name, feeding in parents.items():
        for parent in feeding:
            children.setdefault(parent, []).append(name)
    sources = [name for name, feeding in parents.items() if not feeding]
    sinks = {name for name, below in children.items() if not below}

    def reaches_output_without(blocked: str) -> bool:
        seen, stack = set(), [name for name in sources if name != blocked]
        while stack:
            name = stack.pop()
            if name in sinks:
                return True
            if name in seen:
                continue
            seen.add(name)
            stack.extend(child for child in children.get(name, ()) if child != blocked)
        return False

    return [
        layer
        for layer in model.layers
        if layer.name not in sources and not reaches_output_without(layer.name)
    ]


def _is_spatial(layer: Any) -> bool:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return False
    return len(shape) == 4


def find_target_layer(model: keras.Model) -> list[Any] | None:
    """Return the path to the layer Grad-CAM should explain, outermost model first.

    Returns:
        ``[layer]``, or ``[nested_model, ..., layer]``; None when the model has no
        convolution that every path goes through.
    """
    import keras

    conv_types, follow_types = _conv_types(), _follow_types()
    best: list[Any] | None = None
    chain_open = False
    for layer in _dominators(model):
        if isinstance(layer, keras.Model) and getattr(layer, "layers", None):
            inner = find_target_layer(layer)
            if inner is not None:
                best, chain_open = [layer, *inner], False
                continue
        # A residual sum is the output of a conv stage too (its branches are convs).
        is_stage = isinstance(layer, (*conv_types, keras.layers.Add))
        if is_stage and _is_spatial(layer):
            best, chain_open = [layer], True
        elif chain_open and isinstance(layer, follow_types) and _is_spatial(layer):
            best = [layer]
        else:
            chain_open = False
    return best


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


class _Capture:
    """Temporarily wrap a layer's ``call`` to keep its output tensor."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.outputs: list[Any] = []

    def __enter__(self) -> _Capture:
        original = self.layer.call

        def call(*args: Any, **kwargs: Any) -> Any:
            output = original(*args, **kwargs)
            self.outputs.append(output)
            return output

        # Instance attribute shadows the class method; Keras's __call__ looks up self.call.
        object.__setattr__(self.layer, "call", call)
        return self

    def __exit__(self, *exc: object) -> None:
        object.__delattr__(self.layer, "call")


def _layer_path_name(path: list[Any]) -> str:
    return "/".join(layer.name for layer in path)


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
        layer_name: the layer to explain (searched in nested models too); None: automatic.
        target: ``"predicted"`` (the verdict at ``threshold``), ``"Real"`` or ``"Fake"``.
        threshold: P(Real) threshold used when ``target`` is ``"predicted"``.

    Returns:
        The heatmap at the image's size with values in [0, 1], or None with a reason.
    """
    import tensorflow as tf

    from core.predict import model_image_size, sigmoid

    if layer_name:
        path = find_layer_by_name(model, layer_name)
        if path is None:
            return GradCam(None, None, None, None, f"The model has no layer named {layer_name!r}.")
    else:
        path = find_target_layer(model)
        if path is None:
            return GradCam(
                None,
                None,
                None,
                None,
                "This model has no convolutional layer that all of its paths go through, "
                "so Grad-CAM cannot show one map for it.",
            )
    size = model_image_size(model)
    batch = tf.convert_to_tensor(images.resize(pixels, size)[None].astype("float32"))
    with _hook_lock, _Capture(path[-1]) as capture, tf.GradientTape() as tape:
        tape.watch(batch)
        logit = tf.reshape(model(batch, training=False), (-1,))[0]
        if not capture.outputs:
            raise RuntimeError(f"Layer {path[-1].name} did not run during the forward pass.")
        activation = capture.outputs[-1]
        p_real = float(sigmoid(float(logit)))
        if target == "predicted":
            target = CLASS_NAMES[LABEL_REAL] if p_real >= threshold else CLASS_NAMES[1 - LABEL_REAL]
        if target not in CLASS_NAMES:
            raise ValueError(f"target must be 'predicted', 'Real' or 'Fake', not {target!r}.")
        score = logit if target == CLASS_NAMES[LABEL_REAL] else -logit
    gradients = tape.gradient(score, activation)
    name = _layer_path_name(path)
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
