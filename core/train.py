"""Train one detector on a dataset and save a complete run folder; also the headless CLI.

:func:`train` does everything a run needs, without streamlit: sample the subsets,
decode the images once (through :mod:`core.images`), build the model from the
registry, fit with early stopping on validation AUC, evaluate on the test subset and
write the run folder described in :mod:`core.runs` (``metrics.json`` last). Progress
goes to ``status.json`` (at most twice a second) and ``history.json`` (every epoch),
so the Training page, running in another process, can follow it. A cancel request
(:func:`core.runs.request_cancel`) is honoured within one batch.

Command line::

    python -m core.train --model cnn --train-size 400 --epochs 10 --data-dir PATH
    python -m core.train --run-dir artifacts/runs/cnn_20250101-120000   # a queued run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core import runs, settings, testsets
from core.config import TrainConfig
from core.data import DatasetError, DatasetIndex, LoadedImages, Sample, index_dataset
from core.models.registry import DISPLAY_NAMES

if TYPE_CHECKING:
    import keras

#: Share of Train held out for validation when a dataset has no Validation split.
HOLDOUT_SHARE = 0.2
#: A Train subset is "imbalanced" (class_weight="auto") beyond this majority/minority ratio.
IMBALANCE_RATIO = 1.25
#: Fine-tuning learning rate, relative to the first phase's.
FINE_TUNE_LR_FACTOR = 0.1
STATUS_INTERVAL_S = 0.5


@dataclass
class RunResult:
    """What a call to :func:`train` produced.

    Attributes:
        run_dir: the run folder.
        state: final state: ``finished`` or ``cancelled`` (failures raise).
        metrics: the contents of ``metrics.json``, or None when cancelled.
    """

    run_dir: Path
    state: str
    metrics: dict[str, Any] | None


class Cancelled(Exception):
    """Raised inside training when someone asked the run to stop."""


@dataclass
class Subsets:
    """The exact files of a run, decoded.

    Attributes:
        root: dataset root the relative paths start from.
        train, validation, test: the decoded subsets.
        notes: plain-language remarks (validation held out of Train, files skipped).
    """

    root: Path
    train: LoadedImages
    validation: LoadedImages
    test: LoadedImages
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The contents of subsets.json."""
        skipped = self.train.skipped + self.validation.skipped + self.test.skipped
        return {
            "root": str(self.root),
            "train": self.train.paths,
            "validation": self.validation.paths,
            "test": self.test.paths,
            "skipped": [list(item) for item in skipped],
        }


def dataset_root(config: TrainConfig) -> tuple[Path, bool]:
    """Return (dataset folder, is_demo): the configured folder, or the generated demo set."""
    if config.data_dir:
        return Path(config.data_dir).expanduser(), False
    from core.demo import ensure_demo_dataset

    return Path(ensure_demo_dataset()), True


def choose_samples(
    index: DatasetIndex, config: TrainConfig
) -> tuple[list[Sample], list[Sample], list[Sample], list[str]]:
    """Pick the train/validation/test files of a run (stratified, seeded).

    Returns:
        (train, validation, test, notes).

    Raises:
        DatasetError: no Test or Train split, or a subset larger than its split.
    """
    from core.data import stratified_subset

    notes: list[str] = []
    for split in ("Train", "Test"):
        if not index.splits.get(split):
            raise DatasetError(
                f"The dataset at {index.root} has no {split} images; "
                f"add {split}/Real and {split}/Fake folders."
            )
    train_pool = index.splits["Train"]
    if index.splits.get("Validation"):
        validation = stratified_subset(index.splits["Validation"], config.val_size, config.seed)
    else:
        size = config.val_size or max(2, round(len(train_pool) * HOLDOUT_SHARE))
        validation = stratified_subset(train_pool, size, config.seed)
        held = {sample.path for sample in validation}
        train_pool = [sample for sample in train_pool if sample.path not in held]
        notes.append(
            f"No Validation split: {len(validation)} Train images were held out for validation."
        )
    train = stratified_subset(train_pool, config.train_size, config.seed)
    test = stratified_subset(index.splits["Test"], config.test_size, config.seed)
    return train, validation, test, notes


