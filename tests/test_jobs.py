"""The training queue: order, one worker, cancel, crashed runs, subprocess environment.

Most tests run the real worker process with a fast fake trainer
(``python -m tests.fake_trainer``, injected through ``DEEPFAKE_TRAINER_CMD``); one
trains for real. Tests wait on files and states with generous deadlines, never on
wall-clock stamps compared across processes.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core import processes, settings
from core.jobs import lane, training_queue
from core.runs import lifecycle, run_folders
from core.runs.config import TrainConfig
from tests.conftest import make_tree
from tests.fake_trainer import write_fake_model


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    log = training_queue.LANE.worker_log_path()
    detail = log.read_text() if log.exists() else "(no worker log)"
    raise AssertionError(f"Timed out waiting for {what}. Worker log:\n{detail}")


def state(run_dir: Path) -> str:
    return run_folders.load_run(run_dir).state


def idle() -> bool:
    return training_queue.worker_pid() is None and not any(
        run.state in training_queue.ACTIVE_STATES for run in run_folders.list_runs()
    )


@pytest.fixture
def fake_trainer(tmp_path, monkeypatch) -> Path:
    """Inject the fake trainer; return the events file it appends start/end lines to."""
    events = tmp_path / "events.txt"
    events.touch()
    monkeypatch.setenv(training_queue.TRAINER_ENV, f"{sys.executable} -m tests.fake_trainer")
    monkeypatch.setenv("FAKE_EVENTS", str(events))
    yield events
    # Never leave a worker of ours behind, even when a test failed half-way.
    with contextlib.suppress(AssertionError):
        wait_until(lambda: training_queue.worker_pid() is None, 10, "the worker to exit")
    identity = training_queue.worker_identity()
    if identity is not None and processes.alive(*identity):
        os.kill(identity[0], signal.SIGKILL)


def events_of(path: Path) -> list[tuple[str, str]]:
    """The fake trainers' start/end lines, in the order they were appended."""
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(kind, name) for kind, name in rows]


def queue(configs: list[TrainConfig], modes: list[str] | None = None) -> list[Path]:
    """Queue runs without starting a worker, each with its fake-trainer mode."""
    folders = training_queue.submit_many(configs, start_worker=False)
    for folder, mode in zip(folders, modes or [], strict=False):
        (folder / "fake_mode").write_text(mode)
    return folders


CONFIG = TrainConfig(model="cnn", image_size=32, epochs=1, train_size=8, val_size=4, test_size=4)


def test_submit_writes_config_and_queued_status():
    folder = training_queue.submit(CONFIG, start_worker=False)
    assert folder.parent == settings.runs_dir()
    assert folder.name.startswith("cnn_")
    assert json.loads((folder / "config.json").read_text()) == CONFIG.to_dict()
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "queued"
    assert status["created"] <= time.time()
    assert training_queue.worker_pid() is None  # start_worker=False started nothing


def test_queue_positions_follow_submission_order():
    configs = [CONFIG.replace(model=name, image_size=71) for name in ("xception", "cnn", "capsnet")]
    folders = training_queue.submit_many(configs, start_worker=False)
    assert [training_queue.queue_position(folder) for folder in folders] == [1, 2, 3]
    assert [run.path for run in training_queue.queued_runs()] == folders
    training_queue.cancel(folders[0])
    assert training_queue.queue_position(folders[0]) is None
    assert [training_queue.queue_position(folder) for folder in folders[1:]] == [1, 2]


def test_default_trainer_command_uses_this_interpreter(monkeypatch):
    monkeypatch.delenv(training_queue.TRAINER_ENV, raising=False)
    assert training_queue.trainer_command(Path("runs/x")) == [
        sys.executable,
        "-m",
        "core.training",
        "--run-dir",
        str(Path("runs/x")),
    ]


