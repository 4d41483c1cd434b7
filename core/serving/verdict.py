"""Verdicts a person can read: Real, Fake, or Uncertain when the model is near its threshold.

A probability of 0.501 is a coin flip, not a verdict. :func:`verdict` calls an image
Real or Fake only when P(Real) is clearly on one side of the threshold (outside a band
of +/- ``band`` around it) *and* the probability of that label is at least 50%; it is
otherwise "Uncertain", shown with P(Real). So a shown verdict never carries a
probability below 50% (which a threshold other than 0.5 would otherwise allow).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import CLASS_NAMES, LABEL_REAL

UNCERTAIN = "Uncertain"
#: Default half-width of the uncertain band around the threshold, on P(Real).
DEFAULT_BAND = 0.1
REAL, FAKE = CLASS_NAMES[LABEL_REAL], CLASS_NAMES[1 - LABEL_REAL]


@dataclass(frozen=True)
class Verdict:
    """What to show for one image.

    Attributes:
        label: ``"Real"``, ``"Fake"`` or ``"Uncertain"``.
        p_real: the model's P(Real).
        leaning: the side of the threshold P(Real) falls on (``"Real"`` or ``"Fake"``);
            the class a Grad-CAM map should explain.
        probability: probability of ``label`` (always >= 0.5) for Real and Fake; P(Real)
            for Uncertain.
        threshold: the P(Real) threshold used.
        band: the band's half-width used.
    """

    label: str
    p_real: float
    leaning: str
    probability: float
    threshold: float
    band: float

    @property
    def uncertain(self) -> bool:
        """True when no confident verdict is shown."""
        return self.label == UNCERTAIN

    @property
    def within_band(self) -> bool:
        """True when P(Real) lies inside the uncertain band around the threshold."""
        return _within(self.p_real, self.threshold, self.band)

    @property
    def reason(self) -> str:
        """Why an Uncertain verdict is one, in a few words (empty for Real and Fake)."""
        if not self.uncertain:
            return ""
        if self.within_band:
            return f"within ±{self.band:.2f} of the threshold: too close to call"
        return f"P({self.leaning}) would be below 50%: too close to call"

    @property
    def text(self) -> str:
        """One line: ``Real: 93.0%``, or ``Uncertain: P(Real) 50.1%``."""
        if self.uncertain:
            return f"{UNCERTAIN}: P(Real) {self.p_real:.1%}"
        return f"{self.label}: {self.probability:.1%}"


def _within(p_real: float, threshold: float, band: float) -> bool:
    # Rounded so that 0.6 against 0.5 with a 0.1 band is outside it despite float error.
    return round(abs(p_real - threshold), 9) < band


def verdict(p_real: float, threshold: float = 0.5, band: float = DEFAULT_BAND) -> Verdict:
    """Turn P(Real) into Real, Fake or Uncertain.

    Args:
        p_real: the model's probability that the image is real, in [0, 1].
        threshold: P(Real) at or above which the image leans Real.
        band: half-width of the uncertain band around ``threshold`` (0 disables it).

    Returns:
        The verdict; see the module docstring for the rule.

    Raises:
        ValueError: ``band`` outside [0, 0.5) or ``threshold`` outside [0, 1].
    """
    if not 0.0 <= band < 0.5:
        raise ValueError(f"The uncertain band must be in [0, 0.5), not {band}.")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"The threshold must be in [0, 1], not {threshold}.")
    p_real = float(p_real)
    leaning = REAL if p_real >= threshold else FAKE
    probability = p_real if leaning == REAL else 1.0 - p_real
    if _within(p_real, threshold, band) or probability < 0.5:
        return Verdict(UNCERTAIN, p_real, leaning, p_real, threshold, band)
    return Verdict(leaning, p_real, leaning, probability, threshold, band)
