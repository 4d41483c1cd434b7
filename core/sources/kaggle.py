"""The Kaggle side of the dataset download: kagglehub, credentials, failures in one sentence.

:mod:`core.sources.download` runs :func:`kagglehub_fetch` in its background worker. kagglehub
reports progress through a tqdm bar; :func:`hook_progress` makes that bar report to
the worker's status file as well. Every failure becomes one sentence saying what to
do instead (:func:`explain`).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Protocol

from core import settings

logger = logging.getLogger(__name__)

HANDLE = "manjilkarki/deepfake-and-real-images"
PAGE_URL = f"https://www.kaggle.com/datasets/{HANDLE}"
CACHE_ENV = "KAGGLEHUB_CACHE"
NO_CREDENTIALS = (
    "No Kaggle credentials found: put kaggle.json in ~/.kaggle/ (Kaggle > Settings > API > "
    f"Create New Token) or download the dataset from {PAGE_URL} and enter its folder in the "
    "sidebar."
)


class DownloadError(RuntimeError):
    """A download that cannot go on; the message is one sentence for the user."""


class Reporter(Protocol):
    """Receives the archive's progress (bytes)."""

    def started(self, total: int, initial: int) -> None:
        """The archive is ``total`` bytes, ``initial`` of them already on disk."""

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` bytes are on disk."""

    def finished(self, total: int) -> None:
        """The archive is complete; kagglehub unpacks it next."""


def cache_dir() -> Path:
    """Where kagglehub puts the dataset: ``KAGGLEHUB_CACHE``, else ``<artifacts>/kaggle``."""
    value = os.environ.get(CACHE_ENV, "").strip()
    return Path(value).expanduser() if value else settings.artifacts_dir() / "kaggle"


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


def hook_progress(reporter: Reporter) -> None:
    """Make kagglehub's tqdm progress bar report to ``reporter`` as well.

    ``kagglehub.clients.tqdm`` is not a public API: where it is missing, the download
    still runs, only without progress (the status says "Contacting Kaggle..." until done).
    """
    from kagglehub import clients

    base = getattr(clients, "tqdm", None)
    if not isinstance(base, type):
        logger.warning("kagglehub.clients.tqdm not found: no download progress")
        return

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


def kagglehub_fetch(reporter: Reporter) -> Path:
    """Download (or find in kagglehub's cache) the dataset; return the folder it is in."""
    usual = Path.home() / ".kaggle" / "kaggle.json"
    xdg = _xdg_kaggle_dir() / "kaggle.json"
    if "KAGGLE_CONFIG_DIR" not in os.environ and not usual.exists() and xdg.is_file():
        os.environ["KAGGLE_CONFIG_DIR"] = str(xdg.parent)
    os.environ[CACHE_ENV] = str(cache_dir())
    import kagglehub

    hook_progress(reporter)
    return Path(kagglehub.dataset_download(HANDLE))
