"""Compare: finished runs side by side, scored fairly on the same test images.

The table names the test set of every row and warns when rows were scored on
different images; one button re-scores the selected runs on a common test set
(stored in the run folders, so reruns read it back). A second control scores them
on another dataset's Test split (cross-dataset check). TensorFlow is imported only
when a re-score actually runs, inside core.scoring.rescore.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core import compare, data, jobs, runs, scoring, settings
from ui import common
from ui import compare_columns as columns_ui

DEFAULT_SHOWN = 8  # newest runs selected by default; charts stay readable
OWN = "own"  # "scored on each run's own test set" in the curves selector
PENDING_COMMON = "compare_pending_common"
PENDING_CROSS = "compare_pending_cross"
LAST_RESULTS = "compare_last_results"

st.title("⚖️ Compare models")
st.write(
    "Every finished run side by side. Runs trained with different subset sizes or seeds "
    "were tested on different images: re-score them on one common test set for a fair "
    "verdict, and on another dataset to see how they generalize."
)

comparison = compare.load_comparison()

if comparison.problems:
    with st.expander(f"⚠️ {len(comparison.problems)} problem(s) found in run folders"):
        st.caption("These files could not be read; the runs concerned are shown where possible.")
        for problem in comparison.problems:
            st.warning(problem)

busy = [run for run in comparison.unfinished if run.state in jobs.ACTIVE_STATES]
if busy:
    st.caption(f"{len(busy)} run(s) queued or training; they appear here once finished.")

if not comparison.records:
    st.info("No finished training runs yet. Train a model first; finished runs appear here.")
    st.page_link("pages/train.py", label="Go to the Train page", icon="🏋️")
    st.stop()

# --- Which runs -------------------------------------------------------------------------
names = [record.name for record in comparison.records]
selected_names = st.multiselect(
    "Runs to compare",
    names,
    default=names[:DEFAULT_SHOWN],
    key="compare_runs",
    help="Newest first. The table, the charts, re-scoring and exports use these runs.",
)
if len(names) > DEFAULT_SHOWN:
    st.caption(f"{len(selected_names)} of {len(names)} finished runs selected.")
if not selected_names:
    st.info("Select at least one run to compare.")
    st.stop()
selected = [comparison.record(name) for name in selected_names]

# --- Which stored test sets to show -----------------------------------------------------
available = compare.available_test_sets(selected)
common_ids = [tid for tid, info in available.items() if info["purpose"] == "common"]
cross_ids = [tid for tid, info in available.items() if info["purpose"] == "cross"]

if PENDING_COMMON in st.session_state:  # set by the re-score button before its rerun
    pending = st.session_state.pop(PENDING_COMMON)
    if pending in common_ids:
        st.session_state["compare_common_set"] = pending
if PENDING_CROSS in st.session_state:
    pending = st.session_state.pop(PENDING_CROSS)
    shown = [tid for tid in st.session_state.get("compare_cross_sets", []) if tid in cross_ids]
    if pending in cross_ids and pending not in shown:
        st.session_state["compare_cross_sets"] = [*shown, pending]
if st.session_state.get("compare_common_set") not in [None, *common_ids]:
    del st.session_state["compare_common_set"]
if "compare_cross_sets" in st.session_state:
    st.session_state["compare_cross_sets"] = [
        tid for tid in st.session_state["compare_cross_sets"] if tid in cross_ids
    ]


def describe(test_id: str | None) -> str:
    """Label of a stored test set for selectors."""
    if test_id is None:
        return "none"
    info = available[test_id]
    return f"{test_id} · {info['description'] or info['name']} ({info['size']} images)"


columns = st.columns(2)
# Newest stored common set shown by default (index and session state must not both be set).
common_default = (
    {} if "compare_common_set" in st.session_state else {"index": min(1, len(common_ids))}
)
common_id = columns[0].selectbox(
    "Common test set column group",
    [None, *common_ids],
    format_func=describe,
    **common_default,
    key="compare_common_set",
    help="Metrics of the selected runs re-scored on one common test set (create one below).",
)
# A default alongside a value set through session state makes Streamlit warn: pass one.
cross_default = {} if "compare_cross_sets" in st.session_state else {"default": cross_ids[:2]}
cross_shown = columns[1].multiselect(
    "Cross-dataset column groups",
    cross_ids,
    **cross_default,
    format_func=describe,
    key="compare_cross_sets",
    help="Metrics on another dataset's Test split (create one below).",
)

# --- The table --------------------------------------------------------------------------
keyed_table = compare.comparison_table(selected, common=common_id, cross=cross_shown)
table = columns_ui.titled(keyed_table)


def style(frame: pd.DataFrame):
    """Highlight the best value of each metric column, lower-is-better aware."""
    best = columns_ui.best_cells(keyed_table)

    def colours(_: pd.DataFrame) -> pd.DataFrame:
        css = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for column, rows in best.items():
            for row in rows:
                css.iloc[row, frame.columns.get_loc(column)] = (
                    "background-color: rgba(46, 160, 67, 0.30); font-weight: 600"
                )
        return css

    formats = columns_ui.formats(keyed_table)
    return frame.style.apply(colours, axis=None).format(formats, na_rep="—")


st.subheader("Results")
st.dataframe(style(table), hide_index=True, key="compare_table")
st.caption(
    "Best value of each metric column in green (lowest for loss, EER, time and ms/image). "
    "Fake is the positive class for precision, recall, F1, AP and EER. Click a header to sort."
)

own_sets = compare.distinct_test_sets(keyed_table)
if len(own_sets) > 1:
    st.warning(
        f"These runs were scored on {len(own_sets)} different test sets "
        f"({', '.join(own_sets)}), so their own test metrics are not directly comparable. "
        "Re-score them on a common test set below."
    )
with st.expander("Test sets named in the table"):
    rows = [
        {
            "Test set": record.test_set.label if record.test_set else "unknown",
            "Used by": record.name,
            "Root": record.test_set.root if record.test_set else "",
            "What": "the run's own test subset",
        }
        for record in selected
    ]
    rows += [
        {
            "Test set": f"{tid} ({info['size']})",
            "Used by": ", ".join(info["runs"]),
            "Root": info["root"],
            "What": f"{info['purpose']}: {info['description']}",
        }
        for tid, info in available.items()
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
if common_id:
    missing = [r.name for r in selected if common_id not in r.rescores]
    if missing:
        st.info(
            f"{len(missing)} selected run(s) are not scored on {common_id} yet: "
            "press the re-score button below."
        )

# --- Re-scoring and the cross-dataset check --------------------------------------------
last = st.session_state.pop(LAST_RESULTS, None)
if last:
    for message in last["errors"]:
        st.error(message)
    if last["summary"]:
        st.success(last["summary"])


def run_rescore(test_set: compare.TestSet, purpose: str, pending_key: str) -> None:
    """Score the selected runs, remember what to show, and rerun the page."""
    bar = st.progress(0.0, text=f"Scoring {len(selected)} run(s) on {test_set.label}...")

    def progress(done: int, total: int, name: str) -> None:
        bar.progress(done / total, text=f"Scored {name} ({done}/{total})")

    try:
        results = scoring.rescore(selected, test_set, purpose, progress=progress)
    except compare.CompareError as error:
        bar.empty()
        st.error(str(error))
        return
    reused = sum(result.reused for result in results)
    scored = sum(result.record is not None and not result.reused for result in results)
    st.session_state[LAST_RESULTS] = {
        "errors": [f"{r.run}: {r.error}" for r in results if r.error],
        "summary": f"{test_set.description}: {scored} run(s) scored, {reused} read from earlier "
        f"results (test set {test_set.label}).",
    }
    st.session_state[pending_key] = test_set.id
    st.rerun()


st.subheader("Re-score on a common test set")
st.caption(
    "Scores the saved models of the selected runs on the same images; nothing is retrained. "
    "Results are stored in each run folder (rescores/) and reused."
)
source = st.radio(
    "Common test set",
    ["The exact test files of a run", "A seeded sample of a dataset's Test split"],
    key="compare_common_source",
    horizontal=True,
)
if source.startswith("The exact"):
    reference = st.selectbox("Run whose test files to use", names, key="compare_common_run")
    if st.button("Re-score the selected runs", key="compare_rescore", type="primary"):
        try:
            chosen = compare.run_test_set(comparison.record(reference))
        except compare.CompareError as error:
            st.error(str(error))
        else:
            run_rescore(chosen, "common", PENDING_COMMON)
else:
    columns = st.columns([3, 1, 1])
    folder = columns[0].text_input(
        "Dataset folder",
        value=str(common.current_dataset().path),
        key="compare_common_folder",
        help="Its Test split is sampled: the same size and seed always give the same files.",
    )
    size = columns[1].number_input(
        "Images (0 = all)", min_value=0, value=60, step=10, key="compare_common_size"
    )
    seed = columns[2].number_input("Seed", min_value=0, value=0, key="compare_common_seed")
    if st.button("Re-score the selected runs", key="compare_rescore_sample", type="primary"):
        try:
            chosen = compare.dataset_test_set(folder, int(size) or None, int(seed))
        except (compare.CompareError, data.DatasetError) as error:
            st.error(str(error))
        else:
            run_rescore(chosen, "common", PENDING_COMMON)

st.subheader("Cross-dataset check")
st.caption(
    "Score the selected runs on the Test split of another dataset folder (for example a "
    "sample of the Kaggle dataset) to see whether what they learned carries over."
)
columns = st.columns([3, 1, 1])
cross_folder = columns[0].text_input(
    "Other dataset folder",
    key="compare_cross_folder",
    placeholder="/path/to/other/Dataset",
)
cross_size = columns[1].number_input(
    "Images (0 = all)", min_value=0, value=0, step=10, key="compare_cross_size"
)
cross_seed = columns[2].number_input("Seed", min_value=0, value=0, key="compare_cross_seed")
if st.button("Score on this dataset", key="compare_cross_button"):
    if not cross_folder.strip():
        st.error("Enter the folder of another dataset (holding Test/Real and Test/Fake) first.")
    else:
        try:
            chosen = compare.dataset_test_set(
                cross_folder.strip(), int(cross_size) or None, int(cross_seed)
            )
        except (compare.CompareError, data.DatasetError) as error:
            st.error(str(error))
        else:
            run_rescore(chosen, "cross", PENDING_CROSS)

# --- Charts -----------------------------------------------------------------------------
st.subheader("Charts")
curve_sets = [OWN, *available]
curves_on = st.selectbox(
    "Scored on",
    curve_sets,
    format_func=lambda tid: "each run's own test set" if tid == OWN else describe(tid),
    key="compare_curves_on",
)
test_id = None if curves_on == OWN else curves_on
scored = [(r, r.metrics_on(test_id)) for r in selected]
scored = [(r, m) for r, m in scored if m]
if test_id and len(scored) < len(selected):
    st.caption(f"{len(selected) - len(scored)} selected run(s) are not scored on this set.")

roc_tab, pr_tab, cm_tab, history_tab, bar_tab = st.tabs(
    ["ROC", "Precision-recall", "Confusion matrices", "Training curves", "Headline metrics"]
)
with roc_tab:
    figure = go.Figure()
    figure.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="chance"
    )
    for record, values in scored:
        if values.get("roc"):
            auc = values.get("auc")
            figure.add_scatter(
                x=values["roc"]["fpr"],
                y=values["roc"]["tpr"],
                mode="lines",
                name=f"{record.name} (AUC {auc:.3f})",
            )
    figure.update_layout(
        xaxis_title="False-positive rate (real images called fake)",
        yaxis_title="True-positive rate (fakes caught)",
        height=450,
        legend={"orientation": "h", "y": -0.25},
    )
    st.plotly_chart(figure, key="compare_roc")
with pr_tab:
    figure = go.Figure()
    for record, values in scored:
        if values.get("pr"):
            figure.add_scatter(
                x=values["pr"]["recall"],
                y=values["pr"]["precision"],
                mode="lines",
                line_shape="hv",
                name=f"{record.name} (AP {values.get('ap'):.3f})",
            )
    figure.update_layout(
        xaxis_title="Recall (share of fakes caught)",
        yaxis_title="Precision (share of 'fake' calls that are fake)",
        height=450,
        legend={"orientation": "h", "y": -0.25},
    )
    st.plotly_chart(figure, key="compare_pr")
with cm_tab:
    per_row = 4
    for start in range(0, len(scored), per_row):
        for column, (record, values) in zip(
            st.columns(per_row), scored[start : start + per_row], strict=False
        ):
            matrix = values["confusion_matrix"]
            # go.Heatmap, not px.imshow: 8x cheaper, which matters with dozens of runs.
            figure = go.Figure(
                go.Heatmap(
                    z=matrix,
                    x=["Fake", "Real"],
                    y=["Fake", "Real"],
                    text=matrix,
                    texttemplate="%{text}",
                    colorscale="Blues",
                    showscale=False,
                    hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
                )
            )
            figure.update_layout(
                title={"text": record.name, "font": {"size": 12}},
                xaxis_title="Predicted",
                yaxis={"title": "True", "autorange": "reversed"},
                height=300,
                margin={"l": 10, "r": 10, "t": 40, "b": 10},
            )
            column.plotly_chart(figure, key=f"compare_cm_{start}_{record.name}")
with history_tab:
    panels = (("loss", "Loss"), ("accuracy", "Accuracy"), ("auc", "AUC"))
    figure = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title in panels])
    palette = px.colors.qualitative.Plotly
    for number, record in enumerate(selected):
        colour = palette[number % len(palette)]
        for col, (key, _) in enumerate(panels, start=1):
            for prefix, dash in (("", "solid"), ("val_", "dash")):
                values = record.history.get(prefix + key)
                if not values:
                    continue
                figure.add_scatter(
                    x=list(range(1, len(values) + 1)),
                    y=values,
                    mode="lines+markers",
                    line={"color": colour, "dash": dash},
                    name=f"{record.name} {'validation' if prefix else 'train'}",
                    legendgroup=record.name,
                    showlegend=col == 1,
                    row=1,
                    col=col,
                )
    figure.update_xaxes(title_text="Epoch")
    figure.update_layout(height=420, legend={"orientation": "h", "y": -0.3})
    st.plotly_chart(figure, key="compare_history")
    st.caption("Solid: training; dashed: validation.")
with bar_tab:
    long = columns_ui.headline_long(selected, test_id)
    if long.empty:
        st.info("No metrics on this test set yet.")
    else:
        figure = px.bar(long, x="Metric", y="Value", color="Run", barmode="group", height=420)
        figure.update_layout(yaxis_range=[0, 1], legend={"orientation": "h", "y": -0.25})
        st.plotly_chart(figure, key="compare_bars")

# --- Exports ----------------------------------------------------------------------------
st.subheader("Export")
columns = st.columns(3)
columns[0].download_button(
    "Table (CSV)",
    compare.table_csv(table),
    file_name="comparison.csv",
    mime="text/csv",
    key="compare_csv",
)
columns[1].download_button(
    "Full record (JSON)",
    lambda: compare.full_record_json(selected),
    file_name="comparison.json",
    mime="application/json",
    key="compare_json",
    help="Config, metrics, history, test files and re-scores of every selected run.",
)
with columns[2]:
    model_run = st.selectbox("Model of run", selected_names, key="compare_model_run")
    model_path = comparison.record(model_run).run.path / "model.keras"
    st.download_button(
        "Download model.keras",
        lambda: model_path.read_bytes(),
        file_name=f"{model_run}.keras",
        mime="application/octet-stream",
        key="compare_model_download",
        disabled=not model_path.is_file(),
    )

# --- Delete -----------------------------------------------------------------------------
if not settings.delete_allowed():
    st.caption(settings.DELETE_OFF_MESSAGE)
    st.stop()
with st.expander("Delete runs"):
    folders = {record.name: record.run.path for record in comparison.records}
    folders |= {
        run.name: run.path
        for run in comparison.unfinished
        if run.state not in jobs.ACTIVE_STATES  # the trainer still writes there
    }
    deletable = list(folders)
    doomed = st.multiselect("Runs to delete", deletable, key="compare_delete_runs")
    sure = st.checkbox(
        f"Yes, delete {len(doomed)} run folder(s) and their models for good",
        key="compare_delete_confirm",
        disabled=not doomed,
    )
    if st.button("Delete", key="compare_delete", disabled=not (doomed and sure)):
        for name in doomed:
            runs.delete_run(folders[name])
        for key in ("compare_delete_runs", "compare_delete_confirm", "compare_runs"):
            st.session_state.pop(key, None)
        st.session_state[LAST_RESULTS] = {"errors": [], "summary": f"Deleted {len(doomed)} run(s)."}
        st.rerun()
