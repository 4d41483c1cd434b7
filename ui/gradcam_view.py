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
#: Overlay weight for an Uncertain verdict's map: visible, but not read as a finding.
MUTED_ALPHA = 0.15


@dataclass(frozen=True)
class MapView:
    """What to show for one Grad-CAM result.

    Attributes:
        kind: ``"map"`` (draw the overlay), ``"flat"``, ``"empty"`` or ``"missing"``.
        message: the sentence shown instead of a map (or the overlay's caption).
        muted: draw the map faintly (an Uncertain verdict), with ``note`` under it.
        note: what a person should know besides the caption ("" for nothing).
    """

    kind: str
    message: str
    muted: bool = False
    note: str = ""


def describe(
    cam: gradcam.GradCam,
    target: str,
    uncertain: bool = False,
    face_box: tuple[int, int, int, int] | None = None,
) -> MapView:
    """Decide how to show ``cam`` (computed for the class ``target``).

    Args:
        cam: the Grad-CAM result.
        target: the class the map explains.
        uncertain: the verdict is Uncertain: the map is muted, and says why.
        face_box: the face seen in the model's input, to say when the evidence lies
            mostly outside it.
    """
    if cam.heatmap is None:
        return MapView("missing", f"No Grad-CAM map: {cam.reason}")
    heatmap = np.asarray(cam.heatmap, dtype="float32")
    top = float(heatmap.max()) if heatmap.size else 0.0
    if top <= 0.0 or not np.isfinite(top):
        return MapView(
            "empty",
            f"**No evidence for this verdict.** No region of the image pushed the model "
            f"towards {target} (the last convolution block's Grad-CAM is zero everywhere).",
        )
    if top - float(heatmap.min()) < FLAT_SPREAD:
        return MapView(
            "flat",
            f"**No region stands out.** The model's evidence for {target} is spread evenly "
            f"over the whole image (the last convolution block's Grad-CAM is the same "
            "everywhere).",
        )
    notes = []
    if uncertain:
        notes.append(
            f"Muted: the model is close to a coin flip on this image, so this map shows only "
            f"where it leaned towards {target}, not evidence of it."
        )
    if face_box is not None and share_inside(heatmap, face_box) < 0.5:
        outside = 1.0 - share_inside(heatmap, face_box)
        notes.append(
            f"Most of the evidence ({outside:.0%}) lies outside the face: the model may be "
            "reading the background or the framing, not the face."
        )
    return MapView(
        "map",
        f"Grad-CAM of the last convolution block: red marks the regions that pushed the "
        f"model most towards {target}, blue those that did not. Colours are relative to this "
        "image's strongest region: they show where, not how much.",
        muted=uncertain,
        note=" ".join(notes),
    )


def share_inside(heatmap: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """The share of a map's total evidence that lies inside a (x, y, width, height) box."""
    total = float(heatmap.sum())
    if total <= 0:
        return 0.0
    x, y, width, height = box
    return float(heatmap[y : y + height, x : x + width].sum()) / total


@st.cache_data(show_spinner=False)
def colour_scale() -> np.ndarray:
    """A horizontal strip of the overlay's colour map, weakest (left) to strongest (right)."""
    height, width = SCALE_SIZE
    ramp = np.tile(np.linspace(0.0, 1.0, width, dtype="float32"), (height, 1))
    grey = np.full((height, width, 3), 0, dtype=np.uint8)
    return gradcam.overlay(grey, ramp, alpha=1.0)


def show(
    cam: gradcam.GradCam,
    pixels: np.ndarray,
    target: str,
    side: int,
    uncertain: bool = False,
    face_box: tuple[int, int, int, int] | None = None,
) -> MapView:
    """Draw the overlay and its colour scale, or the card that replaces them.

    Args:
        cam: the Grad-CAM result.
        pixels: the model input shown under the map (``uint8`` RGB).
        target: the class the map explains.
        side: display size of the overlay in pixels.
        uncertain: the verdict is Uncertain: the map is drawn muted, with a caption.
        face_box: the face seen in ``pixels``, to say when the evidence lies outside it.

    Returns:
        What was shown (for the page's own logic and tests).
    """
    view = describe(cam, target, uncertain, face_box)
    if view.kind == "map":
        alpha = MUTED_ALPHA if view.muted else gradcam.DEFAULT_ALPHA
        shown = images.resize(pixels, side)
        st.image(
            gradcam.overlay(shown, cam.heatmap, alpha=alpha), caption=view.message, width="stretch"
        )
        st.image(colour_scale(), caption="Colour scale: no push ◀ ▶ strongest push")
        if view.note:
            st.caption(view.note)
    elif view.kind == "missing":
        st.caption(view.message)
    else:
        st.info(view.message, icon="🫥")
    return view
