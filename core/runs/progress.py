"""The progress of a training run: ``status.json``, ``history.json`` and cancel checks.

:class:`Progress` is the Keras callback the trainer passes to ``fit`` and
``predict``; it is also how the trainer moves from one step to the next, so a
cancel request is honoured in every phase.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from core.runs import checkpoint_files, run_folders

logger = logging.getLogger(__name__)

STATUS_INTERVAL_S = 0.5


class Cancelled(Exception):
    """Raised inside training when someone asked the run to stop."""


class Progress(keras.callbacks.Callback):
    """The run's progress: owns ``status.json`` and ``history.json``; stops on cancel.

    The trainer calls :meth:`step` between steps, :meth:`start_phase` before each
    fit, and :meth:`end` once; Keras calls the ``on_*`` methods. Any batch of
    fitting, validation or prediction raises :class:`Cancelled` once a cancel was
    requested.

    Args:
        run_dir: the run folder.
        status: the initial status fields (written at once, state ``running``).
        echo: print each epoch's metrics (the CLI does).
        on_step: called with each step's name before the step starts (tests use it).
    """

    def __init__(
        self,
        run_dir: Path,
        status: dict[str, Any],
        echo: bool = False,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.status = dict(status)
        self.echo = echo
        self.on_step = on_step
        self.history: dict[str, list[float]] = {}
        self.train_seconds = 0.0  # time in training steps only, for throughput
        self.images_seen = 0
        self.phase_start = time.time()
        self.last_write = 0.0
        self.phase_batches_done = 0
        self.phase_batches_total = 1
        self.epoch_start = time.time()
        self.in_training = False
        run_folders.set_status(run_dir, "running", **self.status)

    def check_cancel(self) -> None:
        """Raise :class:`Cancelled` when someone asked this run to stop."""
        if run_folders.cancel_requested(self.run_dir):
            raise Cancelled

    def step(self, name: str, phase: str | None = None) -> None:
        """Enter step ``name`` (optionally showing a new phase); honour a cancel first."""
        logger.info("%s: %s", self.run_dir.name, name)
        if self.on_step is not None:
            self.on_step(name)
        self.check_cancel()
        if phase is not None:
            self.update(phase=phase, force=True)

    def start_phase(self, phase: str, first_epoch: int, last_epoch: int) -> None:
        """Reset the ETA clock for a fit from ``first_epoch`` to ``last_epoch``."""
        self.phase_start = time.time()
        self.phase_batches_done = 0
        self.phase_batches_total = max(1, (last_epoch - first_epoch) * self.status["batches"])
        self.update(phase=phase, force=True)

    def update(self, force: bool = False, **fields: Any) -> None:
        """Merge ``fields`` into the status; write it at most every STATUS_INTERVAL_S."""
        self.status.update(fields)
        now = time.time()
        if not force and now - self.last_write < STATUS_INTERVAL_S:
            return
        self.last_write = now
        self.status["elapsed_s"] = round(now - self.status["started"], 1)
        done = self.phase_batches_done
        if done:
            rate = (now - self.phase_start) / done
            self.status["eta_s"] = round(rate * (self.phase_batches_total - done), 1)
        run_folders.set_status(self.run_dir, "running", **self.status)

    def end(self, state: str, **fields: Any) -> None:
        """Write the final state (``finished``, ``cancelled`` or ``failed``).

        A failure that is a Ctrl-C (KeyboardInterrupt being handled) is written
        ``interrupted`` instead. Interrupted and cancelled runs keep their checkpoint,
        so they can be resumed; otherwise the checkpoint is deleted.
        """
        if state == "failed" and isinstance(sys.exc_info()[1], KeyboardInterrupt):
            state = "interrupted"
        self.status.update({"eta_s": None, **fields})
        self.status["elapsed_s"] = round(time.time() - self.status["started"], 1)
        run_folders.set_status(self.run_dir, state, **self.status)
        if state not in run_folders.RESUMABLE_STATES:
            checkpoint_files.remove(self.run_dir)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Keras hook: a new epoch starts."""
        self.epoch_start = time.time()
        self.in_training = True
        self.update(epoch=epoch + 1, batch=0, force=True)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Keras hook: honour a cancel, count the batch."""
        self.check_cancel()
        self.phase_batches_done += 1
        self.update(batch=batch + 1)

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Keras hook: honour a cancel during validation too."""
        self.check_cancel()

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Keras hook: honour a cancel while scoring."""
        self.check_cancel()

    def on_test_begin(self, logs: dict | None = None) -> None:
        """Keras hook: validation starts, so the epoch's training time ends."""
        self._stop_training_clock()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Keras hook: record the epoch in history.json."""
        self._stop_training_clock()
        self.images_seen += self.status["train_images"]
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.history.setdefault("epoch_seconds", []).append(
            round(time.time() - self.epoch_start, 3)
        )
        run_folders.write_json(self.run_dir / "history.json", self.history)
        self.update(force=True)
        if self.echo:
            shown = "  ".join(f"{key} {float(value):.4f}" for key, value in (logs or {}).items())
            print(f"epoch {epoch + 1}: {shown}", flush=True)

    def _stop_training_clock(self) -> None:
        if self.in_training:
            self.train_seconds += time.time() - self.epoch_start
            self.in_training = False