def test_one_worker_trains_runs_in_order_one_at_a_time(fake_trainer):
    folders = queue([CONFIG.replace(seed=seed) for seed in range(3)])
    started = [training_queue.ensure_worker() for _ in range(3)]
    # A second tab pressing Start at the same moment: a duplicate worker must bow out.
    duplicate = subprocess.Popen(
        [sys.executable, "-m", "core.jobs", "--worker"],
        cwd=settings.REPO_ROOT,
        env=processes.child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # its log lines
        text=True,
    )
    assert started[0] is not None
    wait_until(idle, 60, "all runs to finish")
    duplicate_output, _ = duplicate.communicate(timeout=10)
    assert duplicate.returncode == 0
    assert [state(folder) for folder in folders] == ["finished"] * 3
    events = events_of(fake_trainer)
    # Strictly one after the other (the file's line order is the order of events).
    assert events == [(kind, f.name) for f in folders for kind in ("start", "end")]
    # Either worker may win the race; between them, each run was trained exactly once.
    log = training_queue.LANE.worker_log_path().read_text() + duplicate_output
    assert log.count("training cnn_") == 3


def test_cancel_queued_run_never_starts(fake_trainer):
    first, second = queue([CONFIG, CONFIG.replace(seed=1)])
    assert training_queue.cancel(second) == "cancelled"
    assert state(second) == "cancelled"  # at once, no worker involved
    training_queue.ensure_worker()
    wait_until(idle, 30, "the queue to drain")
    assert state(first) == "finished"
    assert state(second) == "cancelled"
    assert second.name not in fake_trainer.read_text()
    assert not (second / "metrics.json").exists()


def test_cancel_running_run_stops_it(fake_trainer):
    (folder,) = queue([CONFIG], ["slow"])
    training_queue.ensure_worker()
    wait_until(lambda: run_folders.load_run(folder).status.get("batch"), 30, "training to start")
    assert training_queue.cancel(folder) == "running"
    wait_until(lambda: state(folder) == "cancelled", 15, "the run to stop")
    assert not (folder / "metrics.json").exists()
    assert run_folders.load_run(folder).status["batch"] < 400
    wait_until(idle, 10, "the worker to exit")


@pytest.mark.slow
def test_run_ignoring_cancel_is_terminated_after_grace(fake_trainer, monkeypatch):
    monkeypatch.setenv(lane.GRACE_ENV, "1")
    (folder,) = queue([CONFIG], ["hang"])
    training_queue.ensure_worker()
    wait_until(lambda: run_folders.load_run(folder).status.get("pid"), 30, "training to start")
    status = run_folders.load_run(folder).status
    assert lifecycle.trainer_alive(status)
    training_queue.cancel(folder)
    wait_until(lambda: state(folder) == "cancelled", 20, "the run to be terminated")
    assert not lifecycle.trainer_alive(status)
    assert "ignored Cancel" in training_queue.LANE.worker_log_path().read_text()


def test_crashed_run_is_failed_and_worker_goes_on(fake_trainer):
    crashed, fine = queue([CONFIG, CONFIG.replace(seed=1)], ["crash", "finish"])
    training_queue.ensure_worker()
    wait_until(idle, 30, "the queue to drain")
    run = run_folders.load_run(crashed)
    assert run.state == "failed"
    assert run.status["error"] == f"{lifecycle.UNEXPECTED_STOP} (exit code 3)."
    assert "crashing on purpose" in run.status["log_tail"]
    assert not run.finished
    assert state(fine) == "finished"


def test_killed_trainer_is_interrupted(fake_trainer):
    (folder,) = queue([CONFIG], ["slow"])
    training_queue.ensure_worker()
    wait_until(lambda: run_folders.load_run(folder).status.get("batch"), 30, "training to start")
    os.kill(run_folders.load_run(folder).status["pid"], signal.SIGKILL)
    wait_until(lambda: state(folder) == "interrupted", 15, "the run to be marked interrupted")
    assert "killed by signal 9" in run_folders.load_run(folder).status["error"]


def test_trainer_killed_after_metrics_is_finished(fake_trainer):
    """Killed between metrics.json and its final status: the complete run is finished."""
    (folder,) = queue([CONFIG], ["die_after_metrics"])
    training_queue.ensure_worker()
    wait_until(idle, 30, "the queue to drain")
    run = run_folders.load_run(folder)
    assert run.state == "finished" and run.finished
    assert run.status["state"] == "finished"  # the worker wrote it, not only derived


