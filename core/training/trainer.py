"""Train one detector on a dataset and save a complete run folder; also the headless CLI.

:func:`train` reads top to bottom like a keras-io example, one short step each:

1. :func:`load_data`: sample the subsets (stratified, seeded) and decode them once;
2. :func:`build_model`: resolve pre-trained weights (where the model's spec has them),
   record the config, build and compile the model from the registry;
3. :func:`fit_phases`: fit with early stopping on validation AUC, then fine-tune
   where the spec has a fine-tuning hook;
4. :func:`calibrate`: move the decision point to the Validation-chosen threshold;
5. :func:`evaluate`: score the test subset (:mod:`core.evaluation.scoring`);
6. :func:`save`: ``model.keras``, then ``metrics.json``, then ``model_card.md``.

:class:`Progress` writes ``status.json`` (at most twice a second) and
``history.json`` (every epoch), so the Training page, running in another process,
can follow it. A cancel request (:func:`core.runs.run_folders.request_cancel`) is honoured
within one batch while fitting or scoring, and between every two steps.

The command line (``python -m core.train``, ``deepfake-train``) is :mod:`core.training.cli`.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import settings
from core.data import testsets
from core.runs import run_folders
from core.training import distribute

settings.enable_onednn()  # must precede the TensorFlow import below

import keras  # noqa: E402
import numpy as np  # noqa: E402

from core.data.blend import DEFAULT_PARAMS  # noqa: E402
from core.data.catalog import LoadedImages  # noqa: E402
from core.evaluation import scoring  # noqa: E402
from core.models import registry  # noqa: E402
from core.runs import learning, model_card, tblogs  # noqa: E402
from core.runs.config import TrainConfig  # noqa: E402
from core.runs.progress import Cancelled, Progress  # noqa: E402
from core.training import checkpoint, features, pipelines  # noqa: E402
from core.training.calibration import calibrate_decision_bias, validation_threshold  # noqa: E402
from core.training.distribute import distribution_strategy  # noqa: E402
from core.training.subsets import Subsets, class_weights, load_subsets  # noqa: E402

logger = logging.getLogger(__name__)

#: Fine-tuning learning rate, relative to the first phase's.
FINE_TUNE_LR_FACTOR = 0.1
#: The steps of a run, in order; ``on_step`` hooks receive these names.
STEPS = ("load data", "build", "fit", "calibrate", "evaluate", "save")


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


def compile_model(model: keras.Model, learning_rate: float) -> None:
    """Compile with Adam, binary cross-entropy on the logit, accuracy and AUC."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0),
            keras.metrics.AUC(name="auc", from_logits=True),
        ],
    )


# --- 1. load data ------------------------------------------------------------------


def load_data(config: TrainConfig, run_dir: Path, progress: Progress) -> Subsets:
    """Choose and decode the run's subsets (subsets.json); find faces for self-blending."""
    subsets = load_subsets(config, progress=progress)
    run_folders.write_json(run_dir / "subsets.json", subsets.to_dict(config.data_dir))
    subsets.face_boxes = pipelines.find_faces(subsets, config.fakes_from, progress)
    return subsets


# --- 2. build -----------------------------------------------------------------------


@dataclass
class Setup:
    """The built model and what it was built with.

    Attributes:
        model: the compiled model.
        strategy: the tf.distribute strategy it lives in.
        precision: the Keras dtype policy it computes in.
        build_args: the arguments it was built with (a float32 copy reuses them).
        weights: what happened with pre-trained weights, or None for models without.
        class_weights: the class weights of the loss, or None.
        precision_reason: why it computes in ``precision``, in a few words.
    """

    model: keras.Model
    strategy: Any
    precision: str
    build_args: dict[str, Any]
    weights: registry.WeightsChoice | None
    class_weights: dict[int, float] | None
    precision_reason: str = ""

    @property
    def replicas(self) -> int:
        """Devices the model is mirrored on."""
        return int(self.strategy.num_replicas_in_sync)


