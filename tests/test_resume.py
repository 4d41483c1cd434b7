"""Resumable runs: SIGKILL in epoch 3 then ``--resume``, half-written checkpoints,
a run killed before its first epoch ended, and a resume inside the fine-tuning phase.

No test looks at what training learned: only at values a resume must carry over
unchanged (the history of the epochs done before the kill, saved variables).
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from core import settings
from core.jobs import training_queue
from core.models.registry import ModelSpec, WeightsChoice, register, unregister
from core.runs import checkpoint_files, run_folders
from core.runs.config import TrainConfig
from core.training import checkpoint, cli
from core.training.trainer import train

#: A small CNN: two narrow blocks, no SRM channels (builds and traces in seconds).
SMALL_CNN = {"widths": "8,16", "high_pass": "false"}
#: What a straight run leaves in its folder (TensorBoard logs included).
RUN_FILES = {
    "config.json",
    "status.json",
    "history.json",
    "subsets.json",
    "model.keras",
    "metrics.json",
    "model_card.md",
    "tensorboard",
}


def run_files(folder: Path) -> set[str]:
    """The visible files of a run folder, less the fault-injection marker."""
    return {
        path.name
        for path in folder.iterdir()
        if not path.name.startswith(".") and not path.name.endswith(".paused")
    }


def assert_ended_clean(folder: Path, epochs: int) -> dict[str, list[float]]:
    """Finished, complete, every history list ``epochs`` long, no checkpoint left."""
    run = run_folders.load_run(folder)
    assert run.status["state"] == "finished" and run.finished, run.status
    assert run.metrics["epochs_run"] == epochs
    history = run_folders.read_json(folder / "history.json")
    assert {len(values) for values in history.values()} == {epochs}, history
    assert not checkpoint_files.saved(folder)
    assert not list(folder.glob(f"{checkpoint_files.TEMP_PREFIX}*"))
    assert run_files(folder) == RUN_FILES
    return history


def queued_run(config: TrainConfig) -> Path:
    folder = run_folders.new_run_dir(config.model)
    run_folders.write_json(folder / "config.json", config.to_dict())
    run_folders.set_status(folder, "queued", created=time.time())
    return folder


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"Timed out waiting for {what}.")


def trainer_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != checkpoint.FAULT_ENV}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


# --- (a) the target: SIGKILL during epoch 3 of 5, then --resume ----------------------


@pytest.mark.slow
def test_sigkill_in_epoch_3_then_resume_ends_with_5_epochs(tiny_dataset, tmp_path):
    config = TrainConfig(
        model="cnn",
        data_dir=str(tiny_dataset),
        image_size=32,
        epochs=5,
        batch_size=8,
        early_stopping_patience=5,
        seed=0,
        options=SMALL_CNN,
    )
    folder = queued_run(config)
    log = (tmp_path / "victim.log").open("w")
    victim = subprocess.Popen(
        [sys.executable, "-m", "core.training", "--run-dir", str(folder)],
        cwd=settings.REPO_ROOT,
        env=trainer_env(**{checkpoint.FAULT_ENV: "3:300"}),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        paused = folder / "epoch-3.paused"  # one batch of epoch 3 trained, then a pause
        wait_for(lambda: paused.exists() or victim.poll() is not None, 300, "epoch 3")
        assert victim.poll() is None, (tmp_path / "victim.log").read_text()[-3000:]
        before = run_folders.read_json(folder / "history.json")
        assert run_folders.read_json(folder / "status.json")["epoch"] == 3
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert {len(values) for values in before.values()} == {2}
    assert [path.name for path in checkpoint_files.saved(folder)] == ["checkpoint-0002"]
    listed = {run.name: run for run in training_queue.refresh_states()}  # what the Train page does
    assert listed[folder.name].state == "interrupted"
    assert checkpoint_files.resume_epoch(folder) == 2
    stored = checkpoint_files.latest(folder).arrays()

    probe = Probe()  # resumed in this process: a second TensorFlow start costs more than the run
    assert cli.resume(folder, callbacks=[probe]).state == "finished"
    probe.assert_restored(stored)  # batch-norm statistics and Adam's moments included
    history = assert_ended_clean(folder, 5)
    for key, values in before.items():  # epochs 1-2 carried over, not trained again
        assert history[key][:2] == values, key


def test_resume_refuses_a_run_that_is_not_interrupted(tiny_dataset):
    folder = queued_run(TrainConfig(model="cnn", data_dir=str(tiny_dataset)))
    with pytest.raises(checkpoint.ResumeError, match="is queued; only an interrupted or cancelled"):
        cli.resume(folder)
    from core.training.cli import main

    assert main(["--resume", str(folder)]) == 2
    assert run_folders.load_run(folder).state == "queued"


# --- (b) a checkpoint written halfway is never read ---------------------------------


def write_checkpoint(folder: Path, epoch: int) -> Path:
    arrays = {"model/0": np.full((3, 2), float(epoch)), "optimizer/0": np.arange(epoch + 1)}
    return checkpoint_files.write(folder, {"epoch": epoch, "phase": "training"}, arrays)


def test_a_save_killed_halfway_leaves_the_previous_checkpoint(tmp_path):
    first = write_checkpoint(tmp_path, 1)
    # A writer killed during the next save leaves its temporary folder, half-written.
    half = tmp_path / f"{checkpoint_files.TEMP_PREFIX}killed"
    shutil.copytree(first, half)
    (half / checkpoint_files.STATE_FILE).write_text('{"epoch": 2, "version": 1}')
    data = (half / checkpoint_files.ARRAYS_FILE).read_bytes()
    (half / checkpoint_files.ARRAYS_FILE).write_bytes(data[: len(data) // 2])
    found = checkpoint_files.latest(tmp_path)
    assert found is not None and found.path == first and found.epoch == 1
    assert found.arrays()["model/0"].tolist() == [[1.0, 1.0]] * 3
    # The next whole save replaces both.
    second = write_checkpoint(tmp_path, 2)
    assert checkpoint_files.latest(tmp_path).path == second
    assert {path.name for path in tmp_path.iterdir()} == {second.name}


def test_a_save_that_fails_midway_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    write_checkpoint(tmp_path, 1)

    def disk_full(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_checkpoint(tmp_path, 2)
    assert checkpoint_files.latest(tmp_path).epoch == 1
    assert [path.name for path in tmp_path.iterdir()] == ["checkpoint-0001"]


def test_a_damaged_checkpoint_is_skipped_for_an_older_one(tmp_path):
    first = write_checkpoint(tmp_path, 1)
    damaged = tmp_path / "checkpoint-0002"
    shutil.copytree(first, damaged)
    (damaged / checkpoint_files.ARRAYS_FILE).write_bytes(b"PK\x03\x04 cut short")
    assert checkpoint_files.latest(tmp_path).path == first
    shutil.rmtree(first)
    assert checkpoint_files.latest(tmp_path) is None  # nothing readable: start from scratch
    with pytest.raises(ValueError, match="unreadable"):
        checkpoint_files.read(damaged)


@pytest.mark.parametrize(
    ("error", "state"), [(KeyboardInterrupt(), "interrupted"), (ValueError("bad"), "failed")]
)
def test_ctrl_c_leaves_a_resumable_run_other_failures_do_not(tmp_path, error, state):
    from core.runs.progress import Progress

    progress = Progress(tmp_path, {"started": time.time()})
    write_checkpoint(tmp_path, 1)
    try:
        raise error
    except BaseException:
        progress.end("failed", error=type(error).__name__)
    assert run_folders.read_json(tmp_path / "status.json")["state"] == state
    assert bool(checkpoint_files.saved(tmp_path)) == (state == "interrupted")


# --- (c) killed before its first epoch ended: starts again from scratch -------------


@pytest.mark.slow
def test_resume_of_a_run_killed_before_its_first_epoch_ended(tiny_dataset):
    config = TrainConfig(
        model="tinyconv",
        data_dir=str(tiny_dataset),
        image_size=16,
        epochs=2,
        batch_size=8,
        early_stopping_patience=2,
    )
    folder = queued_run(config)
    # What a trainer killed in epoch 1, during its first save, leaves behind.
    run_folders.set_status(folder, "running", phase="training", epoch=1, pid=2**22 + 1)
    half = folder / f"{checkpoint_files.TEMP_PREFIX}killed"
    half.mkdir()
    (half / checkpoint_files.STATE_FILE).write_text('{"epoch": 1, "version": 1}')
    # No page noticed the death (say the machine restarted): the resume sees it.
    result = cli.resume(folder)
    assert result.state == "finished"
    assert_ended_clean(folder, 2)
    assert run_folders.load_run(folder).status["error"] is None


# --- (d) the fine-tuning phase -------------------------------------------------------


def _tinytune(image_size: int, augment: bool = True, seed: int | None = None, **_: Any):
    """A frozen "pre-trained" convolution, then a logit; fine-tuning opens the convolution."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    if augment:
        x = keras.layers.RandomFlip("horizontal", seed=seed)(x)
    base = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="base")
    base.trainable = False
    x = keras.layers.GlobalAveragePooling2D()(base(x))
    return keras.Model(inputs, keras.layers.Dense(1, name="logit")(x), name="tinytune")


