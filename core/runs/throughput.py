"""How long training takes on this machine: step times after warm-up, kept per model and size.

One set of numbers serves three places:

- while a run trains, :class:`StepClock` times each training step; the steps after the
  warm-up (the first ones trace the graph) give the phase's ETA and its range
  (:func:`phase_eta`); until enough of them are timed, the rate of earlier runs of the
  same model and size on this machine stands in (:func:`prior_rate`);
- when a fit ends, the trainer records the measured rate in ``throughput.json`` in the
  artifacts folder, per machine (CPU model and cores), model, options and image size,
  with the precision it computed in; a short probe (``python -m core.training.probe``)
  records one without a real run;
- before Start, the Train page turns those records into minutes per epoch of the chosen
  subset and the run's duration, with a range (:func:`estimate_run`).

No TensorFlow here: the Train page imports this module.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import settings
from core.models.registry import find_spec

#: Steps of each fit left out of the rate: the first traces (with XLA, compiles) the graph.
WARMUP_STEPS = 2
#: The newest steps the running ETA averages (the machine's load changes over a run).
WINDOW = 200
#: A validation image before any validation was timed: forward only, about a third
#: of a training step's forward + backward + update.
FORWARD_SHARE = 1 / 3
#: Steps timed after warm-up before they replace the earlier runs' rate in the ETA.
MIN_TIMED_STEPS = 3
#: Records kept per model, options, image size and batch size.
KEEP = 5
FILE_NAME = "throughput.json"
#: What an estimate from probes alone leaves out, said with it.
PROBE_CAVEAT = (
    " of a speed probe on random pixels: training steps, one validation pass and one"
    " checkpoint, without reading the images, so a run may take longer; a finished run"
    " records its whole epochs"
)


@dataclass(frozen=True)
class StepStats:
    """Seconds per training step after warm-up: the mean and the 10th-90th percentiles.

    ``warmup`` is what the warm-up steps took beyond as many ordinary steps (tracing),
    paid once per fit.
    """

    mean: float
    low: float
    high: float
    steps: int
    warmup: float = 0.0


class StepClock:
    """The training steps' durations of the current fit, without its warm-up steps.

    Args:
        warmup: steps at the start of each fit that are not counted.
    """

    def __init__(self, warmup: int = WARMUP_STEPS) -> None:
        self.warmup = warmup
        self.seen = 0
        self.warmup_seconds = 0.0
        self.times: deque[float] = deque(maxlen=WINDOW)

    def reset(self) -> None:
        """A new fit starts: its first steps trace again."""
        self.seen = 0
        self.warmup_seconds = 0.0
        self.times.clear()

    def add(self, seconds: float) -> None:
        """Count one step of ``seconds``."""
        self.seen += 1
        if self.seen > self.warmup:
            self.times.append(seconds)
        else:
            self.warmup_seconds += seconds

    def stats(self) -> StepStats | None:
        """The steps counted so far, or None while still warming up."""
        if not self.times:
            return None
        ordered = sorted(self.times)
        last = len(ordered) - 1
        mean = statistics.fmean(ordered)
        return StepStats(
            mean=mean,
            low=ordered[round(0.1 * last)],
            high=ordered[round(0.9 * last)],
            steps=len(ordered),
            warmup=max(0.0, self.warmup_seconds - min(self.seen, self.warmup) * mean),
        )


@dataclass(frozen=True)
class Estimate:
    """A duration in seconds with its range, and one epoch's share of it.

    Attributes:
        seconds: the estimate.
        low: the quick end of the range.
        high: the slow end.
        epoch_seconds: one epoch (training and validation), mean rate.
        source: where the rate comes from, in words.
    """

    seconds: float
    low: float
    high: float
    epoch_seconds: float
    source: str


def phase_eta(
    stats: StepStats,
    steps_left: int,
    validations_left: int,
    val_steps: int,
    val_seconds: float | None,
    steps_per_epoch: int,
) -> Estimate:
    """Time left in a fit: the steps left at the measured rate, plus its validations.

    Args:
        stats: step times measured after warm-up.
        steps_left: training steps left in the fit (all its epochs).
        validations_left: validation passes left (one per epoch not yet validated).
        val_steps: batches in one validation pass.
        val_seconds: an epoch's time beyond its training steps (validation, checkpoint,
            callbacks) as last measured; None before any.
        steps_per_epoch: training steps in one epoch.

    Returns:
        The ETA; its range applies the 10th and 90th percentile step times throughout
        (the per-epoch extra is scaled with them).
    """
    per_val = val_seconds if val_seconds is not None else val_steps * stats.mean * FORWARD_SHARE
    validation = validations_left * per_val

    def total(step: float) -> float:
        return steps_left * step + validation * step / stats.mean

    return Estimate(
        seconds=total(stats.mean),
        low=total(stats.low),
        high=total(stats.high),
        epoch_seconds=steps_per_epoch * stats.mean + per_val,
        source=f"{stats.steps} steps timed after warm-up",
    )


# --- records ------------------------------------------------------------------------


def machine_id(cpuinfo: str | None = None) -> str:
    """This machine, as the records name it: CPU model and core count."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        except OSError:
            cpuinfo = ""
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line]
    return f"{names[0] if names else os.uname().machine} x{os.cpu_count()}"


