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

from core.data import catalog, images
from core.evaluation import scoring
from core.models.registry import display_name
from core.runs import learning, run_folders
from core.serving import classify, gradcam, verdict
from ui import classify_ensemble, classify_video, classify_view, common, kept_uploads
from ui.model_card_view import card_summary

UPLOAD_LIMIT_MB = int(st.get_option("server.maxUploadSize"))
UPLOAD_LIMIT_BYTES = UPLOAD_LIMIT_MB * 1024 * 1024
SAMPLE_COUNT = 4
SAMPLES_KEY = "classify_samples"
SAMPLE_ROUND_KEY = "classify_sample_round"


@dataclass
class Item:
    """One image to classify: its name, bytes and, for dataset samples, the true label."""

    name: str
    data: bytes
    truth: str | None = None


def _model_stamp(run: run_folders.Run) -> float:
    path = run.path / "model.keras"
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def _load_model(run_path: str, stamp: float):
    return scoring.load_model(Path(run_path))


@st.cache_data(show_spinner=False, max_entries=256)
def _gradcam(run_path: str, stamp: float, pixels: np.ndarray, target: str):
    return gradcam.compute_gradcam(_load_model(run_path, stamp), pixels, target=target)


def gradcam_for(judged: classify.RunVerdict):
    """The Grad-CAM map of one verdict (cached), or None when the map is switched off."""
    if not show_gradcam:
        return None
    run = judged.detector.run
    # An uncertain image is explained towards the side it leans to.
    return _gradcam(str(run.path), _model_stamp(run), judged.pixels, judged.verdict.leaning)


def _describe(run: run_folders.Run) -> str:
    judged = learning.of_record(run.metrics)
    auc = f" · AUC {judged.auc:.3f}" if judged.auc is not None else ""
    warning = "" if judged.learned else f" · {judged.label}"
    return f"{display_name(run.model)} · {run.name}{auc}{warning}"


def _pick_samples() -> None:
    """Button callback: draw a class-balanced handful of Test images of the current dataset."""
    st.session_state[SAMPLE_ROUND_KEY] = st.session_state.get(SAMPLE_ROUND_KEY, 0) + 1
    problem = common.typed_folder_error()
    if problem:  # never sample a dataset other than the one the user typed
        st.session_state[SAMPLES_KEY] = f"No samples: the dataset folder is unusable. {problem}"
        return
    try:
        index = common.dataset_index(common.current_dataset())
    except catalog.DatasetError as error:
        st.session_state[SAMPLES_KEY] = str(error)
        return
    test = index.splits.get("Test") or []
    if len(test) < 2:
        st.session_state[SAMPLES_KEY] = "The current dataset has no Test images to sample."
        return
    chosen = catalog.stratified_subset(
        test, min(SAMPLE_COUNT, len(test)), seed=st.session_state[SAMPLE_ROUND_KEY]
    )
    st.session_state[SAMPLES_KEY] = [
        (str(index.absolute(sample)), sample.path, sample.label) for sample in chosen
    ]


def _clear_samples() -> None:
    st.session_state.pop(SAMPLES_KEY, None)


def _items(uploads: list[tuple[str, bytes]]) -> list[Item]:
    from core.settings import CLASS_NAMES

    items = [Item(name, data) for name, data in uploads]
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
finished = run_folders.finished_runs()
if not finished:
    st.info(
        "No finished training run yet: a verdict needs a trained model. "
        "Train one on the Train page, then come back here."
    )
    st.page_link("app_pages/train.py", label="Go to the Train page", icon="🏋️")
    st.stop()
scoring.preload_tensorflow()  # TensorFlow loads while a person picks files (seconds)

by_name = {run.name: run for run in finished}
best = classify.preselected(finished)
chosen_names = st.multiselect(
    "Runs to use",
    options=list(by_name),
    default=[best.name] if best else [],
    format_func=lambda name: _describe(by_name[name]),
    key="classify_runs",
    help="Finished runs; the best by test AUC among those that learned is chosen first. "
    "Pick several to compare.",
)
if not chosen_names:
    if best is None:
        st.warning(
            "None of the finished runs learned to tell Real from Fake on its own test images "
            "(each test AUC's 95% interval reaches 0.5), so none is chosen for you. Train "
            "longer or on more images; a run picked anyway gives verdicts no better than chance."
        )
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

fresh = kept_uploads.returning("classify_upload")  # read before the uploader is drawn
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

clip_request = classify_video.clip_uploader(UPLOAD_LIMIT_MB)
photo = classify_video.camera_photo()

items = _items(kept_uploads.keep(uploads, fresh)) + ([Item(*photo)] if photo else [])
if not items and not clip_request.uploads:
    st.info("Upload images or video clips, take a photo, or pick samples from the Test split.")
    st.stop()

detectors, problems = classify.load_detectors(
    [by_name[name] for name in chosen_names],
    lambda run: _load_model(str(run.path), _model_stamp(run)),
    slider_threshold,
    use_eer,
)
for problem in problems:
    st.warning(problem)
if not detectors:
    st.error("None of the chosen runs could be loaded; choose other runs or retrain.")
    st.stop()

summaries = {d.run.name: card_summary(d.run.path) for d in detectors}  # model cards, one line


results = classify.classify(
    detectors,
    [(item.name, item.data) for item in items],
    band=band,
    face_crop=face_crop,
    max_bytes=UPLOAD_LIMIT_BYTES,
    ensemble_rule=ensemble_rule,
    ensemble_threshold=slider_threshold,
)
for item, result in zip(items, results, strict=True):
    with st.container(border=True):
        classify_view.draw_image(result, item.truth, summaries, ensemble_rule, gradcam_for)
classify_video.draw_clips(clip_request, detectors, band, UPLOAD_LIMIT_BYTES, gradcam_for)
