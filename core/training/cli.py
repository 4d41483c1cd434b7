"""The training command line: ``python -m core.train`` and ``deepfake-train``.

Examples::

    python -m core.train --model cnn --train-size 400 --epochs 10 --data-dir PATH
    python -m core.train --model capsnet --option routing_iterations=3 --option widths=64,128
    python -m core.train --model cnn --fakes-from self-blended --data-dir PATH
    python -m core.train --run-dir artifacts/runs/cnn_20250101-120000   # a queued run
    python -m core.train --resume artifacts/runs/cnn_20250101-120000    # an interrupted run

A run folder that holds a checkpoint (:mod:`core.training.checkpoint`) continues from it.

Model options (``--option NAME=VALUE``) are listed per model by ``--list-options``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.models import registry
from core.runs import learning, lifecycle, run_folders
from core.runs.config import CLASS_WEIGHT_MODES, FAKES_FROM, TrainConfig


def _parser() -> argparse.ArgumentParser:
    """The argument parser (``--model`` choices come from the registry)."""
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m core.train",
        description="Train a deepfake detector and save a run folder under DEEPFAKE_ARTIFACTS_DIR.",
    )
    parser.add_argument(
        "--run-dir", type=Path, help="train the queued run whose config.json is here"
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue an interrupted run from its last completed epoch",
    )
    parser.add_argument("--config", type=Path, help="a JSON file with TrainConfig fields")
    parser.add_argument("--model", default=defaults.model, help=", ".join(registry.list_models()))
    parser.add_argument("--data-dir", help="dataset folder (default: the generated demo dataset)")
    parser.add_argument("--image-size", type=int, default=defaults.image_size)
    parser.add_argument("--train-size", type=int, help="training images (default: whole split)")
    parser.add_argument("--val-size", type=int, help="validation images (default: whole split)")
    parser.add_argument("--test-size", type=int, help="test images (default: whole split)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="train N runs on the same files with seeds SEED, SEED+1, ... (one experiment)",
    )
    parser.add_argument("--no-augment", action="store_true", help="turn off random flips")
    parser.add_argument("--class-weight", choices=CLASS_WEIGHT_MODES, default=defaults.class_weight)
    parser.add_argument(
        "--fakes-from",
        choices=FAKES_FROM,
        default=defaults.fakes_from,
        help="training fakes: the dataset's, self-blended from its reals, or both",
    )
    parser.add_argument("--patience", type=int, default=defaults.early_stopping_patience)
    parser.add_argument("--fine-tune-epochs", type=int, default=defaults.fine_tune_epochs)
    parser.add_argument(
        "--weights-path", help="models with pre-trained weights: the weights file to load"
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a model option (repeatable); see --list-options",
    )
    parser.add_argument(
        "--list-options", action="store_true", help="print every model's options and exit"
    )
    return parser


def parse_options(pairs: Sequence[str]) -> dict[str, str]:
    """``["name=value", ...]`` -> ``{"name": "value"}`` (the spec converts the values).

    Raises:
        ValueError: an item without ``=``.
    """
    options = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"--option {pair!r} must look like NAME=VALUE.")
        options[name.strip()] = value
    return options


def options_text() -> str:
    """Every model's options with their defaults, for ``--list-options``."""
    lines = []
    for name in registry.list_models():
        spec = registry.get_spec(name)
        lines.append(f"{name} ({spec.display_name}):")
        for key, option in spec.options.items():
            default = option.default
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            lines.append(f"  {key}={shown}  {option.help}")
        if not spec.options:
            lines.append("  (no options)")
    return "\n".join(lines)


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, Path | None]:
    """Turn parsed CLI arguments into a config (and the queued run folder, if any)."""
    if args.run_dir:
        values = json.loads((args.run_dir / "config.json").read_text(encoding="utf-8"))
        return TrainConfig.from_dict(values), args.run_dir
    if args.config:
        return TrainConfig.from_dict(json.loads(args.config.read_text(encoding="utf-8"))), None
    config = TrainConfig(
        model=args.model,
        data_dir=args.data_dir,
        image_size=args.image_size,
        train_size=args.train_size,
        val_size=args.val_size,
        test_size=args.test_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        augment=not args.no_augment,
        class_weight=args.class_weight,
        early_stopping_patience=args.patience,
        fine_tune_epochs=args.fine_tune_epochs,
        weights_path=args.weights_path,
        fakes_from=args.fakes_from,
        options=parse_options(args.option),
    )
    return config, None


