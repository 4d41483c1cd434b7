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
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import data, settings
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

logger = logging.getLogger(__name__)

HANDLE = "manjilkarki/deepfake-and-real-images"
PAGE_URL = f"https://www.kaggle.com/datasets/{HANDLE}"
CACHE_ENV = "KAGGLEHUB_CACHE"
ACTIVE = ("starting", "downloading", "unpacking")
WRITE_EVERY_S = 0.5
#: The unpacked JPEGs take about as much room as the archive; keep a margin on top.
UNPACK_RATIO = 1.1
NO_CREDENTIALS = (
    "No Kaggle credentials found: put kaggle.json in ~/.kaggle/ (Kaggle > Settings > API > "
    f"Create New Token) or download the dataset from {PAGE_URL} and enter its folder in the "
    "sidebar."
)


class DownloadError(RuntimeError):
    """A download that cannot go on; the message is one sentence for the user."""


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


def cache_dir() -> Path:
    """Where kagglehub puts the dataset: ``KAGGLEHUB_CACHE``, else ``<artifacts>/kaggle``."""
    value = os.environ.get(CACHE_ENV, "").strip()
    return Path(value).expanduser() if value else settings.artifacts_dir() / "kaggle"


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


# --- credentials and errors --------------------------------------------------------


def _xdg_kaggle_dir() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "kaggle"


def credentials_source() -> str | None:
    """Where Kaggle credentials were found on this machine (what kagglehub reads), or None.

    kagglehub reads ``KAGGLE_API_TOKEN``, ``KAGGLE_USERNAME`` + ``KAGGLE_KEY``,
    ``~/.kaggle/access_token`` and ``kaggle.json`` in ``KAGGLE_CONFIG_DIR`` (default
    ``~/.kaggle``); the kaggle command line also reads ``~/.config/kaggle/kaggle.json``,
    which the worker passes on to kagglehub.
    """
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME and KAGGLE_KEY"
    config = Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle").expanduser()
    candidates = [
        config / "kaggle.json",
        Path.home() / ".kaggle" / "access_token",
        _xdg_kaggle_dir() / "kaggle.json",
    ]
    return next((str(path) for path in candidates if path.is_file()), None)


def _network_cause(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    for pattern, cause in (
        (
            r"NameResolution|Name or service not known|name resolution|getaddrinfo",
            "no network or DNS",
        ),
        (r"timed out|Timeout", "the connection timed out"),
        (r"Connection refused", "the connection was refused"),
        (r"Network is unreachable|No route to host", "no network route"),
        (r"SSL|certificate", "a TLS/certificate error"),
        (r"[Pp]roxy", "a proxy error"),
    ):
        if re.search(pattern, text):
            return cause
    return type(error).__name__


def explain(error: BaseException, credentials: str | None) -> str:
    """One sentence saying why a download failed and what to do instead.

    Args:
        error: what the download raised.
        credentials: :func:`credentials_source` (None: none found).
    """
    instead = (
        f"download the dataset from {PAGE_URL} in a browser and enter its folder in the sidebar"
    )
    if isinstance(error, DownloadError):
        return str(error)
    if isinstance(error, ImportError):
        return f"kagglehub is not installed: run `pip install -r requirements.txt`, or {instead}."
    code = getattr(getattr(error, "response", None), "status_code", None)
    name = type(error).__name__
    if code in (401, 403) or name in ("CredentialError", "UnauthenticatedError"):
        if credentials is None:
            return NO_CREDENTIALS
        return (
            f"Kaggle refused the credentials in {credentials} ({code or name}): create a new "
            f"token (Kaggle > Settings > API > Create New Token), or {instead}."
        )
    if code == 404:
        return f"Kaggle has no dataset {HANDLE} (404): {instead}."
    if code is not None:
        return f"Kaggle answered with HTTP {code}: try again later, or {instead}."
    if isinstance(error, ValueError) and "credentials" in str(error).lower():
        return f"{error}: fix or remove that file, or {instead}."
    if isinstance(error, OSError) and getattr(error, "errno", None) == 28:
        return f"The disk holding {cache_dir()} is full: free some space, or {instead}."
    if _is_network(error):
        cause = _network_cause(error)
        return f"Could not reach Kaggle ({cause}): check the internet connection, or {instead}."
    return f"The download failed ({name}: {str(error)[:200]}): try again, or {instead}."


def _is_network(error: BaseException) -> bool:
    try:
        import requests
    except ImportError:  # pragma: no cover - kagglehub depends on requests
        requests = None
    if requests is not None and isinstance(error, requests.exceptions.RequestException):
        return True
    return isinstance(error, ConnectionError | TimeoutError) or "Connection" in type(error).__name__


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


def _hook_progress(reporter: _Reporter) -> None:
    """Make kagglehub's tqdm progress bar report to ``reporter`` as well."""
    from kagglehub import clients

    base = clients.tqdm

    class ReportingBar(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            reporter.started(int(self.total or 0), int(self.n or 0))

        def update(self, n: float = 1) -> bool | None:
            shown = super().update(n)
            reporter.update(int(self.n), int(self.total or 0))
            return shown

        def close(self) -> None:
            if self.total and self.n >= self.total:
                reporter.finished(int(self.total))
            super().close()

    clients.tqdm = ReportingBar


def kagglehub_fetch(reporter: _Reporter) -> Path:
    """Download (or find in kagglehub's cache) the dataset; return the folder it is in."""
    usual = Path.home() / ".kaggle" / "kaggle.json"
    xdg = _xdg_kaggle_dir() / "kaggle.json"
    if "KAGGLE_CONFIG_DIR" not in os.environ and not usual.exists() and xdg.is_file():
        os.environ["KAGGLE_CONFIG_DIR"] = str(xdg.parent)
    os.environ[CACHE_ENV] = str(cache_dir())
    import kagglehub

    _hook_progress(reporter)
    return Path(kagglehub.dataset_download(HANDLE))


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
        root = data.resolve_root(landed)
        index = data.index_dataset(root)
    except data.DatasetError as error:
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
    start_detached(list(command or python_module("core.download", "--worker")), log)
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
