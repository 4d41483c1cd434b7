"""Decoded-image stores: every image decoded once per image size, kept on disk, streamed.

A store lives in ``<artifacts>/stores/<dataset>-<hash>-<size>px/`` and holds one
dataset's images at one size:

- ``pixels.u8``: raw ``uint8`` slots of (size, size, 3), slot *i* at byte
  ``i * size * size * 3``;
- ``index.npz``: per slot its relative path, file size and ``mtime_ns`` (and the
  decoded image's own height/width), plus the files that could not be decoded with
  their size, mtime and reason, so they are counted once and not retried until they
  change;
- ``store.json``: the dataset root and the size, for people and :func:`list_stores`.

:func:`load` makes sure the requested files are in the store (decoding only the new
and the changed ones, in threads, with :func:`core.data.images.load`'s own steps) and
returns a :class:`core.data.catalog.LoadedImages` whose ``pixels`` is a lazy
:class:`core.data.stream.StoreView`. Writing is crash-safe: slots are written first and the
index is replaced atomically after each chunk, so a killed build leaves a usable store
whose bytes past the indexed slots are ignored (and cut off by the next build). A file
lock keeps two processes from extending one store at once.

Why raw slots and not FFCV's ``.beton``, ``tf.data`` snapshot / ``Dataset.save`` or
TFRecord: the pixels come from the same Pillow decoder and resize as inference
(:mod:`core.data.images`), so training and inference see identical inputs (``tf.image``'s
JPEG decoder and resizer differ slightly); a later, bigger subset appends slots and a
changed file is re-decoded into its own slot, which those write-once formats cannot
do without rewriting everything; and fixed-size slots give random access by index,
so ``tf.data`` shuffles slot indices, not images. Raw pixels take more disk than
keeping the JPEG bytes (49 KB per image at 128 px, 197 KB at 256 px, against about
18 KB) but cost almost no CPU to read: measured by ``python -m bench.store_bench``
(docs/BENCHMARKS.md, 2 cores), a batch from the store costs 0.14 ms of CPU per image
at 128 px, decoding the bytes 1.2 ms with Pillow and 0.6 ms with ``tf.io.decode_jpeg``
(whose pixels differ from inference's by 2/255 on average), CPU that a training
process on a few cores takes from its model every epoch; the store pays it once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from core import settings
from core.data import images
from core.data.catalog import DatasetError, LoadedImages, Sample, io_workers
from core.data.store_index import SlotIndex

logger = logging.getLogger(__name__)

PIXELS_NAME = "pixels.u8"
INDEX_NAME = "index.npz"
META_NAME = "store.json"
#: Disk left free after a build: a store never fills the disk to the last byte.
DISK_RESERVE = 256 * 2**20
#: Files decoded between two index commits (at least; large builds use bigger chunks).
CHUNK = 512
#: Seconds between two progress reports.
REPORT_INTERVAL_S = 0.5


class StoreError(DatasetError):
    """A store that cannot be built or used, with a message meant for the user."""


@dataclass(frozen=True)
class BuildProgress:
    """Where a store build stands (passed to the progress callback).

    Attributes:
        done: images decoded (or found unreadable) so far in this build.
        total: images this build decodes.
        rate: images per second so far.
        eta_s: seconds left at that rate (None before the first image).
    """

    done: int
    total: int
    rate: float
    eta_s: float | None


@dataclass(frozen=True)
class StoreInfo:
    """One store on disk, for listing: dataset, image size, images, bytes on disk."""

    path: Path
    dataset: str
    image_size: int
    images: int
    bytes: int


def stores_dir() -> Path:
    """The folder holding every store (``<artifacts>/stores``)."""
    return settings.artifacts_dir() / "stores"


def store_path(root: str | Path, size: int) -> Path:
    """The folder of the store of dataset ``root`` at ``size`` px."""
    resolved = str(Path(root).expanduser().resolve())
    digest = hashlib.sha1(resolved.encode("utf-8")).hexdigest()[:10]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(resolved).parent.name or "dataset")[:40]
    return stores_dir() / f"{name}-{digest}-{int(size)}px"


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return int(info.st_size), int(info.st_mtime_ns)


class Store:
    """The decoded images of one dataset at one size (see the module docstring).

    Args:
        root: the dataset root the relative paths start from.
        size: the side images are resized to.
    """

    def __init__(self, root: str | Path, size: int) -> None:
        self.root = Path(root)
        self.size = int(size)
        self.folder = store_path(root, size)
        self.slot_bytes = self.size * self.size * 3
        self.index = SlotIndex.read(self.folder / INDEX_NAME)

    @property
    def pixels_path(self) -> Path:
        """The raw slot file."""
        return self.folder / PIXELS_NAME

    def _pending(self, paths: Sequence[str]) -> dict[str, tuple[int, int] | None]:
        """Files to decode: not in the store, or changed since (size or mtime)."""
        pending = {}
        for relative in paths:
            stat = _stat(self.root / relative)
            slot = self.index.slot_of.get(relative)
            if slot is not None:
                if stat is not None and tuple(self.index.stats[slot, :2]) == stat:
                    continue
            elif relative in self.index.bad and (stat or (0, 0)) == self.index.bad[relative][:2]:
                continue
            pending[relative] = stat
        return pending

    def ensure(
        self,
        paths: Sequence[str],
        on_progress: Callable[[BuildProgress], None] | None = None,
        workers: int | None = None,
        chunk: int | None = None,
    ) -> int:
        """Decode into the store every file of ``paths`` that is new or changed.

        Args:
            paths: relative paths under the root.
            on_progress: called with a :class:`BuildProgress` during the build (it may
                raise to stop it; what was committed stays usable).
            workers: decoding threads (default :func:`core.data.catalog.io_workers`).
            chunk: files between two index commits (default: :data:`CHUNK` or more).

        Returns:
            How many files were decoded (0 when the store already held them all).

        Raises:
            StoreError: not enough free disk space for the new images.
        """
        if not self._pending(paths):
            return 0
        self.folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.folder / ".lock")):
            self.index = SlotIndex.read(self.folder / INDEX_NAME)  # another process may have built
            pending = self._pending(paths)
            if not pending:
                return 0
            self._check_disk(sum(relative not in self.index.slot_of for relative in pending))
            self._write_meta()
            return self._build(pending, on_progress, workers or io_workers(), chunk)

    def _check_disk(self, new_slots: int) -> None:
        needed = new_slots * self.slot_bytes
        free = shutil.disk_usage(self.folder).free
        if needed + DISK_RESERVE > free:
            raise StoreError(
                f"Decoding {new_slots:,} images at {self.size} px needs {_gb(needed)} of disk "
                f"in {self.folder.parent}, but only {_gb(free)} is free; free some space, "
                "or choose fewer images or a smaller image size."
            )

    def _write_meta(self) -> None:
        meta = {"root": str(self.root.resolve()), "image_size": self.size}
        (self.folder / META_NAME).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    def _build(
        self,
        pending: dict[str, tuple[int, int] | None],
        on_progress: Callable[[BuildProgress], None] | None,
        workers: int,
        chunk: int | None,
    ) -> int:
        index = self.index
        changed = sorted((p for p in pending if p in index.slot_of), key=index.slot_of.get)
        work = changed + [p for p in pending if p not in index.slot_of]
        chunk = chunk or max(CHUNK, len(work) // 50)
        clock = _Clock(len(work), on_progress)
        fd = os.open(self.pixels_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, len(index.paths) * self.slot_bytes)  # drop an unindexed tail
            with ThreadPoolExecutor(max_workers=workers) as pool:
                previous = None
                for first in range(0, len(work), chunk):
                    part = work[first : first + chunk]
                    # Slots are added per chunk and the index names only the slots of
                    # finished chunks, so a committed index never names unwritten ones.
                    index.add_slots([p for p in part if p not in index.slot_of])
                    futures = {
                        pool.submit(self._decode_into, fd, p, index.slot_of[p]): p for p in part
                    }
                    if previous is not None:  # commit it while this chunk decodes
                        self._commit(fd, *previous, pending, clock)
                    previous = (futures, len(index.paths))
                if previous is not None:
                    self._commit(fd, *previous, pending, clock)
            clock.finish()
        finally:
            os.close(fd)
        logger.info("store %s: %d images decoded", self.folder.name, len(work))
        return len(work)

    def _commit(
        self, fd: int, futures: dict, count: int, pending: dict[str, Any], clock: _Clock
    ) -> None:
        """Wait for one chunk, record its results, flush its pixels, then write the index."""
        for future in as_completed(futures):
            self._record(futures[future], pending, future.result())
            clock.tick()
        os.fdatasync(fd)  # the pixels reach the disk before an index that names them
        self.index.write(self.folder / INDEX_NAME, count)

    def _decode_into(self, fd: int, relative: str, slot: int) -> tuple[int, int] | str:
        """Decode one file into its slot; return its decoded (height, width) or the error."""
        try:
            decoded = images.decode(self.root / relative).pixels
        except (images.ImageError, OSError) as error:
            return str(error)
        pixels = np.ascontiguousarray(images.resize(decoded, self.size))
        os.pwrite(fd, pixels.tobytes(), slot * self.slot_bytes)
        return decoded.shape[0], decoded.shape[1]

    def _record(
        self, relative: str, pending: dict[str, Any], result: tuple[int, int] | str
    ) -> None:
        slot, stat = self.index.slot_of[relative], pending[relative] or (0, 0)
        if isinstance(result, str):
            self.index.paths[slot] = ""
            self.index.slot_of.pop(relative, None)
            self.index.bad[relative] = (*stat, " ".join(result.split()))
        else:
            self.index.bad.pop(relative, None)
            self.index.stats[slot] = (*stat, *result)

    def loaded(self, samples: Sequence[Sample]) -> LoadedImages:
        """The samples as :class:`LoadedImages` over the store (unreadable ones skipped)."""
        from core.data.stream import StoreView

        good = [sample for sample in samples if sample.path in self.index.slot_of]
        skipped = [
            (sample.path, self.index.bad.get(sample.path, (0, 0, "The file cannot be read."))[2])
            for sample in samples
            if sample.path not in self.index.slot_of
        ]
        slots = np.array([self.index.slot_of[sample.path] for sample in good], dtype=np.int64)
        view = StoreView(self.pixels_path, slots, self.size)
        labels = np.array([sample.label for sample in good], dtype=np.int32)
        return LoadedImages(view, labels, [sample.path for sample in good], skipped)

    def native(self, relative: str) -> np.ndarray | None:
        """A file's full-size decoded pixels when its slot holds them unresized, else None."""
        slot = self.index.slot_of.get(relative)
        if slot is None or tuple(self.index.stats[slot, 2:]) != (self.size, self.size):
            return None
        if tuple(self.index.stats[slot, :2]) != _stat(self.root / relative):
            return None
        from core.data.stream import StoreView

        return StoreView(self.pixels_path, np.array([slot]), self.size)[0]


