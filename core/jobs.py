"""A file-based queue of training runs, worked through by one background process.

Why files and a detached process: a Streamlit page reruns, reloads and opens in
several tabs; none of that may kill, duplicate or forget a training run. So the
queue *is* the run folders (``status.json`` says ``queued``), and a worker process
started with its own session trains them one at a time::

    submit(config)              run folder + config.json + status "queued", worker started
    python -m core.jobs --worker
        holds artifacts/worker.lock (flock; the file holds its pid and start
        time), so only ONE
        worker -- and therefore only one training run -- exists at a time on this
        2-core machine; takes queued runs oldest first; trains each one as its own
        subprocess ``python -m core.train --run-dir DIR`` (a crash in a run never
        kills the worker); exits when the queue is empty.
    resume(run_dir)             an interrupted run is queued again; its trainer goes on
                                from the run's last checkpoint (core.checkpoint).
    cancel(run_dir)             queued: cancelled at once; running: the trainer is
                                asked to stop (it checks every batch) and is
                                terminated if it has not stopped after a grace period.
    refresh_states()            the run list, with "running" runs whose trainer is gone
                                marked interrupted (or finished, when complete).

Processes are identified by (pid, start time), read with psutil, never by a bare
pid: after a reboot or once a pid is reused, an unrelated process is never
signalled or waited for. The worker logs through :mod:`logging`, with timestamps,
to ``artifacts/worker.log``.

The trainer command can be replaced through ``DEEPFAKE_TRAINER_CMD`` (a shell-style
command; ``--run-dir DIR`` is appended); tests use it to run a fast fake trainer.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from core import checkpoint_files, runs, settings
from core.config import TrainConfig
from core.processes import (  # noqa: F401 - re-exported: pages, tests and benches use them
    START_TOLERANCE_S,
    alive,
    child_env,
    lock_holder,
    log_tail,
    lower_priority,
    process,
    run_watched,
    same_process,
    start_detached,
    terminate,
    try_lock,
    write_identity,
)

logger = logging.getLogger(__name__)

TRAINER_ENV = "DEEPFAKE_TRAINER_CMD"
GRACE_ENV = "DEEPFAKE_CANCEL_GRACE_S"
#: Seconds a running run may take to stop by itself after Cancel before it is killed.
DEFAULT_CANCEL_GRACE_S = 30.0
LOCK_NAME = "worker.lock"
WORKER_LOG_NAME = "worker.log"
TRAINER_LOG_NAME = "trainer.log"
POLL_S = 0.25
ACTIVE_STATES = ("queued", "running")
UNEXPECTED_STOP = "The training process stopped unexpectedly"

_last_created = 0.0
_created_lock = threading.Lock()


# --- paths and small helpers -------------------------------------------------


def lock_path() -> Path:
    """Return the worker's lock/pid file."""
    return settings.artifacts_dir() / LOCK_NAME


def worker_log_path() -> Path:
    """Return the log file that receives the worker's stdout and stderr."""
    return settings.artifacts_dir() / WORKER_LOG_NAME


def cancel_grace_s() -> float:
    """Return the cancel grace period (``DEEPFAKE_CANCEL_GRACE_S`` or 30 s)."""
    try:
        return float(os.environ.get(GRACE_ENV, DEFAULT_CANCEL_GRACE_S))
    except ValueError:
        return DEFAULT_CANCEL_GRACE_S


def trainer_command(run_dir: Path) -> list[str]:
    """Return the command that trains the queued run in ``run_dir``."""
    custom = os.environ.get(TRAINER_ENV, "").strip()
    base = shlex.split(custom) if custom else [sys.executable, "-m", "core.train"]
    return [*base, "--run-dir", str(run_dir)]


def trainer_alive(status: dict) -> bool:
    """True when the trainer recorded in a run's status is still running."""
    return alive(status.get("pid"), status.get("pid_started"))


def _next_created() -> float:
    """A creation time strictly after the previous one from this process (queue order)."""
    global _last_created
    with _created_lock:
        _last_created = max(time.time(), _last_created + 1e-6)
        return _last_created


def worker_identity() -> tuple[int, float] | None:
    """Return (pid, start time) of the live worker, or None when no worker holds the lock."""
    return lock_holder(lock_path())


def worker_pid() -> int | None:
    """Return the pid of the live worker, or None when no worker holds the lock."""
    identity = worker_identity()
    return identity[0] if identity else None


def ensure_worker() -> int | None:
    """Start the background worker unless one is running.

    Returns:
        The pid of the worker started, or None when one was already running.
    """
    if worker_pid() is not None:
        return None
    return start_detached([sys.executable, "-m", "core.jobs", "--worker"], worker_log_path())


