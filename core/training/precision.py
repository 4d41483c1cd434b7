"""Whether bfloat16 trains faster than float32 on this machine: measured once, cached.

A CPU's AVX512-BF16 flag does not say that TensorFlow's bfloat16 kernels are faster
there. On a 2-core AMD EPYC (Zen 4) bfloat16 trained Xception 1.3-1.4x faster; on a
2-core Intel Xeon with the same flag (and no AMX) a bfloat16 matmul ran at half the
float32 rate and Xception trained no faster than in float32 (docs/BENCHMARKS.md).
So ``auto`` asks this module: it times the operation that is most of Xception's
training step (the 1x1 step of a separable convolution, a matrix product since
:class:`core.models.layers.MatmulSeparableConv2D`, forward and backward, at the size
of its middle flow) in both precisions, and keeps the answer per CPU, TensorFlow version and
oneDNN setting in the user's cache folder (next to the memory profiles).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from core import settings
from core.runs import run_folders, throughput
from core.training import memory

logger = logging.getLogger(__name__)

#: bfloat16 is chosen only when it runs the probe at least this much faster: below it,
#: the step's other, memory-bound work (casts, depthwise convolutions) eats the gain.
MIN_SPEEDUP = 1.2
#: Xception's middle flow at 128 px: batch 32, 8x8 pixels, 728 channels in and out.
PROBE_SHAPE = (32, 8, 8, 728)
PROBE_REPEATS = 7
#: Part of the cache key: a changed probe measures again (1: a convolution, 2: a matmul).
PROBE_VERSION = 2


def cache_file() -> Path:
    """The JSON file of measured speed-ups, beside the memory profiles."""
    return memory.cache_path().with_name("bfloat16_speedup.json")


def machine_key() -> str:
    """What the answer depends on: the CPU, TensorFlow's version, the oneDNN setting."""
    import tensorflow as tf

    # One model name ("Intel(R) Xeon(R) Processor") covers many CPUs: their flags tell them apart.
    flags = hashlib.sha256(" ".join(sorted(settings.cpu_flags())).encode()).hexdigest()[:8]
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "")
    machine = f"{throughput.machine_id()} (flags {flags})"
    return f"{machine}|tensorflow {tf.__version__}|onednn {onednn}|probe {PROBE_VERSION}"


def measure_speedup(
    shape: tuple[int, int, int, int] = PROBE_SHAPE, repeats: int = PROBE_REPEATS
) -> float:
    """float32 time over bfloat16 time of a pointwise step's forward and backward pass.

    The step is Xception's: (batch x height x width, channels) pixels times a
    (channels, channels) kernel, as :class:`~core.models.layers.MatmulSeparableConv2D`
    computes it.

    The two precisions are timed in turn, ``repeats`` times each after a warm-up, and
    the medians compared, so a load that comes and goes falls on both alike.
    """
    import tensorflow as tf

    channels = shape[-1]
    pixels = tf.random.stateless_normal((math.prod(shape[:-1]), channels), seed=(0, 1))
    kernel = tf.random.stateless_normal((channels, channels), seed=(2, 3)) * 0.05

    def step_for(dtype: Any):
        x, w = tf.cast(pixels, dtype), tf.cast(kernel, dtype)

        @tf.function
        def step() -> Any:
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                y = tf.matmul(x, w)
                loss = tf.reduce_sum(tf.cast(y, "float32"))
            return tape.gradient(loss, [x, w])

        return step

    steps = {dtype: step_for(dtype) for dtype in ("float32", "bfloat16")}
    times: dict[str, list[float]] = {dtype: [] for dtype in steps}
    for step in steps.values():
        step()  # trace and warm up
    for _ in range(repeats):
        for dtype, step in steps.items():
            start = time.perf_counter()
            for tensor in step():
                tensor.numpy()
            times[dtype].append(time.perf_counter() - start)
    median = {dtype: sorted(values)[len(values) // 2] for dtype, values in times.items()}
    return median["float32"] / median["bfloat16"]


def _read() -> dict[str, Any]:
    try:
        return json.loads(cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _store(key: str, speedup: float) -> None:
    path = cache_file()
    try:
        run_folders.write_json(path, {**_read(), key: round(speedup, 3)})
    except OSError as error:  # a read-only cache costs a second next time, nothing more
        logger.warning("could not cache the bfloat16 measurement in %s: %s", path, error)


def bfloat16_speedup() -> float:
    """This machine's measured bfloat16 speed-up (cached; measured on first use, ~1 s)."""
    key = machine_key()
    cached = _read().get(key)
    if isinstance(cached, (int, float)):
        return float(cached)
    try:
        speedup = measure_speedup()
    except Exception:  # any failure means: do not rely on bfloat16
        logger.exception("timing bfloat16 against float32 failed; training in float32")
        return 0.0
    logger.info("bfloat16 ran a pointwise step %.2fx as fast as float32 here", speedup)
    _store(key, speedup)
    return speedup


def bfloat16_timing() -> tuple[bool, str]:
    """Whether bfloat16 is worth it here, and what was measured, in words.

    ``auto``'s question: True when bfloat16 ran this machine's probe at least
    :data:`MIN_SPEEDUP` times faster than float32.
    """
    speedup = bfloat16_speedup()
    if speedup <= 0:
        return False, "timing bfloat16 failed"
    words = f"bfloat16 timed {speedup:.2f}x float32's speed on this machine"
    return speedup >= MIN_SPEEDUP, words
