"""Score a run's model on images: the one place models are loaded and run on pixels.

Shared by training's final evaluation (:func:`timed_p_real`), the comparison's
re-scores and cross-dataset checks (:func:`rescore`) and classification
(:mod:`core.serving.predict`, the Classify page and ``python -m core.predict``).

Models output one logit; ``sigmoid(logit) = P(Real)``. Pixels reach the model
exactly as in training: decoded by :mod:`core.data.images`, resized to the run's image
size, raw 0-255. TensorFlow is imported only when a model is loaded or run.
"""

from __future__ import annotations

import logging
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core import metrics
from core.data import catalog
from core.data.testsets import CompareError, TestSet
from core.runs import model_card, run_folders
from core.runs.run_folders import RunError

if TYPE_CHECKING:
    import keras

    from core.evaluation.compare import RunRecord

logger = logging.getLogger(__name__)

#: Below this many images one direct call beats ``model.predict``'s per-call set-up.
DIRECT_CALL_MAX = 64
#: Images read from a store and scored together by a re-score (bounds its memory).
SCORE_CHUNK = 1024
PURPOSES = ("common", "cross")

_preload_lock = threading.Lock()
_preload_thread: threading.Thread | None = None


def _import_tensorflow() -> None:
    """Import Keras (hence TensorFlow) and the models' layers.

    No warm-up operation: measured, it made a click that comes at once ~0.6 s slower
    (docs/BENCHMARKS.md "startup") and saved nothing measurable later.
    """
    from core.models import registry

    registry.import_all()
    import keras  # noqa: F401  (imported for its side effect: TensorFlow loaded)


def _preload() -> None:
    started = time.perf_counter()
    try:
        _import_tensorflow()
    except Exception:  # the foreground load imports it again and reports the error
        logger.exception("Preloading TensorFlow failed")
        return
    logger.info("TensorFlow preloaded in %.1f s", time.perf_counter() - started)


def preload_tensorflow() -> threading.Thread:
    """Start importing TensorFlow in a background thread, once per process.

    Importing TensorFlow takes seconds; a page that will load a model (Classify) calls
    this when it opens, so by the time a person has picked a file the import is done or
    under way, and :func:`load_model` only waits for what is left (Python's import lock
    makes a second import of the same module wait for the first). Calling it again
    returns the same thread.

    Returns:
        The daemon thread doing the import (finished when it is done).
    """
    global _preload_thread
    with _preload_lock:
        if _preload_thread is None:
            _preload_thread = threading.Thread(
                target=_preload, name="preload-tensorflow", daemon=True
            )
            _preload_thread.start()
        return _preload_thread


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
    preload = _preload_thread
    if preload is not None:  # wait for it rather than import TensorFlow alongside it
        preload.join()
    from core.models import registry

    registry.import_all()
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
    if len(batch) <= DIRECT_CALL_MAX:
        outputs = [
            np.asarray(model.predict_on_batch(batch[i : i + batch_size])).reshape(-1)
            for i in range(0, len(batch), batch_size)
        ]
        logits = np.concatenate(outputs)
    else:
        logits = np.asarray(model.predict(batch, batch_size=batch_size, verbose=0))
    return logits.reshape(len(pixels), -1)[:, 0].astype(np.float64)


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


def _padded(pixels: np.ndarray, batch_size: int, replicas: int) -> np.ndarray:
    """The images padded with black ones to whole batches when several replicas share them."""
    missing = -len(pixels) % batch_size if replicas > 1 else 0
    if not missing:
        return pixels
    return np.concatenate([pixels, np.zeros((missing, *pixels.shape[1:]), pixels.dtype)])


def timed_p_real(
    model: keras.Model,
    pixels: np.ndarray,
    batch_size: int,
    replicas: int = 1,
    callbacks: Sequence[Any] = (),
) -> tuple[np.ndarray, float]:
    """P(Real) for every image and the inference time per image in milliseconds.

    The first batch runs once untimed so graph tracing is not counted. With several
    replicas every batch is padded to full size: a replica handed an empty slice of
    a short last batch fails in TensorFlow.

    Args:
        model: the model to run.
        pixels: raw RGB 0-255 images (n, size, size, 3): an array, or a
            :class:`core.data.stream.StoreView`, streamed in batches.
        batch_size: images per forward pass.
        replicas: devices the model is mirrored on.
        callbacks: Keras callbacks for ``predict`` (training's cancel check).

    Returns:
        (P(Real) per image, milliseconds per image).
    """
    count = len(pixels)
    first = np.asarray(pixels[: min(count, batch_size)])
    model.predict(_padded(first, batch_size, replicas), verbose=0)  # trace outside the timing
    extra: dict[str, Any] = {}
    if hasattr(pixels, "dataset"):  # a store view: stream it, never hold the whole split
        source = pixels.dataset(None, batch_size, pad=replicas > 1)
    else:
        source, extra["batch_size"] = _padded(pixels, batch_size, replicas), batch_size
    start = time.perf_counter()
    logits = model.predict(source, verbose=0, callbacks=list(callbacks), **extra)
    logits = logits.reshape(-1)[:count]
    elapsed = time.perf_counter() - start
    return sigmoid(logits), 1000.0 * elapsed / max(1, count)


