"""The Train page's Cancel: asked once more, then the run's trail (where it stopped, Resume).

Reads run folders only; never imports TensorFlow.
"""

from __future__ import annotations

import streamlit as st

from core.jobs import training_queue
from core.runs import run_folders
from ui import resume_view

CANCEL_FEEDBACK = "train_cancelled_run"  # the run cancelled last, for the status line


def cancel_control(run: run_folders.Run) -> None:
    """Cancel, asked once more first: a cancelled run stops for good unless resumed."""
    asked = f"train_cancel_asked_{run.name}"
    if run_folders.cancel_requested(run.path):
        st.warning("Cancel requested; the run stops at the end of the current batch.")
    elif st.session_state.get(asked):
        st.warning(
            f"Cancel `{run.name}`? It stops at the end of the current batch; its curves "
            "are kept, and once an epoch is complete it can be resumed later."
        )
        yes, no = st.columns(2)
        if yes.button("Yes, cancel it", key=f"train_cancel_yes_{run.name}", type="primary"):
            st.session_state.pop(asked, None)
            training_queue.cancel(run.path)
            st.session_state[CANCEL_FEEDBACK] = run.name
            st.rerun()
        if no.button("Keep training", key=f"train_cancel_no_{run.name}"):
            st.session_state.pop(asked, None)
            st.rerun()
    elif st.button("Cancel this run", key=f"train_cancel_{run.name}"):
        st.session_state[asked] = True
        st.rerun()


def cancel_feedback(all_runs: list[run_folders.Run]) -> str | None:
    """The status line after Cancel, replacing "Started ...": where the run stopped."""
    name = st.session_state.get(CANCEL_FEEDBACK)
    run = next((run for run in all_runs if run.name == name), None)
    if run is None:
        return None
    if run.state != "cancelled":
        return f"Cancelling `{run.name}`: it stops at the end of the current batch."
    return f"`{run.name}` was {resume_view.cancelled_text(run)}; its curves are kept below" + (
        ", and it can be resumed." if resume_view.can_resume(run) else "."
    )
