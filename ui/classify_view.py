"""Classify page: the card of one image, with every chosen run's verdict and evidence.

Everything shown is decided in :mod:`core.serving.classify`; this module only draws it.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.data import faces, images
from core.models.registry import display_name
from core.serving import classify, gradcam, verdict
from ui import classify_ensemble, gradcam_view

DISPLAY_SIDE = 256
VERDICT_COLOURS = {"Real": "green", "Fake": "red", verdict.UNCERTAIN: "gray"}


def draw_run_verdict(
    judged: classify.RunVerdict, summary: str | None, cam: gradcam.GradCam | None
) -> None:
    """One run's card: its verdict, probability, threshold, notes and Grad-CAM."""
    run, shown = judged.detector.run, judged.verdict
    st.caption(f"{display_name(run.model)} · `{run.name}`")
    if summary:
        st.caption(f"Model card: {summary}")
    if judged.detector.warning:
        st.warning(judged.detector.warning, icon="⚠️")
    if shown is None:
        st.markdown(f"### :gray[{classify.TOO_SMALL}]")
        st.warning(judged.refusal)
        return
    st.markdown(f"### :{VERDICT_COLOURS[shown.label]}[{shown.label}]")
    st.progress(shown.p_real if shown.uncertain else shown.probability, text=shown.text)
    st.caption(
        f"P(Real) = {shown.p_real:.3f} · threshold {shown.threshold:.3f} "
        f"({judged.detector.threshold_source})" + (f" · {shown.reason}" if shown.uncertain else "")
    )
    for note in judged.notes:
        if note.startswith("No face found"):
            st.warning(note)
        elif not note.startswith("Face crop used"):
            st.caption(note)
    if cam is not None:
        gradcam_view.show(
            cam, judged.pixels, shown.leaning, DISPLAY_SIDE, shown.uncertain, judged.face_in_input
        )


def draw_image(
    result: classify.ImageVerdicts,
    truth: str | None,
    summaries: dict[str, str | None],
    ensemble_rule: str | None,
    gradcam_for: Callable[[classify.RunVerdict], gradcam.GradCam | None],
) -> None:
    """One image: as given (with the face box), the crop used, and every run's card.

    Args:
        result: the verdicts of :func:`core.serving.classify.classify` on the image.
        truth: the true label of a dataset sample, else None.
        summaries: each run's one-line model-card summary, by run name.
        ensemble_rule: the ensemble's rule when one was asked for.
        gradcam_for: the Grad-CAM map of a verdict (None: not shown).
    """
    st.markdown(f"**{result.name}**" + (f" · true label: {truth}" if truth else ""))
    if result.decoded is None:
        st.error(f"{result.name} could not be classified: {result.error}")
        return
    columns = st.columns(1 + len(result.runs))
    decoded = result.decoded
    original = decoded.pixels
    if result.face_box is not None:
        original = faces.draw_box(decoded.pixels, result.face_box)
    columns[0].image(
        images.thumbnail(original, 2 * DISPLAY_SIDE),
        caption=f"Image as given: {decoded.original_size[0]}x{decoded.original_size[1]}, "
        f"{decoded.format or 'unknown format'} {decoded.original_mode}",
        width="stretch",
    )
    if result.face_pixels is not None:
        columns[0].image(
            images.resize(result.face_pixels, DISPLAY_SIDE),
            caption=f"Face crop used ({result.face_box[2]} px square, resized to the input)",
            width="stretch",
        )
    for column, judged in zip(columns[1:], result.runs, strict=True):
        with column:
            draw_run_verdict(judged, summaries.get(judged.detector.run.name), gradcam_for(judged))
    if result.ensemble is not None:
        votes = [
            (judged.detector.run.name, judged.verdict)
            for judged in result.runs
            if judged.verdict is not None and not judged.detector.warning
        ]
        classify_ensemble.card(votes, ensemble_rule, result.ensemble, VERDICT_COLOURS)
