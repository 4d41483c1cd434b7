"""How much memory a training run needs at its peak, estimated before it starts.

The Train page refuses a setting whose estimate does not fit in the memory this
machine has available, and says which batch size would. The estimate (bytes) is::

    baseline                      the TensorFlow/Keras runtime, our code, the tf.data machinery
  + p * parameters                float32 weights, their gradients and Adam's two slots
                                  (16 bytes) and the runtime's further copies of them
  + k * batch * activations(s)    every layer's output for one image at side s, kept for the
                                  backward pass and its gradients (k covers both)
  + pipeline(batch, s)            a few batches in flight: uint8 pixels and float32 copies

``activations(s)`` comes from building the model (no training) and summing the
output sizes of its layers. Building needs TensorFlow, which the pages never import,
so a subprocess (``python -m core.memory --profile ...``) builds each model at three
sizes once and the quadratic through them (exact for the conv layers' s², close for
the rest) is cached per model, options and model source in a small JSON file.
``baseline``, ``p`` and ``k`` are calibrated against measured peak RSS by
``python -m bench.memory_bench`` (docs/BENCHMARKS.md gives the residuals).

The data pipeline is counted as the streaming one: memory that does not grow with
the subset size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import settings
from core.models import registry

logger = logging.getLogger(__name__)

GB = 1e9
#: Calibrated by bench/memory_bench.py (least squares over CNN, CapsNet, Xception at
#: 128 and 256 px, batch 16 and 32; docs/BENCHMARKS.md): the runtime's resident
#: baseline (bytes), the factor on one batch's layer outputs (forward values + what the
#: backward pass keeps) and the bytes per parameter (16 for float32 weights, gradients
#: and Adam's two slots, the rest the runtime's own copies).
BASELINE_BYTES = 1.01e9
ACTIVATION_FACTOR = 1.02
PARAM_BYTES = 38.0
#: Batches the streaming pipeline holds at once (prefetch, the batch being built, the
#: one in the model), each as uint8 pixels plus a float32 copy.
PIPELINE_BATCHES = 4
#: Share of the available memory a run may plan to use: the page, other programs and
#: the allocator's fragmentation need the rest.
SAFETY = 0.85
PROFILE_TIMEOUT_S = 300
CACHE_ENV = "DEEPFAKE_CACHE_DIR"


class EstimateError(RuntimeError):
    """The model could not be built to measure its layers (the reason is the message)."""


@dataclass(frozen=True)
class Profile:
    """A model's size-independent facts: parameters and layer outputs per image.

    Attributes:
        parameters: number of weights (trainable or not).
        coefficients: (a, b, c) with float32 activation bytes per image at side s
            equal to a*s*s + b*s + c.
    """

    parameters: int
    coefficients: tuple[float, float, float]

    def activation_bytes(self, image_size: int) -> float:
        """Bytes of all layer outputs for one image of side ``image_size``."""
        a, b, c = self.coefficients
        return max(0.0, a * image_size * image_size + b * image_size + c)


@dataclass(frozen=True)
class Estimate:
    """A run's estimated peak memory and its parts, in bytes."""

    baseline: float
    parameters: float
    activations: float
    pipeline: float

    @property
    def total(self) -> float:
        """The estimated peak resident memory."""
        return self.baseline + self.parameters + self.activations + self.pipeline


# --- the formula ---------------------------------------------------------------


def pipeline_bytes(batch_size: int, image_size: int) -> float:
    """Bytes of the batches the streaming pipeline holds (uint8 + float32 each)."""
    return PIPELINE_BATCHES * batch_size * image_size * image_size * 3 * (1 + 4)


def estimate(profile: Profile, image_size: int, batch_size: int) -> Estimate:
    """The peak memory of training one model, from its profile (no TensorFlow).

    Args:
        profile: the model's :class:`Profile` (:func:`profile_for`).
        image_size: side of the square model input.
        batch_size: images per training batch.

    Returns:
        The estimate, by part.
    """
    return Estimate(
        baseline=BASELINE_BYTES,
        parameters=PARAM_BYTES * profile.parameters,
        activations=ACTIVATION_FACTOR * batch_size * profile.activation_bytes(image_size),
        pipeline=pipeline_bytes(batch_size, image_size),
    )


def available_bytes() -> int:
    """Memory the machine can give a new process now (psutil's ``available``)."""
    import psutil

    return int(psutil.virtual_memory().available)


def fits(needed: Estimate | float, available: float) -> bool:
    """True when ``needed`` bytes fit in :data:`SAFETY` of ``available``."""
    total = needed.total if isinstance(needed, Estimate) else float(needed)
    return total <= SAFETY * available


def largest_batch_that_fits(
    profile: Profile, image_size: int, available: float, upper: int = 1024
) -> int | None:
    """The largest batch size up to ``upper`` whose estimate fits; None if not even 1.

    The estimate grows with the batch size, so a binary search finds it.
    """
    if not fits(estimate(profile, image_size, 1), available):
        return None
    low, high = 1, upper
    while low < high:
        middle = (low + high + 1) // 2
        if fits(estimate(profile, image_size, middle), available):
            low = middle
        else:
            high = middle - 1
    return low


# --- profiles: built in a subprocess, cached on disk ------------------------------


def profile_sizes(min_image_size: int) -> tuple[int, int, int]:
    """Three sides at which a model is built to fit its activation quadratic."""
    base = max(128, min_image_size)
    return base, base + base // 2, 2 * base


