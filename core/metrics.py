"""Binary-classification metrics of the deepfake-detection field, in pure numpy.

Generic functions take ``y_true`` in {0, 1} and ``scores`` = the probability of
class 1, the positive class. :func:`detection_report` applies the field's
convention on top of our labels (Fake = 0, Real = 1, models output P(Real)):
**Fake is the positive class** for precision, recall, F1, AP, ROC and EER, as in
detection benchmarks (DeepfakeBench): "recall" is the share of fakes caught.
AUC and accuracy do not depend on that choice.

When the test set holds one class only, ROC AUC, AP and EER are undefined: they
are returned as ``None`` with a note, never as a crash or a made-up number.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _as_arrays(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores.")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("Labels must be 0 or 1.")
    return y, s


def confusion_matrix(y_true: Any, y_pred: Any) -> np.ndarray:
    """Return the 2x2 confusion matrix, rows = true class, columns = predicted.

    ``[[TN, FP], [FN, TP]]`` with class 1 as positive.
    """
    y, p = _as_arrays(y_true, y_pred)
    matrix = np.zeros((2, 2), dtype=np.int64)
    np.add.at(matrix, (y, p.astype(np.int64)), 1)
    return matrix


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Share of correct predictions (0.0 on an empty set)."""
    y, p = _as_arrays(y_true, y_pred)
    return float((y == p).mean()) if y.size else 0.0


def balanced_accuracy(y_true: Any, y_pred: Any) -> float:
    """Mean of the per-class recalls, over the classes present."""
    matrix = confusion_matrix(y_true, y_pred)
    recalls = [matrix[c, c] / matrix[c].sum() for c in (0, 1) if matrix[c].sum()]
    return float(np.mean(recalls)) if recalls else 0.0


