"""The Train page's time estimate before Start: minutes per epoch and the run's duration.

From the training speed measured on this machine (:mod:`core.runs.throughput`): earlier
runs of the same model and image size, or a short probe started from here. Falls back
to the speed of earlier finished runs (:func:`core.jobs.run_queue.estimate_seconds`).
"""

from __future__ import annotations

import streamlit as st

from core.jobs import run_queue
from core.models import registry
from core.runs import throughput
from core.runs.config import TrainConfig
from core.training import probe
from ui.train_view import duration


def estimate_text(config: TrainConfig, records: list[dict], finished: list) -> str | None:
    """One line on how long ``config`` will train, or None when nothing measured it."""
    values = config.to_dict()
    name = registry.display_name(config.model)
    epochs = config.epochs + config.fine_tune_epochs
    estimate = throughput.estimate_run(values, records)
    if estimate is not None:
        return (
            f"**{name}**: about {duration(estimate.epoch_seconds)} per epoch of "
            f"{config.train_size:,} training + {config.val_size:,} validation images; "
            f"{duration(estimate.seconds)} for all {epochs} epochs "
            f"({duration(estimate.low)} to {duration(estimate.high)}; early stopping may "
            f"end sooner). From the speed {estimate.source}."
        )
    seconds = run_queue.estimate_seconds(values, finished)
    if seconds is not None:
        return (
            f"**{name}**: about {duration(seconds)} for all {epochs} epochs, from the "
            "average speed of earlier finished runs of this model (no range: measure "
            "this size for one)."
        )
    return None


def run_estimates(configs: list[TrainConfig], all_runs: list) -> None:
    """The estimate of each run Start would queue, and a probe for those without one."""
    records = throughput.load_records()
    finished = [run for run in all_runs if run.finished]
    unknown = []
    for config in configs:
        text = estimate_text(config, records, finished)
        if text is None:
            unknown.append(config)
        else:
            st.caption("⏱️ " + text)
    if not unknown:
        return
    names = ", ".join(f"{registry.display_name(c.model)} at {c.image_size} px" for c in unknown)
    st.caption(
        f"⏱️ No training speed measured on this machine yet for {names}: the ETA appears "
        "after the first batches of a run, or measure it now (a few training steps, a "
        "validation pass and a checkpoint on random pixels; it slows a run that is training)."
    )
    if st.button("Measure the speed", key="train_measure_speed"):
        problems = []
        for config in unknown:
            with st.spinner(f"Timing {registry.display_name(config.model)}..."):
                problems.append(probe.probe_in_subprocess(config))
        for problem in filter(None, problems):
            st.error(problem)
        if not any(problems):
            st.rerun()
