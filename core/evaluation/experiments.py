"""Runs repeated with several seeds, read as one experiment: mean ± standard deviation.

``python -m core.train --seeds N`` and the Train page's *Seeds* field train one model N
times on the same files, sharing an ``experiment`` name in their configs. Here they are
grouped, summarised, and two experiments are compared on the same images by a paired
bootstrap of the difference of their mean AUCs (images resampled, the same draw for
every seed of both groups), so a lead is called only when it holds across seeds *and*
images.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core import metrics
from core.evaluation import compare, leads

RESAMPLES = 1000


@dataclass
class Experiment:
    """The runs of one experiment among the selected ones.

    Attributes:
        name: the experiment name its runs share.
        records: its runs (one per seed).
    """

    name: str
    records: list[compare.RunRecord]

    @property
    def model(self) -> str:
        """The model's display name."""
        first = self.records[0]
        return first.metrics.get("model_display") or first.run.model

    def values(self, key: str, test_set: str | None) -> list[float]:
        """The metric of every seed scored on ``test_set`` (None: their own test set)."""
        found = []
        for record in self.records:
            value = (record.metrics_on(test_set) or {}).get(key)
            if isinstance(value, int | float):
                found.append(float(value))
        return found


def group(records: Sequence[compare.RunRecord]) -> list[Experiment]:
    """The experiments with two seeds or more among ``records``, in order of appearance."""
    found: dict[str, list[compare.RunRecord]] = {}
    for record in records:
        name = record.run.config.get("experiment")
        if name:
            found.setdefault(name, []).append(record)
    return [Experiment(name, runs) for name, runs in found.items() if len(runs) >= 2]


def _mean_sd(values: list[float]) -> str:
    if len(values) < 2:
        return "—"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def summary_table(experiments: Sequence[Experiment], test_set: str | None) -> pd.DataFrame:
    """One row per experiment: seeds, AUC and accuracy as mean ± standard deviation."""
    rows = []
    for experiment in experiments:
        learned = sum(
            compare.verdict_on(r, test_set) in ("usable", "weak") for r in experiment.records
        )
        rows.append(
            {
                "Experiment": experiment.name,
                "Model": experiment.model,
                "Seeds": len(experiment.records),
                "AUC (mean ± sd)": _mean_sd(experiment.values("auc", test_set)),
                "Accuracy (mean ± sd)": _mean_sd(experiment.values("accuracy", test_set)),
                "Each seed's AUC": ", ".join(
                    f"{v:.3f}" for v in experiment.values("auc", test_set)
                ),
                "Learned": f"{learned} of {len(experiment.records)} seeds",
            }
        )
    return pd.DataFrame(rows)


def _aligned(experiment: Experiment, test_set: str | None, files: tuple[str, ...]):
    """(labels, P(Real) of every seed in ``files`` order), or None when not on those files."""
    columns, labels = [], None
    for record in experiment.records:
        scores = leads.scores_on(record, test_set)
        if scores is None or set(scores.files) != set(files):
            return None
        order = {name: i for i, name in enumerate(scores.files)}
        index = np.array([order[name] for name in files])
        labels = scores.labels[index]
        columns.append(scores.p_real[index])
    return labels, np.stack(columns)


def _mean_auc(labels: np.ndarray, p_real: np.ndarray) -> float | None:
    aucs = [metrics.roc_auc(1 - labels, 1.0 - row) for row in p_real]
    return None if any(a is None for a in aucs) else float(np.mean(aucs))


def compare_pair(
    a: Experiment, b: Experiment, test_set: str | None
) -> tuple[float, tuple[float, float]] | None:
    """Mean AUC of ``a`` minus ``b`` and its paired-bootstrap 95% interval, on the same images.

    Returns:
        None when the two were not all scored on the same images with stored scores.
    """
    first = leads.scores_on(a.records[0], test_set)
    if first is None:
        return None
    files = tuple(first.files)
    left, right = _aligned(a, test_set, files), _aligned(b, test_set, files)
    if left is None or right is None:
        return None
    labels = left[0]
    difference = _mean_auc(labels, left[1]) - _mean_auc(labels, right[1])
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(RESAMPLES):
        pick = rng.integers(0, labels.size, labels.size)
        mean_a = _mean_auc(labels[pick], left[1][:, pick])
        mean_b = _mean_auc(labels[pick], right[1][:, pick])
        if mean_a is not None and mean_b is not None:
            draws.append(mean_a - mean_b)
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(difference), (float(low), float(high))


def verdicts(experiments: Sequence[Experiment], test_set: str | None) -> list[str]:
    """One sentence per pair of experiments: which leads on mean AUC, or that they are tied."""
    lines = []
    for i, a in enumerate(experiments):
        for b in experiments[i + 1 :]:
            found = compare_pair(a, b, test_set)
            if found is None:
                lines.append(
                    f"{a.name} vs {b.name}: not scored on the same images; re-score both "
                    "on a common test set to compare them."
                )
                continue
            difference, (low, high) = found
            interval = f"mean AUC difference {difference:+.3f}, 95% CI {low:+.3f} to {high:+.3f}"
            if low > 0 or high < 0:
                leader = a.name if difference > 0 else b.name
                lines.append(f"{leader} leads beyond seed and image noise ({interval}).")
            else:
                lines.append(f"{a.name} and {b.name} are tied within noise ({interval}).")
    return lines
