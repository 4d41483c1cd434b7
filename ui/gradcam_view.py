"""How the Classify page shows a Grad-CAM map: an overlay with its colour scale, or a card.

A plain card says there is no evidence to show.

The map itself comes from :mod:`core.serving.gradcam`; this module only decides what a person
sees. A map that is zero everywhere (nothing pushed the model towards the verdict) or
the same everywhere (no region stands out) would draw as a flat blue or red overlay
that looks like a finding; both are shown as a sentence instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.data import images
from core.serving import gradcam

#: A map whose values span less than this is "the same everywhere".
FLAT_SPREAD = 0.05
SCALE_SIZE = (14, 256)  # height, width of the colour-scale strip in pixels


@dataclass(frozen=True)
class MapView:
    """What to show for one Grad-CAM result.

    Attributes:
        kind: ``"map"`` (draw the overlay), ``"flat"``, ``"empty"`` or ``"missing"``.
        message: the sentence shown instead of a map (or the overlay's caption).
    """

    kind: str
    message: str


def describe(cam: gradcam.GradCam, target: str) -> MapView:
    """Decide how to show ``cam`` (computed for the class ``target``)."""
    if cam.heatmap is None:
        return MapView("missing", f"No Grad-CAM map: {cam.reason}")
    heatmap = np.asarray(cam.heatmap, dtype="float32")
    top = float(heatmap.max()) if heatmap.size else 0.0
    if top <= 0.0 or not np.isfinite(top):
        return MapView(
            "empty",
            f"**No evidence for this verdict.** No region of the image pushed the model "
            f"towards {target} (Grad-CAM at `{cam.layer}` is zero everywhere).",
        )
    if top - float(heatmap.min()) < FLAT_SPREAD:
        return MapView(
            "flat",
            f"**No region stands out.** The model's evidence for {target} is spread evenly "
            f"over the whole image (Grad-CAM at `{cam.layer}` is the same everywhere).",
        )
    return MapView(
        "map",
        f"Grad-CAM at {cam.layer}: red marks the regions that pushed the model most "
        f"towards {target}, blue those that did not.",
    )


@st.cache_data(show_spinner=False)
def colour_scale() -> np.ndarray:
    """A horizontal strip of the overlay's colour map, weakest (left) to strongest (right)."""
    height, width = SCALE_SIZE
    ramp = np.tile(np.linspace(0.0, 1.0, width, dtype="float32"), (height, 1))
    grey = np.full((height, width, 3), 0, dtype=np.uint8)
    return gradcam.overlay(grey, ramp, alpha=1.0)


def show(cam: gradcam.GradCam, pixels: np.ndarray, target: str, side: int) -> MapView:
    """Draw the overlay and its colour scale, or the card that replaces them.

    Args:
        cam: the Grad-CAM result.
        pixels: the model input shown under the map (``uint8`` RGB).
        target: the class the map explains.
        side: display size of the overlay in pixels.

    Returns:
        What was shown (for the page's own logic and tests).
    """
    view = describe(cam, target)
    if view.kind == "map":
        st.image(
            gradcam.overlay(images.resize(pixels, side), cam.heatmap),
            caption=view.message,
            width="stretch",
        )
        st.image(colour_scale(), caption="Colour scale: no push ◀ ▶ strongest push")
    elif view.kind == "missing":
        st.caption(view.message)
    else:
        st.info(view.message, icon="🫥")
    return view
