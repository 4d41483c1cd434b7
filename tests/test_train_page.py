"""AppTest of the Training page: a tiny real run on the demo data, refused inputs, no TF."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from streamlit.testing.v1 import AppTest

from core import settings
from core.jobs import training_queue
from core.runs import lifecycle, run_folders
from tests.conftest import make_tree

pytestmark = pytest.mark.demo

APP = str(settings.REPO_ROOT / "streamlit_app.py")


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/train.py")
    at.run()
    assert not at.exception, at.exception
    return at


def set_inputs(at: AppTest, model: str = "cnn", **values: int) -> None:
    at.selectbox(key="train_model").set_value(model)
    at.run()
    for key, value in values.items():
        at.number_input(key=f"train_{key}").set_value(value)


def table(at: AppTest):
    (frame,) = at.dataframe  # the run list is the page's only table
    return frame.value


@pytest.mark.slow
def test_page_trains_a_tiny_run_and_shows_it_finished():
    at = open_page()
    assert "No runs yet" in " ".join(info.value for info in at.info)
    set_inputs(
        at,
        image_size=32,
        epochs=1,
        batch_size=16,
        size_train=32,
        size_validation=16,
        size_test=16,
    )
    at.button(key="train_start").click()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [error.value for error in at.error]
    (run,) = run_folders.list_runs()
    assert run.config["model"] == "cnn"
    assert run.config["image_size"] == 32
    assert run.config["train_size"] == 32
    assert run.config["data_dir"] is None  # the demo set
    assert table(at)["state"].iloc[0] in ("queued (#1)", "running", "finished")

    deadline = time.monotonic() + 240
    while (
        run_folders.load_run(run.path).state in training_queue.ACTIVE_STATES
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    finished = run_folders.load_run(run.path)
    log = (run.path / lifecycle.TRAINER_LOG_NAME).read_text()
    assert finished.finished, f"{finished.status}\n{log}"

    at.run()
    assert not at.exception, at.exception
    row = table(at).iloc[0]
    assert row["run"] == run.name
    assert row["state"] == "finished"
    assert 0 <= float(row["test accuracy"]) <= 1  # shown as text: "0.875", "—" when missing
    assert "No run is training" in " ".join(caption.value for caption in at.caption)
    deadline = time.monotonic() + 60  # TensorFlow takes a few seconds to exit
    while training_queue.worker_pid() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert training_queue.worker_pid() is None, "the worker should exit once the queue is empty"


def test_page_refuses_inputs_that_cannot_work(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "Dataset", {"Train": (6, 6), "Validation": (3, 3), "Test": (3, 3)})
    monkeypatch.setenv(settings.DATA_ENV, str(root))
    at = open_page()
    assert "Available: 12" in " ".join(caption.value for caption in at.caption)

    set_inputs(at, size_train=13, image_size=64)
    at.run()  # refused before Start: the error shows and Start is disabled
    errors = " ".join(error.value for error in at.error)
    assert "The Train subset (13) is larger than the Train split (12 images)" in errors
    assert at.button(key="train_start").disabled
    assert run_folders.list_runs() == []

    set_inputs(at, model="xception", size_train=12, size_validation=6, size_test=6)
    at.run()
    assert at.number_input(key="train_image_size").min == 71  # the field refuses 32
    assert run_folders.list_runs() == []
    assert training_queue.worker_pid() is None


def captions(at: AppTest) -> str:
    return " ".join(caption.value for caption in at.caption)


def test_xception_panel_says_what_this_machine_has(tmp_path, monkeypatch):
    """Issue 15.11: the panel reports this machine's Keras cache, never "these machines"."""
    root = make_tree(tmp_path / "Dataset", {"Train": (6, 6), "Validation": (3, 3), "Test": (3, 3)})
    monkeypatch.setenv(settings.DATA_ENV, str(root))
    keras_home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    at = open_page()
    at.selectbox(key="train_model").set_value("xception")
    at.run()
    text = captions(at)
    assert "No ImageNet weights in the Keras cache on this machine" in text
    assert str(keras_home / "models") in text and "will try to download them" in text
    assert "These machines" not in text

    cached = keras_home / "models" / "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    at.run()
    text = captions(at)
    assert f"ImageNet weights found in the Keras cache on this machine ({cached})" in text
    assert "download" not in text.split("found in the Keras cache")[1].split(".")[0]