def _open_base(model) -> int:
    model.get_layer("base").trainable = True
    return 1


TINYTUNE = ModelSpec(
    name="tinytune",
    display_name="Tiny fine-tuned (test)",
    build=_tinytune,
    min_image_size=16,
    resolve_weights=lambda path: WeightsChoice(None, True, "Test weights.", "file"),
    fine_tune=_open_base,
)


@pytest.fixture(autouse=True)
def registered_test_detectors():
    """tinyconv and tinytune, registered for each test of this file only (no leak to others)."""
    specs = (importlib.import_module("tests.fourth_detector").SPEC, TINYTUNE)
    for spec in specs:
        register(spec)
    yield
    for spec in specs:
        unregister(spec.name)


class CopyAt(keras.callbacks.Callback):
    """Copies the run folder at the end of given epochs: the disk as a kill would leave it.

    Runs after the checkpointer (extra callbacks come after it), so each copy holds
    that epoch's checkpoint.
    """

    def __init__(self, folder: Path, epochs: tuple[int, ...]) -> None:
        super().__init__()
        self.folder, self.epochs = folder, epochs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 in self.epochs:
            shutil.copytree(self.folder, self.folder.with_name(f"copy{epoch + 1}"))


class Probe(keras.callbacks.Callback):
    """Records the model's and optimizer's variables when the first fit of a run starts."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, list[np.ndarray]] = {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.seen:
            self.seen = {
                "model": [np.array(v) for v in self.model.variables],
                "optimizer": [np.array(v) for v in self.model.optimizer.variables],
            }

    def assert_restored(self, arrays: dict[str, np.ndarray]) -> None:
        """The variables seen equal a checkpoint's, exactly (before any new step)."""
        for group in ("model", "optimizer"):
            expected = checkpoint._group(arrays, group)
            assert len(self.seen[group]) == len(expected) > 0
            for value, stored in zip(self.seen[group], expected, strict=True):
                np.testing.assert_array_equal(value, stored)


