"""Home: what the workbench does, which dataset is in use, and where to go next."""

import streamlit as st

from core import data
from ui import common

st.title("🕵️ Deepfake Detection Workbench")
st.write(
    "Explore a dataset of real and fake face images, train three detectors "
    "(a CNN, a Capsule Network and Xception) on a subset of the size you choose, "
    "compare them fairly on the same test images, and classify your own images."
)

choice = common.current_dataset()
common.demo_notice(choice)

try:
    index = common.dataset_index(choice)
except data.DatasetError as error:
    st.error(str(error))
    st.stop()

st.subheader("Dataset in use")
st.write(f"**{choice.label}** — {index.total:,} images")
counts = index.counts()
columns = st.columns(max(1, len(counts)))
for column, (split, by_class) in zip(columns, counts.items()):
    column.metric(split, f"{sum(by_class.values()):,}", help="Real / Fake")
    column.caption(f"Real {by_class['Real']:,} · Fake {by_class['Fake']:,}")
for warning in index.warnings:
    st.warning(warning)

st.subheader("Where to go")
st.page_link("pages/data_explorer.py", label="Data Explorer: class balance, samples, pixel statistics, leakage", icon="📊")
st.page_link("pages/train.py", label="Train: CNN, Capsule Network, Xception on a subset", icon="🏋️")
st.page_link("pages/compare.py", label="Compare: metrics on the same test images", icon="⚖️")
st.page_link("pages/classify.py", label="Classify: a verdict on your own images", icon="🔍")
