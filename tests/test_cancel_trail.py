"""Issue 22.4: Cancel asks first, then says where the run stopped, keeps its curves, and
offers Resume once the run has a checkpoint. Runs are folders with a chosen status."""

from __future__ import annotations

import json
import os
import time

import numpy as np

from core.runs import checkpoint_files, run_folders
from tests.test_train_page_ux import dataset, fake_run, open_page, texts  # noqa: F401


def test_cancel_asks_then_leaves_a_clear_trail_and_resume(dataset):  # noqa: F811
    now = time.time()
    running = fake_run(
        "running",
        {"created": now - 60, "started": now - 50, "epoch": 3, "epochs": 15, "batch": 1,
         "batches": 4, "pid": os.getpid(), "phase": "training"},
        epochs=15,
    )  # fmt: skip
    name = running.name
    at = open_page()
    at.session_state["train_feedback"] = ("success", f"Started `{name}` at 12:00:00.")
    at.button(key=f"train_cancel_{name}").click()
    at.run()
    assert not run_folders.cancel_requested(running)  # asked first, nothing cancelled yet
    assert f"Cancel `{name}`?" in texts(at, "warning")
    at.button(key=f"train_cancel_yes_{name}").click()
    at.run()
    assert run_folders.cancel_requested(running)
    assert f"Cancelling `{name}`" in texts(at, "info")
    assert "Started" not in texts(at, "success")

    # The trainer stops at the end of its batch, keeping the checkpoint of epoch 2.
    checkpoint_files.write(running, {"epoch": 2, "phase": "training"}, {"model/0": np.zeros(2)})
    run_folders.set_status(running, "cancelled", phase="cancelled", ended=time.time())
    at.run()
    assert not at.exception, at.exception
    said = texts(at, "info")
    assert f"`{name}` was cancelled at epoch 3/15; its curves are kept below" in said
    assert "With **Resume** it resumes from epoch 3 of 15." in said
    assert any(chart.key == f"train_curves_last_{name}" for chart in at.get("plotly_chart"))
    details = at.dataframe[0].value.set_index("run")["details"]
    assert details[name].startswith("cancelled at epoch 3/15. Resume:")
    width = json.loads(at.dataframe[0].proto.columns)["details"]["width"]
    assert width >= 7 * len(details[name])  # shown whole, not cut off (issue 22.7)
    at.button(key=f"train_resume_{name}").click()
    at.run()
    assert run_folders.load_run(running).state == "queued"


def test_a_run_cancelled_before_its_first_epoch_is_not_offered_resume(dataset):  # noqa: F811
    folder = fake_run("cancelled", {"created": time.time(), "epoch": 1, "epochs": 5})
    assert run_folders.reopen(folder) is None
    at = open_page()
    assert not any(button.key == f"train_resume_{folder.name}" for button in at.button)
    assert "cancelled at epoch 1/5" in texts(at, "caption")
