"""Resumable runs: a checkpoint at the end of every epoch, and :func:`resume`.

:class:`Checkpointer` is the Keras callback :func:`core.training.trainer.fit_phases` adds to
both of its fits. At each epoch end it saves (:mod:`core.runs.checkpoint_files`,
atomically) everything the run needs to go on: the model's variables (the random
layers' seed states included), the optimizer's variables, the epoch, the phase
(``training`` or ``fine-tuning``; while fine-tuning also phase 1's epochs, best
AUC and weights snapshot), early stopping's counters and best weights, the
history so far, the throughput counters, and a digest of the run's file lists.

When :func:`core.training.trainer.train` runs in a folder that holds a checkpoint, the same
callback restores it: the history (so history.json never repeats or loses an
epoch), the weights and optimizer state, early stopping, and the shuffle position
(the training pipeline is iterated once per completed epoch, so its seeded
reshuffles continue where they were). Fitting then continues with
``initial_epoch``; a phase that had already ended is not fitted again. A run that
died before its first epoch ended has no checkpoint and starts from scratch.

``python -m core.train --resume RUN_DIR`` (and the Train page's Resume button,
through :func:`core.jobs.training_queue.resume`) re-open an *interrupted* run with the same
config.json; the subsets are drawn again with the same seed and must be exactly
the files in the checkpoint (else the resume is refused).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from core.runs import checkpoint_files, run_folders

logger = logging.getLogger(__name__)

#: Fault injection for tests only: ``<epoch>:<seconds>`` pauses the trainer after the
#: first batch of that epoch (1-based), having touched ``epoch-<epoch>.paused`` in the
#: run folder, so a test can kill it in the middle of that epoch.
FAULT_ENV = "DEEPFAKE_FAULT_PAUSE_EPOCH"


class ResumeError(ValueError):
    """A run that cannot be resumed, with a message meant for the user."""


def files_digest(subsets: Any) -> str:
    """SHA-256 of a run's train/validation/test file lists (what a resume must match)."""
    record = subsets.to_dict()
    lists = {part: record[part] for part in ("train", "validation", "test")}
    return hashlib.sha256(json.dumps(lists, sort_keys=True).encode()).hexdigest()


def _named(prefix: str, values: list[Any]) -> dict[str, np.ndarray]:
    return {f"{prefix}/{i}": np.array(value) for i, value in enumerate(values)}


def epoch_arrays(
    model: Any, best_weights: list[Any] | None, snapshot: list[Any] | None = None
) -> dict[str, np.ndarray]:
    """The arrays an epoch's checkpoint holds, named for :func:`_group`.

    The model's and the optimizer's variables, early stopping's best weights and, while
    fine-tuning, the phase-1 snapshot.
    """
    arrays = _named("model", model.variables) | _named("optimizer", model.optimizer.variables)
    return arrays | _named("best", best_weights or []) | _named("snapshot", snapshot or [])


