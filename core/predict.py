"""Classify images with a trained run: load its model safely, score, decide Real or Fake.

Used by the Classify page, the comparison page's re-scoring and the shell::

    python -m core.predict --run artifacts/runs/cnn_20250101-120000 photo.jpg other.png

prints one line per image (its path, the label and the probability of that label);
a file that cannot be classified prints its path and the reason, the others go on,
and the exit status is non-zero if any file failed.

Models output one logit; ``sigmoid(logit) = P(Real)`` and an image is called Real
when ``P(Real) >= threshold``. Pixels reach the model exactly as in training:
decoded by :mod:`core.images`, resized to the run's image size, raw 0-255.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core import images
from core.runs import RunError, read_json
from core.settings import CLASS_NAMES, LABEL_REAL

if TYPE_CHECKING:
    import keras

DEFAULT_THRESHOLD = 0.5
#: Below this many images one direct call beats ``model.predict``'s per-call set-up.
_DIRECT_CALL_MAX = 64

#: What :func:`classify_images` accepts per image: a path, or (display name, file bytes).
Source = str | Path | tuple[str, bytes]


def _import_model_modules() -> list[str]:
    """Register every model module that exists; return the names that could not be imported.

    A missing module only matters for runs of that model, whose load then fails
    with its own clear message; the other runs must still load.
    """
    from core.models import registry

    missing = []
    for name in registry.MODEL_NAMES:
        try:
            registry.get_builder(name)
        except ModuleNotFoundError as error:
            if error.name != f"core.models.{name}":
                raise
            missing.append(name)
    return missing


def load_model(run_dir: Path) -> keras.Model:
    """Load the trained model of a run folder (always with ``safe_mode=True``).

    Args:
        run_dir: the run folder holding ``model.keras``.

    Returns:
        The Keras model: raw RGB pixels in, one logit of P(Real) out.

    Raises:
        RunError: the model file is missing or cannot be loaded; the message says which.
    """
    run_dir = Path(run_dir)
    path = run_dir / "model.keras"
    if not path.is_file():
        raise RunError(f"{run_dir.name} has no model.keras; it did not finish training.")
    if path.stat().st_size == 0:
        raise RunError(f"{run_dir.name}/model.keras is empty; retrain this run.")
    if not zipfile.is_zipfile(path):
        raise RunError(
            f"{run_dir.name}/model.keras is damaged (not a Keras zip archive); retrain this run."
        )
    _import_model_modules()
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:
        # A damaged or foreign file can fail anywhere in Keras's loader (zip, JSON,
        # h5, unknown layer...); all of them mean "this file cannot be used".
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        detail = f"{type(error).__name__}: {reason}" if reason else type(error).__name__
        raise RunError(
            f"{run_dir.name}/model.keras could not be loaded ({detail}); retrain this run."
        ) from None


def model_image_size(model: keras.Model) -> int:
    """Side of the square input the model expects, read from its input shape."""
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    if shape[1] is None:
        raise ValueError("The model does not declare a fixed input size.")
    return int(shape[1])


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    logits = np.asarray(logits, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def predict_logits(model: keras.Model, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Return the model's logit for each image of ``pixels`` (n, size, size, 3) or one image."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 3:
        pixels = pixels[None]
    if pixels.ndim != 4 or pixels.shape[-1] != 3:
        raise ValueError(f"Expected images of shape (n, size, size, 3), got {pixels.shape}.")
    if len(pixels) == 0:
        return np.zeros(0, dtype=np.float64)
    batch = pixels.astype("float32", copy=False)
    if len(batch) <= _DIRECT_CALL_MAX:
        outputs = [
            _call(model, batch[i : i + batch_size]) for i in range(0, len(batch), batch_size)
        ]
        logits = np.concatenate(outputs)
    else:
        logits = np.asarray(model.predict(batch, batch_size=batch_size, verbose=0))
    return logits.reshape(len(pixels), -1)[:, 0].astype(np.float64)


def _call(model: keras.Model, batch: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict_on_batch(batch)).reshape(len(batch), -1)


def predict_p_real(model: keras.Model, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Return P(Real) in [0, 1] for each image.

    Args:
        model: a loaded model (see :func:`load_model`).
        pixels: raw RGB 0-255 images, (n, size, size, 3) or a single (size, size, 3).
        batch_size: images per forward pass.

    Returns:
        ``float64`` array of shape (n,).
    """
    return sigmoid(predict_logits(model, pixels, batch_size))


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
        decoded: the output of :func:`core.images.decode`.
        image_size: the run's image size.
        face_crop: crop to the largest face found (whole image, with a note, if none).
    """
    notes = list(decoded.notes)
    pixels = decoded.pixels
    box = None
    if face_crop:
        from core import faces

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


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m core.predict",
        description="Classify images as Real or Fake with a trained run.",
    )
    parser.add_argument("--run", required=True, type=Path, help="run folder holding model.keras")
    parser.add_argument("images", nargs="+", help="image files to classify")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="P(Real) at or above which an image is called Real (default 0.5)",
    )
    parser.add_argument("--eer", action="store_true", help="use the run's EER threshold")
    parser.add_argument("--face-crop", action="store_true", help="crop to the largest face")
    args = parser.parse_args(argv)

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    if not 0.0 <= threshold <= 1.0:
        parser.error("--threshold must be between 0 and 1.")
    if args.eer:
        try:
            found = eer_threshold(read_json(args.run / "metrics.json"))
        except RunError as error:
            print(f"{args.run}\tERROR\t{error}", file=sys.stderr)
            return 2
        if found is None:
            print(f"{args.run}\tERROR\tmetrics.json records no EER threshold.", file=sys.stderr)
            return 2
        threshold = found
    try:
        predictions = classify_images(args.run, args.images, threshold, args.face_crop)
    except RunError as error:
        print(f"{args.run}\tERROR\t{error}", file=sys.stderr)
        return 2
    for prediction in predictions:
        print(format_line(prediction), flush=True)
    return 0 if all(prediction.ok for prediction in predictions) else 1


if __name__ == "__main__":
    from core.settings import enable_onednn

    enable_onednn()
    sys.exit(main())