def existing(root: str | Path, sizes: Sequence[int]) -> list[Store]:
    """The stores of dataset ``root`` at ``sizes`` that exist already (none is created)."""
    return [Store(root, size) for size in sorted(set(sizes)) if store_path(root, size).is_dir()]


class _Clock:
    """Counts decoded images and reports :class:`BuildProgress` at most twice a second."""

    def __init__(self, total: int, callback: Callable[[BuildProgress], None] | None) -> None:
        self.total, self.callback = total, callback
        self.done, self.start, self.last = 0, time.perf_counter(), 0.0
        self.reported = -1

    def tick(self) -> None:
        self.done += 1
        now = time.perf_counter()
        if now - self.last >= REPORT_INTERVAL_S or self.done == self.total:
            self.last = now
            self.report(now)

    def report(self, now: float) -> None:
        if self.callback is None or self.reported == self.done:
            return
        self.reported = self.done
        rate = self.done / max(now - self.start, 1e-9)
        eta = (self.total - self.done) / rate if self.done else None
        self.callback(BuildProgress(self.done, self.total, round(rate, 1), eta))

    def finish(self) -> None:
        if self.done < self.total:  # nothing to decode still reports its end once
            self.done = self.total
        self.report(time.perf_counter())


def _gb(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.1f} MB"


