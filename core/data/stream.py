"""Read decoded images from a store lazily, batch by batch: memory that does not grow.

A :class:`StoreView` is a list of slots of a store's ``pixels.u8`` (see
:mod:`core.data.store`) that behaves like the ``uint8`` array (n, size, size, 3) the
pipelines used to hold in memory, where they need it: ``len``, ``.shape``,
``view[i]`` and ``view[indices]`` return ndarrays read from disk with ``os.preadv``
(the needed slots sorted, neighbouring slots read in one call). A memory map would
be simpler, but every page of it the process touched counts in its resident memory,
which would grow with the subset; ``pread`` goes through the page cache, which the
kernel can drop.

:meth:`StoreView.dataset` is the ``tf.data`` pipeline over a view: shuffled slot
*indices* (int64, a few bytes each), batched, then one ``tf.numpy_function`` reading
each batch, a few batches prefetched.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

#: Batches read in parallel and batches read ahead of the model.
PARALLEL_READS = 2
PREFETCH = 2
#: Most images read by one ``os.preadv`` call.
IOV_BUFFERS = 512


class StoreView:
    """Some slots of a store, indexable like a ``uint8`` array (n, size, size, 3).

    Args:
        path: the store's ``pixels.u8``.
        slots: the slot of each image, in the view's order.
        size: the side of the images.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4
    _opening = threading.Lock()  # tf.data reads batches in parallel threads

    def __init__(self, path: str | Path, slots: np.ndarray, size: int) -> None:
        self.path = Path(path)
        self.slots = np.asarray(slots, dtype=np.int64)
        self.size = int(size)
        self.slot_bytes = self.size * self.size * 3
        self._fd: int | None = None
        self._pid = 0

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(images, size, size, 3), as the in-memory array had."""
        return (len(self.slots), self.size, self.size, 3)

    @property
    def nbytes(self) -> int:
        """Bytes the images would take in memory (none are held)."""
        return len(self.slots) * self.slot_bytes

    def __len__(self) -> int:
        return len(self.slots)

    def __repr__(self) -> str:
        return f"StoreView({self.path.parent.name}, {len(self)} images of {self.size} px)"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fd": None, "_pid": 0}

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """All the images in memory (only for small views; pipelines read batches)."""
        images = self.read(np.arange(len(self)))
        return images if dtype is None else images.astype(dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, int | np.integer):
            return self.read(np.arange(len(self))[[key]])[0]
        if isinstance(key, slice):
            return self.read(np.arange(len(self))[key])
        return self.read(np.arange(len(self))[np.asarray(key)])

    def subset(self, positions: np.ndarray) -> StoreView:
        """A view of some of this view's images, without reading them."""
        return StoreView(self.path, self.slots[np.asarray(positions)], self.size)

    def _file(self) -> int:
        with self._opening:
            if self._fd is None or self._pid != os.getpid():
                self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
            return self._fd

    def read(self, positions: np.ndarray) -> np.ndarray:
        """Read the images at ``positions`` (in that order) into a new array.

        Raises:
            OSError: the store file is shorter than its index says (deleted meanwhile).
        """
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        wanted = self.slots[positions]
        order = np.argsort(wanted, kind="stable")
        ordered = wanted[order]
        out = np.empty((len(wanted), self.size, self.size, 3), dtype=np.uint8)
        rows = [memoryview(row).cast("B") for row in out.reshape(len(wanted), self.slot_bytes)]
        fd = self._file()
        # One call per run of consecutive slots, scattered straight into the output rows.
        # (At most IOV_BUFFERS buffers per call: the kernel's limit is 1024.)
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        starts = np.union1d(np.r_[0, breaks], np.arange(0, len(ordered), IOV_BUFFERS))
        for first, end in zip(starts, np.r_[starts[1:], len(ordered)], strict=True):
            if first >= end:
                continue
            buffers = [rows[i] for i in order[first:end]]
            got = os.preadv(fd, buffers, int(ordered[first]) * self.slot_bytes)
            if got != (end - first) * self.slot_bytes:
                raise OSError(f"The decoded-image store {self.path.parent} is incomplete.")
        return out

    def dataset(
        self,
        labels: np.ndarray | None,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        pad: bool = False,
    ) -> tf.data.Dataset:
        """A ``tf.data`` pipeline of batches read from the store.

        Args:
            labels: one label per image (batches then hold float32 labels (batch, 1)),
                or None for images only.
            batch_size: images per batch.
            shuffle: reshuffle the order every epoch (a buffer of indices, not images).
            seed: seeds the shuffle.
            pad: fill a short last batch with black images (several replicas need it).

        Returns:
            Batches of ``uint8`` images (and labels).
        """
        import tensorflow as tf

        count = len(self)
        values = None if labels is None else np.asarray(labels, np.float32).reshape(-1, 1)
        order = tf.data.Dataset.range(count)
        if shuffle:
            order = order.shuffle(max(1, count), seed=seed, reshuffle_each_iteration=True)

        def read(positions: np.ndarray) -> Any:
            images = self.read(positions)
            if pad and len(images) < batch_size:
                blank = np.zeros((batch_size - len(images), *images.shape[1:]), np.uint8)
                images = np.concatenate([images, blank])
            return images if values is None else (images, values[positions])

        def load(positions: tf.Tensor) -> Any:
            kinds = tf.uint8 if values is None else (tf.uint8, tf.float32)
            result = tf.numpy_function(read, [positions], kinds, stateful=False)
            images = result if values is None else result[0]
            images.set_shape((None, self.size, self.size, 3))
            if values is None:
                return images
            return images, tf.reshape(result[1], (-1, 1))

        batches = order.batch(batch_size).map(load, num_parallel_calls=PARALLEL_READS)
        return batches.prefetch(PREFETCH)
