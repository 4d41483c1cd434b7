"""Train: choose a detector and a subset, start a run, watch it learn, see every run.

The page only writes run configurations and reads run folders; training happens in
a background worker process (core.jobs), one run at a time, so a reload or a second
tab neither stops nor duplicates it. This page never imports TensorFlow.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from core import jobs, run_queue, runs
from core.config import DEFAULT_IMAGE_SIZE, TrainConfig
from core.models import registry
from core.models.registry import list_models
from ui import charts, common
from ui.model_options import model_options

ALL_MODELS = "all"
POLL_S = 1.5
LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
SPLIT_FIELDS = {"Train": "train_size", "Validation": "val_size", "Test": "test_size"}
DEFAULT_SUBSET = {"Train": 400, "Validation": 100, "Test": 100}
FEEDBACK = "train_feedback"  # (kind, text) of the last Start: shown until the next one
PENDING = "train_pending_duplicates"  # configs waiting for "queue anyway"
LAST_SIZE = "train_image_size_last"  # the size typed, kept when the model choice changes
MISSING = "—"  # a metric the run does not have (yet)
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


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


def test_metric(run: runs.Run, name: str) -> float:
    """A test-set metric of a finished run (flat or under "test" in metrics.json); NaN if none."""
    metrics = run.metrics or {}
    value = metrics.get(name, (metrics.get("test") or {}).get(name))
    return float(value) if isinstance(value, int | float) else math.nan


def metric_text(run: runs.Run, name: str) -> str:
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


def elapsed_s(run: runs.Run) -> float | None:
    """Seconds since the run started, from the clock (the trainer writes only per batch)."""
    started = run.status.get("started")
    if run.state == "running" and isinstance(started, int | float):
        return max(0.0, time.time() - started)
    return run.status.get("elapsed_s")


def signature(all_runs: list[runs.Run]) -> tuple:
    """What the run list below depends on: the queued and running runs and their states."""
    return tuple((run.name, run.state) for run in all_runs if run.state in jobs.ACTIVE_STATES)


# --- inputs ------------------------------------------------------------------


def training_form(choice: common.DatasetChoice, index, counts: dict[str, int]) -> None:
    """The settings, checked live against the chosen model(s), and the Start button."""
    model = st.selectbox(
        "Model",
        [*list_models(), ALL_MODELS],
        format_func=model_label,
        key="train_model",
        help="'All' queues every model on the same subset and seed, for a fair comparison.",
    )
    models = list_models() if model == ALL_MODELS else [model]

    st.markdown("**Subset sizes** (images drawn per split, stratified by class)")
    size_columns = st.columns(3)
    sizes: dict[str, int] = {}
    by_class = index.counts()
    for column, split in zip(size_columns, SPLIT_FIELDS, strict=True):
        sizes[split] = int(
            column.number_input(
                f"{split} images",
                min_value=2,
                value=min(counts[split], DEFAULT_SUBSET[split]),
                step=10,
                key=f"train_size_{split.lower()}",
            )
        )
        column.caption(
            f"Available: {counts[split]:,} (Real {by_class[split]['Real']:,} · "
            f"Fake {by_class[split]['Fake']:,})"
        )

    left, middle, right = st.columns(3)
    specs = [registry.get_spec(name) for name in models]
    minimum_size = max(spec.min_image_size for spec in specs)
    default_size = specs[0].default_image_size if len(specs) == 1 else DEFAULT_IMAGE_SIZE
    # The widget's own minimum follows the models; changing the choice makes a new widget,
    # which starts from the size typed before (raised to the new minimum if needed).
    image_size = int(
        left.number_input(
            "Image size (px)",
            min_value=minimum_size,
            max_value=512,
            value=max(st.session_state.get(LAST_SIZE, default_size), minimum_size),
            step=8,
            key="train_image_size",
            help=f"Square model input. Smallest accepted: {minimum_size} px for "
            + ", ".join(f"{spec.display_name} ({spec.min_image_size})" for spec in specs)
            + ".",
        )
    )
    st.session_state[LAST_SIZE] = image_size
    epochs = int(
        middle.number_input("Epochs (max)", 1, 500, TrainConfig.epochs, key="train_epochs")
    )
    batch_size = int(right.number_input("Batch size", 1, 1024, 32, key="train_batch_size"))
    left, middle, right = st.columns(3)
    learning_rate = left.select_slider(
        "Learning rate",
        LEARNING_RATES,
        value=1e-3,
        format_func=lambda v: f"{v:g}",
        key="train_lr",
    )
    seed = int(middle.number_input("Seed", 0, 2**31 - 1, 42, key="train_seed"))
    class_weight = right.radio(
        "Class weighting",
        ["auto", "on", "off"],
        horizontal=True,
        key="train_class_weight",
        help="auto: weight the classes when the training subset is imbalanced.",
    )
    augment = st.checkbox("Augmentation (random horizontal flips)", value=True, key="train_augment")

    choices = model_options(specs)

    # Every field is checked against every chosen model before Start, on each change.
    problems = [
        f"The {split} subset ({sizes[split]:,}) is larger than the {split} split "
        f"({counts[split]:,} images); choose at most {counts[split]:,}."
        for split in SPLIT_FIELDS
        if sizes[split] > counts[split]
    ]
    for weights_path in choices.weights_paths.values():
        if weights_path and not Path(weights_path).expanduser().is_file():
            problems.append(
                f"Weights file not found: {weights_path}. Check the path or leave it empty."
            )
    configs = []
    for name in models:
        try:
            configs.append(
                TrainConfig(
                    model=name,
                    data_dir=None if choice.is_demo else str(choice.path),
                    image_size=image_size,
                    train_size=sizes["Train"],
                    val_size=sizes["Validation"],
                    test_size=sizes["Test"],
                    epochs=epochs,
                    batch_size=batch_size,
                    learning_rate=float(learning_rate),
                    seed=seed,
                    augment=augment,
                    class_weight=class_weight,
                    fine_tune_epochs=choices.fine_tune_epochs.get(name, 0),
                    weights_path=choices.weights_paths.get(name) or None,
                    options=choices.options.get(name, {}),
                )
            )
        except ValueError as error:  # TrainConfig.problems(), joined
            problems.append(f"{registry.display_name(name)}: {error}")
    for problem in problems:
        st.error(problem)

    start = st.button(
        "Start training",
        type="primary",
        key="train_start",
        disabled=bool(problems),
        help="Fix the settings above first." if problems else None,
    )
    wanted = [config.to_dict() for config in configs]
    pending = st.session_state.get(PENDING)
    if pending is not None and pending != wanted:
        st.session_state.pop(PENDING)  # the settings changed since the question was asked
        pending = None
    if start and not problems:
        same = [
            run for config in configs for run in run_queue.duplicates(config, jobs.refresh_states())
        ]
        if same:
            st.session_state[PENDING] = pending = wanted
        else:
            submit(configs)
    if pending is not None:
        ask_about_duplicates(configs)
    feedback = st.session_state.get(FEEDBACK)
    if feedback:
        kind, text = feedback
        (st.success if kind == "success" else st.info)(text)


def submit(configs: list[TrainConfig]) -> None:
    """Queue the runs and say so: a toast, and a status line that stays until next time."""
    busy = any(run.state in jobs.ACTIVE_STATES for run in jobs.refresh_states())
    folders = jobs.submit_many(configs)
    names = ", ".join(f"`{folder.name}`" for folder in folders)
    if busy or len(folders) > 1:
        text = (
            f"Queued {names} at {time.strftime('%H:%M:%S')}. Only one run trains at a time "
            "on this machine; queued runs start by themselves, in order. Progress: "
            "**Now training** below."
        )
    else:
        text = f"Started {names} at {time.strftime('%H:%M:%S')}. Progress: **Now training** below."
    st.session_state[FEEDBACK] = ("success", text)
    st.toast(text.split(". ")[0] + ".", icon="🏋️")


def ask_about_duplicates(configs: list[TrainConfig]) -> None:
    """Ask before queueing a run identical to one queued, running or finished."""
    all_runs = jobs.refresh_states()
    same = [run for config in configs for run in run_queue.duplicates(config, all_runs)]
    listed = ", ".join(f"`{run.name}` ({run.state})" for run in same)
    st.warning(
        f"An identical run already exists: {listed}. Same model, data, subset, seed and "
        "settings give the same result; change the seed to get another sample. "
        "Queue it anyway?"
    )
    yes, no = st.columns([1, 1])
    if yes.button("Queue it anyway", key="train_duplicate_yes"):
        st.session_state.pop(PENDING, None)
        submit(configs)
        st.rerun()
    if no.button("Don't queue", key="train_duplicate_no"):
        st.session_state.pop(PENDING, None)
        st.session_state[FEEDBACK] = ("info", "Nothing was queued.")
        st.rerun()


st.title("🏋️ Train a detector")
st.caption(
    "Pick a model and a subset, press Start, and watch it learn. On this machine only "
    "one run trains at a time; further runs wait in a queue and start by themselves."
)

choice, index = common.dataset_or_stop()
counts = {split: sum(by_class.values()) for split, by_class in index.counts().items()}
missing = [split for split in SPLIT_FIELDS if counts.get(split, 0) < 2]
if missing:
    # No st.stop(): the runs below can still be watched and read.
    st.info(
        f"This dataset has no usable {', '.join(missing)} split (at least 2 images needed), "
        "so it cannot train a model. Choose a dataset with Train, Validation and Test "
        "folders in the sidebar; the runs below are still shown."
    )
else:
    training_form(choice, index, counts)


# --- live progress and all runs ----------------------------------------------


def show_running(run: runs.Run) -> None:
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
        st.progress(min(1.0, batch / batches), text=f"Batch {batch} of {batches}")
    eta = status.get("eta_s")
    st.caption(
        f"Elapsed {duration(elapsed_s(run))} · "
        + (
            f"ETA {duration(eta)} (this phase)"
            if eta is not None
            else "ETA after the first batches (the first ones include TensorFlow's warm-up)"
        )
        + (
            f" · computing in {status['training_precision']}"
            if status.get("training_precision")
            else ""
        )
    )
    figure = charts.training_curves({run.name: history}, charts.run_colours([run.name]))
    if figure is not None:
        st.plotly_chart(figure, key=f"train_curves_{run.name}")
    if runs.cancel_requested(run.path):
        st.warning("Cancel requested; the run stops at the end of the current batch.")
    elif st.button("Cancel this run", key=f"train_cancel_{run.name}"):
        jobs.cancel(run.path)
        st.rerun()


def show_last_ended(all_runs: list[runs.Run]) -> None:
    """When nothing trains: the newest run that ended, its curves and where its results are."""
    st.caption("No run is training or waiting.")
    ended = [run for run in all_runs if run.state not in jobs.ACTIVE_STATES]
    if not ended:
        return
    last = max(ended, key=lambda run: (run.status.get("created") or 0, run.name))
    if last.finished:
        st.success(
            f"The last run, `{last.name}` ({model_label(last.model)}), finished: test accuracy "
            f"{metric_text(last, 'accuracy')}, AUC {metric_text(last, 'auc')}."
        )
        st.page_link(
            "pages/compare.py",
            label="See its results on the Compare page",
            icon="⚖️",
        )
        colours = charts.run_colours([last.name])
        figure = charts.training_curves({last.name: last.history()}, colours)
        if figure is not None:
            st.plotly_chart(figure, key=f"train_curves_last_{last.name}")
    else:
        st.caption(f"The last run, `{last.name}`, ended {last.state}.")


def show_queue(running: list[runs.Run], waiting: list[runs.Run], all_runs: list[runs.Run]) -> None:
    """The waiting runs in order, and the time left for the whole queue."""
    finished = [run for run in all_runs if run.finished]
    eta = run_queue.queue_eta(running, waiting, finished)
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
            f"**Queue** — {len(waiting)} run(s) waiting; only one run trains at a time on "
            "this machine, the next starts when the current one ends."
        )
        for position, run in enumerate(waiting, start=1):
            column_text, column_button = st.columns([4, 1])
            column_text.write(f"#{position} `{run.name}` ({model_label(run.model)})")
            if column_button.button("Cancel", key=f"train_cancel_{run.name}"):
                jobs.cancel(run.path)
                st.rerun()


def runs_table(all_runs: list[runs.Run]) -> None:
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
            shown_state = f"queued (#{jobs.queue_position(run, all_runs)})"
        elif run.state == "running":
            detail = epoch_text(status)
        elif run.state == "failed":
            detail = status.get("error") or "failed (no error recorded)"
        elif run.state == "broken":
            detail = "; ".join(run.errors)
        elif run.state == "cancelled":
            detail = "cancelled by the user"
        elif run.finished:
            detail = (run.metrics or {}).get("weights_message") or ""
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
                "details": detail,
            }
        )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "run": st.column_config.TextColumn("run", pinned=True),
            # Room for "ImageNet weights unavailable — trained from scratch" and errors.
            "details": st.column_config.TextColumn("details", width="large"),
        },
    )
    for run in all_runs:
        if run.state == "failed" and run.status.get("log_tail"):
            with st.expander(f"Log of the failed run {run.name}"):
                st.code(run.status["log_tail"])
    st.caption(f"Last checked {time.strftime('%H:%M:%S')}.")


def live_panel() -> None:
    """Progress, the queue and the run table; reruns itself while anything is active."""
    all_runs = jobs.refresh_states()
    if signature(all_runs) != st.session_state.get("train_signature"):
        st.rerun()  # a run started, ended or left the queue: redraw the whole page
    running = jobs.running_runs(all_runs)
    waiting = jobs.queued_runs(all_runs)
    if not running and not waiting:
        show_last_ended(all_runs)
    else:
        for run in running:
            show_running(run)
        show_queue(running, waiting, all_runs)
    runs_table(all_runs)


st.subheader("Now training")
all_runs = jobs.refresh_states()
st.session_state["train_signature"] = signature(all_runs)
active = bool(st.session_state["train_signature"])
# Poll only while something is queued or running; when it all ends the fragment
# triggers a full rerun, which redefines it without run_every.
st.fragment(live_panel, run_every=POLL_S if active else None)()
