"""The Train page's live panel: the running run, the queue, the last result and every run.

Drawn inside a fragment that reruns itself while anything is queued or running
(:func:`live_panel`). Reads run folders only; never imports TensorFlow.
"""

from __future__ import annotations

import math
import time
from datetime import datetime

import pandas as pd
import streamlit as st

from core.evaluation import figures
from core.jobs import run_queue, training_queue
from core.models import registry
from core.models.registry import list_models
from core.runs import learning, run_folders, throughput
from core.text import plural
from core.training import distribute
from ui import resume_view
from ui.cancel_view import cancel_control
from ui.store_view import decoding_text

ALL_MODELS = "all"
MISSING = "—"  # a metric the run does not have (yet)
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
#: The details column: about 7.5 px per character of the grid's 14 px font, capped.
PX_PER_CHAR, DETAILS_MIN_PX, DETAILS_MAX_PX = 7.5, 200, 2400


def model_label(name: str) -> str:
    """Show registry names as people call them."""
    if name == ALL_MODELS:
        count = len(list_models())
        return f"All {NUMBER_WORDS.get(count, count)}, same subset and seed"
    return registry.display_name(name)


def when(stamp: float | None) -> str:
    """A timestamp as local date and time (empty when unknown)."""
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S") if stamp else ""