def load_subsets(config: TrainConfig, root: Path) -> Subsets:
    """Index the dataset, choose the subsets and decode them at the model's size."""
    from core.data import load_images

    index = index_dataset(root)
    train, validation, test, notes = choose_samples(index, config)
    size = config.image_size
    loaded = [load_images(index.root, samples, size) for samples in (train, validation, test)]
    subsets = Subsets(index.root, *loaded, notes=notes)
    skipped = sum(len(part.skipped) for part in loaded)
    if skipped:
        notes.append(f"{skipped} unreadable image(s) skipped; see subsets.json.")
    for name, part in (("Train", subsets.train), ("Test", subsets.test)):
        if len(part.labels) == 0:
            raise DatasetError(f"No readable {name} image left after skipping damaged files.")
    if len(np.unique(subsets.train.labels)) < 2:
        raise DatasetError("The Train subset holds one class only; both Real and Fake are needed.")
    return subsets


def class_weights(labels: np.ndarray, mode: str) -> dict[int, float] | None:
    """Balanced class weights ``n / (2 n_c)`` per mode ("auto": only when imbalanced).

    Returns:
        ``{0: w_fake, 1: w_real}`` or None when no weighting applies.
    """
    counts = np.bincount(labels.astype(np.int64), minlength=2)
    if mode == "off" or counts.min() == 0:
        return None
    if mode == "auto" and counts.max() / counts.min() <= IMBALANCE_RATIO:
        return None
    total = counts.sum()
    return {label: float(total / (2 * counts[label])) for label in (0, 1)}


def distribution_strategy() -> Any:
    """MirroredStrategy over several visible GPUs (or several logical CPUs); else the default."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in gpus])
    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in cpus])
    return tf.distribute.get_strategy()


def compile_model(model: keras.Model, learning_rate: float) -> None:
    """Compile with Adam, binary cross-entropy on the logit, accuracy and AUC."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0),
            keras.metrics.AUC(name="auc", from_logits=True),
        ],
    )


def _make_progress_callback(run_dir: Path, status: dict[str, Any], echo: bool) -> Any:
    import keras

    class Progress(keras.callbacks.Callback):
        """Writes status.json and history.json, checks for cancel every batch."""

        def __init__(self) -> None:
            super().__init__()
            self.history: dict[str, list[float]] = {}
            self.train_seconds = 0.0  # time in training steps only, for throughput
            self.images_seen = 0
            self.phase_start = time.time()
            self.last_write = 0.0
            self.phase_batches_done = 0
            self.phase_batches_total = 1

        def start_phase(self, phase: str, first_epoch: int, last_epoch: int) -> None:
            self.phase_start = time.time()
            self.phase_batches_done = 0
            self.phase_batches_total = max(1, (last_epoch - first_epoch) * status["batches"])
            self.update(phase=phase, force=True)

        def update(self, force: bool = False, **fields: Any) -> None:
            status.update(fields)
            now = time.time()
            if not force and now - self.last_write < STATUS_INTERVAL_S:
                return
            self.last_write = now
            status["elapsed_s"] = round(now - status["started"], 1)
            done = self.phase_batches_done
            if done:
                rate = (now - self.phase_start) / done
                status["eta_s"] = round(rate * (self.phase_batches_total - done), 1)
            runs.set_status(run_dir, "running", **status)

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch_start = time.time()
            self.in_training = True
            self.update(epoch=epoch + 1, batch=0, force=True)

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if runs.cancel_requested(run_dir):
                raise Cancelled
            self.phase_batches_done += 1
            self.update(batch=batch + 1)

        def on_test_begin(self, logs: dict | None = None) -> None:
            if self.in_training:
                self.train_seconds += time.time() - self.epoch_start
                self.in_training = False

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if self.in_training:
                self.train_seconds += time.time() - self.epoch_start
                self.in_training = False
            self.images_seen += status["train_images"]
            for key, value in (logs or {}).items():
                self.history.setdefault(key, []).append(float(value))
            self.history.setdefault("epoch_seconds", []).append(
                round(time.time() - self.epoch_start, 3)
            )
            runs.write_json(run_dir / "history.json", self.history)
            self.update(force=True)
            if echo:
                shown = "  ".join(
                    f"{key} {float(value):.4f}" for key, value in (logs or {}).items()
                )
                print(f"epoch {epoch + 1}: {shown}", flush=True)

    return Progress()


def _snapshot(model: keras.Model) -> dict[str, np.ndarray]:
    return {variable.path: np.array(variable) for variable in model.weights}


def _restore(model: keras.Model, snapshot: dict[str, np.ndarray]) -> None:
    for variable in model.weights:
        variable.assign(snapshot[variable.path])


