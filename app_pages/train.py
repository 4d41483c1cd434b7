"""Train: choose a detector and a subset, start a run, watch it learn, see every run.

The page only writes run configurations and reads run folders; training happens in
a background worker process (core.jobs.training_queue), one run at a time, so a reload
or a second tab neither stops nor duplicates it. This page never imports TensorFlow.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from core.jobs import run_queue, training_queue
from core.models import registry
from core.models.registry import list_models
from core.runs.config import DEFAULT_IMAGE_SIZE, TrainConfig
from ui import common
from ui.cancel_view import CANCEL_FEEDBACK, cancel_feedback
from ui.estimate_view import run_estimates
from ui.fakes_from_view import fakes_from_choice
from ui.memory_view import memory_check
from ui.model_options import model_options
from ui.store_view import stores_panel
from ui.train_view import ALL_MODELS, live_panel, model_label, signature

POLL_S = 1.5
LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
SPLIT_FIELDS = {"Train": "train_size", "Validation": "val_size", "Test": "test_size"}
DEFAULT_SUBSET = {"Train": 400, "Validation": 100, "Test": 100}
FEEDBACK = "train_feedback"  # (kind, text) of the last Start: shown until the next one
PENDING = "train_pending_duplicates"  # configs waiting for "queue anyway"
LAST_SIZE = "train_image_size_last"  # the size typed, kept when the model choice changes


# --- inputs ------------------------------------------------------------------


def _subset_sizes(index, counts: dict[str, int]) -> dict[str, int]:
    """The three subset-size fields, each with what is available under it."""
    st.markdown("**Subset sizes** (images drawn per split, stratified by class)")
    sizes: dict[str, int] = {}
    by_class = index.counts()
    for column, split in zip(st.columns(3), SPLIT_FIELDS, strict=True):
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
    return sizes


def _image_size(specs: list) -> int:
    """The image-size field, whose minimum follows the chosen models."""
    minimum_size = max(spec.min_image_size for spec in specs)
    default_size = specs[0].default_image_size if len(specs) == 1 else DEFAULT_IMAGE_SIZE
    # Changing the model choice makes a new widget, which starts from the size typed
    # before (raised to the new minimum if needed).
    image_size = int(
        st.number_input(
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
    return image_size


def _settings(specs: list) -> dict:
    """Image size, epochs, batch size, learning rate, seed, class weights, augmentation."""
    left, middle, right = st.columns(3)
    with left:
        image_size = _image_size(specs)
    epochs = middle.number_input("Epochs (max)", 1, 500, TrainConfig.epochs, key="train_epochs")
    batch_size = right.number_input("Batch size", 1, 1024, 32, key="train_batch_size")
    left, middle, right = st.columns(3)
    learning_rate = left.select_slider(
        "Learning rate", LEARNING_RATES, value=1e-3, format_func=lambda v: f"{v:g}", key="train_lr"
    )
    seed = middle.number_input("Seed", 0, 2**31 - 1, 42, key="train_seed")
    class_weight = right.radio(
        "Class weighting",
        ["auto", "on", "off"],
        horizontal=True,
        key="train_class_weight",
        help="auto: weight the classes when the training subset is imbalanced.",
    )
    augment = st.checkbox("Augmentation (random horizontal flips)", value=True, key="train_augment")
    return {
        "image_size": image_size,
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "learning_rate": float(learning_rate),
        "seed": int(seed),
        "class_weight": class_weight,
        "augment": augment,
    }


def _configs(
    models: list[str], choice: common.DatasetChoice, fields: dict, choices
) -> tuple[list[TrainConfig], list[str]]:
    """One config per chosen model, and every reason the settings cannot work."""
    configs, problems = [], []
    for weights_path in choices.weights_paths.values():
        if weights_path and not Path(weights_path).expanduser().is_file():
            problems.append(
                f"Weights file not found: {weights_path}. Check the path or leave it empty."
            )
    for name in models:
        try:
            configs.append(
                TrainConfig(
                    model=name,
                    data_dir=None if choice.is_demo else str(choice.path),
                    fine_tune_epochs=choices.fine_tune_epochs.get(name, 0),
                    weights_path=choices.weights_paths.get(name) or None,
                    options=choices.options.get(name, {}),
                    **fields,
                )
            )
        except ValueError as error:  # TrainConfig.problems(), joined
            problems.append(f"{registry.display_name(name)}: {error}")
    return configs, problems


def training_form(
    choice: common.DatasetChoice, index, counts: dict[str, int], all_runs: list
) -> None:
    """The settings, checked live against the chosen model(s), and the Start button."""
    model = st.selectbox(
        "Model",
        [*list_models(), ALL_MODELS],
        format_func=model_label,
        key="train_model",
        help="'All' queues every model on the same subset and seed, for a fair comparison.",
    )
    models = list_models() if model == ALL_MODELS else [model]
    sizes = _subset_sizes(index, counts)
    specs = [registry.get_spec(name) for name in models]
    fields = _settings(specs)
    fields["fakes_from"] = fakes_from_choice(index, fields["seed"])
    fields.update(train_size=sizes["Train"], val_size=sizes["Validation"], test_size=sizes["Test"])
    choices = model_options(specs)
    # Every field is checked against every chosen model before Start, on each change.
    problems = [
        f"The {split} subset ({sizes[split]:,}) is larger than the {split} split "
        f"({counts[split]:,} images); choose at most {counts[split]:,}."
        for split in SPLIT_FIELDS
        if sizes[split] > counts[split]
    ]
    configs, config_problems = _configs(models, choice, fields, choices)
    seeds = int(
        st.number_input(
            "Seeds (the same run repeated)",
            1,
            10,
            1,
            key="train_seeds",
            help="Train each chosen model this many times on the same files with seeds "
            "SEED, SEED+1, ...: Compare shows them as one experiment, mean ± standard "
            "deviation. One seed cannot rank models: the seed alone can move a model's test "
            "AUC more than most gaps between models (README, 'Repeat with seeds').",
        )
    )
    configs = [repeat for config in configs for repeat in config.with_seeds(seeds)]
    problems += config_problems + memory_check(configs)
    for problem in problems:
        st.error(problem)
    label = f"**{choice.label}**" if choice.is_demo else f"`{choice.label}`"
    if configs and not problems:
        run_estimates(configs, all_runs)
    start_button(configs, problems, all_runs, f"{label} ({index.total:,} images)")


def start_button(
    configs: list[TrainConfig], problems: list[str], all_runs: list, dataset: str
) -> None:
    """Start training, asking first when an identical run exists; then what happened.

    The dataset is named beside the button, so nobody starts a run on the wrong data.
    """
    button_column, dataset_column = st.columns([1, 4], vertical_alignment="center")
    start = button_column.button(
        "Start training",
        type="primary",
        key="train_start",
        disabled=bool(problems),
        help="Fix the settings above first." if problems else None,
    )
    dataset_column.markdown(f"on {dataset}", help="Change it in the sidebar's Dataset folder.")
    wanted = [config.to_dict() for config in configs]
    pending = st.session_state.get(PENDING)
    if pending is not None and pending != wanted:
        st.session_state.pop(PENDING)  # the settings changed since the question was asked
        pending = None
    if start and not problems:
        same = [run for config in configs for run in run_queue.duplicates(config, all_runs)]
        if same:
            st.session_state[PENDING] = pending = wanted
        else:
            submit(configs, all_runs)
    if pending is not None:
        ask_about_duplicates(configs, all_runs)
    cancelled = cancel_feedback(all_runs)  # a Cancel since: where the run stopped
    feedback = ("info", cancelled) if cancelled else st.session_state.get(FEEDBACK)
    if feedback:
        kind, text = feedback
        (st.success if kind == "success" else st.info)(text)


def submit(configs: list[TrainConfig], all_runs: list) -> None:
    """Queue the runs and say so: a toast, and a status line that stays until next time."""
    busy = any(run.state in training_queue.ACTIVE_STATES for run in all_runs)
    folders = training_queue.submit_many(configs)
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
    st.session_state.pop(CANCEL_FEEDBACK, None)
    st.toast(text.split(". ")[0] + ".", icon="🏋️")


def ask_about_duplicates(configs: list[TrainConfig], all_runs: list) -> None:
    """Ask before queueing a run identical to one queued, running or finished."""
    same = [run for config in configs for run in run_queue.duplicates(config, all_runs)]
    listed = ", ".join(f"`{run.name}` ({run.state})" for run in same)
    states = {run.state for run in same}
    st.warning(
        f"An identical run already exists: {listed}. Same model, data, subset, seed and "
        "settings give the same result; change the seed to get another sample. "
        + ("Or resume the interrupted one below. " if "interrupted" in states else "")
        + "Queue it anyway?"
    )
    yes, no = st.columns([1, 1])
    if yes.button("Queue it anyway", key="train_duplicate_yes"):
        st.session_state.pop(PENDING, None)
        submit(configs, all_runs)
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
all_runs = training_queue.refresh_states()  # read once for the form
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
    training_form(choice, index, counts, all_runs)


st.subheader("Now training")
all_runs = training_queue.refresh_states()  # again: Start above may have queued runs
st.session_state["train_signature"] = signature(all_runs)
active = bool(st.session_state["train_signature"])
# Poll only while something is queued or running; when it all ends the fragment
# triggers a full rerun, which redefines it without run_every.
st.fragment(live_panel, run_every=POLL_S if active else None)()

with st.expander("Decoded-image stores"):
    stores_panel()
