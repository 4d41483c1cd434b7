"""Compare finished runs fairly: one table, common test sets, cross-dataset scores, exports.

Each run was scored at the end of training on its own test subset, and two runs
trained with different sizes or seeds see different test images. Every table row
therefore names its test set by a short id (a hash of the sorted relative files and
their contents, see :mod:`core.testsets`: the same images give the same id wherever
the dataset sits) and its size, so rows scored on different images are visible.

To make rows comparable, :func:`rescore` scores the saved models of selected runs
on one common :class:`TestSet` (the exact file list of a chosen run, or a seeded
stratified sample of a dataset's Test split), without retraining. Scoring on the
Test split of *another* dataset is the cross-dataset check. Each result is stored
atomically in the run folder as ``rescores/<test-set id>.json`` (file list, root,
P(Real) per image, metrics) and reused instead of recomputed.

TensorFlow is imported only inside :func:`rescore`, so listing and tabulating
runs stays fast.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core import data, metrics, settings, testsets
from core.models.registry import DISPLAY_NAMES
from core.runs import Run, RunError, list_runs, read_json, write_json

RESCORES_DIR = "rescores"
PURPOSES = ("common", "cross")

#: metrics.json key -> (column title, "max" or "min": which value is best).
METRICS: dict[str, tuple[str, str]] = {
    "loss": ("Loss", "min"),
    "accuracy": ("Accuracy", "max"),
    "balanced_accuracy": ("Balanced acc.", "max"),
    "auc": ("AUC", "max"),
    "ap": ("AP", "max"),
    "eer": ("EER", "min"),
    "precision": ("Precision", "max"),
    "recall": ("Recall", "max"),
    "f1": ("F1", "max"),
    "inference_ms_per_image": ("ms/image", "min"),
}
#: Run facts that have a best value too.
RUN_BEST = {"Train time (s)": "min", "Images/s": "max"}
#: Metrics drawn in the bar chart of headline metrics.
HEADLINE = ("accuracy", "balanced_accuracy", "auc", "ap", "f1")
TEST_SET_COLUMN = "Test set"


class CompareError(ValueError):
    """A comparison request that cannot be carried out, with a message for the user."""


def test_set_id(root: str | Path, files: Iterable[str]) -> str:
    """Return a 10-character id of a test set from its relative files, their sizes and
    contents (see :func:`core.testsets.test_set_id`); ``root`` only says where to read them.
    """
    return testsets.test_set_id(root, files)


def dataset_name(root: str | Path) -> str:
    """Short name of a dataset root: the folder above ``Dataset/`` when it is so named."""
    path = Path(root)
    return path.parent.name if path.name.lower() == "dataset" and path.parent.name else path.name


def label_of(relative_path: str) -> int:
    """Label of a file from its class folder (``.../Real/x.jpg`` -> 1).

    Raises:
        CompareError: the file does not lie in a Real or Fake folder.
    """
    parts = Path(relative_path).parts
    folder = parts[-2].lower() if len(parts) >= 2 else ""
    if folder not in data.CLASS_ALIASES:
        raise CompareError(f"{relative_path} is not inside a Real or Fake folder.")
    return data.CLASS_ALIASES[folder]


@dataclass(frozen=True)
class TestSet:
    """A fixed list of test images.

    Attributes:
        root: the dataset root the paths are relative to.
        files: relative paths, sorted.
        description: how the list was chosen, for people.
        stored_id: the id recorded when the run was scored (no need to read the files).
    """

    __test__ = False  # not a pytest test class despite its name

    root: str
    files: tuple[str, ...]
    description: str = ""
    stored_id: str | None = field(default=None, compare=False)

    @classmethod
    def of(cls, root: str | Path, files: Iterable[str], description: str = "") -> TestSet:
        """Build a test set from any iterable of relative paths (sorted, duplicates dropped)."""
        return cls(str(root), tuple(sorted(set(files))), description)

    @property
    def id(self) -> str:
        """Short hash of the relative files and their contents (see :func:`test_set_id`)."""
        return self.stored_id or test_set_id(self.root, self.files)

    @property
    def name(self) -> str:
        """Short name of the dataset the files come from."""
        return dataset_name(self.root)

    @property
    def label(self) -> str:
        """``<id> (<n>)``: how tables name this set."""
        return f"{self.id} ({len(self.files)})"

    def samples(self) -> list[data.Sample]:
        """The files as samples, labelled by their class folder."""
        return [data.Sample(path, label_of(path)) for path in self.files]


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
        run: the run as listed by :mod:`core.runs`.
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
    root = testsets.resolve_root(recorded, sorted(files), given=given, is_demo=is_demo)
    if root is None:
        return None
    stored = metrics_.get("test_set_id")
    test_set = TestSet.of(root, files, f"test subset of {run.name}")
    return replace(test_set, stored_id=stored) if isinstance(stored, str) else test_set


def _read_rescores(path: Path, problems: list[str]) -> dict[str, dict[str, Any]]:
    folder = path / RESCORES_DIR
    if not folder.is_dir():
        return {}
    found = {}
    for file in sorted(folder.glob("*.json")):
        try:
            record = read_json(file)
        except RunError as error:
            problems.append(f"{path.name}: {RESCORES_DIR}/{error}")
            continue
        if not (
            isinstance(record, dict)
            and record.get("test_set_id") == file.stem
            and isinstance(record.get("metrics"), dict)
        ):
            problems.append(f"{path.name}: {RESCORES_DIR}/{file.name} is not a re-score record.")
            continue
        found[file.stem] = record
    return found


def load_record(run: Run) -> RunRecord:
    """Read everything the comparison needs from a run folder; problems are recorded."""
    record = RunRecord(run=run, problems=[f"{run.name}: {error}" for error in run.errors])
    for attribute, file in (("history", "history.json"), ("subsets", "subsets.json")):
        try:
            setattr(record, attribute, read_json(run.path / file))
        except RunError as error:
            record.problems.append(f"{run.name}: {error}")
    record.rescores = _read_rescores(run.path, record.problems)
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


def _metric_columns(values: dict[str, Any] | None, prefix: str = "") -> dict[str, float]:
    values = values or {}
    return {prefix + title: _number(values.get(key)) for key, (title, _) in METRICS.items()}


def group_prefix(purpose: str, name: str) -> str:
    """Column prefix of a group of re-scored metrics: ``common · `` or ``cross: <name> · ``."""
    return "common · " if purpose == "common" else f"cross: {name} · "


def comparison_table(
    records: Sequence[RunRecord],
    common: str | None = None,
    cross: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per run: facts of the run, its own test metrics, then re-scored groups.

    Args:
        records: the runs to show.
        common: id of a common test set; adds a ``common · <metric>`` column group.
        cross: ids of cross-dataset test sets; each adds a ``cross: <dataset> · ...`` group.

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
            groups.append((test_id, group_prefix(purpose, name), info))
    rows = []
    for record in records:
        m, config = record.metrics, record.run.config
        dataset = (
            "demo"
            if m.get("is_demo", config.get("is_demo"))
            else (m.get("dataset") or config.get("dataset") or "")
        )
        row: dict[str, Any] = {
            "Run": record.name,
            "Model": m.get("model_display")
            or DISPLAY_NAMES.get(record.run.model, record.run.model),
            "Dataset": str(dataset),
            "Train n": _subset_size(record, "train", "train_size"),
            "Val n": _subset_size(record, "validation", "val_size"),
            "Test n": _number(m.get("n")),
            "Image size": _number(config.get("image_size") or m.get("image_size")),
            "Epochs run": _number(m.get("epochs_run")),
            "ImageNet weights": _weights_column(record),
            "Params": _number(m.get("params")),
            "Train time (s)": _number(m.get("train_seconds")),
            "Images/s": _number(m.get("images_per_second")),
            TEST_SET_COLUMN: record.test_set.label if record.test_set else "unknown",
        }
        row.update(_metric_columns(m))
        for test_id, prefix, info in groups:
            stored = record.rescores.get(test_id)
            row[prefix + TEST_SET_COLUMN] = f"{test_id} ({info['size']})"
            row.update(_metric_columns(stored["metrics"] if stored else None, prefix))
        rows.append(row)
    columns = list(rows[0]) if rows else ["Run", "Model", TEST_SET_COLUMN]
    return pd.DataFrame(rows, columns=columns)


def best_directions(table: pd.DataFrame) -> dict[str, str]:
    """Column -> ``"max"`` or ``"min"``: which value is best, for every metric column."""
    directions = dict(RUN_BEST)
    for column in table.columns:
        title = column.rsplit(" · ", 1)[-1]
        for metric_title, direction in METRICS.values():
            if title == metric_title:
                directions[column] = direction
    return {column: way for column, way in directions.items() if column in table.columns}


def best_rows(table: pd.DataFrame) -> dict[str, list[int]]:
    """Column -> positions of the rows holding the best value (ties all count)."""
    best = {}
    for column, direction in best_directions(table).items():
        values = pd.to_numeric(table[column], errors="coerce")
        if values.notna().sum() < 1:
            continue
        target = values.max() if direction == "max" else values.min()
        best[column] = [i for i, value in enumerate(values) if np.isclose(value, target)]
    return best


def distinct_test_sets(table: pd.DataFrame) -> list[str]:
    """The different own test sets of the rows; more than one means rows are not comparable."""
    if TEST_SET_COLUMN not in table.columns:
        return []
    return sorted(set(table[TEST_SET_COLUMN]))


def available_test_sets(records: Iterable[RunRecord]) -> dict[str, dict[str, Any]]:
    """Every re-scored test set found in the runs, newest first.

    Returns:
        id -> {"id", "name", "description", "root", "size", "purpose", "runs", "created"}.
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
                    "purpose": stored.get("purpose", "common"),
                    "runs": [],
                    "created": 0.0,
                },
            )
            info["runs"].append(record.name)
            info["created"] = max(info["created"], float(stored.get("created", 0.0)))
    return dict(sorted(found.items(), key=lambda item: item[1]["created"], reverse=True))


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