def build_model(config: TrainConfig, run_dir: Path, subsets: Subsets, echo: bool) -> Setup:
    """Resolve weights, write config.json with what was found, build and compile the model."""
    import tensorflow as tf

    spec = registry.get_spec(config.model)
    keras.utils.set_random_seed(config.seed)
    weights = spec.resolve_weights(config.weights_path) if spec.resolve_weights else None
    shown = pipelines.effective_labels(subsets.train, config.fakes_from)
    balance = class_weights(shown, config.class_weight)
    facts: dict[str, Any] = {
        "dataset": str(subsets.root),
        "is_demo": subsets.is_demo,
        "class_weights": balance,
        "notes": subsets.notes,
    }
    if weights is not None:
        facts["weights"] = weights.to_dict()
    if config.fakes_from != "dataset":
        facts["blend_params"] = DEFAULT_PARAMS.to_dict()
    run_folders.write_json(run_dir / "config.json", {**config.to_dict(), **facts})
    if echo:
        for note in subsets.notes + ([weights.message] if weights else []):
            print(note, flush=True)
    strategy = distribution_strategy()
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    default_precision = registry.get_spec(config.model).default_precision
    precision, why = distribute.choose_precision(has_gpu, default=default_precision)
    build_args = {"image_size": config.image_size, "augment": config.augment, "seed": config.seed}
    build_args.update(config.options)
    if weights is not None:
        build_args["weights"] = weights.path
    with strategy.scope():
        model = registry.build(config.model, precision=precision, **build_args)
        compile_model(model, config.learning_rate)
    return Setup(model, strategy, precision, build_args, weights, balance, why)


# --- 3. fit -------------------------------------------------------------------------


def _snapshot(model: keras.Model) -> dict[str, np.ndarray]:
    return {variable.path: np.array(variable) for variable in model.weights}


def _restore(model: keras.Model, snapshot: dict[str, np.ndarray]) -> None:
    for variable in model.weights:
        variable.assign(snapshot[variable.path])


def _fit(
    setup: Setup,
    datasets: tuple[Any, Any],
    config: TrainConfig,
    progress: Progress,
    extra: Sequence[keras.callbacks.Callback],
    epochs: tuple[int, int],
    phase: str,
    saver: checkpoint.Checkpointer,
) -> tuple[int, float]:
    """Fit ``epochs[0]``-``epochs[1]`` with early stopping (resumed); return (epochs, best AUC)."""
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_auc",
        mode="max",
        patience=config.early_stopping_patience,
        restore_best_weights=True,
    )
    first = saver.start(phase, stopper, epochs)
    # The speed records are kept per precision: bfloat16 and float32 differ 0.7-1.4x.
    timed = {**config.to_dict(), "precision": setup.precision}
    progress.start_phase(phase, first, epochs[1], timed)
    setup.model.fit(
        datasets[0],
        validation_data=datasets[1],
        epochs=epochs[1],
        initial_epoch=first,
        class_weight=setup.class_weights,
        shuffle=False,  # the tf.data pipeline shuffles itself
        callbacks=[progress, stopper, saver, *extra],  # saver after the two it saves
        verbose=0,
    )
    progress.save_rate(timed, phase)
    best = stopper.best if stopper.best is not None and np.isfinite(stopper.best) else -1.0
    return len(progress.history.get("loss", [])) - epochs[0], float(best)