def test_running_run_with_dead_pid_is_reported_interrupted():
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead, alive = training_queue.submit_many([CONFIG, CONFIG.replace(seed=1)], start_worker=False)
    run_folders.set_status(dead, "running", pid=finished.pid, epoch=1, epochs=3)
    run_folders.set_status(alive, "running", pid=os.getpid(), epoch=1, epochs=3)
    listed = {run.name: run for run in training_queue.refresh_states()}
    assert listed[dead.name].state == "interrupted"
    assert listed[dead.name].status["error"].startswith(lifecycle.UNEXPECTED_STOP)
    assert not listed[dead.name].finished
    assert listed[alive.name].state == "running"
    assert state(dead) == "interrupted"  # written to disk, not only reported


def test_reused_pid_is_not_taken_for_the_trainer(monkeypatch):
    """A live pid with another start time is another process: not waited for, not signalled."""
    monkeypatch.setenv(lane.GRACE_ENV, "0")
    folder = training_queue.submit(CONFIG, start_worker=False)
    started = run_folders.process_started(os.getpid())
    assert started is not None
    run_folders.set_status(folder, "running", pid=os.getpid(), pid_started=started - 1000.0)
    run_folders.request_cancel(folder)  # overdue at once: the old code would SIGTERM this pid
    assert not lifecycle.trainer_alive(run_folders.load_run(folder).status)
    assert processes.alive(os.getpid(), started)
    (run,) = training_queue.refresh_states()
    assert run.state == "cancelled"  # judged gone; we are still here to see it
    # A status without a start time (old run folders) names no live process either.
    assert not processes.alive(os.getpid(), None)


