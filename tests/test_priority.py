"""Background workers run at a lower CPU priority, so the pages stay responsive."""

from __future__ import annotations

import os
import subprocess
import sys

from core import processes, settings
from core.jobs import scoring_queue, training_queue


def test_lower_priority_raises_the_niceness_of_the_process_and_its_children():
    script = (
        "import os, subprocess, sys\n"
        "from core.processes import lower_priority\n"
        "lower_priority()\n"
        "child = [sys.executable, '-c', 'import os; print(os.nice(0))']\n"
        "print(os.nice(0), subprocess.run(child, capture_output=True, text=True).stdout.strip())\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    expected = min(19, os.nice(0) + processes.WORKER_NICENESS)
    assert [int(value) for value in output] == [expected, expected]


def test_the_scoring_worker_entry_point_lowers_its_priority(monkeypatch):
    calls = []
    monkeypatch.setattr(scoring_queue, "lower_priority", lambda: calls.append("nice"))
    monkeypatch.setattr(scoring_queue, "run_worker", lambda: calls.append("work") or 0)
    assert scoring_queue.main(["--worker"]) == 0
    assert calls == ["nice", "work"]


def test_the_training_worker_entry_point_lowers_its_priority(monkeypatch):
    calls = []
    monkeypatch.setattr(training_queue, "lower_priority", lambda: calls.append("nice"))
    monkeypatch.setattr(training_queue, "run_worker", lambda: calls.append("work") or 0)
    assert training_queue.main(["--worker"]) == 0
    assert calls == ["nice", "work"]
