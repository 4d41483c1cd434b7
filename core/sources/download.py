"""Download the Kaggle dataset *Deepfake and Real Images* with ``kagglehub``.

The app runs the download as a detached background process, so it survives page
reloads and other tabs, can be cancelled, and reports failure::

    start()                       writes download/status.json "starting", starts
                                  ``python -m core.download --worker`` in its own session
    python -m core.download --worker
                                  holds download/worker.lock (one download at a time),
                                  calls kagglehub, writes bytes done / total to status.json
                                  (kagglehub's own tqdm progress bar is what reports them)
    cancel()                      terminates the worker (named by pid + start time)

The archive lands in kagglehub's cache, ``KAGGLEHUB_CACHE`` when set, else
``<artifacts>/kaggle``; kagglehub continues a partial archive where the server allows
it. Once unpacked, its ``Dataset/`` folder becomes the dataset the app uses (recorded
in ``<artifacts>/dataset.json``, read by the sidebar when no folder is typed).

``python -m core.download`` does the same in the foreground.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import settings
from core.data import catalog
from core.processes import (
    lock_holder,
    log_tail,
    process,
    python_module,
    start_detached,
    terminate,
    try_lock,
    write_identity,
)
from core.sources.kaggle import (
    CACHE_ENV,
    HANDLE,
    DownloadError,
    cache_dir,
    credentials_source,
    explain,
    kagglehub_fetch,
)

logger = logging.getLogger(__name__)

ACTIVE = ("starting", "downloading", "unpacking")
WRITE_EVERY_S = 0.5
#: The unpacked JPEGs take about as much room as the archive; keep a margin on top.
UNPACK_RATIO = 1.1


@dataclass
class DownloadStatus:
    """The state of the (last) download, as read from ``status.json``.

    Attributes:
        state: ``idle`` (never started), ``starting``, ``downloading``, ``unpacking``,
            ``finished``, ``failed`` or ``cancelled``.
        done: bytes downloaded so far.
        total: bytes of the archive (0 until Kaggle says).
        message: one sentence: what happened, or what to do.
        folder: the dataset folder once finished.
    """

    state: str = "idle"
    done: int = 0
    total: int = 0
    message: str = ""
    folder: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """True while a download is starting, downloading or unpacking."""
        return self.state in ACTIVE

    @property
    def fraction(self) -> float:
        """Share of the archive downloaded, 0-1."""
        return min(1.0, self.done / self.total) if self.total else 0.0


# --- where things are ------------------------------------------------------------


def state_dir() -> Path:
    """The folder of the download's status, lock and log."""
    path = settings.artifacts_dir() / "download"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _remembered_path() -> Path:
    return settings.artifacts_dir() / "dataset.json"


def remembered_dataset() -> Path | None:
    """The downloaded dataset folder the app uses when none is typed, if any."""
    try:
        value = json.loads(_remembered_path().read_text(encoding="utf-8")).get("data_dir")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(value) if value else None


def remember_dataset(folder: Path) -> None:
    """Make ``folder`` the dataset the app uses when none is typed (atomic write)."""
    _write_json(_remembered_path(), {"data_dir": str(folder), "source": "kaggle", "handle": HANDLE})


def forget_dataset() -> None:
    """Stop using the downloaded dataset by default (its files stay where they are)."""
    _remembered_path().unlink(missing_ok=True)


def _write_json(path: Path, value: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value, indent=1), encoding="utf-8")
    os.replace(temporary, path)


# --- status ---------------------------------------------------------------------


def write_status(state: str, **fields: Any) -> None:
    """Replace ``status.json`` with this state and fields."""
    _write_json(state_dir() / "status.json", {"state": state, "updated": time.time(), **fields})


def worker_identity() -> tuple[int, float] | None:
    """(pid, start time) of the live download worker, or None."""
    return lock_holder(state_dir() / "worker.lock")


