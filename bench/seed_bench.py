"""How much one seed moves each detector's test AUC at the app's defaults (issue 21.4).

For each model, ``python -m core.train --seeds N`` trains N runs on the same files of the
shared FFHQ/StyleGAN2 split (all 400 Train images, early stopping on the 60 Validation
images, scored on the 60 Test images) at the app's default image size, seeds 1..N; the
table gives each seed's Test AUC, the mean and the standard deviation, and the spread
(max - min). A difference between two models smaller than that spread is not a finding.

Each model's runs are one subprocess (TensorFlow loads once); results are appended to
``artifacts/bench/seeds-<size>px-<epochs>-epochs.jsonl`` as each model finishes, so an
interrupted benchmark resumes.

Run: ``python -m bench.seed_bench [--epochs 8] [--seeds 3] [--models cnn capsnet xception]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._record import record_section
from core import settings
from core.runs.config import DEFAULT_IMAGE_SIZE

FFHQ = settings.REPO_ROOT.parent / "shared" / "data" / "ffhq-stylegan2" / "Dataset"
RESULTS_DIR = settings.REPO_ROOT / "artifacts" / "bench"


def _results(size: int, epochs: int) -> Path:
    return RESULTS_DIR / f"seeds-{size}px-{epochs}-epochs.jsonl"


def _done(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["model"]: row for row in rows}


def _train(model: str, seeds: int, epochs: int, size: int) -> dict:
    """N seeds of one model in one subprocess; the row for the results file."""
    with tempfile.TemporaryDirectory() as artifacts:
        env = {**os.environ, settings.ARTIFACTS_ENV: artifacts}
        command = [sys.executable, "-m", "core.training", "--model", model, "--data-dir"]
        command += [str(FFHQ), "--seed", "1", "--seeds", str(seeds), "--epochs", str(epochs)]
        command += ["--image-size", str(size)]
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        runs = sorted(Path(artifacts, "runs").glob("*/metrics.json"))
        found = [json.loads(path.read_text()) for path in runs]
        configs = [json.loads((path.parent / "config.json").read_text()) for path in runs]
    order = sorted(range(len(found)), key=lambda i: configs[i]["seed"])
    return {
        "model": model,
        "seeds": [configs[i]["seed"] for i in order],
        "auc": [found[i]["auc"] for i in order],
        "accuracy": [found[i]["accuracy"] for i in order],
        "epochs_run": [found[i]["epochs_run"] for i in order],
        "verdicts": [found[i].get("learning", {}).get("verdict") for i in order],
        "test_files_identical": len({tuple(found[i]["test_files"]) for i in order}) == 1,
        "seconds": round(seconds, 1),
    }


def table(rows: list[dict], size: int, epochs: int) -> str:
    """The markdown table of the results."""
    lines = [
        f"Test AUC of each detector over seeds on the same files (FFHQ/StyleGAN2: 400 Train, "
        f"60 Validation, 60 Test images), {size} px, at most {epochs} epochs with early "
        "stopping, the app's defaults otherwise (`python -m bench.seed_bench`).",
        "",
        "| model | seeds | Test AUC per seed | mean ± sd | spread (max - min) | epochs run "
        "| same test files | minutes |",
        "|---|---:|---|---:|---:|---|---|---:|",
    ]
    for row in rows:
        aucs = row["auc"]
        lines.append(
            f"| {row['model']} | {len(aucs)} | {', '.join(f'{a:.3f}' for a in aucs)} | "
            f"{statistics.mean(aucs):.3f} ± {statistics.stdev(aucs):.3f} | "
            f"{max(aucs) - min(aucs):.3f} | {', '.join(map(str, row['epochs_run']))} | "
            f"{'yes' if row['test_files_identical'] else 'NO'} | {row['seconds'] / 60:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Train what is missing, print the table and record it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--size", type=int, default=DEFAULT_IMAGE_SIZE)
    parser.add_argument("--models", nargs="+", default=["cnn", "capsnet", "xception"])
    args = parser.parse_args(argv)
    path = _results(args.size, args.epochs)
    path.parent.mkdir(parents=True, exist_ok=True)
    for model in args.models:
        if model in _done(path):
            continue
        row = _train(model, args.seeds, args.epochs, args.size)
        with path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(row) + "\n")
        print(f"{model}: AUC {row['auc']}", flush=True)
    done = _done(path)
    rows = [done[model] for model in args.models if model in done]
    text = table(rows, args.size, args.epochs)
    print(text)
    record_section("seeds", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
