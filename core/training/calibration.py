"""Threshold calibration: choose the decision point on validation, move the logit to it.

A model trained on a 3:1 split can rank well yet lean to one class at 0.5. Training
picks the P(Real) threshold with the best balanced accuracy on Validation and
shifts the saved model's logit so that its 0.5 falls there: every later use of the
model at 0.5 (classify, re-score) then answers with the Validation-chosen threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def validation_threshold(labels: np.ndarray, p_real: np.ndarray) -> float:
    """The P(Real) threshold with the best balanced accuracy on validation (ties: nearest 0.5).

    A model trained on a 3:1 split can rank well yet lean to one class at 0.5. The
    threshold returned lies halfway between the two validation scores it separates,
    not on a score, so it does not hug one validation image; it is kept within
    [0.02, 0.98].
    """
    from core.metrics import balanced_accuracy

    if len(np.unique(labels)) < 2:
        return 0.5
    scores = np.unique(p_real)
    # Candidate cuts: 0.5 and the midpoints between consecutive distinct scores.
    candidates = np.unique(np.r_[0.5, (scores[:-1] + scores[1:]) / 2])
    accuracies = [balanced_accuracy(labels, (p_real >= t).astype(int)) for t in candidates]
    best = max(accuracies)
    ties = [t for t, score in zip(candidates, accuracies, strict=True) if score == best]
    return float(np.clip(min(ties, key=lambda t: abs(t - 0.5)), 0.02, 0.98))


def calibrate_decision_bias(model: Any, threshold: float) -> float:
    """Shift the model's logit so that P(Real) = 0.5 falls where ``threshold`` was.

    Every model ends in a one-unit Dense layer named ``logit``; subtracting
    logit(threshold) from its bias moves the decision point without changing the
    ranking (AUC, AP and EER are unchanged). The saved model then answers with the
    Validation-chosen threshold everywhere it is used at 0.5 (classify, re-score).

    Returns:
        The shift added to the logit (0.0 when the threshold is 0.5).
    """
    shift = -float(np.log(threshold / (1.0 - threshold)))
    if shift:
        layer = model.get_layer("logit")
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, bias + np.float32(shift)])
    return shift
