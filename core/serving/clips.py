"""A video clip's verdict per run, frame by frame: what Classify and ``core.predict`` show.

Each frame sampled by :mod:`core.serving.video` is treated as a decoded image: the
largest face is cropped once (:func:`core.data.faces.crop_face`, the crop of the image
path's "Crop to the face"), resized to each run's input size as in training
(:func:`core.data.images.resize`) and scored by every run, a few frames per batch.
Frames without a face are scored on the whole frame, drawn on the timeline and left out
of the clip's verdict: the detectors were trained on still face crops.

**The clip's verdict, per run:** the mean of the run's logits over the frames with a
face, turned back into ``P(Real) = sigmoid(mean logit)`` and judged like one image
(:func:`core.serving.verdict.verdict`: the run's threshold and the uncertain band), so
a few very confident frames cannot outvote many, and a clip close to the threshold is
Uncertain. Beside it: how many face frames were called Fake on their own (a face swap
in part of a clip pulls the mean less than it shows there). A run whose own test AUC
cannot be told from chance gets "did not learn" instead of Real or Fake.

Memory: only the batch being scored and the few most-Fake frames per run (model inputs,
for thumbnails and Grad-CAM) are kept; the per-frame table holds numbers only.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from core.data import faces, images
from core.evaluation import scoring
from core.runs import learning
from core.runs.run_folders import Run
from core.serving import verdict, video

#: Frames scored together (a batch through each model).
SCORE_BATCH = 8
#: The most-Fake face frames kept per run, with their pixels, for thumbnails and Grad-CAM.
TOP_FRAMES = 6
RULE = "mean logit over the frames with a face"
DID_NOT_LEARN = learning.LABELS[learning.CHANCE]


class Judge(Protocol):
    """What a clip needs of a loaded run (:class:`core.serving.classify.Detector` is one)."""

    @property
    def run(self) -> Run:
        """The run folder."""

    @property
    def model(self) -> Any:
        """The loaded Keras model."""

    @property
    def image_size(self) -> int:
        """The model's input side in pixels."""

    @property
    def threshold(self) -> float:
        """P(Real) at or above which it leans Real."""


@dataclass(frozen=True)
class ShellJudge:
    """A run loaded for the shell (``python -m core.predict``); see :class:`Judge`."""

    run: Run
    model: Any
    image_size: int
    threshold: float


@dataclass
class FrameScore:
    """One sampled frame: where it is, its face box (None: no face) and each run's logit."""

    index: int
    time: float
    face_box: tuple[int, int, int, int] | None
    logits: list[float] = field(default_factory=list)


@dataclass
class KeyFrame:
    """A face frame that pushed a run towards Fake, with the model input it saw."""

    index: int
    time: float
    logit: float
    pixels: np.ndarray = field(repr=False)


