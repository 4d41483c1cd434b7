"""Classify refuses to overclaim: too-small images, runs that learned nothing, Grad-CAM words.

core.serving.classify with the fixed-weight CNN (brightness drives its logit), and the
Grad-CAM view's decisions on synthetic maps.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from core.runs import learning, run_folders
from core.serving import classify, gradcam
from tests.conftest import known_cnn
from ui import gradcam_view


def _png(side: int, grey: int = 200) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((side, side, 3), grey, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _detector(trained_run: Path, verdict: str = learning.USABLE) -> classify.Detector:
    run = run_folders.load_run(trained_run)
    judged = learning.Learning(verdict, 0.5, (0.3, 0.7), "bootstrap", "message.", "advice.")
    return classify.Detector(run, known_cnn(48), 48, 0.5, "slider", judged)


def test_an_image_much_smaller_than_the_input_gets_no_verdict(trained_run):
    detector = _detector(trained_run)
    tiny, small, fine = classify.classify(
        [detector], [("1x1.png", _png(1)), ("20.png", _png(20)), ("24.png", _png(24))]
    )
    for result in (tiny, small):
        (judged,) = result.runs
        assert judged.verdict is None and judged.refusal.startswith(classify.TOO_SMALL)
    assert "1 px on its shorter side" in tiny.runs[0].refusal
    assert fine.runs[0].verdict is not None  # half the input side is enough (48 px model)


def test_an_ensemble_uses_only_runs_that_learned(trained_run):
    good, chance = _detector(trained_run), _detector(trained_run, learning.CHANCE)
    assert chance.warning.startswith("This run did not learn") and not good.warning
    (result,) = classify.classify([good, chance], [("bright.png", _png(64))], ensemble_rule="logit")
    assert result.ensemble is None  # one run that learned is no ensemble
    (result,) = classify.classify([good, good], [("bright.png", _png(64))], ensemble_rule="logit")
    assert result.ensemble is not None and result.ensemble.label == "Real"


def test_preselection_skips_runs_that_did_not_learn():
    def run(name: str, auc: float, low: float) -> run_folders.Run:
        return run_folders.Run(
            Path(name), name, "finished", metrics={"auc": auc, "auc_ci": [low, 0.99]}
        )

    weak, chance, good = run("weak", 0.7, 0.55), run("chance", 0.99, 0.4), run("good", 0.9, 0.8)
    assert classify.preselected([weak, chance, good]).path.name == "good"
    assert classify.preselected([chance]) is None


def test_gradcam_words_mean_the_same_on_every_image():
    heatmap = np.zeros((48, 48), np.float32)
    heatmap[:10, :10] = 1.0  # all the evidence in a corner
    cam = gradcam.GradCam(heatmap, "block4_relu2", "Fake", 0.3)
    view = gradcam_view.describe(cam, "Fake", uncertain=True, face_box=(14, 14, 20, 20))
    assert view.kind == "map" and view.muted
    assert "relative to this image's strongest region" in view.message
    assert "block4" not in view.message and "last convolution block" in view.message
    assert "Muted: the model is close to a coin flip" in view.note
    assert "Most of the evidence (100%) lies outside the face" in view.note
    inside = gradcam_view.describe(cam, "Fake", face_box=(0, 0, 12, 12))
    assert not inside.muted and inside.note == ""
