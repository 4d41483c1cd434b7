"""Which run leads a metric, and only where the lead holds on the same images.

Three seeds of one CNN scored test AUC 0.75, 0.84 and 0.93 on the same 60 images:
most gaps people read into a table are noise. The rule of the Compare table:

1. Only runs that beat chance on the images shown can lead (:mod:`core.runs.learning`);
   when none does, nothing is highlighted and the page says so.
2. Only runs scored on the *same images* can be ranked: their per-image scores are
   paired by file. Runs without stored per-image scores, or on different images,
   are not ranked (re-score them on a common test set).
3. The top value leads when it beats every other eligible run in a paired test at
   the 5% level: DeLong's test for AUC; a paired bootstrap (1,000 seeded resamples
   of the images, 200 for AP and EER, which sort each one; the 95% interval of the
   difference excluding 0) for accuracy, balanced accuracy, AP, EER, precision,
   recall, F1 and loss. Otherwise the top and the runs within noise of it are *tied*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core import metrics
from core.evaluation import compare
from core.runs import learning

#: Metric key -> "max" or "min" for the metrics that can be tested on per-image scores
#: (every metric of the table but the timing, which no image pairing can test).
TESTED = {key: way for key, way in compare.METRICS.items() if key != "inference_ms_per_image"}
RESAMPLES = 1000
#: AP and EER sort every resample: fewer of them, so a page stays quick on large sets.
RANKED_RESAMPLES = 200
#: Resamples drawn at once (bounds the memory of the index matrix).
CHUNK = 50
ALPHA = 0.05
DELONG = "DeLong's paired test"
BOOTSTRAP = "a paired bootstrap of the images"


@dataclass(frozen=True)
class Scores:
    """One run's per-image results on a test set, keyed by file."""

    files: tuple[str, ...]
    labels: np.ndarray
    p_real: np.ndarray
    threshold: float = 0.5

    @classmethod
    def of(cls, record: dict[str, Any] | None, files_key: str = "files") -> Scores | None:
        """From a metrics or re-score record holding ``labels``, ``p_real`` and files."""
        record = record or {}
        files, labels, p_real = record.get(files_key), record.get("labels"), record.get("p_real")
        if not (files and labels and p_real) or not len(files) == len(labels) == len(p_real):
            return None
        threshold = float(
            record.get("threshold", (record.get("metrics") or {}).get("threshold", 0.5))
        )
        return cls(tuple(files), np.asarray(labels, int), np.asarray(p_real, float), threshold)


@dataclass(frozen=True)
class Lead:
    """The highlighted cells of one metric column.

    Attributes:
        rows: the rows holding the top value, and (when ``tied``) those within noise.
        tied: True when no run leads beyond noise: ``rows`` are tied.
        test: the test that decided.
    """

    rows: tuple[int, ...]
    tied: bool
    test: str


def _paired(a: Scores, b: Scores) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Labels and both runs' P(Real) on the files they share, in one order."""
    if a.files == b.files:
        return a.labels, a.p_real, b.p_real
    index_b = {name: i for i, name in enumerate(b.files)}
    shared = [(i, index_b[name]) for i, name in enumerate(a.files) if name in index_b]
    if len(shared) < max(len(a.files), len(b.files)):
        return None  # not the same images
    ia, ib = np.array(shared).T
    return a.labels[ia], a.p_real[ia], b.p_real[ib]


def _counted(key: str, labels: np.ndarray, p_real: np.ndarray, threshold: float) -> np.ndarray:
    """A metric on each resample at once; rows of ``labels``/``p_real`` are resamples."""
    if key == "loss":
        p = np.clip(p_real, 1e-7, 1 - 1e-7)
        return -(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean(axis=1)
    fake, called_fake = labels == 0, p_real < threshold
    tp = (fake & called_fake).sum(axis=1).astype(float)
    fp = (~fake & called_fake).sum(axis=1).astype(float)
    fn = (fake & ~called_fake).sum(axis=1).astype(float)
    tn = (~fake & ~called_fake).sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        found = {
            "accuracy": (tp + tn) / labels.shape[1],
            "balanced_accuracy": 0.5 * (tp / (tp + fn) + tn / (tn + fp)),
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn),
        }
    return found[key]


def _ranked(key: str, labels: np.ndarray, p_real: np.ndarray) -> np.ndarray:
    """AP or EER on each resample (these need a sort each: fewer resamples)."""
    values = []
    for y, p in zip(labels, p_real, strict=True):
        if key == "ap":
            found = metrics.average_precision(1 - y, 1.0 - p)
        else:
            eer = metrics.equal_error_rate(1 - y, 1.0 - p)
            found = eer[0] if eer else None
        values.append(np.nan if found is None else found)
    return np.array(values)


