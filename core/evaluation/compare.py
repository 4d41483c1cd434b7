"""Compare finished runs fairly: one table, common test sets, cross-dataset scores, exports.

Each run was scored at the end of training on its own test subset, and two runs
trained with different sizes or seeds see different test images. Every table row
therefore names its test set by a short id (a hash of the sorted relative files and
their contents, see :mod:`core.data.testsets`: the same images give the same id wherever
the dataset sits) and its size, so rows scored on different images are visible.

To make rows comparable, :func:`core.evaluation.scoring.rescore` scores the saved models of
selected runs on one common :class:`~core.data.testsets.TestSet` without retraining, and
:mod:`core.runs.run_folders` stores each result as ``rescores/<test-set id>.json``. This module
only reads those stored results and assembles tables from them; it never imports
TensorFlow. Column titles and display prefixes belong to the page
(``ui/compare_columns.py``); here columns have stable keys.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from core.data import testsets
from core.data.testsets import (
    CompareError,
    TestSet,
    dataset_name,
)
from core.models.registry import display_name
from core.runs import learning
from core.runs.run_folders import Run, RunError, list_runs, read_json, read_rescores

#: metrics.json key -> which value is best ("max" or "min"); also the metric columns, in order.
METRICS: dict[str, str] = {
    "loss": "min",
    "accuracy": "max",
    "balanced_accuracy": "max",
    "auc": "max",
    "ap": "max",
    "eer": "min",
    "precision": "max",
    "recall": "max",
    "f1": "max",
    "inference_ms_per_image": "min",
}
#: Metrics drawn in the bar chart of headline metrics.
HEADLINE = ("accuracy", "balanced_accuracy", "auc", "ap", "f1")
TEST_SET_COLUMN = "test_set"
#: Did the run beat chance on the images of its group (:mod:`core.runs.learning`).
VERDICT_COLUMN = "learned"
#: A re-scored set's verdict in the table: chance is not "did not learn" on other data.
SET_VERDICTS = {"chance": "chance", "weak": "weak", "usable": "usable", "unknown": "unknown"}
#: Separates a column group (``common``, ``cross:<dataset>``) from the field in a column key.
GROUP_SEPARATOR = "/"


def _skipped_paths(subsets: dict[str, Any]) -> set[str]:
    """Skipped files of a subsets record, stored as paths or [path, reason] pairs."""
    skipped = set()
    for item in subsets.get("skipped") or []:
        skipped.add(item[0] if isinstance(item, list | tuple) else item)
    return skipped


@dataclass
class RunRecord:
    """A finished run with everything the comparison reads from its folder.

    Attributes:
        run: the run as listed by :mod:`core.runs.run_folders`.
        history: per-epoch metrics (empty when unreadable).
        subsets: the file lists of the run (empty when unreadable).
        rescores: test-set id -> stored re-score record.
        test_set: the files the run was scored on at the end of training, if known.
        problems: plain-language problems found in the folder.
    """

    run: Run
    history: dict[str, list[float]] = field(default_factory=dict)
    subsets: dict[str, Any] = field(default_factory=dict)
    rescores: dict[str, dict[str, Any]] = field(default_factory=dict)
    test_set: TestSet | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Run folder name."""
        return self.run.name

    @property
    def metrics(self) -> dict[str, Any]:
        """Test metrics written at the end of training."""
        return self.run.metrics or {}

    @property
    def image_size(self) -> int:
        """Input side of the model."""
        return int(self.run.config.get("image_size") or self.metrics.get("image_size"))

    def learning(self) -> learning.Learning:
        """What the run learned, judged on its own test images."""
        return learning.of_record(self.metrics, self.history, self.run.config)

    def metrics_on(self, test_set: str | None = None) -> dict[str, Any] | None:
        """Metrics on the run's own test set (None) or on a re-scored test set id."""
        if test_set is None:
            return self.metrics
        stored = self.rescores.get(test_set)
        return stored["metrics"] if stored else None


def _own_test_set(run: Run, subsets: dict[str, Any]) -> TestSet | None:
    metrics_ = run.metrics or {}
    recorded = subsets.get("root") or metrics_.get("dataset") or run.config.get("dataset")
    files = metrics_.get("test_files")
    if not isinstance(files, list):
        files = subsets.get("test")
        if files is None:
            return None
        skipped = _skipped_paths(subsets)
        files = [path for path in files if path not in skipped]
    given = subsets.get("data_dir", run.config.get("data_dir"))
    is_demo = bool(subsets.get("is_demo", metrics_.get("is_demo", run.config.get("is_demo"))))
    # The dataset may have moved since (or the artifacts folder, with the demo set in it).
    stored = metrics_.get("test_set_id")
    root = testsets.resolve_root(
        recorded,
        sorted(files),
        given=given,
        is_demo=is_demo,
        expected_id=stored if isinstance(stored, str) else None,
    )
    if root is None:
        return None
    test_set = TestSet.of(root, files, f"test subset of {run.name}")
    return replace(test_set, stored_id=stored) if isinstance(stored, str) else test_set