def test_model_options_reach_the_queued_config(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "Dataset", {"Train": (6, 6), "Validation": (3, 3), "Test": (3, 3)})
    monkeypatch.setenv(settings.DATA_ENV, str(root))
    monkeypatch.setattr(training_queue, "ensure_worker", lambda: None)
    at = open_page()
    set_inputs(at, model="capsnet", image_size=32, size_train=8, size_validation=4, size_test=4)
    at.number_input(key="train_option_capsnet_routing_iterations").set_value(3)
    at.text_input(key="train_option_capsnet_widths").set_value("16,32")
    at.button(key="train_start").click()
    at.run()
    assert not at.exception, at.exception
    (queued,) = training_queue.queued_runs()
    assert queued.config["options"]["routing_iterations"] == 3
    assert queued.config["options"]["widths"] == [16, 32]
    assert queued.config["options"]["n_primary"] == 8  # defaults recorded too

    at.text_input(key="train_option_capsnet_widths").set_value("16,lots")
    at.button(key="train_start").click()
    at.run()
    errors = " ".join(error.value for error in at.error)
    assert "capsnet option widths" in errors and "not a number" in errors
    assert len(training_queue.queued_runs()) == 1


def test_page_queues_all_three_models_in_order(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "Dataset", {"Train": (6, 6), "Validation": (3, 3), "Test": (3, 3)})
    monkeypatch.setenv(settings.DATA_ENV, str(root))
    # A trainer that never starts keeps the runs queued: we only check what was queued.
    monkeypatch.setattr(training_queue, "ensure_worker", lambda: None)
    at = open_page()
    set_inputs(at, model="all", image_size=72, size_train=8, size_validation=4, size_test=4)
    at.button(key="train_start").click()
    at.run()
    assert not at.exception, at.exception
    assert "Only one run trains at a time" in " ".join(s.value for s in at.success)
    queued = training_queue.queued_runs()
    assert [run.model for run in queued] == ["cnn", "capsnet", "xception"]
    assert {run.config["seed"] for run in queued} == {42}
    assert {run.config["data_dir"] for run in queued} == {str(root)}
    assert list(table(at)["state"]) == ["queued (#3)", "queued (#2)", "queued (#1)"]


def test_page_does_not_import_tensorflow(tmp_path):
    root = make_tree(tmp_path / "Dataset", {"Train": (2, 2), "Validation": (1, 1), "Test": (1, 1)})
    script = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({APP!r}, default_timeout=60)\n"
        "at.run(); at.switch_page('app_pages/train.py'); at.run()\n"
        "assert not at.exception, at.exception\n"
        "print('TF' if 'tensorflow' in sys.modules else 'NO-TF')\n"
    )
    env = {**os.environ, settings.DATA_ENV: str(root)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "NO-TF"


def test_seeds_queue_one_experiment_on_the_same_files(tmp_path, monkeypatch):
    """Issue 21.4: N seeds of one model, the same subset, one experiment name."""
    root = make_tree(tmp_path / "Dataset", {"Train": (6, 6), "Validation": (3, 3), "Test": (3, 3)})
    monkeypatch.setenv(settings.DATA_ENV, str(root))
    monkeypatch.setattr(training_queue, "ensure_worker", lambda: None)
    at = open_page()
    set_inputs(at, model="cnn", image_size=32, size_train=8, size_validation=4, size_test=4)
    at.number_input(key="train_seeds").set_value(3).run()
    at.button(key="train_start").click()
    at.run()
    assert not at.exception, at.exception
    queued = training_queue.queued_runs()
    assert [run.config["seed"] for run in queued] == [42, 43, 44]
    assert {run.config["subset_seed"] for run in queued} == {42}
    (experiment,) = {run.config["experiment"] for run in queued}
    assert experiment.startswith("cnn seeds 42-44")


def test_page_gives_minutes_per_epoch_from_this_machines_speed(tmp_path, monkeypatch):
    """Issue 24.5 / 21.6: before Start, the time per epoch of the chosen subset, with a range."""
    from core.runs import throughput
    from core.runs.config import TrainConfig
    from core.runs.throughput import StepStats
    from core.training import probe

    root = make_tree(tmp_path / "Dataset", {"Train": (6, 6), "Validation": (3, 3), "Test": (3, 3)})
    monkeypatch.setenv(settings.DATA_ENV, str(root))
    at = open_page()
    set_inputs(at, image_size=64, size_train=12, size_validation=6, size_test=6)
    at.run()
    assert "No training speed measured on this machine yet for CNN at 64 px" in captions(at)

    def fake_probe(config, steps=10):  # the real one trains; here, a known rate
        stats = StepStats(32.0, 16.0, 64.0, 5)
        throughput.record(config.to_dict(), "training", stats, 0.5, origin="probe")

    monkeypatch.setattr(probe, "probe_in_subprocess", fake_probe)
    at.button(key="train_measure_speed").click()
    at.run()
    assert not at.exception, at.exception
    # 1 s per training image, 0.5 s per validation image: 12 + 3 = 15 s per epoch.
    text = captions(at)
    assert "about 0m 15s per epoch of 12 training + 6 validation images" in text, text
    assert f"for all {TrainConfig.epochs} epochs" in text and "measured on this machine" in text
    assert "without reading the images" in text  # a probe's caveat, said with it