def precision_recall_f1(y_true: Any, y_pred: Any) -> tuple[float, float, float]:
    """Precision, recall and F1 of class 1; 0.0 where a ratio has no denominator."""
    (_tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


def _ranked_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative true/false positives at each distinct score, highest score first."""
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    # Tied scores form one threshold: keep the last index of each run of equal scores.
    distinct = np.flatnonzero(np.diff(s)) if s.size > 1 else np.array([], dtype=np.int64)
    ends = np.r_[distinct, y.size - 1]
    tps = np.cumsum(y)[ends]
    fps = (ends + 1) - tps
    return tps, fps, s[ends]


def roc_curve(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (false-positive rates, true-positive rates, thresholds).

    Starts at (0, 0) with threshold +inf; a sample is positive when score >= threshold.

    Raises:
        ValueError: ``y_true`` holds one class only (the curve is undefined).
    """
    y, s = _as_arrays(y_true, scores)
    positives, negatives = int(y.sum()), int(y.size - y.sum())
    if positives == 0 or negatives == 0:
        raise ValueError("ROC is undefined when the test set holds one class only.")
    tps, fps, thresholds = _ranked_counts(y, s)
    fpr = np.r_[0.0, fps / negatives]
    tpr = np.r_[0.0, tps / positives]
    return fpr, tpr, np.r_[np.inf, thresholds]


def roc_auc(y_true: Any, scores: Any) -> float | None:
    """Area under the ROC curve (trapezoidal, ties count half); None for one class."""
    try:
        fpr, tpr, _ = roc_curve(y_true, scores)
    except ValueError:
        return None
    return float(np.trapezoid(tpr, fpr))


def precision_recall_curve(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (precision, recall, thresholds), thresholds decreasing.

    Raises:
        ValueError: no positive sample (recall undefined).
    """
    y, s = _as_arrays(y_true, scores)
    if y.sum() == 0:
        raise ValueError("Precision-recall is undefined without positive samples.")
    tps, fps, thresholds = _ranked_counts(y, s)
    precision = tps / (tps + fps)
    recall = tps / y.sum()
    return precision, recall, thresholds


def average_precision(y_true: Any, scores: Any) -> float | None:
    """Average precision: AP = sum over thresholds of (R_n - R_{n-1}) * P_n.

    No interpolation, as in scikit-learn's definition; None without positives.
    """
    try:
        precision, recall, _ = precision_recall_curve(y_true, scores)
    except ValueError:
        return None
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def equal_error_rate(y_true: Any, scores: Any) -> tuple[float, float] | None:
    """Return (EER, threshold) where the false-positive and false-negative rates meet.

    The EER is interpolated linearly between the two ROC points that bracket the
    crossing; the threshold is the one of the nearest point. None for one class.
    """
    try:
        fpr, tpr, thresholds = roc_curve(y_true, scores)
    except ValueError:
        return None
    fnr = 1.0 - tpr
    gap = fnr - fpr  # decreases from 1 to <= 0 along the curve
    crossing = int(np.flatnonzero(gap <= 0)[0])
    if crossing == 0 or gap[crossing] == 0:
        eer = fpr[crossing]
    else:
        before = crossing - 1
        weight = gap[before] / (gap[before] - gap[crossing])
        eer = fpr[before] + weight * (fpr[crossing] - fpr[before])
    nearest = int(np.argmin(np.abs(gap)))
    threshold = thresholds[nearest] if np.isfinite(thresholds[nearest]) else 1.0
    return float(eer), float(threshold)


#: Sets smaller than this get a bootstrap interval on their AUC: few images, wide doubt.
BOOTSTRAP_BELOW = 500
BOOTSTRAP_RESAMPLES = 1000


def auc_interval(
    y_true: Any,
    scores: Any,
    resamples: int = BOOTSTRAP_RESAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the ROC AUC (images resampled with replacement).

    Args:
        y_true: labels in {0, 1}.
        scores: scores of class 1.
        resamples: bootstrap resamples; those that draw one class only are skipped.
        level: coverage of the interval (0.95: the 2.5th to 97.5th percentile).
        seed: seeds the resampling, so the same data always gives the same interval.

    Returns:
        (low, high), or None when the set holds one class only.
    """
    y, s = _as_arrays(y_true, scores)
    if y.size == 0 or y.min() == y.max():
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, y.size, y.size)
        value = roc_auc(y[pick], s[pick])
        if value is not None:
            values.append(value)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def binary_cross_entropy(y_true: Any, scores: Any, eps: float = 1e-7) -> float:
    """Mean log loss of probabilities ``scores`` for labels ``y_true``."""
    y, s = _as_arrays(y_true, scores)
    s = np.clip(s, eps, 1 - eps)
    return float(-np.mean(y * np.log(s) + (1 - y) * np.log(1 - s))) if y.size else 0.0


def _curve_points(y: np.ndarray, scores: np.ndarray) -> tuple[dict, dict]:
    """ROC and precision-recall points, rounded for JSON (both classes present)."""
    fpr, tpr, _ = roc_curve(y, scores)
    precision, recall, _ = precision_recall_curve(y, scores)
    roc = {"fpr": fpr.round(5).tolist(), "tpr": tpr.round(5).tolist()}
    return roc, {"precision": precision.round(5).tolist(), "recall": recall.round(5).tolist()}


def detection_report(
    labels: Any, p_real: Any, threshold: float = 0.5, interval: bool = True
) -> dict[str, Any]:
    """All the field's metrics for one model on one test set, JSON-ready.

    Args:
        labels: true labels, Fake = 0, Real = 1.
        p_real: the model's P(Real) per image.
        threshold: an image is called Real when P(Real) >= threshold.
        interval: add the AUC's bootstrap interval on small sets (robustness curves,
            which keep only a few metrics per setting, skip its 1,000 resamples).

    Returns:
        A dict with loss, accuracy, balanced_accuracy, auc, ap, eer,
        eer_threshold (as a P(Real) threshold), precision, recall, f1 (Fake as the
        positive class), ``auc_ci`` (95 % bootstrap interval of the AUC, seeded, for
        sets under :data:`BOOTSTRAP_BELOW` images), the confusion matrix (rows
        true Fake/Real, columns predicted Fake/Real), ROC and PR points, counts and
        notes.
    """
    y_real, p = _as_arrays(labels, p_real)
    predicted_real = (p >= threshold).astype(np.int64)
    y_fake, s_fake, predicted_fake = 1 - y_real, 1.0 - p, 1 - predicted_real
    precision, recall, f1 = precision_recall_f1(y_fake, predicted_fake)
    notes = []
    report: dict[str, Any] = {
        "n": int(y_real.size),
        "n_fake": int(y_fake.sum()),
        "n_real": int(y_real.sum()),
        "threshold": float(threshold),
        "loss": binary_cross_entropy(y_real, p),
        "accuracy": accuracy(y_real, predicted_real),
        "balanced_accuracy": balanced_accuracy(y_real, predicted_real),
        "auc": roc_auc(y_fake, s_fake),
        "ap": average_precision(y_fake, s_fake),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "confusion_matrix": confusion_matrix(y_real, predicted_real).tolist(),
        "predicted_real_share": float(predicted_real.mean()) if p.size else 0.0,
    }
    if interval and report["auc"] is not None and y_real.size < BOOTSTRAP_BELOW:
        report["auc_ci"] = list(auc_interval(y_fake, s_fake))
        report["auc_ci_resamples"] = BOOTSTRAP_RESAMPLES
    eer = equal_error_rate(y_fake, s_fake)
    report["eer"], report["eer_threshold"] = (eer[0], 1.0 - eer[1]) if eer else (None, None)
    if report["auc"] is None:
        notes.append("The test set holds one class only: AUC, AP and EER are undefined.")
        # An all-Fake set gives a trivial AP of 1.0; report it as undefined, as the note says.
        report["ap"] = report["roc"] = report["pr"] = None
    else:
        report["roc"], report["pr"] = _curve_points(y_fake, s_fake)
    if p.size and len(np.unique(predicted_real)) == 1:
        notes.append(
            f"The model answered {'Real' if predicted_real[0] else 'Fake'} for every image."
        )
    report["notes"] = notes
    return report


# --- DeLong: the AUC's variance, and two AUCs on the same images compared ---------------


def _midranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing the mean of the ranks they span."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2.0)[inverse]


def _delong_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and DeLong's covariance of ``scores`` (one row per model) for labels ``y``.

    The fast midrank form of DeLong, DeLong & Clarke-Pearson (1988), as given by Sun
    & Xu (2014, IEEE Signal Processing Letters 21(11)).
    """
    positives, negatives = scores[:, y == 1], scores[:, y == 0]
    m, n = positives.shape[1], negatives.shape[1]
    within_pos = np.stack([_midranks(row) for row in positives])
    within_neg = np.stack([_midranks(row) for row in negatives])
    combined = np.stack([_midranks(row) for row in np.hstack([positives, negatives])])
    aucs = (combined[:, :m].sum(axis=1) / m - (m + 1) / 2.0) / n
    v_pos = (combined[:, :m] - within_pos) / n
    v_neg = 1.0 - (combined[:, m:] - within_neg) / m
    covariance = np.atleast_2d(np.cov(v_pos)) / m + np.atleast_2d(np.cov(v_neg)) / n
    return aucs, covariance


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def delong_interval(y_true: Any, scores: Any, level: float = 0.95) -> tuple[float, float] | None:
    """Normal-approximation interval of the ROC AUC with DeLong's variance.

    Cheap at any size (a sort), so large test sets get an interval too; clipped to
    [0, 1]. None when a class has fewer than two images.
    """
    y, s = _as_arrays(y_true, scores)
    if min(int(y.sum()), int(y.size - y.sum())) < 2:
        return None
    aucs, covariance = _delong_components(y, s[None, :])
    z = _normal_quantile(0.5 + level / 2.0)
    half = z * math.sqrt(max(float(covariance[0, 0]), 0.0))
    return float(max(0.0, aucs[0] - half)), float(min(1.0, aucs[0] + half))


def _normal_quantile(p: float) -> float:
    """The standard normal quantile, by bisection on the CDF (only a few per call)."""
    low, high = -10.0, 10.0
    for _ in range(80):
        middle = (low + high) / 2.0
        low, high = (middle, high) if _normal_cdf(middle) < p else (low, middle)
    return (low + high) / 2.0


def paired_auc_test(y_true: Any, scores_a: Any, scores_b: Any) -> tuple[float, float] | None:
    """DeLong's test of two models' AUCs on the same images.

    Args:
        y_true: labels in {0, 1}, one per image.
        scores_a: model A's scores of class 1 on those images, in the same order.
        scores_b: model B's, likewise.

    Returns:
        (AUC of A minus AUC of B, two-sided p-value), or None when a class has fewer
        than two images. Identical scores give p = 1.
    """
    y, a = _as_arrays(y_true, scores_a)
    _, b = _as_arrays(y_true, scores_b)
    if min(int(y.sum()), int(y.size - y.sum())) < 2:
        return None
    aucs, covariance = _delong_components(y, np.vstack([a, b]))
    difference = float(aucs[0] - aucs[1])
    variance = float(covariance[0, 0] + covariance[1, 1] - 2.0 * covariance[0, 1])
    if variance <= 1e-15:
        return difference, 1.0 if abs(difference) < 1e-12 else 0.0
    z = abs(difference) / math.sqrt(variance)
    return difference, float(2.0 * (1.0 - _normal_cdf(z)))


__all__ = [
    "accuracy",
    "auc_interval",
    "average_precision",
    "balanced_accuracy",
    "binary_cross_entropy",
    "confusion_matrix",
    "delong_interval",
    "detection_report",
    "equal_error_rate",
    "paired_auc_test",
    "precision_recall_curve",
    "precision_recall_f1",
    "roc_auc",
    "roc_curve",
]
