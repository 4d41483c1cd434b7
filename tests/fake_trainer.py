"""A fast stand-in for ``python -m core.train --run-dir DIR``, for queue tests and benchmarks.

Run as ``python -m tests.fake_trainer --run-dir DIR`` from the repository root (the
worker does: its working directory is the repository, so ``core`` imports without
touching ``sys.path``). It writes the same files as the real trainer, in the same
order (status running with its pid, history, model.keras, metrics.json, status
finished), and behaves as ``DIR/fake_mode`` says:

- ``finish`` (default): 4 short batches, then a complete run.
- ``slow``: 400 batches of 50 ms, checking the cancel flag every batch.
- ``crash``: exits with code 3 after saying so.
- ``hang``: ignores the cancel flag and SIGTERM.
- ``die_after_metrics``: kills itself with SIGKILL right after writing metrics.json,
  before the final status (the "complete means complete" window).

``FAKE_EVENTS`` (optional) names a file that gets ``start <run>`` / ``end <run>``
lines appended, in the order they happen. ``FAKE_PHASE_S`` (default 0) makes the
"loading data" and "evaluating" phases last that long (for bench/fault_injection.py).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import zipfile
from pathlib import Path

from core import settings
from core.runs import run_folders


def _event(kind: str, run_dir: Path) -> None:
    events = os.environ.get("FAKE_EVENTS")
    if events:
        with open(events, "a", encoding="utf-8") as file:
            file.write(f"{kind} {run_dir.name}\n")


def write_fake_model(path: Path) -> None:
    """A small archive shaped like a ``.keras`` file (what run completeness checks)."""
    temporary = path.with_name(".model.keras.tmp")
    with zipfile.ZipFile(temporary, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("metadata.json", "{}")
    os.replace(temporary, path)


def main() -> int:
    """Pretend to train the run named by ``--run-dir``; returns the exit status."""
    run_dir = Path(sys.argv[sys.argv.index("--run-dir") + 1])
    mode_file = run_dir / "fake_mode"
    mode = mode_file.read_text().strip() if mode_file.exists() else "finish"
    _event("start", run_dir)
    run_folders.write_json(
        run_dir / "env.json",
        {
            "cwd": os.getcwd(),
            "artifacts": os.environ.get(settings.ARTIFACTS_ENV),
            "data": os.environ.get(settings.DATA_ENV),
            "argv": sys.argv,
        },
    )
    phase_s = float(os.environ.get("FAKE_PHASE_S", "0"))
    run_folders.set_status(
        run_dir, "running", pid=os.getpid(), phase="loading data", epoch=0, epochs=1
    )
    time.sleep(phase_s)
    run_folders.set_status(run_dir, "running", phase="training", epoch=1)
    if mode == "crash":
        print("fake trainer crashing on purpose", flush=True)
        return 3
    if mode == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(120)
    steps = 400 if mode == "slow" else 4
    for batch in range(steps):
        if run_folders.cancel_requested(run_dir):
            run_folders.set_status(run_dir, "cancelled", phase="cancelled")
            return 0
        run_folders.set_status(run_dir, "running", batch=batch + 1, batches=steps)
        time.sleep(0.05)
    run_folders.set_status(run_dir, "running", phase="evaluating")
    run_folders.write_json(run_dir / "history.json", {"loss": [0.5], "val_loss": [0.6]})
    time.sleep(phase_s)
    write_fake_model(run_dir / "model.keras")
    run_folders.write_json(run_dir / "metrics.json", {"accuracy": 0.75, "auc": 0.8})
    if mode == "die_after_metrics":
        os.kill(os.getpid(), signal.SIGKILL)
    run_folders.set_status(run_dir, "finished", phase="done")
    _event("end", run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
