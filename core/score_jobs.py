"""Scoring in the background: re-scores, cross-dataset checks and robustness runs.

The scoring lane of :mod:`core.jobs`, with the same guarantees as training runs
(survives page reloads and tabs, cancellable, progress shown, failures reported)
and its own worker, so scoring never waits hours behind training::

    submit(kind, run_dirs, test_set)   job folder artifacts/jobs/<kind>_<timestamp>/
                                       with job.json + status.json "queued"; worker started
    python -m core.score_jobs --worker holds artifacts/score_worker.lock (one scoring
                                       worker); takes queued jobs oldest first, runs each
                                       as ``python -m core.score_jobs --job-dir DIR``
    cancel(job_dir)                    queued: cancelled at once; running: the job stops
                                       after the current chunk (terminated after the
                                       grace period of :func:`core.jobs.cancel_grace_s`)

``status.json`` follows :data:`core.runs.TRANSITIONS` through :func:`core.runs.set_status`
(locked, never flips back) and carries the progress: ``done``, ``total``, ``message``.
Results are stored where the pages read them: re-scores in ``rescores/`` and
robustness results in ``robustness/`` of each run folder; a finished job's
``status.json`` holds a one-line ``summary`` and any per-run ``errors``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import jobs, runs, settings
from core.processes import (
    lock_holder,
    log_tail,
    lower_priority,
    process,
    python_module,
    run_watched,
    same_process,
    start_detached,
    terminate,
    try_lock,
    write_identity,
)
from core.testsets import TestSet

logger = logging.getLogger(__name__)

KINDS = ("rescore", "cross", "robustness")
JOBS_DIR = "jobs"
LOCK_NAME = "score_worker.lock"
WORKER_LOG_NAME = "score_worker.log"
JOB_LOG_NAME = "job.log"
ACTIVE_STATES = jobs.ACTIVE_STATES
UNEXPECTED_STOP = "The scoring process stopped unexpectedly"


class JobCancelled(Exception):
    """Raised from a progress callback when the job's Cancel flag is set."""


@dataclass
class Job:
    """One scoring job as read from its folder.

    Attributes:
        path: the job folder.
        spec: contents of ``job.json`` (kind, runs, test set, seed).
        status: contents of ``status.json``.
    """

    path: Path
    spec: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Folder name (``<kind>_<timestamp>``)."""
        return self.path.name

    @property
    def kind(self) -> str:
        """``rescore``, ``cross`` or ``robustness``."""
        return self.spec.get("kind", "")

    @property
    def state(self) -> str:
        """One of :data:`core.runs.STATES` (``broken`` when unreadable)."""
        return self.status.get("state") or "broken"

    @property
    def fraction(self) -> float:
        """Share of the work done, 0-1."""
        total = self.status.get("total") or 0
        return min(1.0, (self.status.get("done") or 0) / total) if total else 0.0

    def test_set(self) -> TestSet:
        """The job's test set."""
        item = self.spec["test_set"]
        return TestSet(item["root"], tuple(item["files"]), item.get("description", ""), item["id"])


def jobs_dir() -> Path:
    """The folder holding every scoring job."""
    return settings.artifacts_dir() / JOBS_DIR


def lock_path() -> Path:
    """The scoring worker's lock/pid file."""
    return settings.artifacts_dir() / LOCK_NAME


def worker_identity() -> tuple[int, float] | None:
    """(pid, start time) of the live scoring worker, or None."""
    return lock_holder(lock_path())


def ensure_worker() -> int | None:
    """Start the scoring worker unless one runs; return its pid, or None if one ran."""
    if worker_identity() is not None:
        return None
    log = settings.artifacts_dir() / WORKER_LOG_NAME
    return start_detached(python_module("core.score_jobs", "--worker"), log)


