"""The training queue: order, one worker, cancel, crashed runs, subprocess environment.

Most tests run the real worker process with a fast fake trainer (a script written to
``tmp_path`` and injected through ``DEEPFAKE_TRAINER_CMD``); one trains for real.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core import jobs, runs, settings
from core.config import TrainConfig
from tests.conftest import make_tree

FAKE_TRAINER = '''
"""A stand-in for ``python -m core.train --run-dir DIR``; behaviour from DIR/fake_mode."""
import os, signal, sys, time
from pathlib import Path

sys.path.insert(0, os.getcwd())  # the worker runs us from the repository root
from core import runs, settings

run_dir = Path(sys.argv[sys.argv.index("--run-dir") + 1])
mode_file = run_dir / "fake_mode"
mode = mode_file.read_text().strip() if mode_file.exists() else "finish"
events = Path(os.environ["FAKE_EVENTS"])
with events.open("a") as file:
    file.write(f"start {run_dir.name} {time.time()}\\n")
runs.write_json(run_dir / "env.json", {
    "cwd": os.getcwd(),
    "artifacts": os.environ.get(settings.ARTIFACTS_ENV),
    "data": os.environ.get(settings.DATA_ENV),
    "argv": sys.argv,
})
runs.set_status(run_dir, "running", pid=os.getpid(), phase="train", epoch=1, epochs=1)
if mode == "crash":
    print("fake trainer crashing on purpose", flush=True)
    os._exit(3)
if mode == "hang":  # never looks at the cancel flag, ignores SIGTERM
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(120)
steps = 400 if mode == "slow" else 4
for batch in range(steps):
    if runs.cancel_requested(run_dir):
        runs.set_status(run_dir, "cancelled", phase="cancelled")
        sys.exit(0)
    runs.set_status(run_dir, "running", batch=batch + 1, batches=steps)
    time.sleep(0.05)
runs.write_json(run_dir / "history.json", {"loss": [0.5], "val_loss": [0.6]})
runs.write_json(run_dir / "metrics.json", {"accuracy": 0.75, "auc": 0.8})
runs.set_status(run_dir, "finished", phase="done")
with events.open("a") as file:
    file.write(f"end {run_dir.name} {time.time()}\\n")
'''


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    log = jobs.worker_log_path()
    detail = log.read_text() if log.exists() else "(no worker log)"
    raise AssertionError(f"Timed out waiting for {what}. Worker log:\n{detail}")


def state(run_dir: Path) -> str:
    return runs.load_run(run_dir).state


def idle() -> bool:
    return jobs.worker_pid() is None and not any(
        run.state in jobs.ACTIVE_STATES for run in runs.list_runs()
    )


@pytest.fixture
def fake_trainer(tmp_path, monkeypatch) -> Path:
    """Inject the fake trainer; return the events file it appends start/end lines to."""
    script = tmp_path / "fake_trainer.py"
    script.write_text(FAKE_TRAINER)
    events = tmp_path / "events.txt"
    events.touch()
    monkeypatch.setenv(jobs.TRAINER_ENV, f"{sys.executable} {script}")
    monkeypatch.setenv("FAKE_EVENTS", str(events))
    yield events
    # Never leave a worker of ours behind, even when a test failed half-way.
    with contextlib.suppress(AssertionError):
        wait_until(lambda: jobs.worker_pid() is None, 10, "the worker to exit")
    pid = jobs.worker_pid()
    if pid is not None:
        os.kill(pid, signal.SIGKILL)


def events_of(path: Path) -> list[tuple[str, str, float]]:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(kind, name, float(stamp)) for kind, name, stamp in rows]


def queue(configs: list[TrainConfig], modes: list[str] | None = None) -> list[Path]:
    """Queue runs without starting a worker, each with its fake-trainer mode."""
    folders = jobs.submit_many(configs, start_worker=False)
    for folder, mode in zip(folders, modes or [], strict=False):
        (folder / "fake_mode").write_text(mode)
    return folders


CONFIG = TrainConfig(model="cnn", image_size=32, epochs=1, train_size=8, val_size=4, test_size=4)


def test_submit_writes_config_and_queued_status():
    folder = jobs.submit(CONFIG, start_worker=False)
    assert folder.parent == settings.runs_dir()
    assert folder.name.startswith("cnn_")
    assert json.loads((folder / "config.json").read_text()) == CONFIG.to_dict()
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "queued"
    assert status["created"] <= time.time()
    assert jobs.worker_pid() is None  # start_worker=False started nothing


def test_queue_positions_follow_submission_order():
    configs = [CONFIG.replace(model=name, image_size=71) for name in ("xception", "cnn", "capsnet")]
    folders = jobs.submit_many(configs, start_worker=False)
    assert [jobs.queue_position(folder) for folder in folders] == [1, 2, 3]
    assert [run.path for run in jobs.queued_runs()] == folders
    jobs.cancel(folders[0])
    assert jobs.queue_position(folders[0]) is None
    assert [jobs.queue_position(folder) for folder in folders[1:]] == [1, 2]


def test_default_trainer_command_uses_this_interpreter(monkeypatch):
    monkeypatch.delenv(jobs.TRAINER_ENV, raising=False)
    assert jobs.trainer_command(Path("runs/x")) == [
        sys.executable,
        "-m",
        "core.train",
        "--run-dir",
        str(Path("runs/x")),
    ]


def test_one_worker_trains_runs_in_order_one_at_a_time(fake_trainer):
    folders = queue([CONFIG.replace(seed=seed) for seed in range(3)])
    started = [jobs.ensure_worker() for _ in range(3)]
    # A second tab pressing Start at the same moment: a duplicate worker must bow out.
    duplicate = subprocess.Popen(
        [sys.executable, "-m", "core.jobs", "--worker"],
        cwd=settings.REPO_ROOT,
        env=jobs.child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert started[0] is not None
    wait_until(idle, 60, "all runs to finish")
    duplicate_output, _ = duplicate.communicate(timeout=10)
    assert duplicate.returncode == 0
    assert [state(folder) for folder in folders] == ["finished"] * 3
    events = events_of(fake_trainer)
    assert [name for kind, name, _ in events if kind == "start"] == [f.name for f in folders]
    # Strictly one after the other: each run starts after the previous one ended.
    assert [kind for kind, _, _ in events] == ["start", "end"] * 3
    assert all(a[2] <= b[2] for a, b in itertools.pairwise(events))
    # Either worker may win the race; between them, each run was trained exactly once.
    log = jobs.worker_log_path().read_text() + duplicate_output
    assert log.count("training ") == 3


def test_cancel_queued_run_never_starts(fake_trainer):
    first, second = queue([CONFIG, CONFIG.replace(seed=1)])
    assert jobs.cancel(second) == "cancelled"
    assert state(second) == "cancelled"  # at once, no worker involved
    jobs.ensure_worker()
    wait_until(idle, 30, "the queue to drain")
    assert state(first) == "finished"
    assert state(second) == "cancelled"
    assert second.name not in fake_trainer.read_text()
    assert not (second / "metrics.json").exists()


def test_cancel_running_run_stops_it(fake_trainer):
    (folder,) = queue([CONFIG], ["slow"])
    jobs.ensure_worker()
    wait_until(lambda: runs.load_run(folder).status.get("batch"), 30, "training to start")
    assert jobs.cancel(folder) == "running"
    wait_until(lambda: state(folder) == "cancelled", 15, "the run to stop")
    assert not (folder / "metrics.json").exists()
    assert runs.load_run(folder).status["batch"] < 400
    wait_until(idle, 10, "the worker to exit")


def test_run_ignoring_cancel_is_terminated_after_grace(fake_trainer, monkeypatch):
    monkeypatch.setenv(jobs.GRACE_ENV, "1")
    (folder,) = queue([CONFIG], ["hang"])
    jobs.ensure_worker()
    wait_until(lambda: runs.load_run(folder).status.get("pid"), 30, "training to start")
    pid = runs.load_run(folder).status["pid"]
    jobs.cancel(folder)
    wait_until(lambda: state(folder) == "cancelled", 20, "the run to be terminated")
    assert not jobs.pid_alive(pid)
    assert "ignored Cancel" in jobs.worker_log_path().read_text()


def test_crashed_run_is_failed_and_worker_goes_on(fake_trainer):
    crashed, fine = queue([CONFIG, CONFIG.replace(seed=1)], ["crash", "finish"])
    jobs.ensure_worker()
    wait_until(idle, 30, "the queue to drain")
    run = runs.load_run(crashed)
    assert run.state == "failed"
    assert run.status["error"] == f"{jobs.UNEXPECTED_STOP} (exit code 3)."
    assert "crashing on purpose" in run.status["log_tail"]
    assert not run.finished
    assert state(fine) == "finished"


def test_killed_trainer_is_failed(fake_trainer):
    (folder,) = queue([CONFIG], ["slow"])
    jobs.ensure_worker()
    wait_until(lambda: runs.load_run(folder).status.get("batch"), 30, "training to start")
    os.kill(runs.load_run(folder).status["pid"], signal.SIGKILL)
    wait_until(lambda: state(folder) == "failed", 15, "the run to be marked failed")
    assert "killed by signal 9" in runs.load_run(folder).status["error"]


def test_running_run_with_dead_pid_is_reported_failed():
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead, alive = jobs.submit_many([CONFIG, CONFIG.replace(seed=1)], start_worker=False)
    runs.set_status(dead, "running", pid=finished.pid, epoch=1, epochs=3)
    runs.set_status(alive, "running", pid=os.getpid(), epoch=1, epochs=3)
    listed = {run.name: run for run in jobs.refresh_states()}
    assert listed[dead.name].state == "failed"
    assert listed[dead.name].status["error"].startswith(jobs.UNEXPECTED_STOP)
    assert not listed[dead.name].finished
    assert listed[alive.name].state == "running"
    assert state(dead) == "failed"  # written to disk, not only reported


def test_worker_and_trainer_inherit_environment(fake_trainer, monkeypatch, tmp_path, artifacts):
    data_dir = tmp_path / "somewhere" / "Dataset"
    monkeypatch.setenv(settings.DATA_ENV, str(data_dir))
    (folder,) = queue([CONFIG])
    jobs.ensure_worker()
    wait_until(idle, 30, "the run to finish")
    env = json.loads((folder / "env.json").read_text())
    assert Path(env["cwd"]) == settings.REPO_ROOT
    assert Path(env["artifacts"]) == artifacts
    assert env["data"] == str(data_dir)
    assert env["argv"][-2:] == ["--run-dir", str(folder)]


@pytest.mark.slow
def test_real_training_run_end_to_end(tmp_path, monkeypatch):
    monkeypatch.delenv(jobs.TRAINER_ENV, raising=False)
    root = make_tree(
        tmp_path / "Dataset", {"Train": (8, 8), "Validation": (4, 4), "Test": (4, 4)}, size=32
    )
    config = TrainConfig(
        model="cnn",
        data_dir=str(root),
        image_size=32,
        epochs=1,
        batch_size=8,
        train_size=16,
        val_size=8,
        test_size=8,
        augment=False,
    )
    folder = jobs.submit(config)
    wait_until(lambda: state(folder) not in jobs.ACTIVE_STATES, 240, "the real run to end")
    run = runs.load_run(folder)
    log = (folder / jobs.TRAINER_LOG_NAME).read_text()
    assert run.state == "finished", f"{run.status}\n{log}"
    assert run.finished
    assert (folder / "model.keras").is_file()
    assert len(run.history()["loss"]) == 1
    wait_until(lambda: jobs.worker_pid() is None, 30, "the worker to exit")
