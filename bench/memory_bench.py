"""Peak memory of short training runs, measured, against core.training.memory's estimate.

Each setting (model, image size, batch size) trains once for one epoch on a small
subset of the shared FFHQ split (64 Train, 32 Validation, 32 Test images) in its own
``python -m core.train`` process; its peak resident memory is the kernel's
``ru_maxrss`` for that process. Today's pipeline keeps the decoded subsets in memory
(about 4.3x their pixels, measured in issue 10), which the streaming pipeline will
not: that share is subtracted so the figures target the streaming pipeline.

``--calibrate`` prints the least-squares (baseline, activation factor) of
:mod:`core.training.memory` from the measurements; the table always uses the constants in the
code. ``--reuse`` re-renders the table from the last measurements.

    python -m bench.memory_bench                 # measure (15-60 min on 2 cores), record
    python -m bench.memory_bench --reuse --calibrate
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import psutil

from bench._record import record_section
from core import settings
from core.models import registry
from core.training import memory

FFHQ = settings.REPO_ROOT.parent / "shared" / "data" / "ffhq-stylegan2" / "Dataset"
SUBSET = {"train": 64, "val": 32, "test": 32}
#: Resident bytes of today's in-memory pipeline per decoded pixel byte (issue 10).
IN_MEMORY_RATIO = 4.3
SETTINGS = [
    (model, size, batch)
    for model in ("cnn", "capsnet", "xception")
    for size in (128, 256)
    for batch in (16, 32)
]
RESULTS = settings.REPO_ROOT / "artifacts" / "bench" / "memory_measurements.json"


def peak_rss(command: list[str], env: dict[str, str]) -> tuple[int, float, int]:
    """Run ``command``; return (its peak RSS in bytes, seconds, exit status)."""
    started = time.monotonic()
    child = subprocess.Popen(
        command, cwd=settings.REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        print(child.stderr.read().decode(errors="replace")[-2000:], file=sys.stderr)
    return usage.ru_maxrss * 1024, time.monotonic() - started, child.returncode


def measure() -> list[dict]:
    """Train every setting once in its own process and record its peak RSS."""
    rows = []
    with tempfile.TemporaryDirectory() as artifacts:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        env[settings.ARTIFACTS_ENV] = artifacts
        runtime, _, _ = peak_rss([sys.executable, "-c", "import core.training.trainer"], env)
        rows.append({"model": "runtime only", "peak": runtime})
        print(f"runtime only (import core.training.trainer): {runtime / 1e9:.2f} GB", flush=True)
        for model, size, batch in SETTINGS:
            command = [
                *[sys.executable, "-m", "core.training", "--model", model],
                *["--data-dir", str(FFHQ), "--image-size", str(size)],
                *["--batch-size", str(batch), "--epochs", "1"],
                *[f"--{split}-size={count}" for split, count in SUBSET.items()],
            ]
            peak, seconds, code = peak_rss(command, env)
            row = {"model": model, "size": size, "batch": batch, "peak": peak, "status": code}
            rows.append(row)
            print(
                f"{model} {size}px batch {batch}: {peak / 1e9:.2f} GB, {seconds:.0f} s", flush=True
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return rows


def streaming_target(row: dict) -> float:
    """Measured peak minus today's in-memory subsets (what streaming will not hold)."""
    pixels = sum(SUBSET.values()) * row["size"] ** 2 * 3
    return row["peak"] - IN_MEMORY_RATIO * pixels


def profile(model: str) -> memory.Profile:
    """The model's profile with default options."""
    return memory.profile_for(model, registry.get_spec(model).resolve_options({}))


def calibrate(rows: list[dict]) -> tuple[float, float, float]:
    """Least squares of target - pipeline = baseline + k * batch * activations + p * parameters.

    Returns:
        (baseline bytes, activation factor k, bytes per parameter p).
    """
    design, target = [], []
    for row in rows:
        found = profile(row["model"])
        parts = memory.estimate(found, row["size"], row["batch"])
        activations = row["batch"] * found.activation_bytes(row["size"])
        design.append([1.0, activations, float(found.parameters)])
        target.append(streaming_target(row) - parts.pipeline)
    solution, *_ = np.linalg.lstsq(np.array(design), np.array(target), rcond=None)
    baseline, factor, per_parameter = (float(value) for value in solution)
    return baseline, factor, per_parameter


