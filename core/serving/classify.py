"""Verdicts on a person's images from one or more runs: what the Classify page draws.

One call decides everything once: each image is decoded (a bad file gets one sentence
and the others go on), prepared for each run exactly as in training (its input size,
the optional face crop), scored, and turned into a :class:`~core.serving.verdict.Verdict`
with that run's threshold and the uncertain band; with two runs or more an ensemble
verdict can be added. The page only draws what comes back::

    detectors, problems = load_detectors(runs, load, threshold=0.5, use_eer=False)
    for result in classify(detectors, [("photo.jpg", data)], band=0.1):
        ...  # result.runs[i].verdict, result.ensemble, result.error
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data import images
from core.evaluation import ensemble, scoring
from core.runs.run_folders import Run, RunError
from core.serving import predict, verdict


@dataclass(frozen=True)
class Detector:
    """A run loaded and ready to classify.

    Attributes:
        run: the run folder as listed.
        model: its loaded Keras model.
        image_size: the model's input side in pixels.
        threshold: P(Real) at or above which it leans Real.
        threshold_source: where the threshold came from (``slider`` or ``EER``).
    """

    run: Run
    model: Any
    image_size: int
    threshold: float
    threshold_source: str


def load_detectors(
    runs: Sequence[Run],
    load: Callable[[Run], Any],
    threshold: float,
    use_eer: bool = False,
) -> tuple[list[Detector], list[str]]:
    """Load the chosen runs; a run that cannot be used is skipped with a sentence.

    Args:
        runs: the finished runs chosen.
        load: loads a run's model (the page passes its cached loader).
        threshold: the threshold to use (the slider's).
        use_eer: use each run's own EER threshold when it records one.

    Returns:
        The detectors, and one sentence per run skipped or threshold replaced.
    """
    detectors, problems = [], []
    for run in runs:
        try:
            model = load(run)
        except RunError as error:
            problems.append(f"Skipped {run.name}: {error}")
            continue
        size = predict.run_image_size(run.path) or scoring.model_image_size(model)
        chosen, source = threshold, "slider"
        if use_eer:
            eer = predict.eer_threshold(run.metrics)
            if eer is None:
                problems.append(f"{run.name} records no EER threshold; using {threshold:.2f}.")
            else:
                chosen, source = eer, "EER"
        detectors.append(Detector(run, model, size, chosen, source))
    return detectors, problems


@dataclass
class RunVerdict:
    """One run's verdict on one image.

    Attributes:
        detector: the run that judged.
        verdict: Real, Fake or Uncertain, with P(Real), threshold and band.
        pixels: the exact model input, for Grad-CAM and display.
        notes: plain-language remarks (no face found, ...).
    """

    detector: Detector
    verdict: verdict.Verdict
    pixels: np.ndarray = field(repr=False)
    notes: list[str] = field(default_factory=list)


@dataclass
class ImageVerdicts:
    """Every chosen run's verdict on one image, or why there is none.

    Attributes:
        name: the image's name as given.
        decoded: the decoded image (None when it could not be read).
        error: one sentence saying why it could not be classified, else None.
        runs: one verdict per detector, in the detectors' order.
        face_box: the face crop used, (x, y, width, height) in the original, if any.
        face_pixels: that crop at the first run's input size, for display.
        ensemble: the ensemble's verdict, when one was asked for.
    """

    name: str
    decoded: images.DecodedImage | None
    error: str | None = None
    runs: list[RunVerdict] = field(default_factory=list)
    face_box: tuple[int, int, int, int] | None = None
    face_pixels: np.ndarray | None = field(default=None, repr=False)
    ensemble: verdict.Verdict | None = None


def classify_decoded(
    detectors: Sequence[Detector],
    name: str,
    decoded: images.DecodedImage,
    *,
    band: float = verdict.DEFAULT_BAND,
    face_crop: bool = False,
    ensemble_rule: str | None = None,
    ensemble_threshold: float = predict.DEFAULT_THRESHOLD,
) -> ImageVerdicts:
    """Judge one decoded image with every detector (see :func:`classify`)."""
    result = ImageVerdicts(name, decoded)
    for detector in detectors:
        prepared = predict.prepare_decoded(name, decoded, detector.image_size, face_crop)
        p_real = float(scoring.predict_p_real(detector.model, prepared.pixels[None])[0])
        shown = verdict.verdict(p_real, detector.threshold, band)
        result.runs.append(RunVerdict(detector, shown, prepared.pixels, list(prepared.notes)))
        if prepared.face_box is not None and result.face_box is None:
            result.face_box, result.face_pixels = prepared.face_box, prepared.pixels
    if ensemble_rule and len(result.runs) >= 2:
        p_real = float(ensemble.combine([r.verdict.p_real for r in result.runs], ensemble_rule))
        result.ensemble = verdict.verdict(p_real, ensemble_threshold, band)
    return result


def classify(
    detectors: Sequence[Detector],
    sources: Sequence[tuple[str, bytes] | str | Path],
    *,
    band: float = verdict.DEFAULT_BAND,
    face_crop: bool = False,
    max_bytes: int | None = None,
    ensemble_rule: str | None = None,
    ensemble_threshold: float = predict.DEFAULT_THRESHOLD,
) -> Iterator[ImageVerdicts]:
    """Judge each image with every detector, one image at a time.

    Args:
        detectors: from :func:`load_detectors`.
        sources: paths, or (display name, file bytes) pairs.
        band: the uncertain band's half-width around each threshold.
        face_crop: classify a square crop around the largest face found.
        max_bytes: refuse files larger than this (the upload limit), if given.
        ensemble_rule: ``logit`` or ``probability`` to add an ensemble verdict
            (two detectors or more), else None.
        ensemble_threshold: the ensemble's threshold on P(Real).

    Yields:
        One :class:`ImageVerdicts` per source, in order; a file that cannot be read
        has ``error`` set and no verdicts.
    """
    for source in sources:
        name, decoded, error = predict.decode_source(source, max_bytes)
        if decoded is None:
            yield ImageVerdicts(name, None, error=error)
            continue
        yield classify_decoded(
            detectors,
            name,
            decoded,
            band=band,
            face_crop=face_crop,
            ensemble_rule=ensemble_rule,
            ensemble_threshold=ensemble_threshold,
        )
