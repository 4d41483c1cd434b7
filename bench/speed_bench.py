"""Training-speed benchmark: where each detector's time goes, and what the speed levers buy.

Everything runs in fresh subprocesses (thread settings and XLA are read once per process),
one after another, on synthetic pixels already in memory (the trainer's cached store
feeds the same tensors; the input pipeline is timed on its own):

- the machine: CPU model, the flags that matter (AVX2, AVX-512, AVX512-BF16, AMX), cores;
- the peak: a float32 (and bfloat16) 2048x2048 matmul and a 3x3 convolution, GFLOP/s;
- a profile per model at the defaults (128 px, batch 32): forward and forward+backward
  time of each block (layers timed one by one, summed by name prefix), the optimizer
  update, the input pipeline, and the forward GFLOPs (TensorFlow's profiler); then a
  training step's time by op type (a profiler trace), before issue 24 and today;
- throughput per model and lever (batch size, thread settings, XLA, bfloat16, fused
  batch norm, the CNN stem stride): images/s from the median time of a training step after warm-up,
  as a ratio against the configuration before issue 24 measured in the same run.

Run: ``nice -n 10 python -m bench.speed_bench [--models cnn capsnet xception] [--batches 40]``.
``--interleaved`` instead builds a model's configurations (before issue 24, today's options
in float32, each changed option alone, today's default in its own precision where that is
not float32) in one process and takes their training steps in turn, for ratios that a
shared machine's changing load cannot move.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench._record import record_section

IMAGE_SIZE = 128
BATCH = 32
WARMUP = 5
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")


def cpu_facts() -> dict:
    """CPU model, family and model number, the flags that matter here, and the core count.

    ``machine`` names the CPU in titles (one model name, "AMD EPYC", covers several
    generations, told apart by family and model number: bfloat16 is twice float32's
    speed on one and slower on another); ``key`` names its sections in BENCHMARKS.md.
    """
    from core import settings

    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        text = ""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    model = fields.get("model name", "unknown")
    flags = settings.cpu_flags(text)
    vendor = (
        next((name for name in ("AMD EPYC", "Intel Xeon") if name in model.replace("(R)", "")), "")
        or model
    )
    family, number = fields.get("cpu family", "?"), fields.get("model", "?")
    return {
        "model": model,
        "machine": f"{vendor} (family {family}, model {number})",
        "key": f"{vendor.split()[0].lower()}-{family}-{number}",
        "flags": [f for f in FLAGS if f in flags],
        "cores": os.cpu_count(),
    }


# --- workers (each in its own process) ---------------------------------------------


def _setup(variant: dict):
    from core import settings

    settings.enable_onednn()
    import tensorflow as tf

    if variant.get("intra"):
        tf.config.threading.set_intra_op_parallelism_threads(variant["intra"])
    if variant.get("inter"):
        tf.config.threading.set_inter_op_parallelism_threads(variant["inter"])
    if variant.get("unpadded"):
        from core.models.layers import FusedBatchNormalization

        FusedBatchNormalization.bfloat16_channel_multiple = 1
    return tf


def _best_rate(function, arg, flops: float, rounds: int = 5, reps: int = 5) -> float:
    """GFLOP/s of the fastest of ``rounds`` timings: a peak, not the load's average."""
    function(arg).numpy()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            result = function(arg)
        result.numpy()
        best = min(best, (time.perf_counter() - start) / reps)
    return flops / best / 1e9


def _peak(_: dict) -> dict:
    tf = _setup({})
    out = {}
    for dtype in ("float32", "bfloat16"):
        a = tf.cast(tf.random.normal((2048, 2048)), dtype)
        matmul = tf.function(lambda x: tf.matmul(x, x))
        out[f"matmul_{dtype}"] = _best_rate(matmul, a, 2 * 2048**3)
    x = tf.random.normal((32, 64, 64, 64))
    kernel = tf.random.normal((3, 3, 64, 64))
    conv = tf.function(lambda v: tf.nn.conv2d(v, kernel, 1, "SAME"))
    out["conv3x3_float32"] = _best_rate(conv, x, 2 * 32 * 64 * 64 * 9 * 64 * 64)
    return out


