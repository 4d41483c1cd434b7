"""One background lane: folders queued on disk, worked one at a time by one worker process.

Both queues of the workbench are lanes: training runs (:mod:`core.jobs.training_queue`)
and scoring jobs (:mod:`core.jobs.scoring_queue`). What a lane guarantees::

    queue        a folder whose status.json says "queued" (oldest "created" first)
    worker       one process per lane, holding the lane's lock file (flock, with its
                 pid and start time); it takes queued folders oldest first, runs each
                 one's command as its own subprocess (a crash in a task never kills
                 the worker) and exits when the queue is empty
    cancel       queued: cancelled at once; running: the task is asked to stop (it
                 checks the flag itself) and terminated after the grace period
    refresh      a folder marked running whose process is gone is marked stopped (the
                 lane's ``mark_stopped`` says how: finished, cancelled, failed or
                 interrupted), so nothing looks running that is not; the queue
                 modules then start a worker for queued folders that have none

States change only through :func:`core.runs.run_folders.set_status` (locked, one
transitions table), and processes are identified by (pid, start time), never a bare pid.
"""

from __future__ import annotations

import logging
import os
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from core import settings
from core.processes import (
    lock_holder,
    process,
    run_watched,
    same_process,
    start_detached,
    terminate,
    try_lock,
    write_identity,
)
from core.runs import run_folders

logger = logging.getLogger(__name__)

GRACE_ENV = "DEEPFAKE_CANCEL_GRACE_S"
#: Seconds a running task may take to stop by itself after Cancel before it is killed.
DEFAULT_CANCEL_GRACE_S = 30.0
ACTIVE_STATES = ("queued", "running")


class Task(Protocol):
    """What a lane needs of a queued folder (a run or a scoring job)."""

    path: Path
    status: dict[str, Any]

    @property
    def name(self) -> str:
        """The folder's name."""

    @property
    def state(self) -> str:
        """Its state as the pages show it."""


def cancel_grace_s() -> float:
    """Return the cancel grace period (``DEEPFAKE_CANCEL_GRACE_S`` or 30 s)."""
    try:
        return float(os.environ.get(GRACE_ENV, DEFAULT_CANCEL_GRACE_S))
    except ValueError:
        return DEFAULT_CANCEL_GRACE_S


def created_order(task: Task) -> tuple[float, str]:
    """Sort key of the queue: creation time, then folder name."""
    return (float(task.status.get("created") or 0), task.name)


def cancel_overdue(folder: Path) -> bool:
    """True when Cancel was pressed on ``folder`` longer than the grace period ago."""
    try:
        asked = (folder / run_folders.CANCEL_FLAG).stat().st_mtime
    except FileNotFoundError:
        return False
    return time.time() - asked > cancel_grace_s()


def cancel(folder: Path) -> bool:
    """Ask a queued or running task to stop; True when it was queued (cancelled at once)."""
    run_folders.request_cancel(folder)
    done = run_folders.set_status(
        folder, "cancelled", only_from=("queued",), phase="cancelled", ended=time.time()
    )
    return done is not None


