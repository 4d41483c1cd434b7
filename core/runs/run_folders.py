"""Run folders: create, update, list and read saved training runs.

A run is a folder ``<runs_dir>/<model>_<YYYYmmdd-HHMMSS>/`` holding::

    config.json    the TrainConfig plus facts found at start (dataset, weights used)
    status.json    state (see :data:`TRANSITIONS`), progress, error, process ids
    history.json   per-epoch metrics, train and validation
    subsets.json   the exact relative file lists of train/validation/test and the root
    model.keras    the trained model
    metrics.json   test-set metrics; written last, atomically
    rescores/      metrics of the model re-scored on other test sets

Every file is written to a temporary name and moved into place with
``os.replace``, so a reader never sees half a file. JSON only, never pickle.

Three processes write ``status.json`` (the trainer, the queue worker, the page);
:func:`set_status` serialises their read-modify-writes with a file lock and
refuses any state change not listed in :data:`TRANSITIONS`, so a state never
flips back (a late progress write cannot turn a cancelled run into a running one).

**Complete means complete**: a run whose ``metrics.json`` is readable and whose
``model.keras`` is a whole Keras archive is finished, whatever ``status.json``
says (the trainer may have been killed between writing its metrics and its final
status). A run that says finished without both is shown as broken. Every page
reads runs through :func:`load_run`, so they all agree.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import filelock
import psutil

from core import settings
from core.runs import checkpoint_files
from core.settings import runs_dir

logger = logging.getLogger(__name__)

#: The allowed state changes, in one place. ``None`` is a folder without a (readable)
#: status: the queue creates runs "queued", ``python -m core.train`` alone "running", and
#: a run written in one go (imported, or built by a test) may start in any state.
#: A state may be re-written with itself while the run is active (progress updates);
#: nothing leaves finished or failed. An interrupted run (its process died) or a cancelled
#: one may only be queued again, by a deliberate resume (:func:`reopen`): a trainer only
#: ever writes "running", so a late write of a presumed-dead trainer stays refused.
TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"queued", "running", "finished", "failed", "cancelled", "interrupted"}),
    "queued": frozenset({"queued", "running", "cancelled"}),
    "running": frozenset({"running", "finished", "failed", "cancelled", "interrupted"}),
    "finished": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset({"queued"}),
    "interrupted": frozenset({"queued"}),
}
STATES = tuple(state for state in TRANSITIONS if state is not None)
#: States in which nothing runs (an interrupted run waits for a resume, or stays so).
FINAL_STATES = ("finished", "failed", "cancelled", "interrupted")
#: A cancelled run keeps its checkpoint; it is resumable once it has one (:func:`reopen`).
RESUMABLE_STATES = ("interrupted", "cancelled")
CANCEL_FLAG = "cancel.request"
RESCORES_DIR = "rescores"
STATUS_LOCK = ".status.lock"
#: Seconds to wait for another process's status update before giving up.
LOCK_TIMEOUT_S = 30.0
#: Fault injection only (bench/fault_injection.py): ``<file name>:<seconds>`` makes
#: :func:`write_json` pause that long after writing that file, having touched
#: ``<file name>.paused`` next to it, so a test can kill a process in that window.
PAUSE_ENV = "DEEPFAKE_FAULT_PAUSE_AFTER"


class RunError(ValueError):
    """A run folder that cannot be read, with a message meant for the user."""


def allowed(old: str | None, new: str) -> bool:
    """True when :data:`TRANSITIONS` lets a run go from state ``old`` to ``new``."""
    return new in TRANSITIONS.get(old, frozenset())


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
    _fault_pause(path)


def _fault_pause(path: Path) -> None:
    """The fault-injection pause of :data:`PAUSE_ENV`; does nothing unless it is set."""
    name, _, seconds = os.environ.get(PAUSE_ENV, "").partition(":")
    if name and name == path.name:
        (path.parent / f"{path.name}.paused").touch()
        time.sleep(float(seconds or 1.0))


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


def read_status(folder: Path) -> dict[str, Any]:
    """The folder's ``status.json`` as recorded, or an empty dict when it is unreadable."""
    try:
        status = read_json(folder / "status.json")
    except RunError:
        return {}
    return status if isinstance(status, dict) else {}


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


def process_started(pid: int | None) -> float | None:
    """Start time of a live process (seconds since the epoch), or None when there is none.

    A pid alone names a process only until it exits; (pid, start time) names it for good.
    """
    if not pid or pid <= 0:
        return None
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def set_status(
    run_dir: Path, state: str, only_from: tuple[str, ...] | None = None, **fields: Any
) -> dict[str, Any] | None:
    """Merge ``fields`` into ``status.json`` with the new state, if the change is allowed.

    The read-modify-write happens under a lock file in the run folder, so the
    trainer, the worker and the page never overwrite each other's changes. A
    ``pid`` or ``worker_pid`` field is stored with the process's start time
    (``pid_started``, ``worker_started``) unless given, so that the process can
    later be told apart from an unrelated one that reused its pid.

    Args:
        run_dir: the run folder.
        state: the new state.
        only_from: change the state only when the current one is among these
            (compare-and-set, e.g. cancel a run only while it is still queued).
        **fields: other status fields to merge.

    Returns:
        The new status, or None when :data:`TRANSITIONS` refuses the change (it is
        logged and nothing is written: e.g. a late progress write of a trainer
        whose run was already marked cancelled; a trainer is never stopped by it).

    Raises:
        ValueError: an unknown state.
        filelock.Timeout: another process held the lock for :data:`LOCK_TIMEOUT_S`.
    """
    if state not in STATES:
        raise ValueError(f"Unknown state {state!r}.")
    for pid_key, started_key in (("pid", "pid_started"), ("worker_pid", "worker_started")):
        if fields.get(pid_key) and started_key not in fields:
            fields[started_key] = process_started(fields[pid_key])
    with filelock.FileLock(run_dir / STATUS_LOCK, timeout=LOCK_TIMEOUT_S):
        try:
            status = read_json(run_dir / "status.json")
        except RunError:
            status = {}
        old = status.get("state") if status.get("state") in STATES else None
        if not allowed(old, state) or (only_from is not None and old not in only_from):
            logger.warning("%s: refused state change %s -> %s", run_dir.name, old, state)
            return None
        status.update(fields, state=state, updated=time.time())
        write_json(run_dir / "status.json", status)
    return status