def _fit_phase(
    model: keras.Model,
    train_data: Any,
    val_data: Any,
    config: TrainConfig,
    progress: Any,
    extra: Sequence[keras.callbacks.Callback],
    weights: dict[int, float] | None,
    first_epoch: int,
    last_epoch: int,
    phase: str,
) -> tuple[int, float]:
    """Fit from ``first_epoch`` to ``last_epoch`` with early stopping; return (epochs, best AUC)."""
    import keras

    stopper = keras.callbacks.EarlyStopping(
        monitor="val_auc",
        mode="max",
        patience=config.early_stopping_patience,
        restore_best_weights=True,
    )
    progress.start_phase(phase, first_epoch, last_epoch)
    history = model.fit(
        train_data,
        validation_data=val_data,
        epochs=last_epoch,
        initial_epoch=first_epoch,
        class_weight=weights,
        shuffle=False,  # the tf.data pipeline shuffles itself
        callbacks=[progress, stopper, *extra],
        verbose=0,
    )
    best = stopper.best if stopper.best is not None and np.isfinite(stopper.best) else -1.0
    return len(history.history.get("loss", [])), float(best)


def _predict(
    model: keras.Model, pixels: np.ndarray, batch_size: int, replicas: int = 1
) -> tuple[np.ndarray, float]:
    """P(Real) for every image and the inference time per image in milliseconds.

    With several replicas every batch is padded to full size: a replica handed an
    empty slice of a short last batch fails in TensorFlow.
    """
    import keras

    count = len(pixels)
    padded = pixels
    if replicas > 1:
        missing = -count % batch_size
        padded = np.concatenate([pixels, np.zeros((missing, *pixels.shape[1:]), pixels.dtype)])
    model.predict(padded[: min(len(padded), batch_size)], verbose=0)  # trace outside the timing
    start = time.perf_counter()
    logits = model.predict(padded, batch_size=batch_size, verbose=0).reshape(-1)[:count]
    elapsed = time.perf_counter() - start
    p_real = np.asarray(keras.ops.sigmoid(logits), dtype=np.float64)
    return p_real, 1000.0 * elapsed / max(1, count)


