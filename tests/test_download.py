"""Getting the Kaggle dataset from Home (issue 10.5), without network.

The real background worker (``python -m core.download --worker``) runs with
``tests/fake_kagglehub`` first on ``PYTHONPATH``: it imports that stand-in instead of
kagglehub, which reports progress through the same tqdm hook and lands a tiny tree
in the Kaggle layout, or fails as Kaggle does offline or without credentials.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from streamlit.testing.v1 import AppTest

from core import settings
from core.sources import download, kaggle

pytestmark = pytest.mark.demo

APP = str(settings.REPO_ROOT / "streamlit_app.py")
FAKE = settings.REPO_ROOT / "tests" / "fake_kagglehub"


@pytest.fixture
def fake_kaggle(monkeypatch, tmp_path):
    """Background downloads use the stand-in; this machine's Kaggle settings are hidden."""
    monkeypatch.setenv("PYTHONPATH", str(FAKE))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(kaggle.CACHE_ENV, raising=False)

    def mode(value: str) -> None:
        monkeypatch.setenv("FAKE_KAGGLE", value)

    return mode


def wait_for(check, timeout: float = 60.0) -> download.DownloadStatus:
    """Poll the status file until ``check(status)`` holds (generous deadline: busy CPUs)."""
    deadline = time.monotonic() + timeout
    while True:
        status = download.read_status()
        if check(status):
            return status
        assert time.monotonic() < deadline, f"timed out; last status: {status}"
        time.sleep(0.2)


def test_background_download_lands_and_becomes_the_dataset(fake_kaggle, artifacts):
    fake_kaggle("ok")
    assert download.start()
    status = wait_for(lambda s: s.state in ("finished", "failed"))
    assert status.state == "finished", status.message
    expected = artifacts / "kaggle" / "datasets" / kaggle.HANDLE / "versions" / "1" / "Dataset"
    assert Path(status.folder) == expected
    assert status.done == status.total > 0  # progress came through kagglehub's tqdm
    assert download.remembered_dataset() == expected
    assert "16 images" in status.message
    assert download.worker_identity() is None  # the worker is gone

    home = AppTest.from_file(APP, default_timeout=60)
    home.run()
    assert not home.exception, home.exception
    markdown = " ".join(element.value for element in home.markdown)
    assert f"**{expected}** — 16 images" in markdown
    assert any("from the download" in caption.value for caption in home.sidebar.caption)
    assert not home.info or "synthetic demo dataset" not in home.info[0].value


def test_offline_gives_one_sentence(fake_kaggle):
    fake_kaggle("offline")
    assert download.start()
    status = wait_for(lambda s: s.state in ("finished", "failed"))
    assert status.state == "failed"
    assert status.message.startswith("Could not reach Kaggle (no network or DNS)")
    assert kaggle.PAGE_URL in status.message and status.message.count(". ") == 0
    assert download.remembered_dataset() is None


def test_no_credentials_says_what_to_do(fake_kaggle):
    fake_kaggle("unauthorized")
    assert kaggle.credentials_source() is None
    assert download.start()
    status = wait_for(lambda s: s.state in ("finished", "failed"))
    assert status.message == kaggle.NO_CREDENTIALS


def test_progress_then_cancel(fake_kaggle):
    fake_kaggle("slow")
    assert download.start()
    status = wait_for(lambda s: s.state == "downloading" and s.done > 0)
    assert status.total == 4_000_000 and 0 < status.fraction < 1
    assert not download.start()  # one download at a time
    assert download.cancel()
    status = download.read_status()
    assert status.state == "cancelled" and not status.active
    assert download.worker_identity() is None
    assert download.remembered_dataset() is None


def test_credentials_are_found_where_kagglehub_and_kaggle_look(fake_kaggle, tmp_path, monkeypatch):
    assert kaggle.credentials_source() is None
    xdg = tmp_path / "home" / ".config" / "kaggle" / "kaggle.json"
    xdg.parent.mkdir(parents=True)
    xdg.write_text('{"username": "u", "key": "k"}')
    assert kaggle.credentials_source() == str(xdg)
    usual = tmp_path / "home" / ".kaggle" / "kaggle.json"
    usual.parent.mkdir(parents=True)
    usual.write_text('{"username": "u", "key": "k"}')
    assert kaggle.credentials_source() == str(usual)
    monkeypatch.setenv("KAGGLE_USERNAME", "u")
    monkeypatch.setenv("KAGGLE_KEY", "k")
    assert kaggle.credentials_source() == "KAGGLE_USERNAME and KAGGLE_KEY"


