"""What the Train page says about the queue: identical runs, and the time left for all of it.

Pure functions over :class:`core.runs.run_folders.Run` objects (no files written, no processes
started), so the page and the tests share them.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from core.runs import throughput
from core.runs.config import TrainConfig
from core.runs.run_folders import Run

#: States in which an identical run makes a new one pointless (failed or cancelled do not;
#: an interrupted one can be resumed instead).
DUPLICATE_STATES = ("queued", "running", "finished", "interrupted")
#: Finished runs of a model used to estimate its speed (the newest ones).
RATE_SAMPLE = 5


#: Fields that do not change what a run computes: a run repeated in another experiment
#: with the same seed is the same run.
IGNORED_FIELDS = ("experiment",)


def _config_fields(values: dict) -> dict:
    return {
        f.name: values.get(f.name)
        for f in dataclasses.fields(TrainConfig)
        if f.name not in IGNORED_FIELDS
    }


def duplicates(config: TrainConfig, all_runs: Sequence[Run]) -> list[Run]:
    """Runs queued, running, finished or interrupted with exactly this configuration.

    Args:
        config: the configuration about to be queued.
        all_runs: the runs on disk.

    Returns:
        The identical runs (same model, data, subset sizes, seed and settings).
    """
    wanted = _config_fields(config.to_dict())
    return [
        run
        for run in all_runs
        if run.state in DUPLICATE_STATES and _config_fields(run.config) == wanted
    ]


def _rate(run: Run) -> float | None:
    """Seconds per training image, epoch and pixel of a finished run."""
    metrics, config = run.metrics or {}, run.config
    seconds, epochs = metrics.get("train_seconds"), metrics.get("epochs_run")
    images, size = config.get("train_size"), config.get("image_size")
    numbers = (seconds, epochs, images, size)
    if not all(isinstance(n, int | float) and n > 0 for n in numbers):
        return None
    return seconds / (epochs * images * size * size)


def estimate_seconds(
    config: dict, finished: Sequence[Run], records: Sequence[dict] = ()
) -> float | None:
    """Training time of a run not started yet, from this machine's measured speed.

    The training speed measured on this machine (``records``, see
    :func:`core.runs.throughput.estimate_run`) when it covers the model; else the
    average speed of earlier finished runs of the same model, scaled by training
    images, epochs (the maximum: early stopping may end sooner) and pixels per image.
    None when neither gives a rate.
    """
    if records and (measured := throughput.estimate_run(config, records)) is not None:
        return measured.seconds
    model = config.get("model")
    rates = [r for r in (_rate(run) for run in finished if run.model == model) if r]
    numbers = [config.get(key) for key in ("train_size", "image_size", "epochs")]
    if not rates or not all(isinstance(n, int | float) and n > 0 for n in numbers):
        return None
    images, size, epochs = numbers
    epochs += config.get("fine_tune_epochs") or 0
    return statistics.median(rates[:RATE_SAMPLE]) * images * size * size * epochs


@dataclass(frozen=True)
class QueueEta:
    """Time left for everything queued or running.

    Attributes:
        seconds: the estimate for the runs that could be estimated (0 when none).
        runs: how many runs are queued or running.
        unknown: how many of them could not be estimated yet.
    """

    seconds: float
    runs: int
    unknown: int


def queue_eta(
    running: Sequence[Run],
    queued: Sequence[Run],
    finished: Sequence[Run],
    now: float | None = None,
    records: Sequence[dict] = (),
) -> QueueEta:
    """Estimate the time until the whole queue is done.

    The running run counts its own ETA (reported by the trainer) when it has one, else
    an estimate from earlier runs minus the time it has run; each queued run counts an
    estimate from earlier finished runs of its model (see :func:`estimate_seconds`).

    Args:
        running: runs training now.
        queued: runs waiting.
        finished: finished runs, newest first, to learn speeds from.
        now: the current time (``time.time()`` by default).
        records: this machine's measured training speeds (:mod:`core.runs.throughput`).

    Returns:
        The estimate and how many runs it leaves out.
    """
    now = time.time() if now is None else now
    total, unknown = 0.0, 0
    for run in running:
        eta = run.status.get("eta_s")
        if isinstance(eta, int | float) and math.isfinite(eta):
            total += eta
            continue
        estimate = estimate_seconds(run.config, finished, records)
        if estimate is None:
            unknown += 1
        else:
            started = run.status.get("started") or now
            total += max(0.0, estimate - (now - started))
    for run in queued:
        estimate = estimate_seconds(run.config, finished, records)
        if estimate is None:
            unknown += 1
        else:
            total += estimate
    return QueueEta(total, len(running) + len(queued), unknown)
