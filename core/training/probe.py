"""A short speed probe: a few training steps on random pixels, recorded for the Train page.

Before a model has trained on this machine, the Train page has nothing to estimate a
run's duration from; the probe builds the model as a run would (same precision, options,
image size and batch size), times ``steps`` training steps after the warm-up and records
the rate in ``throughput.json`` (:mod:`core.runs.throughput`), like a real run's fit does.

Example::

    python -m core.training.probe --model cnn --image-size 128 --batch-size 32 --steps 20
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from core.models import registry
from core.runs import throughput
from core.runs.config import TrainConfig


def probe(config: TrainConfig, steps: int = 20) -> throughput.StepStats:
    """Time ``steps`` training steps (after :data:`~core.runs.throughput.WARMUP_STEPS`).

    Args:
        config: the model, image size, batch size and options to time.
        steps: steps timed after the warm-up.

    Returns:
        The step times; they are also recorded for this machine.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from core.training import distribute
    from core.training.trainer import compile_model

    keras.utils.set_random_seed(config.seed)
    precision = distribute.training_precision(
        bool(tf.config.list_physical_devices("GPU")),
        default=registry.get_spec(config.model).default_precision,
    )
    build_args: dict[str, Any] = {"image_size": config.image_size, "augment": config.augment}
    build_args.update(seed=config.seed, **config.options)
    model = registry.build(config.model, precision=precision, **build_args)
    compile_model(model, config.learning_rate)
    clock = throughput.StepClock()

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            clock.add(time.perf_counter() - self.start)

    rng = np.random.default_rng(config.seed)
    size, batch = config.image_size, config.batch_size
    pixels = rng.integers(0, 256, (batch * 4, size, size, 3)).astype("float32")
    labels = rng.integers(0, 2, (batch * 4, 1)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((pixels, labels)).cache().batch(batch).repeat()
    total = throughput.WARMUP_STEPS + steps
    model.fit(data.take(total), epochs=1, verbose=0, shuffle=False, callbacks=[Timer()])
    stats = clock.stats()
    assert stats is not None  # steps >= 1 were timed after the warm-up
    throughput.record(config.to_dict(), "training", stats, origin="probe")
    return stats


#: A probe that takes longer is stopped (a busy machine; the first run will measure).
PROBE_TIMEOUT_S = 300


def probe_in_subprocess(config: TrainConfig, steps: int = 10) -> str | None:
    """Run :func:`probe` in a fresh Python (the caller needs no TensorFlow).

    Returns:
        None when the rate was recorded, else one sentence saying what went wrong.
    """
    command = [
        sys.executable, "-m", "core.training.probe", "--model", config.model,
        "--image-size", str(config.image_size), "--batch-size", str(config.batch_size),
        "--steps", str(steps),
    ]  # fmt: skip
    for name, value in config.to_dict()["options"].items():
        text = ",".join(map(str, value)) if isinstance(value, list) else json.dumps(value)
        command += ["--option", f"{name}={text}"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return f"The speed probe took over {PROBE_TIMEOUT_S} s and was stopped; start the run."
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        return f"The speed probe failed: {last}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """The probe's command line; prints the measured images per second."""
    parser = argparse.ArgumentParser(
        prog="python -m core.training.probe", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", choices=registry.list_models(), default="cnn")
    parser.add_argument("--image-size", type=int, default=TrainConfig.image_size)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--steps", type=int, default=20, help="steps timed after the warm-up")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    options = dict(item.split("=", 1) for item in args.option)
    config = TrainConfig(
        model=args.model, image_size=args.image_size, batch_size=args.batch_size, options=options
    )
    stats = probe(config, max(1, args.steps))
    print(
        f"{registry.display_name(args.model)} at {args.image_size} px, batch {args.batch_size}: "
        f"{args.batch_size / stats.mean:.1f} training images/s "
        f"(steps {stats.low:.2f}-{stats.high:.2f} s); recorded in {throughput.records_path()}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
