"""core.runs.run_folders: a refused state change never costs a finished run.

A state rule, so no training: the trainer's own progress writer (``Progress``) and a
run folder made complete by hand stand in for a training run.
"""

from __future__ import annotations

import time

from core.runs import run_folders
from core.runs.progress import Progress
from tests.fake_trainer import write_fake_model


def test_trainer_outlives_a_refused_state_change():
    """Someone marks the run interrupted mid-training (say, a page that thought its trainer
    dead): the trainer's later status writes are refused without stopping it, and the
    complete run it leaves is finished."""
    folder = run_folders.new_run_dir("cnn")
    run_folders.set_status(folder, "queued")
    progress = Progress(folder, {"started": time.time(), "batches": 4, "epoch": 1})
    assert run_folders.read_status(folder)["state"] == "running"

    run_folders.set_status(folder, "interrupted", error="presumed dead")
    progress.update(force=True, epoch=2)  # refused, logged, never raised
    assert run_folders.set_status(folder, "running", epoch=2) is None
    write_fake_model(folder / "model.keras")
    run_folders.write_json(folder / "metrics.json", {"accuracy": 0.9, "auc": 0.95})
    progress.end("finished", phase="done")  # refused as well

    status = run_folders.read_json(folder / "status.json")
    assert status["state"] == "interrupted" and status.get("epoch") == 1  # never flipped back
    run = run_folders.load_run(folder)
    assert run.state == "finished" and run.finished  # complete means complete


def test_an_incomplete_run_stays_as_recorded():
    folder = run_folders.new_run_dir("cnn")
    run_folders.set_status(folder, "queued")
    run_folders.set_status(folder, "running")
    run_folders.set_status(folder, "interrupted")
    write_fake_model(folder / "model.keras")  # a model without metrics.json is not a result
    assert run_folders.load_run(folder).state == "interrupted"
