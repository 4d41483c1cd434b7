"""Classify: a verdict (Real / Fake) on your own images, with the evidence.

Upload images or pick samples from the dataset's Test split, choose one or more
finished runs, and read each run's verdict, probability and Grad-CAM map side by
side. Decoding, face cropping, scoring and Grad-CAM all live in ``core``; this page
reads widgets and draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from core import data, faces, gradcam, images, predict, runs, verdict
from core.models.registry import display_name
from ui import classify_ensemble, common, gradcam_view
from ui.model_card_view import card_summary

UPLOAD_LIMIT_MB = int(st.get_option("server.maxUploadSize"))
UPLOAD_LIMIT_BYTES = UPLOAD_LIMIT_MB * 1024 * 1024
SAMPLE_COUNT = 4
DISPLAY_SIDE = 256
SAMPLES_KEY = "classify_samples"
SAMPLE_ROUND_KEY = "classify_sample_round"
VERDICT_COLOURS = {
    "Real": "green",
    "Fake": "red",
    verdict.UNCERTAIN: "gray",
}  # no verdict: neither colour


@dataclass
class Item:
    """One image to classify: its name, bytes and, for dataset samples, the true label."""

    name: str
    data: bytes
    truth: str | None = None


def _model_stamp(run: runs.Run) -> float:
    path = run.path / "model.keras"
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def _load_model(run_path: str, stamp: float):
    return predict.load_model(Path(run_path))


@st.cache_data(show_spinner=False, max_entries=256)
def _gradcam(run_path: str, stamp: float, pixels: np.ndarray, target: str):
    return gradcam.compute_gradcam(_load_model(run_path, stamp), pixels, target=target)


def _auc(run: runs.Run) -> float | None:
    value = (run.metrics or {}).get("auc")
    return float(value) if isinstance(value, int | float) else None


def _describe(run: runs.Run) -> str:
    auc = _auc(run)
    model = display_name(run.model)
    return f"{model} · {run.name} · AUC {auc:.3f}" if auc is not None else f"{model} · {run.name}"


def uncertain_reason(shown: verdict.Verdict) -> str:
    """Why an image got no verdict, in a few words."""
    if shown.within_band:
        return f"within ±{shown.band:.2f} of the threshold: too close to call"
    return f"P({shown.leaning}) would be below 50%: too close to call"


def _pick_samples() -> None:
    """Button callback: draw a class-balanced handful of Test images of the current dataset."""
    st.session_state[SAMPLE_ROUND_KEY] = st.session_state.get(SAMPLE_ROUND_KEY, 0) + 1
    problem = common.typed_folder_error()
    if problem:  # never sample a dataset other than the one the user typed
        st.session_state[SAMPLES_KEY] = f"No samples: the dataset folder is unusable. {problem}"
        return
    try:
        index = common.dataset_index(common.current_dataset())
    except data.DatasetError as error:
        st.session_state[SAMPLES_KEY] = str(error)
        return
    test = index.splits.get("Test") or []
    if len(test) < 2:
        st.session_state[SAMPLES_KEY] = "The current dataset has no Test images to sample."
        return
    chosen = data.stratified_subset(
        test, min(SAMPLE_COUNT, len(test)), seed=st.session_state[SAMPLE_ROUND_KEY]
    )
    st.session_state[SAMPLES_KEY] = [
        (str(index.absolute(sample)), sample.path, sample.label) for sample in chosen
    ]


def _clear_samples() -> None:
    st.session_state.pop(SAMPLES_KEY, None)


def _items(uploads: list) -> list[Item]:
    from core.settings import CLASS_NAMES

    items = [Item(upload.name, upload.getvalue()) for upload in uploads or []]
    samples = st.session_state.get(SAMPLES_KEY)
    if isinstance(samples, str):
        st.warning(samples)
    elif samples:
        for path, relative, label in samples:
            try:
                items.append(Item(relative, Path(path).read_bytes(), CLASS_NAMES[label]))
            except OSError as error:
                st.warning(f"{relative} could not be read ({error.strerror}); pick samples again.")
    return items


st.title("🔍 Classify images")
st.caption(
    "A verdict on your own images from the models you trained: Real, Fake, or Uncertain "
    "when the model is close to its threshold; how sure it is; and a Grad-CAM map of the "
    "regions that drove the decision."
)

common.folder_problem_banner()  # the sidebar's folder, if unusable
finished = runs.finished_runs()
if not finished:
    st.info(
        "No finished training run yet: a verdict needs a trained model. "
        "Train one on the Train page, then come back here."
    )
    st.page_link("pages/train.py", label="Go to the Train page", icon="🏋️")
    st.stop()

by_name = {run.name: run for run in finished}
best = max(finished, key=lambda run: (_auc(run) is not None, _auc(run) or 0.0))
chosen_names = st.multiselect(
    "Runs to use",
    options=list(by_name),
    default=[best.name],
    format_func=lambda name: _describe(by_name[name]),
    key="classify_runs",
    help="Finished runs; the best by test AUC is chosen first. Pick several to compare.",
)
if not chosen_names:
    st.info("Choose at least one run above.")
    st.stop()

threshold_row = st.columns(2)
slider_threshold = threshold_row[0].slider(
    "Decision threshold on P(Real)",
    min_value=0.0,
    max_value=1.0,
    value=0.5,
    step=0.01,
    key="classify_threshold",
    disabled=bool(st.session_state.get("classify_use_eer")),
    help="An image is called Real when P(Real) is at or above this value.",
)
band = threshold_row[1].slider(
    "Uncertain band around the threshold (±)",
    min_value=0.0,
    max_value=0.3,
    value=verdict.DEFAULT_BAND,
    step=0.01,
    key="classify_band",
    help="Within this distance of the threshold the model is close to a coin flip: the "
    "image is shown as Uncertain, with its P(Real), instead of as Real or Fake. 0 turns "
    "it off. A verdict is also Uncertain when its own probability would be below 50% "
    "(possible with a threshold other than 0.5).",
)
settings_row = st.columns(3)
use_eer = settings_row[0].toggle(
    "Use each run's EER threshold",
    key="classify_use_eer",
    help="The P(Real) threshold at which the run's false-accept and false-reject rates "
    "were equal on its test set (from metrics.json).",
)
face_crop = settings_row[1].checkbox(
    "Crop to the face",
    key="classify_face_crop",
    help="The models were trained on face crops. Finds the largest face (OpenCV Haar "
    "cascade) and classifies a square crop around it; without a face, the whole image.",
)
show_gradcam = settings_row[2].checkbox(
    "Grad-CAM evidence", value=True, key="classify_gradcam", help="About 0.1-1 s per image."
)

ensemble_rule = classify_ensemble.choice(len(chosen_names))

uploads = st.file_uploader(
    "Upload images",
    type=[extension.lstrip(".") for extension in images.IMAGE_EXTENSIONS],
    accept_multiple_files=True,
    key="classify_upload",
    help=f"JPEG, PNG, WebP or BMP, up to {UPLOAD_LIMIT_MB} MB each.",
)
st.caption(
    f"Limit: **{UPLOAD_LIMIT_MB} MB per file** (set by `server.maxUploadSize` in "
    f"`.streamlit/config.toml`) and {images.MAX_PIXELS / 1e6:.0f} megapixels per image. "
    "Images are oriented by EXIF, converted to RGB and resized to each run's input size, "
    "exactly as in training."
)
buttons = st.columns([3, 2, 3])
buttons[0].button(
    "Pick sample images from the Test split",
    key="classify_pick_samples",
    on_click=_pick_samples,
    help="A class-balanced handful of Test images of the dataset in use (sidebar).",
)
if st.session_state.get(SAMPLES_KEY):
    buttons[1].button("Clear samples", key="classify_clear_samples", on_click=_clear_samples)

items = _items(uploads)
if not items:
    st.info("Upload one or more images, or pick sample images from the Test split.")
    st.stop()

loaded = []
for name in chosen_names:
    run = by_name[name]
    try:
        model = _load_model(str(run.path), _model_stamp(run))
    except runs.RunError as error:
        st.warning(f"Skipped {run.name}: {error}")
        continue
    size = predict.run_image_size(run.path) or predict.model_image_size(model)
    threshold = slider_threshold
    threshold_source = "slider"
    if use_eer:
        eer = predict.eer_threshold(run.metrics)
        if eer is None:
            st.warning(f"{run.name} records no EER threshold; using {slider_threshold:.2f}.")
        else:
            threshold, threshold_source = eer, "EER"
    loaded.append((run, model, size, threshold, threshold_source))
if not loaded:
    st.error("None of the chosen runs could be loaded; choose other runs or retrain.")
    st.stop()

summaries = {run.name: card_summary(run.path) for run, *_ in loaded}  # model cards, one line
for item in items:
    with st.container(border=True):
        name, decoded, error = predict.decode_source(
            (item.name, item.data), max_bytes=UPLOAD_LIMIT_BYTES
        )
        title = f"**{item.name}**" + (f" · true label: {item.truth}" if item.truth else "")
        st.markdown(title)
        if decoded is None:
            st.error(f"{item.name} could not be classified: {error}")
            continue
        columns = st.columns(1 + len(loaded))
        with columns[0]:
            original_slot, crop_slot = st.empty(), st.empty()
        face_box = None
        votes = []
        for column, (run, model, size, threshold, source) in zip(columns[1:], loaded, strict=True):
            prepared = predict.prepare_decoded(item.name, decoded, size, face_crop)
            prediction = predict.classify_prepared(model, [prepared], threshold)[0]
            if prediction.face_box is not None and face_box is None:
                face_box = prediction.face_box
                crop_slot.image(
                    images.resize(prediction.pixels, DISPLAY_SIDE),
                    caption=f"Face crop used ({face_box[2]} px square, resized to the input)",
                    width="stretch",
                )
            shown = verdict.verdict(prediction.p_real, threshold, band)
            votes.append((run.name, shown))
            with column:
                st.caption(f"{display_name(run.model)} · `{run.name}`")
                if summaries[run.name]:
                    st.caption(f"Model card: {summaries[run.name]}")
                st.markdown(f"### :{VERDICT_COLOURS[shown.label]}[{shown.label}]")
                st.progress(shown.p_real if shown.uncertain else shown.probability, text=shown.text)
                st.caption(
                    f"P(Real) = {prediction.p_real:.3f} · threshold {threshold:.3f} ({source})"
                    + (f" · {uncertain_reason(shown)}" if shown.uncertain else "")
                )
                for note in prediction.notes:
                    if note.startswith("No face found"):
                        st.warning(note)
                    elif not note.startswith("Face crop used"):
                        st.caption(note)
                if show_gradcam:
                    # An uncertain image is explained towards the side it leans to.
                    cam = _gradcam(
                        str(run.path), _model_stamp(run), prediction.pixels, shown.leaning
                    )
                    gradcam_view.show(cam, prediction.pixels, shown.leaning, DISPLAY_SIDE)
        if ensemble_rule and len(votes) >= 2:
            classify_ensemble.card(votes, ensemble_rule, slider_threshold, band, VERDICT_COLOURS)
        original = decoded.pixels if face_box is None else faces.draw_box(decoded.pixels, face_box)
        original_slot.image(
            images.thumbnail(original, 2 * DISPLAY_SIDE),
            caption=f"Image as given: {decoded.original_size[0]}x{decoded.original_size[1]}, "
            f"{decoded.format or 'unknown format'} {decoded.original_mode}",
            width="stretch",
        )
