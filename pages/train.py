"""Train: choose a detector and a subset, start a run, watch it learn, see every run.

The page only writes run configurations and reads run folders; training happens in
a background worker process (core.jobs), one run at a time, so a reload or a second
tab neither stops nor duplicates it. This page never imports TensorFlow.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import jobs, runs
from core.config import DEFAULT_IMAGE_SIZE, TrainConfig
from core.models import registry
from core.models.registry import list_models
from ui import common
from ui.model_options import model_options

ALL_MODELS = "all"
POLL_S = 1.5
LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
SPLIT_FIELDS = {"Train": "train_size", "Validation": "val_size", "Test": "test_size"}
DEFAULT_SUBSET = {"Train": 400, "Validation": 100, "Test": 100}
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


def test_metric(run: runs.Run, name: str) -> float | None:
    """A test-set metric of a finished run (flat or under "test" in metrics.json)."""
    metrics = run.metrics or {}
    value = metrics.get(name, (metrics.get("test") or {}).get(name))
    return value if isinstance(value, int | float) else None


def signature(all_runs: list[runs.Run]) -> tuple:
    """What the run list below depends on: the queued and running runs and their states."""
    return tuple((run.name, run.state) for run in all_runs if run.state in jobs.ACTIVE_STATES)


# --- inputs ------------------------------------------------------------------

st.title("🏋️ Train a detector")
st.caption(
    "Pick a model and a subset, press Start, and watch it learn. On this machine only "
    "one run trains at a time; further runs wait in a queue and start by themselves."
)

choice, index = common.dataset_or_stop()

counts = {split: sum(by_class.values()) for split, by_class in index.counts().items()}
missing = [split for split in SPLIT_FIELDS if counts.get(split, 0) < 2]
if missing:
    st.info(
        f"This dataset has no usable {', '.join(missing)} split (at least 2 images needed). "
        "Choose a dataset with Train, Validation and Test folders in the sidebar."
    )
    st.stop()

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
default_size = max(spec.default_image_size for spec in specs) if len(specs) == 1 else None
image_size = int(
    left.number_input(
        "Image size (px)",
        min_value=8,
        max_value=512,
        value=max(default_size or DEFAULT_IMAGE_SIZE, minimum_size),
        step=8,
        key="train_image_size",
        help=f"Square model input. Smallest accepted: {minimum_size} px for this choice.",
    )
)
epochs = int(middle.number_input("Epochs (max)", 1, 500, TrainConfig.epochs, key="train_epochs"))
batch_size = int(right.number_input("Batch size", 1, 1024, 32, key="train_batch_size"))
left, middle, right = st.columns(3)
learning_rate = left.select_slider(
    "Learning rate", LEARNING_RATES, value=1e-3, format_func=lambda v: f"{v:g}", key="train_lr"
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


def build_configs() -> tuple[list[TrainConfig], list[str]]:
    """Turn the inputs into one config per model, or the reasons they cannot train."""
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
    return configs, problems


if st.button("Start training", type="primary", key="train_start"):
    configs, problems = build_configs()
    if problems:
        for problem in problems:
            st.error(problem)
        st.caption("Nothing was started.")
    else:
        busy = any(run.state in jobs.ACTIVE_STATES for run in jobs.refresh_states())
        folders = jobs.submit_many(configs)
        names = ", ".join(f"`{folder.name}`" for folder in folders)
        if busy or len(folders) > 1:
            st.success(
                f"Queued {names}. Only one run trains at a time on this machine; "
                "queued runs start by themselves, in order."
            )
        else:
            st.success(f"Started {names}.")


# --- live progress -----------------------------------------------------------


def curves(history: dict[str, list[float]]) -> go.Figure | None:
    """Loss, accuracy and AUC per epoch, train (solid) and validation (dashed)."""
    if not history.get("loss"):
        return None
    figure = go.Figure()
    for metric, colour in (("loss", "#d62728"), ("accuracy", "#1f77b4"), ("auc", "#2ca02c")):
        for prefix, dash in (("", "solid"), ("val_", "dash")):
            values = history.get(prefix + metric)
            if values:
                figure.add_scatter(
                    x=list(range(1, len(values) + 1)),
                    y=values,
                    mode="lines+markers",
                    name=("validation " if prefix else "train ") + metric,
                    line={"color": colour, "dash": dash},
                )
    figure.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title="epoch",
        title="Per-epoch curves (solid: train, dashed: validation)",
    )
    figure.update_xaxes(dtick=1)
    return figure


def show_running(run: runs.Run) -> None:
    """Progress, curves and the Cancel button of the running run."""
    status = run.status
    st.markdown(f"**Training `{run.name}`** ({model_label(run.model)}) — {status.get('phase', '')}")
    epoch, epochs_total = status.get("epoch"), status.get("epochs")
    batch, batches = status.get("batch"), status.get("batches")
    history = run.history()
    if epoch and epochs_total:
        # Completed epochs are the ones in history.json; early stopping may end sooner.
        done = min(1.0, len(history.get("loss", [])) / epochs_total)
        st.progress(done, text=f"Epoch {epoch} of {epochs_total} (at most)")
    else:
        st.progress(0.0, text="Starting: loading the images and building the model...")
    if batch is not None and batches:
        st.progress(min(1.0, batch / batches), text=f"Batch {batch} of {batches}")
    elapsed = status.get("elapsed_s")
    st.caption(
        f"Elapsed {duration(elapsed) if elapsed is not None else '—'} · "
        f"ETA {duration(status.get('eta_s'))} (this phase)"
        + (
            f" · computing in {status['training_precision']}"
            if status.get("training_precision")
            else ""
        )
    )
    figure = curves(history)
    if figure is not None:
        st.plotly_chart(figure, key=f"train_curves_{run.name}")
    if runs.cancel_requested(run.path):
        st.warning("Cancel requested; the run stops at the end of the current batch.")
    elif st.button("Cancel this run", key=f"train_cancel_{run.name}"):
        jobs.cancel(run.path)
        st.rerun()


def live_panel() -> None:
    """Progress of the running run and the queue; reruns itself while anything is active."""
    all_runs = jobs.refresh_states()
    if signature(all_runs) != st.session_state.get("train_signature"):
        st.rerun()  # a run started, ended or left the queue: redraw the whole page
    running = jobs.running_runs(all_runs)
    waiting = jobs.queued_runs(all_runs)
    if not running and not waiting:
        st.caption("No run is training or waiting.")
        return
    for run in running:
        show_running(run)
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


st.subheader("Now training")
all_runs = jobs.refresh_states()
st.session_state["train_signature"] = signature(all_runs)
active = bool(st.session_state["train_signature"])
# Poll only while something is queued or running; when it all ends the fragment
# triggers a full rerun, which redefines it without run_every.
st.fragment(live_panel, run_every=POLL_S if active else None)()


# --- all runs ----------------------------------------------------------------

st.subheader("All runs")
if not all_runs:
    st.info("No runs yet. Choose a model and press **Start training**.")
    st.stop()

rows = []
for run in all_runs:
    status = run.status
    detail = ""
    shown_state = run.state
    if run.state == "queued":
        shown_state = f"queued (#{jobs.queue_position(run, all_runs)})"
    elif run.state == "running":
        detail = f"epoch {status.get('epoch') or '-'} of {status.get('epochs') or '-'}"
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
            "test accuracy": test_metric(run, "accuracy"),
            "test AUC": test_metric(run, "auc"),
            "details": detail,
        }
    )
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    column_config={
        "test accuracy": st.column_config.NumberColumn(format="%.3f"),
        "test AUC": st.column_config.NumberColumn(format="%.3f"),
    },
)
for run in all_runs:
    if run.state == "failed" and run.status.get("log_tail"):
        with st.expander(f"Log of the failed run {run.name}"):
            st.code(run.status["log_tail"])
st.caption(f"Last checked {time.strftime('%H:%M:%S')}.")
