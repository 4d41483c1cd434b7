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

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data import faces, images
from core.evaluation import ensemble, scoring
from core.runs import learning
from core.runs.run_folders import Run, RunError
from core.serving import predict, verdict

#: An image (or face crop) whose shorter side is below this share of the model's input
#: is scaled up more than twice to be judged: its verdict would rest on invented pixels.
SMALLEST_SHARE = 0.5
TOO_SMALL = "Too small to judge"


@dataclass(frozen=True)
class Detector:
    """A run loaded and ready to classify.

    Attributes:
        run: the run folder as listed.
        model: its loaded Keras model.
        image_size: the model's input side in pixels.
        threshold: P(Real) at or above which it leans Real.
        threshold_source: where the threshold came from (``slider`` or ``EER``).
        learned: what the run learned on its own test images (a run that did not
            learn gives no trustworthy verdict: its cards carry a warning).
    """

    run: Run
    model: Any
    image_size: int
    threshold: float
    threshold_source: str
    learned: learning.Learning | None = None

    @property
    def warning(self) -> str:
        """One sentence to show beside each of its verdicts, or "" for a run that learned."""
        if self.learned is None or self.learned.learned:
            return ""
        return (
            f"This run did not learn to tell Real from Fake ({self.learned.message}): its "
            "verdicts are no better than a coin flip. " + self.learned.advice
        ).strip()


def preselected(runs: Sequence[Run]) -> Run | None:
    """The run Classify starts with: the best test AUC among runs that learned; else None."""
    judged = [(run, learning.of_record(run.metrics)) for run in runs]
    usable = [(run, found) for run, found in judged if found.learned]
    if not usable:
        return None
    return max(usable, key=lambda pair: pair[1].auc or 0.0)[0]


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
        judged = learning.of_record(run.metrics)
        detectors.append(Detector(run, model, size, chosen, source, judged))
    return detectors, problems


@dataclass
class RunVerdict:
    """One run's verdict on one image.

    Attributes:
        detector: the run that judged.
        verdict: Real, Fake or Uncertain, with P(Real), threshold and band; None when
            the image is too small to judge (``refusal`` says why).
        pixels: the exact model input, for Grad-CAM and display.
        notes: plain-language remarks (no face found, ...).
        refusal: why there is no verdict, else "".
    """

    detector: Detector
    verdict: verdict.Verdict | None
    pixels: np.ndarray = field(repr=False)
    notes: list[str] = field(default_factory=list)
    refusal: str = ""

    @functools.cached_property
    def face_in_input(self) -> tuple[int, int, int, int] | None:
        """The largest face seen in ``pixels`` (x, y, width, height), looked for on first use.

        Only a drawn Grad-CAM map needs it (to say when the evidence lies outside the
        face), so classifying does not pay for a face search per image and run.
        """
        found = faces.detect_faces(self.pixels)
        return found[0] if found else None


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
        if prepared.face_box is not None and result.face_box is None:
            result.face_box, result.face_pixels = prepared.face_box, prepared.pixels
        refusal = too_small(decoded, prepared.face_box, detector.image_size)
        if refusal:
            judged = RunVerdict(detector, None, prepared.pixels, list(prepared.notes), refusal)
        else:
            p_real = float(scoring.predict_p_real(detector.model, prepared.pixels[None])[0])
            shown = verdict.verdict(p_real, detector.threshold, band)
            judged = RunVerdict(detector, shown, prepared.pixels, list(prepared.notes))
        result.runs.append(judged)
    judged_runs = [r for r in result.runs if r.verdict is not None and not r.detector.warning]
    if ensemble_rule and len(judged_runs) >= 2:
        p_real = float(ensemble.combine([r.verdict.p_real for r in judged_runs], ensemble_rule))
        result.ensemble = verdict.verdict(p_real, ensemble_threshold, band)
    return result


def too_small(
    decoded: images.DecodedImage, face_box: tuple[int, int, int, int] | None, image_size: int
) -> str:
    """Why an image is too small for a model of ``image_size`` px, or "" when it is not.

    The rule: the shorter side of what the model sees (the face crop when one is used,
    else the whole image) must be at least :data:`SMALLEST_SHARE` of the input side.
    """
    width, height = decoded.original_size
    side = min(width, height) if face_box is None else min(face_box[2], face_box[3])
    if side >= SMALLEST_SHARE * image_size:
        return ""
    what = "The face crop" if face_box is not None else "The image"
    return (
        f"{TOO_SMALL}: {what} is {side} px on its shorter side, and this model looks at "
        f"{image_size} px; below {int(SMALLEST_SHARE * image_size)} px a verdict would rest "
        "on pixels made up by enlarging it. Use a larger image."
    )


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