def _run(
    config: TrainConfig, run_dir: Path, status: dict[str, Any], callbacks: Sequence, echo: bool
) -> RunResult:
    from core.data import make_dataset

    root, is_demo = dataset_root(config)
    subsets = load_subsets(config, root)
    # The dataset as given (None: the demo set) next to where it was found: the
    # relative file lists stay usable after the dataset or the artifacts move.
    located = {"data_dir": config.data_dir, "is_demo": is_demo}
    runs.write_json(run_dir / "subsets.json", {**subsets.to_dict(), **located})
    if runs.cancel_requested(run_dir):
        raise Cancelled

    import keras
    import tensorflow as tf

    from core.models import registry

    keras.utils.set_random_seed(config.seed)
    weights = class_weights(subsets.train.labels, config.class_weight)
    options: dict[str, Any] = {"augment": config.augment, "seed": config.seed}
    extra_config: dict[str, Any] = {
        "dataset": str(subsets.root),
        "is_demo": is_demo,
        "class_weights": weights,
        "notes": subsets.notes,
    }
    weights_message = ""
    imagenet = False
    if config.model == "xception":
        from core.models.xception import resolve_weights

        choice = resolve_weights(config.weights_path)
        options["weights"] = choice.path
        imagenet = choice.imagenet
        weights_message = choice.message
        extra_config["weights"] = choice.to_dict()
    runs.write_json(run_dir / "config.json", {**config.to_dict(), **extra_config})
    if echo:
        for note in subsets.notes + ([weights_message] if weights_message else []):
            print(note, flush=True)

    strategy = distribution_strategy()
    precision = settings.training_precision(bool(tf.config.list_physical_devices("GPU")))
    status["training_precision"] = precision  # "precision" is a metric elsewhere
    with strategy.scope():
        model = registry.build(
            config.model, image_size=config.image_size, precision=precision, **options
        )
        compile_model(model, config.learning_rate)
    train_data = make_dataset(subsets.train, config.batch_size, shuffle=True, seed=config.seed)
    val_data = make_dataset(subsets.validation, config.batch_size, shuffle=False)
    replicas = strategy.num_replicas_in_sync
    if replicas > 1:  # drop a last batch too short to give every replica an image
        train_data, val_data = (
            data.filter(lambda x, y: tf.shape(x)[0] >= replicas) for data in (train_data, val_data)
        )
    status.update(
        batches=math.ceil(len(subsets.train.labels) / config.batch_size),
        train_images=len(subsets.train.labels),
        devices=strategy.num_replicas_in_sync,
    )
    fine_tune = config.fine_tune_epochs if imagenet else 0
    status["epochs"] = config.epochs + fine_tune
    progress = _make_progress_callback(run_dir, status, echo)

    start = time.time()
    epochs_run, best_auc = _fit_phase(
        model,
        train_data,
        val_data,
        config,
        progress,
        callbacks,
        weights,
        0,
        config.epochs,
        "training",
    )
    if fine_tune:
        from core.models.xception import unfreeze_top

        snapshot = _snapshot(model)
        with strategy.scope():
            unfreeze_top(model)
            compile_model(model, config.learning_rate * FINE_TUNE_LR_FACTOR)
        tuned, tuned_auc = _fit_phase(
            model,
            train_data,
            val_data,
            config,
            progress,
            callbacks,
            weights,
            epochs_run,
            epochs_run + fine_tune,
            "fine-tuning",
        )
        epochs_run += tuned
        if tuned_auc < best_auc:  # fine-tuning did not help on validation: keep phase 1
            _restore(model, snapshot)
    train_seconds = time.time() - start

    progress.update(phase="evaluating", force=True)
    if precision != "float32":
        # Save and score a float32 copy: it runs at full speed on any CPU.
        with strategy.scope():
            portable = registry.build(config.model, image_size=config.image_size, **options)
        portable.set_weights(model.get_weights())
        model = portable
    p_val, _ = _predict(
        model, subsets.validation.pixels, config.batch_size, strategy.num_replicas_in_sync
    )
    threshold = validation_threshold(subsets.validation.labels, p_val)
    logit_shift = calibrate_decision_bias(model, threshold)
    model.save(run_dir / "model.keras")
    p_real, ms_per_image = _predict(
        model, subsets.test.pixels, config.batch_size, strategy.num_replicas_in_sync
    )
    metrics = {
        **_report(subsets.test.labels, p_real),
        # The saved model's 0.5 is the Validation-chosen threshold (see calibrate_decision_bias).
        "val_threshold": threshold,
        "logit_shift": logit_shift,
        "train_seconds": round(train_seconds, 2),
        "images_per_second": round(progress.images_seen / max(progress.train_seconds, 1e-9), 2),
        "params": int(model.count_params()),
        "epochs_run": epochs_run,
        "inference_ms_per_image": round(ms_per_image, 3),
        "test_files": subsets.test.paths,
        # Content id of the test files, computed once here (core.testsets).
        "test_set_id": testsets.test_set_id(subsets.root, subsets.test.paths),
        "dataset": str(subsets.root),
        **located,
        "weights_message": weights_message,
        "image_size": config.image_size,
        "model": config.model,
        "model_display": DISPLAY_NAMES.get(config.model, config.model),
        "devices": strategy.num_replicas_in_sync,
        "training_precision": precision,
    }
    runs.write_json(run_dir / "metrics.json", metrics)
    return RunResult(run_dir, "finished", metrics)


def _report(labels: np.ndarray, p_real: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    from core.metrics import detection_report

    return detection_report(labels, p_real, threshold)


def validation_threshold(labels: np.ndarray, p_real: np.ndarray) -> float:
    """The P(Real) threshold with the best balanced accuracy on validation (ties: nearest 0.5).

    A model trained on a 3:1 split can rank well yet lean to one class at 0.5. The
    threshold returned lies halfway between the two validation scores it separates,
    not on a score, so it does not hug one validation image; it is kept within
    [0.02, 0.98].
    """
    from core.metrics import balanced_accuracy

    if len(np.unique(labels)) < 2:
        return 0.5
    scores = np.unique(p_real)
    # Candidate cuts: 0.5 and the midpoints between consecutive distinct scores.
    candidates = np.unique(np.r_[0.5, (scores[:-1] + scores[1:]) / 2])
    accuracies = [balanced_accuracy(labels, (p_real >= t).astype(int)) for t in candidates]
    best = max(accuracies)
    ties = [t for t, score in zip(candidates, accuracies, strict=True) if score == best]
    return float(np.clip(min(ties, key=lambda t: abs(t - 0.5)), 0.02, 0.98))


def calibrate_decision_bias(model: Any, threshold: float) -> float:
    """Shift the model's logit so that P(Real) = 0.5 falls where ``threshold`` was.

    Every model ends in a one-unit Dense layer named ``logit``; subtracting
    logit(threshold) from its bias moves the decision point without changing the
    ranking (AUC, AP and EER are unchanged). The saved model then answers with the
    Validation-chosen threshold everywhere it is used at 0.5 (classify, re-score).

    Returns:
        The shift added to the logit (0.0 when the threshold is 0.5).
    """
    shift = -float(np.log(threshold / (1.0 - threshold)))
    if shift:
        layer = model.get_layer("logit")
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, bias + np.float32(shift)])
    return shift


