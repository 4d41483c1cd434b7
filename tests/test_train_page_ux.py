"""AppTest of what the Train page tells a person (issue 15): checks before Start, feedback
that stays, duplicates, a ticking clock, the whole queue's ETA, one reading for the live
panel and the run table, a link to the results, and runs shown on a Test-only dataset.

Runs are written as folders with a chosen status; nothing trains here.
"""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import settings
from core.jobs import training_queue
from core.models.registry import get_spec
from core.runs import run_folders
from core.runs.config import TrainConfig
from tests.conftest import make_tree

pytestmark = pytest.mark.demo

APP = str(settings.REPO_ROOT / "streamlit_app.py")


@pytest.fixture
def dataset(tmp_path, monkeypatch) -> Path:
    root = make_tree(tmp_path / "Dataset", {"Train": (6, 6), "Validation": (3, 3), "Test": (3, 3)})
    monkeypatch.setenv(settings.DATA_ENV, str(root))
    # No trainer: queued runs stay queued, the test only reads what the page says.
    monkeypatch.setattr(training_queue, "ensure_worker", lambda: None)
    return root


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/train.py")
    at.run()
    assert not at.exception, at.exception
    return at


def fake_run(state: str, status: dict, metrics: dict | None = None, **config) -> Path:
    """A run folder in ``state`` with the given status, config fields and metrics."""
    values = {"model": "cnn", "image_size": 64, "train_size": 100, "epochs": 2} | config
    folder = run_folders.new_run_dir(values["model"])
    run_folders.write_json(folder / "config.json", TrainConfig(**values).to_dict())
    run_folders.write_json(folder / "history.json", {"loss": [0.7], "val_loss": [0.69]})
    if metrics is not None:
        run_folders.write_json(folder / "metrics.json", metrics)
        # A finished run needs a whole model archive too (run_folders.is_complete); the page
        # only lists it, so an archive with Keras's config entry stands in for a model.
        with zipfile.ZipFile(folder / "model.keras", "w") as archive:
            archive.writestr("config.json", "{}")
    run_folders.set_status(folder, state, **status)
    return folder


def texts(at: AppTest, kind: str) -> str:
    return " ".join(str(element.value) for element in getattr(at, kind))


def displayed(frame):
    """The cell texts st.dataframe shows: a pandas Styler's display values when it has one."""
    import pyarrow as pa

    proto = frame.proto.arrow_data
    if proto.styler.display_values:
        table = pa.ipc.open_stream(proto.styler.display_values).read_all().to_pandas()
        table.columns = frame.value.columns
        return table
    return frame.value.astype(str)


def small_inputs(at: AppTest, model: str = "cnn") -> None:
    at.selectbox(key="train_model").set_value(model).run()
    for key, value in {"size_train": 8, "size_validation": 4, "size_test": 4}.items():
        at.number_input(key=f"train_{key}").set_value(value)
    at.run()


def test_fields_are_checked_against_the_models_before_start(dataset):
    """Issue 15.6: the image-size field cannot go below the chosen models' minimum."""
    at = open_page()
    at.number_input(key="train_image_size").set_value(64).run()
    assert at.number_input(key="train_image_size").min == get_spec("cnn").min_image_size
    assert at.number_input(key="train_image_size").value == 64
    at.selectbox(key="train_model").set_value("all").run()
    field = at.number_input(key="train_image_size")
    assert field.min == 71 and field.value == 71  # raised to Xception's minimum
    assert "Xception (71)" in field.help
    # A field that cannot work is reported above a disabled Start, before any click.
    at.number_input(key="train_size_train").set_value(13).run()
    assert "larger than the Train split" in texts(at, "error")
    assert at.button(key="train_start").disabled


def test_start_feedback_stays_in_view(dataset):
    """Issue 15.6: a toast, and a status line that survives the page's next reruns."""
    at = open_page()
    small_inputs(at, "all")
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    assert any("Queued" in toast.value for toast in at.toast)
    for _ in range(2):  # the live panel reruns the page when the queue changes
        assert "Queued `cnn_" in texts(at, "success")
        at.run()
    assert len(training_queue.queued_runs()) == 3


def test_an_identical_run_needs_a_confirmation(dataset):
    """Issue 15.7: pressing Start twice asks before queueing the same run again."""
    at = open_page()
    small_inputs(at)
    at.button(key="train_start").click().run()
    assert len(run_folders.list_runs()) == 1
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    assert "An identical run already exists" in texts(at, "warning")
    assert len(run_folders.list_runs()) == 1
    at.button(key="train_duplicate_no").click().run()
    assert "Nothing was queued." in texts(at, "info")
    assert len(run_folders.list_runs()) == 1
    at.button(key="train_start").click().run()
    at.button(key="train_duplicate_yes").click().run()
    assert len(run_folders.list_runs()) == 2
    # A different seed is another run: no question.
    at.number_input(key="train_seed").set_value(7).run()
    at.button(key="train_start").click().run()
    assert "An identical run" not in texts(at, "warning")
    assert len(run_folders.list_runs()) == 3