@pytest.mark.slow
def test_resume_in_and_between_the_fine_tuning_phase(tiny_dataset):
    config = TrainConfig(
        model="tinytune",
        data_dir=str(tiny_dataset),
        image_size=16,
        epochs=2,
        fine_tune_epochs=2,
        batch_size=8,
        early_stopping_patience=4,
    )
    folder = queued_run(config)
    train(config, run_dir=folder, callbacks=[CopyAt(folder, (2, 3))])
    straight = assert_ended_clean(folder, 4)
    for done, phase in ((2, "training"), (3, "fine-tuning")):
        copy = folder.with_name(f"copy{done}")
        saved = checkpoint_files.latest(copy)
        assert (saved.epoch, saved.state["phase"]) == (done, phase)
        arrays = saved.arrays()
        if phase == "fine-tuning":  # phase 1's result travels with the checkpoint
            assert saved.state["phase_one"][0] == 2
            assert len(checkpoint._group(arrays, "snapshot")) == 4  # base and logit weights
        run_folders.set_status(copy, "interrupted")
        probe = Probe()
        assert cli.resume(copy, callbacks=[probe]).state == "finished"
        probe.assert_restored(arrays)
        history = assert_ended_clean(copy, 4)
        for key, values in straight.items():
            assert history[key][:done] == values[:done], (done, key)
