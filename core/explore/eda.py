"""Exploratory statistics of a dataset, as plain data for the Data Explorer to draw.

Pure functions over a :class:`core.data.catalog.DatasetIndex`: they return dicts, numpy
arrays and pandas DataFrames, never figures, and import neither streamlit nor
TensorFlow. Anything that reads many files works on a seeded, stratified sample
when asked to (``sample_size``/``per_class``), and every result says whether it
sampled (``sampled``), from how many files (``population``) and how many it used.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from core import metrics
from core.data import catalog, images
from core.data.catalog import DatasetIndex, Sample
from core.settings import CLASS_NAMES, LABEL_FAKE, LABEL_REAL

__all__ = [
    "CHANNELS",
    "SHORTCUT_STATS",
    "batch_summary",
    "class_distribution",
    "describe_sampling",
    "image_properties",
    "image_statistics",
    "pixel_histograms",
    "sample_images",
    "shortcut_statistics",
]

CHANNELS = ("Red", "Green", "Blue")
#: Per-image statistics that may separate the classes without looking at faces.
SHORTCUT_STATS = {
    "brightness": "Mean brightness (0-255)",
    "saturation": "Mean saturation (0-1)",
    "file_size_kb": "File size (KB)",
    "high_freq": "High-frequency energy (Laplacian variance)",
}


def _splits(index: DatasetIndex, splits: Iterable[str] | None) -> list[str]:
    chosen = list(index.splits) if splits is None else [s for s in splits if s in index.splits]
    return chosen


def _sample_per_class(
    index: DatasetIndex, splits: Iterable[str] | None, per_class: int | None, seed: int
) -> tuple[dict[int, list[tuple[str, Sample]]], bool, int]:
    """Up to ``per_class`` files of each class from ``splits``, spread over the splits.

    Returns:
        label -> [(split, sample)], whether it sampled, and the population size.
    """
    pools: dict[int, list[tuple[str, Sample]]] = {LABEL_FAKE: [], LABEL_REAL: []}
    for split in _splits(index, splits):
        for sample in index.splits[split]:
            pools[sample.label].append((split, sample))
    population = sum(len(pool) for pool in pools.values())
    sampled = False
    rng = np.random.default_rng(seed)
    chosen = {}
    for label, pool in pools.items():
        if per_class is not None and len(pool) > per_class:
            sampled = True
            picks = np.sort(rng.choice(len(pool), per_class, replace=False))
            chosen[label] = [pool[i] for i in picks]
        else:
            chosen[label] = pool
    return chosen, sampled, population


def class_distribution(index: DatasetIndex) -> pd.DataFrame:
    """Count images per split and class.

    Returns:
        One row per split present: ``split``, ``Real``, ``Fake``, ``total`` and
        ``balance`` (minority / majority class count, 1.0 = balanced, 0.0 when a
        class is missing).
    """
    rows = []
    for split, counts in index.counts().items():
        real, fake = counts["Real"], counts["Fake"]
        balance = min(real, fake) / max(real, fake) if max(real, fake) else 0.0
        rows.append(
            {"split": split, "Real": real, "Fake": fake, "total": real + fake, "balance": balance}
        )
    return pd.DataFrame(rows, columns=["split", "Real", "Fake", "total", "balance"])


def sample_images(
    index: DatasetIndex, split: str, per_class: int, seed: int
) -> dict[str, list[str]]:
    """Pick example files of each class of a split (reshuffle = call with a new seed).

    Args:
        index: the dataset.
        split: ``Train``, ``Validation`` or ``Test``.
        per_class: how many files per class (fewer when the class holds fewer).
        seed: the same seed gives the same files.

    Returns:
        ``{"Real": [relative paths], "Fake": [...]}``.
    """
    chosen, _, _ = _sample_per_class(index, [split], per_class, seed)
    result = {}
    for label in (LABEL_REAL, LABEL_FAKE):
        picks = [sample.path for _, sample in chosen[label]]
        order = np.random.default_rng(seed + 1).permutation(len(picks))
        result[CLASS_NAMES[label]] = [picks[i] for i in order]
    return result


def batch_summary(
    index: DatasetIndex, split: str, batch_size: int, image_size: int, seed: int = 0
) -> dict[str, Any]:
    """Decode one batch as the training pipeline would and describe its arrays.

    The pipeline (:func:`core.data.catalog.make_dataset`) feeds exactly these arrays:
    ``uint8`` pixels of (batch, size, size, 3) and float32 labels of (batch, 1).

    Returns:
        ``images_shape``, ``images_dtype``, ``labels_shape``, ``labels_dtype``,
        ``pixel_min``, ``pixel_max``, ``labels`` (counts by class) and ``skipped``
        (files that failed to decode, as (path, reason)).
    """
    samples = index.splits.get(split, [])
    size = min(batch_size, len(samples))
    subset = catalog.stratified_subset(samples, size, seed)
    loaded = catalog.load_images(index.root, subset, image_size)
    labels = loaded.labels.astype("float32").reshape(-1, 1)
    return {
        "images_shape": tuple(int(n) for n in loaded.pixels.shape),
        "images_dtype": str(loaded.pixels.dtype),
        "labels_shape": tuple(int(n) for n in labels.shape),
        "labels_dtype": str(labels.dtype),
        "pixel_min": int(loaded.pixels.min()) if loaded.pixels.size else None,
        "pixel_max": int(loaded.pixels.max()) if loaded.pixels.size else None,
        "labels": {
            "Real": int((loaded.labels == LABEL_REAL).sum()),
            "Fake": int((loaded.labels == LABEL_FAKE).sum()),
        },
        "skipped": loaded.skipped,
    }


def pixel_histograms(
    index: DatasetIndex,
    per_class: int,
    seed: int,
    splits: Iterable[str] | None = None,
    image_size: int = 128,
    bins: int = 32,
) -> dict[str, Any]:
    """Per-channel pixel-value histograms of each class, from a sample.

    Returns:
        ``table``: DataFrame with ``class``, ``channel``, ``bin_start``, ``bin_end``,
        ``density`` (share of the class's pixels in the bin); ``means``: DataFrame of
        the mean value per class and channel; plus ``sampled``, ``population``,
        ``used`` (images decoded) and ``skipped``.
    """
    chosen, sampled, population = _sample_per_class(index, splits, per_class, seed)
    edges = np.linspace(0, 256, bins + 1)
    rows, means, used, skipped = [], [], 0, []
    for label in (LABEL_REAL, LABEL_FAKE):
        loaded = catalog.load_images(index.root, [s for _, s in chosen[label]], image_size)
        used += len(loaded.labels)
        skipped.extend(loaded.skipped)
        for c, channel in enumerate(CHANNELS):
            values = loaded.pixels[..., c].ravel()
            counts, _ = np.histogram(values, bins=edges)
            density = counts / max(1, values.size)
            for b in range(bins):
                rows.append(
                    {
                        "class": CLASS_NAMES[label],
                        "channel": channel,
                        "bin_start": float(edges[b]),
                        "bin_end": float(edges[b + 1]),
                        "density": float(density[b]),
                    }
                )
            means.append(
                {
                    "class": CLASS_NAMES[label],
                    "channel": channel,
                    "mean": float(values.mean()) if values.size else float("nan"),
                }
            )
    return {
        "table": pd.DataFrame(rows),
        "means": pd.DataFrame(means),
        "sampled": sampled,
        "population": population,
        "used": used,
        "skipped": skipped,
    }


def _header(path: Path, decode: bool) -> dict[str, Any]:
    """Read one file's format, size and mode from its header (or decode it fully)."""
    record: dict[str, Any] = {"bytes": None, "format": None, "mode": None}
    try:
        record["bytes"] = path.stat().st_size
        if decode:
            decoded = images.decode(path)
            record.update(
                format=decoded.format,
                mode=decoded.original_mode,
                width=decoded.original_size[0],
                height=decoded.original_size[1],
            )
        else:
            if record["bytes"] == 0:
                raise images.ImageError("The file is empty (0 bytes).")
            with Image.open(path) as image:
                record.update(
                    format=image.format,
                    mode=image.mode,
                    width=image.size[0],
                    height=image.size[1],
                )
                image.verify()
        record["error"] = None
    except (images.ImageError, UnidentifiedImageError) as error:
        record["error"] = str(error) or "not an image"
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        record["error"] = f"damaged or unreadable ({error})"
    return record


def image_properties(
    index: DatasetIndex, sample_size: int | None, seed: int, decode: bool = False
) -> dict[str, Any]:
    """Image sizes, formats and modes found, and the corrupt files, from a sample.

    By default only headers are read (fast; catches non-images and broken headers);
    ``decode=True`` decodes each file through :mod:`core.data.images` (slower; also
    catches truncated data).

    Args:
        index: the dataset.
        sample_size: files to inspect over all splits (None: all of them).
        seed: sampling seed.
        decode: decode whole files instead of reading headers.

    Returns:
        ``files``: DataFrame (split, class, path, bytes, format, mode, width, height,
        error); ``sizes``/``formats``/``modes``: DataFrames of counts; ``corrupt``:
        DataFrame of the files with an error; ``sampled``, ``population``, ``used``.
    """
    pool = [(split, s) for split, samples in index.splits.items() for s in samples]
    population = len(pool)
    sampled = sample_size is not None and population > sample_size
    if sampled:
        picks = np.sort(np.random.default_rng(seed).choice(population, sample_size, replace=False))
        pool = [pool[i] for i in picks]
    with ThreadPoolExecutor(max_workers=catalog.io_workers()) as executor:
        records = list(executor.map(lambda item: _header(index.absolute(item[1]), decode), pool))
    rows = [
        {"split": split, "class": CLASS_NAMES[sample.label], "path": sample.path, **record}
        for (split, sample), record in zip(pool, records, strict=True)
    ]
    columns = ["split", "class", "path", "bytes", "format", "mode", "width", "height", "error"]
    files = pd.DataFrame(rows, columns=columns)
    good = files[files["error"].isna()]
    if len(good):
        dimensions = (
            good["width"].astype("Int64").astype(str)
            + "x"
            + good["height"].astype("Int64").astype(str)
        )
        sizes = (
            good.assign(dimensions=dimensions)
            .groupby(["dimensions", "class"])
            .size()
            .reset_index(name="count")
        )
    else:
        sizes = pd.DataFrame(columns=["dimensions", "class", "count"])
    return {
        "files": files,
        "sizes": sizes.sort_values("count", ascending=False, ignore_index=True),
        "formats": _counts(good, "format"),
        "modes": _counts(good, "mode"),
        "corrupt": files[files["error"].notna()].reset_index(drop=True),
        "sampled": sampled,
        "population": population,
        "used": len(files),
    }


def _counts(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    if not len(frame):
        return pd.DataFrame(columns=[column, "count"])
    counts = frame[column].fillna("unknown").value_counts()
    return counts.rename_axis(column).reset_index(name="count")


def image_statistics(pixels: np.ndarray) -> dict[str, float]:
    """Brightness, saturation and high-frequency energy of one RGB uint8 image.

    Returns:
        ``brightness``: mean of the grey image (0-255); ``saturation``: mean HSV
        saturation (0-1); ``high_freq``: variance of the 4-neighbour Laplacian of the
        grey image (sharpness, noise, resampling traces).
    """
    rgb = pixels.astype(np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    top, bottom = rgb.max(axis=-1), rgb.min(axis=-1)
    saturation = np.where(top > 0, (top - bottom) / np.maximum(top, 1e-6), 0.0)
    laplacian = (
        -4 * grey[1:-1, 1:-1] + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
    )
    return {
        "brightness": float(grey.mean()),
        "saturation": float(saturation.mean()),
        "high_freq": float(laplacian.var()) if laplacian.size else 0.0,
    }


def shortcut_statistics(
    index: DatasetIndex,
    per_class: int,
    seed: int,
    splits: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Per-image statistics by class that would reveal a shortcut, from a sample.

    Images are decoded at their stored resolution (resizing would change their
    high-frequency content). A statistic that alone separates Real from Fake
    (AUC far from 0.5) is a cue a model can learn without looking at faces.

    Returns:
        ``table``: DataFrame (split, class, path, brightness, saturation, file_size_kb,
        high_freq); ``summary``: DataFrame per statistic with the median of each class
        and ``auc`` (how well the statistic alone ranks Real above Fake) and
        ``separation`` (max(auc, 1 - auc)); ``skipped``; ``sampled``,
        ``population``, ``used``.
    """
    chosen, sampled, population = _sample_per_class(index, splits, per_class, seed)
    pool = chosen[LABEL_REAL] + chosen[LABEL_FAKE]

    def measure(item: tuple[str, Sample]) -> dict[str, Any]:
        split, sample = item
        path = index.absolute(sample)
        try:
            stats = image_statistics(images.decode(path).pixels)
            stats["file_size_kb"] = path.stat().st_size / 1024
        except (images.ImageError, OSError) as error:
            return {"path": sample.path, "error": str(error)}
        return {"split": split, "class": CLASS_NAMES[sample.label], "path": sample.path, **stats}

    with ThreadPoolExecutor(max_workers=catalog.io_workers()) as executor:
        results = list(executor.map(measure, pool))
    skipped = [(r["path"], r["error"]) for r in results if "error" in r]
    columns = ["split", "class", "path", *SHORTCUT_STATS]
    table = pd.DataFrame([r for r in results if "error" not in r], columns=columns)
    return {
        "table": table,
        "summary": _separability(table),
        "skipped": skipped,
        "sampled": sampled,
        "population": population,
        "used": len(table),
    }


def _separability(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    labels = (table["class"] == CLASS_NAMES[LABEL_REAL]).astype(int).to_numpy()
    for stat, title in SHORTCUT_STATS.items():
        values = table[stat].to_numpy(dtype=float)
        auc = metrics.roc_auc(labels, values) if len(values) else None
        rows.append(
            {
                "statistic": title,
                "key": stat,
                "median_real": float(np.median(values[labels == 1])) if labels.any() else None,
                "median_fake": float(np.median(values[labels == 0]))
                if (labels == 0).any()
                else None,
                "auc": auc,
                "separation": None if auc is None else max(auc, 1 - auc),
            }
        )
    return pd.DataFrame(rows)


def describe_sampling(result: dict[str, Any], unit: str = "images") -> str:
    """One sentence saying whether a result used every file or a sample."""
    used = result.get("used", result.get("hashed"))
    if result.get("sampled"):
        return f"Computed on a random sample of {used:,} of {result['population']:,} {unit}."
    return f"Computed on all {used:,} {unit}."
