"""Test sets: a fixed list of test images, named by a short id, chosen from a run or a dataset.

A comparison is only fair on identical images, so every test set is named by a
short hash of its dataset root and its sorted files (:func:`test_set_id`). Test sets
come from a run's own test files (:func:`core.compare.run_test_set`) or a seeded
stratified sample of a dataset's Test split (:func:`dataset_test_set`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core import data


class CompareError(ValueError):
    """A comparison request that cannot be carried out, with a message for the user."""


def test_set_id(root: str | Path, files: Iterable[str]) -> str:
    """Return a 10-character id of a test set: a hash of its root and sorted files."""
    text = str(root) + "\n" + "\n".join(sorted(files))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def dataset_name(root: str | Path) -> str:
    """Short name of a dataset root: the folder above ``Dataset/`` when it is so named."""
    path = Path(root)
    return path.parent.name if path.name.lower() == "dataset" and path.parent.name else path.name


def label_of(relative_path: str) -> int:
    """Label of a file from its class folder (``.../Real/x.jpg`` -> 1).

    Raises:
        CompareError: the file does not lie in a Real or Fake folder.
    """
    parts = Path(relative_path).parts
    folder = parts[-2].lower() if len(parts) >= 2 else ""
    if folder not in data.CLASS_ALIASES:
        raise CompareError(f"{relative_path} is not inside a Real or Fake folder.")
    return data.CLASS_ALIASES[folder]


@dataclass(frozen=True)
class TestSet:
    """A fixed list of test images.

    Attributes:
        root: the dataset root the paths are relative to.
        files: relative paths, sorted.
        description: how the list was chosen, for people.
    """

    __test__ = False  # not a pytest test class despite its name

    root: str
    files: tuple[str, ...]
    description: str = ""

    @classmethod
    def of(cls, root: str | Path, files: Iterable[str], description: str = "") -> TestSet:
        """Build a test set from any iterable of relative paths (sorted, duplicates dropped)."""
        return cls(str(root), tuple(sorted(set(files))), description)

    @property
    def id(self) -> str:
        """Short hash of root and files (see :func:`test_set_id`)."""
        return test_set_id(self.root, self.files)

    @property
    def name(self) -> str:
        """Short name of the dataset the files come from."""
        return dataset_name(self.root)

    @property
    def label(self) -> str:
        """``<id> (<n>)``: how tables name this set."""
        return f"{self.id} ({len(self.files)})"

    def samples(self) -> list[data.Sample]:
        """The files as samples, labelled by their class folder."""
        return [data.Sample(path, label_of(path)) for path in self.files]


def dataset_test_set(path: str | Path, size: int | None = None, seed: int = 0) -> TestSet:
    """A seeded stratified sample of the Test split of a dataset folder.

    Args:
        path: the dataset folder (``Dataset/`` or the folder holding it).
        size: number of images (None: the whole Test split).
        seed: the same seed always gives the same files.

    Raises:
        CompareError, data.DatasetError: no such folder, no Test split, or too few images.
    """
    index = data.index_dataset(path)
    samples = index.splits.get("Test")
    if not samples:
        raise CompareError(
            f"{index.root} has no Test split with images; choose a folder holding Test/Real "
            "and Test/Fake."
        )
    chosen = data.stratified_subset(samples, size, seed)
    name = dataset_name(index.root)
    if size is None or len(chosen) == len(samples):
        description = f"all {len(chosen)} Test images of {name}"
    else:
        description = f"{len(chosen)} Test images of {name}, stratified sample, seed {seed}"
    return TestSet.of(index.root, [sample.path for sample in chosen], description)
