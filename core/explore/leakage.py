"""Split leakage: byte-identical images across splits, and duplicates within a split.

A test image that also sits in Train makes every score optimistic; a file copied
within a split weighs twice. Files are compared by a content hash of their bytes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.data import catalog
from core.data.catalog import DatasetIndex


def file_hash(path: Path) -> str:
    """Content hash of a file's bytes (BLAKE2b, 128 bits): equal bytes, equal hash."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_files(
    index: DatasetIndex, pool: list[tuple[str, str]]
) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """Hash every (split, path) in threads; return hash -> members, and unreadable paths."""

    def digest(item: tuple[str, str]) -> str | None:
        try:
            return file_hash(index.root / item[1])
        except OSError:
            return None

    with ThreadPoolExecutor(max_workers=catalog.io_workers()) as executor:
        hashes = list(executor.map(digest, pool))
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    unreadable = []
    for item, value in zip(pool, hashes, strict=True):
        if value is None:
            unreadable.append(item[1])
        else:
            groups[value].append(item)
    return groups, unreadable


def _duplicates(
    groups: dict[str, list[tuple[str, str]]], split_names: list[str]
) -> tuple[list[dict[str, Any]], pd.DataFrame, list[dict[str, Any]]]:
    """Groups spanning splits, copies within each split (counts) and their examples."""
    cross, within_examples = [], []
    per_split: dict[str, list[int]] = {split: [0, 0] for split in split_names}
    for value, members in groups.items():
        if len(members) < 2:
            continue
        splits = sorted({split for split, _ in members}, key=_split_order)
        if len(splits) > 1:
            cross.append({"hash": value, "files": [p for _, p in members], "splits": splits})
        for split in splits:
            copies = sum(s == split for s, _ in members)
            if copies > 1:
                per_split[split][0] += 1
                per_split[split][1] += copies - 1
                within_examples.append(
                    {"hash": value, "split": split, "files": [p for s, p in members if s == split]}
                )
    rows = [
        {"split": split, "groups": count, "extra_copies": extra}
        for split, (count, extra) in per_split.items()
    ]
    within = pd.DataFrame(rows, columns=["split", "groups", "extra_copies"])
    return cross, within, within_examples


def leakage_check(
    index: DatasetIndex, sample_size: int | None, seed: int, max_examples: int = 20
) -> dict[str, Any]:
    """Find byte-identical images across splits (leakage) and within a split.

    On a sample, a duplicated pair is only found when both copies were drawn, so
    the counts are a lower bound; the result says when it sampled.

    Args:
        index: the dataset.
        sample_size: files to hash over all splits (None: all of them).
        seed: sampling seed.
        max_examples: groups of duplicates to return as examples, per kind.

    Returns:
        ``cross_split``: number of duplicate groups spanning splits; ``cross_split_files``:
        files in those groups; ``cross_examples``: list of {hash, files: [split/path...],
        splits}; ``within_split``: DataFrame (split, groups, extra_copies);
        ``within_examples``; ``unreadable``: files that could not be read;
        ``hashed``, ``sampled``, ``population``.
    """
    pool = [(split, s.path) for split, samples in index.splits.items() for s in samples]
    population = len(pool)
    sampled = sample_size is not None and population > sample_size
    if sampled:
        picks = np.sort(np.random.default_rng(seed).choice(population, sample_size, replace=False))
        pool = [pool[i] for i in picks]
    groups, unreadable = _hash_files(index, pool)
    cross, within, within_examples = _duplicates(groups, list(index.splits))
    return {
        "cross_split": len(cross),
        "cross_split_files": sum(len(group["files"]) for group in cross),
        "cross_examples": cross[:max_examples],
        "within_split": within,
        "within_examples": within_examples[:max_examples],
        "unreadable": unreadable,
        "hashed": len(pool) - len(unreadable),
        "sampled": sampled,
        "population": population,
    }


def _split_order(split: str) -> int:
    return catalog.SPLITS.index(split) if split in catalog.SPLITS else len(catalog.SPLITS)
