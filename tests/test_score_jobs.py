"""Background scoring jobs: queued, worked by their own worker, cancellable, failures reported."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core import compare, robustness, runs, score_jobs, testsets
from tests.conftest import make_tree
from tests.test_compare import make_run


@pytest.fixture
def two_runs(artifacts) -> tuple[list[Path], testsets.TestSet]:
    dataset = make_tree(
        artifacts / "data" / "Dataset", {"Train": (4, 4), "Validation": (2, 2), "Test": (4, 4)}
    )
    folders = [make_run(dataset, test_size=6, seed=seed) for seed in (1, 2)]
    return folders, testsets.dataset_test_set(dataset, 6, 0)


def wait_final(job_dir: Path, timeout: float = 180.0) -> score_jobs.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = score_jobs.load_job(job_dir)
        if job.state in runs.FINAL_STATES:
            return job
        time.sleep(0.3)
    raise AssertionError(f"{job_dir.name} still {score_jobs.load_job(job_dir).state}")


def test_rescore_job_runs_in_the_background_and_stores_results(two_runs):
    folders, test_set = two_runs
    job_dir = score_jobs.submit("rescore", folders, test_set)
    assert job_dir.parent == score_jobs.jobs_dir()
    job = wait_final(job_dir)
    assert job.state == "finished", job.status
    assert "2 run(s) scored" in job.status["summary"] and job.fraction == 1.0
    for folder in folders:
        record = compare.load_record(runs.load_run(folder))
        assert record.rescores[test_set.id]["files"] == list(test_set.files)
    assert score_jobs.worker_identity() is None or wait_worker_gone()


def wait_worker_gone(timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while score_jobs.worker_identity() is not None:
        assert time.monotonic() < deadline, "the scoring worker did not exit"
        time.sleep(0.2)
    return True


def test_robustness_job_in_process_reports_progress(two_runs):
    folders, test_set = two_runs
    job_dir = score_jobs.submit("robustness", folders[:1], test_set, start_worker=False)
    assert score_jobs.run_job(job_dir) == 0
    job = score_jobs.load_job(job_dir)
    assert job.state == "finished" and job.status["done"] == job.status["total"] == 6
    assert robustness.load_result(folders[0], test_set.id, 0)["complete"]


def test_cancel_queued_and_failed_jobs(two_runs, tmp_path):
    folders, test_set = two_runs
    queued = score_jobs.submit("cross", folders, test_set, start_worker=False)
    assert score_jobs.cancel(queued) == "cancelled"
    assert score_jobs.load_job(queued).state == "cancelled"
    broken = score_jobs.submit(
        "robustness", [tmp_path / "no_such_run"], test_set, start_worker=False
    )
    assert score_jobs.run_job(broken) == 1
    job = score_jobs.load_job(broken)
    assert job.state == "failed" and job.status["error"]


def test_cancel_flag_stops_a_running_job_between_chunks(two_runs):
    folders, test_set = two_runs
    job_dir = score_jobs.submit("rescore", folders, test_set, start_worker=False)
    runs.request_cancel(job_dir)
    assert score_jobs.run_job(job_dir) == 0
    assert score_jobs.load_job(job_dir).state == "cancelled"


def test_a_vanished_job_process_is_marked_interrupted(two_runs):
    folders, test_set = two_runs
    job_dir = score_jobs.submit("rescore", folders, test_set, start_worker=False)
    runs.set_status(job_dir, "running", pid=999_999_999, pid_started=1.0)
    (job,) = [j for j in score_jobs.refresh() if j.path == job_dir]
    assert job.state == "interrupted" and "stopped unexpectedly" in job.status["error"]