def load(
    root: str | Path,
    samples: Sequence[Sample],
    size: int,
    on_progress: Callable[[BuildProgress], None] | None = None,
) -> LoadedImages:
    """The samples decoded at ``size`` px, through the dataset's store (built as needed).

    Args:
        root: the dataset root the sample paths start from.
        samples: the files and their labels.
        size: the side the images are resized to.
        on_progress: called during the build with a :class:`BuildProgress`.

    Returns:
        Images whose ``pixels`` is a lazy view of the store; unreadable files are in
        ``skipped`` with the reason.

    Raises:
        StoreError: not enough free disk space for the new images.
    """
    store = Store(root, size)
    store.ensure([sample.path for sample in samples], on_progress)
    return store.loaded(samples)


def list_stores() -> list[StoreInfo]:
    """Every store under the artifacts folder, largest first."""
    found = []
    folder = stores_dir()
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            meta = json.loads((path / META_NAME).read_text(encoding="utf-8"))
            index = SlotIndex.read(path / INDEX_NAME)
        except (OSError, ValueError, KeyError):
            continue  # a store being created or deleted
        used = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
        images_count = sum(1 for p in index.paths if p)
        found.append(StoreInfo(path, meta["root"], int(meta["image_size"]), images_count, used))
    return sorted(found, key=lambda info: info.bytes, reverse=True)


def delete_store(path: str | Path, access: settings.Access = settings.SHELL) -> None:
    """Delete a store folder (renamed to a hidden name first, so no reader sees half of it).

    Args:
        path: the store folder.
        access: who can reach the app (:class:`core.settings.Access`).

    Raises:
        PermissionError: deleting is off on this server.
        StoreError: the path is not a store under the artifacts folder, or it is being built.
    """
    if not access.delete_allowed():
        raise PermissionError(settings.DELETE_OFF_MESSAGE)
    path = Path(path)
    if path.parent.resolve() != stores_dir().resolve() or not (path / META_NAME).exists():
        raise StoreError(f"{path} is not a decoded-image store.")
    lock = FileLock(str(path / ".lock"))
    try:
        lock.acquire(timeout=0)
    except TimeoutError:
        raise StoreError(f"{path.name} is being built; delete it once that ends.") from None
    hidden = path.with_name(f".deleting-{path.name}-{os.getpid()}")
    try:
        os.replace(path, hidden)
    finally:
        lock.release()
    shutil.rmtree(hidden, ignore_errors=True)