def dataset_test_set(path: str | Path, size: int | None = None, seed: int = 0) -> TestSet:
    """A seeded stratified sample of the Test split of a dataset folder.

    Args:
        path: the dataset folder (``Dataset/`` or the folder holding it).
        size: number of images (None: the whole Test split).
        seed: the same seed always gives the same files.

    Raises:
        CompareError, data.DatasetError: a folder this server may not open (see
            :func:`core.settings.folder_refusal`), no such folder, no Test split, or
            too few images.
    """
    refusal = settings.folder_refusal(path)
    if refusal:
        raise CompareError(refusal)
    index = data.index_dataset(path)
    samples = index.splits.get("Test")
    if not samples:
        raise CompareError(
            f"{index.root} has no Test split with images; choose a folder holding Test/Real "
            "and Test/Fake."
        )
    chosen = data.stratified_subset(samples, size, seed)
    name = dataset_name(index.root)
    if size is None or len(chosen) == len(samples):
        description = f"all {len(chosen)} Test images of {name}"
    else:
        description = f"{len(chosen)} Test images of {name}, stratified sample, seed {seed}"
    return TestSet.of(index.root, [sample.path for sample in chosen], description)


def rescore_path(run_dir: Path, test_id: str) -> Path:
    """Where the re-score of a run on a test set is stored."""
    return run_dir / RESCORES_DIR / f"{test_id}.json"