@dataclass(frozen=True)
class Lane:
    """A queue of folders with one worker process; see the module docstring.

    Attributes:
        name: what the lane works, for logs ("training", "scoring").
        lock_name: the worker's lock file, in the artifacts folder.
        worker_log_name: the worker's log file, in the artifacts folder.
        worker_command: the command that starts this lane's worker.
        task_command: the command that works one folder.
        task_log_name: each task's output, inside its folder.
        list_tasks: every folder of the lane, as tasks.
        mark_stopped: records how a task whose process is gone ended
            (folder, exit code or None when it vanished).
        before_task: called by the worker before each task (training waits there
            for a trainer left by an earlier worker).
    """

    name: str
    lock_name: str
    worker_log_name: str
    worker_command: Callable[[], list[str]]
    task_command: Callable[[Path], list[str]]
    task_log_name: str
    list_tasks: Callable[[], list[Any]]
    mark_stopped: Callable[[Path, int | None], None]
    before_task: Callable[[], None] = lambda: None

    def lock_path(self) -> Path:
        """The worker's lock/pid file."""
        return settings.artifacts_dir() / self.lock_name

    def worker_log_path(self) -> Path:
        """The file receiving the worker's output."""
        return settings.artifacts_dir() / self.worker_log_name

    def worker_identity(self) -> tuple[int, float] | None:
        """(pid, start time) of the live worker, or None when none holds the lock."""
        return lock_holder(self.lock_path())

    def ensure_worker(self) -> int | None:
        """Start the worker unless one runs; return its pid, or None if one was running."""
        if self.worker_identity() is not None:
            return None
        return start_detached(self.worker_command(), self.worker_log_path())

    def queued(self, tasks: Sequence[Any] | None = None) -> list[Any]:
        """The queued tasks in the order they will be worked (oldest first)."""
        tasks = self.list_tasks() if tasks is None else tasks
        return sorted((task for task in tasks if task.state == "queued"), key=created_order)

    def running(self, tasks: Sequence[Any] | None = None) -> list[Any]:
        """The tasks marked running (normally at most one)."""
        tasks = self.list_tasks() if tasks is None else tasks
        return sorted((task for task in tasks if task.state == "running"), key=created_order)

    def refresh(self) -> list[Any]:
        """Every task, after correcting running ones whose process is gone (see module)."""
        worker = self.worker_identity()
        tasks = self.list_tasks()
        changed = False
        for task in tasks:
            status = task.status
            if status.get("state") != "running":  # as recorded: a complete run may say so
                continue
            if worker is not None and _named_worker(status, worker):
                continue  # its worker watches the task and records how it ended
            runner = process(status.get("pid"), status.get("pid_started"))
            if runner is not None:
                if cancel_overdue(task.path):
                    terminate(runner)
                    self.mark_stopped(task.path, None)
                    changed = True
                continue
            # Gone: read again, the task may have written its final state just before exiting.
            current = run_folders.read_status(task.path)
            if current.get("state") == "running" and current.get("pid") == status.get("pid"):
                self.mark_stopped(task.path, None)
                changed = True
        return self.list_tasks() if changed else tasks

    def needs_worker(self, tasks: Sequence[Any]) -> bool:
        """True when tasks are queued and no worker is alive to work them."""
        return self.worker_identity() is None and any(task.state == "queued" for task in tasks)

    def work_one(self, folder: Path) -> int | None:
        """Run one queued task in a subprocess and make sure its final state is recorded.

        Returns:
            The task's exit code, or None when it was skipped (cancelled or taken).
        """
        if run_folders.cancel_requested(folder):
            run_folders.set_status(
                folder, "cancelled", only_from=("queued",), phase="cancelled", ended=time.time()
            )
            return None
        claimed = run_folders.set_status(
            folder,
            "running",
            only_from=("queued",),
            phase="starting",
            worker_pid=os.getpid(),
            started=time.time(),
        )
        if claimed is None:  # cancelled between our look and our claim
            return None
        command = self.task_command(folder)
        logger.info("%s %s: %s", self.name, folder.name, shlex.join(command))
        # The task's identity is recorded at once, so a worker killed right now leaves
        # a folder that refresh() can judge (the task writes the same pid itself).
        returncode = run_watched(
            command,
            folder / self.task_log_name,
            on_start=lambda pid: run_folders.set_status(folder, "running", pid=pid),
            should_stop=lambda: self._overdue_logged(folder),
        )
        if run_folders.read_status(folder).get("state") in ACTIVE_STATES:
            self.mark_stopped(folder, returncode)
        logger.info("%s ended: exit code %s", folder.name, returncode)
        return returncode

    def _overdue_logged(self, folder: Path) -> bool:
        if cancel_overdue(folder):
            logger.warning("%s ignored Cancel; terminating it", folder.name)
            return True
        return False

    def run_worker(self) -> int:
        """Work the queue oldest first, one task at a time, until it is empty.

        Returns:
            0 (also when another worker already holds the lock).
        """
        handle = try_lock(self.lock_path(), timeout=2.0)
        if handle is None:
            logger.info("another %s worker is running; exiting", self.name)
            return 0
        try:
            while True:
                write_identity(handle)
                waiting = self.queued()
                if waiting:
                    self.before_task()
                    self.work_one(waiting[0].path)
                    continue
                # Release, then look once more: a task queued while we released would
                # otherwise find the lock held and wait for nobody.
                handle.close()
                handle = None
                if not self.queued():
                    return 0
                handle = try_lock(self.lock_path(), timeout=2.0)
                if handle is None:
                    return 0  # another worker took over
        finally:
            if handle is not None:
                handle.close()


def _named_worker(status: dict, worker: tuple[int, float]) -> bool:
    """True when a task's status names this live worker (pid and start time)."""
    return same_process(status.get("worker_pid"), status.get("worker_started"), worker)
