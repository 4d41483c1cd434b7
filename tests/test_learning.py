"""Did it learn? The verdict of core.runs.learning, and DeLong's interval and paired test.

Models here are fixed score vectors: a constant output is a model that learned nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from core import metrics
from core.runs import learning

LABELS = np.array([0] * 30 + [1] * 30)  # Fake = 0, Real = 1


def _record(p_real: np.ndarray) -> dict:
    report = metrics.detection_report(LABELS, p_real)
    return report | {"labels": LABELS.tolist(), "p_real": p_real.tolist()}


def test_a_constant_model_did_not_learn_and_says_what_to_change():
    flat_history = {"val_auc": [0.5, 0.5, 0.5]}
    judged = learning.assess(_record(np.full(60, 0.5)), flat_history, {"train_size": 160})
    assert judged.verdict == learning.CHANCE and not judged.learned
    assert judged.label == "did not learn"
    assert "cannot be told from chance" in judged.message
    assert "validation AUC never left chance" in judged.message
    assert "more images (it trained on 160)" in judged.advice


def test_a_separating_model_is_usable_and_a_middling_one_weak():
    rng = np.random.default_rng(0)
    good = np.clip(LABELS * 0.8 + rng.normal(0.1, 0.05, 60), 0, 1)
    assert learning.assess(_record(good)).verdict == learning.USABLE
    middling = np.clip(LABELS * 0.1 + np.random.default_rng(3).normal(0.45, 0.1, 60), 0, 1)
    judged = learning.assess(_record(middling))  # AUC 0.76, interval 0.62-0.89
    assert judged.interval[0] > 0.5 and judged.auc < learning.USABLE_AUC
    assert judged.verdict == learning.WEAK and judged.learned


def test_advice_follows_the_history():
    chance = _record(np.full(60, 0.5))
    rising = learning.assess(chance, {"val_auc": [0.50, 0.55, 0.62]}, {})
    assert rising.still_improving and "train more epochs" in rising.advice
    flat = learning.assess(chance, {"val_auc": [0.60, 0.61, 0.60]}, {"image_size": 72})
    assert not flat.still_improving and "a larger image size (it used 72 px)" in flat.advice


def test_an_old_record_without_scores_or_interval_is_judged_from_its_counts():
    old = {"auc": 0.55, "n_fake": 30, "n_real": 30}
    judged = learning.of_record(old)
    assert judged.interval_method == "Hanley-McNeil" and judged.interval[0] < 0.5 < judged.auc
    assert judged.verdict == learning.CHANCE
    assert learning.of_record({"auc": None}).verdict == learning.UNKNOWN


def test_a_stored_verdict_is_read_back():
    stored = learning.assess(_record(np.full(60, 0.5))).to_dict()
    assert learning.of_record({"auc": 0.99, "learning": stored}).verdict == learning.CHANCE
    assert learning.Learning.from_dict(stored).to_dict() == stored


def test_hanley_mcneil_matches_the_published_example():
    # Hanley & McNeil (1982), Table 1 setting: AUC 0.8 with 50 + 50 cases: SE about 0.0447.
    low, high = learning.hanley_mcneil_interval(0.8, 50, 50)
    assert (high - low) / 2 / 1.959964 == pytest.approx(0.0447, abs=5e-4)


def test_delong_agrees_with_the_bootstrap():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = y * 0.6 + rng.normal(0, 0.5, 300)
    delong, boot = metrics.delong_interval(y, s), metrics.auc_interval(y, s)
    assert delong[0] == pytest.approx(boot[0], abs=0.02)
    assert delong[1] == pytest.approx(boot[1], abs=0.02)
    assert delong[0] < metrics.roc_auc(y, s) < delong[1]


def test_paired_auc_test():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    strong = y * 1.0 + rng.normal(0, 0.5, 200)
    weak = y * 0.2 + rng.normal(0, 0.5, 200)
    difference, p = metrics.paired_auc_test(y, strong, weak)
    assert difference > 0.2 and p < 0.001
    assert metrics.paired_auc_test(y, strong, strong) == (0.0, 1.0)
    # Two models of the same strength with their own noise: no real difference.
    twin_rng = np.random.default_rng(11)
    twin_a, twin_b = y + twin_rng.normal(0, 0.5, 200), y + twin_rng.normal(0, 0.5, 200)
    assert metrics.paired_auc_test(y, twin_a, twin_b)[1] > 0.05
    assert metrics.paired_auc_test([1, 0], [0.1, 0.2], [0.3, 0.4]) is None
