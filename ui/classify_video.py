"""Classify page: video clips and the camera.

A clip is scored once per set of runs and sampling settings (kept in the session, so
moving the threshold or opening a Grad-CAM map does not score it again), with a
progress bar and a Cancel button. Then: each run's verdict on the clip, the timeline
of P(Real), the frames that pushed most towards Fake (each with its Grad-CAM), the
per-frame CSV and a button that keeps the verdict for the run's report. Everything is
decided in :mod:`core.serving.clips`; this module only draws it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.data import images
from core.runs import clip_records
from core.serving import classify, clip_figures, clips, gradcam, verdict, video
from ui import gradcam_view

RESULTS_KEY = "classify_clip_results"
CANCELLED_KEY = "classify_clip_cancelled"
THUMB_SIDE = 160
COLOURS = {"Real": "green", "Fake": "red", verdict.UNCERTAIN: "gray", clips.DID_NOT_LEARN: "gray"}


@dataclass
class ClipRequest:
    """The clips uploaded and how to sample them."""

    uploads: list
    rate: float = video.DEFAULT_RATE
    max_frames: int = video.DEFAULT_MAX_FRAMES


def clip_uploader(limit_mb: int) -> ClipRequest:
    """The clip uploader and, once a clip is there, its sampling settings."""
    uploads = st.file_uploader(
        "Upload video clips",
        type=[extension.lstrip(".") for extension in video.VIDEO_EXTENSIONS],
        accept_multiple_files=True,
        key="classify_clips",
        help=f"MP4, MOV, WebM, AVI or MKV, up to {limit_mb} MB and "
        f"{video.max_clip_seconds() / 60:.0f} minutes each. Every sampled frame is "
        "cropped to its largest face, as the models were trained on face crops.",
    )
    request = ClipRequest(list(uploads or []))
    if request.uploads:
        row = st.columns(2)
        request.rate = row[0].number_input(
            "Frames sampled per second of the clip",
            min_value=0.1,
            max_value=30.0,
            value=video.DEFAULT_RATE,
            step=0.5,
            key="classify_clip_rate",
        )
        request.max_frames = int(
            row[1].number_input(
                "Most frames per clip",
                min_value=1,
                max_value=2000,
                value=video.DEFAULT_MAX_FRAMES,
                step=10,
                key="classify_clip_max_frames",
                help="A longer clip is sampled more sparsely, evenly over its length.",
            )
        )
    return request


def camera_photo() -> tuple[str, bytes] | None:
    """A photo from the device's camera, as (name, bytes), behind a toggle."""
    if not st.toggle(
        "Take a photo",
        key="classify_camera_on",
        help="Uses this device's camera; the photo is judged exactly like an uploaded image.",
    ):
        return None
    photo = st.camera_input("Take a photo", key="classify_camera", label_visibility="collapsed")
    return None if photo is None else ("camera photo.jpg", photo.getvalue())


def _signature(upload, detectors: Sequence[classify.Detector], request: ClipRequest) -> str:
    runs = "|".join(str(d.run.path) for d in detectors)
    text = f"{upload.file_id}|{runs}|{request.rate}|{request.max_frames}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _cancel(key: str) -> None:
    st.session_state.setdefault(CANCELLED_KEY, set()).add(key)


def _restart(key: str) -> None:
    st.session_state.setdefault(CANCELLED_KEY, set()).discard(key)


def _score(upload, detectors, request: ClipRequest, key: str, max_bytes: int):
    """The clip's scores: from the session, or computed now with progress and Cancel."""
    results = st.session_state.setdefault(RESULTS_KEY, {})
    if key in results:
        return results[key]
    if key in st.session_state.get(CANCELLED_KEY, set()):
        st.info("Scoring this clip was cancelled.")
        st.button(
            "Score it again", key=f"classify_clip_restart_{key}", on_click=_restart, args=(key,)
        )
        return None
    bar = st.progress(0.0, text="Opening the clip...")
    stop = st.empty()
    stop.button("Cancel", key=f"classify_clip_cancel_{key}", on_click=_cancel, args=(key,))

    def show(progress: clips.Progress) -> None:
        bar.progress(progress.fraction or 0.0, text=progress.text)

    scores = clips.score_clip(
        detectors,
        (upload.name, upload.getvalue()),
        rate=request.rate,
        max_frames=request.max_frames,
        max_bytes=max_bytes,
        on_progress=show,
    )
    bar.empty()
    stop.empty()
    results[key] = scores
    return scores


