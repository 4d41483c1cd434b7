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

from core.evaluation import compare, leads
from ui import compare_columns

#: Metrics of the compact table, in order (metrics.json keys).
COMPACT_METRICS = ("accuracy", "auc", "auc_ci", "eer", "loss")
#: Column keys holding counts: written as integers in the CSV export (not 20.0).
COUNT_COLUMNS = ("train_n", "val_n", "test_n", "image_size", "epochs_run", "params")
MISSING = "—"
BEST_CSS = "background-color: rgba(46, 160, 67, 0.30); font-weight: 600"
#: Tied within noise with the top value: marked, but no winner.
TIED_CSS = "background-color: rgba(128, 128, 128, 0.18)"
#: The verdict of a run that did not beat chance on the images shown.
CHANCE_CSS = "color: #b42318; font-weight: 600"
CHANCE_VERDICTS = ("did not learn", "chance")


def group_prefix(table: pd.DataFrame, test_id: str | None) -> str:
    """The key prefix of a re-scored group in ``table`` ("" for each run's own test set).

    Found by the group's test-set column, whose cells end with the set's id, so it
    does not depend on how core names the group.
    """
    if test_id is None:
        return ""
    suffix = compare.GROUP_SEPARATOR + compare.TEST_SET_COLUMN
    for column in table.columns:
        if column.endswith(suffix) and table[column].astype(str).str.endswith(test_id).any():
            return column[: -len(compare.TEST_SET_COLUMN)]
    return ""


def compact_columns(table: pd.DataFrame, test_id: str | None = None) -> list[str]:
    """Run, model, training size and epochs, verdict, headline metrics and training time.

    Training size and epochs tell apart two runs of one model (not only their timestamps).
    On each run's own test set the test-set column comes last: its names are long, and
    the headline metrics (AUC and its interval) must fit a 1400 px page without scrolling.

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
        prefix + compare.VERDICT_COLUMN,
        *(prefix + key for key in COMPACT_METRICS),
        "train_seconds",
        # A re-scored set is named once above the table: its column would repeat it.
        *([] if prefix else [compare.TEST_SET_COLUMN]),
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


def styled(
    table: pd.DataFrame, lit: leads.Highlights | None = None, shown_group: str | None = None
) -> pd.io.formats.style.Styler:
    """The keyed table as drawn: titles, number formats, leads green, ties grey.

    Args:
        table: the keyed table (columns to show).
        lit: what :func:`core.evaluation.leads.highlights` found (None: nothing lit).
        shown_group: the column group the table is about, whose titles are shortened.
    """
    named = compare_columns.titles(table, shown_group)
    formats = compare_columns.formats(table, shown_group)
    shown = with_gaps_as_text(table.rename(columns=named), formats)
    cells = lit.cells if lit else {}

    def colours(frame: pd.DataFrame) -> pd.DataFrame:
        css = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for key, found in cells.items():
            if key not in named:
                continue
            for row in found.rows:
                css.iloc[row, frame.columns.get_loc(named[key])] = (
                    TIED_CSS if found.tied else BEST_CSS
                )
        for key, title in named.items():
            if compare.split_key(key)[1] == compare.VERDICT_COLUMN:
                chance = frame[title].isin(CHANCE_VERDICTS)
                css.loc[chance, title] = CHANCE_CSS
        return css

    numeric = {c: f for c, f in formats.items() if pd.api.types.is_numeric_dtype(shown[c])}
    return shown.style.apply(colours, axis=None).format(numeric)


def lead_caption(lit: leads.Highlights) -> str:
    """One sentence under the table: what green and grey mean, and which tests decided."""
    if not lit.cells:
        return lit.note or "Nothing is highlighted: no run leads on these images."
    tests = sorted({found.test for found in lit.cells.values()})
    text = (
        "Green: the best value, ahead of every other run beyond noise on the same images; "
        "grey: tied with the best within noise. Decided by " + " and ".join(tests) + " at 5%."
    )
    return f"{text} {lit.note}".strip()


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


def test_sets_frame(
    selected: Sequence[compare.RunRecord], available: dict[str, dict]
) -> pd.DataFrame:
    """Every test set the table speaks of: its name, who used it, where, and why."""
    rows = [
        {
            "Test set": record.test_set.label if record.test_set else "unknown",
            "Used by": record.name,
            "Root": record.test_set.root if record.test_set else "",
            "What": compare.PURPOSES["own"],
        }
        for record in selected
    ]
    rows += [
        {
            "Test set": f"{compare.set_label(other)} · {test_id}",
            "Used by": ", ".join(other["runs"]),
            "Root": other["root"],
            "What": f"{compare.PURPOSES[other['purpose']]}: {other['description']}",
        }
        for test_id, other in available.items()
    ]
    return pd.DataFrame(rows)