def test_live_panel_clock_queue_eta_and_table(dataset, monkeypatch):
    """Issue 15.9: a ticking clock, the whole queue's ETA, one reading, no "None"."""
    now = time.time()
    fake_run(
        "finished",
        {"created": now - 500, "elapsed_s": 100},
        {"accuracy": 0.9, "auc": 0.95, "train_seconds": 100.0, "epochs_run": 2},
    )
    running = fake_run(
        "running",
        {
            "created": now - 400,
            "started": now - 65,
            "elapsed_s": 7.0,  # written at the last batch: stale
            "eta_s": 20.0,
            "epoch": 1,
            "epochs": 2,
            "batch": 0,
            "batches": 4,
            "pid": os.getpid(),
            "phase": "training",
        },
    )
    fake_run("queued", {"created": now - 300})
    # Each read of the runs sees the trainer one epoch further: the table and the panel
    # must show the same reading.
    real_refresh = training_queue.refresh_states

    def advancing():
        found = real_refresh()
        status = run_folders.load_run(running).status
        run_folders.set_status(running, "running", epoch=min(2, status["epoch"] + 1))
        return found

    monkeypatch.setattr(training_queue, "refresh_states", advancing)
    at = open_page()
    captions = texts(at, "caption")
    # The clock ticks from the start (65 s ago), not from the trainer's stale 7 s.
    minutes, seconds = re.search(r"Elapsed (\d+)m (\d+)s", captions).groups()
    assert 65 <= 60 * int(minutes) + int(seconds) < 65 + 120 and "0m 07s" not in captions
    # Running run: 20 s left in its phase; queued CNN run: 100 s as learnt from the finished one.
    assert "about 2m 00s left" in texts(at, "markdown")
    bars = [bar.proto.text for bar in at.get("progress")]
    epoch_bar = next(text for text in bars if text.startswith("Epoch"))
    (table,) = [frame.value for frame in at.dataframe]
    row = table[table["state"] == "running"].iloc[0]
    assert epoch_bar.lower().startswith(row["details"])
    # What the grid draws: the styled display values, "—" where a run has no metric yet.
    shown = displayed(at.dataframe[0])
    assert "None" not in shown["test accuracy"].tolist()
    assert set(shown["test AUC"]) == {"0.950", "—"}
    # Issue 15.13 and 22.7: the details column is as wide as its longest text.
    width = json.loads(at.dataframe[0].proto.columns)["details"]["width"]
    assert width >= 7 * max(len(text) for text in table["details"])


def test_a_finished_run_links_to_its_results(dataset):
    """Issue 15.9: when the last run ends, its result, its curves and a link to Compare."""
    counts = {"n_fake": 40, "n_real": 40}
    fake_run("finished", {"created": time.time()}, {"accuracy": 0.875, "auc": 0.9} | counts)
    at = open_page()
    assert "finished: test accuracy 0.875, AUC 0.900. Learned: test AUC 0.90" in texts(
        at, "success"
    )
    assert [link.proto.page for link in at.get("page_link")] == ["compare"]
    assert len(at.get("plotly_chart")) == 1


def test_test_only_dataset_still_shows_the_runs(openforensics, monkeypatch):
    """Issue 15.10: a dataset that cannot train still shows "Now training" and "All runs"."""
    monkeypatch.setenv(settings.DATA_ENV, str(openforensics))
    fake_run("finished", {"created": time.time()}, {"accuracy": 0.5, "auc": 0.5})
    at = open_page()
    assert "no usable Train, Validation split" in texts(at, "info")
    assert {"Now training", "All runs"} <= {header.value for header in at.subheader}
    assert len(at.dataframe) == 1
    assert not at.get("button") or all(b.key != "train_start" for b in at.get("button"))


def test_a_finished_run_that_learned_nothing_says_so_and_what_to_change(dataset):
    """Issue 21.1: the finished line of a chance-level run is a warning with advice."""
    counts = {"n_fake": 40, "n_real": 40}
    fake_run("finished", {"created": time.time()}, {"accuracy": 0.5, "auc": 0.52} | counts)
    at = open_page()
    warning = texts(at, "warning")
    assert "finished: test accuracy 0.500, AUC 0.520. Did not learn: test AUC 0.52" in warning
    assert "train on more images" in warning
