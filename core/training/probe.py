"""A short speed probe on random pixels, recorded for the Train page.

Before a model has trained on this machine, the Train page has nothing to estimate a
run's duration from; the probe builds the model as a run would (same precision, options,
image size and batch size) and times what an epoch is made of: ``steps`` training steps
after the warm-up, a validation pass and a checkpoint. It records them in
``throughput.json`` (:mod:`core.runs.throughput`), like a real run's fit does.

Example::

    python -m core.training.probe --model cnn --image-size 128 --batch-size 32 --steps 20
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.models import registry
from core.runs import checkpoint_files, throughput
from core.runs.config import TrainConfig

#: Batches of the timed validation pass (one more before it traces the test step).
VAL_BATCHES = 3


def probe(config: TrainConfig, steps: int = 20) -> throughput.StepStats:
    """Time training steps, a validation pass and a checkpoint; record them.

    ``steps`` are timed after :data:`~core.runs.throughput.WARMUP_STEPS`.

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
    model.evaluate(data.take(1), verbose=0)  # traces the test step, as a run's first epoch does
    start = time.perf_counter()
    model.evaluate(data.take(VAL_BATCHES), verbose=0)
    per_val_image = (time.perf_counter() - start) / (VAL_BATCHES * batch)
    throughput.record(
        {**config.to_dict(), "precision": precision},
        "training",
        stats,
        per_val_image,
        origin="probe",
        epoch_fixed_seconds=_checkpoint_seconds(model),
    )
    return stats


def _checkpoint_seconds(model: Any) -> float:
    """Seconds to save one epoch's checkpoint, as a run does.

    The arrays a run's checkpoint holds (model, optimizer, and the best weights kept
    for early stopping), written and synced to disk in the artifacts folder.
    """
    from core.training.checkpoint import epoch_arrays

    start = time.perf_counter()
    arrays = epoch_arrays(model, model.weights)
    folder = throughput.records_path().parent
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="probe-", dir=folder) as scratch:
        checkpoint_files.write(Path(scratch), {"epoch": 1}, arrays)
    return time.perf_counter() - start


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
