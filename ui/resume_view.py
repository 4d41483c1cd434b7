"""The Train page's Resume buttons: stopped runs continue from their last checkpoint.

A run whose trainer died (killed, out of memory, the machine restarted) is shown
*interrupted*; a run cancelled after a completed epoch keeps its checkpoint too.
Resume queues it again (:func:`core.jobs.training_queue.resume`); the worker's
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


def stopped_at(run: run_folders.Run) -> str:
    """``epoch 3/15``: the epoch a stopped run was in; empty before its first epoch."""
    epoch, total = run.status.get("epoch"), run.status.get("epochs")
    return f"epoch {epoch}/{total}" if epoch and total else ""


def cancelled_text(run: run_folders.Run) -> str:
    """``cancelled at epoch 3/15`` (or ``cancelled before its first epoch``)."""
    at = stopped_at(run)
    return f"cancelled at {at}" if at else "cancelled before its first epoch"


def can_resume(run: run_folders.Run) -> bool:
    """Interrupted runs always; cancelled runs once they completed an epoch."""
    if run.state == "cancelled":
        return run_folders.has_checkpoint(run.path)
    return run.state in run_folders.RESUMABLE_STATES


def show_interrupted(all_runs: list[run_folders.Run]) -> None:
    """One line and a Resume button per interrupted run, and per cancelled run that can resume."""
    for run in all_runs:
        if not can_resume(run):
            continue
        text, button = st.columns([5, 1])
        model = registry.display_name(run.model)
        if run.state == "cancelled":
            what = f"`{run.name}` ({model}) was {cancelled_text(run)}; its curves are kept."
            text.info(f"{what} With **Resume** it {resume_text(run)}.")
        else:
            reason = run.status.get("error") or "its process stopped"
            text.warning(
                f"`{run.name}` ({model}) was interrupted: {reason} "
                f"With **Resume** it {resume_text(run)}."
            )
        if button.button("Resume", key=f"train_resume_{run.name}"):
            if training_queue.resume(run.path):
                st.toast(f"Queued `{run.name}` to resume.", icon="▶️")
            else:
                st.toast(f"`{run.name}` can no longer be resumed; nothing was queued.")
            st.rerun()
