"""The tables of a comparison report: metrics, datasets, runs and kept clip verdicts.

Plain pandas frames from run records; :mod:`core.evaluation.report` lays them out as
HTML and Markdown. Every test set is named by its data (dataset, split, images), then
its id.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from core.data import catalog, testsets
from core.evaluation import compare
from core.runs import clip_records

TABLE_METRICS = ("accuracy", "balanced_accuracy", "auc", "ap", "eer", "f1", "loss")
CONFIG_KEYS = (
    "model",
    "image_size",
    "epochs",
    "batch_size",
    "learning_rate",
    "seed",
    "augment",
    "class_weight",
    "precision",
)


def datasets(
    records: Sequence[compare.RunRecord], test_id: str | None = None
) -> dict[str, dict[str, dict[str, int]] | str]:
    """Split and class counts of every dataset the report speaks of: trained on and scored on."""
    roots = [record.test_set.root for record in records if record.test_set]
    if test_id is not None:
        roots += [r.rescores[test_id].get("root") for r in records if test_id in r.rescores]
    found: dict[str, dict[str, dict[str, int]] | str] = {}
    for root in roots:
        if not root or root in found:
            continue
        try:
            found[root] = catalog.index_dataset(root).counts()
        except catalog.DatasetError as error:
            found[root] = str(error)
    return found


def runs_table(records: Sequence[compare.RunRecord]) -> pd.DataFrame:
    """Each run's configuration and the exact sizes of its subsets."""
    rows = []
    for record in records:
        config, subsets = record.run.config, record.subsets
        row = {"run": record.name}
        row |= {key: config.get(key) for key in CONFIG_KEYS if key in config}
        row["options"] = ", ".join(f"{k}={v}" for k, v in (config.get("options") or {}).items())
        for split in ("train", "validation", "test"):
            row[f"{split} files"] = len(subsets.get(split) or [])
        row["skipped"] = len(subsets.get("skipped") or [])
        rows.append(row)
    return pd.DataFrame(rows)


def set_name(record: compare.RunRecord, test_id: str | None) -> str:
    """The set a row was scored on, named by its data (then its id)."""
    if test_id is None:
        return record.test_set.label if record.test_set else "not scored"
    stored = record.rescores.get(test_id)
    if not stored:
        return "not scored"
    return f"{testsets.set_name(stored.get('root', ''), stored.get('files') or [])} · {test_id}"


CLIP_COLUMNS = ("clip", "label", "p_real", "threshold", "frames_sampled", "frames_with_face")
CLIPS_TITLE = "Video clips judged (verdicts kept on request)"


def clips_table(records: Sequence[compare.RunRecord]) -> pd.DataFrame:
    """The clip verdicts people kept with these runs (Classify, ``core.predict --report``)."""
    rows = [
        {"run": record.name} | {key: kept.get(key) for key in (*CLIP_COLUMNS, "rule", "created")}
        for record in records
        for kept in clip_records.read(record.run.path)
    ]
    return pd.DataFrame(rows)


def metrics_table(
    records: Sequence[compare.RunRecord],
    test_id: str | None,
    combined: dict | None,
    name: str | None,
) -> pd.DataFrame:
    """The metrics of every run (and the ensemble) on one test set, with verdicts and intervals."""
    rows = []
    for record in records:
        values = record.metrics_on(test_id) or {}
        rows.append(
            {"run": record.name, "model": record.run.model, "test set": set_name(record, test_id)}
            | {"verdict": compare.verdict_on(record, test_id) if values else ""}
            | {key: values.get(key) for key in TABLE_METRICS}
            | {"AUC 95% CI": compare.auc_interval_text(values)}
        )
    if combined is not None:
        rows.append(
            {"run": name, "model": "ensemble", "test set": set_name(records[0], test_id)}
            | {key: combined["metrics"].get(key) for key in TABLE_METRICS}
            | {"AUC 95% CI": compare.auc_interval_text(combined["metrics"])}
        )
    return pd.DataFrame(rows)


def scored_label(records: Sequence[compare.RunRecord], test_id: str | None) -> str:
    """What the report's metrics are on, in words: purpose, dataset, split, images."""
    if test_id is None:
        own = {record.test_set.label for record in records if record.test_set}
        return compare.PURPOSES["own"] + (f" ({own.pop()})" if len(own) == 1 else "")
    info = compare.available_test_sets(records).get(test_id)
    if info is None:
        return f"test set {test_id}"
    return f"{compare.PURPOSES[info['purpose']]}: {compare.set_label(info)} · {test_id}"
