"""Default training precision, decided by measurement (issue 10, point 7).

Trains each detector with 3 seeds in float32 and in ``mixed_bfloat16`` on the shared
FFHQ/StyleGAN2 split (all of Train, early stopping on Validation AUC, the app's
defaults otherwise, ``--epochs`` capped so 18 runs fit in an hour or two on 2 cores),
then compares the mean Test AUC per model. The rule: if bfloat16's mean Test AUC is
not more than :data:`TOLERANCE` below float32's for every model, ``auto`` (bfloat16
where the CPU has it natively) becomes the default; otherwise float32 stays.

Each run is its own ``python -m core.train`` subprocess (TensorFlow reads the
precision once). Results are appended, as they come, to
``artifacts/bench/precision-<size>px-<epochs>-epochs.jsonl``, so an interrupted
benchmark resumes where it stopped.

Run: ``python -m bench.precision_bench [--epochs 8] [--seeds 1 2 3] [--models cnn ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench._record import record_section
from core import settings

FFHQ = settings.REPO_ROOT.parent / "shared" / "data" / "ffhq-stylegan2" / "Dataset"
PRECISIONS = ("float32", "mixed_bfloat16")
TOLERANCE = 0.01
RESULTS_DIR = settings.REPO_ROOT / "artifacts" / "bench"


def _results(epochs: int, size: int) -> Path:
    return RESULTS_DIR / f"precision-{size}px-{epochs}-epochs.jsonl"


def _done(epochs: int, size: int) -> dict[tuple[str, str, int], dict]:
    results = _results(epochs, size)
    if not results.exists():
        return {}
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return {(row["model"], row["precision"], row["seed"]): row for row in rows}


def _train(model: str, precision: str, seed: int, epochs: int, size: int) -> dict:
    """One training run in a subprocess; returns its row for the results file."""
    with tempfile.TemporaryDirectory() as artifacts:
        env = {**os.environ, "DEEPFAKE_ARTIFACTS_DIR": artifacts, settings.PRECISION_ENV: precision}
        command = [sys.executable, "-m", "core.training", "--model", model, "--data-dir", str(FFHQ)]
        command += ["--seed", str(seed), "--epochs", str(epochs), "--image-size", str(size)]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        (metrics_path,) = Path(artifacts, "runs").glob("*/metrics.json")
        metrics = json.loads(metrics_path.read_text())
    return {
        "model": model,
        "precision": precision,
        "seed": seed,
        "auc": metrics["auc"],
        "accuracy": metrics["accuracy"],
        "epochs_run": metrics["epochs_run"],
        "train_seconds": metrics["train_seconds"],
        "images_per_second": metrics["images_per_second"],
        "used": metrics["training_precision"],
    }


def _mean(rows: list[dict], key: str) -> float:
    return statistics.fmean(row[key] for row in rows)


def table(results: dict, models: list[str]) -> tuple[str, bool]:
    """The markdown table of means per model and precision, and whether bfloat16 passes."""
    lines = [
        "| model | precision | seeds | Test AUC (each) | mean AUC | mean accuracy | images/s |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    passes = True
    for model in models:
        means = {}
        for precision in PRECISIONS:
            rows = [row for key, row in sorted(results.items()) if key[:2] == (model, precision)]
            if not rows:
                passes = False
                continue
            means[precision] = _mean(rows, "auc")
            each = ", ".join(f"{row['auc']:.3f}" for row in rows)
            lines.append(
                f"| {model} | {precision} | {len(rows)} | {each} | {means[precision]:.3f} | "
                f"{_mean(rows, 'accuracy'):.3f} | {_mean(rows, 'images_per_second'):.1f} |"
            )
        if len(means) == 2:
            gap = means["mixed_bfloat16"] - means["float32"]
            lines.append(f"| {model} | bf16 - fp32 | | | {gap:+.3f} | | |")
            passes &= gap >= -TOLERANCE
        else:
            passes = False
    return "\n".join(lines), passes


def main(argv: list[str] | None = None) -> int:
    """Run what is missing, print and record the table and the decision."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cnn", "capsnet", "xception"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--record", action="store_true", help="write docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:  # seed-major: an interrupted benchmark still has whole seeds
        for model in args.models:
            for precision in PRECISIONS:
                if (model, precision, seed) in _done(args.epochs, args.image_size):
                    continue
                row = _train(model, precision, seed, args.epochs, args.image_size)
                with _results(args.epochs, args.image_size).open("a") as out:
                    out.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    markdown, passes = table(_done(args.epochs, args.image_size), args.models)
    decision = (
        "bfloat16 is within the tolerance for every model: `auto` becomes the default."
        if passes
        else "bfloat16 falls more than the tolerance below float32 for at least one model "
        "(or a run is missing): float32 stays the default."
    )
    schedule = (
        ""
        if (args.image_size, args.epochs) == (128, 20)
        else f"A shortened schedule ({args.image_size} px, {args.epochs} epochs, not the app's "
        "128 px and 20), so that 18 runs fit on a shared 2-core machine: the models are "
        "still learning, and seed noise is large. `--image-size 128 --epochs 20` applies "
        "the rule at the app's defaults. images/s moved with the machine's load.\n"
    )
    text = (
        "## Default precision (`python -m bench.precision_bench`)\n\n"
        f"FFHQ/StyleGAN2 shared split, all 400 Train images at {args.image_size} px, "
        f"at most {args.epochs} epochs, "
        f"seeds {', '.join(map(str, args.seeds))}; rule: bfloat16's mean Test AUC no more "
        f"than {TOLERANCE} below float32's for every model.\n\n{markdown}\n\n{decision}\n\n"
        f"{schedule}"
    )
    print(text)
    if args.record:
        record_section("precision", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
