"""AppTest of the Classify page: how to get a run when there is none; verdicts on samples."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import settings

PAGE = "pages/classify.py"
APP = str(settings.REPO_ROOT / "streamlit_app.py")


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def with_run(trained_run, artifacts, ffhq, monkeypatch) -> Path:
    """The session's tiny trained run in this test's artifacts folder; FFHQ as the dataset."""
    target = settings.runs_dir() / trained_run.name
    shutil.copytree(trained_run, target)
    monkeypatch.setenv(settings.DATA_ENV, str(ffhq))
    return target


def test_no_runs_shows_how_to_get_one(tiny_dataset, monkeypatch):
    monkeypatch.setenv(settings.DATA_ENV, str(tiny_dataset))
    at = open_page()
    assert any("No finished training run yet" in info.value for info in at.info)
    assert [link.proto.page for link in at.get("page_link")] == ["train"]
    assert not at.get("file_uploader")


def test_sample_images_get_a_verdict(with_run):
    at = open_page()
    assert at.multiselect(key="classify_runs").value == [with_run.name]
    assert any("20 MB per file" in caption.value for caption in at.caption)
    at.button(key="classify_pick_samples").click().run()
    assert not at.exception, at.exception
    verdicts = [md.value for md in at.markdown if md.value.startswith("### :")]
    assert len(verdicts) == 4  # 2 Real + 2 Fake samples, one run
    assert all(("Real]" in verdict) or ("Fake]" in verdict) for verdict in verdicts)
    assert sum("true label: Real" in md.value for md in at.markdown) == 2
    assert len(at.get("progress")) == 4
    # Image column + one Grad-CAM overlay per verdict.
    pictures = at.get("image")
    assert len(pictures) == 8
    captions = [caption for picture in pictures for caption in picture.captions]
    assert sum("Grad-CAM at block4_relu2" in caption for caption in captions) == 4
    assert not at.error


def test_threshold_toggle_and_face_crop(with_run):
    at = open_page()
    at.button(key="classify_pick_samples").click().run()
    at.slider(key="classify_threshold").set_value(1.0).run()
    verdicts = [md.value for md in at.markdown if md.value.startswith("### :")]
    assert verdicts and all("Fake]" in verdict for verdict in verdicts)  # P(Real) < 1 always
    at.toggle(key="classify_use_eer").set_value(True).run()
    assert any("(EER)" in caption.value for caption in at.caption)
    at.checkbox(key="classify_face_crop").set_value(True).run()
    assert not at.exception, at.exception
    captions = [caption for picture in at.get("image") for caption in picture.captions]
    crops = sum(caption.startswith("Face crop used") for caption in captions)
    no_face = sum("No face found" in warning.value for warning in at.warning)
    assert crops + no_face == 4 and crops >= 1  # every sample says which; FFHQ faces are found


def test_broken_run_is_skipped(with_run, trained_run):
    # Not a Keras archive at all: the run is not complete, so it is not offered.
    cut = with_run.with_name("cnn_20250101-000002")
    shutil.copytree(trained_run, cut)
    (cut / "model.keras").write_bytes(b"not a model")
    # A whole archive whose contents Keras cannot load: offered, then reported.
    broken = with_run.with_name("cnn_20250101-000001")
    shutil.copytree(trained_run, broken)
    with zipfile.ZipFile(broken / "model.keras", "w") as archive:
        archive.writestr("config.json", "{not json")
    at = open_page()
    assert cut.name not in at.multiselect(key="classify_runs").options
    at.multiselect(key="classify_runs").set_value([with_run.name, broken.name]).run()
    at.checkbox(key="classify_gradcam").set_value(False).run()
    at.button(key="classify_pick_samples").click().run()
    assert not at.exception, at.exception
    assert any(
        broken.name in warning.value and "could not be loaded" in warning.value
        for warning in at.warning
    )
    verdicts = [md.value for md in at.markdown if md.value.startswith("### :")]
    assert len(verdicts) == 4