def load_record(run: Run) -> RunRecord:
    """Read everything the comparison needs from a run folder; problems are recorded."""
    record = RunRecord(run=run, problems=[f"{run.name}: {error}" for error in run.errors])
    for attribute, file in (("history", "history.json"), ("subsets", "subsets.json")):
        try:
            setattr(record, attribute, read_json(run.path / file))
        except RunError as error:
            record.problems.append(f"{run.name}: {error}")
    record.rescores = read_rescores(run.path, record.problems)
    record.test_set = _own_test_set(run, record.subsets)
    return record


@dataclass
class Comparison:
    """What the comparison page shows.

    Attributes:
        records: finished runs, newest first.
        unfinished: runs still queued or running, cancelled, failed or broken.
        problems: plain-language problems found in run folders (never raised).
    """

    records: list[RunRecord]
    unfinished: list[Run]
    problems: list[str]

    def record(self, name: str) -> RunRecord:
        """The finished run of that folder name."""
        for record in self.records:
            if record.name == name:
                return record
        raise KeyError(name)


def load_comparison(root: Path | None = None) -> Comparison:
    """List the run folders under ``root`` (default: the artifacts' runs folder).

    Only complete runs (status finished *and* metrics.json readable) are compared;
    a corrupt file anywhere is reported in ``problems``, never raised.
    """
    records, unfinished, problems = [], [], []
    for run in list_runs(root):
        if run.finished:
            record = load_record(run)
            records.append(record)
            problems.extend(record.problems)
        else:
            unfinished.append(run)
            problems.extend(f"{run.name}: {error}" for error in run.errors)
    return Comparison(records, unfinished, problems)


def _number(value: Any) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    )


def _weights_column(record: RunRecord) -> str:
    weights = record.run.config.get("weights")
    if not isinstance(weights, dict) or "imagenet" not in weights:
        return "n/a"
    return "yes" if weights["imagenet"] else "no"


def _subset_size(record: RunRecord, split: str, config_key: str) -> float:
    files = record.subsets.get(split)
    if isinstance(files, list):
        return float(len(files))
    return _number(record.run.config.get(config_key))


def auc_interval_text(values: dict[str, Any] | None) -> str | None:
    """A report's 95 % bootstrap AUC interval as ``[0.40, 0.77]`` (None when not computed).

    :func:`core.metrics.detection_report` adds it on sets under 500 images, where an
    AUC alone reads like more of a verdict than it is.
    """
    interval = (values or {}).get("auc_ci")
    if not isinstance(interval, list | tuple) or len(interval) != 2:
        return None
    return f"[{float(interval[0]):.2f}, {float(interval[1]):.2f}]"


