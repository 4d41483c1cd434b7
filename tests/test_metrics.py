"""core.metrics against values worked out by hand, and against keras.metrics.AUC.

Each hand case says how its expected numbers were obtained, so a failure can be
checked with pencil and paper.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from core import metrics


def test_accuracy_counts_matches():
    # 3 of 4 predictions equal the label.
    assert metrics.accuracy([0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx(0.75)
    assert metrics.accuracy([], []) == 0.0


def test_balanced_accuracy_averages_class_recalls():
    # Class 0: 2 of 3 right; class 1: 1 of 1 right -> (2/3 + 1) / 2 = 5/6,
    # while plain accuracy is 3/4.
    y, pred = [0, 0, 0, 1], [0, 0, 1, 1]
    assert metrics.balanced_accuracy(y, pred) == pytest.approx(5 / 6)
    assert metrics.accuracy(y, pred) == pytest.approx(0.75)
    # Only one class present: the mean is over that class alone.
    assert metrics.balanced_accuracy([1, 1, 1], [1, 0, 1]) == pytest.approx(2 / 3)


def test_confusion_matrix_rows_true_columns_predicted():
    # true 0 -> pred 0, 1, 0 ; true 1 -> pred 1, 0
    matrix = metrics.confusion_matrix([0, 0, 0, 1, 1], [0, 1, 0, 1, 0])
    assert matrix.tolist() == [[2, 1], [1, 1]]


def test_precision_recall_f1_of_class_one():
    # TP = 1 (index 3), FP = 1 (index 1), FN = 1 (index 4).
    precision, recall, f1 = metrics.precision_recall_f1([0, 0, 0, 1, 1], [0, 1, 0, 1, 0])
    assert (precision, recall, f1) == pytest.approx((0.5, 0.5, 0.5))
    # No predicted positive: precision has no denominator -> 0.0, not a crash.
    assert metrics.precision_recall_f1([0, 1], [0, 0]) == (0.0, 0.0, 0.0)


# The classic example: scores 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg).
Y_CLASSIC, S_CLASSIC = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]


def test_roc_curve_points_by_hand():
    # Walking down the sorted scores: pos, neg, pos, neg (2 of each).
    fpr, tpr, thresholds = metrics.roc_curve(Y_CLASSIC, S_CLASSIC)
    assert fpr.tolist() == pytest.approx([0, 0, 0.5, 0.5, 1])
    assert tpr.tolist() == pytest.approx([0, 0.5, 0.5, 1, 1])
    assert thresholds[0] == np.inf
    assert thresholds[1:].tolist() == pytest.approx([0.8, 0.4, 0.35, 0.1])


def test_auc_by_hand():
    # Pairs (pos, neg) ordered correctly: 0.8>0.4, 0.8>0.1, 0.35>0.1; wrong: 0.35<0.4 -> 3/4.
    assert metrics.roc_auc(Y_CLASSIC, S_CLASSIC) == pytest.approx(0.75)
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(1.0)
    assert metrics.roc_auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == pytest.approx(0.0)


def test_auc_counts_ties_as_half():
    # One pos/neg pair tied at 0.5 counts 1/2: (1 + 0.5 + 1 + 1) / 4 = 0.875.
    assert metrics.roc_auc([0, 0, 1, 1], [0.2, 0.5, 0.5, 0.9]) == pytest.approx(0.875)
    # Every score equal: a coin flip.
    assert metrics.roc_auc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)


def test_average_precision_by_hand():
    # Ranks: pos (P=1, R=1/2), neg, pos (P=2/3, R=1), neg -> 1/2*1 + 1/2*2/3 = 5/6.
    assert metrics.average_precision(Y_CLASSIC, S_CLASSIC) == pytest.approx(5 / 6)
    # With a tie at 0.5 (one pos, one neg) the two count as one threshold:
    # 0.9 pos (P=1, R=1/2), then {0.5 pos, 0.5 neg} (P=2/3, R=1) -> 5/6 as well.
    assert metrics.average_precision([0, 0, 1, 1], [0.2, 0.5, 0.5, 0.9]) == pytest.approx(5 / 6)


def test_equal_error_rate_exact_crossing():
    # Classic example at threshold 0.4: FPR = 1/2 and FNR = 1/2 -> EER 0.5 at 0.4.
    eer, threshold = metrics.equal_error_rate(Y_CLASSIC, S_CLASSIC)
    assert eer == pytest.approx(0.5)
    assert threshold == pytest.approx(0.4)
    # Perfect separation: EER 0 at the lowest positive score.
    eer, threshold = metrics.equal_error_rate([0, 1], [0.2, 0.8])
    assert (eer, threshold) == pytest.approx((0.0, 0.8))


def test_equal_error_rate_interpolated():
    # Sorted labels 1, 1, 0, 1, 0 (scores 0.9..0.5): after 0.8, FNR = 1/3, FPR = 0;
    # after 0.7, FNR = 1/3, FPR = 1/2. FNR stays 1/3 while FPR grows, so the
    # rates meet at 1/3; the nearest ROC point is the one at threshold 0.7.
    y, s = [1, 1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.5]
    eer, threshold = metrics.equal_error_rate(y, s)
    assert eer == pytest.approx(1 / 3)
    assert threshold == pytest.approx(0.7)


def test_binary_cross_entropy_by_hand():
    expected = -(math.log(0.9) + math.log(0.8)) / 2
    assert metrics.binary_cross_entropy([0, 1], [0.1, 0.8]) == pytest.approx(expected)
    # Confident and wrong is clipped, not infinite.
    assert math.isfinite(metrics.binary_cross_entropy([1], [0.0]))


def test_mismatched_or_bad_labels_raise():
    with pytest.raises(ValueError, match="labels"):
        metrics.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="0 or 1"):
        metrics.accuracy([0, 2], [0, 1])


def test_detection_report_fake_is_the_positive_class():
    # labels (Real = 1):      F    F     F    R    R
    labels = [0, 0, 0, 1, 1]
    p_real = [0.1, 0.75, 0.3, 0.8, 0.7]
    # Called Real when P(Real) >= 0.5: F, R, F, R, R.
    # Fakes caught (TP) = 2, fake missed (FN) = 1 (0.75), real called fake (FP) = 0.
    report = metrics.detection_report(labels, p_real)
    assert report["n"] == 5 and report["n_fake"] == 3 and report["n_real"] == 2
    assert report["precision"] == pytest.approx(1.0)
    assert report["recall"] == pytest.approx(2 / 3)
    assert report["f1"] == pytest.approx(0.8)  # 2 * 1 * 2/3 / (1 + 2/3)
    assert report["accuracy"] == pytest.approx(0.8)
    assert report["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    # Rows true Fake/Real, columns predicted Fake/Real.
    assert report["confusion_matrix"] == [[2, 1], [0, 2]]
    # Real scores above fake scores in 5 of 6 pairs (0.7 < 0.75).
    assert report["auc"] == pytest.approx(5 / 6)
    # Fake scores 1 - p: 0.9 F, 0.7 F, 0.3 R, 0.25 F, 0.2 R
    # -> AP = 1/3 * 1 + 1/3 * 1 + 1/3 * 3/4 = 11/12.
    assert report["ap"] == pytest.approx(11 / 12)
    # FNR (fakes missed) stays 1/3 while FPR goes 0 -> 1/2: EER 1/3, at fake score
    # 0.3, i.e. P(Real) 0.7.
    assert report["eer"] == pytest.approx(1 / 3)
    assert report["eer_threshold"] == pytest.approx(0.7)
    expected_loss = -np.mean(np.log([0.9, 0.25, 0.7, 0.8, 0.7]))
    assert report["loss"] == pytest.approx(expected_loss)
    assert report["roc"]["fpr"][0] == 0 and report["roc"]["tpr"][-1] == 1
    assert report["notes"] == []


def test_detection_report_threshold_moves_the_calls():
    report = metrics.detection_report([0, 0, 0, 1, 1], [0.1, 0.75, 0.3, 0.8, 0.7], threshold=0.78)
    # Only 0.8 is called Real now: the two reals split 1/1, all three fakes caught.
    assert report["confusion_matrix"] == [[3, 0], [1, 1]]
    assert report["auc"] == pytest.approx(5 / 6)  # the ranking does not move


@pytest.mark.parametrize(("label", "name"), [(0, "Fake"), (1, "Real")])
def test_detection_report_one_class_test_set(label, name):
    report = metrics.detection_report([label] * 4, [0.2, 0.6, 0.7, 0.9])
    assert report["auc"] is None
    assert report["ap"] is None
    assert report["eer"] is None and report["eer_threshold"] is None
    assert report["roc"] is None and report["pr"] is None
    assert any("one class" in note for note in report["notes"])
    # What is defined stays defined: 3 of 4 called Real.
    expected = 0.75 if name == "Real" else 0.25
    assert report["accuracy"] == pytest.approx(expected)


def test_detection_report_notes_a_single_answer():
    report = metrics.detection_report([0, 1, 0, 1], [0.6, 0.7, 0.9, 0.55])
    assert any("answered Real for every image" in note for note in report["notes"])
    report = metrics.detection_report([0, 1, 0, 1], [0.1, 0.3, 0.2, 0.4])
    assert any("answered Fake for every image" in note for note in report["notes"])
    assert report["auc"] == pytest.approx(1.0)  # well ranked, badly thresholded


def test_detection_report_is_json_ready():
    import json

    report = metrics.detection_report([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.3])
    assert json.loads(json.dumps(report, allow_nan=False)) == report


@pytest.mark.parametrize("seed", [0, 1])
def test_auc_agrees_with_keras(seed):
    import keras

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 400)
    # Informative but noisy scores, in (0, 1).
    scores = 1 / (1 + np.exp(-(y * 1.2 + rng.normal(0, 1, y.size))))
    reference = keras.metrics.AUC(num_thresholds=2000)
    reference.update_state(y.astype("float32"), scores.astype("float32"))
    ours = metrics.roc_auc(y, scores)
    assert 0.6 < ours < 0.95
    assert ours == pytest.approx(float(reference.result()), abs=2e-3)


def test_auc_interval_is_seeded_brackets_the_auc_and_narrows_with_more_images() -> None:
    rng = np.random.default_rng(1)
    small_y = np.r_[np.zeros(20), np.ones(20)].astype(int)
    small_s = small_y * 0.6 + rng.random(40) * 0.7
    low, high = metrics.auc_interval(small_y, small_s, seed=3)
    assert (low, high) == metrics.auc_interval(small_y, small_s, seed=3)
    assert low <= metrics.roc_auc(small_y, small_s) <= high and low < high
    big_y = np.r_[np.zeros(400), np.ones(400)].astype(int)
    big_s = big_y * 0.6 + rng.random(800) * 0.7
    big_low, big_high = metrics.auc_interval(big_y, big_s, seed=3)
    assert big_high - big_low < high - low
    assert metrics.auc_interval([1, 1, 1], [0.2, 0.5, 0.9]) is None


def test_report_gives_an_auc_interval_only_for_small_sets() -> None:
    rng = np.random.default_rng(2)
    labels = np.r_[np.zeros(30), np.ones(30)].astype(int)
    report = metrics.detection_report(labels, rng.random(60))
    low, high = report["auc_ci"]
    assert low <= report["auc"] <= high and report["auc_ci_resamples"] == 1000
    large = np.r_[np.zeros(250), np.ones(250)].astype(int)
    assert "auc_ci" not in metrics.detection_report(large, rng.random(500))
    assert "auc_ci" not in metrics.detection_report([1, 1], [0.3, 0.6])


def test_report_interval_can_be_left_out() -> None:
    labels = np.r_[np.zeros(10), np.ones(10)].astype(int)
    scores = np.linspace(0, 1, 20)
    assert "auc_ci" not in metrics.detection_report(labels, scores, interval=False)
    assert "auc_ci" in metrics.detection_report(labels, scores)