# --- submitting, listing, cancelling ----------------------------------------


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
    for config in configs:
        folder = runs.new_run_dir(config.model)
        runs.write_json(folder / "config.json", config.to_dict())
        runs.set_status(folder, "queued", created=_next_created(), phase="queued")
        folders.append(folder)
    if start_worker and folders:
        ensure_worker()
    return folders


def _created(run: runs.Run) -> tuple[float, str]:
    return (float(run.status.get("created") or 0), run.name)


def queued_runs(all_runs: Sequence[runs.Run] | None = None) -> list[runs.Run]:
    """Return the queued runs in the order they will train (oldest first)."""
    all_runs = runs.list_runs() if all_runs is None else all_runs
    waiting = [run for run in all_runs if run.state == "queued"]
    return sorted(waiting, key=_created)


def queue_position(run: runs.Run | Path, all_runs: Sequence[runs.Run] | None = None) -> int | None:
    """Return 1 for the next queued run to train, 2 for the one after... None if not queued."""
    name = run.name
    for position, waiting in enumerate(queued_runs(all_runs), start=1):
        if waiting.name == name:
            return position
    return None


def running_runs(all_runs: Sequence[runs.Run] | None = None) -> list[runs.Run]:
    """Return the runs marked running (normally at most one)."""
    all_runs = runs.list_runs() if all_runs is None else all_runs
    return sorted((run for run in all_runs if run.state == "running"), key=_created)


def cancel(run_dir: Path) -> str:
    """Cancel a queued or running run.

    A queued run is marked cancelled at once. A running run is asked to stop (the
    trainer checks every batch and ends "cancelled"); if it has not stopped after
    the grace period, the worker terminates it and marks it cancelled.

    Returns:
        The state right after the call ("cancelled", "running", or the final state
        the run already had).
    """
    runs.request_cancel(run_dir)
    cancelled = runs.set_status(
        run_dir, "cancelled", only_from=("queued",), phase="cancelled", ended=time.time()
    )
    return "cancelled" if cancelled else runs.load_run(run_dir).state


def resume(run_dir: Path, start_worker: bool = True) -> bool:
    """Queue an interrupted run again (its trainer goes on from its checkpoint); False if not."""
    queued = runs.reopen(run_dir) is not None
    if queued and start_worker:
        ensure_worker()
    return queued


def _cancel_overdue(run_dir: Path) -> bool:
    """True when Cancel was pressed longer than the grace period ago."""
    try:
        asked = (run_dir / runs.CANCEL_FLAG).stat().st_mtime
    except FileNotFoundError:
        return False
    return time.time() - asked > cancel_grace_s()


def refresh_states() -> list[runs.Run]:
    """Return every run, newest first, after correcting states that are no longer true.

    A run marked running whose trainer is gone (killed, the machine rebooted) is
    marked finished when its files are complete, else interrupted, so it never
    looks running. An overdue cancel of a run no worker looks after is enforced
    here. Queued runs with no worker alive get a worker again.
    """
    worker = worker_identity()
    all_runs = runs.list_runs()
    changed = False
    for run in all_runs:
        status = run.status
        if status.get("state") != "running":  # as recorded: a complete run may still say so
            continue
        if worker is not None and _same_worker(status, worker):
            continue  # its worker watches the trainer and records how it ended
        trainer = process(status.get("pid"), status.get("pid_started"))
        if trainer is not None:
            if _cancel_overdue(run.path):
                terminate(trainer)
                runs.set_status(run.path, "cancelled", phase="cancelled", ended=time.time())
                changed = True
            continue
        # Gone: read again, the trainer may have written its final state just before exiting.
        current = runs.load_run(run.path).status
        if current.get("state") == "running" and current.get("pid") == status.get("pid"):
            mark_stopped(run.path, None)
            changed = True
    if changed:
        all_runs = runs.list_runs()
    if worker is None and any(run.state == "queued" for run in all_runs):
        ensure_worker()
    return all_runs


def _same_worker(status: dict, worker: tuple[int, float]) -> bool:
    """True when a run's status names this live worker (pid and start time)."""
    return same_process(status.get("worker_pid"), status.get("worker_started"), worker)


