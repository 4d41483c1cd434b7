"""The exact files of a run: stratified, seeded subsets of a dataset, decoded once.

Every run records these files in ``subsets.json`` so a result can be reproduced and
its test set re-used by the comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.data.catalog import DatasetError, DatasetIndex, LoadedImages, Sample, index_dataset
from core.runs.config import TrainConfig

if TYPE_CHECKING:
    from core.data.store import BuildProgress
    from core.runs.progress import Progress

#: Share of Train held out for validation when a dataset has no Validation split.
HOLDOUT_SHARE = 0.2
#: A Train subset is "imbalanced" (class_weight="auto") beyond this majority/minority ratio.
IMBALANCE_RATIO = 1.25
#: The status.json phase while images are decoded into the store.
DECODING = "decoding images"
#: Seconds between two decoding lines printed to the command line.
ECHO_INTERVAL_S = 5.0


@dataclass
class Subsets:
    """The exact files of a run, decoded.

    Attributes:
        root: dataset root the relative paths start from.
        train: the decoded training subset.
        validation: the decoded validation subset.
        test: the decoded test subset.
        notes: plain-language remarks (validation held out of Train, files skipped).
        is_demo: True when the root is the generated demo dataset.
        face_boxes: face boxes of the Train images when they are self-blended
            (a :class:`core.training.pipelines.FaceBoxes`), else None.
    """

    root: Path
    train: LoadedImages
    validation: LoadedImages
    test: LoadedImages
    notes: list[str]
    is_demo: bool = False
    face_boxes: Any = None

    def to_dict(self, data_dir: str | None = None) -> dict[str, Any]:
        """The contents of subsets.json.

        Args:
            data_dir: the dataset as given (None: the demo set), recorded next to where
                it was found so the relative file lists stay usable after a move.
        """
        skipped = self.train.skipped + self.validation.skipped + self.test.skipped
        return {
            "root": str(self.root),
            "data_dir": data_dir,
            "is_demo": self.is_demo,
            "train": self.train.paths,
            "validation": self.validation.paths,
            "test": self.test.paths,
            "skipped": [list(item) for item in skipped],
        }


def dataset_root(config: TrainConfig) -> tuple[Path, bool]:
    """Return (dataset folder, is_demo): the configured folder, or the generated demo set."""
    if config.data_dir:
        return Path(config.data_dir).expanduser(), False
    from core.sources.demo import ensure_demo_dataset

    return Path(ensure_demo_dataset()), True


def choose_samples(
    index: DatasetIndex, config: TrainConfig
) -> tuple[list[Sample], list[Sample], list[Sample], list[str]]:
    """Pick the train/validation/test files of a run (stratified, seeded).

    Returns:
        (train, validation, test, notes).

    Raises:
        DatasetError: no Test or Train split, or a subset larger than its split.
    """
    from core.data.catalog import stratified_subset

    notes: list[str] = []
    for split in ("Train", "Test"):
        if not index.splits.get(split):
            raise DatasetError(
                f"The dataset at {index.root} has no {split} images; "
                f"add {split}/Real and {split}/Fake folders."
            )
    train_pool = index.splits["Train"]
    if index.splits.get("Validation"):
        validation = stratified_subset(
            index.splits["Validation"], config.val_size, config.sampling_seed
        )
    else:
        size = config.val_size or max(2, round(len(train_pool) * HOLDOUT_SHARE))
        validation = stratified_subset(train_pool, size, config.sampling_seed)
        held = {sample.path for sample in validation}
        train_pool = [sample for sample in train_pool if sample.path not in held]
        notes.append(
            f"No Validation split: {len(validation)} Train images were held out for validation."
        )
    train = stratified_subset(train_pool, config.train_size, config.sampling_seed)
    test = stratified_subset(index.splits["Test"], config.test_size, config.sampling_seed)
    return train, validation, test, notes


def decode_reporter(progress: Progress | None) -> Callable[[BuildProgress], None] | None:
    """A store-build callback that shows decoding in status.json (and the CLI when echoing).

    Args:
        progress: the run's :class:`core.runs.progress.Progress`, or None (no reporting).
    """
    if progress is None:
        return None
    printed = [0.0]

    def report(state: BuildProgress) -> None:
        progress.check_cancel()
        eta = None if state.eta_s is None else round(state.eta_s, 1)
        done = state.done == state.total
        progress.update(
            phase=DECODING, batch=state.done, batches=state.total, eta_s=eta,
            decode_rate=state.rate, force=done,
        )  # fmt: skip
        if progress.echo and (done or time.monotonic() - printed[0] >= ECHO_INTERVAL_S):
            printed[0] = time.monotonic()
            left = f", about {eta:.0f} s left" if eta and not done else ""
            print(
                f"{DECODING}: {state.done:,} of {state.total:,} ({state.rate:.0f}/s{left})",
                flush=True,
            )

    return report


def load_subsets(
    config: TrainConfig, root: Path | None = None, progress: Progress | None = None
) -> Subsets:
    """Index the dataset, choose the subsets and decode them at the model's size.

    The images go through the dataset's decoded-image store (:mod:`core.data.store`):
    only files not decoded at this size before are decoded, and the returned
    pixels are views that read batches from disk.

    Args:
        config: the run's configuration (dataset, sizes, seed, image size).
        root: the dataset folder (default: :func:`dataset_root` of the config).
        progress: the run's progress, shown as a "decoding images" phase.

    Raises:
        DatasetError: the dataset cannot give the subsets (or the disk has no room
            for their decoded images); the message says why.
    """
    from core.data.store import Store

    is_demo = False
    if root is None:
        root, is_demo = dataset_root(config)
    index = index_dataset(root)
    train, validation, test, notes = choose_samples(index, config)
    store = Store(index.root, config.image_size)
    parts = (train, validation, test)
    store.ensure([sample.path for part in parts for sample in part], decode_reporter(progress))
    if progress is not None and progress.status.get("phase") == DECODING:
        progress.update(phase="loading data", batch=0, batches=0, eta_s=None, force=True)
    loaded = [store.loaded(samples) for samples in parts]
    subsets = Subsets(index.root, *loaded, notes=notes, is_demo=is_demo)
    skipped = sum(len(part.skipped) for part in loaded)
    if skipped:
        notes.append(f"{skipped} unreadable image(s) skipped; see subsets.json.")
    for name, part in (("Train", subsets.train), ("Test", subsets.test)):
        if len(part.labels) == 0:
            raise DatasetError(f"No readable {name} image left after skipping damaged files.")
    if len(np.unique(subsets.train.labels)) < 2:
        raise DatasetError("The Train subset holds one class only; both Real and Fake are needed.")
    return subsets


def class_weights(labels: np.ndarray, mode: str) -> dict[int, float] | None:
    """Balanced class weights ``n / (2 n_c)`` per mode ("auto": only when imbalanced).

    Returns:
        ``{0: w_fake, 1: w_real}`` or None when no weighting applies.
    """
    counts = np.bincount(labels.astype(np.int64), minlength=2)
    if mode == "off" or counts.min() == 0:
        return None
    if mode == "auto" and counts.max() / counts.min() <= IMBALANCE_RATIO:
        return None
    total = counts.sum()
    return {label: float(total / (2 * counts[label])) for label in (0, 1)}
