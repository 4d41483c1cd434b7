"""AppTest of the shared sidebar's dataset field (issue 15.12): errors on the page in use,
no silent fallback to the previous dataset, files called files, the right placeholder."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import settings

pytestmark = pytest.mark.demo

APP = str(settings.REPO_ROOT / "streamlit_app.py")


def open_page(page: str | None = None, folder: str | Path | None = None) -> AppTest:
    """Open the app, type ``folder`` in the sidebar on Home, then go to ``page``.

    Typed on Home because AppTest does not list sidebar widgets after switch_page.
    """
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    if folder is not None:
        at.text_input(key="app_data_dir").set_value(str(folder)).run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, at.exception
    return at


def main_errors(at: AppTest) -> str:
    return " ".join(error.value for error in at.main.error)


def test_wrong_folder_is_reported_on_the_page_and_stops_it(ffhq, tmp_path):
    at = open_page("app_pages/data_explorer.py", folder=ffhq)
    assert any(header.value == "Class distribution" for header in at.header)
    wrong = tmp_path / "no-such-folder"
    at.session_state["app_data_dir"] = str(wrong)  # the sidebar field, typed on this page
    at.run()
    assert not at.exception, at.exception
    assert str(wrong) in main_errors(at)  # on the page, not only in the sidebar
    # The page does not keep showing the previous dataset under the wrong path.
    assert not any(header.value == "Class distribution" for header in at.header)
    assert "Dataset folder" in " ".join(info.value for info in at.info)


def test_wrong_folder_is_reported_on_pages_without_a_dataset_view(tmp_path):
    at = open_page("app_pages/compare.py")
    at.session_state["app_data_dir"] = str(tmp_path / "missing")
    at.run()
    assert str(tmp_path / "missing") in main_errors(at)


def test_a_file_is_called_a_file(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"not a folder")
    at = open_page()
    at.text_input(key="app_data_dir").set_value(str(path)).run()
    assert "is a file, not a folder" in main_errors(at)
    assert "not found" not in main_errors(at).lower()


def test_placeholder_names_the_environment_folder(ffhq, monkeypatch):
    at = open_page()
    assert "demo data" in at.text_input(key="app_data_dir").placeholder
    monkeypatch.setenv(settings.DATA_ENV, str(ffhq))
    at = open_page()
    placeholder = at.text_input(key="app_data_dir").placeholder
    assert str(Path(ffhq)) in placeholder and "demo" not in placeholder