def _http_error(code: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = code
    return requests.HTTPError(f"{code} Client Error", response=response)


def test_failures_are_explained_in_one_sentence():
    refused = kaggle.explain(_http_error(403), "/home/me/.kaggle/kaggle.json")
    assert refused.startswith("Kaggle refused the credentials in /home/me/.kaggle/kaggle.json")
    assert kaggle.explain(_http_error(401), None) == kaggle.NO_CREDENTIALS
    assert "(404)" in kaggle.explain(_http_error(404), None)
    timeout = kaggle.explain(requests.exceptions.ConnectTimeout("Connection timed out"), None)
    assert timeout.startswith("Could not reach Kaggle (the connection timed out)")
    missing = kaggle.explain(ModuleNotFoundError("No module named 'kagglehub'"), None)
    assert missing.startswith("kagglehub is not installed")
    full = kaggle.explain(OSError(28, "No space left on device"), None)
    assert full.startswith("The disk holding") and "is full" in full


def test_a_short_disk_is_refused_before_downloading(monkeypatch):
    monkeypatch.setattr(download.shutil, "disk_usage", lambda _: type("U", (), {"free": 10**9})())
    with pytest.raises(kaggle.DownloadError, match="Not enough free disk space"):
        download._Reporter().started(total=2 * 10**9, initial=0)
    # what run() makes of it: the same sentence, as a failure
    status = download.run(fetch=lambda reporter: reporter.started(2 * 10**9, 0))
    assert status.state == "failed" and status.message.startswith("Not enough free disk space")


def test_a_worker_that_died_reads_as_failed():
    download.write_status("downloading", done=10, total=100)
    status = download.read_status()
    assert status.state == "failed"
    assert status.message.startswith("The download process stopped unexpectedly")


@pytest.mark.slow
def test_home_section_download_progress_and_failure(fake_kaggle):
    fake_kaggle("slow")
    home = AppTest.from_file(APP, default_timeout=60)
    home.run()
    assert not home.exception, home.exception
    assert any(header.value == "Get the Kaggle dataset" for header in home.subheader)
    assert "No Kaggle credentials found" in " ".join(c.value for c in home.caption)
    home.button(key="home_download_start").click().run()
    assert download.read_status().active
    wait_for(lambda s: s.state == "downloading" and s.done > 0)
    home.run()
    assert home.button(key="home_download_cancel")  # progress is shown with Cancel
    home.button(key="home_download_cancel").click().run()
    assert download.read_status().state == "cancelled"
    assert "cancelled" in " ".join(info.value for info in home.info)

    download.write_status("failed", message=kaggle.NO_CREDENTIALS)
    home.run()
    assert kaggle.NO_CREDENTIALS in [error.value for error in home.error]
    assert home.button(key="home_download_start")  # it can be tried again


def test_forgetting_the_download_goes_back_to_the_demo(tiny_dataset, artifacts):
    download.remember_dataset(tiny_dataset)
    home = AppTest.from_file(APP, default_timeout=60)
    home.run()
    assert f"**{tiny_dataset}**" in " ".join(element.value for element in home.markdown)
    home.button(key="home_download_forget").click().run()
    assert download.remembered_dataset() is None
    assert "synthetic demo dataset" in " ".join(info.value for info in home.info)


def test_restricted_app_refuses_a_download_outside_its_roots(tiny_dataset, monkeypatch, tmp_path):
    monkeypatch.setenv(settings.DATA_ROOTS_ENV, str(tmp_path / "allowed"))
    download.remember_dataset(tiny_dataset)
    home = AppTest.from_file(APP, default_timeout=60)
    home.run()
    assert "outside the dataset folders" in " ".join(e.value for e in home.sidebar.error)
    assert "synthetic demo dataset" in " ".join(info.value for info in home.info)