def _beats(
    key: str, labels: np.ndarray, top: np.ndarray, other: np.ndarray, threshold: float
) -> bool:
    """True when ``top`` is better than ``other`` on ``key`` beyond noise (paired)."""
    if key == "auc":
        tested = metrics.paired_auc_test(1 - labels, 1.0 - top, 1.0 - other)
        return tested is not None and tested[0] > 0 and tested[1] < ALPHA
    ranked = key in ("ap", "eer")
    resamples = RANKED_RESAMPLES if ranked else RESAMPLES
    rng = np.random.default_rng(0)
    measure = _ranked if ranked else lambda k, y, p: _counted(k, y, p, threshold)
    sign = 1.0 if TESTED[key] == "max" else -1.0
    found = []
    # In chunks: a (resamples x images) index matrix of the Kaggle Test split (10,905
    # images) would take 87 MB per array.
    for start in range(0, resamples, CHUNK):
        picks = rng.integers(0, labels.size, (min(CHUNK, resamples - start), labels.size))
        y = labels[picks]
        found.append(sign * (measure(key, y, top[picks]) - measure(key, y, other[picks])))
    differences = np.concatenate(found)
    differences = differences[np.isfinite(differences)]
    if differences.size < resamples // 2:
        return False
    return float(np.percentile(differences, 100 * ALPHA / 2)) > 0


def lead(
    key: str, values: Sequence[float], scores: Sequence[Scores | None], eligible: Sequence[bool]
) -> Lead | None:
    """The highlight of one metric column (see the module docstring).

    Args:
        key: the metric (a key of :data:`TESTED`).
        values: each row's value of the metric (NaN when missing).
        scores: each row's per-image scores on the images shown (None: unknown).
        eligible: each row beats chance on those images.

    Returns:
        The rows to highlight, or None when no row may be highlighted.
    """
    candidates = [
        i
        for i, value in enumerate(values)
        if eligible[i] and scores[i] is not None and np.isfinite(value)
    ]
    if not candidates:
        return None
    best = max if TESTED[key] == "max" else min
    top_value = best(values[i] for i in candidates)
    top = [i for i in candidates if np.isclose(values[i], top_value)]
    test = DELONG if key == "auc" else BOOTSTRAP
    tied = list(top)
    for i in candidates:
        if i in top:
            continue
        paired = _paired(scores[top[0]], scores[i])
        if paired is None:
            return None  # not the same images: nothing can be ranked
        labels, p_top, p_other = paired
        if not _beats(key, labels, p_top, p_other, scores[top[0]].threshold):
            tied.append(i)
    if len(candidates) == 1:
        return Lead(tuple(top), False, "the only run that beats chance")
    return Lead(tuple(sorted(tied)), len(tied) > 1, test)


def _beats_chance(record: compare.RunRecord, test_set: str | None) -> bool:
    if test_set is None:
        return record.learning().learned
    values = record.metrics_on(test_set)
    return bool(values) and learning.assess(values).learned


def scores_on(record: compare.RunRecord, test_set: str | None) -> Scores | None:
    """The run's per-image results on a test set (None: not stored, e.g. an older run)."""
    if test_set is None:
        return Scores.of(record.metrics, files_key="test_files")
    return Scores.of(record.rescores.get(test_set))


@dataclass(frozen=True)
class Highlights:
    """What the table highlights on one test set, and the sentence that explains it.

    Attributes:
        cells: column key -> the lead of that metric (rows leading, or tied).
        note: why nothing (or not everything) is highlighted; "" when all was ranked.
    """

    cells: dict[str, Lead]
    note: str = ""


def highlights(
    records: Sequence[compare.RunRecord],
    table: pd.DataFrame,
    test_set: str | None,
    prefix: str = "",
) -> Highlights:
    """Leads of each metric column on one test set, by the rule of this module.

    Args:
        records: the table's runs, in its row order.
        table: the comparison table.
        test_set: the re-scored test set shown, or None for each run's own.
        prefix: the key prefix of that test set's column group.

    Returns:
        The highlighted cells and the sentence that explains what was not ranked.
    """
    eligible = [_beats_chance(record, test_set) for record in records]
    if not any(eligible):
        return Highlights(
            {},
            "No selected run beats chance on these images (each AUC's 95% interval "
            "reaches 0.5): nothing is highlighted.",
        )
    if test_set is None and len(compare.distinct_test_sets(table)) > 1:
        return Highlights({}, "The runs were scored on different images: nothing is ranked.")
    scores = [scores_on(record, test_set) for record in records]
    note = ""
    if any(ok and found is None for ok, found in zip(eligible, scores, strict=True)):
        note = (
            "Runs trained before per-image scores were stored are not ranked: re-score them "
            "on a common test set."
        )
    cells = {}
    for key in TESTED:
        column = prefix + key
        if column not in table.columns:
            continue
        values = pd.to_numeric(table[column], errors="coerce").to_numpy()[: len(records)]
        found = lead(key, list(values), scores, eligible)
        if found is not None:
            cells[column] = found
    return Highlights(cells, note)