def records_path() -> Path:
    """``throughput.json`` in the artifacts folder."""
    return settings.artifacts_dir() / FILE_NAME


def _key(model: str, image_size: int, options: dict | None, phase: str) -> str:
    return json.dumps([model, int(image_size), options or {}, phase], sort_keys=True)


def load_records(path: Path | None = None, machine: str | None = None) -> list[dict]:
    """This machine's records, newest last (an unreadable file counts as none)."""
    path = path or records_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    machine = machine or machine_id()
    found = data.get(machine, []) if isinstance(data, dict) else []
    return [item for item in found if isinstance(item, dict)]


def record(
    config: dict[str, Any],
    phase: str,
    stats: StepStats,
    val_seconds_per_image: float | None = None,
    path: Path | None = None,
    origin: str = "run",
    epoch_fixed_seconds: float | None = None,
) -> None:
    """Add one fit's measured rate for this machine (the oldest beyond :data:`KEEP` go).

    Args:
        config: the run's configuration (model, image_size, options, batch_size) and
            ``precision``, the Keras dtype policy the fit computed in.
        phase: ``training`` or ``fine-tuning`` (a frozen base trains faster).
        stats: the fit's step times after warm-up.
        val_seconds_per_image: the last validation pass's duration per image, if timed.
        path: the records file (``throughput.json`` in the artifacts folder by default).
        origin: ``run`` (a real fit) or ``probe`` (on random pixels).
        epoch_fixed_seconds: what an epoch costs beyond its training steps and its
            validation (checkpoint, callbacks): the same for 60 validation images as
            for 40,000, so it is kept apart from the per-image rate.
    """
    path = path or records_path()
    batch = int(config.get("batch_size") or 1)
    entry = {
        "key": _key(config["model"], config["image_size"], config.get("options"), phase),
        "batch_size": batch,
        "image_size": int(config["image_size"]),
        "precision": config.get("precision"),
        "seconds_per_image": [stats.mean / batch, stats.low / batch, stats.high / batch],
        "val_seconds_per_image": val_seconds_per_image,
        "epoch_fixed_seconds": epoch_fixed_seconds,
        "warmup_seconds": stats.warmup,
        "steps": stats.steps,
        "origin": origin,
        "time": time.time(),
    }
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    machine = machine_id()
    kept = data.get(machine, [])
    same = [e for e in kept if (e["key"], e["batch_size"]) == (entry["key"], batch)]
    data[machine] = [e for e in kept if e not in same] + [*same, entry][-KEEP:]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(temporary, path)


def wanted_precision(config: dict) -> str | None:
    """The precision a run of ``config`` computes in, where that is known without TensorFlow.

    ``config["precision"]`` when given (a run that has decided); else what
    ``DEEPFAKE_PRECISION`` or the model's default asks for, unless that is ``auto``,
    which this machine decides when a run starts: then None.
    """
    if config.get("precision"):
        return str(config["precision"])
    spec = find_spec(config.get("model"))
    asked = settings.asked_precision(spec.default_precision if spec else "float32")
    return None if asked == "auto" else asked


def _one_precision(records: list[dict], config: dict) -> tuple[list[dict], str]:
    """The records of the precision a run of ``config`` computes in, and it in words.

    Where that is not known (``auto``), the newest record's: the last run on this
    machine decided it as the next one will. Records from before precisions were kept
    count for any.
    """
    wanted = wanted_precision(config) or records[-1].get("precision")
    same = [r for r in records if r.get("precision") in (wanted, None)]
    return same, (f" in {wanted}" if wanted else "")


def _matching(config: dict, phase: str, records: Sequence[dict]) -> tuple[list[dict], str]:
    """Records of this model, options and precision at this size, else the nearest size.

    The source, in words, says a record of another size is scaled by pixels.
    """
    prefix = json.dumps([config["model"]])[:-1]
    tail = json.dumps([config.get("options") or {}, phase], sort_keys=True)[1:]
    found = [r for r in records if r["key"].startswith(prefix) and r["key"].endswith(tail)]
    if not found:
        return [], ""
    found, precision = _one_precision(found, config)
    if not found:
        return [], ""
    size = int(config["image_size"])
    nearest = min(found, key=lambda r: abs(math.log(r["image_size"] / size)))["image_size"]
    found = [r for r in found if r["image_size"] == nearest]
    if nearest != size:
        return found, f"measured on this machine{precision} at {nearest} px, scaled by pixels"
    batch = [r for r in found if r["batch_size"] == config.get("batch_size")]
    return (batch or found), f"measured on this machine{precision}"


