"""core.training.distribute: TF_CONFIG, the chief, devices in words, two workers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import make_tree

from core import settings
from core.runs import run_folders
from core.training import distribute, precision

pytestmark = pytest.mark.demo


def tf_config(workers: int, task_type: str = "worker", index: int = 0, chief: bool = False) -> str:
    cluster = {"worker": [f"127.0.0.1:{2000 + i}" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["127.0.0.1:1999"]
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def test_no_tf_config_or_a_cluster_of_one_trains_on_this_machine():
    assert distribute.parse_tf_config(None) is None
    assert distribute.parse_tf_config("  ") is None
    assert distribute.parse_tf_config(tf_config(1)) is None


@pytest.mark.parametrize(
    ("config", "chief"),
    [
        (tf_config(2, "worker", 0), True),  # no chief task: worker 0 is the chief
        (tf_config(2, "worker", 1), False),
        (tf_config(1, "chief", 0, chief=True), True),
        (tf_config(1, "worker", 0, chief=True), False),  # a chief exists: worker 0 is not it
    ],
)
def test_the_chief_is_the_chief_task_else_worker_0(config, chief):
    cluster = distribute.parse_tf_config(config)
    assert cluster is not None and cluster.workers == 2
    assert cluster.is_chief is chief


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"cluster": {"worker": ["a:1", "b:2"]}', "not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', 'no "cluster"'),
        (
            '{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker"}}',
            "names ps",
        ),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "boss"}}', '"type"'),
        (
            '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
            "not in",
        ),
        ('{"cluster": {"worker": "a:1,b:2"}, "task": {"type": "worker"}}', "list of"),
    ],
)
def test_an_unusable_tf_config_is_one_clear_sentence(text, problem):
    with pytest.raises(distribute.DistributeError) as raised:
        distribute.parse_tf_config(text)
    message = str(raised.value)
    assert problem in message and message.startswith("TF_CONFIG cannot be used:")
    assert "\n" not in message and message.endswith(".") and message.count(". ") == 0


def test_an_unusable_tf_config_stops_the_cli_before_any_run_folder(monkeypatch, capsys, artifacts):
    from core.training import cli

    monkeypatch.setenv(distribute.TF_CONFIG_ENV, "{not json")
    assert cli.main(["--model", "cnn", "--epochs", "1"]) == 1
    assert "TF_CONFIG cannot be used: it is not valid JSON" in capsys.readouterr().err
    assert not any((artifacts / "runs").glob("*"))


def test_only_the_chief_gets_the_run_folder(monkeypatch, artifacts, tmp_path):
    monkeypatch.setattr(distribute, "multi_worker_strategy", lambda: None)  # no TF cluster here
    monkeypatch.setattr(distribute.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(distribute.TF_CONFIG_ENV, tf_config(2, "worker", 1))
    scratch = distribute.run_folder(None, "cnn")
    assert scratch.is_dir() and scratch.is_relative_to(tmp_path)
    assert not any(settings.runs_dir().iterdir())
    monkeypatch.setenv(distribute.TF_CONFIG_ENV, tf_config(2, "worker", 0))
    chief = distribute.run_folder(None, "cnn")
    assert chief.parent == settings.runs_dir() and chief.name.startswith("cnn_")
    monkeypatch.delenv(distribute.TF_CONFIG_ENV)
    assert distribute.run_folder(chief, "cnn") == chief


def test_auto_precision_is_float32_across_machines(monkeypatch):
    monkeypatch.setattr(settings, "cpu_has_bfloat16", lambda cpuinfo=None: True)
    monkeypatch.setattr(precision, "bfloat16_timing", lambda: (True, "timed"))  # on this CPU
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")  # off, bfloat16 would be emulated: float32
    monkeypatch.setenv(settings.PRECISION_ENV, "auto")
    assert distribute.training_precision(has_gpu=False) == "mixed_bfloat16"
    monkeypatch.setenv(distribute.TF_CONFIG_ENV, tf_config(2))
    monkeypatch.setattr(precision, "bfloat16_timing", lambda: pytest.fail("timed in a cluster"))
    assert distribute.choose_precision(has_gpu=False) == (
        "float32",
        "auto: float32 on several machines",
    )
    monkeypatch.setenv(settings.PRECISION_ENV, "mixed_bfloat16")  # chosen: the same everywhere
    assert distribute.training_precision(has_gpu=True) == "mixed_bfloat16"
    monkeypatch.delenv(settings.PRECISION_ENV)
    assert distribute.training_precision(has_gpu=True) == "float32"
    assert distribute.training_precision(has_gpu=False, default="auto") == "float32"
    monkeypatch.delenv(distribute.TF_CONFIG_ENV)
    monkeypatch.setattr(precision, "bfloat16_timing", lambda: (True, "timed"))
    assert distribute.choose_precision(has_gpu=False, default="auto") == (
        "mixed_bfloat16",
        "auto: timed",
    )


@pytest.mark.parametrize(
    ("record", "text"),
    [
        ({"devices_used": ["CPU"], "workers": 1}, "1 CPU"),
        ({"devices_used": ["CPU", "CPU"], "workers": 1}, "2 CPUs"),
        ({"devices_used": ["GPU:0 (NVIDIA H100)"], "workers": 1}, "1 GPU (NVIDIA H100)"),
        ({"devices_used": ["GPU:0 (NVIDIA A)", "GPU:1 (NVIDIA A)"]}, "2 GPUs (NVIDIA A)"),
        ({"devices_used": ["CPU"], "workers": 2}, "2 workers x 1 CPU"),
        ({"devices": 1, "accuracy": 0.5}, ""),  # a run from before devices were recorded
        (None, ""),
    ],
)
def test_devices_in_words(record, text):
    assert distribute.devices_text(record) == text


def test_a_run_on_this_machine_records_its_device():
    import tensorflow as tf

    used = distribute.devices_used(distribute.distribution_strategy())
    if tf.config.list_physical_devices("GPU"):  # a GPU machine: TensorFlow's default device
        assert used["devices_used"][0].startswith("GPU:0")
        assert distribute.devices_text(used).startswith("1 GPU")
    else:
        assert used == {"devices_used": ["CPU"], "workers": 1}
        assert distribute.devices_text(used) == "1 CPU"


def test_gpu_requirements_are_the_cpu_ones_with_cuda_tensorflow():
    def requirements(name: str) -> dict[str, str]:
        lines = (settings.REPO_ROOT / name).read_text().splitlines()
        pairs = [line.split("#")[0].strip() for line in lines]
        found = {}
        for pair in filter(None, pairs):
            cut = min(i for i in (pair.find(c) for c in "<>=!~") if i >= 0)
            found[pair[:cut]] = pair[cut:]
        return found

    cpu, gpu = requirements("requirements.txt"), requirements("requirements-gpu.txt")
    assert gpu.pop("tensorflow[and-cuda]") == cpu.pop("tensorflow-cpu")
    assert gpu == cpu


#: Two TensorFlow processes on 2 shared cores: about 40 s idle, minutes under load.
WORKERS_DEADLINE_S = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_workers_on_localhost_write_one_complete_run(tmp_path, artifacts):
    data = make_tree(tmp_path / "Dataset", {"Train": (4, 4), "Validation": (2, 2), "Test": (2, 2)})
    hosts = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    command = [sys.executable, "-m", "core.training", "--model", "cnn", "--data-dir", str(data)]
    command += ["--image-size", "32", "--epochs", "1", "--batch-size", "8", "--option", "widths=8"]
    scratch = tmp_path / "worker-tmp"
    scratch.mkdir()
    workers = []
    for index in range(2):
        config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        env = {
            **os.environ,
            settings.ARTIFACTS_ENV: str(artifacts),
            "TF_CONFIG": json.dumps(config),
        }
        env.update(TMPDIR=str(scratch if index else tmp_path), TF_CPP_MIN_LOG_LEVEL="2")
        log = (tmp_path / f"worker{index}.log").open("w")
        workers.append(
            subprocess.Popen(
                command,
                cwd=settings.REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline, codes = time.monotonic() + WORKERS_DEADLINE_S, []
    try:
        for worker in workers:
            codes.append(worker.wait(timeout=max(1, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        codes.append("timed out")
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
    logs = [(tmp_path / f"worker{index}.log").read_text()[-3000:] for index in range(2)]
    assert codes == [0, 0], logs
    (run,) = run_folders.list_runs(artifacts / "runs")
    assert run.finished, logs
    for name in ("config.json", "history.json", "metrics.json", "model.keras", "model_card.md"):
        assert (run.path / name).is_file(), name
    assert run.metrics["workers"] == 2 and run.metrics["devices"] == 2
    assert distribute.devices_text(run.metrics) == "2 workers x 1 CPU"
    assert run.status["workers"] == 2 and run.state == "finished"
    assert len(run.history()["loss"]) == run.metrics["epochs_run"]
    assert "the chief writes the run" in (tmp_path / "worker1.log").read_text()
    assert not any(scratch.iterdir())  # the non-chief's throwaway folder is gone


def fake_run(name: str, state: str, created: float, record: dict) -> Path:
    """A run folder the Train page reads: finished (metrics + a model archive) or running."""
    folder = settings.runs_dir() / name
    folder.mkdir(parents=True)
    run_folders.write_json(
        folder / "config.json", {"model": "cnn", "image_size": 32, "train_size": 8}
    )
    if state == "finished":
        with zipfile.ZipFile(folder / "model.keras", "w") as archive:
            archive.writestr("config.json", "{}")
        run_folders.write_json(folder / "metrics.json", {"accuracy": 0.5, "auc": 0.5, **record})
        run_folders.set_status(folder, "finished", created=created)
    else:
        run_folders.set_status(
            folder, "running", created=created, pid=os.getpid(), epoch=1, **record
        )
    return folder


def test_train_page_says_what_each_run_trained_on():
    from streamlit.testing.v1 import AppTest

    fake_run("cnn_20250101-000000", "finished", 1.0, {"devices": 1})  # before devices_used
    fake_run("cnn_20250102-000000", "finished", 2.0, {"devices_used": ["CPU"], "workers": 2})

    def page() -> AppTest:
        at = AppTest.from_file(str(settings.REPO_ROOT / "streamlit_app.py"), default_timeout=60)
        at.run()
        at.switch_page("app_pages/train.py")
        at.run()
        assert not at.exception, at.exception
        return at

    at = page()
    # A record without an AUC cannot say whether the run learned: an info line, not a success.
    assert "Trained on: 2 workers x 1 CPU." in " ".join(s.value for s in at.info)
    (frame,) = at.dataframe
    assert frame.value.set_index("run")["trained on"].to_dict() == {
        "cnn_20250102-000000": "2 workers x 1 CPU",
        "cnn_20250101-000000": "",
    }
    gpu = {"devices_used": ["GPU:0 (NVIDIA H100)"], "workers": 1}
    fake_run("cnn_20250103-000000", "running", 3.0, gpu)
    at = page()
    assert "training on 1 GPU (NVIDIA H100)" in " ".join(c.value for c in at.caption)
    (frame,) = at.dataframe
    assert (
        frame.value.set_index("run")["trained on"]["cnn_20250103-000000"] == "1 GPU (NVIDIA H100)"
    )