@dataclass
class RescoreResult:
    """The outcome of re-scoring one run.

    Attributes:
        run: run folder name.
        record: the stored re-score (None when it failed).
        reused: True when an earlier stored result was returned without scoring.
        error: one sentence saying why the run could not be scored, else None.
    """

    run: str
    record: dict[str, Any] | None = None
    reused: bool = False
    error: str | None = None


def rescore(
    records: Sequence[RunRecord],
    test_set: TestSet,
    purpose: str = "common",
    *,
    batch_size: int = 32,
    force: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[RescoreResult]:
    """Score the saved models of ``records`` on one test set, without retraining.

    Images are decoded once per image size, into the dataset's decoded-image store
    (:mod:`core.data.store`), and shared by all runs of that size and by later re-scores.
    Each result is stored atomically in the run folder (:func:`core.runs.run_folders.write_rescore`)
    and reused by later calls unless ``force``.

    Args:
        records: the runs to score (:class:`core.evaluation.compare.RunRecord`).
        test_set: the images to score them on.
        purpose: ``"common"`` (a fair common set) or ``"cross"`` (another dataset).
        batch_size: images per forward pass.
        force: score again even when a stored result exists.
        progress: called with (done, total, run name) after each run.

    Returns:
        One result per run, in order; a run that cannot be scored carries its error.

    Raises:
        CompareError: the test set is empty.
        ValueError: an unknown purpose.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"Unknown purpose {purpose!r}; use one of {PURPOSES}.")
    if not test_set.files:
        raise CompareError("The chosen test set holds no images.")
    loaded_by_size: dict[int, catalog.LoadedImages] = {}
    results = []
    for done, record in enumerate(records, start=1):
        files = list(test_set.files)
        stored = None
        if not force:
            stored = run_folders.stored_rescore(record.run.path, test_set.id, files)
        if stored is not None:
            results.append(RescoreResult(record.name, stored, reused=True))
        else:
            try:
                stored = score_run(record, test_set, purpose, loaded_by_size, batch_size)
                run_folders.write_rescore(record.run.path, stored)
                model_card.write_card(record.run.path)  # the card lists every stored score
                results.append(RescoreResult(record.name, stored))
            except RunError as error:
                results.append(RescoreResult(record.name, error=str(error)))
        if stored is not None:
            record.rescores[test_set.id] = stored
        if progress is not None:
            progress(done, len(records), f"scored {record.name}")
    return results


def _decoded(root: Path, test_set: TestSet, size: int) -> catalog.LoadedImages:
    """The test images at ``size`` px from the dataset's store (decoded only once, ever).

    Without room on disk for the store the images are decoded in memory instead.
    """
    from core.data import store

    try:
        return store.load(root, test_set.samples(), size)
    except store.StoreError as error:
        logger.warning("%s; decoding in memory instead", error)
        return catalog.load_images(root, test_set.samples(), size)


def score_run(
    record: RunRecord,
    test_set: TestSet,
    purpose: str,
    loaded_by_size: dict[int, catalog.LoadedImages],
    batch_size: int = 32,
) -> dict[str, Any]:
    """Score one run's saved model on a test set; return the re-score record to store.

    Args:
        record: the run.
        test_set: the images.
        purpose: ``"common"`` or ``"cross"``.
        loaded_by_size: decoded images per image size (views of the dataset's store),
            filled and reused across runs.
        batch_size: images per forward pass.

    Raises:
        RunError: the model cannot be loaded, or no image of the set can be read.
    """
    model = load_model(record.run.path)
    # The saved model's input is authoritative; the config says the same for sane runs.
    size = model_image_size(model)
    root = Path(test_set.root)
    if size not in loaded_by_size:
        loaded_by_size[size] = _decoded(root, test_set, size)
    loaded = loaded_by_size[size]
    if not loaded.paths:
        raise CompareError(
            f"None of the {len(test_set.files)} images of the test set could be read in {root}."
        )
    start = time.perf_counter()
    p_real = np.concatenate(
        [
            predict_p_real(model, loaded.pixels[first : first + SCORE_CHUNK], batch_size)
            for first in range(0, len(loaded.paths), SCORE_CHUNK)
        ]
    )
    seconds = time.perf_counter() - start
    report = metrics.detection_report(loaded.labels, p_real)
    report["inference_ms_per_image"] = 1000.0 * seconds / len(loaded.paths)
    return {
        "test_set_id": test_set.id,
        "purpose": purpose,
        "description": test_set.description,
        "root": test_set.root,
        "requested_files": list(test_set.files),
        "files": list(loaded.paths),
        "skipped": [list(item) for item in loaded.skipped],
        "labels": loaded.labels.tolist(),
        "p_real": np.round(p_real, 6).tolist(),
        "image_size": size,
        "run": record.name,
        "model": record.run.model,
        "created": time.time(),
        "metrics": report,
    }
