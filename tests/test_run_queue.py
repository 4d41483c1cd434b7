"""Duplicates of a configuration and the whole queue's ETA (core.jobs.run_queue)."""

from __future__ import annotations

from pathlib import Path

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
