"""Compare page: the ensemble choice, the chart tabs and the robustness tab.

The figures themselves are :mod:`core.evaluation.figures`; this module
decides what goes into them and draws them with Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from core.data import testsets
from core.data.testsets import TestSet
from core.evaluation import compare, ensemble, figures, robustness
from core.text import plural
from ui import compare_columns as columns_ui
from ui import compare_jobs, compare_view

ENSEMBLE_CHOICES = {
    "none": "No ensemble",
    "logit": "Ensemble: mean logit",
    "probability": "Ensemble: mean probability",
}


@dataclass
class Ensemble:
    """The ensemble of the selected runs on the chosen test set."""

    name: str
    method: str
    result: dict[str, Any]


def ensemble_choice(
    selected: Sequence[compare.RunRecord], test_id: str | None
) -> tuple[str | None, Ensemble | None]:
    """The ensemble selector; returns (rule or None, the ensemble when it can be formed).

    When it cannot (own test sets, a run not re-scored), the page says why.
    """
    if len(selected) < 2:
        return None, None
    method = st.selectbox(
        "Ensemble",
        list(ENSEMBLE_CHOICES),
        format_func=ENSEMBLE_CHOICES.get,
        key="compare_ensemble",
        help="Combine the selected runs into one detector: the mean of their logits (a "
        "confident run weighs more) or of their probabilities. Scored like a single run.",
    )
    if method == "none":
        return None, None
    try:
        result = ensemble.for_test_set(selected, test_id, method)
    except ensemble.EnsembleError as error:
        st.info(str(error))
        return method, None
    return method, Ensemble(ensemble.ensemble_name(result["members"], method), method, result)


def robustness_test_set(
    selected: Sequence[compare.RunRecord], test_id: str | None
) -> TestSet | None:
    """The test set robustness is measured on: the chosen re-scored set, else the largest own."""
    if test_id:
        for record in selected:
            stored = record.rescores.get(test_id)
            if stored and stored.get("requested_files"):
                files = tuple(stored["requested_files"])
                return TestSet(stored["root"], files, stored.get("description", ""), test_id)
    reference = compare_view.reference_run(selected)
    if reference is None:
        return None
    try:
        return compare.run_test_set(next(r for r in selected if r.name == reference))
    except testsets.CompareError:
        return None


def robustness_lines(
    selected: Sequence[compare.RunRecord], test_set: TestSet, seed: int, method: str | None
) -> tuple[dict[str, dict], list[compare.RunRecord], str | None]:
    """Curves of the stored results (and their ensemble); the runs still missing one.

    Returns:
        (metric -> run -> perturbation -> points, runs without a complete result,
        the ensemble's name when it was added).
    """
    results = {}
    for record in selected:
        stored = robustness.load_result(record.run.path, test_set.id, seed)
        if stored and stored.get("complete"):
            results[record.name] = stored
    missing = [record for record in selected if record.name not in results]
    lines = {metric: robustness.curves(results, metric) for metric in ("auc", "accuracy")}
    name = None
    if method and len(results) >= 2 and not missing:
        try:
            combined = robustness.ensemble_result(results, list(results), method)
        except ensemble.EnsembleError:
            combined = None
        if combined is not None:
            name = ensemble.ensemble_name(list(results), method)
            for metric in lines:
                lines[metric][name] = robustness.curves({name: combined}, metric)[name]
    return lines, missing, name


def robustness_tab(
    selected: Sequence[compare.RunRecord],
    test_id: str | None,
    colours: Mapping[str, str],
    method: str | None,
) -> None:
    """AUC and accuracy against perturbation strength; a button queues what is missing."""
    test_set = robustness_test_set(selected, test_id)
    if test_set is None:
        st.info("No test set is available for these runs (their dataset was not found).")
        return
    seed = st.number_input("Noise seed", min_value=0, value=0, key="compare_robust_seed")
    st.caption(
        f"On {test_set.description or test_set.label} (test set {test_set.label}): JPEG "
        "re-compression, downscale and upscale, blur, noise and centre crop, each at several "
        "strengths, the same degraded pixels for every model; the clean score is the first "
        "point of each line. Results are stored in the run folders (robustness/) and reused."
    )
    lines, missing, ensemble_name = robustness_lines(selected, test_set, int(seed), method)
    if missing and st.button(
        f"Run the robustness check on {plural(len(missing), 'run')}",
        key="compare_robust_button",
        type="primary",
    ):
        compare_jobs.queue(
            "robustness", [record.run.path for record in missing], test_set, seed=int(seed)
        )
    if not lines["auc"]:
        st.info("No robustness results on this test set yet.")
        return
    if missing:
        st.caption(f"Not measured yet: {', '.join(record.name for record in missing)}.")
    all_colours = dict(colours)
    if ensemble_name:
        all_colours[ensemble_name] = ENSEMBLE_COLOUR
    st.plotly_chart(figures.robustness_curves(lines, all_colours), key="compare_robustness")


CHART_TAB_KEY = "compare_chart_tab"
#: The ensemble's colour on every chart (black: no run has it).
ENSEMBLE_COLOUR = "#222222"


def chart_tabs(
    selected: Sequence[compare.RunRecord],
    scored: list[tuple[str, dict[str, Any]]],
    colours: Mapping[str, str],
    test_id: str | None,
    method: str | None,
) -> None:
    """ROC, PR, confusion matrices, training curves, headline bars and robustness."""
    tabs = st.tabs(
        [
            "ROC",
            "Precision-recall",
            "Confusion matrices",
            "Training curves",
            "Headline metrics",
            "Robustness",
        ],
        # A key keeps the tab a person chose when the page above it changes (a job
        # starting or ending) instead of jumping back to ROC.
        key=CHART_TAB_KEY,
        on_change="rerun",
    )
    with tabs[0]:
        st.plotly_chart(figures.roc_curves(scored, colours), key="compare_roc")
    with tabs[1]:
        st.plotly_chart(figures.pr_curves(scored, colours), key="compare_pr")
    with tabs[2]:
        per_row = 4
        for start in range(0, len(scored), per_row):
            for column, (name, values) in zip(
                st.columns(per_row), scored[start : start + per_row], strict=False
            ):
                column.plotly_chart(
                    figures.confusion_matrix(name, values["confusion_matrix"], colours.get(name)),
                    key=f"compare_cm_{start}_{name}",
                )
    with tabs[3]:
        figure = figures.training_curves({r.name: r.history for r in selected}, colours, height=420)
        if figure is None:
            st.info("No training history recorded for these runs.")
        else:
            st.plotly_chart(figure, key="compare_history")
            st.caption("Solid: training; dashed: validation. Always the runs' own training data.")
    with tabs[4]:
        long = columns_ui.headline_long(list(selected), test_id)
        if long.empty:
            st.info("No metrics on this test set yet.")
        else:
            st.plotly_chart(figures.headline_bars(long, colours), key="compare_bars")
    with tabs[5]:
        robustness_tab(selected, test_id, colours, method)