def test_run_complete_on_disk_is_finished_whatever_its_status():
    for recorded in ("running", "failed"):
        folder = training_queue.submit(CONFIG, start_worker=False)
        run_folders.set_status(folder, "running", phase="evaluating")
        if recorded == "failed":
            run_folders.set_status(folder, "failed", error="killed")
        write_fake_model(folder / "model.keras")
        run_folders.write_json(folder / "metrics.json", {"accuracy": 0.5})
        run = run_folders.load_run(folder)
        assert run.state == "finished" and run.finished, recorded
    # Finished on paper, model cut short: never shown finished.
    broken = training_queue.submit(CONFIG, start_worker=False)
    run_folders.set_status(broken, "running")
    write_fake_model(broken / "model.keras")
    data = (broken / "model.keras").read_bytes()
    (broken / "model.keras").write_bytes(data[: len(data) // 2])
    run_folders.write_json(broken / "metrics.json", {"accuracy": 0.5})
    run_folders.set_status(broken, "finished")
    run = run_folders.load_run(broken)
    assert run.state == "broken" and not run.finished
    assert "model.keras" in run.errors[-1]


def test_transitions_are_enforced_in_one_place():
    folder = training_queue.submit(CONFIG, start_worker=False)
    assert run_folders.set_status(folder, "finished") is None  # queued -> finished: refused
    assert state(folder) == "queued"
    assert run_folders.set_status(folder, "running", only_from=("queued",), batch=1) is not None
    assert run_folders.set_status(folder, "running", only_from=("queued",)) is None
    assert run_folders.set_status(folder, "cancelled")["state"] == "cancelled"
    before = (folder / "status.json").read_text()
    # A late progress write of the trainer cannot flip a final state back.
    assert run_folders.set_status(folder, "running", batch=2) is None
    assert (folder / "status.json").read_text() == before
    for final in ("finished", "failed"):
        assert run_folders.TRANSITIONS[final] == frozenset()
    # An interrupted or cancelled run can only be queued again (a resume), never "running".
    for stopped in ("interrupted", "cancelled"):
        assert run_folders.TRANSITIONS[stopped] == frozenset({"queued"})
    assert run_folders.allowed("running", "interrupted") and not run_folders.allowed(
        "finished", "failed"
    )
    with pytest.raises(ValueError, match="Unknown state"):
        run_folders.set_status(folder, "done")


def _write_many(run_dir: str, writer: int, count: int) -> None:
    for i in range(count):
        run_folders.set_status(Path(run_dir), "running", **{f"w{writer}_{i}": i})


def test_concurrent_status_writers_lose_nothing():
    """Three processes updating status.json at once: every field of every one survives."""
    folder = training_queue.submit(CONFIG, start_worker=False)
    run_folders.set_status(folder, "running")
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_many, args=(str(folder), w, 40)) for w in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    status = run_folders.read_json(folder / "status.json")
    missing = [f"w{w}_{i}" for w in range(3) for i in range(40) if f"w{w}_{i}" not in status]
    assert missing == []


def test_worker_is_named_by_pid_and_start_time_and_logs_with_timestamps(fake_trainer):
    (folder,) = queue([CONFIG], ["slow"])
    training_queue.ensure_worker()
    wait_until(lambda: run_folders.load_run(folder).status.get("batch"), 30, "training to start")
    identity = training_queue.worker_identity()
    assert identity is not None and processes.alive(*identity)
    status = run_folders.load_run(folder).status
    assert (status["worker_pid"], status["worker_started"]) == pytest.approx(identity)
    assert status["pid_started"] == pytest.approx(run_folders.process_started(status["pid"]))
    training_queue.cancel(folder)
    wait_until(idle, 30, "the worker to exit")
    lines = [
        line for line in training_queue.LANE.worker_log_path().read_text().splitlines() if line
    ]
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[worker \d+\]")
    assert any("training " + folder.name in line for line in lines)
    assert all(stamp.match(line) for line in lines), lines


def test_worker_and_trainer_inherit_environment(fake_trainer, monkeypatch, tmp_path, artifacts):
    data_dir = tmp_path / "somewhere" / "Dataset"
    monkeypatch.setenv(settings.DATA_ENV, str(data_dir))
    (folder,) = queue([CONFIG])
    training_queue.ensure_worker()
    wait_until(idle, 30, "the run to finish")
    env = json.loads((folder / "env.json").read_text())
    assert Path(env["cwd"]) == settings.REPO_ROOT
    assert Path(env["artifacts"]) == artifacts
    assert env["data"] == str(data_dir)
    assert env["argv"][-2:] == ["--run-dir", str(folder)]


@pytest.mark.slow
def test_real_training_run_end_to_end(tmp_path, monkeypatch):
    monkeypatch.delenv(training_queue.TRAINER_ENV, raising=False)
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
    folder = training_queue.submit(config)
    wait_until(
        lambda: state(folder) not in training_queue.ACTIVE_STATES, 240, "the real run to end"
    )
    run = run_folders.load_run(folder)
    log = (folder / lifecycle.TRAINER_LOG_NAME).read_text()
    assert run.state == "finished", f"{run.status}\n{log}"
    assert run.finished
    assert (folder / "model.keras").is_file()
    assert len(run.history()["loss"]) == 1
    wait_until(lambda: training_queue.worker_pid() is None, 30, "the worker to exit")


def test_fault_pause_hook_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.delenv(run_folders.PAUSE_ENV, raising=False)
    run_folders.write_json(tmp_path / "metrics.json", {"a": 1})
    assert not (tmp_path / "metrics.json.paused").exists()
    monkeypatch.setenv(run_folders.PAUSE_ENV, "metrics.json:0.01")
    run_folders.write_json(tmp_path / "history.json", {"a": 1})
    assert not (tmp_path / "history.json.paused").exists()
    run_folders.write_json(tmp_path / "metrics.json", {"a": 2})
    assert (tmp_path / "metrics.json.paused").exists()


BENCH = [sys.executable, "-m", "bench.fault_injection"]


@pytest.mark.slow
def test_fault_injection_finds_no_violation(tmp_path):
    """Four fake-trainer trials of bench/fault_injection.py: one per moment, trainer killed."""
    result = subprocess.run(
        [*BENCH, "--trials", "4", "--real-every", "0", "--no-record"],
        cwd=settings.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Trials: 4; killed at the chosen moment: 4;" in result.stdout
    assert "**violations: 0**" in result.stdout
