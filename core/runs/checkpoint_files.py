"""A run's checkpoint on disk: written atomically at every epoch end, read back to resume.

A checkpoint is one folder in the run folder::

    checkpoint-0003/        the state after 3 completed epochs (all phases counted)
        arrays.npz          model variables, optimizer variables, early stopping's best
                            weights, the phase-1 snapshot while fine-tuning
        state.json          epoch, phase, early-stopping counters, history so far...
    .checkpoint-tmp-XXXX/   a checkpoint being written: never read, removed later

It is written into a temporary folder inside the run folder, its files flushed to
disk (``fsync``), then renamed to its final name (a rename is atomic), and the
folder's entry flushed too. A crash or a kill during a save leaves a temporary
folder, which is ignored, and the previous checkpoint is still there: nothing
half-written ever looks whole. Only the newest checkpoint is kept; it is deleted
when the run ends finished or failed (a cancelled run keeps it, to be resumed). Arrays are read with
``allow_pickle=False``: JSON and ``.npz`` only, never pickle.

This module imports neither TensorFlow nor (until a checkpoint is read or written) numpy,
so the Train page can ask :func:`resume_epoch` cheaply and Home can list runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

PREFIX = "checkpoint-"
TEMP_PREFIX = ".checkpoint-tmp-"
STATE_FILE = "state.json"
ARRAYS_FILE = "arrays.npz"
#: Bumped when the layout of state.json changes; other versions are not read.
VERSION = 1
_NAME = re.compile(rf"^{PREFIX}(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    """One complete checkpoint on disk.

    Attributes:
        path: its folder.
        state: the contents of its ``state.json``.
    """

    path: Path
    state: dict[str, Any]

    @property
    def epoch(self) -> int:
        """Epochs completed when it was written (phases counted together)."""
        return int(self.state["epoch"])

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array it holds, by name (``model/0``, ``optimizer/3``...)."""
        import numpy as np  # here: listing runs (Home) imports this module, not numpy

        with np.load(self.path / ARRAYS_FILE, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's entry to disk."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def saved(run_dir: Path) -> list[Path]:
    """The checkpoint folders of a run (final names only), oldest first."""
    found = []
    for path in run_dir.glob(f"{PREFIX}*"):
        match = _NAME.match(path.name)
        if match and path.is_dir():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def write(run_dir: Path, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Save a checkpoint atomically and remove the older ones.

    Args:
        run_dir: the run folder.
        state: JSON-ready state with an ``epoch`` (completed epochs).
        arrays: named arrays (``.npz`` keys).

    Returns:
        The new checkpoint folder.
    """
    import numpy as np  # here: listing runs (Home) imports this module, not numpy

    state = {**state, "version": VERSION}
    final = run_dir / f"{PREFIX}{int(state['epoch']):04d}"
    temporary = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=run_dir))
    try:
        with open(temporary / ARRAYS_FILE, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        with open(temporary / STATE_FILE, "w", encoding="utf-8") as file:
            json.dump(state, file, allow_nan=False)
            file.flush()
            os.fsync(file.fileno())
        _fsync(temporary)
        if final.exists():  # the same epoch written again: move the old one aside first
            os.replace(final, tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=run_dir))
        os.replace(temporary, final)
        _fsync(run_dir)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    for path in [*saved(run_dir), *run_dir.glob(f"{TEMP_PREFIX}*")]:
        if path != final:
            shutil.rmtree(path, ignore_errors=True)
    return final


def read(path: Path) -> Checkpoint:
    """Read one checkpoint folder's state and check its arrays file is a whole archive.

    Raises:
        ValueError: anything missing, unreadable, cut short or of another version.
    """
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        with zipfile.ZipFile(path / ARRAYS_FILE) as archive:
            archive.namelist()  # reads the central directory, which a cut file lacks
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path.name} is unreadable ({error}).") from None
    if not isinstance(state, dict) or state.get("version") != VERSION or "epoch" not in state:
        raise ValueError(f"{path.name} is not a checkpoint of this version.")
    return Checkpoint(path, state)


def latest(run_dir: Path) -> Checkpoint | None:
    """The newest readable checkpoint of a run, or None (unreadable ones are skipped)."""
    for path in reversed(saved(run_dir)):
        try:
            return read(path)
        except ValueError as error:
            logger.warning("%s: ignoring %s", run_dir.name, error)
    return None


def resume_epoch(run_dir: Path) -> int | None:
    """Epochs a resume of this run would skip (its newest checkpoint's), or None."""
    checkpoint = latest(run_dir)
    return checkpoint.epoch if checkpoint else None


def remove(run_dir: Path) -> None:
    """Delete every checkpoint of a run, temporary ones included (the run has ended)."""
    for path in [*saved(run_dir), *run_dir.glob(f"{TEMP_PREFIX}*")]:
        shutil.rmtree(path, ignore_errors=True)
