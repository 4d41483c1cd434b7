"""Model cards: every stored score of a run listed; a plain warning when only in-domain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core import metrics
from core.runs import model_card
from core.runs.run_folders import read_json, write_json


def scores(n: int, separation: float, seed: int) -> dict:
    """A detection report on n images whose scores separate the classes by ``separation``."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(n // 2), np.ones(n - n // 2)].astype(int)
    return metrics.detection_report(
        labels, np.clip(labels * separation + rng.random(n) * 0.5, 0, 1)
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "cnn_20260101-000000"
    write_json(
        folder / "config.json",
        {
            "model": "cnn",
            "dataset": "/data/ffhq-stylegan2/Dataset",
            "image_size": 128,
            "train_size": 400,
            "val_size": None,
            "test_size": 60,
            "fakes_from": "dataset",
        },
    )
    write_json(folder / "metrics.json", {**scores(60, 0.6, 0), "model_display": "CNN"})
    return folder


def test_only_in_domain_scores_give_a_warning(run_dir: Path) -> None:
    card = model_card.build_card(run_dir)
    assert card.only_in_domain and len(card.scores) == 1
    text = model_card.to_markdown(card)
    assert "**Warning**" in text and "ffhq-stylegan2 Test, 60 images" in text
    assert model_card.summary(card) == (
        "trained on ffhq-stylegan2; not yet scored on any other dataset"
    )


def test_card_lists_every_stored_score(run_dir: Path) -> None:
    write_json(
        run_dir / "rescores" / "aaa.json",
        {
            "test_set_id": "aaa",
            "purpose": "cross",
            "root": "/data/openforensics-sample/Dataset",
            "description": "all 41 Test images of openforensics-sample",
            "metrics": scores(41, 0.0, 1),
        },
    )
    write_json(
        run_dir / "rescores" / "bbb.json",
        {
            "test_set_id": "bbb",
            "purpose": "common",
            "root": "/elsewhere/ffhq-stylegan2/Dataset",
            "description": "test files of cnn_2",
            "metrics": scores(60, 0.6, 2),
        },
    )
    write_json(
        run_dir / "robustness" / "aaa-seed0.json",
        {"settings": {"clean@0": {"metrics": {"auc": 0.9}}, "jpeg@30": {"metrics": {"auc": 0.7}}}},
    )
    card = model_card.build_card(run_dir)
    assert len(card.scores) == 3 and not card.only_in_domain
    assert card.robustness == {"clean@0": 0.9, "jpeg@30": 0.7}
    text = model_card.to_markdown(model_card.build_card(run_dir))
    assert "openforensics-sample: all 41 Test images" in text
    assert "ffhq-stylegan2: test files of cnn_2" in text and "jpeg@30: 0.700" in text
    assert "**Warning**" not in text
    # 41 images with no separation: the interval straddles 0.5, so the card says chance.
    assert model_card.summary(card) == "trained on ffhq-stylegan2; chance on openforensics-sample"
    path = model_card.write_card(run_dir)
    assert path.read_text(encoding="utf-8") == text


def test_self_blended_runs_say_so(run_dir: Path) -> None:
    config = read_json(run_dir / "config.json")
    write_json(run_dir / "config.json", {**config, "fakes_from": "self-blended"})
    card = model_card.build_card(run_dir)
    assert card.fakes_from == "self-blended"
    assert "self-blended pseudo-fakes" in model_card.to_markdown(card)


def test_score_reading() -> None:
    good = model_card.Score("x", "d", False, 0.93, 0.9, (0.88, 0.97))
    chance = model_card.Score("x", "d", False, 0.62, 0.55, (0.45, 0.78))
    assert good.verdict == "good" and chance.verdict == "chance"
    assert good.auc_text() == "0.930 [0.88, 0.97]"
    assert model_card.Score("x", "d", False, None, 1.0).verdict == "unknown"


def test_compare_table_text_of_the_interval() -> None:
    from core.evaluation import compare

    assert compare.auc_interval_text({"auc": 0.6, "auc_ci": [0.412, 0.771]}) == "[0.41, 0.77]"
    assert compare.auc_interval_text({"auc": 0.6}) is None  # 500 images or more: none computed
    assert compare.auc_interval_text(None) is None
