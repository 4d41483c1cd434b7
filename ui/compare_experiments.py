"""Compare page: runs repeated with several seeds, as experiments (mean ± standard deviation).

The grouping, summaries and the paired comparison between experiments are
:mod:`core.evaluation.experiments`'; this module draws them. Each seed stays a row of
the main table above ("each seed on demand").
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.evaluation import compare, experiments


@st.cache_data(show_spinner="Comparing experiments across seeds and images...", max_entries=16)
def _verdicts(_groups: list, names: tuple[str, ...], test_set: str | None) -> list[str]:
    return experiments.verdicts(_groups, test_set)


def section(selected: Sequence[compare.RunRecord], test_set: str | None) -> None:
    """The experiments among the selected runs, if any had two seeds or more."""
    groups = experiments.group(selected)
    if not groups:
        return
    st.subheader("Repeated with seeds")
    st.dataframe(experiments.summary_table(groups, test_set), hide_index=True)
    names = tuple(record.name for group in groups for record in group.records)
    for line in _verdicts(groups, names, test_set):
        st.markdown(f"- {line}")
    st.caption(
        "Each experiment is one model trained on the same files with several seeds; its "
        "seeds are rows of the table above. Two experiments are compared by a paired "
        "bootstrap of the difference of their mean AUCs over the same images (1,000 "
        "resamples, 95%)."
    )