@dataclass
class RescoreResult:
    """The outcome of re-scoring one run.

    Attributes:
        run: run folder name.
        record: the stored re-score (None when it failed).
        reused: True when an earlier stored result was returned without scoring.
        error: one sentence saying why the run could not be scored, else None.
    """

    run: str
    record: dict[str, Any] | None = None
    reused: bool = False
    error: str | None = None


def _stored(path: Path, test_set: TestSet) -> dict[str, Any] | None:
    try:
        record = read_json(path)
    except RunError:
        return None  # corrupt: score again and overwrite it
    # Same id (relative files and contents) and same request: where the dataset sits
    # now does not matter, so a moved dataset keeps its stored re-scores.
    requested = record.get("requested_files")
    if record.get("test_set_id") != test_set.id or requested != list(test_set.files):
        return None
    return record if isinstance(record.get("metrics"), dict) else None


def rescore(
    records: Sequence[RunRecord],
    test_set: TestSet,
    purpose: str = "common",
    *,
    batch_size: int = 32,
    force: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[RescoreResult]:
    """Score the saved models of ``records`` on one test set, without retraining.

    Images are decoded once per image size and shared by all runs of that size.
    Each result is written atomically to ``rescores/<test-set id>.json`` in the
    run folder and reused by later calls unless ``force``.

    Args:
        records: the runs to score.
        test_set: the images to score them on.
        purpose: ``"common"`` (a fair common set) or ``"cross"`` (another dataset).
        batch_size: images per forward pass.
        force: score again even when a stored result exists.
        progress: called with (done, total, run name) after each run.

    Returns:
        One result per run, in order; a run that cannot be scored carries its error.

    Raises:
        CompareError: the test set is empty or none of its images can be read.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"Unknown purpose {purpose!r}; use one of {PURPOSES}.")
    if not test_set.files:
        raise CompareError("The chosen test set holds no images.")
    samples = test_set.samples()
    root = Path(test_set.root)
    loaded_by_size: dict[int, data.LoadedImages] = {}
    results = []
    for done, record in enumerate(records, start=1):
        path = rescore_path(record.run.path, test_set.id)
        stored = None if force else _stored(path, test_set)
        if stored is not None:
            results.append(RescoreResult(record.name, stored, reused=True))
        else:
            try:
                stored = _score_one(
                    record, test_set, purpose, samples, root, loaded_by_size, batch_size
                )
                write_json(path, stored)
                results.append(RescoreResult(record.name, stored))
            except RunError as error:
                results.append(RescoreResult(record.name, error=str(error)))
        if stored is not None:
            record.rescores[test_set.id] = stored
        if progress is not None:
            progress(done, len(records), record.name)
    return results


def _score_one(
    record: RunRecord,
    test_set: TestSet,
    purpose: str,
    samples: list[data.Sample],
    root: Path,
    loaded_by_size: dict[int, data.LoadedImages],
    batch_size: int,
) -> dict[str, Any]:
    from core import predict  # imports TensorFlow: only when scoring

    model = predict.load_model(record.run.path)
    # The saved model's input is authoritative; the config says the same for sane runs.
    size = predict.model_image_size(model)
    if size not in loaded_by_size:
        loaded_by_size[size] = data.load_images(root, samples, size)
    loaded = loaded_by_size[size]
    if not loaded.paths:
        raise CompareError(
            f"None of the {len(samples)} images of the test set could be read in {root}."
        )
    start = time.perf_counter()
    p_real = predict.predict_p_real(model, loaded.pixels, batch_size=batch_size)
    seconds = time.perf_counter() - start
    report = metrics.detection_report(loaded.labels, p_real)
    report["inference_ms_per_image"] = 1000.0 * seconds / len(loaded.paths)
    return {
        "test_set_id": test_set.id,
        "purpose": purpose,
        "description": test_set.description,
        "root": test_set.root,
        "requested_files": list(test_set.files),
        "files": list(loaded.paths),
        "skipped": [list(item) for item in loaded.skipped],
        "labels": loaded.labels.tolist(),
        "p_real": np.round(p_real, 6).tolist(),
        "image_size": size,
        "run": record.name,
        "model": record.run.model,
        "created": time.time(),
        "metrics": report,
    }


def table_csv(table: pd.DataFrame) -> str:
    """The comparison table as CSV text."""
    return table.to_csv(index=False)


def full_record(records: Sequence[RunRecord]) -> dict[str, Any]:
    """Everything known about the runs: config, metrics, history, test files, re-scores."""
    return {
        "exported": datetime.now().isoformat(timespec="seconds"),
        "runs": [
            {
                "name": record.name,
                "state": record.run.state,
                "config": record.run.config,
                "status": record.run.status,
                "metrics": record.metrics,
                "history": record.history,
                "test_set": (
                    {
                        "id": record.test_set.id,
                        "root": record.test_set.root,
                        "files": list(record.test_set.files),
                    }
                    if record.test_set
                    else None
                ),
                "rescores": record.rescores,
                "problems": record.problems,
            }
            for record in records
        ],
    }


def full_record_json(records: Sequence[RunRecord]) -> str:
    """:func:`full_record` as JSON text."""
    return json.dumps(full_record(records), indent=2, allow_nan=False, default=str)


def headline_long(records: Sequence[RunRecord], test_set: str | None = None) -> pd.DataFrame:
    """Headline metrics in long form (run, metric, value) for a grouped bar chart.

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
                rows.append({"Run": record.name, "Metric": METRICS[key][0], "Value": value})
    return pd.DataFrame(rows, columns=["Run", "Metric", "Value"])


__all__ = [
    "METRICS",
    "CompareError",
    "Comparison",
    "RescoreResult",
    "RunRecord",
    "TestSet",
    "available_test_sets",
    "best_directions",
    "best_rows",
    "comparison_table",
    "dataset_test_set",
    "distinct_test_sets",
    "full_record",
    "full_record_json",
    "headline_long",
    "load_comparison",
    "load_record",
    "rescore",
    "run_test_set",
    "table_csv",
]
