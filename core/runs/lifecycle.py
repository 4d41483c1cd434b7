"""Rules about a run whose trainer has stopped: is it alive, and how did it end.

The training queue, the trainer's ``--resume`` and the pages all judge a stopped run
the same way, so these rules live with the run folders rather than with the queue.
"""

from __future__ import annotations

import time
from pathlib import Path

from core.processes import alive, log_tail
from core.runs import checkpoint_files, run_folders

TRAINER_LOG_NAME = "trainer.log"
UNEXPECTED_STOP = "The training process stopped unexpectedly"


def trainer_alive(status: dict) -> bool:
    """True when the trainer recorded in a run's status is still running."""
    return alive(status.get("pid"), status.get("pid_started"))


def mark_stopped(run_dir: Path, returncode: int | None) -> None:
    """Record how a run whose trainer is gone ended, when the trainer could not say.

    Complete runs (metrics and model written) are finished whatever happened after.
    Otherwise: cancelled when Cancel was pressed; failed when the trainer exited
    with an error code; interrupted when it was killed by a signal or vanished
    (``returncode`` None: found dead by :func:`refresh_states`).
    """
    now = time.time()
    if run_folders.is_complete(run_dir):
        run_folders.set_status(run_dir, "finished", phase="done", eta_s=0.0, ended=now)
        checkpoint_files.remove(run_dir)
        return
    if run_folders.cancel_requested(run_dir):
        # The checkpoint stays: a cancelled run can be resumed.
        run_folders.set_status(run_dir, "cancelled", phase="cancelled", ended=now)
        return
    state = "interrupted" if returncode is None or returncode < 0 else "failed"
    if state == "failed":
        checkpoint_files.remove(run_dir)  # only interrupted and cancelled runs are resumed
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
    run_folders.set_status(
        run_dir, state, phase=state, error=error, log_tail=tail or None, ended=now
    )
