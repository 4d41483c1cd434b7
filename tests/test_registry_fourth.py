"""Adding a detector is one file: a fourth model defined in tests/ works everywhere.

``tests/fourth_detector.py`` registers a tiny spec; nothing else in the code base
knows it. It trains, shows on the Train page with its option, is re-scored and
listed on Compare, classifies images on the Classify page and is explained by
Grad-CAM of the layer its spec names.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from core import settings
from core.data import images, testsets
from core.evaluation import compare, scoring
from core.models import registry
from core.runs import run_folders
from core.runs.config import TrainConfig
from core.serving import gradcam

pytestmark = pytest.mark.demo

APP = str(settings.REPO_ROOT / "streamlit_app.py")


@pytest.fixture
def fourth():
    """Register the test-only detector for one test, then remove it."""
    module = importlib.import_module("tests.fourth_detector")
    registry.register(module.SPEC)
    yield module.SPEC
    registry.unregister(module.SPEC.name)


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow
def test_a_fourth_detector_trains_lists_scores_classifies_and_explains(
    fourth, tiny_dataset, monkeypatch
):
    from core.training.trainer import train

    assert registry.list_models() == ["cnn", "capsnet", "xception", "tinyconv"]
    config = TrainConfig(
        model="tinyconv",
        data_dir=str(tiny_dataset),
        image_size=32,
        train_size=8,
        val_size=4,
        test_size=6,
        epochs=1,
        batch_size=8,
        options={"filters": 3},
    )
    result = train(config)
    assert result.state == "finished"
    assert result.run_dir.name.startswith("tinyconv_")
    assert result.metrics["model_display"] == "Tiny conv (test)"
    saved = TrainConfig.from_dict(run_folders.read_json(result.run_dir / "config.json"))
    assert saved.options == {"filters": 3}

    # Train page: offered, with its option, and its run listed.
    monkeypatch.setenv(settings.DATA_ENV, str(tiny_dataset))
    at = open_page("app_pages/train.py")
    at.selectbox(key="train_model").set_value("tinyconv")
    at.run()
    assert not at.exception, at.exception
    assert at.number_input(key="train_option_tinyconv_filters").value == 4
    assert "All four, same subset and seed" in at.selectbox(key="train_model").options
    assert "Tiny conv (test)" in list(at.dataframe[0].value["model"])

    # Compare: re-scored through core, then listed on the page.
    comparison = compare.load_comparison()
    (record,) = comparison.records
    test_set = testsets.dataset_test_set(tiny_dataset, 4, seed=1)
    (rescored,) = scoring.rescore([record], test_set)
    assert rescored.error is None and rescored.record["metrics"]["n"] == 4
    table = compare.comparison_table([record], common=test_set.id)
    assert list(table["model"]) == ["Tiny conv (test)"]
    at = open_page("app_pages/compare.py")
    assert "Tiny conv (test)" in list(at.dataframe[0].value["Model"])

    # Classify page: verdicts and a Grad-CAM at the spec's layer.
    at = open_page("app_pages/classify.py")
    # Chosen by hand: a one-epoch run may not have learned, and then is never preselected.
    at.multiselect(key="classify_runs").set_value([result.run_dir.name]).run()
    at.button(key="classify_pick_samples").click().run()
    assert not at.exception, at.exception
    verdicts = [md.value for md in at.markdown if md.value.startswith("### :")]
    assert len(verdicts) == 4
    captions = [caption for picture in at.get("image") for caption in picture.captions]
    assert sum(c.startswith("Grad-CAM of the last convolution block") for c in captions) == 4

    # Grad-CAM directly, from the saved model.
    model = scoring.load_model(result.run_dir)
    pixels = images.decode(tiny_dataset / "Test" / "Real" / "real_0.jpg").pixels
    cam = gradcam.compute_gradcam(model, pixels, target="Real")
    assert cam.layer == "features" and cam.heatmap.shape == pixels.shape[:2]


def test_extra_model_modules_are_registered_from_the_environment():
    """The worker process finds a model module named in DEEPFAKE_EXTRA_MODELS."""
    script = (
        "import sys\n"
        "from core.models import registry\n"
        "print(registry.list_models(), 'tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, registry.EXTRA_MODELS_ENV: "tests.fourth_detector"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['cnn', 'capsnet', 'xception', 'tinyconv'] False"
