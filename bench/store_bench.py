"""Benchmark the decoded-image store against decoding JPEG bytes on the fly.

Run with ``python -m bench.store_bench``; the table goes to docs/BENCHMARKS.md
(section ``store``). Everything is written to a temporary artifacts folder.

On the 520 real images of the shared FFHQ/StyleGAN2 set, at 128 and 256 px:

1. Build: the bare decoder (``core.images.load`` in :func:`core.data.io_workers`
   threads over the files) against building a store of the same files
   (:meth:`core.store.Store.ensure`: the same decoding plus writing slots and
   committing the index). The issue's target is >= 0.8x.
2. Read: one epoch of shuffled batches of 32, the way training reads them, from
   (a) the store (:class:`core.stream.StoreView` through ``tf.data``), (b) the JPEG
   bytes held in memory, decoded with ``core.images.load`` in the same threads,
   (c) the same bytes through ``tf.data`` with ``tf.io.decode_jpeg`` + ``tf.image.resize``
   (parallel map). Files are read once before timing, so the page cache is warm for all.
3. Bytes per image on disk (store slot vs JPEG file), and how far (c)'s pixels are
   from the inference decoder's (mean absolute difference, 0-255): the skew a
   ``tf.image`` pipeline would add between training and inference.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from core import settings

settings.enable_onednn()

FFHQ = settings.REPO_ROOT.parent / "shared" / "data" / "ffhq-stylegan2" / "Dataset"
SIZES = (128, 256)
BATCH = 32
REPEATS = 5


def _files() -> list[str]:
    from core import data

    index = data.index_dataset(FFHQ)
    return [sample.path for part in index.splits.values() for sample in part]


def _rate(count: int, seconds: float) -> float:
    return count / max(seconds, 1e-9)


def bare_decoder(files: list[str], size: int) -> float:
    """Images/s of ``core.images.load`` over the files in the store's thread count."""
    from core import data, images

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=data.io_workers()) as pool:
        list(pool.map(lambda relative: images.load(FFHQ / relative, size), files))
    return _rate(len(files), time.perf_counter() - start)


def store_build(files: list[str], size: int) -> float:
    """Images/s of building a fresh store of the files (decode, write slots, commit)."""
    from core import store

    folder = store.store_path(FFHQ, size)
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    start = time.perf_counter()
    decoded = store.Store(FFHQ, size).ensure(files)
    assert decoded == len(files)
    return _rate(len(files), time.perf_counter() - start)


def _epoch(dataset) -> int:
    count = 0
    for images in dataset:
        batch = images[0] if isinstance(images, tuple) else images
        count += int(batch.shape[0])
    return count


def read_store(files: list[str], size: int) -> float:
    """Images/s of one shuffled epoch of batches read from the store through tf.data."""
    from core import data, store

    samples = [data.Sample(relative, 0) for relative in files]
    view = store.load(FFHQ, samples, size).pixels
    dataset = view.dataset(np.zeros(len(files)), BATCH, shuffle=True, seed=0)
    _epoch(dataset.take(2))  # tracing
    start = time.perf_counter()
    count = _epoch(dataset)
    return _rate(count, time.perf_counter() - start)


def read_bytes_pil(blobs: list[bytes], size: int) -> float:
    """Images/s of decoding shuffled batches of in-memory JPEG bytes with core.images."""
    from core import data, images

    order = np.random.default_rng(0).permutation(len(blobs))
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=data.io_workers()) as pool:
        for first in range(0, len(order), BATCH):
            batch = [blobs[i] for i in order[first : first + BATCH]]
            np.stack(list(pool.map(lambda blob: images.load(blob, size), batch)))
    return _rate(len(blobs), time.perf_counter() - start)


def _tf_pipeline(blobs: list[bytes], size: int):
    import tensorflow as tf

    def decode(blob):
        image = tf.io.decode_jpeg(blob, channels=3)
        return tf.cast(tf.image.resize(image, (size, size)), tf.uint8)

    dataset = tf.data.Dataset.from_tensor_slices(blobs)
    return dataset, decode