@dataclass
class ClipScores:
    """Every run's scores on one clip's sampled frames, or why there are none.

    Attributes:
        name: the clip's name as given.
        run_names: the runs, in the order of each frame's logits.
        info: the clip's header (None when it could not be opened).
        frames: the sampled frames, in order.
        top: per run, its most-Fake face frames, most Fake first.
        notes: plain-language remarks (sampling cap, truncated file...).
        error: one sentence saying why there is no verdict, else None.
        seconds: time spent reading and scoring.
    """

    name: str
    run_names: list[str]
    info: video.ClipInfo | None = None
    frames: list[FrameScore] = field(default_factory=list)
    top: list[list[KeyFrame]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def face_frames(self) -> int:
        """How many sampled frames had a face."""
        return sum(frame.face_box is not None for frame in self.frames)


@dataclass(frozen=True)
class Progress:
    """How far scoring a clip has gone."""

    read: int
    scored: int
    planned: int | None
    elapsed: float

    @property
    def fraction(self) -> float | None:
        """Share of the planned frames scored (None when the plan is unknown)."""
        return min(self.scored / self.planned, 1.0) if self.planned else None

    @property
    def text(self) -> str:
        """``Read 40 of 150 frames, scored 32; about 12 s left``."""
        of = f" of {self.planned}" if self.planned else ""
        line = f"Read {self.read}{of} frames, scored {self.scored}"
        if self.planned and self.scored:
            left = self.elapsed / self.scored * (self.planned - self.scored)
            line += f"; about {left:.0f} s left"
        return line


def _crop(pixels: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    crop = faces.crop_face(pixels)
    return (pixels, None) if crop is None else (crop.pixels, crop.box)


def _keep(top: list, frame: FrameScore, logit: float, pixels: np.ndarray, size: int) -> None:
    """Keep the ``size`` lowest logits in a heap of (-logit, index, KeyFrame)."""
    entry = (-logit, frame.index, KeyFrame(frame.index, frame.time, logit, pixels))
    if len(top) < size:
        heapq.heappush(top, entry)
    elif -logit > top[0][0]:
        heapq.heapreplace(top, entry)


def _score_batch(judges: Sequence[Judge], batch: list, result: ClipScores, heaps: list) -> None:
    for number, judge in enumerate(judges):
        inputs = np.stack([images.resize(crop, judge.image_size) for _, crop in batch])
        logits = scoring.predict_logits(judge.model, inputs)
        for (frame, _), logit, pixels in zip(batch, logits, inputs, strict=True):
            frame.logits.append(float(logit))
            if frame.face_box is not None:
                _keep(heaps[number], frame, float(logit), pixels, TOP_FRAMES)
    result.frames += [frame for frame, _ in batch]
    batch.clear()


def _read_and_score(
    judges: Sequence[Judge],
    clip: video.Clip,
    result: ClipScores,
    sampling: tuple[float, int],
    on_progress: Callable[[Progress], None] | None,
) -> None:
    started, read = time.perf_counter(), 0
    heaps: list[list] = [[] for _ in judges]
    batch: list[tuple[FrameScore, np.ndarray]] = []

    def report() -> None:
        if on_progress is not None:
            elapsed = time.perf_counter() - started
            on_progress(Progress(read, len(result.frames), clip.planned, elapsed))

    for frame in clip.frames(*sampling):
        crop, box = _crop(frame.pixels)
        batch.append((FrameScore(frame.index, frame.time, box), crop))
        read += 1
        if len(batch) >= SCORE_BATCH:
            _score_batch(judges, batch, result, heaps)
        report()
    if batch:
        _score_batch(judges, batch, result, heaps)
        report()
    result.top = [[entry[2] for entry in sorted(heap, reverse=True)] for heap in heaps]


def _check_bytes(source: str | Path | tuple[str, bytes], max_bytes: int | None) -> None:
    size = len(source[1]) if isinstance(source, tuple) else Path(source).stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise video.VideoError(
            f"The clip is {size / 2**20:.1f} MB, above the limit of {max_bytes / 2**20:.0f} "
            "MB; cut it or lower its resolution."
        )


def score_clip(
    judges: Sequence[Judge],
    source: str | Path | tuple[str, bytes],
    *,
    rate: float = video.DEFAULT_RATE,
    max_frames: int = video.DEFAULT_MAX_FRAMES,
    max_bytes: int | None = None,
    max_pixels: int = images.MAX_PIXELS,
    max_seconds: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> ClipScores:
    """Sample a clip's frames and score each with every run; a bad clip is reported.

    Args:
        judges: the loaded runs (Classify's detectors, or :class:`ShellJudge`).
        source: a path, or (display name, file bytes).
        rate: frames per second of the clip to sample.
        max_frames: at most this many frames, spread over the clip.
        max_bytes: refuse files larger than this (the upload limit), if given.
        max_pixels: refuse clips whose frames have more pixels.
        max_seconds: refuse longer clips (default :func:`core.serving.video.max_clip_seconds`).
        on_progress: called after each frame read and each batch scored.

    Returns:
        The scores; ``error`` is set (one sentence) when the clip gives no verdict.
    """
    name = source[0] if isinstance(source, tuple) else str(source)
    result = ClipScores(name, [judge.run.name for judge in judges])
    started = time.perf_counter()
    try:
        _check_bytes(source, max_bytes)
        with (
            video.clip_file(source) as path,
            video.open_clip(path, max_pixels, max_seconds) as clip,
        ):
            result.info = clip.info
            _read_and_score(judges, clip, result, (rate, max_frames), on_progress)
            result.notes += clip.notes
    except video.VideoError as error:
        result.error = str(error)
    except FileNotFoundError:
        result.error = "File not found; check the path."
    except (IsADirectoryError, PermissionError):
        result.error = "The file cannot be read (a folder, or permission denied)."
    if result.error is None and result.face_frames == 0:
        result.error = (
            f"No face was found in any of the {len(result.frames)} frames sampled, so there "
            "is no verdict: the detectors judge face crops. Try a clip where a face is seen "
            "from the front, or a higher sampling rate."
        )
    result.seconds = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class ClipVerdict:
    """One run's verdict on a clip (see the module for the rule).

    Attributes:
        run_name: the run that judged.
        verdict: Real, Fake or Uncertain from the mean logit of the face frames.
        face_frames: frames with a face (those the verdict is made of).
        fake_frames: face frames called Fake on their own.
        learned: False when the run's test AUC cannot be told from chance.
    """

    run_name: str
    verdict: verdict.Verdict
    face_frames: int
    fake_frames: int
    learned: bool

    @property
    def label(self) -> str:
        """``Real``, ``Fake``, ``Uncertain``, or ``did not learn``."""
        return self.verdict.label if self.learned else DID_NOT_LEARN

    @property
    def text(self) -> str:
        """One line: the verdict and what it is made of."""
        shown = (
            self.verdict.text if self.learned else f"{DID_NOT_LEARN} (its verdict means nothing)"
        )
        return (
            f"{shown} · {RULE}, {self.face_frames} frames; "
            f"{self.fake_frames} of them Fake on their own"
        )


def _learned(run: Run) -> bool:
    assessed = learning.of_record(run.metrics, run.history(), run.config)
    return assessed.verdict != learning.CHANCE


def clip_verdicts(
    scores: ClipScores, judges: Sequence[Judge], band: float = verdict.DEFAULT_BAND
) -> list[ClipVerdict]:
    """Each run's verdict on the clip (empty when the clip has an error).

    Args:
        scores: from :func:`score_clip` with the same runs.
        judges: the runs, in the order they were scored (thresholds may have changed).
        band: the uncertain band's half-width around each threshold.
    """
    if scores.error is not None:
        return []
    if [judge.run.name for judge in judges] != scores.run_names:
        raise ValueError("The runs differ from those the clip was scored with.")
    found = []
    face = [frame for frame in scores.frames if frame.face_box is not None]
    for number, judge in enumerate(judges):
        logits = np.array([frame.logits[number] for frame in face])
        p_real = float(scoring.sigmoid(logits.mean()))
        labels = [verdict.verdict(p, judge.threshold, band).label for p in scoring.sigmoid(logits)]
        shown = verdict.verdict(p_real, judge.threshold, band)
        fake = labels.count(verdict.FAKE)
        found.append(ClipVerdict(judge.run.name, shown, len(face), fake, _learned(judge.run)))
    return found


def frame_table(
    scores: ClipScores, judges: Sequence[Judge], band: float = verdict.DEFAULT_BAND
) -> pd.DataFrame:
    """The per-frame table, one row per frame and run (for the CSV and the timeline)."""
    rows = []
    for frame in scores.frames:
        box = frame.face_box
        for judge, logit in zip(judges, frame.logits, strict=True):
            p_real = float(scoring.sigmoid(logit))
            rows.append(
                {
                    "clip": scores.name,
                    "frame": frame.index,
                    "time_s": round(frame.time, 3),
                    "face_found": box is not None,
                    "face_box": " ".join(map(str, box)) if box else "",
                    "run": judge.run.name,
                    "p_real": p_real,
                    "verdict": verdict.verdict(p_real, judge.threshold, band).label,
                    "threshold": judge.threshold,
                    "in_clip_verdict": box is not None,
                }
            )
    return pd.DataFrame(rows, columns=FRAME_COLUMNS)


FRAME_COLUMNS = (
    "clip",
    "frame",
    "time_s",
    "face_found",
    "face_box",
    "run",
    "p_real",
    "verdict",
    "threshold",
    "in_clip_verdict",
)


def clip_record(scores: ClipScores, judged: ClipVerdict) -> dict[str, Any]:
    """What a run's report keeps of its verdict on a clip (JSON-ready)."""
    info = scores.info
    return {
        "clip": Path(scores.name).name,
        "duration_s": info.duration if info else None,
        "frames_sampled": len(scores.frames),
        "frames_with_face": judged.face_frames,
        "fake_frames": judged.fake_frames,
        "rule": RULE,
        "label": judged.label,
        "p_real": judged.verdict.p_real,
        "threshold": judged.verdict.threshold,
        "band": judged.verdict.band,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def summary_lines(scores: ClipScores, judged: Sequence[ClipVerdict]) -> list[str]:
    """Lines for the shell: the clip, each run's verdict and what it was made of."""
    if scores.error is not None:
        return [f"{scores.name}\tERROR\t{scores.error}"]
    counts = f"{len(scores.frames)} frames sampled, {scores.face_frames} with a face"
    lines = []
    for one in judged:
        shown = one.verdict.probability if one.learned else one.verdict.p_real
        prefix = f"{scores.name}\t" + (f"{one.run_name}\t" if len(judged) > 1 else "")
        line = f"{prefix}{one.label}\t{shown:.4f}\t{counts}, {one.fake_frames} of them Fake"
        lines.append(" ".join([line, *scores.notes]))
    return lines


def shell_clip(judge: ShellJudge, path: str, args: Any, tables: list[pd.DataFrame]) -> bool:
    """Score one clip for ``python -m core.predict``: print its lines; False if it failed.

    Args:
        judge: the run loaded for the shell.
        path: the clip's path.
        args: the command's options (``rate``, ``max_frames``, ``band``, ``report``).
        tables: the per-frame tables so far; this clip's is appended.
    """
    from core.runs import clip_records

    scores = score_clip([judge], path, rate=args.rate, max_frames=args.max_frames)
    judged = clip_verdicts(scores, [judge], args.band)
    for line in summary_lines(scores, judged):
        print(line, flush=True)
    if scores.frames:
        tables.append(frame_table(scores, [judge], args.band))
    if args.report:
        for one in judged:
            clip_records.save(judge.run.path, clip_record(scores, one))
    return scores.error is None


def write_table(path: Path, tables: Sequence[pd.DataFrame]) -> None:
    """Write the per-frame tables of several clips as one CSV."""
    pd.concat(list(tables), ignore_index=True).to_csv(path, index=False)
