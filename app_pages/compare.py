"""Compare: finished runs side by side, scored fairly on the same test images.

The table names the test set of every row and warns when rows were scored on
different images; one button re-scores the selected runs on a common test set
(stored in the run folders, so reruns read it back). A second control scores them
on another dataset's Test split (cross-dataset check), a tab measures robustness to
degraded images, and the selected runs can be combined into an ensemble. Scoring
runs as background jobs (ui.compare_jobs): the page never imports TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core import settings
from core.evaluation import compare, ensemble, export, figures, leads
from core.jobs import training_queue
from core.runs import run_folders
from core.text import file_size, plural
from ui import (
    common,
    compare_charts,
    compare_experiments,
    compare_jobs,
    compare_report,
    compare_scoring,
    compare_table,
    compare_view,
)
from ui import compare_columns as columns_ui
from ui.model_card_view import show_model_card

DEFAULT_SHOWN = 8  # newest runs selected by default; charts stay readable
OWN = "own"  # "each run's own test set" in the test-set selector
SCORED_ON = "compare_scored_on"
PENDING_SET = compare_jobs.PENDING_SET
DELETE_KEYS = ("compare_delete_runs", "compare_delete_confirm")
LAST_RESULTS = compare_jobs.LAST_RESULTS

st.title("⚖️ Compare models")
st.write(
    "Every finished run side by side. Runs trained with different subset sizes or seeds "
    "were tested on different images: re-score them on one common test set for a fair "
    "verdict, and on another dataset to see how they generalize."
)

common.folder_problem_banner()  # the sidebar's folder, if unusable
comparison = compare.load_comparison()

if comparison.problems:
    with st.expander(f"⚠️ {len(comparison.problems)} problem(s) found in run folders"):
        st.caption("These files could not be read; the runs concerned are shown where possible.")
        for problem in comparison.problems:
            st.warning(problem)

busy = [run for run in comparison.unfinished if run.state in training_queue.ACTIVE_STATES]
if busy:
    st.caption(f"{plural(len(busy), 'run')} queued or training; they appear here once finished.")

if not comparison.records:
    st.info("No finished training runs yet. Train a model first; finished runs appear here.")
    st.page_link("app_pages/train.py", label="Go to the Train page", icon="🏋️")
    st.stop()

# --- Which runs -------------------------------------------------------------------------
names = [record.name for record in comparison.records]
# A default alongside a value set through session state makes Streamlit warn: pass one.
runs_default = {} if "compare_runs" in st.session_state else {"default": names[:DEFAULT_SHOWN]}
selected_names = st.multiselect(
    "Runs to compare",
    names,
    **runs_default,
    key="compare_runs",
    help="Newest first. The table, the charts, re-scoring and exports use these runs.",
)
if len(names) > DEFAULT_SHOWN:
    st.caption(f"{len(selected_names)} of {len(names)} finished runs selected.")
if not selected_names:
    st.info("Select at least one run to compare.")
    st.stop()
selected = [comparison.record(name) for name in selected_names]

# --- Which test set the table and the charts show --------------------------------------
available = compare.available_test_sets(selected)
if PENDING_SET in st.session_state:  # set by a re-score button before its rerun
    pending = st.session_state.pop(PENDING_SET)
    if pending in available:
        st.session_state[SCORED_ON] = pending
if st.session_state.get(SCORED_ON) not in [OWN, *available]:
    st.session_state.pop(SCORED_ON, None)
if SCORED_ON not in st.session_state:
    # A new visitor sees the newest common set that scores every selected run, if any.
    complete = [
        tid
        for tid, info in available.items()
        if info["purpose"] == "common" and set(selected_names) <= set(info["runs"])
    ]
    st.session_state[SCORED_ON] = complete[0] if complete else OWN


@st.cache_data(show_spinner="Testing which leads hold on the same images...", max_entries=32)
def _highlights(_records, table: pd.DataFrame, test_id: str | None, prefix: str):
    # The table (every run's name and scores on every set) stands for the records.
    return leads.highlights(_records, table, test_id, prefix)


def describe(test_id: str) -> str:
    """A test set named by its data: dataset, split, images, purpose (and its id)."""
    if test_id == OWN:
        own = {record.test_set.label for record in selected if record.test_set}
        return compare.PURPOSES["own"] + (f" ({own.pop()})" if len(own) == 1 else "")
    info = available[test_id]
    return f"{compare.PURPOSES[info['purpose']]}: {compare.set_label(info)} · {test_id}"


columns = st.columns([3, 2])
scored_on = columns[0].selectbox(
    "Scored on",
    [OWN, *available],
    format_func=describe,
    key=SCORED_ON,
    help="The test set of the table's metrics and of the charts. Re-scoring below adds "
    "common and cross-dataset test sets here.",
)
test_id = None if scored_on == OWN else scored_on
info = available.get(test_id) if test_id else None

# --- The table --------------------------------------------------------------------------
table = compare.comparison_table(
    selected,
    common=test_id if info and info["purpose"] == "common" else None,
    cross=[tid for tid, other in available.items() if other["purpose"] == "cross"],
)
compact = compare_view.compact_columns(table, test_id)
more = [column for column in table.columns if column not in compact]
if "compare_columns" in st.session_state:  # columns of another test set may have gone
    st.session_state["compare_columns"] = [
        column for column in st.session_state["compare_columns"] if column in more
    ]
extra = columns[1].multiselect(
    "More columns",
    more,
    format_func=columns_ui.title,
    key="compare_columns",
    placeholder="Add: dataset, sizes, AP, F1...",
    help="The table starts with the headline metrics on the chosen test set; add any other "
    "fact or metric here. The CSV export always holds every column.",
)
shown = table[[*compact, *(column for column in table.columns if column in extra)]]
method, combined = compare_charts.ensemble_choice(selected, test_id if info else None)
if combined is not None:
    prefix = compare_view.group_prefix(table, test_id)
    shown = ensemble.table_row(shown, combined.name, combined.result, prefix)

st.subheader("Results")
prefix = compare_view.group_prefix(table, test_id)
lit = _highlights(selected, table, test_id, prefix)
st.markdown(f"Scored on **{describe(scored_on)}**.")
if not lit.cells:
    st.info(compare_view.lead_caption(lit))
compare_table.draw(shown, lit, prefix.rstrip(compare.GROUP_SEPARATOR) or None, describe(scored_on))
st.caption(
    (compare_view.lead_caption(lit) + " " if lit.cells else "")
    + "Verdict: did the run beat chance on these images (its AUC's 95% interval above 0.5). "
    "Fake is the positive class for precision, recall, F1, AP and EER. Click a header to sort."
)

if test_id is None:
    own_sets = compare.distinct_test_sets(table)
    if len(own_sets) > 1:
        st.warning(
            f"These runs were scored on {len(own_sets)} different test sets "
            f"({', '.join(own_sets)}), so their own test metrics are not directly comparable. "
            "Re-score them on a common test set below."
        )
else:
    missing = [r.name for r in selected if test_id not in r.rescores]
    if missing:
        st.info(
            f"Not scored on {test_id} yet: {plural(len(missing), 'selected run')} "
            f"({', '.join(missing)}); re-score them below."
        )
    else:
        st.caption(f"Every row is scored on the same {info['size']} images (test set {test_id}).")
with st.expander("Test sets named in the table"):
    st.dataframe(compare_view.test_sets_frame(selected, available), hide_index=True)
compare_experiments.section(selected, test_id)
show_model_card({record.name: record.run.path for record in selected}, "compare_card_run")

# --- Re-scoring and the cross-dataset check (background jobs) ------------------------
compare_jobs.show_last_results()
compare_jobs.panel()
compare_scoring.rescore_controls(comparison, selected)
compare_scoring.cross_controls(selected)

# --- Charts -----------------------------------------------------------------------------
st.subheader("Charts")
st.caption(f"Scored on {describe(scored_on)} (choose the test set above the table).")
scored = [(r.name, r.metrics_on(test_id)) for r in selected]
scored = [(name, m) for name, m in scored if m]
if test_id and len(scored) < len(selected):
    st.caption(f"Not scored on this set: {plural(len(selected) - len(scored), 'selected run')}.")
colours = figures.run_colours(selected_names)
if combined is not None:
    scored.append((combined.name, combined.result["metrics"]))
    colours[combined.name] = compare_charts.ENSEMBLE_COLOUR
compare_charts.chart_tabs(selected, scored, colours, test_id, method)

# --- Exports ----------------------------------------------------------------------------
st.subheader("Export")
columns = st.columns(4)
columns[0].download_button(
    "Table (CSV)",
    compare_view.table_csv(table),
    file_name="comparison.csv",
    mime="text/csv",
    key="compare_csv",
    on_click="ignore",  # no rerun: one could drop the file before the browser has it
)
columns[1].download_button(
    "Full record (JSON)",
    lambda: export.full_record_json(selected),
    file_name="comparison.json",
    mime="application/json",
    key="compare_json",
    on_click="ignore",
    help="Config, metrics, history, test files and re-scores of every selected run.",
)
with columns[2]:
    model_run = st.selectbox("Model of run", selected_names, key="compare_model_run")
    model_path = comparison.record(model_run).run.path / "model.keras"
    size = model_path.stat().st_size if model_path.is_file() else 0
    # Read only when clicked (the button spins meanwhile), never on a page render.
    st.download_button(
        f"Download model.keras ({file_size(size)})" if size else "Download model.keras",
        lambda: model_path.read_bytes(),
        file_name=f"{model_run}.keras",
        mime="application/octet-stream",
        key="compare_model_download",
        on_click="ignore",
        disabled=not size,
        help="Large models take a few seconds to prepare (the button spins), then your "
        "browser shows the download's progress.",
    )


with columns[3]:
    compare_report.report_buttons(selected, test_id, combined)


# --- Delete -----------------------------------------------------------------------------
def delete_runs(folders: dict[str, Path], doomed: list[str]) -> None:
    """Button callback: delete the runs before the page draws again, selectors included.

    Running before the script (not after the selector was drawn) is what makes the
    deleted runs vanish from "Runs to compare" while the rest of the selection stays.
    """
    for name in doomed:
        run_folders.delete_run(folders[name], common.access())
    kept = [name for name in st.session_state.get("compare_runs", []) if name not in doomed]
    st.session_state["compare_runs"] = kept
    if st.session_state.get("compare_model_run") in doomed:
        st.session_state.pop("compare_model_run")
    for key in DELETE_KEYS:
        st.session_state.pop(key, None)
    deleted = f"Deleted {plural(len(doomed), 'run')}."
    st.session_state[LAST_RESULTS] = {"errors": [], "summary": deleted}


if not common.access().delete_allowed():
    st.caption(settings.DELETE_OFF_MESSAGE)
else:
    with st.expander("Delete runs"):
        folders = {record.name: record.run.path for record in comparison.records}
        folders |= {
            run.name: run.path
            for run in comparison.unfinished
            if run.state not in training_queue.ACTIVE_STATES  # the trainer still writes there
        }
        doomed = st.multiselect("Runs to delete", list(folders), key=DELETE_KEYS[0])
        sure = st.checkbox(
            f"Yes, delete {len(doomed)} run folder(s) and their models for good",
            key=DELETE_KEYS[1],
            disabled=not doomed,
        )
        st.button(
            "Delete",
            key="compare_delete",
            disabled=not (doomed and sure),
            on_click=delete_runs,
            args=(folders, doomed),
        )
