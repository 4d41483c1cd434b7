"""Classify images with a trained run: prepare the images, score them, decide Real or Fake.

Loading and running the model is :mod:`core.evaluation.scoring`'s (shared with training's
final evaluation and the comparison's re-scores). Used by the Classify page and
the shell (also installed as ``deepfake-predict``)::

    python -m core.predict --run artifacts/runs/cnn_20250101-120000 photo.jpg other.png

prints one line per image (its path, the label and the probability of that label);
a file that cannot be classified prints its path and the reason, the others go on,
and the exit status is non-zero if any file failed. Video clips may be mixed in
(``clip.mp4``): :mod:`core.serving.clips` prints their verdict and frame counts, and
``--frames out.csv`` writes their per-frame table.

Models output one logit; ``sigmoid(logit) = P(Real)`` and an image is called Real
when ``P(Real) >= threshold``. Pixels reach the model exactly as in training:
decoded by :mod:`core.data.images`, resized to the run's image size, raw 0-255.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.data import images
from core.evaluation.scoring import (
    load_model,
    model_image_size,
    predict_p_real,
)
from core.runs.run_folders import RunError, load_run, read_json
from core.settings import CLASS_NAMES, LABEL_REAL

if TYPE_CHECKING:
    import keras

DEFAULT_THRESHOLD = 0.5

#: What :func:`classify_images` accepts per image: a path, or (display name, file bytes).
Source = str | Path | tuple[str, bytes]


def decide(p_real: float, threshold: float = DEFAULT_THRESHOLD) -> tuple[str, float]:
    """Return the label (``"Real"``/``"Fake"``) and the probability of that label."""
    if p_real >= threshold:
        return CLASS_NAMES[LABEL_REAL], float(p_real)
    return CLASS_NAMES[1 - LABEL_REAL], float(1.0 - p_real)


@dataclass
class Prediction:
    """The verdict on one image, or why there is none.

    Attributes:
        source: file name or path as given.
        label: ``"Real"`` or ``"Fake"``; None when the file failed.
        p_real: P(Real) from the model; None when the file failed.
        probability: probability of ``label``.
        threshold: the P(Real) threshold used for the decision.
        notes: plain-language remarks (first frame used, no face found...).
        error: one sentence saying why the file could not be classified, else None.
        face_box: (x, y, width, height) of the crop used in the original image, if any.
        pixels: the exact model input (size, size, 3) ``uint8``, for display and Grad-CAM.
    """

    source: str
    label: str | None = None
    p_real: float | None = None
    probability: float | None = None
    threshold: float = DEFAULT_THRESHOLD
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    face_box: tuple[int, int, int, int] | None = None
    pixels: np.ndarray | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when the image was classified."""
        return self.error is None


@dataclass
class PreparedImage:
    """An image decoded, optionally face-cropped and resized: ready for the model."""

    source: str
    pixels: np.ndarray | None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    face_box: tuple[int, int, int, int] | None = None


def _read(source: Source) -> tuple[str, bytes | Path]:
    if isinstance(source, tuple):
        name, data = source
        return str(name), bytes(data)
    return str(source), Path(source)


def prepare_image(
    source: Source, image_size: int, face_crop: bool = False, max_bytes: int | None = None
) -> PreparedImage:
    """Decode one image into the model's input; a bad file is reported, never raised.

    Args:
        source: a path, or (display name, file bytes).
        image_size: the run's image size.
        face_crop: crop to the largest face found (whole image, with a note, if none).
        max_bytes: refuse files larger than this (the upload limit), if given.

    Returns:
        The prepared image, or one with ``error`` set.
    """
    name, decoded, error = decode_source(source, max_bytes)
    if decoded is None:
        return PreparedImage(name, None, error=error)
    return prepare_decoded(name, decoded, image_size, face_crop)


