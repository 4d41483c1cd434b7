"""AppTest of the Train page's "training fakes from" choice: examples shown, option queued."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import settings
from core.jobs import training_queue
from tests.conftest import make_tree
from tests.test_train_page import open_page, set_inputs

pytestmark = pytest.mark.demo


def example_captions(at: AppTest) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions]


def test_self_blended_choice_shows_examples_and_reaches_the_config(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "Dataset", {"Train": (6, 6), "Validation": (3, 3), "Test": (3, 3)})
    monkeypatch.setenv(settings.DATA_ENV, str(root))
    monkeypatch.setattr(training_queue, "ensure_worker", lambda: None)
    at = open_page()
    assert at.radio(key="train_fakes_from").value == "dataset"
    assert not example_captions(at)  # no examples until a blended option is chosen
    assert any("Shiohara" in caption.value for caption in at.caption)
    set_inputs(at, image_size=32, size_train=8, size_validation=4, size_test=4)
    at.radio(key="train_fakes_from").set_value("self-blended").run()
    assert not at.exception, at.exception
    assert example_captions(at) == ["real", "self-blended"] * 3
    # Noise images hold no face: the examples say the centred ellipse stood in.
    assert sum("no face found" in caption.value for caption in at.caption) == 3
    at.button(key="train_start").click()
    at.run()
    (queued,) = training_queue.queued_runs()
    assert queued.config["fakes_from"] == "self-blended"
