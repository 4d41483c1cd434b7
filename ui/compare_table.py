"""The Compare page's results table as drawn: short titles, each column explained on hover.

At 1400 px the headline metrics, AUC and its interval included, must be readable without
scrolling sideways. Titles are short: a re-scored test set is named once above the
table, not in every title (:func:`ui.compare_columns.title`), and on each run's own test
set the long test-set names come in the last column (:func:`ui.compare_view.compact_columns`).
What a short title leaves out (which images, what the number means) is in its help,
shown when the pointer rests on the column's title.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.evaluation import compare, leads
from ui import compare_columns, compare_view

#: Column field -> what it holds, for the help on its title.
HELP = {
    "run": "The run folder: model and start time.",
    "model": "The detector the run trained.",
    "train_n": "Training images the run used.",
    "epochs_run": "Epochs trained (early stopping may end a run before its planned epochs).",
    compare.TEST_SET_COLUMN: "The images the row was scored on: dataset, split, count and "
    "the set's id (all listed under *Test sets named in the table*).",
    compare.VERDICT_COLUMN: "Did the run beat chance on these images: its AUC's 95% "
    "interval lies above 0.5.",
    "accuracy": "Share of images called correctly at the run's threshold.",
    "auc": "Area under the ROC curve: 0.5 is chance, 1 ranks every Fake above every Real.",
    "auc_ci": "95% bootstrap interval of the AUC: where the AUC on other images like "
    "these would likely fall.",
    "eer": "Equal error rate: where missed fakes and false alarms are equally frequent "
    "(lower is better).",
    "loss": "Binary cross-entropy on these images (lower is better).",
    "train_seconds": "Training time in seconds (wall clock).",
}
#: Shorter titles on the page than in the CSV export, where width does not matter.
LABELS = {"epochs_run": "Epochs"}


def column_config(
    table: pd.DataFrame, shown_group: str | None, scored_on: str
) -> dict[str, st.column_config.Column]:
    """Title -> column config: its label, its help (with the images it was scored on).

    Args:
        table: the keyed table drawn.
        shown_group: the column group the table is about (None: each run's own set).
        scored_on: the test set the table is about, as named above it.
    """
    named = compare_columns.titles(table, shown_group)
    config = {}
    for key, title in named.items():
        group, field_name = compare.split_key(key)
        text = HELP.get(field_name, "")
        if group is not None and group != shown_group:  # an added column of another set
            text = f"**{compare_columns.title(key)}**. {text}"
        elif field_name in compare.METRICS or field_name == compare.VERDICT_COLUMN:
            text = f"{text} Scored on {scored_on}."
        short = LABELS.get(field_name) if title == compare_columns.title(key, shown_group) else None
        config[title] = st.column_config.Column(
            short or title, help=text.strip() or None, pinned=True if key == "run" else None
        )
    return config


def draw(
    shown: pd.DataFrame, lit: leads.Highlights, shown_group: str | None, scored_on: str
) -> None:
    """The results table: highlighted leads, short titles, the run pinned on the left."""
    st.dataframe(
        compare_view.styled(shown, lit, shown_group),
        hide_index=True,
        key="compare_table",
        column_config=column_config(shown, shown_group, scored_on),
    )
