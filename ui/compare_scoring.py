"""Compare page: the controls that queue a re-score on a common test set or another dataset.

Both queue background jobs (:mod:`ui.compare_jobs`); nothing is scored in the
page's script, so it stays responsive while models are scored.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.data import catalog, testsets
from core.evaluation import compare
from ui import common, compare_jobs, compare_view


def _queue(kind: str, selected: Sequence[compare.RunRecord], test_set: testsets.TestSet) -> None:
    compare_jobs.queue(kind, [record.run.path for record in selected], test_set)


def rescore_controls(comparison: compare.Comparison, selected: list[compare.RunRecord]) -> None:
    """Re-score the selected runs on the exact test files of a run, or a seeded sample."""
    names = [record.name for record in comparison.records]
    st.subheader("Re-score on a common test set")
    st.caption(
        "Scores the saved models of the selected runs on the same images, in the background; "
        "nothing is retrained. Results are stored in each run folder (rescores/) and reused."
    )
    source = st.radio(
        "Common test set",
        ["The exact test files of a run", "A seeded sample of a dataset's Test split"],
        key="compare_common_source",
        horizontal=True,
    )
    if source.startswith("The exact"):
        reference_default = compare_view.reference_run(selected) or names[0]
        reference = st.selectbox(
            "Run whose test files to use",
            names,
            index=names.index(reference_default),
            format_func=lambda name: (
                f"{name} ({len(comparison.record(name).test_set.files)} test images)"
                if comparison.record(name).test_set
                else name
            ),
            key="compare_common_run",
            help="The selected run with the largest test set is proposed first.",
        )
        if st.button("Re-score the selected runs", key="compare_rescore", type="primary"):
            try:
                chosen = compare.run_test_set(comparison.record(reference))
            except testsets.CompareError as error:
                st.error(str(error))
            else:
                _queue("rescore", selected, chosen)
        return
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
            chosen = testsets.dataset_test_set(
                folder, int(size) or None, int(seed), common.access()
            )
        except (testsets.CompareError, catalog.DatasetError) as error:
            st.error(str(error))
        else:
            _queue("rescore", selected, chosen)


def cross_controls(selected: list[compare.RunRecord]) -> None:
    """Score the selected runs on another dataset's Test split."""
    st.subheader("Cross-dataset check")
    st.caption(
        "Score the selected runs on the Test split of another dataset folder (for example a "
        "sample of the Kaggle dataset) to see whether what they learned carries over."
    )
    columns = st.columns([3, 1, 1])
    folder = columns[0].text_input(
        "Other dataset folder",
        key="compare_cross_folder",
        placeholder="/path/to/other/Dataset",
    )
    size = columns[1].number_input(
        "Images (0 = all)", min_value=0, value=0, step=10, key="compare_cross_size"
    )
    seed = columns[2].number_input("Seed", min_value=0, value=0, key="compare_cross_seed")
    if st.button("Score on this dataset", key="compare_cross_button"):
        if not folder.strip():
            st.error("Enter the folder of another dataset (holding Test/Real and Test/Fake) first.")
            return
        try:
            chosen = testsets.dataset_test_set(
                folder.strip(), int(size) or None, int(seed), common.access()
            )
        except (testsets.CompareError, catalog.DatasetError) as error:
            st.error(str(error))
        else:
            _queue("cross", selected, chosen)