def read_status() -> DownloadStatus:
    """The download's status; an active one whose worker died reads as ``failed``."""
    try:
        raw = json.loads((state_dir() / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DownloadStatus()
    known = {"state", "done", "total", "message", "folder"}
    status = DownloadStatus(
        **{key: raw[key] for key in known if key in raw},
        extra={k: v for k, v in raw.items() if k not in known},
    )
    # "starting" is written before the worker exists: give it a few seconds to lock.
    grace = status.state == "starting" and time.time() - raw.get("updated", 0) < 30
    if status.active and not grace and worker_identity() is None:
        tail = log_tail(state_dir() / "download.log", 1)
        status.state = "failed"
        status.message = "The download process stopped unexpectedly" + (
            f" ({tail.strip()[:200]})." if tail else "."
        )
    return status


# --- the download itself (runs in the worker) ---------------------------------------


class _Reporter:
    """Receives kagglehub's progress (bytes) and writes it to ``status.json``, throttled."""

    def __init__(self) -> None:
        self.last = 0.0
        self.done = self.total = 0

    def started(self, total: int, initial: int) -> None:
        """Check free disk space for the archive and its unpacked files, then report."""
        free = shutil.disk_usage(_existing_parent(cache_dir())).free
        needed = (total - initial) + UNPACK_RATIO * total
        if total and free < needed:
            raise DownloadError(
                f"Not enough free disk space: the dataset needs about {needed / 1e9:.1f} GB "
                f"(archive and unpacked images) but {free / 1e9:.1f} GB is free under "
                f"{cache_dir()}; free some space or set {CACHE_ENV} to a folder on a larger disk."
            )
        self.update(initial, total, force=True)

    def update(self, done: int, total: int, force: bool = False) -> None:
        """Write bytes done/total at most every :data:`WRITE_EVERY_S` seconds."""
        self.done, self.total = int(done), int(total or 0)
        now = time.monotonic()
        if force or now - self.last >= WRITE_EVERY_S:
            self.last = now
            write_status("downloading", done=int(done), total=int(total or 0))

    def finished(self, total: int) -> None:
        """The archive is complete: kagglehub unpacks it next."""
        write_status(
            "unpacking", done=int(total), total=int(total), message="Unpacking the archive..."
        )


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def run(fetch: Callable[[_Reporter], Path] = kagglehub_fetch) -> DownloadStatus:
    """Download, unpack, check the layout and make it the app's dataset.

    Returns:
        The final status (also written to ``status.json``): ``finished`` with the
        dataset folder, or ``failed`` with one sentence.
    """
    credentials = credentials_source()
    write_status("downloading", message="Contacting Kaggle...")
    reporter = _Reporter()
    try:
        landed = fetch(reporter)
        root = catalog.resolve_root(landed)
        index = catalog.index_dataset(root)
    except catalog.DatasetError as error:
        message = f"The download finished but its folder is not usable: {error}"
        write_status("failed", message=message)
    except Exception as error:  # every failure becomes one sentence
        logger.info("download failed: %r", error)
        write_status("failed", message=explain(error, credentials))
    else:
        remember_dataset(root)
        message = f"Downloaded {index.total:,} images to {root}; the app now uses this dataset."
        sizes = {"done": reporter.done, "total": reporter.total}
        write_status("finished", folder=str(root), message=message, **sizes)
    return read_status()


def worker(fetch: Callable[[_Reporter], Path] = kagglehub_fetch) -> DownloadStatus | None:
    """Hold the download lock (one download at a time), then :func:`run`.

    Returns:
        The final status, or None when another download holds the lock.
    """
    lock = try_lock(state_dir() / "worker.lock")
    if lock is None:
        logger.info("another download is running")
        return None
    with contextlib.closing(lock):
        write_identity(lock)
        return run(fetch)


# --- what the page calls ------------------------------------------------------------


def start(command: Sequence[str] | None = None) -> bool:
    """Start the background download unless one runs.

    Args:
        command: the worker command (default ``python -m core.download --worker``).

    Returns:
        True when a worker was started.
    """
    if worker_identity() is not None or read_status().active:
        return False
    write_status("starting", message="Starting the download...")
    log = state_dir() / "download.log"
    start_detached(list(command or python_module("core.sources.download", "--worker")), log)
    return True


def cancel() -> bool:
    """Stop the running download (kagglehub may continue its partial archive next time).

    Returns:
        True when a running worker was stopped.
    """
    identity = worker_identity()
    found = process(*identity) if identity else None
    if found is not None:
        terminate(found)
    if found is not None or read_status().active:
        write_status("cancelled", message="Download cancelled.")
    return found is not None


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.download",
        description=f"Download {HANDLE} from Kaggle and make it the app's dataset.",
    )
    parser.add_argument("--worker", action="store_true", help="(the app's background worker)")
    parser.add_argument("--cancel", action="store_true", help="stop the app's running download")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.worker else logging.WARNING)
    if args.cancel:
        print("Cancelled." if cancel() else "No download is running.")
        return 0
    status = worker()
    if status is None:
        print("A download is already running (started from the app or another shell).")
        return 1
    if not args.worker:
        print(status.message)
    return 0 if status.state == "finished" else 1


if __name__ == "__main__":
    sys.exit(_main())
