"""Did a run learn anything? A verdict from its own numbers, and what to change if not.

The rule, decided before any run was judged by it (README, "Did it learn?"):

- **did not learn** (``chance``): the 95% interval of its test AUC contains 0.5, so the
  test images cannot tell it from a coin flip. An interval wholly below 0.5 is no
  better: the model ranks backwards.
- **weak**: the interval lies above 0.5 but the AUC is below :data:`USABLE_AUC`.
- **usable**: AUC at least :data:`USABLE_AUC` with the interval above 0.5 (on this test
  set; the model card says how it does on other data).
- **unknown**: the test set holds one class only, so there is no AUC; or the record
  is too old to hold scores, an interval or class counts.

The interval is the one recorded with the metrics (a bootstrap on small sets), else
DeLong's from the stored scores, else Hanley & McNeil's (1982) from the AUC and the
class counts, for run folders written before scores were stored. The advice reads the
run's history: still improving at its last epoch means more epochs; flat means more
images or a larger image size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from core import metrics as metric_functions

CHANCE, WEAK, USABLE, UNKNOWN = "chance", "weak", "usable", "unknown"
VERDICTS = (CHANCE, WEAK, USABLE, UNKNOWN)
LABELS = {CHANCE: "did not learn", WEAK: "weak", USABLE: "usable", UNKNOWN: "unknown"}
#: The AUC from which a run that beats chance is called usable rather than weak.
USABLE_AUC = 0.80
#: Validation AUC this close to 0.5 at every epoch counts as "never left chance".
VAL_CHANCE_BAND = 0.05
#: A last epoch within this of the best validation AUC, after a rise of more than
#: :data:`RISE`, counts as "still improving".
NEAR_BEST, RISE = 0.01, 0.02


@dataclass(frozen=True)
class Learning:
    """What a run learned, in words a person can act on.

    Attributes:
        verdict: one of :data:`VERDICTS`.
        auc: the test AUC (None when undefined).
        interval: its 95% interval (low, high), or None.
        interval_method: ``bootstrap``, ``DeLong`` or ``Hanley-McNeil``.
        message: one sentence saying what the numbers show.
        advice: what to change to get a better model ("" for a usable one).
        val_at_chance: the validation AUC never left chance during training.
        still_improving: the validation AUC was still rising at the last epoch.
    """

    verdict: str
    auc: float | None
    interval: tuple[float, float] | None
    interval_method: str
    message: str
    advice: str = ""
    val_at_chance: bool = False
    still_improving: bool = False

    @property
    def learned(self) -> bool:
        """True when the run beats chance on its test images (weak or usable)."""
        return self.verdict in (WEAK, USABLE)

    @property
    def label(self) -> str:
        """``did not learn``, ``weak``, ``usable`` or ``unknown``."""
        return LABELS[self.verdict]

    @property
    def text(self) -> str:
        """The message and the advice, as one paragraph."""
        return f"{self.message} {self.advice}".strip()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``metrics.json``."""
        values = asdict(self)
        values["interval"] = list(self.interval) if self.interval else None
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Learning:
        """Read back what :meth:`to_dict` wrote."""
        interval = values.get("interval")
        fields = {key: values[key] for key in cls.__dataclass_fields__ if key in values}
        fields["interval"] = tuple(interval) if interval else None
        return cls(**fields)