def fit_quadratic(points: Sequence[tuple[int, float]]) -> tuple[float, float, float]:
    """The (a, b, c) of a*s*s + b*s + c through three (s, value) points."""
    import numpy as np

    sides = np.array([p[0] for p in points], dtype=float)
    values = np.array([p[1] for p in points], dtype=float)
    a, b, c = np.linalg.solve(np.vander(sides, 3), values)
    return float(a), float(b), float(c)


def cache_path() -> Path:
    """The JSON file of profiles: shared by every artifacts folder of this user."""
    root = (
        os.environ.get(CACHE_ENV)
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "deepfake-workbench"
    )
    return Path(root).expanduser() / "model_profiles.json"


def profile_key(model: str, options: dict[str, Any]) -> str:
    """Cache key: model, options and the models' source (a change rebuilds the profile)."""
    spec = registry.get_spec(model)
    options = spec.resolve_options(options)
    digest = hashlib.sha256()
    for source in sorted((settings.REPO_ROOT / "core" / "models").glob("*.py")):
        digest.update(source.read_bytes())
    module = sys.modules.get(spec.build.__module__)
    if module is not None and getattr(module, "__file__", None):
        digest.update(Path(module.__file__).read_bytes())
    options_text = json.dumps(options, sort_keys=True, default=list)
    return f"{model}|{options_text}|{digest.hexdigest()[:16]}"


def _read_cache() -> dict[str, Any]:
    try:
        return json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def cached_profile(model: str, options: dict[str, Any]) -> Profile | None:
    """The cached profile of a model with these options, or None."""
    item = _read_cache().get(profile_key(model, options))
    if not item:
        return None
    return Profile(int(item["parameters"]), tuple(item["coefficients"]))


def _store(key: str, profile: Profile) -> None:
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    cache = _read_cache()
    cache[key] = {"parameters": profile.parameters, "coefficients": list(profile.coefficients)}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(cache, indent=1), encoding="utf-8")
    os.replace(temporary, path)


def profile_for(model: str, options: dict[str, Any]) -> Profile:
    """The model's profile, from the cache or built once in a subprocess.

    Raises:
        EstimateError: the subprocess failed or timed out.
    """
    return profiles_for([(model, options)])[0]


def profiles_for(models: Sequence[tuple[str, dict[str, Any]]]) -> list[Profile]:
    """Profiles of several (model, options): the missing ones built in one subprocess.

    Raises:
        EstimateError: the subprocess failed or timed out.
    """
    missing = [(m, o) for m, o in models if cached_profile(m, o) is None]
    if missing:
        names = ", ".join(model for model, _ in missing)
        request = json.dumps([{"model": m, "options": o} for m, o in missing], default=list)
        command = [sys.executable, "-m", "core.training.memory", "--profile", request]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
        try:
            done = subprocess.run(
                command,
                cwd=settings.REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=PROFILE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise EstimateError(f"building {names} took over {PROFILE_TIMEOUT_S} s") from error
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise EstimateError(f"building {names} failed: {last}")
    found = [cached_profile(model, options) for model, options in models]
    if any(profile is None for profile in found):
        raise EstimateError(f"building the models left no profile in {cache_path()}")
    return found  # type: ignore[return-value]


# --- measuring a built model (runs in the subprocess; imports Keras) -----------


def layer_output_elements(model: Any) -> int:
    """Elements (per image) of every layer output, nested models' layers included."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += layer_output_elements(layer)
            continue
        for tensor in keras.tree.flatten(layer.output):
            elements = 1
            for dim in tuple(tensor.shape)[1:]:
                elements *= int(dim or 1)
            total += elements
    return total


def build_profile(model: str, options: dict[str, Any]) -> Profile:
    """Build the model at three sizes and fit its profile (imports TensorFlow)."""
    settings.enable_onednn()
    import keras

    spec = registry.get_spec(model)
    resolved = spec.resolve_options(options)
    points, parameters = [], 0
    for side in profile_sizes(spec.min_image_size):
        built = spec.build(side, augment=True, seed=0, **resolved)
        parameters = int(built.count_params())
        points.append((side, 4.0 * layer_output_elements(built)))
        keras.backend.clear_session()
    return Profile(parameters, fit_quadratic(points))


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.memory",
        description="Estimate a training run's peak memory (and build model profiles).",
    )
    parser.add_argument(
        "--profile", help='JSON [{"model": ..., "options": {...}}, ...]: build and cache'
    )
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    if args.profile:
        for item in json.loads(args.profile):
            model, options = item["model"], item.get("options") or {}
            _store(profile_key(model, options), build_profile(model, options))
        return 0
    spec = registry.get_spec(args.model)
    found = profile_for(args.model, spec.resolve_options({}))
    needed = estimate(found, args.image_size, args.batch_size)
    free = available_bytes()
    print(
        f"{args.model} at {args.image_size} px, batch {args.batch_size}: peak memory about "
        f"{needed.total / GB:.1f} GB (runtime {needed.baseline / GB:.1f}, parameters "
        f"{needed.parameters / GB:.2f}, activations {needed.activations / GB:.1f}, pipeline "
        f"{needed.pipeline / GB:.2f}); {free / GB:.1f} GB available; "
        + ("fits." if fits(needed, free) else "does not fit.")
    )
    return 0


if __name__ == "__main__":
    sys.exit(_main())