def duration(seconds: float | None) -> str:
    """Seconds as ``1h 02m 03s`` or ``2m 03s``; "estimating..." when unknown."""
    if seconds is None:
        return "estimating..."
    seconds = round(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"


def test_metric(run: run_folders.Run, name: str) -> float:
    """A test-set metric of a finished run (flat or under "test" in metrics.json); NaN if none."""
    metrics = run.metrics or {}
    value = metrics.get(name, (metrics.get("test") or {}).get(name))
    return float(value) if isinstance(value, int | float) else math.nan


def metric_text(run: run_folders.Run, name: str) -> str:
    """A test-set metric as text: ``0.912``, or :data:`MISSING`.

    Text, not a number: st.dataframe draws a missing number as "None" whatever the
    formatting, and 0.xxx strings sort like the numbers.
    """
    value = test_metric(run, name)
    return MISSING if math.isnan(value) else f"{value:.3f}"


def epoch_text(status: dict) -> str:
    """``epoch 2 of 5``: the same words in the live panel and in the run table."""
    epoch, total = status.get("epoch"), status.get("epochs")
    return f"epoch {epoch} of {total}" if epoch and total else "starting"


def elapsed_s(run: run_folders.Run) -> float | None:
    """Seconds since the run started, from the clock (the trainer writes only per batch)."""
    started = run.status.get("started")
    if run.state == "running" and isinstance(started, int | float):
        return max(0.0, time.time() - started)
    return run.status.get("elapsed_s")


def signature(all_runs: list[run_folders.Run]) -> tuple:
    """What the run list below depends on: the queued and running runs and their states."""
    return tuple(
        (run.name, run.state) for run in all_runs if run.state in training_queue.ACTIVE_STATES
    )


def precision_text(status: dict) -> str:
    """`` · computing in float32 (why)`` for the status line, or "" before it is known."""
    chosen = status.get("training_precision")
    if not chosen:
        return ""
    why = status.get("precision_reason")
    return f" · computing in {chosen}" + (f" ({why})" if why else "")


def eta_text(status: dict) -> str:
    """The running phase's ETA with its range and time per epoch, and where its rate comes from.

    Timed steps of this run give it; before they do, earlier runs on this machine.
    """
    eta = status.get("eta_s")
    if eta is None:
        return "ETA after the first batches (the first ones include TensorFlow's warm-up)"
    text = f"ETA {duration(eta)} (this phase"
    low, high = status.get("eta_low_s"), status.get("eta_high_s")
    if low is not None and high is not None:
        text += f"; {duration(low)} to {duration(high)}"
    text += ", early stopping may end sooner)"
    if status.get("epoch_s"):
        text += f" · {duration(status['epoch_s'])} per epoch"
    if status.get("eta_source"):
        text += f" · until this run's steps are timed, from earlier runs: {status['eta_source']}"
    return text


def show_running(run: run_folders.Run) -> None:
    """Progress bars, a ticking clock, the phase ETA and the curves of the running run."""
    status = run.status
    st.markdown(f"**Training `{run.name}`** ({model_label(run.model)}) — {status.get('phase', '')}")
    epoch, epochs_total = status.get("epoch"), status.get("epochs")
    batch, batches = status.get("batch"), status.get("batches")
    history = run.history()
    if epoch and epochs_total:
        # Completed epochs are the ones in history.json; early stopping may end sooner.
        done = min(1.0, len(history.get("loss", [])) / epochs_total)
        st.progress(done, text=f"{epoch_text(status).capitalize()} (at most)")
    else:
        st.progress(0.0, text="Starting: loading the images and building the model...")
    if batch is not None and batches:
        text = decoding_text(status) or f"Batch {batch} of {batches}"
        st.progress(min(1.0, batch / batches), text=text)
    st.caption(
        f"Elapsed {duration(elapsed_s(run))} · "
        + eta_text(status)
        + precision_text(status)
        + (f" · training on {distribute.devices_text(status)}" if "devices_used" in status else "")
    )
    figure = figures.training_curves({run.name: history}, figures.run_colours([run.name]))
    if figure is not None:
        st.plotly_chart(figure, key=f"train_curves_{run.name}")
    cancel_control(run)


def show_last_ended(all_runs: list[run_folders.Run]) -> None:
    """When nothing trains: the newest run that ended, its curves and where its results are."""
    st.caption("No run is training or waiting.")
    ended = [run for run in all_runs if run.state not in training_queue.ACTIVE_STATES]
    if not ended:
        return
    last = max(ended, key=lambda run: (run.status.get("created") or 0, run.name))
    if last.finished:
        judged = learning.of_record(last.metrics, last.history(), last.config)
        text = (
            f"The last run, `{last.name}` ({model_label(last.model)}), finished: test accuracy "
            f"{metric_text(last, 'accuracy')}, AUC {metric_text(last, 'auc')}. {judged.text}"
            + (f" Trained on: {used}." if (used := distribute.devices_text(last.metrics)) else "")
        )
        show = st.success if judged.learned else st.warning
        (st.info if judged.verdict == learning.UNKNOWN else show)(text)
        st.page_link(
            "app_pages/compare.py",
            label="See its results on the Compare page",
            icon="⚖️",
        )
        colours = figures.run_colours([last.name])
        figure = figures.training_curves({last.name: last.history()}, colours)
        if figure is not None:
            st.plotly_chart(figure, key=f"train_curves_last_{last.name}")
    elif last.state == "cancelled":
        # Its curves stay on screen: what it learned before the cancel is still worth a look.
        st.caption(f"The last run, `{last.name}`, was {resume_view.cancelled_text(last)}.")
        colours = figures.run_colours([last.name])
        figure = figures.training_curves({last.name: last.history()}, colours)
        if figure is not None:
            st.plotly_chart(figure, key=f"train_curves_last_{last.name}")
    else:
        st.caption(f"The last run, `{last.name}`, ended {last.state}.")


def show_queue(
    running: list[run_folders.Run], waiting: list[run_folders.Run], all_runs: list[run_folders.Run]
) -> None:
    """The waiting runs in order, and the time left for the whole queue."""
    finished = [run for run in all_runs if run.finished]
    eta = run_queue.queue_eta(running, waiting, finished, records=throughput.load_records())
    known = eta.runs - eta.unknown
    text = f"**Whole queue** ({eta.runs} run(s)): "
    if known == 0:
        text += "time left not known yet (no earlier run of these models to learn speeds from)."
    else:
        text += f"about {duration(eta.seconds)} left"
        text += (
            f" for {known} of them; {eta.unknown} not estimated yet."
            if eta.unknown
            else " (queued runs estimated from earlier runs; early stopping may end sooner)."
        )
    st.markdown(text)
    if waiting:
        st.markdown(
            f"**Queue** — {plural(len(waiting), 'run')} waiting; only one run trains at a time on "
            "this machine, the next starts when the current one ends."
        )
        for position, run in enumerate(waiting, start=1):
            column_text, column_button = st.columns([4, 1])
            column_text.write(f"#{position} `{run.name}` ({model_label(run.model)})")
            if column_button.button("Cancel", key=f"train_cancel_{run.name}"):
                training_queue.cancel(run.path)
                st.rerun()


def details_width(rows: list[dict]) -> int:
    """Pixels for the run table's details column to show its longest text whole."""
    longest = max((len(str(row["details"])) for row in rows), default=0)
    return max(DETAILS_MIN_PX, min(DETAILS_MAX_PX, round(longest * PX_PER_CHAR) + 24))


def runs_table(all_runs: list[run_folders.Run]) -> None:
    """Every run, newest first, read at the same moment as the live panel above it."""
    st.subheader("All runs")
    if not all_runs:
        st.info("No runs yet. Choose a model and press **Start training**.")
        return
    rows = []
    for run in all_runs:
        status = run.status
        detail = ""
        shown_state = run.state
        if run.state == "queued":
            shown_state = f"queued (#{training_queue.queue_position(run, all_runs)})"
        elif run.state == "running":
            detail = epoch_text(status)
        elif run.state == "failed":
            detail = status.get("error") or "failed (no error recorded)"
        elif run.state == "broken":
            detail = "; ".join(run.errors)
        elif run.state == "cancelled":
            detail = resume_view.cancelled_text(run) + (
                f". Resume: {resume_view.resume_text(run)}." if resume_view.can_resume(run) else ""
            )
        elif run.state in run_folders.RESUMABLE_STATES:
            detail = f"{status.get('error') or ''} Resume: {resume_view.resume_text(run)}."
        elif run.finished:
            judged = learning.of_record(run.metrics)
            weights = (run.metrics or {}).get("weights_message") or ""
            detail = weights if judged.learned else f"{judged.label}. {weights}".strip()
        rows.append(
            {
                "run": run.name,
                "model": model_label(run.model),
                "state": shown_state,
                "created": when(status.get("created")),
                "train images": run.config.get("train_size"),
                "image size": run.config.get("image_size"),
                "test accuracy": metric_text(run, "accuracy"),
                "test AUC": metric_text(run, "auc"),
                "trained on": distribute.devices_text(run.metrics or status),
                "details": detail,
            }
        )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "run": st.column_config.TextColumn("run", pinned=True),
            # As wide as its longest text ("ImageNet weights unavailable — trained from
            # scratch", errors): a grid cell never wraps, so a narrower one cuts it off.
            "details": st.column_config.TextColumn("details", width=details_width(rows)),
        },
    )
    for run in all_runs:
        if run.state == "failed" and run.status.get("log_tail"):
            with st.expander(f"Log of the failed run {run.name}"):
                st.code(run.status["log_tail"])
    st.caption(f"Last checked {time.strftime('%H:%M:%S')}.")


def live_panel() -> None:
    """Progress, the queue and the run table; reruns itself while anything is active."""
    all_runs = training_queue.refresh_states()
    if signature(all_runs) != st.session_state.get("train_signature"):
        st.rerun()  # a run started, ended or left the queue: redraw the whole page
    running = training_queue.running_runs(all_runs)
    waiting = training_queue.queued_runs(all_runs)
    if not running and not waiting:
        show_last_ended(all_runs)
    else:
        for run in running:
            show_running(run)
        show_queue(running, waiting, all_runs)
    resume_view.show_interrupted(all_runs)
    runs_table(all_runs)
