"""Home: what the workbench does, which dataset is in use, and where to go next.

Ordered by what a person does first: the dataset in use, then how to get the real one,
then the runs and the other pages. The dataset section is filled last: on a first visit
it generates the demo set (with a progress bar), and the rest of the page is already
there to read meanwhile.
"""

import streamlit as st

from core.jobs import training_queue
from core.runs import run_folders
from core.text import plural
from ui import common
from ui.download_view import download_section

st.title("🕵️ Deepfake Detection Workbench")
st.write(
    "Explore a dataset of real and fake face images, train three detectors "
    "(a CNN, a Capsule Network and Xception) on a subset of the size you choose, "
    "compare them fairly on the same test images, and classify your own images."
)

dataset_box = st.container()
download_section()

all_runs = run_folders.list_runs()
finished = sum(run.finished for run in all_runs)
active = sum(run.state in training_queue.ACTIVE_STATES for run in all_runs)
st.subheader("Runs")
st.write(
    f"{plural(finished, 'finished run')}, {active} queued or training."
    if all_runs
    else "No runs yet: train a first model on the Train page."
)

st.subheader("Where to go")
st.page_link(
    "app_pages/data_explorer.py",
    label="Data Explorer: class balance, samples, pixel statistics, leakage, shortcuts",
    icon="📊",
)
st.page_link(
    "app_pages/train.py", label="Train: CNN, Capsule Network, Xception on a subset", icon="🏋️"
)
st.page_link(
    "app_pages/compare.py", label="Compare: every metric, on the same test images", icon="⚖️"
)
st.page_link(
    "app_pages/classify.py", label="Classify: a verdict and its evidence for your images", icon="🔍"
)
st.caption(
    "Labels: Fake = 0, Real = 1. Models output P(Real); metrics treat Fake as the "
    "positive class, as detection benchmarks do."
)

with dataset_box:
    if common.typed_folder_error() is None:  # else only the error: no dataset is in use
        st.subheader("Dataset in use")
    choice, index = common.dataset_or_stop(on_home=True)
    st.write(f"**{choice.label}** — {index.total:,} images")
    counts = index.counts()
    columns = st.columns(3)
    for column, (split, by_class) in zip(columns, counts.items(), strict=False):
        column.metric(split, f"{sum(by_class.values()):,}", help="Images in this split")
        column.caption(f"Real {by_class['Real']:,} · Fake {by_class['Fake']:,}")
    for warning in index.warnings:
        st.warning(warning)
