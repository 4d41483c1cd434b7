"""The dataset layer: find a dataset on disk, index it, sample subsets, feed models.

A dataset is a folder in the Kaggle "Deepfake and Real Images" layout::

    Dataset/{Train,Validation,Test}/{Real,Fake}/*.jpg

We accept the folder holding ``Dataset/`` as well as ``Dataset/`` itself, any
case, the common spellings of split names (``train``, ``val``, ``valid``,
``validation``, ``test``) and the image types in :data:`core.settings.IMAGE_EXTENSIONS`.
Labels are fixed: Fake = 0, Real = 1 (see :mod:`core.settings`).

Indexing only lists files (``os.scandir``), it never decodes them, so the full
190k-image Kaggle set indexes in seconds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.settings import CLASS_NAMES, IMAGE_EXTENSIONS, LABEL_FAKE, LABEL_REAL

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf

SPLITS = ("Train", "Validation", "Test")
SPLIT_ALIASES = {
    "train": "Train",
    "training": "Train",
    "val": "Validation",
    "valid": "Validation",
    "validation": "Validation",
    "test": "Test",
    "testing": "Test",
}
CLASS_ALIASES = {"real": LABEL_REAL, "fake": LABEL_FAKE}


class DatasetError(ValueError):
    """A dataset folder that cannot be used, with a message meant for the user."""


@dataclass(frozen=True)
class Sample:
    """One image file of a dataset: its path relative to the dataset root and label."""

    path: str
    label: int


@dataclass
class DatasetIndex:
    """All image files of a dataset, by split, without decoding any of them.

    Attributes:
        root: the ``Dataset`` folder (the one holding the split folders).
        splits: split name (``Train``...) -> samples, sorted by path.
        missing_splits: canonical split names not found.
        warnings: plain-language remarks (empty class folders, ignored files...).
    """

    root: Path
    splits: dict[str, list[Sample]]
    missing_splits: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Return ``{split: {"Real": n, "Fake": n}}`` for the splits present."""
        result = {}
        for split, samples in self.splits.items():
            real = sum(sample.label == LABEL_REAL for sample in samples)
            result[split] = {"Real": real, "Fake": len(samples) - real}
        return result

    @property
    def total(self) -> int:
        """Number of images over all splits."""
        return sum(len(samples) for samples in self.splits.values())

    def absolute(self, sample: Sample | str) -> Path:
        """Return the absolute path of a sample (or of a relative path string)."""
        return self.root / (sample.path if isinstance(sample, Sample) else sample)


