"""AppTest of the Compare page: empty state, table and charts, re-score, delete, no TF on render."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import compare, settings
from tests.conftest import make_tree
from tests.test_compare import make_run

PAGE = "pages/compare.py"
APP = str(settings.REPO_ROOT / "streamlit_app.py")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """An artifacts folder with two tiny finished runs on different test subsets (built once)."""
    folder = tmp_path_factory.mktemp("compare_page")
    dataset = make_tree(
        folder / "data" / "Dataset", {"Train": (4, 4), "Validation": (2, 2), "Test": (6, 6)}
    )
    make_run(dataset, test_size=6, seed=1, runs_root=folder / "runs")
    make_run(dataset, test_size=6, seed=2, model="xception", runs_root=folder / "runs", size=72)
    return folder


@pytest.fixture
def app_home(home, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the module's runs, so tests that change them stay independent."""
    import shutil

    copy = tmp_path / "artifacts"
    shutil.copytree(home, copy)
    monkeypatch.setenv(settings.ARTIFACTS_ENV, str(copy))
    monkeypatch.setenv(settings.DATA_ENV, str(copy / "data" / "Dataset"))
    return copy


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def test_empty_state_links_to_training(tmp_path, monkeypatch):
    make_tree(tmp_path / "Dataset", {"Train": (2, 2), "Test": (2, 2)})
    monkeypatch.setenv(settings.DATA_ENV, str(tmp_path / "Dataset"))
    at = open_page()
    assert any("No finished training runs yet" in info.value for info in at.info)
    assert not at.dataframe
    assert [link.proto.page for link in at.get("page_link")] == ["train"]


def test_renders_table_and_charts(app_home):
    at = open_page()
    table = at.dataframe[0].value
    assert len(table) == 2
    assert {"Run", "Model", "Test set", "AUC", "EER", "ms/image", "ImageNet weights"} <= set(
        table.columns
    )
    assert sorted(table["ImageNet weights"]) == ["n/a", "no"]
    assert any("2 different test sets" in warning.value for warning in at.warning)
    # ROC, PR, 2 confusion matrices, training curves, headline bars.
    assert len(at.get("plotly_chart")) == 6
    assert [button.label for button in at.get("download_button")] == [
        "Table (CSV)",
        "Full record (JSON)",
        "Download model.keras",
    ]


def test_rescore_button_adds_the_common_group(app_home):
    at = open_page()
    at.button(key="compare_rescore").click()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("2 run(s) scored" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert table["common · AUC"].notna().all()
    assert len(set(table["common · Test set"])) == 1
    records = compare.load_comparison().records
    stored = [r.rescores[at.selectbox(key="compare_common_set").value]["files"] for r in records]
    assert stored[0] == stored[1]
    # A fresh session (a new visitor) shows the stored common group by default, unrecomputed.
    again = open_page()
    assert again.dataframe[0].value["common · AUC"].notna().all()


def test_delete_needs_confirmation(app_home):
    at = open_page()
    victim = at.dataframe[0].value["Run"].iloc[0]
    at.multiselect(key="compare_delete_runs").set_value([victim])
    at.run()
    assert at.button(key="compare_delete").disabled
    at.checkbox(key="compare_delete_confirm").check()
    at.run()
    at.button(key="compare_delete").click()
    at.run()
    assert not at.exception, at.exception
    assert not (app_home / "runs" / victim).exists()
    assert at.dataframe[0].value["Run"].tolist() != [victim]
    assert len(at.dataframe[0].value) == 1


def test_page_render_does_not_import_tensorflow(home, tmp_path):
    """Rendering the page with runs present must not pay TensorFlow's import."""
    script = textwrap.dedent(
        f"""
        import json, os, sys
        os.environ[{settings.ARTIFACTS_ENV!r}] = {str(home)!r}
        os.environ[{settings.DATA_ENV!r}] = {str(home / "data" / "Dataset")!r}
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout=60)
        at.run()
        at.switch_page({PAGE!r})
        at.run()
        print(json.dumps({{"exception": bool(at.exception), "rows": len(at.dataframe[0].value),
                          "tf": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"exception": False, "rows": 2, "tf": False, "keras": False}
