"""The index of a decoded-image store (:mod:`core.data.store`): which file is in which slot.

Kept as ``index.npz``: plain numpy arrays (loaded without pickle), compact and quick
to load for the 190,335 files of the Kaggle set:

- ``paths``: the slots' relative paths, newline-joined UTF-8 (``""``: a dead slot);
- ``stats``: per slot the file's size and ``mtime_ns`` when decoded, and the decoded
  image's own height and width;
- ``bad_paths``, ``bad_stats``, ``bad_reasons``: the files that could not be decoded,
  with their size and ``mtime_ns`` (not retried until they change) and why.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _join(strings: Sequence[str]) -> np.ndarray:
    return np.frombuffer("\n".join(strings).encode("utf-8"), dtype=np.uint8)


def _split(buffer: np.ndarray, count: int) -> list[str]:
    return buffer.tobytes().decode("utf-8").split("\n") if count else []


class SlotIndex:
    """The slots and the unreadable files of a store, as loaded from ``index.npz``.

    Attributes:
        paths: the relative path of each slot ("" for a slot whose file went bad).
        stats: ``int64`` (slots, 4): file size, ``mtime_ns``, decoded height and width.
        bad: unreadable files: relative path -> (size, ``mtime_ns``, reason).
        slot_of: relative path -> slot, for the live slots.
    """

    def __init__(self) -> None:
        self.paths: list[str] = []  # per slot; "" for a slot whose file is gone or broken
        self.stats = np.zeros((0, 4), dtype=np.int64)  # size, mtime_ns, height, width
        self.bad: dict[str, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, reason)
        self.slot_of: dict[str, int] = {}

    @classmethod
    def read(cls, path: Path) -> SlotIndex:
        """Load an index file (an empty index when there is none yet)."""
        index = cls()
        if not path.exists():
            return index
        with np.load(path) as saved:
            count, bad_count = int(saved["count"]), int(saved["bad_count"])
            index.paths = _split(saved["paths"], count)
            index.stats = saved["stats"].astype(np.int64).reshape(-1, 4)
            bad_paths = _split(saved["bad_paths"], bad_count)
            reasons = _split(saved["bad_reasons"], bad_count)
            bad_stats = saved["bad_stats"].reshape(-1, 2)
        index.bad = {
            p: (int(s[0]), int(s[1]), r)
            for p, s, r in zip(bad_paths, bad_stats, reasons, strict=True)
        }
        index.slot_of = {p: i for i, p in enumerate(index.paths) if p}
        return index

    def write(self, path: Path, count: int | None = None) -> None:
        """Replace ``index.npz`` atomically (a temp file, then ``os.replace``).

        Args:
            path: the index file.
            count: slots to write (default all): later ones may not be written yet.
        """
        count = len(self.paths) if count is None else count
        bad = sorted(self.bad.items())
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez(
            temp,
            count=count,
            paths=_join(self.paths[:count]),
            stats=self.stats[:count],
            bad_count=len(bad),
            bad_paths=_join([p for p, _ in bad]),
            bad_reasons=_join([v[2] for _, v in bad]),
            bad_stats=np.array([v[:2] for _, v in bad], dtype=np.int64).reshape(-1, 2),
        )
        os.replace(temp, path)

    def add_slots(self, paths: Sequence[str]) -> np.ndarray:
        """Append empty slots for ``paths``; return their slot numbers."""
        first = len(self.paths)
        self.paths.extend(paths)
        self.stats = np.concatenate([self.stats, np.zeros((len(paths), 4), dtype=np.int64)])
        self.slot_of.update({p: first + i for i, p in enumerate(paths)})
        return np.arange(first, first + len(paths), dtype=np.int64)