def reopen(run_dir: Path, **fields: Any) -> dict[str, Any] | None:
    """Queue an interrupted run, or a cancelled one with a checkpoint, again, for a resume.

    Args:
        run_dir: the run folder.
        **fields: other status fields to set (e.g. ``created`` for the queue order).

    Returns:
        The new status, or None when the run was not interrupted (nothing changed).
    """
    state = load_run(run_dir).state
    if state not in RESUMABLE_STATES or (state == "cancelled" and not has_checkpoint(run_dir)):
        return None
    (run_dir / CANCEL_FLAG).unlink(missing_ok=True)  # stale: it must not stop the resumed run
    cleared = dict.fromkeys(("error", "log_tail", "ended", "worker_pid", "worker_started"))
    return set_status(
        run_dir, "queued", only_from=RESUMABLE_STATES, **cleared, phase="queued", **fields
    )


def has_checkpoint(run_dir: Path) -> bool:
    """True when the run holds a checkpoint of a completed epoch (see ``checkpoint_files``)."""
    return bool(checkpoint_files.saved(run_dir))


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
        state: one of :data:`STATES` (``finished`` whenever the run is complete, see
            :func:`is_complete`), or ``"broken"`` when a file is unreadable or the run
            says finished without being complete.
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


def model_complete(run_dir: Path) -> bool:
    """True when ``model.keras`` is a whole Keras archive (not missing, not cut short)."""
    try:
        with zipfile.ZipFile(run_dir / "model.keras") as archive:
            return "config.json" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def is_complete(run_dir: Path, metrics: Any = None) -> bool:
    """True when the run's ``metrics.json`` is a readable record and its model is whole.

    Args:
        run_dir: the run folder.
        metrics: the already-read contents of metrics.json (read here when None).
    """
    if metrics is None:
        try:
            metrics = read_json(run_dir / "metrics.json")
        except RunError:
            return False
    return isinstance(metrics, dict) and bool(metrics) and model_complete(run_dir)


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
    metrics = None
    if (path / "metrics.json").exists():
        try:
            metrics = read_json(path / "metrics.json")
        except RunError as error:
            run.errors.append(str(error))
    if is_complete(path, metrics):
        run.state, run.metrics = "finished", metrics
    elif run.state == "finished":
        run.state = "broken"
        run.errors.append(
            "Marked finished but metrics.json or model.keras is missing, damaged or incomplete."
        )
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


def delete_run(run_dir: Path, access: settings.Access = settings.SHELL) -> None:
    """Remove a run folder: rename it to a hidden name first so no reader sees it half-deleted.

    Args:
        run_dir: the run folder.
        access: who can reach the app (:class:`core.settings.Access`).

    Raises:
        PermissionError: deleting is off on this server.
    """
    if not access.delete_allowed():
        raise PermissionError(settings.DELETE_OFF_MESSAGE)
    hidden = run_dir.with_name(f".deleting-{run_dir.name}-{os.getpid()}")
    os.replace(run_dir, hidden)
    shutil.rmtree(hidden, ignore_errors=True)


# --- re-score records: rescores/<test-set id>.json --------------------------------------


def rescore_path(run_dir: Path, test_id: str) -> Path:
    """Where the re-score of a run on a test set is stored."""
    return run_dir / RESCORES_DIR / f"{test_id}.json"


def write_rescore(run_dir: Path, record: dict[str, Any]) -> Path:
    """Store a re-score record (atomically) under its ``test_set_id``; return its path."""
    path = rescore_path(run_dir, record["test_set_id"])
    write_json(path, record)
    return path


def stored_rescore(run_dir: Path, test_id: str, files: list[str]) -> dict | None:
    """The stored re-score of exactly these files (same content id), or None.

    Where the dataset sits now does not matter, so a moved dataset keeps its stored
    re-scores. A corrupt record, or one made for another file list, counts as
    absent: the run is scored again and the record overwritten.
    """
    try:
        record = read_json(rescore_path(run_dir, test_id))
    except RunError:
        return None
    if not isinstance(record, dict):
        return None
    if record.get("test_set_id") != test_id or record.get("requested_files") != files:
        return None
    return record if isinstance(record.get("metrics"), dict) else None


def read_rescores(run_dir: Path, problems: list[str]) -> dict[str, dict[str, Any]]:
    """Every readable re-score record of a run, by test-set id.

    Args:
        run_dir: the run folder.
        problems: unreadable or foreign files are described here, never raised.
    """
    folder = run_dir / RESCORES_DIR
    if not folder.is_dir():
        return {}
    found = {}
    for file in sorted(folder.glob("*.json")):
        try:
            record = read_json(file)
        except RunError as error:
            problems.append(f"{run_dir.name}: {RESCORES_DIR}/{error}")
            continue
        if not (
            isinstance(record, dict)
            and record.get("test_set_id") == file.stem
            and isinstance(record.get("metrics"), dict)
        ):
            problems.append(f"{run_dir.name}: {RESCORES_DIR}/{file.name} is not a re-score record.")
            continue
        found[file.stem] = record
    return found
