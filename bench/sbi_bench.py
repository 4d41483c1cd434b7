"""Self-blended training benchmark: does a detector trained without the dataset's fakes
generalize to face swaps?

For each detector, ``core.training.trainer.train`` at 128 px on the shared FFHQ Train split with
``fakes_from="self-blended"`` (the StyleGAN2 fakes unused: pseudo-fakes blended from the
300 real images), then the saved model is scored on ``openforensics-sample`` (41 face
crops of the Kaggle set: face swaps) with ``core.evaluation.scoring.rescore(purpose="cross")``, so
the run's model card lists the score. Its in-domain number is the FFHQ Test split
(StyleGAN2 fakes: a different kind of fake than it was trained on). Then the same with
``fakes_from="both"``. AUCs carry their 95 % bootstrap interval (sets under 500 images).

Before that, the blending cost: the CNN trained for a few epochs with the plain
pipeline and with self-blending, images/s while training, in the same process.

Each finished piece is written to docs/BENCHMARKS.md at once (section ``sbi``), so an
interrupted run still leaves what it measured. Run:
``python -m bench.sbi_bench [--models cnn capsnet xception] [--options self-blended both]``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench._record import record_section
from bench.train_bench import _time_limit
from core import settings
from core.training import pipelines

SHARED = settings.REPO_ROOT.parent / "shared" / "data"
FFHQ = SHARED / "ffhq-stylegan2" / "Dataset"
OPENFORENSICS = SHARED / "openforensics-sample" / "Dataset"
IMAGE_SIZE = 128
THROUGHPUT_EPOCHS = 3
#: Training stops after the first epoch that ends past this many seconds.
TIME_BUDGET_S = 420.0


def _auc(report: dict[str, Any]) -> str:
    auc = report.get("auc")
    if auc is None:
        return "n/a"
    interval = report.get("auc_ci")
    return f"{auc:.3f}" + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")


def train_one(model: str, fakes_from: str, epochs: int, budget_s: float) -> dict[str, Any]:
    """Train one detector on FFHQ Train; return its metrics and run folder."""
    from core.runs.config import TrainConfig
    from core.training.trainer import train

    config = TrainConfig(
        model=model,
        data_dir=str(FFHQ),
        image_size=IMAGE_SIZE,
        epochs=epochs,
        seed=42,
        fakes_from=fakes_from,
    )
    limit = _time_limit(budget_s)
    start = time.perf_counter()
    result = train(config, callbacks=[limit])
    assert result.metrics is not None
    return {
        "run_dir": result.run_dir,
        "metrics": result.metrics,
        "wall_s": time.perf_counter() - start,
        "time_limited": limit.hit,
    }


def cross_score(run_dir) -> dict[str, Any]:
    """Score a run on openforensics-sample, stored as a cross-dataset re-score."""
    from core.data import testsets
    from core.evaluation import compare, scoring
    from core.runs import run_folders

    record = compare.load_record(run_folders.load_run(run_dir))
    test_set = testsets.dataset_test_set(OPENFORENSICS)
    (result,) = scoring.rescore([record], test_set, purpose="cross", force=True)
    if result.error:
        raise RuntimeError(result.error)
    return result.record["metrics"]


def throughput() -> list[dict[str, Any]]:
    """The CNN's training images/s with the plain pipeline and with self-blending."""
    rows = []
    for fakes_from in ("dataset", "self-blended"):
        done = train_one("cnn", fakes_from, THROUGHPUT_EPOCHS, 1e9)
        history = done["metrics"]
        rows.append(
            {
                "fakes_from": fakes_from,
                "images_per_second": history["images_per_second"],
                "train_s": history["train_seconds"],
            }
        )
    return rows


def interleaved_throughput(rounds: int = 3) -> list[dict[str, Any]]:
    """Training images/s of one CNN fed alternately by the plain and the blended pipeline.

    One epoch of each in turn, on the same model in the same process, so both see the
    same machine load (these CPUs are shared); the first round (tracing) is left out.
    """
    import keras

    from core.models import registry
    from core.runs.config import TrainConfig
    from core.training.subsets import load_subsets
    from core.training.trainer import compile_model

    config = TrainConfig(
        model="cnn", data_dir=str(FFHQ), image_size=IMAGE_SIZE, fakes_from="self-blended"
    )
    subsets = load_subsets(config)
    sources = pipelines.blend_sources(subsets.train, "self-blended")
    boxes = pipelines.detect_boxes(subsets.train.pixels, sources)
    keras.utils.set_random_seed(config.seed)
    model = registry.build("cnn", image_size=IMAGE_SIZE, seed=config.seed)
    compile_model(model, config.learning_rate)
    feeds = {
        mode: pipelines.training_datasets(subsets, config.replace(fakes_from=mode), 1, boxes)[0]
        for mode in ("dataset", "self-blended")
    }
    seen = {mode: [0, 0.0] for mode in feeds}
    for round_number in range(rounds):
        for mode, feed in feeds.items():
            start = time.perf_counter()
            images = 0
            for x, y in feed:
                model.train_on_batch(x, y)
                images += int(x.shape[0])
            if round_number:
                seen[mode][0] += images
                seen[mode][1] += time.perf_counter() - start
    return [
        {"fakes_from": mode, "images_per_second": n / seconds, "train_s": seconds}
        for mode, (n, seconds) in seen.items()
    ]