@dataclass(frozen=True)
class Rate:
    """What this machine's records say of a model at a size, for one phase.

    Attributes:
        per_image: seconds per training image [mean, low, high] (10th-90th percentiles).
        per_val_image: seconds per validation image.
        epoch_fixed: seconds an epoch costs beyond its steps and its validation.
        warmup: a fit's tracing time, paid once per fit.
        source: where the rate comes from, in words.
    """

    per_image: list[float]
    per_val_image: float
    epoch_fixed: float
    warmup: float
    source: str

    def epoch(self, train_images: int, val_images: int, index: int = 0) -> float:
        """One epoch's seconds at the mean (``index`` 0), quick (1) or slow (2) rate.

        Validation and the fixed part scale with the step spread, as the steps do.
        """
        spread = self.per_image[index] / self.per_image[0]
        beyond = val_images * self.per_val_image + self.epoch_fixed
        return train_images * self.per_image[index] + beyond * spread


def image_rate(config: dict, phase: str, records: Sequence[dict]) -> Rate | None:
    """The rate of the newest :data:`KEEP` matching records, or None without one.

    The median of their means, the lowest low and the highest high; a record of
    another size is scaled by pixels (its fixed per-epoch cost is not).
    """
    found, source = _matching(config, phase, records)
    if not found:
        return None
    found = found[-KEEP:]
    scale = (int(config["image_size"]) / found[-1]["image_size"]) ** 2
    mean = statistics.median(r["seconds_per_image"][0] for r in found) * scale
    low = min(r["seconds_per_image"][1] for r in found) * scale
    high = max(r["seconds_per_image"][2] for r in found) * scale
    timed = [r["val_seconds_per_image"] for r in found if r.get("val_seconds_per_image")]
    val = statistics.median(timed) * scale if timed else mean * FORWARD_SHARE
    fixed = [r["epoch_fixed_seconds"] for r in found if r.get("epoch_fixed_seconds") is not None]
    runs = f"{len(found)} record{'s' if len(found) > 1 else ''}"
    if all(r.get("origin") == "probe" for r in found):
        runs += PROBE_CAVEAT
    return Rate(
        per_image=[mean, low, high],
        per_val_image=val,
        epoch_fixed=statistics.median(fixed) if fixed else 0.0,
        warmup=statistics.median(r.get("warmup_seconds") or 0.0 for r in found),
        source=f"{source} ({runs})",
    )


@dataclass(frozen=True)
class PriorRate:
    """A fit's rate from earlier runs on this machine, used while its own steps warm up.

    Attributes:
        step: seconds per training step (mean and range) at the run's batch size;
            ``warmup`` is the tracing time those runs paid once per fit.
        epoch_extra: one epoch's time beyond its steps (validation), or None.
        source: where the rate comes from, in words.
    """

    step: StepStats
    epoch_extra: float | None
    source: str


def prior_rate(config: dict[str, Any], phase: str, records: Sequence[dict]) -> PriorRate | None:
    """The rate earlier runs of this model and size measured for ``phase``, or None.

    Args:
        config: the run's configuration (model, image_size, options, batch_size, val_size).
        phase: the fit's phase as the trainer records it (``training``, ``fine-tuning``).
        records: this machine's records (:func:`load_records`).
    """
    rate = image_rate(config, phase, records)
    if rate is None:
        return None
    batch = int(config.get("batch_size") or 1)
    val_images = int(config.get("val_size") or 0)
    mean, low, high = (seconds * batch for seconds in rate.per_image)
    step = StepStats(mean, low, high, steps=0, warmup=rate.warmup)
    extra = val_images * rate.per_val_image + rate.epoch_fixed if val_images else None
    return PriorRate(step, extra, rate.source)


def estimate_run(config: dict[str, Any], records: Sequence[dict]) -> Estimate | None:
    """A run's training time before it starts, from this machine's records.

    Every epoch counts (early stopping may end sooner): ``epochs`` at the training rate,
    then ``fine_tune_epochs`` at the fine-tuning rate (the training rate where none was
    measured), each with its validation and its fixed cost (:meth:`Rate.epoch`), plus
    each fit's measured warm-up. Loading the images, calibration and the test pass are
    left out.

    Args:
        config: the run's configuration (model, image_size, options, batch_size,
            train_size, val_size, epochs, fine_tune_epochs).
        records: this machine's records (:func:`load_records`).

    Returns:
        The estimate, or None when no record of this model exists on this machine
        (or the subset size is not given).
    """
    rate = image_rate(config, "training", records)
    if rate is None or not config.get("train_size"):  # the whole split: size not known here
        return None
    train, val = int(config["train_size"]), int(config.get("val_size") or 0)
    tuned = image_rate(config, "fine-tuning", records) or rate
    epochs, extra = int(config.get("epochs") or 0), int(config.get("fine_tune_epochs") or 0)

    def total(index: int) -> float:
        warmups = rate.warmup + (tuned.warmup if extra else 0.0)
        return (
            epochs * rate.epoch(train, val, index)
            + extra * tuned.epoch(train, val, index)
            + warmups
        )

    return Estimate(
        seconds=total(0),
        low=total(1),
        high=total(2),
        epoch_seconds=rate.epoch(train, val),
        source=rate.source,
    )