def _build(variant: dict):
    import keras

    from core.models import registry

    keras.utils.set_random_seed(0)
    options = {"image_size": IMAGE_SIZE, "augment": True, "seed": 0, **variant.get("options", {})}
    precision = variant.get("precision", "float32")
    model = registry.build(variant["model"], precision=precision, **options)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0),
            keras.metrics.AUC(name="auc", from_logits=True),
        ],
        jit_compile=bool(variant.get("xla")),
    )
    return model


def _data(tf, batch: int, batches: int):
    """Cached in-memory batches, as the trainer's decoded store gives them."""
    rng = __import__("numpy").random.default_rng(0)
    pixels = rng.integers(0, 256, (batch * 8, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    labels = rng.integers(0, 2, (batch * 8, 1)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((pixels, labels)).cache().batch(batch)
    return data.repeat().take(batches).prefetch(tf.data.AUTOTUNE)


def _throughput(variant: dict) -> dict:
    tf = _setup(variant)
    import keras

    model = _build(variant)
    batch = variant.get("batch", BATCH)
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, index, logs=None):
            self.begin = time.perf_counter()

        def on_train_batch_end(self, index, logs=None):
            times.append(time.perf_counter() - self.begin)

    steps = WARMUP + variant["batches"]
    model.fit(_data(tf, batch, steps), epochs=1, verbose=0, shuffle=False, callbacks=[Clock()])
    steady = sorted(times[WARMUP:])
    median = statistics.median(steady)
    return {
        "images_per_s": batch / median,
        "p10_s": steady[len(steady) // 10],
        "p90_s": steady[(9 * len(steady)) // 10],
        "first_s": times[0],
        "batch_s": median,
    }


def _interleaved(variant: dict) -> dict:
    """Float32 configurations of one model built in one process, their training steps
    taken in turn: a load that comes and goes falls on every configuration alike."""
    tf = _setup(variant)
    configs = variant["configs"]
    batch = BATCH
    pixels, labels = next(iter(_data(tf, batch, 1)))
    models = [_build({"model": variant["model"], **config}) for config in configs]
    for model in models:
        for _ in range(3):  # trace, then warm up
            model.train_on_batch(pixels, labels)
    times: list[list[float]] = [[] for _ in models]
    for _ in range(variant["batches"]):
        for model, taken in zip(models, times, strict=True):
            start = time.perf_counter()
            model.train_on_batch(pixels, labels)
            taken.append(time.perf_counter() - start)
    rows = []
    for taken in times:
        # Per round, the baseline's step over this one's: paired, so the load cancels.
        paired = [base / own for base, own in zip(times[0], taken, strict=True)]
        ordered = sorted(taken)
        rows.append(
            {
                "images_per_s": batch / statistics.median(taken),
                "p10_s": ordered[len(ordered) // 10],
                "p90_s": ordered[(9 * len(ordered)) // 10],
                "paired_ratio": statistics.median(paired),
            }
        )
    return {"rows": rows}


def _time(function, *args, reps: int = 3) -> float:
    function(*args)  # trace and warm up
    start = time.perf_counter()
    for _ in range(reps):
        result = function(*args)
    _ = [t.numpy() for t in __import__("tensorflow").nest.flatten(result) if t is not None]
    return (time.perf_counter() - start) / reps


def _layer_times(tf, layer) -> tuple[float, float]:
    """Forward and forward+backward seconds of one layer on a batch of its input."""
    spec = layer.input
    shapes = [t.shape for t in spec] if isinstance(spec, list) else [spec.shape]
    inputs = [tf.random.uniform((BATCH, *shape[1:]), 0, 255) for shape in shapes]
    arg = inputs if isinstance(spec, list) else inputs[0]

    forward = tf.function(lambda x: layer(x, training=True))

    @tf.function
    def backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, tf.float32))
        return tape.gradient(loss, [x, *layer.trainable_weights])

    return _time(forward, arg), _time(backward, arg)


def _flops(tf, model) -> float:
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec((1, IMAGE_SIZE, IMAGE_SIZE, 3)))
    graph = convert_variables_to_constants_v2(concrete).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=graph, options=options)
    return info.total_float_ops / 1e9


def _profile(variant: dict) -> dict:
    tf = _setup(variant)
    import keras

    model = _build(variant)
    blocks: dict[str, list[float]] = {}
    layers = []
    for layer in model.layers:
        inner = layer.layers if isinstance(layer, keras.Model) else [layer]
        layers += [item for item in inner if not isinstance(item, keras.layers.InputLayer)]
    for layer in layers:
        forward, both = _layer_times(tf, layer)
        totals = blocks.setdefault(layer.name.split("_")[0], [0.0, 0.0])
        totals[0] += forward
        totals[1] += both
    grads = [tf.zeros_like(v) for v in model.trainable_variables]
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    step = tf.function(lambda g: optimizer.apply(g, model.trainable_variables))
    data = iter(_data(tf, BATCH, 60))
    next(data)
    start = time.perf_counter()
    for _ in range(50):
        next(data)
    pipeline = (time.perf_counter() - start) / 50
    return {
        "blocks": blocks,
        "optimizer_s": _time(step, grads),
        "pipeline_s": pipeline,
        "gflops": _flops(tf, model),
    }


def _xla_ops(_: dict) -> dict:
    """Forward+backward of the CNN's high-resolution ops, with and without XLA."""
    tf = _setup({})
    x = tf.random.normal((BATCH, 64, 64, 128))
    ops = {
        "conv 3x3 32->64 (stem)": (
            tf.random.normal((BATCH, 64, 64, 32)),
            lambda v, w: tf.nn.conv2d(v, w, 1, "SAME"),
            tf.Variable(tf.random.normal((3, 3, 32, 64))),
        ),
        "depthwise 3x3 (128 ch)": (
            x,
            lambda v, w: tf.nn.depthwise_conv2d(v, w, [1, 1, 1, 1], "SAME"),
            tf.Variable(tf.random.normal((3, 3, 128, 1))),
        ),
        "pointwise 1x1 128->128": (
            x,
            lambda v, w: tf.nn.conv2d(v, w, 1, "SAME"),
            tf.Variable(tf.random.normal((1, 1, 128, 128))),
        ),
        "batch norm (128 ch)": (
            x,
            lambda v, w: tf.nn.batch_normalization(
                v, *tf.nn.moments(v, [0, 1, 2]), w[0], w[1], 1e-3
            ),
            tf.Variable(tf.ones((2, 128))),
        ),
    }
    out = {}
    for name, (value, op, weight) in ops.items():
        for jit in (False, True):

            @tf.function(jit_compile=jit)
            def step(v, op=op, weight=weight):
                with tf.GradientTape() as tape:
                    tape.watch(v)
                    loss = tf.reduce_sum(op(v, weight))
                return tape.gradient(loss, [v, weight])

            out[f"{name}|{'xla' if jit else 'default'}"] = _time(step, value, reps=5)
    return out


#: Xception's separable convolutions at 128 px: (side, channels in, filters, how many).
XCEPTION_SEPARABLE = (
    (61, 64, 128, 1),
    (61, 128, 128, 1),
    (31, 128, 256, 1),
    (31, 256, 256, 1),
    (16, 256, 728, 1),
    (16, 728, 728, 1),
    (8, 728, 728, 25),
    (8, 728, 1024, 1),
    (4, 1024, 1536, 1),
    (4, 1536, 2048, 1),
)


def _pointwise_ops(_: dict) -> dict:
    """Forward+backward of each of Xception's separable convolutions, Keras's layer
    against :class:`~core.models.layers.MatmulSeparableConv2D`, timed in turn."""
    tf = _setup({})
    import keras

    from core.models.layers import MatmulSeparableConv2D

    out = {}
    for side, channels, filters, _count in XCEPTION_SEPARABLE:
        x = tf.random.normal((BATCH, side, side, channels))
        steps = {}
        for kind in (keras.layers.SeparableConv2D, MatmulSeparableConv2D):
            layer = kind(filters, 3, padding="same", use_bias=False)
            layer.build(x.shape)
            if steps:  # the same weights for both
                layer.set_weights(next(iter(steps.values()))[1].get_weights())

            @tf.function
            def step(v, layer=layer):
                with tf.GradientTape() as tape:
                    tape.watch(v)
                    loss = tf.reduce_sum(layer(v))
                return tape.gradient(loss, [v, *layer.trainable_weights])

            steps[kind.__name__] = (step, layer)
        times: dict[str, list[float]] = {name: [] for name in steps}
        for step, _layer in steps.values():
            step(x)  # trace
        for _ in range(7):
            for name, (step, _) in steps.items():
                start = time.perf_counter()
                for tensor in step(x):
                    tensor.numpy()
                times[name].append(time.perf_counter() - start)
        for name, taken in times.items():
            out[f"{side}|{channels}|{filters}|{name}"] = statistics.median(taken)
    return out


def _op_times(variant: dict) -> dict:
    """Milliseconds per training step spent in each TensorFlow op type (profiler trace).

    Where a block table cannot see it: Keras 3 composes batch norm from a dozen
    element-wise ops (Mul, Sum, Mean, Sub, SquaredDifference, Cast, ...) forward and
    as many backward, and this table shows them as what they cost.
    """
    import collections
    import tempfile

    tf = _setup(variant)
    model = _build(variant)
    pixels, labels = next(iter(_data(tf, variant.get("batch", BATCH), 1)))
    for _ in range(WARMUP):
        model.train_on_batch(pixels, labels)
    steps = 3
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            model.train_on_batch(pixels, labels)
        tf.profiler.experimental.stop()
        from tensorflow.tsl.profiler.protobuf import xplane_pb2

        (trace,) = Path(logdir).rglob("*.xplane.pb")
        space = xplane_pb2.XSpace.FromString(trace.read_bytes())
    totals: collections.Counter = collections.Counter()
    for plane in space.planes:
        for line in (line for line in plane.lines if line.name.startswith("tf_Compute")):
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name  # "scope/name:OpType"
                if ":" in name and "::" not in name:
                    totals[name.rsplit(":", 1)[1]] += event.duration_ps / 1e9 / steps
    return {"ops_ms": dict(totals)}


WORKERS = {
    "peak": _peak,
    "throughput": _throughput,
    "profile": _profile,
    "xla_ops": _xla_ops,
    "ops": _op_times,
    "interleaved": _interleaved,
    "pointwise_ops": _pointwise_ops,
}


def _in_subprocess(kind: str, variant: dict) -> dict:
    """Run one worker in a fresh Python; its JSON result (or the error it hit)."""
    command = [sys.executable, "-m", "bench.speed_bench", "--worker", kind, json.dumps(variant)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


# --- the run ------------------------------------------------------------------------


#: The configuration before issue 24 (the ratios' baseline), per model: Keras's own batch
#: norm, and stem stride 1 for the two models that have a stem option.
BEFORE = {
    "cnn": {"options": {"stem_stride": 1, "fused_batch_norm": False}},
    "capsnet": {"options": {"stem_stride": 1, "fused_batch_norm": False}},
    "xception": {"options": {"fused_batch_norm": False, "pointwise_matmul": False}},
}


#: The row that times today's network in float32 when its default precision is another.
FLOAT32_TODAY = "today's network in float32"


def todays_default(model: str) -> dict:
    """The configuration a run gets today: the options' defaults, the default precision
    (``auto`` decided as a run decides it, bfloat16 timed against float32 here)."""
    from core import settings
    from core.models import registry
    from core.training import distribute

    settings.enable_onednn()
    spec = registry.get_spec(model)
    precision = distribute.training_precision(False, default=spec.default_precision)
    return {"options": spec.defaults(), "precision": precision}


def levers(model: str) -> list[tuple[str, dict]]:
    """The configurations measured for ``model``: the one before issue 24 first (the
    baseline), today's default, then one lever each on the baseline."""
    from core.models import registry

    before = BEFORE.get(model, {})
    today = todays_default(model)
    stride = today["options"].get("stem_stride")
    fused = today["options"].get("fused_batch_norm") and "fused batch norm"
    matmul = today["options"].get("pointwise_matmul") and "pointwise matmul"
    shown = ", ".join(
        filter(None, [stride and f"stem_stride {stride}", fused, matmul, today["precision"]])
    )
    found = [
        (
            "before issue 24 (stem stride 1, Keras batch norm, float32, batch 32)"
            if stride
            else "before issue 24 (Keras batch norm, float32, batch 32)",
            before,
        ),
        (f"**today's default** ({shown})", today),
        ("batch 64", {**before, "batch": 64}),
        ("threads intra 2 / inter 1", {**before, "intra": 2, "inter": 1}),
        ("XLA (jit_compile)", {**before, "xla": True}),
        ("mixed_bfloat16", {**before, "precision": "mixed_bfloat16"}),
        (
            "fused batch norm",
            {**before, "options": {**before["options"], "fused_batch_norm": True}},
        ),
    ]
    if model == "xception":  # the thread and XLA levers lost on both smaller models
        found = [item for item in found if not item[0].startswith(("threads", "XLA"))]
        matmul_only = {**before["options"], "pointwise_matmul": True}
        found.append(("pointwise step as a matrix product", {**before, "options": matmul_only}))
    if registry.get_spec(model).default_precision == "auto":  # bfloat16 where it is faster
        bfloat16 = {**today, "precision": "mixed_bfloat16"}
        if today["precision"] != "mixed_bfloat16":
            found.append(("today's network in mixed_bfloat16 (not chosen: timed slower)", bfloat16))
        found.append(
            ("today's network in bfloat16, channels unpadded", {**bfloat16, "unpadded": True})
        )
    if today["precision"] != "float32":  # for the profile's share of the float32 peak
        found.append((FLOAT32_TODAY, {**today, "precision": "float32"}))
    return found


def interleaved_levers(model: str) -> list[tuple[str, dict]]:
    """Configurations to take in turn: before issue 24, today's options in float32, each
    option that changed since alone on the configuration before (float32), and today's
    default in its own precision where that is another (bfloat16 where *auto* chose it)."""
    before = BEFORE.get(model, {"options": {}})
    default = todays_default(model)
    today = default["options"]
    found = [
        ("before issue 24 (float32)", before),
        ("today's options, float32", {"options": today}),
    ]
    for name, value in today.items():
        if before["options"].get(name, value) != value:
            alone = {**before["options"], name: value}
            found.append((f"`{name}={value}` alone", {"options": alone}))
    if default["precision"] != "float32":
        found.append((f"**today's default** ({default['precision']})", default))
    return found


def _record_interleaved(model: str, batches: int) -> None:
    cpu = cpu_facts()
    levers_found = interleaved_levers(model)
    variant = {"model": model, "batches": batches, "configs": [c for _, c in levers_found]}
    result = _in_subprocess("interleaved", variant)
    if "error" in result:
        print(f"{model}: failed: {result['error']}")
        return
    rows = [
        "| configuration | images/s | ratio (median per round) | step p10-p90 s |",
        "|---|---|---|---|",
    ]
    for (label, _), row in zip(levers_found, result["rows"], strict=True):
        rows.append(
            f"| {label} | {row['images_per_s']:.1f} | {row['paired_ratio']:.2f}x | "
            f"{row['p10_s']:.2f}-{row['p90_s']:.2f} |"
        )
    markdown = "\n".join(
        [
            f"## Training speed, interleaved: {model} on {cpu['machine']} "
            f"(`bench.speed_bench --interleaved --models {model}`)",
            "",
            f"CPU: {cpu['model']}, {cpu['cores']} cores; flags: {', '.join(cpu['flags'])}. "
            "Every configuration built in one process, float32 unless named, "
            f"{IMAGE_SIZE} px, batch {BATCH}; {batches} rounds, each one training step of "
            "every configuration in turn, after 3 warm-up steps each. Ratio: the median "
            "over rounds of the first row's step time over this row's, so a load that comes "
            "and goes cancels.",
            "",
            *rows,
        ]
    )
    print(markdown, flush=True)
    record_section(f"speed-{model}-{cpu['key']}-interleaved", markdown)


def _profile_table(model: str, result: dict, train_ips: float | None, peak: float) -> str:
    if "error" in result:
        return f"{model}: profile failed: {result['error']}\n"
    rows = [
        f"**{model}**: {result['gflops']:.2f} GFLOPs forward per image; optimizer update "
        f"{result['optimizer_s'] * 1e3:.1f} ms/step; input pipeline "
        f"{result['pipeline_s'] * 1e3:.2f} ms/batch.",
    ]
    if train_ips:
        sustained = 3 * result["gflops"] * train_ips
        rows[0] += (
            f" Training at {train_ips:.1f} images/s sustains ~{sustained:.0f} GFLOP/s "
            f"(3x forward), {100 * sustained / peak:.0f}% of the float32 matmul peak."
        )
    total_b = sum(both for _, both in result["blocks"].values()) or 1.0
    rows += ["", "| block | forward ms | fwd+bwd ms | share of fwd+bwd |", "|---|---|---|---|"]
    for name, (forward, both) in result["blocks"].items():
        rows.append(
            f"| {name} | {forward * 1e3:.1f} | {both * 1e3:.1f} | {100 * both / total_b:.0f}% |"
        )
    return "\n".join(rows) + "\n"


def _ops_table(model: str, before: dict, today: dict, shown: int = 14) -> str:
    """Op types by time per training step, before issue 24 and today (ms, share)."""
    if "error" in before or "error" in today:
        return f"{model}: op profile failed: {before.get('error') or today.get('error')}\n"
    old, new = before["ops_ms"], today["ops_ms"]
    total_old, total_new = sum(old.values()) or 1.0, sum(new.values()) or 1.0
    kinds = sorted(set(old) | set(new), key=lambda k: -max(old.get(k, 0), new.get(k, 0)))
    rows = [
        f"Op types by time per training step ({model}, batch {BATCH}, {IMAGE_SIZE} px; "
        "TensorFlow's profiler, the mean of 3 steps; `_MklNative*` are oneDNN's kernels):",
        "",
        "| op type | before issue 24 ms | share | today's default ms | share |",
        "|---|---|---|---|---|",
    ]
    for kind in kinds[:shown]:
        a, b = old.get(kind, 0.0), new.get(kind, 0.0)
        share_a, share_b = 100 * a / total_old, 100 * b / total_new
        rows.append(f"| {kind} | {a:.0f} | {share_a:.0f}% | {b:.0f} | {share_b:.0f}% |")
    rows.append(f"| all ops | {total_old:.0f} | 100% | {total_new:.0f} | 100% |")
    return "\n".join(rows) + "\n"


def _record_xla_ops() -> None:
    result = _in_subprocess("xla_ops", {})
    if "error" in result:
        print(result["error"])
        return
    rows = [
        "| op (batch 32, 64x64) | fwd+bwd ms | with XLA ms | XLA / default |",
        "|---|---|---|---|",
    ]
    for key in [k for k in result if k.endswith("|default")]:
        name = key.split("|")[0]
        default, xla = result[key], result[f"{name}|xla"]
        rows.append(f"| {name} | {default * 1e3:.1f} | {xla * 1e3:.1f} | {xla / default:.1f}x |")
    markdown = "\n".join(
        [
            "## Why XLA is slower on this CPU (`bench.speed_bench --xla-ops`)",
            "",
            "Forward and backward of the CNN's high-resolution operations alone, each "
            "compiled with `tf.function` with and without `jit_compile`.",
            "",
            *rows,
        ]
    )
    print(markdown)
    record_section("speed-xla", markdown)


def _record_pointwise_ops() -> None:
    result = _in_subprocess("pointwise_ops", {})
    if "error" in result:
        print(result["error"])
        return
    cpu = cpu_facts()
    rows = [
        "| pixels | channels -> filters | layers in Xception | Keras's layer ms | "
        "pointwise as matmul ms | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    totals = [0.0, 0.0]
    for side, channels, filters, count in XCEPTION_SEPARABLE:
        key = f"{side}|{channels}|{filters}"
        stock, matmul = result[f"{key}|SeparableConv2D"], result[f"{key}|MatmulSeparableConv2D"]
        totals[0] += count * stock
        totals[1] += count * matmul
        rows.append(
            f"| {side}x{side} | {channels} -> {filters} | {count} | {stock * 1e3:.1f} | "
            f"{matmul * 1e3:.1f} | {stock / matmul:.2f}x |"
        )
    rows.append(
        f"| **all 34** | | | {totals[0] * 1e3:.0f} | {totals[1] * 1e3:.0f} | "
        f"{totals[0] / totals[1]:.2f}x |"
    )
    markdown = "\n".join(
        [
            f"## Xception's separable convolutions, pointwise step as a matmul, on "
            f"{cpu['machine']} (`bench.speed_bench --pointwise-ops`)",
            "",
            f"CPU: {cpu['model']}, {cpu['cores']} cores; flags: {', '.join(cpu['flags'])}. "
            f"Each separable convolution of Xception at {IMAGE_SIZE} px alone (depthwise "
            f"3x3 and pointwise 1x1, batch {BATCH}, float32), forward and backward: Keras's "
            "layer and `MatmulSeparableConv2D` with the same weights, timed in turn, "
            "median of 7. The last row weighs each shape by how many layers have it.",
            "",
            *rows,
        ]
    )
    print(markdown)
    record_section(f"speed-pointwise-{cpu['key']}", markdown)


def main(argv: list[str] | None = None) -> None:
    """Measure, print the tables and record them in docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cnn", "capsnet", "xception"])
    parser.add_argument("--batches", type=int, default=40, help="timed steps after warm-up")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--xla-ops", action="store_true", help="only time ops with/without XLA")
    parser.add_argument(
        "--pointwise-ops",
        action="store_true",
        help="only time Xception's separable convolutions with and without the matmul",
    )
    parser.add_argument(
        "--interleaved",
        action="store_true",
        help="only the configurations before and today, their steps taken in turn in one process",
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker[0]](json.loads(args.worker[1]))), flush=True)
        return
    if args.xla_ops:
        _record_xla_ops()
        return
    if args.pointwise_ops:
        _record_pointwise_ops()
        return
    if args.interleaved:
        for model in args.models:
            _record_interleaved(model, args.batches)
        return
    cpu = cpu_facts()
    peak = _in_subprocess("peak", {})
    lines = [
        f"CPU: {cpu['model']}, {cpu['cores']} cores; flags: {', '.join(cpu['flags'])}.",
        "Peak (same run, best of 5 timings): float32 matmul "
        f"{peak.get('matmul_float32', 0):.0f} GFLOP/s, "
        f"bfloat16 matmul {peak.get('matmul_bfloat16', 0):.0f} GFLOP/s, 3x3 conv "
        f"(64 ch, 64x64, batch 32) {peak.get('conv3x3_float32', 0):.0f} GFLOP/s.",
        f"Throughput: median step time over {args.batches} steps after {WARMUP} warm-up "
        f"steps, synthetic pixels in memory, {IMAGE_SIZE} px; ratio against the "
        "configuration before issue 24 of the same model in this run (measured first and "
        "again last, to show drift); today's default is the second row.",
        "",
        "| model | configuration | images/s | ratio | step p10-p90 s | first step s |",
        "|---|---|---|---|---|---|",
    ]
    for model in args.models:
        rows, base = [], None
        measured, rates = levers(model), {}
        for label, change in [*measured, ("before again (drift)", measured[0][1])]:
            variant = {"model": model, "batches": args.batches, **change}
            result = _in_subprocess("throughput", variant)
            if "error" in result:
                rows.append(f"| {model} | {label} | failed: {result['error'][:80]} | | | |")
                continue
            base = base or result["images_per_s"]
            rates[label] = result["images_per_s"]
            rows.append(
                f"| {model} | {label} | {result['images_per_s']:.1f} | "
                f"{result['images_per_s'] / base:.2f}x | {result['p10_s']:.2f}-"
                f"{result['p90_s']:.2f} | {result['first_s']:.1f} |"
            )
            print(rows[-1], flush=True)
        profile = ""
        if not args.no_profile:  # today's network, and its float32 rate against the float32 peak
            result = _in_subprocess("profile", {"model": model})
            today_label, today = measured[1]
            float32_label = today_label if today["precision"] == "float32" else FLOAT32_TODAY
            train_ips = rates.get(float32_label)
            profile = _profile_table(model, result, train_ips, peak.get("matmul_float32", 1))
            ops = [_in_subprocess("ops", {"model": model, **measured[i][1]}) for i in (0, 1)]
            profile += "\n" + _ops_table(model, *ops)
        title = (
            f"## Training speed: {model} on {cpu['machine']} (`bench.speed_bench --models {model}`)"
        )
        markdown = "\n".join([title, "", *lines, *rows, "", profile])
        print(markdown, flush=True)
        record_section(f"speed-{model}-{cpu['key']}", markdown)


if __name__ == "__main__":
    main()