def resume(run_dir: Path, echo: bool = False, callbacks: Sequence[Any] = ()) -> Any:
    """Continue an interrupted run from its last checkpoint (``--resume RUN_DIR``).

    Args:
        run_dir: the run folder: ``interrupted``, or ``running`` with its trainer gone.
        echo: print progress and notes to stdout (the CLI does).
        callbacks: extra Keras callbacks added to ``fit``.

    Returns:
        The :class:`core.training.trainer.RunResult` of the finished (or cancelled) run.

    Raises:
        checkpoint.ResumeError: the run is not interrupted, or its config is unreadable.
        Exception: whatever made the resumed run fail (see :func:`core.training.trainer.train`).
    """
    from core.training import checkpoint  # imports TensorFlow

    run = run_folders.load_run(Path(run_dir))
    if run.state == "running" and not lifecycle.trainer_alive(run.status):
        lifecycle.mark_stopped(run.path, None)  # died unseen (e.g. a reboot, no page open since)
        run = run_folders.load_run(run.path)
    if run.state not in run_folders.RESUMABLE_STATES:
        raise checkpoint.ResumeError(
            f"{run.name} is {run.state}; only an interrupted or cancelled run can be resumed."
        )
    try:
        config = TrainConfig.from_dict(run.config)
    except (TypeError, ValueError) as error:
        raise checkpoint.ResumeError(f"{run.name}/config.json cannot be used ({error}).") from None
    if run_folders.reopen(run.path) is None:
        raise checkpoint.ResumeError(f"{run.name} changed state meanwhile; look at it again.")
    from core.training.trainer import train  # imports TensorFlow

    return train(config, run_dir=run.path, callbacks=callbacks, echo=echo)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m core.train`` and ``deepfake-train``; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.list_options:
        print(options_text())
        return 0
    try:
        config, run_dir = config_from_args(args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.seeds > 1 and (args.resume or run_dir is not None):
        print("error: --seeds starts new runs; it cannot be used with --resume or --run-dir.")
        return 2
    if args.seeds <= 1 or args.resume:
        return _train_one(config, run_dir, args.resume)[0]
    repeated = config.with_seeds(args.seeds)
    results = []
    for one in repeated:
        status, result = _train_one(one, run_dir, args.resume)
        if status:
            return status
        results.append(result)
    if len(results) > 1:
        print(seeds_summary(repeated[0].experiment, [result.metrics for result in results]))
    return 0


def _train_one(config: TrainConfig, run_dir: Path | None, resume_dir: Path | None):
    """Train (or resume) one run and print its result; (exit status or 0, the result)."""
    from core.training import checkpoint  # imports TensorFlow
    from core.training.trainer import train

    try:
        if resume_dir:
            result = resume(resume_dir, echo=True)
        else:
            result = train(config, run_dir=run_dir, echo=True)
    except checkpoint.ResumeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2, None
    except Exception as error:
        print(f"error: training failed: {error}", file=sys.stderr)
        return 1, None
    if result.state != "finished" or result.metrics is None:
        print(f"Run {result.state}: {result.run_dir}")
        return 3, None
    metrics = result.metrics
    print(
        f"{metrics['model_display']}: test accuracy {metrics['accuracy']:.3f}, "
        f"AUC {metrics['auc'] if metrics['auc'] is None else round(metrics['auc'], 3)}, "
        f"loss {metrics['loss']:.4f}, {metrics['epochs_run']} epochs, "
        f"{metrics['train_seconds']:.1f} s, {metrics['images_per_second']:.1f} images/s"
    )
    judged = learning.of_record(metrics)
    print(judged.text)  # its message starts with the verdict
    print(f"Run folder: {result.run_dir}")
    return 0, result


def seeds_summary(experiment: str, records: list[dict[str, Any]]) -> str:
    """``Experiment X, 3 seeds: test AUC 0.84 ± 0.09 (0.75, 0.84, 0.93), ...``."""
    lines = [f"Experiment {experiment}, {len(records)} seeds on the same files:"]
    for key, name in (("auc", "test AUC"), ("accuracy", "test accuracy")):
        values = [float(r[key]) for r in records if isinstance(r.get(key), int | float)]
        if len(values) >= 2:
            shown = ", ".join(f"{v:.3f}" for v in values)
            lines.append(
                f"  {name} {statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} "
                f"(standard deviation; each seed: {shown})"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