def train(
    config: TrainConfig,
    run_dir: Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    echo: bool = False,
) -> RunResult:
    """Train ``config.model`` and write a complete run folder.

    Args:
        config: what to train.
        run_dir: an existing (queued) run folder; None creates ``<model>_<timestamp>``.
        callbacks: extra Keras callbacks added to ``fit``.
        echo: print progress and notes to stdout (the CLI does).

    Returns:
        The run folder, its final state (``finished`` or ``cancelled``) and its metrics.

    Raises:
        Exception: whatever made the run fail, after marking it ``failed`` with the
            error in status.json and the traceback in ``error.log``.
    """
    settings.enable_onednn()
    run_dir = Path(run_dir) if run_dir else runs.new_run_dir(config.model)
    previous: dict[str, Any] = {}
    if (run_dir / "status.json").exists():
        try:
            previous = runs.read_json(run_dir / "status.json")
        except runs.RunError:
            previous = {}
    if not (run_dir / "config.json").exists():
        runs.write_json(run_dir / "config.json", config.to_dict())
    now = time.time()
    status: dict[str, Any] = {
        "phase": "loading data",
        "epoch": 0,
        "epochs": config.epochs + config.fine_tune_epochs,
        "batch": 0,
        "batches": 0,
        "elapsed_s": 0.0,
        "eta_s": None,
        "pid": os.getpid(),
        "created": previous.get("created", now),
        "started": now,
        "error": None,
    }
    runs.set_status(run_dir, "running", **status)
    try:
        if runs.cancel_requested(run_dir):
            raise Cancelled
        result = _run(config, run_dir, status, callbacks, echo)
    except Cancelled:
        status["elapsed_s"] = round(time.time() - status["started"], 1)
        runs.set_status(run_dir, "cancelled", **{**status, "eta_s": None})
        return RunResult(run_dir, "cancelled", None)
    except BaseException as error:
        (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
        message = " ".join(str(error).split()) or type(error).__name__
        status["elapsed_s"] = round(time.time() - status["started"], 1)
        runs.set_status(run_dir, "failed", **{**status, "error": message, "eta_s": None})
        raise
    status["elapsed_s"] = round(time.time() - status["started"], 1)
    runs.set_status(run_dir, "finished", **{**status, "phase": "done", "eta_s": 0.0})
    return result


def _parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m core.train",
        description="Train a deepfake detector and save a run folder under DEEPFAKE_ARTIFACTS_DIR.",
    )
    parser.add_argument(
        "--run-dir", type=Path, help="train the queued run whose config.json is here"
    )
    parser.add_argument("--config", type=Path, help="a JSON file with TrainConfig fields")
    parser.add_argument("--model", default=defaults.model, help="cnn, capsnet or xception")
    parser.add_argument("--data-dir", help="dataset folder (default: the generated demo dataset)")
    parser.add_argument("--image-size", type=int, default=defaults.image_size)
    parser.add_argument("--train-size", type=int, help="training images (default: whole split)")
    parser.add_argument("--val-size", type=int, help="validation images (default: whole split)")
    parser.add_argument("--test-size", type=int, help="test images (default: whole split)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--no-augment", action="store_true", help="turn off random flips")
    parser.add_argument(
        "--class-weight", choices=("auto", "on", "off"), default=defaults.class_weight
    )
    parser.add_argument("--patience", type=int, default=defaults.early_stopping_patience)
    parser.add_argument("--fine-tune-epochs", type=int, default=defaults.fine_tune_epochs)
    parser.add_argument("--weights-path", help="Xception: an ImageNet no-top weights file")
    return parser


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
    )
    return config, None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m core.train``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        config, run_dir = config_from_args(args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        result = train(config, run_dir=run_dir, echo=True)
    except Exception as error:
        print(f"error: training failed: {error}", file=sys.stderr)
        return 1
    if result.state != "finished" or result.metrics is None:
        print(f"Run {result.state}: {result.run_dir}")
        return 3
    metrics = result.metrics
    print(
        f"{metrics['model_display']}: test accuracy {metrics['accuracy']:.3f}, "
        f"AUC {metrics['auc'] if metrics['auc'] is None else round(metrics['auc'], 3)}, "
        f"loss {metrics['loss']:.4f}, {metrics['epochs_run']} epochs, "
        f"{metrics['train_seconds']:.1f} s, {metrics['images_per_second']:.1f} images/s"
    )
    print(f"Run folder: {result.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
