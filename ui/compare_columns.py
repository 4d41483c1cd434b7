"""Column titles of the Compare page: what people read for the comparison tables' keys.

:func:`core.evaluation.compare.comparison_table` names its columns by stable keys (``auc``,
``train_seconds``, ``common/auc``, ``cross:<dataset>/auc``); this module turns them
into titles (``AUC``, ``Train time (s)``, ``common · AUC``, ``cross: <dataset> ·
AUC``) and gives the page the number formats by title.
"""

from __future__ import annotations

import pandas as pd

from core.evaluation import compare

#: Column key -> title.
TITLES = {
    "run": "Run",
    "model": "Model",
    "dataset": "Dataset",
    "train_n": "Train n",
    "val_n": "Val n",
    "test_n": "Test n",
    "image_size": "Image size",
    "epochs_run": "Epochs run",
    "pretrained_weights": "ImageNet weights",
    "params": "Params",
    "train_seconds": "Train time (s)",
    "images_per_second": "Images/s",
    compare.TEST_SET_COLUMN: "Test set",
    compare.VERDICT_COLUMN: "Verdict",
    "loss": "Loss",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced acc.",
    "auc": "AUC",
    "auc_ci": "AUC 95% CI",
    "ap": "AP",
    "eer": "EER",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "inference_ms_per_image": "ms/image",
}
#: Number formats by column key (metrics not listed: three decimals).
FORMATS = {
    "params": "{:,.0f}",
    "train_seconds": "{:.1f}",
    "images_per_second": "{:.1f}",
    "train_n": "{:.0f}",
    "val_n": "{:.0f}",
    "test_n": "{:.0f}",
    "image_size": "{:.0f}",
    "epochs_run": "{:.0f}",
    "inference_ms_per_image": "{:.2f}",
}
METRIC_FORMAT = "{:.3f}"


def group_prefix(group: str | None) -> str:
    """Title prefix of a column group: ``common · `` or ``cross: <dataset> · ``."""
    if group is None:
        return ""
    if group.startswith("cross:"):
        return f"cross: {group.removeprefix('cross:')} · "
    return f"{group} · "


def title(key: str, shown_group: str | None = None) -> str:
    """The title of a column key (``cross:x/auc`` -> ``cross: x · AUC``).

    Args:
        key: the column key.
        shown_group: the group the table is about (said once above it): its columns
            get the short title (``AUC``), so the headline columns fit the page.
    """
    group, field_name = compare.split_key(key)
    prefix = "" if group is not None and group == shown_group else group_prefix(group)
    return prefix + TITLES.get(field_name, field_name)


def titles(table: pd.DataFrame, shown_group: str | None = None) -> dict[str, str]:
    """Column key -> title; a short title that would repeat another keeps its prefix."""
    found = {key: title(key, shown_group) for key in table.columns}
    counts: dict[str, int] = {}
    for value in found.values():
        counts[value] = counts.get(value, 0) + 1
    return {key: value if counts[value] == 1 else title(key) for key, value in found.items()}


def titled(table: pd.DataFrame, shown_group: str | None = None) -> pd.DataFrame:
    """The comparison table with titles for column names."""
    return table.rename(columns=titles(table, shown_group))


def formats(table: pd.DataFrame, shown_group: str | None = None) -> dict[str, str]:
    """Title -> number format, for every numeric column of the keyed table."""
    named = titles(table, shown_group)
    found = {}
    for key in [*table.columns]:
        _, field_name = compare.split_key(key)
        if field_name in FORMATS:
            found[named[key]] = FORMATS[field_name]
        elif field_name in compare.METRICS:
            found[named[key]] = METRIC_FORMAT
    return found


def headline_long(records: list[compare.RunRecord], test_id: str | None) -> pd.DataFrame:
    """:func:`core.evaluation.compare.headline_long` with titles: columns Run, Metric, Value."""
    long = compare.headline_long(records, test_id)
    long["metric"] = long["metric"].map(lambda key: TITLES.get(key, key))
    return long.rename(columns={"run": "Run", "metric": "Metric", "value": "Value"})
