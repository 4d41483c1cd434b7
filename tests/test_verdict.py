"""Real, Fake or Uncertain: the rule behind every verdict the Classify page shows."""

from __future__ import annotations

import pytest

from core.serving.verdict import UNCERTAIN, verdict


@pytest.mark.parametrize(
    ("p_real", "threshold", "band", "label", "text"),
    [
        (0.501, 0.5, 0.1, UNCERTAIN, "Uncertain: P(Real) 50.1%"),
        (0.45, 0.5, 0.1, UNCERTAIN, "Uncertain: P(Real) 45.0%"),
        (0.6, 0.5, 0.1, "Real", "Real: 60.0%"),  # on the band's edge: a verdict
        (0.93, 0.5, 0.1, "Real", "Real: 93.0%"),
        (0.07, 0.5, 0.1, "Fake", "Fake: 93.0%"),
        (0.501, 0.5, 0.0, "Real", "Real: 50.1%"),
        (0.502, 0.55, 0.0, UNCERTAIN, "Uncertain: P(Real) 50.2%"),  # Fake would read 49.8%
        (0.3, 0.55, 0.1, "Fake", "Fake: 70.0%"),
        (0.45, 0.3, 0.1, UNCERTAIN, "Uncertain: P(Real) 45.0%"),  # Real would read 45%
    ],
)
def test_verdicts(p_real, threshold, band, label, text):
    shown = verdict(p_real, threshold, band)
    assert shown.label == label
    assert shown.text == text
    if not shown.uncertain:
        assert shown.probability >= 0.5


def test_leaning_follows_the_threshold():
    assert verdict(0.52, 0.5).leaning == "Real"
    assert verdict(0.52, 0.55).leaning == "Fake"
    assert verdict(0.52, 0.5).within_band and not verdict(0.52, 0.55, 0.0).within_band


@pytest.mark.parametrize(("threshold", "band"), [(0.5, -0.1), (0.5, 0.5), (1.2, 0.1)])
def test_bad_arguments_are_refused(threshold, band):
    with pytest.raises(ValueError, match="must be"):
        verdict(0.5, threshold, band)
