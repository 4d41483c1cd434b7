"""Data Explorer: balance, samples, batch shapes, pixels, files, leakage, shortcuts.

Class balance, sample images, batch shapes, pixel statistics, file properties,
split leakage and shortcut statistics of the dataset in use.

The statistics come from :mod:`core.explore.eda`; this page caches them per dataset path,
sample size and seed, and draws them with plotly. It never imports TensorFlow.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from core.data import images
from core.evaluation import figures
from core.explore import eda
from ui import common, explore_cache

SCAN_CHOICES = [500, 2_000, 10_000, 50_000, "all"]
GRID_SIZE = 128


def _sampling_note(result: dict[str, Any], unit: str = "images") -> None:
    text = eda.describe_sampling(result, unit)
    (st.warning if result["sampled"] else st.caption)(text)


st.title("📊 Data Explorer")
choice, index = common.dataset_or_stop()
if index.total == 0:
    st.info("This dataset holds no images yet. Add images to its Real and Fake folders.")
    st.stop()
for warning in index.warnings:
    st.warning(warning)

key = (str(index.root), index.total)
st.caption(f"Dataset: **{choice.label}** — {index.total:,} images")

with st.expander("Sampling", expanded=False):
    left, middle, right = st.columns(3)
    per_class = left.slider(
        "Images per class for statistics",
        min_value=20,
        max_value=2000,
        value=150,
        step=10,
        key="explore_per_class",
        help="Pixel histograms and shortcut statistics decode this many images of each class.",
    )
    scan_choice = middle.select_slider(
        "Files to scan for properties and duplicates",
        options=SCAN_CHOICES,
        value=2_000,
        key="explore_scan",
        help="Header reads and content hashes; 'all' reads every file (slow on 190k images).",
    )
    seed = int(right.number_input("Sampling seed", 0, 10_000, 0, key="explore_seed"))
scan = None if scan_choice == "all" else int(scan_choice)

# Class distribution ---------------------------------------------------------
st.header("Class distribution")
distribution = eda.class_distribution(index)
long = distribution.melt(
    id_vars="split", value_vars=["Real", "Fake"], var_name="class", value_name="images"
)
figure = px.bar(
    long,
    x="split",
    y="images",
    color="class",
    barmode="group",
    text_auto=True,
    color_discrete_map=figures.CLASS_COLOURS,
)
figure.update_layout(height=340, margin={"t": 30, "b": 10})
st.plotly_chart(figure, key="explore_distribution_chart")
st.dataframe(
    distribution.style.format({"balance": "{:.2f}"}),
    hide_index=True,
)
st.caption("Balance = minority class / majority class (1.00 = balanced).")
for row in distribution.itertuples():
    if row.balance < 0.8:
        st.info(
            f"{row.split} is imbalanced ({row.Real:,} Real vs {row.Fake:,} Fake): "
            "prefer balanced accuracy and AUC over plain accuracy, or weight the classes."
        )

# Sample images --------------------------------------------------------------
st.header("Sample images")
controls = st.columns([2, 2, 1])
split = controls[0].selectbox("Split", list(index.splits), key="explore_grid_split")
per_row = controls[1].slider("Images per class", 2, 12, 6, key="explore_grid_count")
if "explore_grid_seed" not in st.session_state:
    st.session_state["explore_grid_seed"] = 0
if controls[2].button("🔀 Reshuffle", key="explore_reshuffle"):
    st.session_state["explore_grid_seed"] += 1
examples = eda.sample_images(index, split, per_row, st.session_state["explore_grid_seed"])
for class_name, paths in examples.items():
    st.subheader(f"{class_name} ({split})")
    if not paths:
        st.caption(f"No {class_name} images in {split}.")
        continue
    columns = st.columns(per_row)
    for column, path in zip(columns, paths, strict=False):
        try:
            column.image(images.load(index.root / path, GRID_SIZE), caption=path.split("/")[-1])
        except (images.ImageError, OSError) as error:
            column.error(f"{path}: {error}")

# One batch ------------------------------------------------------------------
st.header("One training batch")
controls = st.columns(3)
batch_split = controls[0].selectbox("Split", list(index.splits), key="explore_batch_split")
batch_size = controls[1].selectbox("Batch size", [8, 16, 32, 64], index=2, key="explore_batch")
image_size = controls[2].selectbox(
    "Image size", [64, 96, 128, 192, 256], index=2, key="explore_image_size"
)
batch = explore_cache.batch(index, *key, batch_split, batch_size, image_size)
# Two per row: a shape like (32, 128, 128, 3) needs the width (four per row cut it off).
for (label, value), cell in zip(
    [
        ("Images shape", str(batch["images_shape"])),
        ("Images dtype", batch["images_dtype"]),
        ("Labels shape", str(batch["labels_shape"])),
        ("Labels dtype", batch["labels_dtype"]),
    ],
    [*st.columns(2), *st.columns(2)],
    strict=True,
):
    cell.metric(label, value)
st.caption(
    f"Pixel range {batch['pixel_min']}–{batch['pixel_max']} (raw 0-255: models scale inside); "
    f"labels in this batch: Real {batch['labels']['Real']}, Fake {batch['labels']['Fake']} "
    "(Fake = 0, Real = 1)."
)
if batch["skipped"]:
    st.warning(
        f"{len(batch['skipped'])} file(s) in this batch could not be decoded and were skipped."
    )

# Pixel distribution ---------------------------------------------------------
st.header("Pixel-value distribution")
histograms = explore_cache.histograms(index, *key, per_class, seed)
_sampling_note(histograms)
table = histograms["table"].assign(value=lambda t: (t["bin_start"] + t["bin_end"]) / 2)
figure = px.line(
    table,
    x="value",
    y="density",
    color="class",
    facet_col="channel",
    color_discrete_map=figures.CLASS_COLOURS,
    labels={"value": "pixel value", "density": "share of pixels"},
)
figure.update_layout(height=320, margin={"t": 40, "b": 10})
st.plotly_chart(figure, key="explore_histogram_chart")
means = histograms["means"].pivot(index="class", columns="channel", values="mean")
st.caption("Mean pixel value (0-255) of each channel, per class, over the same images:")
means = means[list(eda.CHANNELS)].rename(columns=lambda channel: f"{channel} mean")
st.dataframe(means.rename_axis("Class").style.format("{:.1f}"))

# File properties ------------------------------------------------------------
st.header("Image sizes, formats and corrupt files")
decode = st.checkbox(
    "Decode files fully (slower; also catches truncated files)", key="explore_decode"
)
properties = explore_cache.properties(index, *key, scan, seed, decode)
_sampling_note(properties, "files")
left, right = st.columns(2)
sizes = properties["sizes"]
if len(sizes):
    figure = px.bar(
        sizes,
        x="dimensions",
        y="count",
        color="class",
        barmode="group",
        color_discrete_map=figures.CLASS_COLOURS,
    )
    figure.update_layout(height=300, margin={"t": 30, "b": 10}, xaxis_title="width x height")
    left.plotly_chart(figure, key="explore_sizes_chart")
right.write("**Formats**")
right.dataframe(properties["formats"], hide_index=True)
right.write("**Colour modes**")
right.dataframe(properties["modes"], hide_index=True)
corrupt = properties["corrupt"]
if len(corrupt):
    st.error(f"{len(corrupt)} corrupt or unreadable file(s) found; training skips them.")
    st.dataframe(corrupt[["split", "class", "path", "error"]], hide_index=True)
else:
    st.success("No corrupt files found.")

# Leakage --------------------------------------------------------------------
st.header("Split leakage (identical files)")
duplicates = explore_cache.duplicates(index, *key, scan, seed)
_sampling_note(duplicates, "files")
if duplicates["sampled"]:
    st.caption("On a sample, a duplicate is found only if both copies were drawn: a lower bound.")
cells = st.columns(3)
cells[0].metric("Groups across splits", duplicates["cross_split"])
cells[1].metric("Files in them", duplicates["cross_split_files"])
cells[2].metric("Extra copies within splits", int(duplicates["within_split"]["extra_copies"].sum()))
if duplicates["cross_split"]:
    st.error(
        "Identical images appear in more than one split: test scores will be optimistic. "
        "Remove the copies from Validation/Test."
    )
    st.dataframe(
        pd.DataFrame(
            [
                {"splits": ", ".join(group["splits"]), "files": ", ".join(group["files"])}
                for group in duplicates["cross_examples"]
            ]
        ),
        hide_index=True,
    )
else:
    st.success("No identical image appears in two splits.")
st.dataframe(duplicates["within_split"], hide_index=True)
if duplicates["within_examples"]:
    st.dataframe(
        pd.DataFrame(
            [
                {"split": group["split"], "files": ", ".join(group["files"])}
                for group in duplicates["within_examples"]
            ]
        ),
        hide_index=True,
    )

# Shortcuts ------------------------------------------------------------------
st.header("Shortcut check: simple statistics per class")
st.write(
    "If one of these alone separates Real from Fake, a model can score well without "
    "looking at faces. An AUC near 0.5 means no shortcut."
)
shortcuts = explore_cache.shortcuts(index, *key, per_class, seed)
_sampling_note(shortcuts)
stats_table = shortcuts["table"]
if len(stats_table):
    columns = st.columns(2)
    for number, (stat, title) in enumerate(eda.SHORTCUT_STATS.items()):
        figure = px.violin(
            stats_table,
            x="class",
            y=stat,
            color="class",
            box=True,
            points=False,
            color_discrete_map=figures.CLASS_COLOURS,
            title=title,
            labels={stat: title, "class": "Class"},  # not the column's code name
        )
        figure.update_layout(height=300, margin={"t": 40, "b": 10}, showlegend=False)
        columns[number % 2].plotly_chart(figure, key=f"explore_shortcut_{stat}")
    summary = shortcuts["summary"]
    st.dataframe(
        explore_cache.shortcut_table(summary).style.format(
            {"Median, Real": "{:.3g}", "Median, Fake": "{:.3g}", "Separation (AUC)": "{:.2f}"},
            na_rep="n/a",
        ),
        hide_index=True,
    )
    st.caption(
        "Separation: the AUC of the statistic alone as a Real/Fake score, taken in the "
        "direction that works (0.5 = no shortcut, 1.0 = it separates the classes perfectly)."
    )
    strong = summary[summary["separation"].fillna(0) >= 0.75]
    for row in strong.itertuples():
        st.warning(
            f"{row.statistic} alone separates the classes (AUC {row.separation:.2f}): "
            "a model may learn this shortcut instead of forgery traces."
        )
if shortcuts["skipped"]:
    st.caption(f"{len(shortcuts['skipped'])} file(s) could not be decoded and were left out.")
