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

from core.runs import checkpoint_files, run_folders, throughput

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
        self.clock = throughput.StepClock()
        self.step_start = time.perf_counter()
        self.val_start = time.time()
        self.val_seconds: float | None = None  # the last validation pass
        self.epoch_extra: float | None = None  # an epoch's time beyond its training steps
        self.epoch_steps_seconds = 0.0
        self.epoch_begun: float | None = None  # when this phase's current epoch began
        self.phase_epochs = 1
        self.phase_validations = 0
        self.prior: throughput.PriorRate | None = None
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

    def start_phase(
        self, phase: str, first_epoch: int, last_epoch: int, config: dict[str, Any] | None = None
    ) -> None:
        """Reset the ETA clock for a fit from ``first_epoch`` to ``last_epoch``.

        With the run's ``config``, earlier runs' rate on this machine gives the ETA until
        this fit's own steps are timed (none without a record).
        """
        self.prior = (
            None
            if config is None
            else throughput.prior_rate(config, phase, throughput.load_records())
        )
        self.phase_start = time.time()
        self.phase_batches_done = 0
        self.phase_batches_total = max(1, (last_epoch - first_epoch) * self.status["batches"])
        self.phase_epochs = max(1, last_epoch - first_epoch)
        self.phase_validations = 0
        self.clock.reset()  # a new fit traces again: no ETA until its warm-up is over
        self.epoch_begun = None
        self.update(
            phase=phase, eta_s=None, eta_low_s=None, eta_high_s=None, eta_source=None, force=True
        )

    def update(self, force: bool = False, **fields: Any) -> None:
        """Merge ``fields`` into the status; write it at most every STATUS_INTERVAL_S."""
        self.status.update(fields)
        now = time.time()
        if not force and now - self.last_write < STATUS_INTERVAL_S:
            return
        self.last_write = now
        self.status["elapsed_s"] = round(now - self.status["started"], 1)
        self._eta()
        run_folders.set_status(self.run_dir, "running", **self.status)

    def _eta(self) -> None:
        """The phase's ETA from the steps timed after warm-up.

        Until :data:`~core.runs.throughput.MIN_TIMED_STEPS` are timed, earlier runs'
        rate stands in (plus what is left of their warm-up); without one, no ETA yet.
        """
        stats, source, warmup_left = self.clock.stats(), None, 0.0
        timed_enough = stats is not None and stats.steps >= throughput.MIN_TIMED_STEPS
        if self.prior is not None and not timed_enough:
            stats, source = self.prior.step, self.prior.source
            warmup_left = max(0.0, stats.warmup - self.clock.warmup_seconds)
        if stats is None:
            return
        measured = self.epoch_extra if self.epoch_extra is not None else self.val_seconds
        if measured is None and self.prior is not None and self.prior.epoch_extra is not None:
            # Validation runs at this run's pace, as its steps do.
            measured = self.prior.epoch_extra * stats.mean / self.prior.step.mean
        eta = throughput.phase_eta(
            stats,
            steps_left=self.phase_batches_total - self.phase_batches_done,
            validations_left=self.phase_epochs - self.phase_validations,
            val_steps=int(self.status.get("val_batches") or 0),
            val_seconds=measured,
            steps_per_epoch=int(self.status.get("batches") or 0),
        )
        self.status.update(
            eta_s=round(eta.seconds + warmup_left, 1),
            eta_low_s=round(eta.low + warmup_left, 1),
            eta_high_s=round(eta.high + warmup_left, 1),
            epoch_s=round(eta.epoch_seconds, 1),
            eta_source=source,
        )

    def save_rate(self, config: dict[str, Any], phase: str) -> None:
        """Record this fit's measured rate for the next estimates on this machine."""
        stats = self.clock.stats()
        if stats is None:
            return
        val_images = self.status.get("val_images")
        per_image, fixed = None, None
        if self.val_seconds and val_images:  # validation scales with its images; the rest not
            per_image = self.val_seconds / val_images
            if self.epoch_extra is not None:
                fixed = max(0.0, self.epoch_extra - self.val_seconds)
        elif self.epoch_extra and val_images:
            per_image = self.epoch_extra / val_images
        try:
            throughput.record(config, phase, stats, per_image, epoch_fixed_seconds=fixed)
        except OSError as error:  # an estimate is not worth failing a finished fit
            logger.warning("Could not record the training speed: %s", error)

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
        """Keras hook: a new epoch starts; the last one's time beyond its steps is known."""
        self.epoch_start = time.time()
        if self.epoch_begun is not None:  # validation, checkpoint, callbacks: once per epoch
            period = self.epoch_start - self.epoch_begun
            self.epoch_extra = max(0.0, period - self.epoch_steps_seconds)
        self.epoch_begun, self.epoch_steps_seconds = self.epoch_start, 0.0
        self.in_training = True
        self.update(epoch=epoch + 1, batch=0, force=True)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Keras hook: a training step starts."""
        self.step_start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Keras hook: time the step, honour a cancel, count the batch."""
        seconds = time.perf_counter() - self.step_start
        self.clock.add(seconds)
        self.epoch_steps_seconds += seconds
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
        self.val_start = time.time()

    def on_test_end(self, logs: dict | None = None) -> None:
        """Keras hook: a validation pass ended; its duration feeds the ETA."""
        self.val_seconds = time.time() - self.val_start
        self.phase_validations += 1

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