def submit(
    kind: str,
    run_dirs: Sequence[Path],
    test_set: TestSet,
    *,
    seed: int = 0,
    start_worker: bool = True,
) -> Path:
    """Queue a scoring job.

    Args:
        kind: ``rescore`` (a common test set), ``cross`` (another dataset's Test
            split) or ``robustness`` (every perturbation setting).
        run_dirs: the run folders to score.
        test_set: the images.
        seed: seeds the perturbations (robustness only).
        start_worker: start the scoring worker if none runs.

    Returns:
        The job folder.

    Raises:
        ValueError: an unknown kind, no run or an empty test set.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown job kind {kind!r}; use one of {KINDS}.")
    if not run_dirs or not test_set.files:
        raise ValueError("A scoring job needs at least one run and one test image.")
    folder = runs.new_run_dir(kind, jobs_dir())
    spec = {
        "kind": kind,
        "runs": [str(Path(path)) for path in run_dirs],
        "seed": int(seed),
        "test_set": {
            "root": test_set.root,
            "files": list(test_set.files),
            "description": test_set.description,
            "id": test_set.id,
        },
    }
    runs.write_json(folder / "job.json", spec)
    runs.set_status(folder, "queued", created=jobs._next_created(), done=0, total=0)
    if start_worker:
        ensure_worker()
    return folder


def load_job(path: Path) -> Job:
    """Read a job folder; unreadable files leave empty fields."""
    job = Job(path)
    for attribute, name in (("spec", "job.json"), ("status", "status.json")):
        with contextlib.suppress(runs.RunError):  # unreadable: the field stays empty
            setattr(job, attribute, runs.read_json(path / name))
    return job


def list_jobs() -> list[Job]:
    """Every scoring job, newest first."""
    folder = jobs_dir()
    if not folder.is_dir():
        return []
    found = [load_job(p) for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(found, key=lambda job: (job.status.get("created", 0), job.name), reverse=True)


def cancel(job_dir: Path) -> str:
    """Cancel a queued or running job; return its state right after the call."""
    runs.request_cancel(job_dir)
    done = runs.set_status(
        job_dir, "cancelled", only_from=("queued",), phase="cancelled", ended=time.time()
    )
    return "cancelled" if done else load_job(job_dir).state


def _cancel_overdue(job_dir: Path) -> bool:
    try:
        asked = (job_dir / runs.CANCEL_FLAG).stat().st_mtime
    except FileNotFoundError:
        return False
    return time.time() - asked > jobs.cancel_grace_s()


def refresh() -> list[Job]:
    """Every job, newest first, with running jobs whose process is gone marked stopped.

    Queued jobs with no worker alive get a worker again.
    """
    worker = worker_identity()
    all_jobs = list_jobs()
    changed = False
    for job in all_jobs:
        status = job.status
        if job.state != "running":
            continue
        if worker and same_process(status.get("worker_pid"), status.get("worker_started"), worker):
            continue  # its worker watches it
        runner = process(status.get("pid"), status.get("pid_started"))
        if runner is not None:
            if _cancel_overdue(job.path):
                terminate(runner)
                _mark_stopped(job.path, None)
                changed = True
            continue
        if load_job(job.path).state == "running":
            _mark_stopped(job.path, None)
            changed = True
    if changed:
        all_jobs = list_jobs()
    if worker is None and any(job.state == "queued" for job in all_jobs):
        ensure_worker()
    return all_jobs


def _mark_stopped(job_dir: Path, returncode: int | None) -> None:
    """Record how a job whose process is gone ended, when it could not say itself."""
    now = time.time()
    if runs.cancel_requested(job_dir):
        runs.set_status(job_dir, "cancelled", phase="cancelled", ended=now)
        return
    state = "interrupted" if returncode is None or returncode < 0 else "failed"
    how = "its process is gone" if returncode is None else f"exit code {returncode}"
    tail = log_tail(job_dir / JOB_LOG_NAME) or None
    runs.set_status(
        job_dir, state, phase=state, error=f"{UNEXPECTED_STOP} ({how}).", log_tail=tail, ended=now
    )


# --- inside the job's own process ---------------------------------------------------


def _progress(job_dir: Path):
    def report(done: int, total: int, message: str) -> None:
        runs.set_status(job_dir, "running", done=done, total=total, message=message)
        if runs.cancel_requested(job_dir):
            raise JobCancelled

    return report


def _rescore(job: Job, report) -> dict[str, Any]:
    from core import compare, scoring

    records = [compare.load_record(runs.load_run(Path(path))) for path in job.spec["runs"]]
    purpose = "cross" if job.kind == "cross" else "common"
    test_set = job.test_set()
    report(0, len(records), "loading models")
    results = scoring.rescore(records, test_set, purpose, progress=report)
    scored = sum(r.record is not None and not r.reused for r in results)
    reused = sum(r.reused for r in results)
    return {
        "summary": f"{test_set.description}: {scored} run(s) scored, {reused} read from earlier "
        f"results (test set {test_set.label}).",
        "errors": [f"{r.run}: {r.error}" for r in results if r.error],
    }


def _robustness(job: Job, report) -> dict[str, Any]:
    from core import robustness

    test_set = job.test_set()
    report(0, len(test_set.files), "loading models")
    results = robustness.score_runs(
        [Path(path) for path in job.spec["runs"]],
        Path(test_set.root),
        test_set.files,
        test_set.id,
        seed=int(job.spec.get("seed", 0)),
        progress=report,
    )
    return {
        "summary": f"Robustness of {len(results)} run(s) on {test_set.label}: "
        f"{len(robustness.all_settings())} settings.",
        "errors": [],
    }


def run_job(job_dir: Path) -> int:
    """Do one job in this process and record its end; return the exit status."""
    job = load_job(job_dir)
    claimed = runs.set_status(job_dir, "running", phase="scoring", pid=os.getpid())
    if claimed is None:
        return 0
    try:
        outcome = (_robustness if job.kind == "robustness" else _rescore)(job, _progress(job_dir))
    except JobCancelled:
        runs.set_status(job_dir, "cancelled", phase="cancelled", ended=time.time())
        return 0
    except Exception as error:  # reported to the user on the page, then re-raised
        runs.set_status(job_dir, "failed", phase="failed", error=str(error), ended=time.time())
        logger.exception("job %s failed", job_dir.name)
        return 1
    runs.set_status(job_dir, "finished", phase="done", ended=time.time(), **outcome)
    return 0


# --- the worker ---------------------------------------------------------------------


def _next_queued() -> Path | None:
    waiting = [job for job in list_jobs() if job.state == "queued"]
    waiting.sort(key=lambda job: (job.status.get("created", 0), job.name))
    return waiting[0].path if waiting else None


def work_one(job_dir: Path) -> int | None:
    """Run one queued job in a subprocess; make sure its final state is recorded."""
    if runs.cancel_requested(job_dir):
        runs.set_status(job_dir, "cancelled", only_from=("queued",), ended=time.time())
        return None
    claimed = runs.set_status(
        job_dir, "running", only_from=("queued",), phase="starting", worker_pid=os.getpid()
    )
    if claimed is None:
        return None
    command = python_module("core.score_jobs", "--job-dir", str(job_dir))
    returncode = run_watched(
        command,
        job_dir / JOB_LOG_NAME,
        on_start=lambda pid: runs.set_status(job_dir, "running", pid=pid),
        should_stop=lambda: _cancel_overdue(job_dir),
    )
    if load_job(job_dir).state in ACTIVE_STATES:
        _mark_stopped(job_dir, returncode)
    logger.info("%s ended: exit code %s", job_dir.name, returncode)
    return returncode


def run_worker() -> int:
    """Work the scoring queue, oldest first, until it is empty; returns 0."""
    handle = try_lock(lock_path(), timeout=2.0)
    if handle is None:
        return 0
    try:
        while True:
            write_identity(handle)
            job_dir = _next_queued()
            if job_dir is not None:
                work_one(job_dir)
                continue
            handle.close()  # release, then look once more (see core.jobs.run_worker)
            handle = None
            if _next_queued() is None:
                return 0
            handle = try_lock(lock_path(), timeout=2.0)
            if handle is None:
                return 0
    finally:
        if handle is not None:
            handle.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``--worker`` works the queue; ``--job-dir DIR`` runs one job; else list the jobs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help="work through the queue")
    parser.add_argument("--job-dir", type=Path, help="run this one job")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.job_dir:
        return run_job(args.job_dir)
    if args.worker:
        lower_priority()
        return run_worker()
    for job in refresh():
        print(f"{job.state:12} {job.name}  {job.status.get('message', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
