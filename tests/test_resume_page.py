"""AppTest of the Train page's Resume button: an interrupted run is queued again and the
worker's trainer (the fast fake one) takes it; ``training_queue.resume`` leaves other runs alone."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from core import settings
from core.jobs import training_queue
from core.runs import checkpoint_files, run_folders
from core.runs.config import TrainConfig
from tests.conftest import make_tree
from tests.test_jobs import fake_trainer, wait_until  # noqa: F401 - the fixture
from tests.test_train_page_ux import open_page

pytestmark = pytest.mark.demo


@pytest.fixture
def dataset(tmp_path, monkeypatch) -> Path:
    root = make_tree(tmp_path / "Dataset", {"Train": (6, 6), "Validation": (3, 3), "Test": (3, 3)})
    monkeypatch.setenv(settings.DATA_ENV, str(root))
    return root


def interrupted_run(epochs_done: int) -> Path:
    """A run killed after ``epochs_done`` epochs (0: before its first epoch ended)."""
    folder = run_folders.new_run_dir("cnn")
    run_folders.write_json(folder / "config.json", TrainConfig(model="cnn", epochs=5).to_dict())
    run_folders.set_status(folder, "running", created=time.time(), epochs=5, epoch=epochs_done + 1)
    run_folders.set_status(
        folder, "interrupted", error="The training process stopped unexpectedly."
    )
    if epochs_done:
        arrays = {"model/0": np.zeros(3)}
        checkpoint_files.write(folder, {"epoch": epochs_done, "phase": "training"}, arrays)
    return folder


@pytest.mark.slow
def test_resume_button_queues_the_run_and_the_worker_takes_it(dataset, fake_trainer):  # noqa: F811
    fresh = interrupted_run(0)
    killed = interrupted_run(2)
    at = open_page()
    shown = " ".join(warning.value for warning in at.warning)
    assert f"`{killed.name}` (CNN) was interrupted" in shown
    assert "With **Resume** it resumes from epoch 3 of 5." in shown
    assert "it starts again from epoch 1" in shown  # the run without a checkpoint
    details = at.dataframe[0].value.set_index("run")["details"]
    assert "Resume: resumes from epoch 3 of 5." in details[killed.name]

    at.button(key=f"train_resume_{killed.name}").click()
    at.run()
    assert not at.exception, at.exception
    assert run_folders.load_run(killed).state in ("queued", "running", "finished")
    assert run_folders.load_run(fresh).state == "interrupted"  # only the one pressed
    assert not any(button.key == f"train_resume_{killed.name}" for button in at.button)
    wait_until(
        lambda: run_folders.load_run(killed).state == "finished", 60, "the resumed run to end"
    )
    assert f"start {killed.name}" in fake_trainer.read_text()
    status = run_folders.load_run(killed).status
    assert status["error"] is None and status.get("log_tail") is None


def test_jobs_resume_only_takes_interrupted_runs(dataset, monkeypatch):
    monkeypatch.setattr(training_queue, "ensure_worker", lambda: None)
    folder = interrupted_run(1)
    (folder / run_folders.CANCEL_FLAG).touch()  # a stale request must not stop the resumed run
    assert training_queue.resume(folder) is True
    assert run_folders.load_run(folder).state == "queued" and not run_folders.cancel_requested(
        folder
    )
    assert training_queue.resume(folder) is False  # queued now: nothing changes
    run_folders.write_json(folder / "status.json", {"state": "failed"})
    assert training_queue.resume(folder) is False
    assert run_folders.load_run(folder).state == "failed"
    # A cancelled run resumes only from a checkpoint (issue 22.4).
    cancelled = interrupted_run(0)
    run_folders.write_json(cancelled / "status.json", {"state": "cancelled"})
    assert training_queue.resume(cancelled) is False
    checkpoint_files.write(cancelled, {"epoch": 1, "phase": "training"}, {"model/0": np.zeros(3)})
    assert training_queue.resume(cancelled) is True