def decode_source(
    source: Source, max_bytes: int | None = None
) -> tuple[str, images.DecodedImage | None, str | None]:
    """Decode a path or (name, bytes); return (name, image, None) or (name, None, reason)."""
    name, data = _read(source)
    try:
        return name, images.decode(data, max_bytes=max_bytes), None
    except images.ImageError as error:
        return name, None, str(error)
    except FileNotFoundError:
        return name, None, "File not found; check the path."
    except IsADirectoryError:
        return name, None, "This is a folder, not an image file."
    except PermissionError:
        return name, None, "The file cannot be read (permission denied)."


def prepare_decoded(
    name: str, decoded: images.DecodedImage, image_size: int, face_crop: bool = False
) -> PreparedImage:
    """Turn an already decoded image into the model's input (optionally face-cropped).

    Args:
        name: display name of the image.
        decoded: the output of :func:`core.data.images.decode`.
        image_size: the run's image size.
        face_crop: crop to the largest face found (whole image, with a note, if none).
    """
    notes = list(decoded.notes)
    pixels = decoded.pixels
    box = None
    if face_crop:
        from core.data import faces

        crop = faces.crop_face(pixels)
        if crop is None:
            notes.append("No face found; the whole image was classified.")
        else:
            pixels, box = crop.pixels, crop.box
            notes.append(f"Face crop used: {box[2]}x{box[3]} pixels at ({box[0]}, {box[1]}).")
    return PreparedImage(name, images.resize(pixels, image_size), notes, None, box)


def classify_prepared(
    model: keras.Model,
    prepared: Sequence[PreparedImage],
    threshold: float = DEFAULT_THRESHOLD,
    batch_size: int = 32,
) -> list[Prediction]:
    """Score already-prepared images in one batch; failed ones keep their error."""
    good = [item for item in prepared if item.pixels is not None]
    p_real = (
        predict_p_real(model, np.stack([item.pixels for item in good]), batch_size) if good else []
    )
    scores = {id(item): float(p) for item, p in zip(good, p_real, strict=True)}
    results = []
    for item in prepared:
        prediction = Prediction(
            item.source,
            threshold=threshold,
            notes=list(item.notes),
            error=item.error,
            face_box=item.face_box,
            pixels=item.pixels,
        )
        if item.pixels is not None:
            prediction.p_real = scores[id(item)]
            prediction.label, prediction.probability = decide(prediction.p_real, threshold)
        results.append(prediction)
    return results


def classify_images(
    model: keras.Model | Path | str,
    sources: Sequence[Source],
    threshold: float = DEFAULT_THRESHOLD,
    face_crop: bool = False,
    image_size: int | None = None,
    max_bytes: int | None = None,
) -> list[Prediction]:
    """Classify images with a run (or a loaded model); a bad file never stops the others.

    Args:
        model: a run folder, or a loaded model.
        sources: paths, or (display name, file bytes) pairs.
        threshold: P(Real) at or above which an image is called Real.
        face_crop: classify the largest face found instead of the whole image.
        image_size: model input size (default: read from the run's config or the model).
        max_bytes: refuse files larger than this, if given.

    Returns:
        One :class:`Prediction` per source, in order.

    Raises:
        RunError: the run's model cannot be loaded.
    """
    if isinstance(model, str | Path):
        run_dir = Path(model)
        model = load_model(run_dir)
        if image_size is None:
            image_size = run_image_size(run_dir)
    if image_size is None:
        image_size = model_image_size(model)
    prepared = [prepare_image(source, image_size, face_crop, max_bytes) for source in sources]
    return classify_prepared(model, prepared, threshold)


def run_image_size(run_dir: Path) -> int | None:
    """Image size recorded in a run's config.json, or None when unreadable."""
    try:
        config: dict[str, Any] = read_json(Path(run_dir) / "config.json")
    except RunError:
        return None
    size = config.get("image_size")
    return int(size) if isinstance(size, int | float) else None