def fit_phases(
    setup: Setup,
    subsets: Subsets,
    config: TrainConfig,
    progress: Progress,
    extra: Sequence[keras.callbacks.Callback] = (),
) -> tuple[int, float]:
    """Fit, then fine-tune where the spec can and the weights are pre-trained.

    Returns:
        (epochs run, training seconds).
    """
    spec = registry.get_spec(config.model)
    pretrained = setup.weights is not None and setup.weights.pretrained
    fine_tune = config.fine_tune_epochs if pretrained and spec.fine_tune else 0
    progress.update(
        batches=pipelines.steps_per_epoch(subsets.train, config.fakes_from, config.batch_size),
        train_images=len(pipelines.effective_labels(subsets.train, config.fakes_from)),
        val_images=len(subsets.validation.labels),
        val_batches=-(-len(subsets.validation.labels) // config.batch_size),
        devices=setup.replicas,
        **distribute.devices_used(setup.strategy),
        epochs=config.epochs + fine_tune,
        training_precision=setup.precision,  # "precision" is a metric elsewhere
        precision_reason=setup.precision_reason,
    )
    datasets = pipelines.training_datasets(subsets, config, setup.replicas, subsets.face_boxes)
    saver = checkpoint.Checkpointer(progress, setup, datasets[0], subsets)  # resumes, if it can
    start = time.time() - saver.seconds
    epochs_run, best_auc = (
        saver.phase_one
        or features.fit_frozen(setup, subsets, config, progress, extra, compile_model)
        or _fit(setup, datasets, config, progress, extra, (0, config.epochs), "training", saver)
    )
    if fine_tune and spec.fine_tune:
        snapshot = saver.keep_phase_one(_snapshot(setup.model), epochs_run, best_auc)
        with setup.strategy.scope():
            spec.fine_tune(setup.model)
            compile_model(setup.model, config.learning_rate * FINE_TUNE_LR_FACTOR)
        span = (epochs_run, epochs_run + fine_tune)
        tuned, tuned_auc = _fit(
            setup, datasets, config, progress, extra, span, "fine-tuning", saver
        )
        epochs_run += tuned
        if tuned_auc < best_auc:  # fine-tuning did not help on validation: keep phase 1
            _restore(setup.model, snapshot)
    return epochs_run, time.time() - start


# --- 4. calibrate -------------------------------------------------------------------


def portable_model(setup: Setup, config: TrainConfig) -> keras.Model:
    """The model to save: itself in float32, else a float32 copy (full speed on any CPU)."""
    if setup.precision == "float32":
        return setup.model
    with setup.strategy.scope():
        copy = registry.build(config.model, **setup.build_args)
    copy.set_weights(setup.model.get_weights())
    return copy


def calibrate(
    model: keras.Model, validation: LoadedImages, setup: Setup, config: TrainConfig, progress: Any
) -> tuple[float, float]:
    """Choose the threshold on validation and move the logit to it.

    Returns:
        (the validation threshold, the shift added to the logit).
    """
    p_val, _ = scoring.timed_p_real(
        model, validation.pixels, config.batch_size, setup.replicas, [progress]
    )
    threshold = validation_threshold(validation.labels, p_val)
    return threshold, calibrate_decision_bias(model, threshold)


# --- 5. evaluate --------------------------------------------------------------------


def evaluate(
    model: keras.Model, subsets: Subsets, setup: Setup, config: TrainConfig, progress: Progress
) -> dict[str, Any]:
    """Score the test subset with the saved model; return its detection report."""
    from core.metrics import detection_report

    p_real, ms_per_image = scoring.timed_p_real(
        model, subsets.test.pixels, config.batch_size, setup.replicas, [progress]
    )
    report = detection_report(subsets.test.labels, p_real, 0.5)
    report["inference_ms_per_image"] = round(ms_per_image, 3)
    # Per image, in test_files order: paired comparisons on the same images need them.
    report["labels"] = [int(label) for label in subsets.test.labels]
    report["p_real"] = np.round(p_real, 6).tolist()
    return report


def run_metrics(
    report: dict[str, Any],
    calibration: tuple[float, float],
    fit: tuple[int, float],
    model: keras.Model,
    subsets: Subsets,
    setup: Setup,
    config: TrainConfig,
    progress: Progress,
) -> dict[str, Any]:
    """The contents of metrics.json: the test report and the facts of the run."""
    epochs_run, train_seconds = fit
    return {
        **report,
        # The saved model's 0.5 is the Validation-chosen threshold (see calibrate_decision_bias).
        "val_threshold": calibration[0],
        "logit_shift": calibration[1],
        "train_seconds": round(train_seconds, 2),
        "images_per_second": round(progress.images_seen / max(progress.train_seconds, 1e-9), 2),
        "params": int(model.count_params()),
        "epochs_run": epochs_run,
        "inference_ms_per_image": report["inference_ms_per_image"],
        "test_files": subsets.test.paths,
        # Content id of the test files, computed once here (core.data.testsets).
        "test_set_id": testsets.test_set_id(subsets.root, subsets.test.paths),
        "dataset": str(subsets.root),
        "data_dir": config.data_dir,
        "is_demo": subsets.is_demo,
        "weights_message": setup.weights.message if setup.weights else "",
        "image_size": config.image_size,
        "model": config.model,
        "model_display": registry.display_name(config.model),
        "devices": setup.replicas,
        **distribute.devices_used(setup.strategy),
        "training_precision": setup.precision,
        "learning": learning.assess(report, progress.history, config.to_dict()).to_dict(),
    }


# --- 6. save ------------------------------------------------------------------------


def save(run_dir: Path, model: keras.Model, metrics: dict[str, Any], progress: Progress) -> None:
    """Write model.keras, metrics.json (a cancel before it leaves no result), model_card.md."""
    model.save(run_dir / "model.keras")
    progress.check_cancel()
    run_folders.write_json(run_dir / "metrics.json", metrics)
    model_card.write_card(run_dir)


def _run(
    config: TrainConfig,
    run_dir: Path,
    progress: Progress,
    callbacks: Sequence[keras.callbacks.Callback],
    echo: bool,
) -> RunResult:
    progress.step("load data")
    subsets = load_data(config, run_dir, progress)
    progress.step("build")
    setup = build_model(config, run_dir, subsets, echo)
    progress.step("fit")
    fit = fit_phases(setup, subsets, config, progress, [*callbacks, *tblogs.callbacks(run_dir)])
    progress.step("calibrate", phase="evaluating")
    model = portable_model(setup, config)
    calibration = calibrate(model, subsets.validation, setup, config, progress)
    progress.step("evaluate")
    report = evaluate(model, subsets, setup, config, progress)
    metrics = run_metrics(report, calibration, fit, model, subsets, setup, config, progress)
    progress.step("save")
    save(run_dir, model, metrics, progress)
    return RunResult(run_dir, "finished", metrics)


def _initial_status(config: TrainConfig, run_dir: Path) -> dict[str, Any]:
    try:
        previous = run_folders.read_json(run_dir / "status.json")
    except run_folders.RunError:  # missing or unreadable
        previous = {}
    now = time.time()
    return {
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


def train(
    config: TrainConfig,
    run_dir: Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    echo: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> RunResult:
    """Train ``config.model`` and write a complete run folder.

    Args:
        config: what to train.
        run_dir: an existing (queued) run folder; None creates ``<model>_<timestamp>``.
        callbacks: extra Keras callbacks added to ``fit``.
        echo: print progress and notes to stdout (the CLI does).
        on_step: called with each step's name (:data:`STEPS`) before it starts.

    Returns:
        The run folder, its final state (``finished`` or ``cancelled``) and its metrics.

    Raises:
        Exception: whatever made the run fail, after marking it ``failed`` with the
            error in status.json and the traceback in ``error.log``.
    """
    run_dir = distribute.run_folder(run_dir, config.model)  # first: may start TF's cluster
    if not (run_dir / "config.json").exists():
        run_folders.write_json(run_dir / "config.json", config.to_dict())
    progress = Progress(run_dir, _initial_status(config, run_dir), echo, on_step)
    try:
        result = _run(config, run_dir, progress, callbacks, echo)
    except Cancelled:
        progress.end("cancelled")
        return RunResult(run_dir, "cancelled", None)
    except BaseException as error:
        (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
        progress.end("failed", error=" ".join(str(error).split()) or type(error).__name__)
        raise
    progress.end("finished", phase="done", eta_s=0.0)
    return result