def markdown(rows: list[dict[str, Any]], speed: list[dict[str, Any]], pending: list[str]) -> str:
    """The section for docs/BENCHMARKS.md."""
    from core.models import registry

    lines = [
        "## Self-blended training (`python -m bench.sbi_bench`)",
        "",
        f"FFHQ Train split at {IMAGE_SIZE} px (300 real; with *self-blended* the 100 StyleGAN2",
        "fakes are unused), early stopping on Validation AUC (FFHQ vs StyleGAN2, 60 images),",
        f"training stopped after the first epoch past {TIME_BUDGET_S:.0f} s. Cross-dataset:",
        "`openforensics-sample` (41 Kaggle face crops, face swaps). AUC [95% bootstrap CI,",
        "1,000 seeded resamples].",
        "",
        "| model | fakes from | epochs | train s | openforensics AUC [95% CI] | FFHQ Test AUC "
        "[95% CI] | FFHQ Test accuracy |",
        "|---|---|---:|---:|---|---|---:|",
    ]
    for row in rows:
        metrics = row["metrics"]
        lines.append(
            f"| {registry.display_name(metrics['model'])} | {row['fakes_from']} | "
            f"{metrics['epochs_run']}{' (time limit)' if row['time_limited'] else ''} | "
            f"{metrics['train_seconds']:.0f} | {_auc(row['cross'])} | {_auc(metrics)} | "
            f"{metrics['accuracy']:.3f} |"
        )
    if pending:
        lines += ["", "Not measured (the benchmark was stopped first): " + ", ".join(pending)]
    if speed:
        base = speed[0]["images_per_second"]
        lines += [
            "",
            f"Blending cost, CNN at {IMAGE_SIZE} px, {THROUGHPUT_EPOCHS} epochs each, same process "
            "(images/s while training, first epoch included):",
            "",
            "| training fakes | images/s | ratio to plain |",
            "|---|---:|---:|",
        ]
        lines += [
            f"| {row['fakes_from']} | {row['images_per_second']:.1f} | "
            f"{row['images_per_second'] / base:.2f}x |"
            for row in speed
        ]
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark, recording after each finished piece."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cnn", "capsnet", "xception"])
    parser.add_argument("--options", nargs="+", default=["self-blended", "both"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--throughput-only",
        action="store_true",
        help="only the interleaved blending-cost probe (section sbi_throughput)",
    )
    args = parser.parse_args()
    if args.throughput_only:
        speed = interleaved_throughput()
        base = speed[0]["images_per_second"]
        table = "\n".join(
            f"| {row['fakes_from']} | {row['images_per_second']:.1f} | "
            f"{row['images_per_second'] / base:.2f}x |"
            for row in speed
        )
        record_section(
            "sbi_throughput",
            "### Blending cost, interleaved (`python -m bench.sbi_bench --throughput-only`)\n\n"
            f"One CNN at {IMAGE_SIZE} px, one epoch of each pipeline in turn (3 rounds, the "
            "first left out), `train_on_batch`, same process and same machine load:\n\n"
            "| training fakes | images/s | ratio to plain |\n|---|---:|---:|\n" + table,
        )
        print(speed)
        return
    # CNN first for both options, then the slower detectors.
    plan = [(model, option) for model in args.models for option in args.options]
    plan.sort(key=lambda item: (item[0] != "cnn", args.options.index(item[1])))
    rows: list[dict[str, Any]] = []
    speed: list[dict[str, Any]] = []
    pending = [f"{model} ({option})" for model, option in plan]

    def record() -> None:
        record_section("sbi", markdown(rows, speed, pending))

    if not args.skip_throughput:
        speed = throughput()
        print(speed, flush=True)
        record()
    for model, option in plan:
        done = train_one(model, option, args.epochs, TIME_BUDGET_S)
        done["fakes_from"] = option
        done["cross"] = cross_score(done["run_dir"])
        rows.append(done)
        pending.remove(f"{model} ({option})")
        print(
            f"{model} {option}: openforensics {_auc(done['cross'])}, "
            f"FFHQ test {_auc(done['metrics'])} ({done['run_dir']})",
            flush=True,
        )
        record()


if __name__ == "__main__":
    main()
