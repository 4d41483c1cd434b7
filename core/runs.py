"""Run folders: create, update, list and read saved training runs.

A run is a folder ``<runs_dir>/<model>_<YYYYmmdd-HHMMSS>/`` holding::

    config.json    the TrainConfig plus facts found at start (dataset, weights used)
    status.json    state (queued, running, finished, cancelled, failed), progress, error
    history.json   per-epoch metrics, train and validation
    subsets.json   the exact relative file lists of train/validation/test and the root
    model.keras    the trained model
    metrics.json   test-set metrics; written last, atomically
    rescores/      metrics of the model re-scored on other test sets

Every file is written to a temporary name and moved into place with
``os.replace``, so a reader never sees half a file. A run counts as finished only
when ``status.json`` says so *and* ``metrics.json`` exists: a crash mid-run can
never be mistaken for a result. JSON only, never pickle.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.settings import runs_dir

STATES = ("queued", "running", "finished", "cancelled", "failed")
CANCEL_FLAG = "cancel.request"


class RunError(ValueError):
    """A run folder that cannot be read, with a message meant for the user."""


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (see :func:`write_text`)."""
    write_text(path, json.dumps(data, indent=2, allow_nan=False, default=_json_default))


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically: a temporary file in the same folder, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot store {type(value).__name__} as JSON.")


def read_json(path: Path) -> Any:
    """Read a JSON file.

    Raises:
        RunError: the file is missing or not valid JSON; the message names it.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path.parent.name}/{path.name} is missing.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunError(f"{path.parent.name}/{path.name} is not valid JSON ({error}).") from None


def new_run_dir(model: str, root: Path | None = None) -> Path:
    """Create and return an empty, uniquely named folder ``<model>_<timestamp>``."""
    root = root or runs_dir()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        name = f"{model}_{stamp}" + (f"-{attempt}" if attempt else "")
        try:
            (root / name).mkdir(parents=True)
            return root / name
        except FileExistsError:
            continue
    raise RuntimeError("Could not create a unique run folder.")


def set_status(run_dir: Path, state: str, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into ``status.json`` with the new state; return the status."""
    if state not in STATES:
        raise ValueError(f"Unknown state {state!r}.")
    try:
        status = read_json(run_dir / "status.json")
    except RunError:
        status = {}
    status.update(fields, state=state, updated=time.time())
    write_json(run_dir / "status.json", status)
    return status


def request_cancel(run_dir: Path) -> None:
    """Ask a queued or running run to stop; the trainer checks this flag every batch."""
    (run_dir / CANCEL_FLAG).touch()


def cancel_requested(run_dir: Path) -> bool:
    """True when someone asked this run to stop."""
    return (run_dir / CANCEL_FLAG).exists()


@dataclass
class Run:
    """What is known of one run folder.

    Attributes:
        path: the run folder.
        name: folder name (``<model>_<timestamp>``).
        state: one of :data:`STATES`, or ``"broken"`` when a file is unreadable.
        config: contents of ``config.json`` (empty if unreadable).
        status: contents of ``status.json``.
        metrics: contents of ``metrics.json`` when finished, else None.
        errors: plain-language problems found while reading the folder.
    """

    path: Path
    name: str
    state: str
    config: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def model(self) -> str:
        """Registry name of the model trained."""
        return self.config.get("model") or self.name.split("_")[0]

    @property
    def finished(self) -> bool:
        """True only for a complete run with test metrics."""
        return self.state == "finished" and self.metrics is not None

    def history(self) -> dict[str, list[float]]:
        """Per-epoch metrics (empty when not written yet)."""
        try:
            return read_json(self.path / "history.json")
        except RunError:
            return {}

    def subsets(self) -> dict[str, Any]:
        """The exact file lists of the run (empty when not written yet)."""
        try:
            return read_json(self.path / "subsets.json")
        except RunError:
            return {}


def load_run(path: Path) -> Run:
    """Read a run folder; problems are recorded on the result, never raised."""
    run = Run(path=path, name=path.name, state="broken")
    for attribute, file in (("config", "config.json"), ("status", "status.json")):
        try:
            setattr(run, attribute, read_json(path / file))
        except RunError as error:
            run.errors.append(str(error))
    state = run.status.get("state")
    if state in STATES:
        run.state = state
    if (path / "metrics.json").exists():
        try:
            run.metrics = read_json(path / "metrics.json")
        except RunError as error:
            run.errors.append(str(error))
    if run.state == "finished" and run.metrics is None:
        run.state = "broken"
        run.errors.append("Marked finished but metrics.json is missing or unreadable.")
    return run


def list_runs(root: Path | None = None) -> list[Run]:
    """Return every run folder under ``root``, newest first (hidden folders skipped)."""
    root = root or runs_dir()
    if not root.is_dir():
        return []
    folders = [path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")]
    runs = [load_run(path) for path in folders]
    runs.sort(key=lambda run: (run.status.get("created", 0), run.name), reverse=True)
    return runs


def finished_runs(root: Path | None = None) -> list[Run]:
    """Return only the complete runs, newest first."""
    return [run for run in list_runs(root) if run.finished]


def delete_run(run_dir: Path) -> None:
    """Remove a run folder: rename it to a hidden name first so no reader sees it half-deleted."""
    hidden = run_dir.with_name(f".deleting-{run_dir.name}-{os.getpid()}")
    os.replace(run_dir, hidden)
    shutil.rmtree(hidden, ignore_errors=True)
