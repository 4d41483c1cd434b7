"""Scoring in the background: re-scores, cross-dataset checks and robustness runs.

A lane of :mod:`core.jobs.lane` beside the training queue, with the same guarantees as training runs
(survives page reloads and tabs, cancellable, progress shown, failures reported)
and its own worker, so scoring never waits hours behind training::

    submit(kind, run_dirs, test_set)   job folder artifacts/jobs/<kind>_<timestamp>/
                                       with job.json + status.json "queued"; worker started
    python -m core.score_jobs --worker holds artifacts/score_worker.lock (one scoring
                                       worker); takes queued jobs oldest first, runs each
                                       as ``python -m core.score_jobs --job-dir DIR``
    cancel(job_dir)                    queued: cancelled at once; running: the job stops
                                       after the current chunk (terminated after the
                                       grace period of :func:`core.jobs.lane.cancel_grace_s`)

``status.json`` follows :data:`core.runs.run_folders.TRANSITIONS` through
:func:`core.runs.run_folders.set_status` (locked, never flips back) and carries the
progress: ``done``, ``total``, ``message``.
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

from core import settings
from core.data.testsets import TestSet
from core.jobs import lane
from core.processes import log_tail, lower_priority, python_module
from core.runs import run_folders
from core.text import plural

logger = logging.getLogger(__name__)

KINDS = ("rescore", "cross", "robustness")
JOBS_DIR = "jobs"
LOCK_NAME = "score_worker.lock"
WORKER_LOG_NAME = "score_worker.log"
JOB_LOG_NAME = "job.log"
ACTIVE_STATES = lane.ACTIVE_STATES
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
        """One of :data:`core.runs.run_folders.STATES` (``broken`` when unreadable)."""
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
    folder = run_folders.new_run_dir(kind, jobs_dir())
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
    run_folders.write_json(folder / "job.json", spec)
    run_folders.set_status(folder, "queued", created=time.time(), done=0, total=0)
    if start_worker:
        ensure_worker()
    return folder


def load_job(path: Path) -> Job:
    """Read a job folder; unreadable files leave empty fields."""
    job = Job(path)
    for attribute, name in (("spec", "job.json"), ("status", "status.json")):
        with contextlib.suppress(run_folders.RunError):  # unreadable: the field stays empty
            setattr(job, attribute, run_folders.read_json(path / name))
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
    return "cancelled" if lane.cancel(job_dir) else load_job(job_dir).state


def refresh() -> list[Job]:
    """Every job, newest first, with running jobs whose process is gone marked stopped.

    Queued jobs with no worker alive get a worker again.
    """
    all_jobs = LANE.refresh()
    if LANE.needs_worker(all_jobs):
        ensure_worker()
    return all_jobs


def _mark_stopped(job_dir: Path, returncode: int | None) -> None:
    """Record how a job whose process is gone ended, when it could not say itself."""
    now = time.time()
    if run_folders.cancel_requested(job_dir):
        run_folders.set_status(job_dir, "cancelled", phase="cancelled", ended=now)
        return
    state = "interrupted" if returncode is None or returncode < 0 else "failed"
    how = "its process is gone" if returncode is None else f"exit code {returncode}"
    tail = log_tail(job_dir / JOB_LOG_NAME) or None
    run_folders.set_status(
        job_dir, state, phase=state, error=f"{UNEXPECTED_STOP} ({how}).", log_tail=tail, ended=now
    )


# --- inside the job's own process ---------------------------------------------------


def _progress(job_dir: Path):
    def report(done: int, total: int, message: str) -> None:
        run_folders.set_status(job_dir, "running", done=done, total=total, message=message)
        if run_folders.cancel_requested(job_dir):
            raise JobCancelled

    return report


def _rescore(job: Job, report) -> dict[str, Any]:
    from core.evaluation import compare, scoring

    records = [compare.load_record(run_folders.load_run(Path(path))) for path in job.spec["runs"]]
    purpose = "cross" if job.kind == "cross" else "common"
    test_set = job.test_set()
    report(0, len(records), "loading the first model")
    results = scoring.rescore(records, test_set, purpose, progress=report)
    scored = sum(r.record is not None and not r.reused for r in results)
    reused = sum(r.reused for r in results)
    return {
        "summary": f"{test_set.description}: {plural(scored, 'run')} scored, {reused} read "
        f"from earlier results (test set {test_set.label}).",
        "errors": [f"{r.run}: {r.error}" for r in results if r.error],
    }


def _robustness(job: Job, report) -> dict[str, Any]:
    from core.evaluation import robustness

    test_set = job.test_set()
    report(0, len(test_set.files), "reading the test set")
    results = robustness.score_runs(
        [Path(path) for path in job.spec["runs"]],
        Path(test_set.root),
        test_set.files,
        test_set.id,
        seed=int(job.spec.get("seed", 0)),
        progress=report,
    )
    return {
        "summary": f"Robustness of {plural(len(results), 'run')} on {test_set.label}: "
        f"{len(robustness.all_settings())} settings.",
        "errors": [],
    }


def run_job(job_dir: Path) -> int:
    """Do one job in this process and record its end; return the exit status."""
    job = load_job(job_dir)
    claimed = run_folders.set_status(job_dir, "running", phase="scoring", pid=os.getpid())
    if claimed is None:
        return 0
    try:
        outcome = (_robustness if job.kind == "robustness" else _rescore)(job, _progress(job_dir))
    except JobCancelled:
        run_folders.set_status(job_dir, "cancelled", phase="cancelled", ended=time.time())
        return 0
    except Exception as error:  # reported to the user on the page, then re-raised
        run_folders.set_status(
            job_dir, "failed", phase="failed", error=str(error), ended=time.time()
        )
        logger.exception("job %s failed", job_dir.name)
        return 1
    run_folders.set_status(job_dir, "finished", phase="done", ended=time.time(), **outcome)
    return 0


# --- the lane ------------------------------------------------------------------------

LANE = lane.Lane(
    name="scoring",
    lock_name=LOCK_NAME,
    worker_log_name=WORKER_LOG_NAME,
    worker_command=lambda: python_module("core.jobs.scoring_queue", "--worker"),
    task_command=lambda job_dir: python_module(
        "core.jobs.scoring_queue", "--job-dir", str(job_dir)
    ),
    task_log_name=JOB_LOG_NAME,
    list_tasks=list_jobs,
    mark_stopped=_mark_stopped,
)


def lock_path() -> Path:
    """The scoring worker's lock/pid file."""
    return LANE.lock_path()


def worker_identity() -> tuple[int, float] | None:
    """(pid, start time) of the live scoring worker, or None."""
    return LANE.worker_identity()


def ensure_worker() -> int | None:
    """Start the scoring worker unless one runs; return its pid, or None if one ran."""
    return LANE.ensure_worker()


def work_one(job_dir: Path) -> int | None:
    """Run one queued job in a subprocess; make sure its final state is recorded."""
    return LANE.work_one(job_dir)


def run_worker() -> int:
    """Work the scoring queue, oldest first, until it is empty; returns 0."""
    return LANE.run_worker()


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
