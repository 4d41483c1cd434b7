"""Data Explorer: the statistics of :mod:`core.explore`, cached per dataset and sample.

The index itself is not hashed (``_index``); the dataset path and its image count
stand for it, with the sampling arguments.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data.catalog import DatasetIndex
from core.explore import eda, leakage


@st.cache_data(show_spinner="Decoding one batch...", max_entries=16)
def batch(_index: DatasetIndex, root: str, total: int, split: str, batch: int, size: int):
    """Shapes, dtype and value range of one decoded batch (:func:`eda.batch_summary`)."""
    return eda.batch_summary(_index, split, batch, size)


@st.cache_data(show_spinner="Computing pixel histograms...", max_entries=16)
def histograms(_index: DatasetIndex, root: str, total: int, per_class: int, seed: int):
    """Per-channel pixel histograms per class (:func:`core.explore.eda.pixel_histograms`)."""
    return eda.pixel_histograms(_index, per_class, seed)


@st.cache_data(show_spinner="Reading image headers...", max_entries=16)
def properties(_index: DatasetIndex, root: str, total: int, scan, seed: int, decode: bool):
    """Sizes, formats and corrupt files (:func:`core.explore.eda.image_properties`)."""
    return eda.image_properties(_index, scan, seed, decode=decode)


@st.cache_data(show_spinner="Hashing files to find duplicates...", max_entries=16)
def duplicates(_index: DatasetIndex, root: str, total: int, scan, seed: int):
    """Identical files across and within splits (:func:`core.explore.leakage.leakage_check`)."""
    return leakage.leakage_check(_index, scan, seed)


@st.cache_data(show_spinner="Measuring brightness, saturation, sharpness...", max_entries=16)
def shortcuts(_index: DatasetIndex, root: str, total: int, per_class: int, seed: int):
    """Brightness, saturation, file size, sharpness per class (:mod:`core.explore.eda`)."""
    return eda.shortcut_statistics(_index, per_class, seed)


def shortcut_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The shortcut summary with people's headers, and the direction instead of a raw AUC.

    ``auc`` and ``separation`` are the same number whenever the AUC is above 0.5, so
    the table shows the separation once and says which class has the higher values.
    """

    def direction(auc: float | None) -> str:
        if auc is None or pd.isna(auc) or auc == 0.5:
            return "neither"
        return "Real" if auc > 0.5 else "Fake"

    higher = summary["auc"].map(direction)
    return pd.DataFrame(
        {
            "Statistic": summary["statistic"],
            "Median, Real": summary["median_real"],
            "Median, Fake": summary["median_fake"],
            "Higher in": higher,
            "Separation (AUC)": summary["separation"],
        }
    )