def mark_stopped(run_dir: Path, returncode: int | None) -> None:
    """Record how a run whose trainer is gone ended, when the trainer could not say.

    Complete runs (metrics and model written) are finished whatever happened after.
    Otherwise: cancelled when Cancel was pressed; failed when the trainer exited
    with an error code; interrupted when it was killed by a signal or vanished
    (``returncode`` None: found dead by :func:`refresh_states`).
    """
    now = time.time()
    if runs.is_complete(run_dir):
        runs.set_status(run_dir, "finished", phase="done", eta_s=0.0, ended=now)
        checkpoint_files.remove(run_dir)
        return
    if runs.cancel_requested(run_dir):
        runs.set_status(run_dir, "cancelled", phase="cancelled", ended=now)
        checkpoint_files.remove(run_dir)
        return
    state = "interrupted" if returncode is None or returncode < 0 else "failed"
    if state == "failed":
        checkpoint_files.remove(run_dir)  # only interrupted runs are resumed
    if returncode is None:
        how = " (its process is gone: killed, or the machine restarted)"
    elif returncode < 0:
        how = f" (killed by signal {-returncode})"
    elif returncode == 0:
        how = " (it exited without saving its results)"
    else:
        how = f" (exit code {returncode})"
    error = f"{UNEXPECTED_STOP}{how}."
    tail = log_tail(run_dir / TRAINER_LOG_NAME)
    runs.set_status(run_dir, state, phase=state, error=error, log_tail=tail or None, ended=now)


# --- the worker --------------------------------------------------------------


def _next_queued() -> Path | None:
    waiting = queued_runs()
    return waiting[0].path if waiting else None


def _wait_for_other_trainers() -> None:
    """Wait while a run left by an earlier worker still trains (one run at a time)."""
    while True:
        others = [
            run
            for run in running_runs()
            if run.status.get("worker_pid") != os.getpid() and trainer_alive(run.status)
        ]
        if not others:
            return
        logger.info("waiting for %s, left by an earlier worker", others[0].name)
        refresh_states()  # enforces an overdue cancel of such orphans
        time.sleep(1.0)


def train_one(run_dir: Path) -> int | None:
    """Train one queued run in a subprocess and make sure its final state is recorded.

    Returns:
        The trainer's exit code, or None when the run was skipped (cancelled).
    """
    state = runs.load_run(run_dir).state
    if state != "queued" or runs.cancel_requested(run_dir):
        if state == "queued":
            runs.set_status(
                run_dir, "cancelled", only_from=("queued",), phase="cancelled", ended=time.time()
            )
        return None
    claimed = runs.set_status(
        run_dir,
        "running",
        only_from=("queued",),
        phase="starting",
        worker_pid=os.getpid(),
        started=time.time(),
    )
    if claimed is None:  # cancelled between our look and our claim
        return None
    command = trainer_command(run_dir)
    logger.info("training %s: %s", run_dir.name, shlex.join(command))
    # Record the trainer's identity at once, so a worker killed right now leaves a
    # run that refresh_states can judge (the trainer writes the same pid itself).
    returncode = run_watched(
        command,
        run_dir / TRAINER_LOG_NAME,
        on_start=lambda pid: runs.set_status(run_dir, "running", pid=pid),
        should_stop=lambda: _overdue_logged(run_dir),
    )
    if runs.load_run(run_dir).status.get("state") in ACTIVE_STATES:
        mark_stopped(run_dir, returncode)
    logger.info(
        "%s ended: exit code %s, state %s",
        run_dir.name,
        returncode,
        runs.load_run(run_dir).state,
    )
    return returncode


def _overdue_logged(run_dir: Path) -> bool:
    if _cancel_overdue(run_dir):
        logger.warning("%s ignored Cancel; terminating it", run_dir.name)
        return True
    return False


def _configure_logging() -> None:
    """Worker log lines: time, level, pid, message (stderr goes to worker.log)."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s [worker %(process)d] %(name)s: %(message)s",
    )


def run_worker() -> int:
    """Train queued runs oldest first, one at a time, until the queue is empty.

    Returns:
        0 (also when another worker already holds the lock).
    """
    handle = try_lock(lock_path(), timeout=2.0)
    if handle is None:
        logger.info("another worker is running; exiting")
        return 0
    try:
        while True:
            write_identity(handle)
            run_dir = _next_queued()
            if run_dir is not None:
                _wait_for_other_trainers()
                train_one(run_dir)
                continue
            # Release, then look once more: a run queued while we released would
            # otherwise find the lock held and wait for nobody.
            handle.close()
            handle = None
            if _next_queued() is None:
                return 0
            handle = try_lock(lock_path(), timeout=2.0)
            if handle is None:
                return 0  # another worker took over
    finally:
        if handle is not None:
            handle.close()


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help="work through the queue")
    args = parser.parse_args(argv)
    if args.worker:
        _configure_logging()
        lower_priority()  # the pages stay responsive while a run uses every core
        return run_worker()
    _print_queue()
    return 0


if __name__ == "__main__":
    sys.exit(main())
