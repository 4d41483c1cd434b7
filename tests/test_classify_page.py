"""AppTest of the Classify page: how to get a run when there is none; verdicts on samples."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import settings

pytestmark = pytest.mark.demo

PAGE = "app_pages/classify.py"
APP = str(settings.REPO_ROOT / "streamlit_app.py")


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def set_record(run_dir: Path, learned: bool) -> Path:
    """Give the run the test record of a model that separates its test images, or of one
    that outputs a constant (learned nothing): the page reads the record, not the model."""
    from core import metrics
    from core.runs import learning
    from core.runs.run_folders import read_json, write_json

    values = read_json(run_dir / "metrics.json")
    labels = [int("/Real/" in path) for path in values["test_files"]]
    p_real = [0.9 if label else 0.1 for label in labels] if learned else [0.5] * len(labels)
    values |= metrics.detection_report(labels, p_real) | {"labels": labels, "p_real": p_real}
    values["learning"] = learning.assess(values).to_dict()
    write_json(run_dir / "metrics.json", values)
    return run_dir


@pytest.fixture
def with_run(trained_run, artifacts, ffhq, monkeypatch) -> Path:
    """The session's tiny trained run in this test's artifacts folder; FFHQ as the dataset.

    Its record says it learned (whatever the tiny training did), so the page picks it.
    """
    target = settings.runs_dir() / trained_run.name
    shutil.copytree(trained_run, target)
    monkeypatch.setenv(settings.DATA_ENV, str(ffhq))
    return set_record(target, learned=True)


def test_no_runs_shows_how_to_get_one(tiny_dataset, monkeypatch):
    monkeypatch.setenv(settings.DATA_ENV, str(tiny_dataset))
    at = open_page()
    assert any("No finished training run yet" in info.value for info in at.info)
    assert [link.proto.page for link in at.get("page_link")] == ["train"]
    assert not at.get("file_uploader")


def test_opening_classify_starts_loading_tensorflow(with_run, monkeypatch):
    """Issue 22: the first classification waits for TensorFlow's import (seconds) unless it
    started when the page opened, in the background, while a person picks a file."""
    import threading

    from core.evaluation import scoring

    started = threading.Event()
    monkeypatch.setattr(scoring, "_preload_thread", None)
    monkeypatch.setattr(scoring, "_import_tensorflow", started.set)
    at = open_page()
    assert not at.get("file_uploader")[0].value  # nothing uploaded yet
    assert started.wait(10), "opening Classify did not start importing TensorFlow"
    assert scoring.preload_tensorflow() is scoring.preload_tensorflow()  # started once


def verdicts(at: AppTest) -> list[str]:
    return [md.value for md in at.markdown if md.value.startswith("### :")]


def test_sample_images_get_a_verdict(with_run):
    at = open_page()
    assert at.multiselect(key="classify_runs").value == [with_run.name]
    assert any("20 MB per file" in caption.value for caption in at.caption)
    at.button(key="classify_pick_samples").click().run()
    assert not at.exception, at.exception
    shown = verdicts(at)
    assert len(shown) == 4  # 2 Real + 2 Fake samples, one run
    assert all(("Real]" in v) or ("Fake]" in v) or ("Uncertain]" in v) for v in shown)
    assert sum("true label: Real" in md.value for md in at.markdown) == 2
    assert len(at.get("progress")) == 4
    # Per verdict: a Grad-CAM overlay with its colour scale, or a card saying why there is none.
    captions = [caption for picture in at.get("image") for caption in picture.captions]
    overlays = sum(
        caption.startswith("Grad-CAM of the last convolution block") for caption in captions
    )
    assert not any("block4" in caption for caption in captions)  # no internal layer names
    scales = sum(caption.startswith("Colour scale") for caption in captions)
    cards = sum("No evidence" in i.value or "No region stands out" in i.value for i in at.info)
    assert overlays == scales and overlays + cards == 4
    assert not at.error


def test_threshold_toggle_and_face_crop(with_run):
    at = open_page()
    at.button(key="classify_pick_samples").click().run()
    at.slider(key="classify_band").set_value(0.0).run()
    at.slider(key="classify_threshold").set_value(1.0).run()
    shown = verdicts(at)
    # P(Real) < 1 always: Fake, or Uncertain when P(Fake) would be under 50%.
    assert shown and all(("Fake]" in v) or ("Uncertain]" in v) for v in shown)
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
    assert len(verdicts(at)) == 4


def constant_run(with_run: Path, p_real: float, eer_threshold: float | None = None) -> Path:
    """Replace the run's model by one whose P(Real) is ``p_real`` for every image.

    One convolution whose output is 1 everywhere (zero kernel, bias 1), pooled, then a
    dense layer with weight 1: the Grad-CAM map is flat (the same everywhere) for the
    Real side and zero for the Fake side, whatever the image.
    """
    import json
    import math

    import keras

    from core.serving import predict

    size = predict.run_image_size(with_run)
    inputs = keras.Input((size, size, 3))
    features = keras.layers.Conv2D(1, 3, padding="same", name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    logit = keras.layers.Dense(1, name="logit")(pooled)
    model = keras.Model(inputs, logit)
    conv, dense = model.get_layer("conv"), model.get_layer("logit")
    conv.set_weights([np.zeros((3, 3, 3, 1), "float32"), np.ones(1, "float32")])
    bias = math.log(p_real / (1 - p_real)) - 1.0
    dense.set_weights([np.ones((1, 1), "float32"), np.full(1, bias, "float32")])
    model.save(with_run / "model.keras")
    if eer_threshold is not None:
        metrics_path = with_run / "metrics.json"
        values = json.loads(metrics_path.read_text())
        metrics_path.write_text(json.dumps(values | {"eer_threshold": eer_threshold}))
    return with_run


def progress_texts(at: AppTest) -> list[str]:
    return [bar.proto.text for bar in at.get("progress")]


def test_a_coin_flip_is_shown_as_uncertain(with_run):
    """Issue 15.4: P(Real) = 0.52 is no verdict; a shown verdict is never below 50%."""
    constant_run(with_run, p_real=0.52, eer_threshold=0.55)
    at = open_page()
    at.checkbox(key="classify_gradcam").set_value(False)
    at.button(key="classify_pick_samples").click().run()
    assert not at.exception, at.exception
    assert verdicts(at) == ["### :gray[Uncertain]"] * 4
    assert progress_texts(at) == ["Uncertain: P(Real) 52.0%"] * 4
    # Without the band it is a (weak) verdict, with the probability of that verdict.
    at.slider(key="classify_band").set_value(0.0).run()
    assert verdicts(at) == ["### :green[Real]"] * 4
    assert progress_texts(at) == ["Real: 52.0%"] * 4
    # The run's EER threshold (0.55) puts 0.52 on the Fake side at P(Fake) = 48%: no verdict.
    at.toggle(key="classify_use_eer").set_value(True).run()
    assert verdicts(at) == ["### :gray[Uncertain]"] * 4
    assert progress_texts(at) == ["Uncertain: P(Real) 52.0%"] * 4
    assert not any("Fake: 48" in text for text in progress_texts(at))


@pytest.mark.parametrize(
    ("p_real", "card"),
    [(0.9, "No region stands out"), (0.1, "No evidence for this verdict")],
)
def test_gradcam_without_evidence_is_a_card_not_a_flat_overlay(with_run, p_real, card):
    """Issue 15.5: a flat or all-zero map is said in words, with no overlay drawn."""
    constant_run(with_run, p_real=p_real)
    at = open_page()
    at.button(key="classify_pick_samples").click().run()
    assert not at.exception, at.exception
    assert sum(card in info.value for info in at.info) == 4
    captions = [caption for picture in at.get("image") for caption in picture.captions]
    assert not any("Grad-CAM" in caption or "Colour scale" in caption for caption in captions)
    assert not any("(No region" in caption for caption in captions)


def test_ensemble_of_the_selected_runs_gives_one_verdict_with_the_votes(with_run):
    """Issue 13.2: mean logit of P(Real) 0.9 and 0.3 is 0.663 (Real); each vote beside it."""
    other = with_run.with_name("cnn_20250101-000009")
    shutil.copytree(with_run, other)
    constant_run(with_run, p_real=0.9)
    constant_run(other, p_real=0.3)
    at = open_page()
    at.multiselect(key="classify_runs").set_value([with_run.name, other.name])
    at.checkbox(key="classify_gradcam").set_value(False)
    at.button(key="classify_pick_samples").click().run()
    assert not at.exception, at.exception
    assert not [md for md in at.markdown if md.value.startswith("**Ensemble")]  # off by default
    at.toggle(key="classify_ensemble").set_value(True).run()
    cards = [md.value for md in at.markdown if md.value.startswith("**Ensemble of 2 runs")]
    assert len(cards) == 4 and all(":green[**Real**] · Real: 66.3%" in card for card in cards)
    votes = [c.value for c in at.caption if c.value.startswith("Members: ")]
    assert len(votes) == 4 and all(
        ":green[Real: 90.0%]" in v and ":red[Fake: 70.0%]" in v for v in votes
    )
    at.radio(key="classify_ensemble_rule").set_value("probability")
    at.slider(key="classify_band").set_value(0.0).run()
    cards = [md.value for md in at.markdown if md.value.startswith("**Ensemble of 2 runs")]
    assert all("Real: 60.0%" in card for card in cards)


def test_each_verdict_shows_the_model_cards_summary(with_run):
    """Issue 14.2: the card's one line beside every verdict, cross-dataset scores included."""
    from core import metrics
    from core.runs import model_card
    from core.runs.run_folders import write_json

    labels = np.r_[np.zeros(20), np.ones(21)].astype(int)
    report = metrics.detection_report(labels, np.random.default_rng(0).random(41))
    write_json(
        with_run / "rescores" / "abc.json",
        {"purpose": "cross", "root": "/x/openforensics-sample/Dataset", "metrics": report},
    )
    expected = model_card.summary(model_card.build_card(with_run))
    assert "openforensics-sample" in expected
    at = open_page()
    at.button(key="classify_pick_samples").click().run()
    assert not at.exception, at.exception
    shown = [caption.value for caption in at.caption if caption.value.startswith("Model card:")]
    assert shown == [f"Model card: {expected}"] * 4


def test_a_run_that_did_not_learn_is_not_chosen_and_warns(with_run):
    """Issue 21.1: never preselected; picked anyway, each verdict carries the warning."""
    set_record(with_run, learned=False)
    at = open_page()
    assert at.multiselect(key="classify_runs").value == []
    assert any("None of the finished runs learned" in w.value for w in at.warning)
    assert "did not learn" in at.multiselect(key="classify_runs").options[0]
    at.multiselect(key="classify_runs").set_value([with_run.name]).run()
    at.checkbox(key="classify_gradcam").set_value(False)
    at.button(key="classify_pick_samples").click().run()
    assert not at.exception, at.exception
    warned = [w.value for w in at.warning if w.value.startswith("This run did not learn")]
    assert len(warned) == 4 and "no better than a coin flip" in warned[0]