def held_out(rows: list[dict]) -> str:
    """Fit without the largest setting (Xception at 256 px), then predict it: the honest error."""
    unseen = [row for row in rows if row["model"] == "xception" and row["size"] == 256]
    seen = [row for row in rows if row not in unseen]
    if not unseen or len(seen) < 3:
        return ""
    baseline, factor, per_parameter = calibrate(seen)
    errors = []
    for row in unseen:
        found = profile(row["model"])
        parts = memory.estimate(found, row["size"], row["batch"])
        guess = (
            baseline
            + per_parameter * found.parameters
            + factor * row["batch"] * found.activation_bytes(row["size"])
            + parts.pipeline
        )
        errors.append(f"batch {row['batch']} {guess / streaming_target(row) - 1:+.0%}")
    return (
        "Fitted without Xception at 256 px, the formula predicts those runs at "
        + ", ".join(errors)
        + " (the constants above are fitted on all rows)."
    )


def table(rows: list[dict], runtime: float | None) -> str:
    """The markdown table: estimate vs measured (streaming target) per setting."""
    lines = [
        "Peak resident memory of one-epoch trainer runs (64/32/32 images of the shared FFHQ "
        f"split), measured (`ru_maxrss`) minus today's in-memory subsets ({IN_MEMORY_RATIO}x "
        "their pixels), against `core.training.memory`'s estimate "
        f"(baseline {memory.BASELINE_BYTES / 1e9:.2f} GB, activation factor "
        f"{memory.ACTIVATION_FACTOR:.2f}, {memory.PARAM_BYTES} bytes per parameter).",
        "",
        "| model | px | batch | measured GB | streaming target GB | estimate GB | error |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    errors = []
    for row in rows:
        target = streaming_target(row)
        guess = memory.estimate(profile(row["model"]), row["size"], row["batch"]).total
        errors.append(guess / target - 1)
        lines.append(
            f"| {row['model']} | {row['size']} | {row['batch']} | {row['peak'] / 1e9:.2f} | "
            f"{target / 1e9:.2f} | {guess / 1e9:.2f} | {errors[-1]:+.0%} |"
        )
    worst = max(errors, key=abs)
    lines += [
        "",
        f"Residual error: mean absolute {np.mean(np.abs(errors)):.0%}, worst {worst:+.0%}.",
    ]
    lines.append(held_out(rows))
    total = psutil.virtual_memory().total / 2**30
    lines.append(f"float32, oneDNN on (the defaults); this machine has {total:.0f} GiB of RAM.")
    if runtime:
        lines.append(
            f"The runtime alone (`import core.training.trainer`) peaks at {runtime / 1e9:.2f} GB."
        )
    return "\n".join(lines)


def main() -> None:
    """Measure (or reuse), optionally print the calibration, print and record the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="use the last measurements")
    parser.add_argument("--calibrate", action="store_true", help="print fitted constants")
    parser.add_argument("--no-record", action="store_true", help="do not write BENCHMARKS.md")
    args = parser.parse_args()
    rows = json.loads(RESULTS.read_text()) if args.reuse else measure()
    runtime = next((row["peak"] for row in rows if row["model"] == "runtime only"), None)
    rows = [row for row in rows if row["model"] != "runtime only" and not row.get("status")]
    if args.calibrate:
        baseline, factor, per_parameter = calibrate(rows)
        print(
            f"calibrated: BASELINE_BYTES = {baseline:.3e}, ACTIVATION_FACTOR = {factor:.3f}, "
            f"PARAM_BYTES = {per_parameter:.1f}"
        )
    text = table(rows, runtime)
    print(text)
    if not args.no_record:
        record_section("memory", text)


if __name__ == "__main__":
    main()
