"""Compare page: background scoring jobs (queue one, follow its progress, cancel it).

Re-scores, cross-dataset checks and robustness runs are jobs of
:mod:`core.jobs.scoring_queue`: they run in their own processes, so the page stays
responsive, and a reload or a second tab sees the same jobs (they live on disk).
:func:`panel` is a fragment that redraws itself every 1.5 s while a job is queued or
running; when a job this session queued ends, it reruns the whole page so the new
results appear (and a re-scored test set becomes the one the table shows).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from core.data.testsets import TestSet
from core.jobs import scoring_queue
from core.runs import run_folders
from core.text import plural

WATCH = "compare_watch"  # job name -> test-set id, for jobs queued in this session
PENDING_SET = "compare_pending_set"  # test set the table switches to on the next run
LAST_RESULTS = "compare_last_results"
SEEN = "compare_seen_jobs"  # jobs this session saw queued or running
SCORED_ON = "compare_scored_on"
KIND_LABELS = {
    "rescore": "Re-score",
    "cross": "Cross-dataset check",
    "robustness": "Robustness check",
}
#: What a job's done/total count: images for robustness, runs for re-scoring.
UNITS = {"robustness": "images", "rescore": "runs", "cross": "runs"}
RECENT_SHOWN = 5
#: Seconds between redraws of the job panel while a job is queued or running.
POLL_S = 1.5


def queue(kind: str, run_dirs: Sequence[Path], test_set: TestSet, seed: int = 0) -> Path:
    """Queue a scoring job for the selected runs and follow it from this session."""
    job_dir = scoring_queue.submit(kind, run_dirs, test_set, seed=seed)
    st.session_state.setdefault(WATCH, {})[job_dir.name] = test_set.id
    st.toast(f"{KIND_LABELS[kind]} of {plural(len(run_dirs), 'run')} queued on {test_set.label}.")
    return job_dir


def show_last_results() -> None:
    """Messages of the jobs that ended since the last run (and of deletions)."""
    last = st.session_state.pop(LAST_RESULTS, None)
    if last:
        for message in last["errors"]:
            st.error(message)
        if last["summary"]:
            st.success(last["summary"])


def _ended(job: scoring_queue.Job) -> dict[str, list[str] | str]:
    """What a session that queued ``job`` is told when it ends."""
    status = job.status
    if job.state == "finished":
        note = (
            " The table and the charts now show this test set." if job.kind != "robustness" else ""
        )
        return {"errors": list(status.get("errors") or []), "summary": status["summary"] + note}
    what = KIND_LABELS.get(job.kind, "Job")
    error = status.get("error") or f"it ended {job.state}"
    message = f"{what} {job.name} {job.state}: {error}"
    return {
        "errors": [] if job.state == "cancelled" else [message],
        "summary": message if job.state == "cancelled" else "",
    }


def _report_ended(ended: list[scoring_queue.Job], watch: dict[str, str], seen: set[str]) -> None:
    """Leave the ended jobs' messages for the next run; switch the table to a new test set."""
    messages: dict[str, list[str] | str] = {"errors": [], "summary": ""}
    for job in ended:
        seen.discard(job.name)
        mine = watch.pop(job.name, None) is not None
        told = _ended(job)
        messages["errors"] += told["errors"]
        messages["summary"] = " ".join(filter(None, [messages["summary"], told["summary"]]))
        # A job queued elsewhere switches the table only when it showed own test sets.
        switch = mine or st.session_state.get(SCORED_ON) in (None, "own")
        if job.state == "finished" and job.kind != "robustness" and switch:
            st.session_state[PENDING_SET] = job.test_set().id
    st.session_state[LAST_RESULTS] = messages


def _job_line(job: scoring_queue.Job) -> None:
    status = job.status
    what = KIND_LABELS.get(job.kind, job.kind)
    n_runs = len(job.spec.get("runs", []))
    if job.state == "queued":
        text = f"{what} of {plural(n_runs, 'run')}: queued"
    else:
        done, total = status.get("done") or 0, status.get("total") or 0
        unit = UNITS.get(job.kind, "runs")
        stage = status.get("message") or "starting"
        text = f"{what} of {plural(n_runs, 'run')}: {stage} · {done:,} of {total:,} {unit} done"
    columns = st.columns([5, 1])
    columns[0].progress(job.fraction, text=text)
    if run_folders.cancel_requested(job.path):
        columns[1].caption("Stopping…")
    elif columns[1].button("Cancel", key=f"compare_job_cancel_{job.name}"):
        scoring_queue.cancel(job.path)
        st.rerun(scope="fragment")


def poll_interval(jobs: Sequence[scoring_queue.Job]) -> float | None:
    """Seconds between the panel's redraws: :data:`POLL_S` while a job is active, else None.

    Every redraw ends with Streamlit dropping the files no element holds, and a file
    made when a download button is pressed (report, JSON, model) is held by none: a
    panel redrawing with nothing to show could delete it before the browser fetched it.
    """
    return POLL_S if any(job.state in scoring_queue.ACTIVE_STATES for job in jobs) else None


def panel() -> None:
    """The job panel, redrawn every :data:`POLL_S` only while a job is queued or running.

    When they have all ended, the fragment reruns the whole page, which draws it again
    without redraws.
    """
    st.fragment(_panel, run_every=poll_interval(scoring_queue.refresh()))()


def _panel() -> None:
    """Running and queued scoring jobs with progress and Cancel; recent failures.

    A job this session saw running (queued here, or found running after a reload)
    reruns the whole page when it ends, so its results appear.
    """
    all_jobs = scoring_queue.refresh()
    watch: dict[str, str] = st.session_state.setdefault(WATCH, {})
    seen: set[str] = st.session_state.setdefault(SEEN, set())
    ended = [job for job in all_jobs if job.state in run_folders.FINAL_STATES]
    ended = [job for job in ended if job.name in watch or job.name in seen]
    if ended:
        _report_ended(ended, watch, seen)
        st.rerun(scope="app")
    seen |= {job.name for job in all_jobs if job.state in scoring_queue.ACTIVE_STATES}
    active = [job for job in all_jobs if job.state in scoring_queue.ACTIVE_STATES]
    if active:
        st.caption(
            "Scoring in the background: reloading or leaving the page does not stop it; "
            "results appear here when it ends."
        )
        for job in reversed(active):  # oldest (running) first
            _job_line(job)
    failed = [job for job in all_jobs if job.state in ("failed", "interrupted")]
    if failed:
        with st.expander(f"{len(failed)} scoring job(s) failed"):
            for job in failed[:RECENT_SHOWN]:
                st.error(
                    f"{KIND_LABELS.get(job.kind, job.kind)} {job.name}: {job.status.get('error')}"
                )