def _header(scores: clips.ClipScores) -> None:
    st.markdown(f"**{scores.name}** · video clip")
    info = scores.info
    if info is not None and scores.frames:
        length = f"{info.duration:.1f} s" if info.duration else "length unknown"
        st.caption(
            f"{info.width}x{info.height}, {length} at {info.fps:.0f} fps · "
            f"{len(scores.frames)} frames sampled, {scores.face_frames} with a face · "
            f"scored in {scores.seconds:.1f} s"
        )
    for note in scores.notes:
        st.caption(note)


def _verdicts(judged: Sequence[clips.ClipVerdict]) -> None:
    for column, one in zip(st.columns(len(judged)), judged, strict=True):
        with column:
            st.caption(f"`{one.run_name}`")
            st.markdown(f"### Clip: :{COLOURS[one.label]}[{one.label}]")
            st.caption(one.text)


def _key_frames(scores, detectors, band: float, key: str, gradcam_for: Callable) -> None:
    for number, detector in enumerate(detectors):
        kept = scores.top[number]
        if not kept:
            continue
        st.markdown(f"Frames that pushed `{detector.run.name}` most towards Fake")
        for column, frame in zip(st.columns(clips.TOP_FRAMES), kept, strict=False):
            shown = verdict.verdict(
                float(clips.scoring.sigmoid(frame.logit)), detector.threshold, band
            )
            column.image(
                images.resize(frame.pixels, THUMB_SIDE),
                caption=f"{frame.time:.1f} s · P(Real) {shown.p_real:.2f}",
                width="stretch",
            )
            toggle_key = f"classify_clip_cam_{key}_{number}_{frame.index}"
            if column.toggle("Grad-CAM", key=toggle_key):
                cam: gradcam.GradCam | None = gradcam_for(
                    classify.RunVerdict(detector, shown, frame.pixels)
                )
                with column:
                    if cam is None:
                        st.caption("Grad-CAM is off: tick **Grad-CAM evidence** above.")
                    else:
                        gradcam_view.show(cam, frame.pixels, shown.leaning, THUMB_SIDE)


def _exports(scores, detectors, judged, table, key: str) -> None:
    row = st.columns(2)
    row[0].download_button(
        "Download the per-frame table (CSV)",
        table.to_csv(index=False),
        file_name=f"{Path(scores.name).stem}_frames.csv",
        mime="text/csv",
        key=f"classify_clip_csv_{key}",
        on_click="ignore",  # no rerun: one could drop the file before the browser has it
    )
    if row[1].button("Keep this verdict in the run's report", key=f"classify_clip_keep_{key}"):
        for detector, one in zip(detectors, judged, strict=True):
            clip_records.save(detector.run.path, clips.clip_record(scores, one))
        st.success("Kept: the report written from the Compare page lists it.")


def draw_clips(
    request: ClipRequest,
    detectors: Sequence[classify.Detector],
    band: float,
    max_bytes: int,
    gradcam_for: Callable[[classify.RunVerdict], gradcam.GradCam | None],
) -> None:
    """Score (once) and draw every uploaded clip, each in its own card.

    Args:
        request: the clips and sampling settings from :func:`clip_uploader`.
        detectors: the loaded runs.
        band: the uncertain band's half-width.
        max_bytes: the upload limit.
        gradcam_for: the page's cached Grad-CAM of one verdict (None: switched off).
    """
    keys = []
    for upload in request.uploads:
        key = _signature(upload, detectors, request)
        keys.append(key)
        with st.container(border=True):
            scores = _score(upload, detectors, request, key, max_bytes)
            if scores is None:
                continue
            _header(scores)
            if scores.error is not None:
                st.error(f"{scores.name}: {scores.error}")
                continue
            judged = clips.clip_verdicts(scores, detectors, band)
            _verdicts(judged)
            thresholds = {d.run.name: d.threshold for d in detectors}
            table = clips.frame_table(scores, detectors, band)
            st.plotly_chart(
                clip_figures.timeline(table, thresholds, band), key=f"classify_clip_timeline_{key}"
            )
            _key_frames(scores, detectors, band, key, gradcam_for)
            _exports(scores, detectors, judged, table, key)
    results = st.session_state.get(RESULTS_KEY, {})
    for stale in set(results) - set(keys):  # only the clips on the page stay in memory
        del results[stale]
