"""Classify page: one verdict from the ensemble of the chosen runs, each member's vote beside it."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.serving import verdict

RULES = {"logit": "mean logit", "probability": "mean probability"}


def choice(n_runs: int) -> str | None:
    """The ensemble toggle and rule (shown for two runs or more); None when off."""
    if n_runs < 2:
        return None
    columns = st.columns([2, 3])
    on = columns[0].toggle(
        "Ensemble of the selected runs",
        key="classify_ensemble",
        help="One verdict from all chosen runs together: the mean of their logits (or of "
        "their probabilities), with the same threshold and uncertain band as a single run.",
    )
    if not on:
        return None
    return columns[1].radio(
        "Ensemble rule",
        list(RULES),
        format_func=RULES.get,
        horizontal=True,
        key="classify_ensemble_rule",
    )


def card(
    votes: Sequence[tuple[str, verdict.Verdict]],
    method: str,
    shown: verdict.Verdict,
    colours: dict[str, str],
) -> None:
    """Draw the ensemble's verdict and each member's vote.

    Args:
        votes: (run name, that run's verdict) per member.
        method: ``logit`` or ``probability``.
        shown: the ensemble's verdict (:func:`core.serving.classify.classify` decides it).
        colours: verdict label -> Streamlit colour name.
    """
    st.markdown(
        f"**Ensemble of {len(votes)} runs ({RULES[method]})**: "
        f":{colours[shown.label]}[**{shown.label}**] · {shown.text} · "
        f"threshold {shown.threshold:.2f}"
    )
    st.caption(
        "Members: "
        + " · ".join(f"`{name}` :{colours[vote.label]}[{vote.text}]" for name, vote in votes)
    )
