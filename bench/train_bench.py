"""Training benchmark: accuracy of each detector on the shared FFHQ/StyleGAN2 data, and
our input pipeline's throughput against the original project's naive one.

For each model: ``core.training.trainer.train`` on all of ``Dataset/Train`` (early stopping on
Validation AUC; Test is never used for any choice), then the Test metrics. Then, in
fresh subprocesses (TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, at import), the
same CNN fed three ways for a few epochs:

- naive: ``keras.utils.image_dataset_from_directory`` straight into ``fit``, no
  caching, TensorFlow's defaults (the original project's way);
- ours: images decoded once through ``core.data.images``, cached ``tf.data``, oneDNN on,
  in the precision ``core.training.trainer`` uses (``DEEPFAKE_PRECISION``, default float32);
- ours without oneDNN (``TF_ENABLE_ONEDNN_OPTS=0``), to measure what oneDNN brings.

Throughput is training images per second over the epochs after the first (which
pays for tracing). Run: ``python -m bench.train_bench [--models cnn capsnet] [--epochs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from core import settings

FFHQ = settings.REPO_ROOT.parent / "shared" / "data" / "ffhq-stylegan2" / "Dataset"
THROUGHPUT_EPOCHS = 3
#: Each model must finish within 10 minutes here; training stops at this many seconds.
TIME_BUDGET_S = 540.0


def _time_limit(seconds: float):
    """A callback that ends training once ``seconds`` have passed (best weights still restored)."""
    import keras

    class TimeLimit(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.hit = False

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if time.perf_counter() - self.start > seconds:
                self.hit = True
                self.model.stop_training = True

    return TimeLimit()


def _throughput_worker(mode: str, image_size: int, epochs: int) -> None:
    """Fit the CNN for ``epochs`` epochs fed the ``mode`` way; print JSON timings."""
    if mode != "naive":
        settings.enable_onednn()
    import keras

    from core.models import registry
    from core.training.trainer import compile_model

    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    if mode == "naive":
        data = keras.utils.image_dataset_from_directory(
            FFHQ / "Train",
            labels="inferred",
            label_mode="binary",
            class_names=["Fake", "Real"],
            image_size=(image_size, image_size),
            batch_size=32,
            shuffle=True,
            seed=0,
        )
        count = sum(1 for folder in ("Fake", "Real") for _ in (FFHQ / "Train" / folder).iterdir())
    else:
        from core.data.catalog import index_dataset, load_images, make_dataset

        index = index_dataset(FFHQ)
        loaded = load_images(index.root, index.splits["Train"], image_size)
        data = make_dataset(loaded, 32, shuffle=True, seed=0)
        count = len(loaded.labels)
    prepare = time.perf_counter() - start
    # Ours trains in the precision core.training.trainer uses (DEEPFAKE_PRECISION).
    precision = "float32" if mode == "naive" else settings.training_precision(has_gpu=False)
    model = registry.build("cnn", image_size=image_size, seed=0, precision=precision)
    compile_model(model, 1e-3)
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.begin = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.begin)

    model.fit(data, epochs=epochs, callbacks=[Timer()], verbose=0)
    steady = sum(times[1:]) or times[0]
    steady_images = count * max(1, len(times) - 1)
    print(
        "THROUGHPUT "
        + json.dumps(
            {
                "mode": mode,
                "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"),
                "precision": precision,
                "prepare_s": round(prepare, 2),
                "epoch_s": [round(t, 2) for t in times],
                "images_per_second": round(steady_images / steady, 2),
            }
        ),
        flush=True,
    )


def _run_worker(mode: str, image_size: int, onednn: str | None) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    if onednn is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.train_bench",
            "--throughput-worker",
            mode,
            "--image-size",
            str(image_size),
        ],
        cwd=settings.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("THROUGHPUT "))
    return json.loads(line.removeprefix("THROUGHPUT "))


def accuracy_rows(
    models: list[str], image_size: int, epochs: int | None, budget: float = TIME_BUDGET_S
) -> list[dict]:
    """Train every model on the full FFHQ Train split and return its Test metrics."""
    settings.enable_onednn()
    from core.runs.config import TrainConfig
    from core.training.trainer import train

    rows = []
    for name in models:
        values = {"model": name, "data_dir": str(FFHQ), "image_size": image_size}
        if epochs:
            values["epochs"] = epochs
        config = TrainConfig(**values)
        print(f"--- {name}: {config}", flush=True)
        limit = _time_limit(budget)
        result = train(config, callbacks=[limit], echo=True)
        metrics = result.metrics or {}
        rows.append(
            {
                "model": metrics.get("model_display", name),
                "params": metrics.get("params"),
                "epochs": metrics.get("epochs_run"),
                "max_epochs": config.epochs,
                "train_s": metrics.get("train_seconds"),
                "images_per_s": metrics.get("images_per_second"),
                "loss": metrics.get("loss"),
                "accuracy": metrics.get("accuracy"),
                "auc": metrics.get("auc"),
                "balanced_accuracy": metrics.get("balanced_accuracy"),
                "weights": "; ".join(
                    note
                    for note in (
                        metrics.get("weights_message"),
                        "stopped by the time budget" if limit.hit else "",
                    )
                    if note
                ),
                "run": result.run_dir.name,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict], throughput: dict[str, dict], image_size: int) -> str:
    """The benchmark's section of docs/BENCHMARKS.md."""
    lines = [
        "## Training (`python -m bench.train_bench`)",
        "",
        f"Full FFHQ/StyleGAN2 Train split (300 real, 100 fake), {image_size} px, early stopping",
        "on Validation AUC (60 images), metrics on the Test split (30 real, 30 fake).",
        "",
        "| model | params | epochs (max) | train s | images/s | test loss | accuracy | AUC |"
        " balanced acc. | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['params']:,} | {row['epochs']} ({row['max_epochs']}) | "
            f"{row['train_s']:.0f} | {row['images_per_s']:.1f} | {row['loss']:.3f} | "
            f"{row['accuracy']:.3f} | {row['auc']:.3f} | {row['balanced_accuracy']:.3f} | "
            f"{row['weights']} |"
        )
    if throughput:
        naive = throughput["naive"]["images_per_second"]
        ours = throughput["ours"]["images_per_second"]
        lines += [
            "",
            f"Input pipeline, CNN at {image_size} px, {THROUGHPUT_EPOCHS} epochs on Train,"
            " images/s after the first epoch (same run, fresh processes):",
            "",
            "| pipeline | oneDNN | precision | one-time preparation s | images/s"
            " | ratio to naive |",
            "|---|---|---|---:|---:|---:|",
        ]
        labels = {
            "naive": "naive: image_dataset_from_directory, no cache",
            "ours": "ours: decoded once, cached tf.data, training precision",
            "ours_no_onednn": "ours, oneDNN off",
        }
        for key, label in labels.items():
            if key in throughput:
                item = throughput[key]
                lines.append(
                    f"| {label} | {item['onednn']} | {item.get('precision', 'float32')} | "
                    f"{item['prepare_s']:.1f} | "
                    f"{item['images_per_second']:.1f} | {item['images_per_second'] / naive:.2f}x |"
                )
        print(f"Throughput: ours / naive = {ours / naive:.2f}x", flush=True)
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and record its table."""
    from core.models.registry import list_models
    from core.runs.config import DEFAULT_IMAGE_SIZE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list_models())
    parser.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    parser.add_argument("--epochs", type=int, help="maximum epochs (default: TrainConfig's)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--no-record", action="store_true", help="print only")
    parser.add_argument("--throughput-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.throughput_worker:
        _throughput_worker(args.throughput_worker, args.image_size, THROUGHPUT_EPOCHS)
        return
    throughput = {}
    if not args.skip_throughput:
        throughput["naive"] = _run_worker("naive", args.image_size, None)
        throughput["ours"] = _run_worker("ours", args.image_size, "1")
        throughput["ours_no_onednn"] = _run_worker("ours", args.image_size, "0")
        print(json.dumps(throughput, indent=1), flush=True)
    rows = accuracy_rows(args.models, args.image_size, args.epochs)
    table = markdown(rows, throughput, args.image_size)
    print(table)
    if not args.no_record:
        from bench._record import record_section

        record_section("train", table)


if __name__ == "__main__":
    main()
    sys.exit(0)
