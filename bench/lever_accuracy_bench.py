"""Does a speed lever cost accuracy? Paired seeds, the rule of docs/BENCHMARKS.md (issue 24.3).

For each seed, today's configuration and the lever's are trained one after the other
(``python -m core.training`` in a subprocess, a temporary artifacts folder) on the shared
FFHQ/StyleGAN2 split: all of Train, 128 px, batch 32, early stopping on Validation AUC
(patience 6), at most ``--epochs``. The rule, written before measuring: with
d = AUC(lever) - AUC(today) per seed, accept when mean(d) >= -SE(d), SE = sd(d)/sqrt(n),
n >= 3, at the full schedule (20 epochs); a shorter schedule can only reject or leave it
undecided. Each run is appended to a results file in ``artifacts/bench/`` as it ends,
so an interrupted benchmark continues where it stopped.

Run: ``nice -n 10 python -m bench.lever_accuracy_bench --model cnn --option stem_stride=2``
(a precision lever: ``--model xception --precision mixed_bfloat16``; batch norm's bfloat16
channel padding: ``--model xception --padding --precision mixed_bfloat16
--today-precision mixed_bfloat16``; a lever already made the default: ``--model xception
--option pointwise_matmul=true --today-option pointwise_matmul=false``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench._record import record_section
from core import settings

FFHQ = settings.REPO_ROOT.parent / "shared" / "data" / "ffhq-stylegan2" / "Dataset"
RESULTS = settings.REPO_ROOT / "artifacts" / "bench"
FULL_EPOCHS = 20


#: Runs ``python -m core.training`` with batch norm's bfloat16 channels left unpadded: the
#: code before that change, as the baseline of ``--lever bfloat16-channel-padding``.
UNPADDED = (
    "from core.models.layers import FusedBatchNormalization; "
    "FusedBatchNormalization.bfloat16_channel_multiple = 1; "
    "import runpy; runpy.run_module('core.training', run_name='__main__')"
)


def _train(
    model: str,
    options: list[str],
    seed: int,
    epochs: int,
    precision: str = "",
    unpadded: bool = False,
) -> dict:
    with tempfile.TemporaryDirectory() as artifacts:
        env = {**os.environ, settings.ARTIFACTS_ENV: artifacts}
        if precision:
            env[settings.PRECISION_ENV] = precision
        start = ["-c", UNPADDED] if unpadded else ["-m", "core.training"]
        command = [sys.executable, *start, "--model", model, "--data-dir"]
        command += [str(FFHQ), "--seed", str(seed), "--epochs", str(epochs), "--image-size"]
        command += ["128"] + [part for option in options for part in ("--option", option)]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        (path,) = Path(artifacts, "runs").glob("*/metrics.json")
        metrics = json.loads(path.read_text())
    keys = ("auc", "accuracy", "epochs_run", "train_seconds", "images_per_second")
    return {"seed": seed, **{key: metrics[key] for key in keys}}


def decide(pairs: list[tuple[dict, dict]], epochs: int) -> tuple[str, float, float]:
    """The rule's verdict, mean(d) and SE(d), for (today, lever) pairs."""
    diffs = [lever["auc"] - today["auc"] for today, lever in pairs]
    if len(diffs) < 3:
        return "not decided (fewer than 3 paired seeds)", math.nan, math.nan
    mean, se = statistics.fmean(diffs), statistics.stdev(diffs) / math.sqrt(len(diffs))
    if mean < -se:
        return "rejected: the mean AUC falls by more than the seeds' standard error", mean, se
    if epochs < FULL_EPOCHS:
        return f"not decided: passes, but on a shortened schedule ({epochs} epochs)", mean, se
    return "accepted under the rule", mean, se


def main(argv: list[str] | None = None) -> None:
    """Train what is missing, print and record the paired table and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--today-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="today's side of a lever that is already the default (the option's value before)",
    )
    parser.add_argument(
        "--precision", default="", choices=["", *settings.PRECISIONS], help="the lever's precision"
    )
    parser.add_argument(
        "--today-precision",
        default="",
        choices=["", *settings.PRECISIONS],
        help="today's precision (default: the model's)",
    )
    parser.add_argument(
        "--padding",
        action="store_true",
        help="the lever is batch norm's bfloat16 channel padding: today's runs leave it off",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=FULL_EPOCHS)
    args = parser.parse_args(argv)
    if not args.option and not args.precision and not args.padding:
        parser.error("give the lever: --option NAME=VALUE, --precision and/or --padding")
    lever = ",".join(
        args.option
        + ([f"precision={args.precision}"] if args.precision else [])
        + (["bfloat16_channel_padding"] if args.padding else [])
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    store = RESULTS / f"lever_{args.model}_{lever.replace('=', '-')}_{args.epochs}ep.jsonl"
    rows = [json.loads(line) for line in store.read_text().splitlines()] if store.exists() else []
    for seed in args.seeds:
        for is_lever in (False, True):
            if not any(r["seed"] == seed and r["lever"] == is_lever for r in rows):
                options = args.option if is_lever else args.today_option
                precision = args.precision if is_lever else args.today_precision
                unpadded = args.padding and not is_lever
                row = _train(args.model, options, seed, args.epochs, precision, unpadded)
                rows.append({**row, "lever": is_lever})
                with store.open("a") as out:
                    out.write(json.dumps(rows[-1]) + "\n")
                print(rows[-1], flush=True)
    by_key = {(r["seed"], r["lever"]): r for r in rows}
    pairs = [(by_key[s, False], by_key[s, True]) for s in args.seeds]
    verdict, mean, se = decide(pairs, args.epochs)
    lines = [
        "| seed | AUC today | AUC lever | d | epochs today / lever | images/s today / lever |",
        "|---|---|---|---|---|---|",
    ]
    for today, new in pairs:
        lines.append(
            f"| {today['seed']} | {today['auc']:.3f} | {new['auc']:.3f} | "
            f"{new['auc'] - today['auc']:+.3f} | {today['epochs_run']} / {new['epochs_run']} | "
            f"{today['images_per_second']:.1f} / {new['images_per_second']:.1f} |"
        )
    markdown = "\n".join(
        [
            f"## Speed lever accuracy: {args.model} `{lever}` (`bench.lever_accuracy_bench`)",
            "",
            f"Shared FFHQ/StyleGAN2 split, all 400 Train images, 128 px, batch 32, early "
            f"stopping on Validation AUC (patience 6), at most {args.epochs} epochs; seeds "
            f"{', '.join(map(str, args.seeds))}, today's configuration and the lever's "
            "trained back to back per seed. Rule (written before measuring, above): accept "
            "when mean(d) >= -SE(d).",
            "",
            *lines,
            "",
            f"mean(d) = {mean:+.3f}, SE(d) = {se:.3f}: **{verdict}**.",
        ]
    )
    print(markdown)
    record_section(f"lever-{args.model}-{lever}", markdown)


if __name__ == "__main__":
    main()
