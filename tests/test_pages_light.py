"""AppTest of the pages that neither train nor predict (Home, Data Explorer), and the
rules that keep them light: core/ never imports streamlit, these pages never import
TensorFlow."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import settings
from core.sources import demo

pytestmark = pytest.mark.demo

APP = str(settings.REPO_ROOT / "streamlit_app.py")
EXPLORER = "app_pages/data_explorer.py"
#: Charts the Data Explorer draws: distribution, histograms, sizes, 4 shortcut statistics.
EXPECTED_CHARTS = 7


@pytest.fixture(scope="module")
def demo_artifacts(tmp_path_factory) -> Path:
    """An artifacts folder with the demo dataset generated once for this module."""
    folder = tmp_path_factory.mktemp("demo-artifacts")
    demo.ensure_demo_dataset(folder / "demo" / "Dataset")
    return folder


def _run_home_and_explorer() -> tuple[AppTest, AppTest]:
    home = AppTest.from_file(APP, default_timeout=60)
    home.run()
    assert not home.exception, home.exception
    explorer = AppTest.from_file(APP, default_timeout=60)
    explorer.switch_page(EXPLORER)
    explorer.run()
    assert not explorer.exception, explorer.exception
    return home, explorer


def _captions(app: AppTest) -> list[str]:
    return [caption for element in app.get("image") for caption in element.captions]


def _texts(app: AppTest, kind: str) -> str:
    return " ".join(str(element.value) for element in getattr(app, kind))


def test_home_and_explorer_on_demo_data(demo_artifacts, monkeypatch):
    monkeypatch.setenv(settings.ARTIFACTS_ENV, str(demo_artifacts))
    home, explorer = _run_home_and_explorer()
    total = sum(r + f for r, f in demo.DEFAULT_COUNTS.values())
    assert "synthetic demo dataset" in _texts(home, "info")
    assert f"{total:,} images" in _texts(home, "markdown")
    assert "synthetic demo dataset" in _texts(explorer, "info")
    assert len(explorer.get("plotly_chart")) == EXPECTED_CHARTS
    assert "No identical image appears in two splits." in _texts(explorer, "success")
    shown = _captions(explorer)
    assert len(shown) == 12  # 6 per class by default
    explorer.button(key="explore_reshuffle").click().run()
    assert not explorer.exception
    assert explorer.session_state["explore_grid_seed"] == 1
    assert len(_captions(explorer)) == 12 and _captions(explorer) != shown


def test_home_and_explorer_on_ffhq(ffhq, monkeypatch):
    monkeypatch.setenv(settings.DATA_ENV, str(ffhq))
    home, explorer = _run_home_and_explorer()
    assert "synthetic" not in _texts(home, "info")
    assert "520 images" in _texts(home, "markdown")
    assert [metric.value for metric in home.metric] == ["400", "60", "60"]
    assert len(explorer.get("plotly_chart")) == EXPECTED_CHARTS
    metrics = {metric.label: metric.value for metric in explorer.metric}
    assert metrics["Images shape"] == "(32, 128, 128, 3)"
    assert metrics["Images dtype"] == "uint8"
    assert metrics["Groups across splits"] == "0"
    # Train is 300/100: the page says it is imbalanced.
    assert "Train is imbalanced" in _texts(explorer, "info")


def test_explorer_sample_size_control_changes_the_sample(ffhq, monkeypatch):
    monkeypatch.setenv(settings.DATA_ENV, str(ffhq))
    explorer = AppTest.from_file(APP, default_timeout=60)
    explorer.switch_page(EXPLORER)
    explorer.run()
    assert "sample of 300 of 520 images" in _texts(explorer, "warning")
    explorer.slider(key="explore_per_class").set_value(400).run()
    assert not explorer.exception
    assert "Computed on all 520 images." in _texts(explorer, "caption")


def test_explorer_on_a_test_only_dataset(openforensics, monkeypatch):
    monkeypatch.setenv(settings.DATA_ENV, str(openforensics))
    _, explorer = _run_home_and_explorer()
    assert "This folder has only a Test split; Train and Validation are missing." in _texts(
        explorer, "warning"
    )
    assert len(explorer.get("plotly_chart")) == EXPECTED_CHARTS


def test_core_never_imports_streamlit():
    offenders = []
    for path in sorted((settings.REPO_ROOT / "core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(name.split(".")[0] in ("streamlit", "ui") for name in names):
                offenders.append(f"{path.relative_to(settings.REPO_ROOT)}:{node.lineno}")
    assert offenders == [], f"core/ must not import streamlit or ui: {offenders}"


def test_home_and_explorer_do_not_import_tensorflow(ffhq, tmp_path):
    """A fresh interpreter renders both pages; TensorFlow must stay unloaded."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from streamlit.testing.v1 import AppTest
        results = {{}}
        for page in ("app_pages/home.py", {EXPLORER!r}):
            app = AppTest.from_file({APP!r}, default_timeout=60)
            if page != "app_pages/home.py":
                app.switch_page(page)
            app.run()
            results[page] = [str(e.value) for e in app.exception]
        results["tensorflow"] = "tensorflow" in sys.modules
        results["keras"] = "keras" in sys.modules
        print(json.dumps(results))
        """
    )
    env = {
        **os.environ,
        settings.DATA_ENV: str(ffhq),
        settings.ARTIFACTS_ENV: str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["app_pages/home.py"] == [] and results[EXPLORER] == []
    assert results["tensorflow"] is False, "Home or Data Explorer imported TensorFlow"
    assert results["keras"] is False, "Home or Data Explorer imported Keras"


def test_home_imports_no_numpy_opencv_or_pillow(ffhq, tmp_path):
    """Issue 22.2: Home's first render imports nothing heavy (numpy, OpenCV, Pillow): it
    lists runs and indexes folders, which need none of them, so a cold start is quick."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from streamlit.testing.v1 import AppTest
        app = AppTest.from_file({APP!r}, default_timeout=60)
        app.run()
        heavy = ("numpy", "cv2", "PIL.Image", "pandas", "tensorflow")
        print(json.dumps({{
            "exceptions": [str(e.value) for e in app.exception],
            "loaded": [name for name in heavy if name in sys.modules],
        }}))
        """
    )
    env = {**os.environ, settings.DATA_ENV: str(ffhq), settings.ARTIFACTS_ENV: str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["exceptions"] == []
    assert results["loaded"] == [], f"Home imported {results['loaded']}"


def test_explorer_tables_and_charts_speak_plainly(ffhq, monkeypatch):
    """Issue 15.13: the shortcut table has no duplicate column and people's headers; the
    image-size chart uses the Real/Fake colours of every other class chart."""
    import plotly.io

    from core.evaluation import figures

    monkeypatch.setenv(settings.DATA_ENV, str(ffhq))
    explorer = AppTest.from_file(APP, default_timeout=60)
    explorer.switch_page(EXPLORER)
    explorer.run()
    assert not explorer.exception
    (shortcuts,) = [f.value for f in explorer.dataframe if "Statistic" in f.value.columns]
    assert list(shortcuts.columns) == [
        "Statistic",
        "Median, Real",
        "Median, Fake",
        "Higher in",
        "Separation (AUC)",
    ]
    for column in shortcuts.columns:  # no column repeats another
        assert not any(
            shortcuts[column].equals(shortcuts[other])
            for other in shortcuts.columns
            if other != column
        )
    clear = shortcuts[(shortcuts["Median, Real"] - shortcuts["Median, Fake"]).abs() > 0]
    for row in clear.itertuples():
        assert row[4] in ("Real", "Fake", "neither")
    for chart in explorer.get("plotly_chart"):
        figure = plotly.io.from_json(chart.proto.spec)
        for trace in figure.data:
            if trace.name in figures.CLASS_COLOURS:
                assert trace.marker.color == figures.CLASS_COLOURS[trace.name] or (
                    trace.line.color == figures.CLASS_COLOURS[trace.name]
                ), (chart.key, trace.name)
    # The batch's shape fits its metric: two per row (the browser test checks no truncation).
    assert {m.label for m in explorer.metric} >= {"Images shape", "Labels dtype"}