def eer_threshold(metrics: dict[str, Any] | None) -> float | None:
    """The run's EER threshold on P(Real) from metrics.json, when recorded."""
    if not metrics:
        return None
    value = metrics.get("eer_threshold")
    if isinstance(value, int | float) and 0.0 <= value <= 1.0:
        return float(value)
    return None


def format_line(prediction: Prediction) -> str:
    """One line for the shell: path, label and its probability, or path and the reason."""
    if not prediction.ok:
        return f"{prediction.source}\tERROR\t{prediction.error}"
    line = f"{prediction.source}\t{prediction.label}\t{prediction.probability:.4f}"
    if prediction.notes:
        line += "\t" + " ".join(prediction.notes)
    return line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.predict",
        description="Classify images and video clips as Real or Fake with a trained run.",
    )
    parser.add_argument("--run", required=True, type=Path, help="run folder holding model.keras")
    parser.add_argument("images", nargs="+", help="image files and video clips, mixed")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="P(Real) at or above which an image is called Real (default 0.5)",
    )
    parser.add_argument("--eer", action="store_true", help="use the run's EER threshold")
    parser.add_argument("--face-crop", action="store_true", help="crop to the largest face")
    clips = parser.add_argument_group("video clips (mp4, mov, webm, avi, mkv)")
    clips.add_argument("--rate", type=float, default=2.0, help="frames sampled per second")
    clips.add_argument("--max-frames", type=int, default=150, help="most frames per clip")
    clips.add_argument("--band", type=float, default=0.1, help="uncertain band (+/-)")
    clips.add_argument("--frames", type=Path, help="write the per-frame table to this CSV")
    clips.add_argument(
        "--report", action="store_true", help="keep each clip's verdict for the run's report"
    )
    return parser


def _threshold(args: argparse.Namespace, parser: argparse.ArgumentParser) -> float | None:
    """The threshold asked for; None (after printing why) when the run records no EER one."""
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    if not 0.0 <= threshold <= 1.0:
        parser.error("--threshold must be between 0 and 1.")
    if args.rate <= 0 or args.max_frames < 1 or not 0.0 <= args.band < 0.5:
        parser.error("--rate and --max-frames must be positive, --band in [0, 0.5).")
    if not args.eer:
        return threshold
    try:
        found = eer_threshold(read_json(args.run / "metrics.json"))
    except RunError as error:
        print(f"{args.run}\tERROR\t{error}", file=sys.stderr)
        return None
    if found is None:
        print(f"{args.run}\tERROR\tmetrics.json records no EER threshold.", file=sys.stderr)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m core.predict`` and ``deepfake-predict``; the exit status."""
    from core.serving import clips, video
    from core.settings import enable_onednn

    enable_onednn()
    parser = _parser()
    args = parser.parse_args(argv)
    threshold = _threshold(args, parser)
    if threshold is None:
        return 2
    try:
        model = load_model(args.run)
    except RunError as error:
        print(f"{args.run}\tERROR\t{error}", file=sys.stderr)
        return 2
    size = run_image_size(args.run) or model_image_size(model)
    stills = [path for path in args.images if not video.is_video_name(path)]
    predictions = iter(classify_images(model, stills, threshold, args.face_crop, size))
    judge = clips.ShellJudge(load_run(args.run), model, size, threshold)
    ok, tables = True, []
    for path in args.images:
        if not video.is_video_name(path):
            prediction = next(predictions)
            ok = ok and prediction.ok
            print(format_line(prediction), flush=True)
            continue
        ok = clips.shell_clip(judge, path, args, tables) and ok
    if args.frames is not None and tables:
        clips.write_table(args.frames, tables)
    return 0 if ok else 1


__all__ = [
    "DEFAULT_THRESHOLD",
    "Prediction",
    "PreparedImage",
    "classify_images",
    "classify_prepared",
    "decide",
    "decode_source",
    "eer_threshold",
    "format_line",
    "main",
    "prepare_decoded",
    "prepare_image",
    "run_image_size",
]

if __name__ == "__main__":
    sys.exit(main())