def _metric_columns(values: dict[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for key in METRICS:
        columns[prefix + key] = _number((values or {}).get(key))
        if key == "auc":  # text beside the number, so sorting and best cells stay numeric
            columns[prefix + "auc_ci"] = auc_interval_text(values)
    return columns


def group_key(purpose: str, name: str) -> str:
    """Column-key prefix of a group of re-scored metrics: ``common/`` or ``cross:<name>/``."""
    group = "common" if purpose == "common" else f"cross:{name}"
    return group + GROUP_SEPARATOR


def split_key(column: str) -> tuple[str | None, str]:
    """``"cross:x/auc"`` -> ``("cross:x", "auc")``; ``"auc"`` -> ``(None, "auc")``."""
    group, separator, field_name = column.rpartition(GROUP_SEPARATOR)
    return (group if separator else None), field_name


def _facts(record: RunRecord) -> dict[str, Any]:
    """A row's facts of the run, its verdict and its own test metrics."""
    m, config = record.metrics, record.run.config
    dataset = (
        "demo"
        if m.get("is_demo", config.get("is_demo"))
        else (m.get("dataset") or config.get("dataset") or "")
    )
    row: dict[str, Any] = {
        "run": record.name,
        "model": m.get("model_display") or display_name(record.run.model),
        "dataset": str(dataset),
        "train_n": _subset_size(record, "train", "train_size"),
        "val_n": _subset_size(record, "validation", "val_size"),
        "test_n": _number(m.get("n")),
        "image_size": _number(config.get("image_size") or m.get("image_size")),
        "epochs_run": _number(m.get("epochs_run")),
        "pretrained_weights": _weights_column(record),
        "params": _number(m.get("params")),
        "train_seconds": _number(m.get("train_seconds")),
        "images_per_second": _number(m.get("images_per_second")),
        TEST_SET_COLUMN: record.test_set.label if record.test_set else "unknown",
        VERDICT_COLUMN: record.learning().label,
    }
    return row | _metric_columns(m)


def comparison_table(
    records: Sequence[RunRecord],
    common: str | None = None,
    cross: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per run: facts of the run, its own test metrics, then re-scored groups.

    Columns have stable keys (``run``, ``model``, ``auc``...); the page gives them
    titles (``ui/compare_columns.py``).

    Args:
        records: the runs to show.
        common: id of a common test set; adds a ``common/<metric>`` column group.
        cross: ids of cross-dataset test sets; each adds a ``cross:<dataset>/...`` group.

    Returns:
        The table; missing values are NaN (a run not re-scored on a set yet).
    """
    groups = []
    known = available_test_sets(records)
    names = [known[test_id]["name"] for test_id in cross if test_id in known]
    for purpose, test_ids in (("common", [common] if common else []), ("cross", cross)):
        for test_id in test_ids:
            info = known.get(test_id, {"name": test_id, "size": 0})
            name = info["name"]
            if purpose == "cross" and names.count(name) > 1:
                name = f"{name} {test_id[:6]}"
            groups.append((test_id, group_key(purpose, name), info))
    rows = []
    for record in records:
        row = _facts(record)
        for test_id, prefix, info in groups:
            stored = record.rescores.get(test_id)
            row[prefix + TEST_SET_COLUMN] = f"{set_label(info)} · {test_id}"
            row[prefix + VERDICT_COLUMN] = verdict_on(record, test_id)
            row.update(_metric_columns(stored["metrics"] if stored else None, prefix))
        rows.append(row)
    columns = list(rows[0]) if rows else ["run", "model", TEST_SET_COLUMN]
    return pd.DataFrame(rows, columns=columns)


def verdict_on(record: RunRecord, test_set: str | None) -> str:
    """``did not learn``/``weak``/``usable`` on the own test set; chance/weak/usable on others."""
    if test_set is None:
        return record.learning().label
    values = record.metrics_on(test_set)
    return SET_VERDICTS[learning.assess(values).verdict] if values else ""


def distinct_test_sets(table: pd.DataFrame) -> list[str]:
    """The different own test sets of the rows; more than one means rows are not comparable."""
    if TEST_SET_COLUMN not in table.columns:
        return []
    return sorted(set(table[TEST_SET_COLUMN]))


def available_test_sets(records: Iterable[RunRecord]) -> dict[str, dict[str, Any]]:
    """Every re-scored test set found in the runs, newest first.

    Returns:
        id -> {"id", "name", "description", "root", "size", "split", "purpose", "runs",
        "created"}.
    """
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        for test_id, stored in record.rescores.items():
            info = found.setdefault(
                test_id,
                {
                    "id": test_id,
                    "name": dataset_name(stored.get("root", "")),
                    "description": stored.get("description", ""),
                    "root": stored.get("root", ""),
                    "size": len(stored.get("files", [])),
                    "split": testsets.split_of(stored.get("files") or []),
                    "purpose": stored.get("purpose", "common"),
                    "runs": [],
                    "created": 0.0,
                },
            )
            info["runs"].append(record.name)
            info["created"] = max(info["created"], float(stored.get("created", 0.0)))
    return dict(sorted(found.items(), key=lambda item: item[1]["created"], reverse=True))


def set_label(info: dict[str, Any]) -> str:
    """``openforensics-sample Test, 41 images``: a re-scored set of :func:`available_test_sets`."""
    split = f" {info['split']}" if info.get("split") else ""
    return f"{info['name']}{split}, {info['size']} images"


PURPOSES = {"own": "each run's own test set", "common": "common test set", "cross": "cross-dataset"}


def run_test_set(record: RunRecord) -> TestSet:
    """The exact test files a run was scored on, as a test set others can be scored on.

    Raises:
        CompareError: the run folder does not record its test files.
    """
    if record.test_set is None or not record.test_set.files:
        raise CompareError(
            f"{record.name} does not record its test files (subsets.json missing); "
            "choose another run or a dataset sample."
        )
    return TestSet(record.test_set.root, record.test_set.files, f"test files of {record.name}")


def table_csv(table: pd.DataFrame) -> str:
    """The comparison table as CSV text."""
    return table.to_csv(index=False)


def headline_long(records: Sequence[RunRecord], test_set: str | None = None) -> pd.DataFrame:
    """Headline metrics in long form (run, metric key, value) for a grouped bar chart.

    Args:
        records: the runs.
        test_set: None for each run's own test set, else a re-scored test-set id.
    """
    rows = []
    for record in records:
        values = record.metrics_on(test_set)
        if not values:
            continue
        for key in HEADLINE:
            value = _number(values.get(key))
            if not math.isnan(value):
                rows.append({"run": record.name, "metric": key, "value": value})
    return pd.DataFrame(rows, columns=["run", "metric", "value"])


__all__ = [
    "METRICS",
    "Comparison",
    "RunRecord",
    "available_test_sets",
    "comparison_table",
    "distinct_test_sets",
    "group_key",
    "headline_long",
    "load_comparison",
    "load_record",
    "run_test_set",
    "set_label",
    "split_key",
    "table_csv",
    "verdict_on",
]
