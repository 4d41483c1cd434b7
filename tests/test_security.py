"""Only its user can reach it: the server listens on localhost; a shared server refuses
dataset folders outside DEEPFAKE_DATA_ROOTS and hides deleting; st.login gates it when
configured."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import psutil
import pytest
from streamlit.testing.v1 import AppTest

from core import settings
from core.runs import run_folders
from tests.conftest import make_tree

APP = str(settings.REPO_ROOT / "streamlit_app.py")
LOOPBACK = {"127.0.0.1", "::1"}


LOCAL = settings.Access("localhost")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(process: psutil.Process) -> set[str]:
    """Addresses the process (or a child) listens on."""
    found = set()
    for proc in [process, *process.children(recursive=True)]:
        # net_connections since psutil 6; connections before (requirements allow 5.9).
        connections = getattr(proc, "net_connections", None) or proc.connections
        for conn in connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                found.add(conn.laddr.ip)
    return found


def test_config_listens_on_localhost_only():
    config = tomllib.loads((settings.REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"


def test_started_app_is_reachable_from_this_machine_only(tmp_path):
    """``streamlit run`` as the README says: it binds loopback addresses, never ``*``."""
    port = _free_port()
    env = {**os.environ, settings.ARTIFACTS_ENV: str(tmp_path)}
    env.pop("STREAMLIT_SERVER_ADDRESS", None)
    command = [sys.executable, "-m", "streamlit", "run", APP, "--server.port", str(port)]
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            command, cwd=settings.REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        process = psutil.Process(server.pid)
        deadline = time.monotonic() + 60
        while not _listening(process) and time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            time.sleep(0.2)
        addresses = _listening(process)
        assert addresses, f"the server did not start:\n{log.read_text()}"
        assert addresses <= LOOPBACK, addresses
        assert "Network URL" not in log.read_text()
    finally:
        server.terminate()
        server.wait(30)


def test_restricted_only_when_shared_or_roots_set(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.DATA_ROOTS_ENV, raising=False)
    assert not LOCAL.restricted() and not settings.SHELL.restricted()
    assert LOCAL.folder_refusal(tmp_path) is None and LOCAL.delete_allowed()
    for address in ("0.0.0.0", "", "192.168.1.20"):
        assert settings.Access(address).restricted(), address
    assert not settings.Access("127.0.0.1").restricted()
    monkeypatch.setenv(settings.DATA_ROOTS_ENV, str(tmp_path / "allowed"))
    assert LOCAL.restricted() and settings.SHELL.restricted()


def test_folders_outside_the_roots_are_refused(monkeypatch, tmp_path):
    allowed = tmp_path / "allowed"
    monkeypatch.setenv(settings.DATA_ROOTS_ENV, f"{allowed}{os.pathsep}{tmp_path / 'more'}")
    assert LOCAL.folder_refusal(allowed / "Dataset") is None
    assert LOCAL.folder_refusal(tmp_path / "more" / "x") is None
    assert LOCAL.folder_refusal(settings.demo_data_dir()) is None  # the demo set
    refused = LOCAL.folder_refusal("/etc")
    assert refused and "outside the dataset folders" in refused
    assert settings.DATA_ROOTS_ENV in refused
    # No way out through "..", nor through a link.
    assert LOCAL.folder_refusal(f"{allowed}/../../etc") is not None
    allowed.mkdir()
    (allowed / "link").symlink_to("/etc")
    assert LOCAL.folder_refusal(allowed / "link") is not None
    # Served beyond localhost with no roots listed: only the operator's folders.
    monkeypatch.delenv(settings.DATA_ROOTS_ENV)
    shared = settings.Access("0.0.0.0")
    assert "none are listed" in shared.folder_refusal(allowed)
    monkeypatch.setenv(settings.DATA_ENV, str(allowed))
    assert shared.folder_refusal(allowed / "Dataset") is None


def _app_with_folder(folder: Path) -> AppTest:
    """The app's first run with ``folder`` typed into the sidebar's Dataset folder.

    (A fresh AppTest per folder: on a rerun AppTest shows an empty sidebar under
    st.navigation, whatever the app does.)
    """
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["app_data_dir"] = str(folder)
    at.run()
    assert not at.exception, at.exception
    return at


def test_sidebar_refuses_a_folder_outside_the_roots(monkeypatch, tmp_path):
    inside = make_tree(tmp_path / "allowed" / "Dataset", {"Test": (1, 1)})
    outside = make_tree(tmp_path / "outside" / "Dataset", {"Test": (1, 1)})
    monkeypatch.setenv(settings.DATA_ROOTS_ENV, str(tmp_path / "allowed"))
    at = _app_with_folder(outside)
    errors = " ".join(error.value for error in at.sidebar.error)
    assert f"{outside} is outside the dataset folders this server may open" in errors
    captions = " ".join(caption.value for caption in at.sidebar.caption)
    # The refused folder is not used, nor silently replaced by another dataset.
    assert "Using: nothing until the folder above is fixed or cleared" in captions
    assert str(outside) not in " ".join(md.value for md in at.markdown)
    at = _app_with_folder(inside)
    assert not at.sidebar.error
    assert f"Using: `{inside}` (from the sidebar)" in " ".join(c.value for c in at.sidebar.caption)


def test_sidebar_accepts_any_folder_locally(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.DATA_ROOTS_ENV, raising=False)
    folder = make_tree(tmp_path / "anywhere" / "Dataset", {"Test": (1, 1)})
    at = _app_with_folder(folder)
    assert not at.sidebar.error
    assert f"Using: `{folder}`" in " ".join(c.value for c in at.sidebar.caption)


def test_cross_dataset_folder_outside_the_roots_is_refused(monkeypatch, tmp_path):
    from core.data import testsets

    outside = make_tree(tmp_path / "outside" / "Dataset", {"Test": (2, 2)})
    monkeypatch.setenv(settings.DATA_ROOTS_ENV, str(tmp_path / "allowed"))
    with pytest.raises(testsets.CompareError, match="outside the dataset folders"):
        testsets.dataset_test_set(outside)


@pytest.fixture
def one_run(tmp_path, monkeypatch) -> Path:
    from tests.test_compare import make_run

    dataset = make_tree(
        tmp_path / "data" / "Dataset", {"Train": (2, 2), "Validation": (1, 1), "Test": (2, 2)}
    )
    monkeypatch.setenv(settings.DATA_ENV, str(dataset))
    return make_run(dataset, test_size=4, seed=1)


def _compare_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/compare.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_delete_hidden_unless_allowed(one_run, monkeypatch, tmp_path):
    monkeypatch.setenv(settings.DATA_ROOTS_ENV, str(tmp_path))
    monkeypatch.delenv(settings.ALLOW_DELETE_ENV, raising=False)
    at = _compare_page()
    assert not [b for b in at.button if b.key == "compare_delete"]
    assert any("Deleting runs is off" in caption.value for caption in at.caption)
    with pytest.raises(PermissionError, match="Deleting runs is off"):
        run_folders.delete_run(one_run)
    assert one_run.is_dir()

    monkeypatch.setenv(settings.ALLOW_DELETE_ENV, "1")
    at = _compare_page()
    assert [b for b in at.button if b.key == "compare_delete"]


def test_login_gates_the_app_when_configured():
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "not-a-real-secret",
        "client_id": "workbench",
        "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://login.example.invalid/.well-known/openid-configuration",
    }
    at.run()
    assert not at.exception, at.exception
    assert [button.key for button in at.button] == ["app_login"]
    assert "log in to use it" in " ".join(info.value for info in at.info)
    assert not at.sidebar.text_input  # no page, no sidebar: nothing is reachable


def test_no_login_without_configuration(tiny_dataset, monkeypatch):
    monkeypatch.setenv(settings.DATA_ENV, str(tiny_dataset))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert not [button for button in at.button if button.key == "app_login"]
    assert at.sidebar.text_input(key="app_data_dir")