def _children(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def _subfolders(folder: Path) -> list[os.DirEntry]:
    return [entry for entry in _children(folder) if entry.is_dir()]


def _find_split_folders(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for entry in _subfolders(folder):
        canonical = SPLIT_ALIASES.get(entry.name.lower())
        if canonical and canonical not in found:
            found[canonical] = Path(entry.path)
    return found


def resolve_root(path: str | Path) -> Path:
    """Return the folder that holds the split folders, given it or its parent.

    Raises:
        DatasetError: the path does not exist or holds no split folder.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"Folder not found: {folder}. Check the path and try again.")
    if _find_split_folders(folder):
        return folder
    for entry in _subfolders(folder):
        if entry.name.lower() == "dataset" and _find_split_folders(Path(entry.path)):
            return Path(entry.path)
    names = [entry.name for entry in _subfolders(folder)] or ["none"]
    raise DatasetError(
        f"No Train, Validation or Test folder in {folder}; found folders: "
        f"{', '.join(names)}. Expected Dataset/{{Train,Validation,Test}}/{{Real,Fake}}/."
    )


def _words(names: list[str]) -> str:
    """Join names as prose: ``Test``, ``Train and Test``, ``Train, Validation and Test``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _missing_splits_text(found: list[str], missing: list[str]) -> str:
    """Say which splits a folder has and which are missing, in one sentence."""
    has = f"a {found[0]} split" if len(found) == 1 else f"{_words(found)} splits"
    verb = "is" if len(missing) == 1 else "are"
    return f"This folder has only {has}; {_words(missing)} {verb} missing."


def index_dataset(path: str | Path) -> DatasetIndex:
    """Index a dataset folder in the Kaggle layout without decoding any image.

    Args:
        path: the ``Dataset`` folder or the folder holding it.

    Returns:
        The index, with missing splits and other problems listed, not raised.

    Raises:
        DatasetError: no split folder at all, or a split with no Real/Fake folder.
    """
    root = resolve_root(path)
    split_folders = _find_split_folders(root)
    index = DatasetIndex(root=root, splits={})
    index.missing_splits = [split for split in SPLITS if split not in split_folders]
    if index.missing_splits:
        index.warnings.append(_missing_splits_text(list(split_folders), index.missing_splits))
    for split in SPLITS:
        if split not in split_folders:
            continue
        split_folder = split_folders[split]
        class_folders = {
            CLASS_ALIASES[entry.name.lower()]: entry
            for entry in _subfolders(split_folder)
            if entry.name.lower() in CLASS_ALIASES
        }
        if not class_folders:
            names = [entry.name for entry in _subfolders(split_folder)] or ["none"]
            raise DatasetError(
                f"{split_folder.name}/ has no Real or Fake folder; found folders: "
                f"{', '.join(names)}. Expected {split}/Real/ and {split}/Fake/."
            )
        samples: list[Sample] = []
        for label in (LABEL_FAKE, LABEL_REAL):
            name = CLASS_NAMES[label]
            entry = class_folders.get(label)
            if entry is None:
                index.warnings.append(f"{split} has no {name} folder.")
                continue
            prefix = f"{split_folder.name}/{entry.name}/"
            files = [
                prefix + child.name
                for child in _children(Path(entry.path))
                if child.name.lower().endswith(IMAGE_EXTENSIONS) and child.is_file()
            ]
            if not files:
                index.warnings.append(f"{split}/{name} holds no images.")
            samples.extend(Sample(file, label) for file in files)
        samples.sort(key=lambda sample: sample.path)
        index.splits[split] = samples
    return index


def _take(samples: Sequence[Sample], count: int, rng: np.random.Generator) -> list[Sample]:
    order = rng.permutation(len(samples))[:count]
    return [samples[i] for i in sorted(order)]


def stratified_subset(
    samples: Sequence[Sample], size: int | float | None, seed: int
) -> list[Sample]:
    """Sample a subset that keeps the class proportions of ``samples``.

    Args:
        samples: the split to sample from.
        size: number of images, a fraction in (0, 1], or None for all of them.
        seed: the same seed always gives the same files.

    Returns:
        The chosen samples, sorted by path.

    Raises:
        DatasetError: more images asked for than the split holds.
    """
    total = len(samples)
    if size is None:
        return sorted(samples, key=lambda sample: sample.path)
    if isinstance(size, float) and 0 < size <= 1:
        size = round(total * size)
    size = int(size)
    if size > total:
        raise DatasetError(f"Asked for {size} images but the split holds only {total}.")
    if size <= 0:
        return []
    by_label = {
        label: [sample for sample in samples if sample.label == label]
        for label in (LABEL_FAKE, LABEL_REAL)
    }
    # Largest-remainder allocation keeps the proportions and the exact total.
    shares = {label: size * len(group) / total for label, group in by_label.items()}
    quota = {label: int(share) for label, share in shares.items()}
    for label in sorted(shares, key=lambda key: shares[key] - quota[key], reverse=True):
        if sum(quota.values()) < size:
            quota[label] += 1
    import numpy as np  # here, not at the top: indexing a folder (Home) needs no numpy

    rng = np.random.default_rng(seed)
    chosen = []
    for label, group in by_label.items():
        chosen.extend(_take(group, quota[label], rng))
    return sorted(chosen, key=lambda sample: sample.path)


@dataclass
class LoadedImages:
    """Decoded images of a subset, ready to feed a model.

    Attributes:
        pixels: ``uint8`` array (n, size, size, 3), or a :class:`core.data.stream.StoreView`
            that reads them from a decoded-image store on demand (:mod:`core.data.store`).
        labels: ``int`` array (n,), Fake = 0, Real = 1.
        paths: relative paths of the decoded files, aligned with ``pixels``.
        skipped: (relative path, reason) for files that could not be decoded.
    """

    pixels: np.ndarray
    labels: np.ndarray
    paths: list[str]
    skipped: list[tuple[str, str]]


def io_workers() -> int:
    """Threads for reading and decoding files: I/O and Pillow release the GIL."""
    return min(8, (os.cpu_count() or 1) * 2)


def load_images(
    root: Path, samples: Sequence[Sample], size: int, workers: int | None = None
) -> LoadedImages:
    """Decode and resize a list of samples; corrupt files are skipped and counted.

    Decoding runs in threads: Pillow releases the GIL while it decodes.
    """
    import numpy as np  # here, not at the top: indexing a folder (Home) needs no numpy

    from core.data import images

    def decode_one(sample: Sample) -> np.ndarray | str:
        try:
            return images.load(root / sample.path, size)
        except (images.ImageError, OSError) as error:
            return str(error)

    workers = workers or io_workers()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(decode_one, samples))
    kept = [(sample, result) for sample, result in zip(samples, results, strict=True)]
    good = [(sample, array) for sample, array in kept if isinstance(array, np.ndarray)]
    skipped = [(sample.path, reason) for sample, reason in kept if isinstance(reason, str)]
    pixels = (
        np.stack([array for _, array in good])
        if good
        else np.zeros((0, size, size, 3), dtype=np.uint8)
    )
    labels = np.array([sample.label for sample, _ in good], dtype=np.int32)
    return LoadedImages(pixels, labels, [sample.path for sample, _ in good], skipped)


def make_dataset(
    loaded: LoadedImages,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
) -> tf.data.Dataset:
    """Wrap decoded images in a shuffled, batched, prefetched ``tf.data`` pipeline.

    Images in a store (a :class:`core.data.stream.StoreView`) are streamed batch by batch
    over shuffled indices, so memory does not grow with the subset; an in-memory
    array is cached. Labels come out as float32 of shape (batch, 1).
    """
    import tensorflow as tf

    if hasattr(loaded.pixels, "dataset"):
        return loaded.pixels.dataset(loaded.labels, batch_size, shuffle=shuffle, seed=seed)
    labels = loaded.labels.astype("float32").reshape(-1, 1)
    dataset = tf.data.Dataset.from_tensor_slices((loaded.pixels, labels)).cache()
    if shuffle:
        dataset = dataset.shuffle(max(1, len(labels)), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
