"""The model card on the pages: the full card for a chosen run, and its one-line summary.

The card is built from the run folder each time (:mod:`core.runs.model_card`), so it
shows every score stored so far, including re-scores made a moment ago.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.runs import model_card


def card_summary(run_dir: Path) -> str:
    """The card's one line for a run ("trained on ...; chance on ..."), or "" if unreadable."""
    try:
        return model_card.summary(model_card.build_card(run_dir))
    except OSError:
        return ""


def show_model_card(run_dirs: dict[str, Path], key: str) -> None:
    """A "Model card" expander with a run chooser and the chosen run's card.

    Args:
        run_dirs: run name -> run folder, in the order offered.
        key: the widget key of the run chooser (page-prefixed).
    """
    if not run_dirs:
        return
    with st.expander("Model card: what a run was trained on and where it can be trusted"):
        name = st.selectbox("Run", list(run_dirs), key=key)
        st.markdown(model_card.to_markdown(model_card.build_card(run_dirs[name])))
        st.caption(
            f"Also stored as `{model_card.CARD_NAME}` in the run folder; refreshed after "
            "training and after every re-score. AUC intervals are 95 % bootstrap intervals "
            "(1,000 seeded resamples) on sets under 500 images."
        )