def hanley_mcneil_interval(auc: float, n_pos: int, n_neg: int) -> tuple[float, float] | None:
    """95% normal interval of an AUC from Hanley & McNeil's standard error."""
    if n_pos < 1 or n_neg < 1:
        return None
    q1, q2 = auc / (2.0 - auc), 2.0 * auc**2 / (1.0 + auc)
    variance = (auc * (1.0 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (
        n_pos * n_neg
    )
    half = 1.959964 * math.sqrt(max(variance, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def auc_interval(values: dict[str, Any]) -> tuple[tuple[float, float] | None, str]:
    """The 95% interval of a metrics record's AUC, and how it was obtained."""
    recorded = values.get("auc_ci")
    if isinstance(recorded, list | tuple) and len(recorded) == 2:
        return (float(recorded[0]), float(recorded[1])), "bootstrap"
    labels, p_real = values.get("labels"), values.get("p_real")
    if labels and p_real and len(labels) == len(p_real):
        fake = [1 - int(label) for label in labels]
        interval = metric_functions.delong_interval(fake, [1.0 - p for p in p_real])
        if interval is not None:
            return interval, "DeLong"
    auc = values.get("auc")
    if isinstance(auc, int | float):
        return hanley_mcneil_interval(
            float(auc), int(values.get("n_fake") or 0), int(values.get("n_real") or 0)
        ), "Hanley-McNeil"
    return None, ""


def _history_facts(history: dict[str, Any] | None) -> tuple[bool, bool, str]:
    """(validation AUC never left chance, still improving at the end, its course in words)."""
    values = [float(v) for v in (history or {}).get("val_auc", []) if isinstance(v, int | float)]
    if not values:
        return False, False, ""
    at_chance = max(abs(v - 0.5) for v in values) < VAL_CHANCE_BAND
    improving = len(values) >= 2 and values[-1] >= max(values) - NEAR_BEST
    improving = improving and values[-1] - values[0] > RISE
    course = f"validation AUC {values[0]:.2f} at epoch 1, {values[-1]:.2f} at epoch {len(values)}"
    return at_chance, improving, course


def _advice(improving: bool, course: str, config: dict[str, Any] | None) -> str:
    config = config or {}
    if improving:
        return f"It was still improving when training stopped ({course}): train more epochs."
    seen = config.get("train_size")
    size = config.get("image_size")
    images = f"more images (it trained on {seen:,})" if isinstance(seen, int) else "more images"
    pixels = f"a larger image size (it used {size} px)" if isinstance(size, int) else ""
    flat = f" ({course})" if course else ""
    return f"Its validation score had levelled off{flat}: train on {images}" + (
        f" or at {pixels}." if pixels else "."
    )


def assess(
    values: dict[str, Any] | None,
    history: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> Learning:
    """Judge a run from its test metrics, its training history and its config.

    Args:
        values: the metrics record (``metrics.json`` or a re-score).
        history: ``history.json`` (epoch lists, ``val_auc`` among them), if known.
        config: ``config.json``, for the advice (training size, image size).
    """
    values = values or {}
    auc = values.get("auc")
    at_chance, improving, course = _history_facts(history)
    if not isinstance(auc, int | float):
        return Learning(UNKNOWN, None, None, "", "No AUC: the test set holds one class only.")
    auc = float(auc)
    interval, method = auc_interval(values)
    shown = f"test AUC {auc:.2f}" + (
        f" (95% CI {interval[0]:.2f}–{interval[1]:.2f})" if interval else ""
    )
    advice = _advice(improving, course, config)
    if interval is None:
        message = f"Test AUC {auc:.2f}, but the record holds too little to tell it from chance."
        return Learning(UNKNOWN, auc, None, "", message, "", at_chance, improving)
    if interval[0] <= 0.5:
        message = f"Did not learn: {shown} cannot be told from chance (0.5)"
        if at_chance:
            message += ", and its validation AUC never left chance during training"
        return Learning(CHANCE, auc, interval, method, message + ".", advice, at_chance, improving)
    if auc < USABLE_AUC:
        message = f"Weak: {shown} beats chance but is below {USABLE_AUC:.2f}."
        return Learning(WEAK, auc, interval, method, message, advice, at_chance, improving)
    message = f"Learned: {shown} on its own test images."
    return Learning(USABLE, auc, interval, method, message, "", at_chance, improving)


def of_record(
    values: dict[str, Any] | None,
    history: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> Learning:
    """The verdict stored in a metrics record, or assessed now for one written before."""
    stored = (values or {}).get("learning")
    if isinstance(stored, dict) and stored.get("verdict") in VERDICTS:
        try:
            return Learning.from_dict(stored)
        except TypeError:
            pass  # a record from another version: judge it again
    return assess(values, history, config)
