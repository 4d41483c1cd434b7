"""The training pipelines: the dataset's own images, self-blended reals, or both.

"Fakes from" (:data:`core.runs.config.FAKES_FROM`) decides where a run's training fakes
come from:

- ``dataset``: the dataset's own Real and Fake images (shuffled indices, batches read
  from the decoded-image store, see :mod:`core.data.stream`);
- ``self-blended``: the dataset's fakes are unused; every batch holds real images
  (label Real = 1) and a self-blend of each of them (label Fake = 0, see
  :mod:`core.data.blend`), so the classes are balanced by construction;
- ``both``: the dataset's images as with ``dataset``, plus a self-blend of every
  real image in the batch.

Blends are made on the fly (``tf.numpy_function`` over index batches), so memory
does not grow and every epoch sees fresh blends; batch *i* of the run (counted over
all epochs) is blended with seed ``(seed, i)``. Face boxes are detected once per
file, before fitting, and reused. Validation and test always use the dataset's own
images.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.data.blend import DEFAULT_PARAMS, BlendParams, blend_batch, face_box, self_blend
from core.data.catalog import LoadedImages, make_dataset
from core.settings import LABEL_FAKE, LABEL_REAL

if TYPE_CHECKING:
    import tensorflow as tf

    from core.runs.config import TrainConfig
    from core.runs.progress import Progress
    from core.training.subsets import Subsets

logger = logging.getLogger(__name__)


@dataclass
class FaceBoxes:
    """Face boxes of a subset's images, detected once.

    Attributes:
        boxes: ``int32`` (n, 4) boxes (x, y, width, height), aligned with the images
            (zeros for images that are not blended).
        found: ``bool`` (n,): False where no face was found and a centred box stands in.
        searched: how many images were searched (the ones that get blended).
    """

    boxes: np.ndarray
    found: np.ndarray
    searched: int

    def note(self) -> str | None:
        """The run note about images without a detected face (None when all had one)."""
        missing = int((~self.found).sum())
        if not missing:
            return None
        return (
            f"No face detected in {missing} of {self.searched} images used for self-blending: "
            "a centred ellipse stood in."
        )


def detect_boxes(
    pixels: np.ndarray,
    indices: np.ndarray,
    on_progress: Callable[[int, int], None] | None = None,
) -> FaceBoxes:
    """Detect the face box of the chosen images (the slow part of blending, done once).

    Args:
        pixels: ``uint8`` images (n, height, width, 3).
        indices: which of them to search (the ones that get blended).
        on_progress: called with (images done, total) after each image.
    """
    boxes = np.zeros((len(pixels), 4), dtype=np.int32)
    found = np.ones(len(pixels), dtype=bool)
    for done, i in enumerate(indices, start=1):
        box, found[i] = face_box(pixels[i])
        boxes[i] = box
        if on_progress is not None:
            on_progress(done, len(indices))
    return FaceBoxes(boxes, found, len(indices))


def find_faces(subsets: Subsets, fakes_from: str, progress: Progress) -> FaceBoxes | None:
    """Detect the faces of the Train images that get blended, with progress in status.json.

    Args:
        subsets: the run's decoded :class:`core.training.subsets.Subsets`; a note is added to
            its notes when some images had no detectable face.
        fakes_from: the run's option (``dataset`` needs no faces: returns None).
        progress: the run's :class:`core.runs.progress.Progress` (cancel honoured per image).
    """
    sources = blend_sources(subsets.train, fakes_from)
    if not len(sources):
        return None
    progress.update(phase="finding faces", batch=0, batches=len(sources), force=True)

    def report(done: int, _: int) -> None:
        progress.check_cancel()
        progress.update(batch=done)

    boxes = detect_boxes(subsets.train.pixels, sources, report)
    subsets.notes.extend(filter(None, [boxes.note()]))
    logger.info("no face in %d of %d searched images", int((~boxes.found).sum()), boxes.searched)
    return boxes


def example_blends(
    root: Path, paths: Sequence[str], seed: int, count: int = 3, size: int = 128
) -> list[tuple[str, np.ndarray, np.ndarray, bool]]:
    """A few self-blends of real images, to show what the option makes before training.

    Args:
        root: the dataset root the paths start from.
        paths: relative paths of real images to choose from.
        seed: the same seed always picks and blends the same images.
        count: how many examples.
        size: side the images are decoded at.

    Returns:
        (path, original, blend, face found) per example; unreadable files are left out.
    """
    from core.data import images

    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(paths), size=min(count, len(paths)), replace=False))
    examples = []
    for i in chosen:
        try:
            pixels = images.load(Path(root) / paths[i], size)
        except (images.ImageError, OSError):
            continue
        blend = self_blend(pixels, rng)
        examples.append((paths[i], pixels, blend.pixels, blend.face_found))
    return examples


def blend_sources(train: LoadedImages, fakes_from: str) -> np.ndarray:
    """Indices of the training images that get blended: the reals (none for ``dataset``)."""
    if fakes_from == "dataset":
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(train.labels == LABEL_REAL)


def effective_labels(train: LoadedImages, fakes_from: str) -> np.ndarray:
    """The labels one training epoch shows the model (for class weights and counts)."""
    blended = np.full(len(blend_sources(train, fakes_from)), LABEL_FAKE, dtype=np.int32)
    if fakes_from == "self-blended":
        return np.r_[np.full(len(blended), LABEL_REAL, dtype=np.int32), blended]
    if fakes_from == "both":
        return np.r_[train.labels.astype(np.int32), blended]
    return train.labels.astype(np.int32)


def steps_per_epoch(train: LoadedImages, fakes_from: str, batch_size: int) -> int:
    """Batches in one training epoch."""
    if fakes_from == "self-blended":
        return -(-len(blend_sources(train, fakes_from)) // _real_batch(batch_size))
    return -(-len(train.labels) // batch_size)


def _real_batch(batch_size: int) -> int:
    """Reals per self-blended batch: half the batch, the other half are their blends."""
    return max(1, batch_size // 2)


class _Blender:
    """Turns a batch of indices into images and labels; counts batches for the seeds."""

    def __init__(
        self,
        train: LoadedImages,
        boxes: FaceBoxes,
        fakes_from: str,
        seed: int,
        params: BlendParams,
    ) -> None:
        self.pixels, self.labels = train.pixels, train.labels.astype(np.float32)
        self.boxes = boxes.boxes
        self.fakes_from, self.seed, self.params = fakes_from, seed, params
        self.counter = itertools.count()

    def __call__(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seed = int(np.random.SeedSequence([self.seed, next(self.counter)]).generate_state(1)[0])
        images, labels = self.pixels[indices], self.labels[indices]
        real = labels == LABEL_REAL
        blends = blend_batch(images[real], self.boxes[indices[real]], seed, self.params)
        fakes = np.full(len(blends), LABEL_FAKE, dtype=np.float32)
        if self.fakes_from == "self-blended":
            return np.concatenate([images[real], blends]), np.r_[labels[real], fakes]
        return np.concatenate([images, blends]), np.r_[labels, fakes]


def blended_dataset(
    train: LoadedImages,
    boxes: FaceBoxes,
    fakes_from: str,
    batch_size: int,
    seed: int,
    params: BlendParams = DEFAULT_PARAMS,
) -> tf.data.Dataset:
    """A training pipeline whose fakes are (also) self-blended on the fly.

    Args:
        train: the decoded training subset.
        boxes: its face boxes (:func:`detect_boxes`).
        fakes_from: ``self-blended`` or ``both``.
        batch_size: images per step (``self-blended``: half reals, half their blends).
        seed: seeds the shuffle and every batch's blends.
        params: the ranges the blends are drawn from.

    Returns:
        Batches of (uint8 images, float32 labels of shape (batch, 1)).
    """
    import tensorflow as tf

    if fakes_from == "self-blended":
        pool, per_batch = blend_sources(train, fakes_from), _real_batch(batch_size)
    else:
        pool, per_batch = np.arange(len(train.labels)), batch_size
    blender = _Blender(train, boxes, fakes_from, seed, params)
    size = train.pixels.shape[1:]

    def load(indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        images, labels = tf.numpy_function(blender, [indices], (tf.uint8, tf.float32))
        images.set_shape((None, *size))
        return images, tf.reshape(labels, (-1, 1))

    dataset = tf.data.Dataset.from_tensor_slices(pool.astype(np.int64))
    dataset = dataset.shuffle(max(1, len(pool)), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(per_batch).map(load).prefetch(tf.data.AUTOTUNE)


def training_datasets(
    subsets: Subsets, config: TrainConfig, replicas: int, boxes: FaceBoxes | None = None
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """The training and validation pipelines (a too-short last batch dropped on replicas).

    Args:
        subsets: the run's decoded :class:`core.training.subsets.Subsets`.
        config: its :class:`core.runs.config.TrainConfig` (batch size, seed, fakes from).
        replicas: devices the model is mirrored on.
        boxes: face boxes of the training images (needed unless fakes come from the dataset).
    """
    import tensorflow as tf

    if config.fakes_from == "dataset":
        train_data = make_dataset(subsets.train, config.batch_size, shuffle=True, seed=config.seed)
    else:
        if boxes is None:
            raise ValueError(f"fakes_from={config.fakes_from!r} needs the face boxes.")
        train_data = blended_dataset(
            subsets.train, boxes, config.fakes_from, config.batch_size, config.seed
        )
    val_data = make_dataset(subsets.validation, config.batch_size, shuffle=False)
    if replicas > 1:  # a replica handed an empty slice of a batch fails
        train_data, val_data = (
            data.filter(lambda x, y: tf.shape(x)[0] >= replicas) for data in (train_data, val_data)
        )
    return train_data, val_data


__all__ = [
    "FaceBoxes",
    "blend_sources",
    "blended_dataset",
    "detect_boxes",
    "effective_labels",
    "example_blends",
    "find_faces",
    "steps_per_epoch",
    "training_datasets",
]