def _group(arrays: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    count = sum(1 for name in arrays if name.startswith(f"{prefix}/"))
    return [arrays[f"{prefix}/{i}"] for i in range(count)]


def _assign(variables: list[Any], values: list[np.ndarray], what: str) -> None:
    """Assign saved values to variables, after checking they are the same shapes."""
    shapes = [tuple(variable.shape) for variable in variables]
    if shapes != [value.shape for value in values]:
        raise ResumeError(
            f"The checkpoint's {what} do not fit the model built from config.json; "
            "the run cannot be resumed (start a new one)."
        )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _iterators_per_epoch(dataset: Any) -> int:
    """Iterators Keras 3's ``fit`` makes of a training dataset per epoch.

    Its EpochIterator starts one at each epoch's start and, when the number of
    batches is known, another at the epoch's end (left unused). Each one draws the
    next seed of a seeded reshuffle, so a resume must draw as many.
    """
    try:
        return 2 if int(dataset.cardinality()) > 0 else 1
    except (AttributeError, TypeError):
        return 1


class Checkpointer(keras.callbacks.Callback):
    """Checkpoints the run at each epoch end; restores the run's checkpoint, if any.

    Args:
        progress: the run's :class:`core.runs.progress.Progress` (folder, history, counters).
        setup: the run's :class:`core.training.trainer.Setup` (model, strategy).
        train_data: the training ``tf.data`` pipeline (its shuffles are advanced).
        subsets: the run's :class:`core.training.subsets.Subsets`.

    Raises:
        ResumeError: the checkpoint was made with other files than these subsets.
    """

    def __init__(self, progress: Any, setup: Any, train_data: Any, subsets: Any) -> None:
        super().__init__()
        self.progress, self.setup, self.train_data = progress, setup, train_data
        self.run_dir: Path = progress.run_dir
        self.files = files_digest(subsets)
        #: (epochs, best AUC) of phase 1 once it ended; set when resuming into fine-tuning.
        self.phase_one: tuple[int, float] | None = None
        #: The phase-1 weights (model.weights order) kept while fine-tuning.
        self.snapshot: list[np.ndarray] | None = None
        #: Fitting seconds spent before this process (0 for a fresh run).
        self.seconds = 0.0
        self._clock = time.time()
        self._phase, self._stopper, self._epoch = "training", None, 0
        self._stopper_state: tuple[dict, list[np.ndarray]] | None = None
        self.resumed = checkpoint_files.latest(self.run_dir)
        self._arrays: dict[str, np.ndarray] = {}
        if self.resumed is not None:
            self._restore_run()

    def _restore_run(self) -> None:
        state = self.resumed.state
        if state.get("files") != self.files:
            raise ResumeError(
                "The dataset changed since this run started: its subsets are no longer "
                "the same files, so it cannot be resumed. Start a new run."
            )
        self._arrays = self.resumed.arrays()
        progress = self.progress
        progress.history = {key: list(values) for key, values in state["history"].items()}
        progress.images_seen = int(state["images_seen"])
        progress.train_seconds = float(state["train_seconds"])
        run_folders.write_json(self.run_dir / "history.json", progress.history)
        self.seconds = float(state["fit_seconds"])
        if state["phase"] == "fine-tuning":
            epochs, best = state["phase_one"]
            self.phase_one = (int(epochs), float(best))
            self.snapshot = _group(self._arrays, "snapshot")
        logger.info(
            "%s: resuming after epoch %d (%s)",
            self.run_dir.name,
            self.resumed.epoch,
            state["phase"],
        )

    def keep_phase_one(
        self, snapshot: dict[str, np.ndarray], epochs: int, best_auc: float
    ) -> dict[str, np.ndarray]:
        """Remember phase 1 for the fine-tuning checkpoints; return the snapshot to restore.

        When the run resumes inside fine-tuning, that is the snapshot taken by the
        process that ended phase 1 (from the checkpoint), not ``snapshot``.
        """
        if self.snapshot is None:
            self.snapshot, self.phase_one = list(snapshot.values()), (epochs, best_auc)
            return snapshot
        paths = [variable.path for variable in self.setup.model.weights]
        return dict(zip(paths, self.snapshot, strict=True))

    def start(self, phase: str, stopper: Any, epochs: tuple[int, int]) -> int:
        """Before a fit: restore this phase's checkpoint, if any; return the first epoch.

        Args:
            phase: ``training`` or ``fine-tuning``.
            stopper: the fit's EarlyStopping callback (its state is saved and restored).
            epochs: (first, end) epoch of the phase.

        Returns:
            The epoch to start from: ``epochs[0]`` without a checkpoint, else the
            epochs completed (``epochs[1]`` when early stopping had ended the phase).
        """
        self._phase, self._stopper = phase, stopper
        if self.resumed is None or self.resumed.state["phase"] != phase:
            return epochs[0]
        state, self.resumed = self.resumed.state, None
        self._stopper_state = (state["stopper"], _group(self._arrays, "best"))
        for _ in range(state["epoch"] * _iterators_per_epoch(self.train_data)):
            iter(self.train_data)  # each new iterator reshuffles: continue the sequence
        return epochs[1] if state["stopped"] else state["epoch"]

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Keras hook, after ``fit`` built the optimizer and EarlyStopping reset itself.

        Restores the model's and the optimizer's variables, and EarlyStopping's state.
        """
        if self._stopper_state is None:
            return
        model = self.setup.model
        with self.setup.strategy.scope():
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
        _assign(model.variables, _group(self._arrays, "model"), "model variables")
        _assign(model.optimizer.variables, _group(self._arrays, "optimizer"), "optimizer state")
        counters, best_weights = self._stopper_state
        self._stopper_state = None
        stopper = self._stopper
        stopper.wait, stopper.best = counters["wait"], counters["best"]
        stopper.best_epoch, stopper.stopped_epoch = counters["best_epoch"], counters["stopped"]
        stopper.best_weights = best_weights or None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Keras hook: remember the epoch (for the fault-injection pause)."""
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Keras hook: the test-only pause of :data:`FAULT_ENV`; nothing otherwise."""
        epoch, _, seconds = os.environ.get(FAULT_ENV, "").partition(":")
        if batch == 0 and epoch == str(self._epoch + 1):
            (self.run_dir / f"epoch-{epoch}.paused").touch()
            time.sleep(float(seconds or 1.0))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Keras hook, after Progress and EarlyStopping: save the checkpoint."""
        model, stopper, progress = self.setup.model, self._stopper, self.progress
        arrays = epoch_arrays(model, stopper.best_weights, self.snapshot)
        state = {
            "phase": self._phase,
            "epoch": epoch + 1,
            "stopped": bool(model.stop_training),
            "stopper": {
                "wait": int(stopper.wait),
                "best": _finite(stopper.best),
                "best_epoch": int(stopper.best_epoch),
                "stopped": int(stopper.stopped_epoch),
            },
            "phase_one": list(self.phase_one) if self.phase_one else None,
            "history": progress.history,
            "images_seen": progress.images_seen,
            "train_seconds": progress.train_seconds,
            "fit_seconds": self.seconds + time.time() - self._clock,
            "files": self.files,
        }
        checkpoint_files.write(self.run_dir, state, arrays)
