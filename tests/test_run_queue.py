"""Duplicates of a configuration and the whole queue's ETA (core.jobs.run_queue)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.jobs import run_queue
from core.runs.config import TrainConfig
from core.runs.run_folders import Run


def run(state: str, config: TrainConfig, status: dict | None = None, metrics=None) -> Run:
    return Run(Path(f"/x/{state}"), f"{config.model}_{state}", state, config.to_dict(),
               status or {}, metrics)  # fmt: skip


def test_duplicates_are_same_config_in_a_live_or_finished_state():
    config = TrainConfig(model="cnn", train_size=10, seed=1)
    extra = config.to_dict() | {"dataset": "/data", "weights": None}  # facts added at start
    same = Run(Path("/x/a"), "cnn_a", "finished", extra, {}, {"auc": 0.9})
    failed = run("failed", config)
    other_seed = run("queued", config.replace(seed=2))
    assert run_queue.duplicates(config, [same, failed, other_seed]) == [same]
    interrupted = run("interrupted", config)  # resumable: a new identical run is pointless
    assert run_queue.duplicates(config, [interrupted, failed]) == [interrupted]


def test_queue_eta_adds_the_running_phase_and_the_queued_estimates():
    done = run(
        "finished",
        TrainConfig(model="cnn", image_size=64, train_size=100, epochs=2),
        metrics={"train_seconds": 100.0, "epochs_run": 2},
    )
    # Twice the images, twice the epochs, a quarter of the pixels: the same 100 s.
    queued = run("queued", TrainConfig(model="cnn", image_size=32, train_size=200, epochs=4))
    unknown = run("queued", TrainConfig(model="capsnet", image_size=64, train_size=100))
    running = run("running", TrainConfig(model="cnn"), {"eta_s": 30.0})
    eta = run_queue.queue_eta([running], [queued, unknown], [done])
    assert (round(eta.seconds), eta.runs, eta.unknown) == (130, 3, 1)


def test_a_running_run_without_eta_counts_its_estimate_minus_the_time_spent():
    done = run(
        "finished",
        TrainConfig(model="cnn", image_size=64, train_size=100, epochs=2),
        metrics={"train_seconds": 100.0, "epochs_run": 2},
    )
    running = run(
        "running",
        TrainConfig(model="cnn", image_size=64, train_size=100, epochs=2),
        {"eta_s": None, "started": 1000.0},
    )
    eta = run_queue.queue_eta([running], [], [done], now=1040.0)
    assert round(eta.seconds) == 60 and eta.unknown == 0


def test_queued_runs_use_this_machines_measured_speed_first():
    from core.runs import throughput
    from core.runs.throughput import StepStats

    config = TrainConfig(model="cnn", image_size=64, train_size=100, val_size=10, epochs=2)
    done = run(
        "finished", config, metrics={"train_seconds": 1000.0, "epochs_run": 2}
    )  # an old run on a slower machine: 1000 s
    # 0.1 s per training image, 0.2 s per validation image.
    throughput.record(config.to_dict(), "training", StepStats(3.2, 3.2, 3.2, 9), 0.2)
    records = throughput.load_records()
    queued = run("queued", config)
    assert run_queue.estimate_seconds(queued.config, [done]) == 1000.0
    eta = run_queue.queue_eta([], [queued], [done], records=records)
    assert eta.seconds == pytest.approx(2 * (100 * 0.1 + 10 * 0.2))
