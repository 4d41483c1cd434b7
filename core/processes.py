"""Background processes shared by the training and scoring lanes of :mod:`core.jobs.training_queue`.

Processes are identified by (pid, start time), read with psutil, never by a bare
pid: after a reboot or once a pid is reused, an unrelated process is never
signalled or waited for. A lane's worker holds a lock file (``flock``) that also
holds its pid and start time, so exactly one worker per lane exists at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import psutil

from core import settings

#: Two reads of one process's start time agree to well within this (seconds).
START_TOLERANCE_S = 0.05


def child_env() -> dict[str, str]:
    """Return the environment for worker, trainer and scoring subprocesses.

    They inherit ours, with the artifacts folder pinned to the one in use here so
    the worker reads the same queue even when the variable was not set.
    """
    env = dict(os.environ)
    env[settings.ARTIFACTS_ENV] = str(settings.artifacts_dir())
    env["PYTHONUNBUFFERED"] = "1"
    return env


def process(pid: int | None, started: float | None) -> psutil.Process | None:
    """The live process with this pid *and* start time, or None.

    Args:
        pid: the recorded process id.
        started: its recorded start time (:func:`core.runs.run_folders.process_started`). None
            (folders written before start times were recorded) accepts no process.

    Returns:
        The process, or None when it is gone, a zombie, or another process that
        reused the pid.
    """
    if not pid or pid <= 0 or started is None:
        return None
    try:
        found = psutil.Process(int(pid))
        if abs(found.create_time() - float(started)) > START_TOLERANCE_S:
            return None
        if found.status() == psutil.STATUS_ZOMBIE:
            return None
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied, ValueError):
        return None
    return found


def alive(pid: int | None, started: float | None) -> bool:
    """True when the process recorded as (pid, start time) is still running."""
    return process(pid, started) is not None


def same_process(pid: int | None, started: float | None, identity: tuple[int, float]) -> bool:
    """True when a recorded (pid, start time) names the process ``identity``."""
    return (
        pid == identity[0]
        and started is not None
        and abs(float(started) - identity[1]) <= START_TOLERANCE_S
    )


def terminate(target: psutil.Process, wait_s: float = 3.0) -> None:
    """SIGTERM, then SIGKILL if the process is still alive after ``wait_s``.

    ``target`` is a :class:`psutil.Process`, which checks before signalling that
    its pid still belongs to the process it was made for.
    """
    try:
        target.terminate()
        target.wait(wait_s)
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.NoSuchProcess):
            target.kill()
    except psutil.NoSuchProcess:
        pass


def try_lock(path: Path, timeout: float = 0.0) -> IO[str] | None:
    """Take the lock file ``path``, retrying up to ``timeout`` seconds; None if held elsewhere."""
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held while working
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                return None
            time.sleep(0.05)


def write_identity(handle: IO[str]) -> None:
    """Write this process's (pid, start time) into the lock file it holds."""
    started = psutil.Process(os.getpid()).create_time()
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()} {started}")
    handle.flush()


def lock_holder(path: Path) -> tuple[int, float] | None:
    """Return (pid, start time) of the live holder of a lock file, or None when free."""
    if not path.exists():
        return None
    handle = try_lock(path)
    if handle is not None:  # nobody holds it
        handle.close()
        return None
    try:
        pid, started = path.read_text().split()
        return int(pid), float(started)
    except ValueError:
        return None  # the new holder has not written its name yet


#: How much lower than the app's server the background workers run (``nice``).
WORKER_NICENESS = 10


def lower_priority(increment: int = WORKER_NICENESS) -> None:
    """Run this process, and every thread and child it starts later, at a lower CPU priority.

    A training or scoring job uses every core; at a lower priority the pages stay
    responsive while it runs, and it loses nothing when the machine is otherwise
    idle (niceness only decides who goes first). Called by the workers' entry points.
    """
    with contextlib.suppress(OSError):  # not permitted: the normal priority it is
        os.nice(increment)


def _spawn(command: list[str], log_path: Path, **options: bool) -> subprocess.Popen:
    """Start ``command`` in the repository with our environment, output appended to a log.

    The log file is closed here once the child holds its own copy of the descriptor.
    """
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            cwd=settings.REPO_ROOT,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            **options,
        )


def start_detached(command: list[str], log_path: Path) -> int:
    """Start ``command`` in its own session (it outlives the page), output to ``log_path``.

    Returns:
        Its pid. A thread reaps it when it exits, so it never lingers as a zombie of
        this (server) process.
    """
    child = _spawn(command, log_path, start_new_session=True, close_fds=True)
    threading.Thread(target=child.wait, daemon=True).start()
    return child.pid


def run_watched(
    command: list[str],
    log_path: Path,
    on_start: Callable[[int], None],
    should_stop: Callable[[], bool],
    poll_s: float = 0.25,
) -> int:
    """Run ``command`` as a child with output to ``log_path``; terminate it when asked.

    Args:
        command: the command.
        log_path: file that receives its stdout and stderr.
        on_start: called with the child's pid as soon as it exists.
        should_stop: polled every ``poll_s``; True terminates the child (once).
        poll_s: seconds between checks.

    Returns:
        The child's exit code (negative: killed by that signal).
    """
    child = _spawn(command, log_path)
    on_start(child.pid)
    killed = False
    while child.poll() is None:
        time.sleep(poll_s)
        if not killed and should_stop():
            terminate(psutil.Process(child.pid))  # still our child: not reaped yet
            killed = True
    return child.wait()


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file ('' when unreadable)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def python_module(module: str, *args: str) -> list[str]:
    """The command that runs ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]
