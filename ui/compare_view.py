"""What the Compare page shows of the comparison table: a compact default, chosen extras.

``core.evaluation.compare.comparison_table`` returns every fact and metric of every run (30-45
columns, named by keys such as ``auc`` or ``common/auc``). A person first needs to
tell the runs apart and read the headline metrics on one test set, so the page
starts from :func:`compact_columns` and lets the user add any other column; titles
come from :mod:`ui.compare_columns` only when the table is drawn or exported. Pure
pandas, no streamlit: tested directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from core.evaluation import compare
from ui import compare_columns

#: Metrics of the compact table, in order (metrics.json keys).
COMPACT_METRICS = ("accuracy", "auc", "auc_ci", "eer", "loss")
#: Column keys holding counts: written as integers in the CSV export (not 20.0).
COUNT_COLUMNS = ("train_n", "val_n", "test_n", "image_size", "epochs_run", "params")
MISSING = "—"
BEST_CSS = "background-color: rgba(46, 160, 67, 0.30); font-weight: 600"


def group_prefix(table: pd.DataFrame, test_id: str | None) -> str:
    """The key prefix of a re-scored group in ``table`` ("" for each run's own test set).

    Found by the group's test-set column, whose cells read ``<id> (<size>)``, so it
    does not depend on how core names the group.
    """
    if test_id is None:
        return ""
    suffix = compare.GROUP_SEPARATOR + compare.TEST_SET_COLUMN
    for column in table.columns:
        if column.endswith(suffix) and table[column].astype(str).str.startswith(test_id).any():
            return column[: -len(compare.TEST_SET_COLUMN)]
    return ""


def compact_columns(table: pd.DataFrame, test_id: str | None = None) -> list[str]:
    """Run, model, training size and epochs, test set, the headline metrics and training time.

    Training size and epochs tell apart two runs of one model (not only their timestamps).

    Args:
        table: the full comparison table.
        test_id: a re-scored test set whose group to show, or None for each run's own.

    Returns:
        Column keys present in ``table``, in display order.
    """
    prefix = group_prefix(table, test_id)
    wanted = [
        "run",
        "model",
        "train_n",
        "epochs_run",
        prefix + compare.TEST_SET_COLUMN,
        *(prefix + key for key in COMPACT_METRICS),
        "train_seconds",
    ]
    return [column for column in wanted if column in table.columns]


def _is_count(column: str) -> bool:
    return compare.split_key(column)[1] in COUNT_COLUMNS


def with_integer_counts(table: pd.DataFrame) -> pd.DataFrame:
    """A copy whose count columns are nullable integers (20, not 20.0; missing stays empty)."""
    table = table.copy()
    for column in table.columns:
        if not _is_count(column):
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        if all(math.isnan(v) or float(v).is_integer() for v in values):
            table[column] = values.round().astype("Int64")
    return table


def table_csv(table: pd.DataFrame) -> str:
    """The keyed table as CSV text with people's titles, counts written as integers."""
    return compare_columns.titled(with_integer_counts(table)).to_csv(index=False)


def styled(table: pd.DataFrame) -> pd.io.formats.style.Styler:
    """The keyed table as drawn: titles, number formats, the best value of each column green.

    Missing values read "—" (see :func:`with_gaps_as_text`); lower-is-better columns
    (loss, EER, time) are highlighted at their minimum.
    """
    best = compare_columns.best_cells(table)
    formats = compare_columns.formats(table)
    shown = with_gaps_as_text(compare_columns.titled(table), formats)

    def colours(frame: pd.DataFrame) -> pd.DataFrame:
        css = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for column, rows in best.items():
            for row in rows:
                css.iloc[row, frame.columns.get_loc(column)] = BEST_CSS
        return css

    numeric = {c: f for c, f in formats.items() if pd.api.types.is_numeric_dtype(shown[c])}
    return shown.style.apply(colours, axis=None).format(numeric)


def reference_run(records: Sequence[compare.RunRecord]) -> str | None:
    """The run whose test files make the best common test set: the largest, then the newest.

    Args:
        records: the candidate runs, newest first (as ``load_comparison`` lists them).

    Returns:
        The chosen run's name, or None when there is none.
    """
    best, best_size = None, -1
    for record in records:  # newest first, so a strictly larger set is needed to win
        size = len(record.test_set.files) if record.test_set else 0
        if size > best_size:
            best, best_size = record.name, size
    return best


def with_gaps_as_text(table: pd.DataFrame, formats: dict[str, str]) -> pd.DataFrame:
    """A copy where numeric columns with missing values hold formatted text, "—" for a gap.

    st.dataframe draws a missing number as "None" whatever the Styler says; columns
    without gaps stay numeric, so they keep sorting as numbers.

    Args:
        table: the table to show.
        formats: column -> format string (``"{:.3f}"``) for the columns converted.
    """
    table = table.copy()
    for column in table.columns:
        values = table[column]
        if pd.api.types.is_numeric_dtype(values) and values.isna().any():
            fmt = formats.get(column, "{}")
            table[column] = [MISSING if pd.isna(v) else fmt.format(v) for v in values]
    return table
