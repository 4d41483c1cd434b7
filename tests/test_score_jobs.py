"""Background scoring jobs: queued, worked by their own worker, cancellable, failures reported."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.data import testsets
from core.evaluation import compare, robustness
from core.jobs import scoring_queue
from core.runs import run_folders
from tests.conftest import make_tree
from tests.test_compare import make_run


@pytest.fixture
def two_runs(artifacts) -> tuple[list[Path], testsets.TestSet]:
    dataset = make_tree(
        artifacts / "data" / "Dataset", {"Train": (4, 4), "Validation": (2, 2), "Test": (4, 4)}
    )
    folders = [make_run(dataset, test_size=6, seed=seed) for seed in (1, 2)]
    return folders, testsets.dataset_test_set(dataset, 6, 0)


def wait_final(job_dir: Path, timeout: float = 180.0) -> scoring_queue.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = scoring_queue.load_job(job_dir)
        if job.state in run_folders.FINAL_STATES:
            return job
        time.sleep(0.3)
    raise AssertionError(f"{job_dir.name} still {scoring_queue.load_job(job_dir).state}")


@pytest.mark.slow
def test_rescore_job_runs_in_the_background_and_stores_results(two_runs):
    folders, test_set = two_runs
    job_dir = scoring_queue.submit("rescore", folders, test_set)
    assert job_dir.parent == scoring_queue.jobs_dir()
    job = wait_final(job_dir)
    assert job.state == "finished", job.status
    assert "2 runs scored" in job.status["summary"] and job.fraction == 1.0
    for folder in folders:
        record = compare.load_record(run_folders.load_run(folder))
        assert record.rescores[test_set.id]["files"] == list(test_set.files)
    assert scoring_queue.worker_identity() is None or wait_worker_gone()


def wait_worker_gone(timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while scoring_queue.worker_identity() is not None:
        assert time.monotonic() < deadline, "the scoring worker did not exit"
        time.sleep(0.2)
    return True


def test_robustness_job_in_process_reports_progress(two_runs):
    folders, test_set = two_runs
    job_dir = scoring_queue.submit("robustness", folders[:1], test_set, start_worker=False)
    assert scoring_queue.run_job(job_dir) == 0
    job = scoring_queue.load_job(job_dir)
    assert job.state == "finished" and job.status["done"] == job.status["total"] == 6
    assert robustness.load_result(folders[0], test_set.id, 0)["complete"]


def test_cancel_queued_and_failed_jobs(two_runs, tmp_path):
    folders, test_set = two_runs
    queued = scoring_queue.submit("cross", folders, test_set, start_worker=False)
    assert scoring_queue.cancel(queued) == "cancelled"
    assert scoring_queue.load_job(queued).state == "cancelled"
    broken = scoring_queue.submit(
        "robustness", [tmp_path / "no_such_run"], test_set, start_worker=False
    )
    assert scoring_queue.run_job(broken) == 1
    job = scoring_queue.load_job(broken)
    assert job.state == "failed" and job.status["error"]


def test_cancel_flag_stops_a_running_job_between_chunks(two_runs):
    folders, test_set = two_runs
    job_dir = scoring_queue.submit("rescore", folders, test_set, start_worker=False)
    run_folders.request_cancel(job_dir)
    assert scoring_queue.run_job(job_dir) == 0
    assert scoring_queue.load_job(job_dir).state == "cancelled"


def test_a_vanished_job_process_is_marked_interrupted(two_runs):
    folders, test_set = two_runs
    job_dir = scoring_queue.submit("rescore", folders, test_set, start_worker=False)
    run_folders.set_status(job_dir, "running", pid=999_999_999, pid_started=1.0)
    (job,) = [j for j in scoring_queue.refresh() if j.path == job_dir]
    assert job.state == "interrupted" and "stopped unexpectedly" in job.status["error"]


def test_the_compare_job_panel_redraws_only_while_a_job_is_active(artifacts, tmp_path):
    """Each redraw drops the files no element holds, a pressed download's among them."""
    from ui import compare_jobs

    dataset = make_tree(artifacts / "data" / "Dataset", {"Test": (4, 4)})
    test_set = testsets.dataset_test_set(dataset, 6, 0)
    assert compare_jobs.poll_interval([]) is None
    # Read the job, not refresh(): that would start a worker for the queued job.
    job_dir = scoring_queue.submit("cross", [tmp_path / "a_run"], test_set, start_worker=False)
    assert compare_jobs.poll_interval([scoring_queue.load_job(job_dir)]) == compare_jobs.POLL_S
    scoring_queue.cancel(job_dir)
    assert compare_jobs.poll_interval([scoring_queue.load_job(job_dir)]) is None
