"""The training queue: run folders with status "queued", trained one at a time.

Why files and a detached process: a Streamlit page reruns, reloads and opens in
several tabs; none of that may kill, duplicate or forget a training run. So the
queue *is* the run folders, worked by the lane of :mod:`core.jobs.lane`::

    submit(config)              run folder + config.json + status "queued", worker started
    python -m core.jobs --worker
        holds artifacts/worker.lock, so only ONE training run exists at a time on
        this 2-core machine; trains each queued run as its own subprocess
        ``python -m core.training --run-dir DIR``; exits when the queue is empty.
    resume(run_dir)             an interrupted run is queued again; its trainer goes on
                                from the run's last checkpoint.
    cancel(run_dir)             queued: cancelled at once; running: the trainer is
                                asked to stop (it checks every batch) and is
                                terminated if it has not stopped after a grace period.
    refresh_states()            the run list, with "running" runs whose trainer is gone
                                marked interrupted (or finished, when complete).

What differs from the scoring lane: the command (the trainer), how a stopped run
ended (:func:`core.runs.lifecycle.mark_stopped`), and that a worker waits for a
trainer left running by an earlier worker. The trainer command can be replaced
through ``DEEPFAKE_TRAINER_CMD`` (a shell-style command; ``--run-dir DIR`` is
appended); tests use it to run a fast fake trainer.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from core.jobs import lane
from core.processes import lower_priority, python_module
from core.runs import lifecycle, run_folders
from core.runs.config import TrainConfig

logger = logging.getLogger(__name__)

TRAINER_ENV = "DEEPFAKE_TRAINER_CMD"
ACTIVE_STATES = lane.ACTIVE_STATES


def trainer_command(run_dir: Path) -> list[str]:
    """Return the command that trains the queued run in ``run_dir``."""
    custom = os.environ.get(TRAINER_ENV, "").strip()
    base = shlex.split(custom) if custom else python_module("core.training")
    return [*base, "--run-dir", str(run_dir)]


def _wait_for_other_trainers() -> None:
    """Wait while a run left by an earlier worker still trains (one run at a time)."""
    while True:
        others = [
            run
            for run in running_runs()
            if run.status.get("worker_pid") != os.getpid() and lifecycle.trainer_alive(run.status)
        ]
        if not others:
            return
        logger.info("waiting for %s, left by an earlier worker", others[0].name)
        refresh_states()  # enforces an overdue cancel of such orphans
        time.sleep(1.0)


LANE = lane.Lane(
    name="training",
    lock_name="worker.lock",
    worker_log_name="worker.log",
    worker_command=lambda: python_module("core.jobs", "--worker"),
    task_command=trainer_command,
    task_log_name=lifecycle.TRAINER_LOG_NAME,
    list_tasks=lambda: run_folders.list_runs(),
    mark_stopped=lifecycle.mark_stopped,
    before_task=_wait_for_other_trainers,
)


def worker_identity() -> tuple[int, float] | None:
    """Return (pid, start time) of the live worker, or None when no worker holds the lock."""
    return LANE.worker_identity()


def worker_pid() -> int | None:
    """Return the pid of the live worker, or None when no worker holds the lock."""
    identity = LANE.worker_identity()
    return identity[0] if identity else None


def ensure_worker() -> int | None:
    """Start the background worker unless one is running; its pid, or None if one ran."""
    return LANE.ensure_worker()


def submit(config: TrainConfig, start_worker: bool = True) -> Path:
    """Queue one training run.

    Args:
        config: the run's configuration.
        start_worker: start the background worker if none is running.

    Returns:
        The new run folder (status "queued").
    """
    return submit_many([config], start_worker=start_worker)[0]


def submit_many(configs: Iterable[TrainConfig], start_worker: bool = True) -> list[Path]:
    """Queue several runs in the given order (e.g. all three models, same subset and seed).

    Returns:
        The new run folders, in queue order.
    """
    folders = []
    created = time.time()
    for order, config in enumerate(configs):
        folder = run_folders.new_run_dir(config.model)
        run_folders.write_json(folder / "config.json", config.to_dict())
        # Microseconds apart: the queue keeps the order given even within one clock tick.
        run_folders.set_status(folder, "queued", created=created + order * 1e-6, phase="queued")
        folders.append(folder)
    if start_worker and folders:
        ensure_worker()
    return folders


def queued_runs(all_runs: Sequence[run_folders.Run] | None = None) -> list[run_folders.Run]:
    """Return the queued runs in the order they will train (oldest first)."""
    return LANE.queued(all_runs)


def queue_position(
    run: run_folders.Run | Path, all_runs: Sequence[run_folders.Run] | None = None
) -> int | None:
    """Return 1 for the next queued run to train, 2 for the one after... None if not queued."""
    for position, waiting in enumerate(queued_runs(all_runs), start=1):
        if waiting.name == run.name:
            return position
    return None


def running_runs(all_runs: Sequence[run_folders.Run] | None = None) -> list[run_folders.Run]:
    """Return the runs marked running (normally at most one)."""
    return LANE.running(all_runs)


def cancel(run_dir: Path) -> str:
    """Cancel a queued or running run (see the module docstring).

    Returns:
        The state right after the call ("cancelled", "running", or the final state
        the run already had).
    """
    return "cancelled" if lane.cancel(run_dir) else run_folders.load_run(run_dir).state


def resume(run_dir: Path, start_worker: bool = True) -> bool:
    """Queue an interrupted or cancelled run again (its trainer goes on from its checkpoint).

    Returns:
        False when nothing was queued (see :func:`core.runs.run_folders.reopen`).
    """
    queued = run_folders.reopen(run_dir) is not None
    if queued and start_worker:
        ensure_worker()
    return queued


def refresh_states() -> list[run_folders.Run]:
    """Return every run, newest first, after correcting states that are no longer true.

    A run marked running whose trainer is gone (killed, the machine rebooted) is
    marked finished when its files are complete, else interrupted, so it never
    looks running. An overdue cancel of a run no worker looks after is enforced
    here. Queued runs with no worker alive get a worker again.
    """
    all_runs = LANE.refresh()
    if LANE.needs_worker(all_runs):
        ensure_worker()
    return all_runs


def train_one(run_dir: Path) -> int | None:
    """Train one queued run in a subprocess and record its end; None when it was skipped."""
    return LANE.work_one(run_dir)


def run_worker() -> int:
    """Train queued runs oldest first, one at a time, until the queue is empty; returns 0."""
    return LANE.run_worker()


def _print_queue() -> None:
    all_runs = refresh_states()
    worker = worker_pid()
    print(f"worker: {'pid ' + str(worker) if worker else 'not running'}")
    for run in running_runs(all_runs):
        status = run.status
        print(f"running  {run.name}  epoch {status.get('epoch')}/{status.get('epochs')}")
    for position, run in enumerate(queued_runs(all_runs), start=1):
        print(f"queued   {run.name}  #{position}")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``--worker`` works the queue; without it, print the queue."""
    parser = argparse.ArgumentParser(
        prog="python -m core.jobs", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--worker", action="store_true", help="work through the queue")
    args = parser.parse_args(argv)
    if args.worker:
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(levelname)s [worker %(process)d] %(name)s: %(message)s",
        )
        lower_priority()  # the pages stay responsive while a run uses every core
        return run_worker()
    _print_queue()
    return 0
