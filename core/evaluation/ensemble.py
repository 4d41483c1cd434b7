"""Ensembles of detectors: combine the scores of several runs on the same images.

Two rules, both cheap and free of training:

- ``logit`` (default): the mean of the members' logits, ``log(p / (1 - p))``, turned
  back into a probability. A confident member weighs more than a hesitant one.
- ``probability``: the mean of the members' P(Real).

An ensemble is only defined over runs scored on *identical* files in the same order
(a stored re-score on one test set): averaging scores of different images would be
meaningless, so :func:`combine_records` refuses it with a message saying why. The
result is scored with :func:`core.metrics.detection_report`, the same metrics and
threshold rule as a single run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from core import metrics

METHODS = ("logit", "probability")
#: Stored probabilities are rounded to 6 decimals; keep logits finite.
_EPS = 1e-6


class EnsembleError(ValueError):
    """An ensemble that cannot be formed, with a message for the user."""


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise EnsembleError(f"Unknown ensemble rule {method!r}; choose one of: logit, probability.")


def combine(p_real: Sequence[Sequence[float]] | np.ndarray, method: str = "logit") -> np.ndarray:
    """Combine members' P(Real) into the ensemble's P(Real).

    Args:
        p_real: one row per member, one column per image (or a 1-D list, one value
            per member, for a single image).
        method: ``"logit"`` (mean logit) or ``"probability"`` (mean probability).

    Returns:
        The ensemble's P(Real) per image (a 0-d array for a single image).

    Raises:
        EnsembleError: an unknown rule or no member.
    """
    _check_method(method)
    scores = np.asarray(p_real, dtype=np.float64)
    if scores.size == 0:
        raise EnsembleError("An ensemble needs at least one member.")
    if method == "probability":
        return scores.mean(axis=0)
    clipped = np.clip(scores, _EPS, 1.0 - _EPS)
    mean_logit = np.log(clipped / (1.0 - clipped)).mean(axis=0)
    return 1.0 / (1.0 + np.exp(-mean_logit))


def combine_records(
    records: Sequence[dict[str, Any]], method: str = "logit", threshold: float = 0.5
) -> dict[str, Any]:
    """Score the ensemble of stored re-score records of several runs on one test set.

    Args:
        records: re-score records (``files``, ``labels``, ``p_real``, ``run``), one per
            member, all on the same test set.
        method: ``"logit"`` or ``"probability"``.
        threshold: an image is called Real when the ensemble's P(Real) >= threshold.

    Returns:
        A record shaped like a re-score: ``members``, ``method``, ``files``,
        ``labels``, ``p_real`` and ``metrics`` (the same report as a single run).

    Raises:
        EnsembleError: fewer than two members, or members scored on different files
            (the message names the first mismatch).
    """
    _check_method(method)
    if len(records) < 2:
        raise EnsembleError("Choose at least two runs for an ensemble.")
    first = records[0]
    for other in records[1:]:
        if list(other.get("files", [])) != list(first.get("files", [])):
            raise EnsembleError(
                f"{other.get('run', 'a run')} and {first.get('run', 'another run')} were not "
                "scored on identical files; re-score them on one common test set first."
            )
    p_real = combine([record["p_real"] for record in records], method)
    labels = np.asarray(first["labels"], dtype=np.int64)
    return {
        "members": [record.get("run", "") for record in records],
        "method": method,
        "test_set_id": first.get("test_set_id"),
        "files": list(first["files"]),
        "labels": labels.tolist(),
        "p_real": np.round(p_real, 6).tolist(),
        "metrics": metrics.detection_report(labels, p_real, threshold),
    }


def ensemble_name(members: Sequence[str], method: str = "logit") -> str:
    """How tables and charts name an ensemble: ``Ensemble (mean logit) of 3 runs``."""
    rule = "mean logit" if method == "logit" else "mean probability"
    return f"Ensemble ({rule}) of {len(members)} runs"


def for_test_set(records: Sequence[Any], test_id: str | None, method: str = "logit") -> dict:
    """The ensemble of runs (:class:`core.evaluation.compare.RunRecord`) on one re-scored test set.

    Raises:
        EnsembleError: no common test set chosen, fewer than two runs, a run not
            scored on it, or runs scored on different files; the message says what to do.
    """
    if len(records) < 2:
        raise EnsembleError("Choose at least two runs for an ensemble.")
    if test_id is None:
        raise EnsembleError(
            "An ensemble needs its runs scored on identical files: choose a common test set "
            "under Scored on (re-score the runs on one first)."
        )
    missing = [record.name for record in records if test_id not in record.rescores]
    if missing:
        raise EnsembleError(
            f"{', '.join(missing)} not scored on test set {test_id} yet: re-score them there "
            "for an ensemble."
        )
    members = [dict(record.rescores[test_id], run=record.name) for record in records]
    return combine_records(members, method)


def table_row(table: pd.DataFrame, name: str, result: dict[str, Any], prefix: str) -> pd.DataFrame:
    """``table`` with one more row for an ensemble scored on the test set of ``prefix``.

    Args:
        table: a :func:`core.evaluation.compare.comparison_table`.
        name: the ensemble's name (:func:`ensemble_name`).
        result: :func:`combine_records`'s result.
        prefix: the column group of its test set (``common/``, ``cross:<name>/``).
    """
    from core.evaluation import compare

    row: dict[str, Any] = {"run": name, "model": "Ensemble", "test_n": len(result["files"])}
    test_column = prefix + compare.TEST_SET_COLUMN
    if test_column in table.columns and len(table):
        row[test_column] = table[test_column].iloc[0]
    for key in compare.METRICS:
        value = result["metrics"].get(key)
        row[prefix + key] = float("nan") if value is None else float(value)
    extra = pd.DataFrame([row]).reindex(columns=table.columns)
    return pd.concat([table, extra], ignore_index=True)


__all__ = [
    "METHODS",
    "EnsembleError",
    "combine",
    "combine_records",
    "ensemble_name",
    "for_test_set",
    "table_row",
]
