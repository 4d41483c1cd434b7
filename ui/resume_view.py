"""The Train page's Resume buttons: interrupted runs continue from their last checkpoint.

A run whose trainer died (killed, out of memory, the machine restarted) is shown
*interrupted*. Resume queues it again (:func:`core.jobs.training_queue.resume`); the worker's
trainer then continues from the last completed epoch (:mod:`core.training.checkpoint`).
Reads run folders only; never imports TensorFlow.
"""

from __future__ import annotations

import streamlit as st

from core.jobs import training_queue
from core.models import registry
from core.runs import checkpoint_files, run_folders


def resume_text(run: run_folders.Run) -> str:
    """Where a resume of ``run`` starts: ``resumes from epoch 3 of 5``, or from scratch."""
    done = checkpoint_files.resume_epoch(run.path)
    total = run.status.get("epochs")
    if not done:
        return "starts again from epoch 1 (it died before its first epoch ended)"
    return f"resumes from epoch {done + 1}" + (f" of {total}" if total else "")


def show_interrupted(all_runs: list[run_folders.Run]) -> None:
    """One line and a Resume button per interrupted run."""
    for run in all_runs:
        if run.state not in run_folders.RESUMABLE_STATES:
            continue
        text, button = st.columns([5, 1])
        reason = run.status.get("error") or "its process stopped"
        text.warning(
            f"`{run.name}` ({registry.display_name(run.model)}) was interrupted: {reason} "
            f"With **Resume** it {resume_text(run)}."
        )
        if button.button("Resume", key=f"train_resume_{run.name}"):
            if training_queue.resume(run.path):
                st.toast(f"Queued `{run.name}` to resume.", icon="▶️")
            else:
                st.toast(f"`{run.name}` is no longer interrupted; nothing was queued.")
            st.rerun()