def read_bytes_tf(blobs: list[bytes], size: int) -> float:
    """Images/s of shuffled batches decoded by tf.io.decode_jpeg + resize in tf.data."""
    import tensorflow as tf

    dataset, decode = _tf_pipeline(blobs, size)
    dataset = dataset.shuffle(len(blobs), seed=0).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(BATCH).prefetch(2)
    _epoch(dataset.take(2))
    start = time.perf_counter()
    count = _epoch(dataset)
    return _rate(count, time.perf_counter() - start)


def tf_skew(files: list[str], blobs: list[bytes], size: int, count: int = 50) -> float:
    """Mean absolute pixel difference between tf.image's decode+resize and core.images."""
    from core import images

    dataset, decode = _tf_pipeline(blobs[:count], size)
    diffs = [
        np.abs(np.asarray(theirs, np.float64) - images.load(FFHQ / relative, size)).mean()
        for relative, theirs in zip(files[:count], dataset.map(decode), strict=True)
    ]
    return float(np.mean(diffs))


def bench_size(files: list[str], blobs: list[bytes], size: int) -> list[str]:
    """Table rows for one image size.

    The measurements are interleaved, repeat by repeat, and each ratio is the median of
    the ratios within a repeat: on a shared machine the load changes from one minute to
    the next, so only measurements taken side by side compare.
    """
    kinds = (bare_decoder, store_build, read_store, read_bytes_pil, read_bytes_tf)
    inputs = (files, files, files, blobs, blobs)
    runs = [
        [kind(given, size) for kind, given in zip(kinds, inputs, strict=True)]
        for _ in range(REPEATS)
    ]
    rate = [statistics.median(column) for column in zip(*runs, strict=True)]
    ratio = [statistics.median(r[i] / r[0] for r in runs) for i in range(len(rate))]
    bare, build, stored, pil, tf_rate = rate
    jpeg = statistics.mean(len(blob) for blob in blobs)
    skew = tf_skew(files, blobs, size)
    slot = size * size * 3
    return [
        f"| {size} px | build: bare decoder (core.images.load, threads) | {bare:,.0f} | 1.00x | "
        f"{jpeg / 1e3:.1f} KB (JPEG) |",
        f"| {size} px | build: store (decode + write slots + index) | {build:,.0f} | "
        f"{ratio[1]:.2f}x | {slot / 1e3:.1f} KB (slot) |",
        f"| {size} px | read: store, shuffled batches via tf.data | {stored:,.0f} | "
        f"{ratio[2]:.1f}x | {slot / 1e3:.1f} KB |",
        f"| {size} px | read: JPEG bytes, core.images.load in threads | {pil:,.0f} | "
        f"{ratio[3]:.2f}x | {jpeg / 1e3:.1f} KB |",
        f"| {size} px | read: JPEG bytes, tf.io.decode_jpeg + resize (tf.data) | {tf_rate:,.0f} | "
        f"{ratio[4]:.2f}x | {jpeg / 1e3:.1f} KB; pixels off by {skew:.2f}/255 on average |",
    ]


def main() -> None:
    """Run the benchmark, print the table and record it in docs/BENCHMARKS.md."""
    from bench._record import record_section

    files = _files()
    blobs = [(FFHQ / relative).read_bytes() for relative in files]  # warms the page cache too
    with tempfile.TemporaryDirectory() as work:
        os.environ[settings.ARTIFACTS_ENV] = work
        rows = [row for size in SIZES for row in bench_size(files, blobs, size)]
    table = "\n".join(
        [
            f"Decoded-image store vs decoding on the fly: {len(files)} real images of the "
            f"shared FFHQ/StyleGAN2 set (256 px JPEGs), {REPEATS} interleaved repeats, "
            f"batches of {BATCH}, page cache warm. Images/s: medians; ratios: the median of "
            "each repeat's ratio to the bare decoder at the same size, measured side by "
            "side (the issue's build target: >= 0.8x).",
            "",
            "| Size | What | Images/s | vs bare decoder | Bytes per image |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    record_section("store", table)


if __name__ == "__main__":
    main()
