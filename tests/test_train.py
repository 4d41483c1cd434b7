"""The trainer end to end on tiny data: complete run folders, cancel, failure, CLI, devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from core import settings
from core.evaluation import scoring
from core.models import registry
from core.runs import learning, run_folders
from core.runs.config import TrainConfig
from core.training import cli as train_module
from core.training.subsets import class_weights
from core.training.trainer import STEPS, RunResult, train
from tests.conftest import make_tree

METRIC_KEYS = {
    "accuracy",
    "balanced_accuracy",
    "auc",
    "ap",
    "eer",
    "loss",
    "precision",
    "recall",
    "f1",
    "confusion_matrix",
    "roc",
    "train_seconds",
    "images_per_second",
    "params",
    "epochs_run",
    "inference_ms_per_image",
    "test_files",
    "dataset",
    "is_demo",
    "weights_message",
    "image_size",
    "model",
    "model_display",
    "val_threshold",
    "logit_shift",
    "training_precision",
}


def _config(data: Path, **changes) -> TrainConfig:
    values = dict(model="cnn", data_dir=str(data), image_size=32, epochs=1, batch_size=8, seed=3)
    values.update(changes)
    return TrainConfig(**values)


def _read(run_dir: Path, name: str):
    return json.loads((run_dir / name).read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_train_writes_a_complete_run_folder(tiny_dataset, precision, monkeypatch):
    monkeypatch.setenv(settings.PRECISION_ENV, precision)
    result = train(_config(tiny_dataset, epochs=2))
    assert isinstance(result, RunResult) and result.state == "finished"
    run_dir = result.run_dir
    assert run_dir.parent == settings.runs_dir() and run_dir.name.startswith("cnn_")
    for name in ("config.json", "status.json", "history.json", "subsets.json", "model.keras"):
        assert (run_dir / name).is_file(), name

    metrics = _read(run_dir, "metrics.json")
    assert set(metrics) >= METRIC_KEYS
    assert metrics == result.metrics
    assert metrics["n"] == 10 and metrics["is_demo"] is False and metrics["epochs_run"] >= 1
    assert metrics["images_per_second"] > 0 and metrics["params"] > 0

    subsets = _read(run_dir, "subsets.json")
    assert len(subsets["train"]) == 20 and len(subsets["validation"]) == 10
    assert metrics["test_files"] == subsets["test"] and len(subsets["test"]) == 10
    assert all(path.startswith("Test/") for path in subsets["test"])
    assert subsets["skipped"] == []

    config = _read(run_dir, "config.json")
    assert TrainConfig.from_dict(config) == _config(tiny_dataset, epochs=2)
    assert config["dataset"] == str(tiny_dataset) and config["is_demo"] is False

    history = _read(run_dir, "history.json")
    for key in ("loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc"):
        assert len(history[key]) == metrics["epochs_run"], key

    status = _read(run_dir, "status.json")
    assert status["state"] == "finished" and status["error"] is None
    assert status["pid"] == os.getpid() and status["epochs"] == 2 and status["batches"] == 3
    assert status["training_precision"] == precision  # shown on the Training page

    run = run_folders.load_run(run_dir)
    assert run.finished

    # The saved model reproduces the stored test predictions' metrics.
    from core.data.catalog import Sample, load_images
    from core.metrics import detection_report
    from core.models.registry import import_all

    import_all()
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    # Trained in bfloat16 or not, the saved model computes in float32 (runs on any CPU).
    assert metrics["training_precision"] == precision
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    samples = [Sample(path, int("/Real/" in path)) for path in metrics["test_files"]]
    loaded = load_images(tiny_dataset, samples, 32)
    p_real = 1 / (1 + np.exp(-model.predict(loaded.pixels, verbose=0).reshape(-1)))
    again = detection_report(loaded.labels, p_real)
    assert again["accuracy"] == pytest.approx(metrics["accuracy"])
    assert again["auc"] == pytest.approx(metrics["auc"], abs=1e-6)
    # Per-image scores in test_files order (paired comparisons), and the run's verdict.
    assert metrics["labels"] == [int(label) for label in loaded.labels]
    assert np.allclose(metrics["p_real"], p_real, atol=1e-5)
    assert metrics["learning"] == learning.assess(metrics, history, config).to_dict()


@pytest.mark.slow
def test_missing_validation_split_is_held_out_of_train(tmp_path):
    data = make_tree(tmp_path / "Dataset", {"Train": (10, 10), "Test": (3, 3)})
    result = train(_config(data, model="capsnet"))
    subsets = _read(result.run_dir, "subsets.json")
    assert len(subsets["validation"]) == 4 and len(subsets["train"]) == 16
    assert not set(subsets["validation"]) & set(subsets["train"])
    assert any("held out" in note for note in _read(result.run_dir, "config.json")["notes"])


def test_missing_test_split_fails_clearly(tmp_path):
    data = make_tree(tmp_path / "Dataset", {"Train": (4, 4), "Validation": (2, 2)})
    with pytest.raises(ValueError, match="no Test images"):
        train(_config(data))
    (run,) = run_folders.list_runs()
    assert run.state == "failed" and "no Test images" in run.status["error"]


def test_cancel_before_start_leaves_no_metrics(tiny_dataset):
    run_dir = run_folders.new_run_dir("cnn")
    run_folders.set_status(run_dir, "queued", created=123.0)
    run_folders.request_cancel(run_dir)
    result = train(_config(tiny_dataset), run_dir=run_dir)
    assert result.state == "cancelled" and result.metrics is None
    status = _read(run_dir, "status.json")
    assert status["state"] == "cancelled" and status["created"] == 123.0
    assert not (run_dir / "metrics.json").exists()
    assert not run_folders.load_run(run_dir).finished


@pytest.mark.slow
def test_cancel_during_training_stops_within_a_batch(tiny_dataset):
    run_dir = run_folders.new_run_dir("cnn")
    seen = []

    class CancelAfterFirstBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)
            run_folders.request_cancel(run_dir)

    result = train(
        _config(tiny_dataset, epochs=5, batch_size=4), run_dir, [CancelAfterFirstBatch()]
    )
    assert result.state == "cancelled"
    assert seen == [0]  # the trainer stopped at the next batch
    assert _read(run_dir, "status.json")["state"] == "cancelled"
    assert not (run_dir / "metrics.json").exists()
    assert not (run_dir / "model.keras").exists()


@pytest.mark.slow
def test_a_crash_is_marked_failed_with_its_error(tiny_dataset, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(scoring, "timed_p_real", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        train(_config(tiny_dataset))
    (run,) = run_folders.list_runs()
    assert run.state == "failed" and not run.finished
    assert run.status["error"] == "disk on fire second line"
    assert "Traceback" in (run.path / "error.log").read_text()
    assert not (run.path / "metrics.json").exists()


def test_class_weights_balance_an_imbalanced_split():
    three_to_one = np.array([1] * 300 + [0] * 100)
    weights = class_weights(three_to_one, "auto")
    assert weights == pytest.approx({0: 2.0, 1: 400 / 600})
    balanced = np.array([0, 1] * 10)
    assert class_weights(balanced, "auto") is None
    assert class_weights(balanced, "on") == pytest.approx({0: 1.0, 1: 1.0})
    assert class_weights(three_to_one, "off") is None


@pytest.mark.slow
def test_queued_run_trains_in_its_folder(tiny_dataset):
    config = _config(tiny_dataset)
    run_dir = run_folders.new_run_dir("cnn")
    run_folders.write_json(run_dir / "config.json", config.to_dict())
    run_folders.set_status(run_dir, "queued", created=5.0)
    assert train_module.main(["--run-dir", str(run_dir)]) == 0
    assert run_folders.load_run(run_dir).finished
    assert train_module.main(["--data-dir", str(tiny_dataset.parent / "nowhere")]) == 1


@pytest.mark.slow
def test_cli_trains_end_to_end(tiny_dataset, artifacts):
    command = [
        sys.executable,
        "-m",
        "core.training",
        "--model",
        "cnn",
        "--data-dir",
        str(tiny_dataset),
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--train-size",
        "12",
    ]
    done = subprocess.run(
        command,
        cwd=settings.REPO_ROOT,
        env={**os.environ, settings.ARTIFACTS_ENV: str(artifacts)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "epoch 1:" in done.stdout and "test accuracy" in done.stdout
    judged = learning.of_record(run_folders.list_runs(artifacts / "runs")[0].metrics)
    assert judged.text in done.stdout.splitlines()  # once: the message names its verdict
    (run,) = run_folders.list_runs(artifacts / "runs")
    assert run.finished and f"Run folder: {run.path}" in done.stdout
    assert len(run.subsets()["train"]) == 12


@pytest.mark.slow
def test_two_devices_use_mirrored_strategy(tiny_dataset, artifacts):
    # Logical devices must be configured before TensorFlow initialises: a fresh process.
    script = textwrap.dedent(
        f"""
        from core import settings
        settings.enable_onednn()
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        from core.runs.config import TrainConfig
        from core.training.trainer import distribution_strategy, train
        assert distribution_strategy().num_replicas_in_sync == 2
        config = TrainConfig(model="cnn", data_dir={str(tiny_dataset)!r}, image_size=32,
                             epochs=1, batch_size=8)
        result = train(config)
        print("DEVICES", result.metrics["devices"], result.state)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.REPO_ROOT,
        env={**os.environ, settings.ARTIFACTS_ENV: str(artifacts)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "DEVICES 2 finished" in done.stdout


@pytest.mark.slow
def test_without_a_data_dir_trains_on_the_demo_dataset():
    config = TrainConfig(
        image_size=32, train_size=16, val_size=8, test_size=8, epochs=1, batch_size=8
    )
    result = train(config)
    assert result.state == "finished"
    assert result.metrics["is_demo"] is True and result.metrics["n"] == 8
    config_json = _read(result.run_dir, "config.json")
    assert config_json["is_demo"] is True and config_json["data_dir"] is None


def test_validation_threshold_separates_a_shifted_model():
    from core.training.calibration import validation_threshold

    labels = np.array([0, 0, 0, 1, 1, 1])
    leaning_real = np.array([0.55, 0.6, 0.65, 0.8, 0.85, 0.9])  # ranks right, all >= 0.5
    threshold = validation_threshold(labels, leaning_real)
    assert 0.65 < threshold <= 0.8
    assert validation_threshold(np.array([1, 1]), np.array([0.2, 0.9])) == 0.5


def test_calibration_moves_the_decision_point_and_keeps_the_ranking():
    from core.metrics import balanced_accuracy
    from core.training.calibration import calibrate_decision_bias, validation_threshold

    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="logit")(inputs))
    model.set_weights([np.array([[4.0]], "float32"), np.array([6.0], "float32")])
    x = np.linspace(-2, 1, 40, dtype="float32").reshape(-1, 1)
    labels = (x.ravel() > -0.5).astype(int)  # Real above -0.5, but the model leans Real

    def p_real() -> np.ndarray:
        return 1 / (1 + np.exp(-model.predict_on_batch(x).ravel()))

    before = p_real()
    assert balanced_accuracy(labels, (before >= 0.5).astype(int)) < 0.8
    threshold = validation_threshold(labels, before)
    shift = calibrate_decision_bias(model, threshold)
    after = p_real()
    assert shift < 0
    assert balanced_accuracy(labels, (after >= 0.5).astype(int)) == 1.0
    assert np.array_equal(np.argsort(before), np.argsort(after))


def test_training_precision_is_float32_unless_asked(monkeypatch):
    bf16_cpu = "processor : 0\nflags : fpu sse2 avx512f avx512_bf16\n"
    plain_cpu = "processor : 0\nflags : fpu sse2 avx2\n"
    monkeypatch.delenv(settings.PRECISION_ENV, raising=False)
    assert settings.training_precision(False, bf16_cpu) == "float32"
    monkeypatch.setenv(settings.PRECISION_ENV, "mixed_bfloat16")
    assert settings.training_precision(False, plain_cpu) == "mixed_bfloat16"
    monkeypatch.setenv(settings.PRECISION_ENV, "auto")  # bf16 only where it is native
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    assert settings.training_precision(False, bf16_cpu) == "mixed_bfloat16"  # by the flag
    assert settings.training_precision(False, plain_cpu) == "float32"
    assert settings.training_precision(True, bf16_cpu) == "float32"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # bf16 would be emulated: slow
    assert settings.training_precision(False, bf16_cpu) == "float32"
    monkeypatch.setenv(settings.PRECISION_ENV, "fp8")
    with pytest.raises(ValueError, match="DEEPFAKE_PRECISION='fp8'"):
        settings.training_precision(False, bf16_cpu)


def test_only_xception_defaults_to_bfloat16_and_only_where_it_is_native(monkeypatch):
    """The paired-seed rule accepted bfloat16 for Xception alone (docs/BENCHMARKS.md)."""
    bf16_cpu = "processor : 0\nflags : fpu sse2 avx512f avx512_bf16\n"
    plain_cpu = "processor : 0\nflags : fpu sse2 avx2\n"
    monkeypatch.delenv(settings.PRECISION_ENV, raising=False)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    defaults = {
        name: registry.get_spec(name).default_precision for name in ("cnn", "capsnet", "xception")
    }
    assert defaults == {"cnn": "float32", "capsnet": "float32", "xception": "auto"}
    assert settings.training_precision(False, bf16_cpu, default="auto") == "mixed_bfloat16"
    assert settings.training_precision(False, plain_cpu, default="auto") == "float32"
    monkeypatch.setenv(settings.PRECISION_ENV, "float32")  # the variable decides for every model
    assert settings.training_precision(False, bf16_cpu, default="auto") == "float32"


@pytest.mark.slow
@pytest.mark.parametrize("step", ["calibrate", "evaluate", "save"])
def test_cancel_in_a_late_step_ends_the_run_cancelled(tiny_dataset, step):
    """Issue 15.8: a cancel pressed while evaluating ended the run as finished."""
    seen = []

    def cancel_at(name: str) -> None:
        seen.append(name)
        if name == step:
            run_folders.request_cancel(run_dir)

    run_dir = run_folders.new_run_dir("cnn")
    result = train(_config(tiny_dataset, epochs=1), run_dir=run_dir, on_step=cancel_at)
    assert seen == list(STEPS[: STEPS.index(step) + 1])
    assert result.state == "cancelled" and result.metrics is None
    assert _read(run_dir, "status.json")["state"] == "cancelled"
    assert not (run_dir / "metrics.json").exists()
    assert not run_folders.load_run(run_dir).finished


@pytest.mark.slow
def test_model_options_are_recorded_and_used(tiny_dataset):
    config = _config(tiny_dataset, epochs=1).replace(options={"widths": [16, 24], "dropout": 0.1})
    result = train(config)
    saved = _read(result.run_dir, "config.json")
    expected = {"high_pass": True, "stem_stride": 2, "fused_batch_norm": True}
    expected |= {"widths": [16, 24], "dropout": 0.1}
    assert saved["options"] == expected
    assert TrainConfig.from_dict(saved) == config
    model = keras.saving.load_model(result.run_dir / "model.keras")
    assert model.get_layer("block3_sepconv2").filters == 24  # two blocks of the given widths
    assert "block4_sepconv2" not in [layer.name for layer in model.layers]


def test_cli_sets_model_options_and_refuses_unknown_ones(tiny_dataset, capsys):
    args = ["--data-dir", str(tiny_dataset), "--model", "cnn", "--epochs", "1"]
    assert train_module.main([*args, "--option", "nope=1"]) == 2
    assert "cnn has no option 'nope'" in capsys.readouterr().err
    assert train_module.main([*args, "--option", "dropout"]) == 2
    assert train_module.main(["--list-options"]) == 0
    assert "routing_iterations=2" in capsys.readouterr().out
    parsed = train_module.config_from_args(
        train_module._parser().parse_args([*args, "--option", "widths=8,16"])
    )[0]
    assert parsed.options["widths"] == (8, 16)


def test_config_options_follow_the_model():
    config = TrainConfig(model="cnn", options={"dropout": 0.1})
    assert config.options["dropout"] == 0.1
    other = config.replace(model="xception", image_size=71)
    # xception's defaults, not the CNN's options
    assert other.options == registry.get_spec("xception").defaults()
    assert config.replace(epochs=3).options == config.options
    with pytest.raises(ValueError, match="no pre-trained weights"):
        TrainConfig(model="cnn", weights_path="/some/file.h5")


@pytest.mark.slow
def test_cli_seeds_train_one_experiment_on_the_same_files(tiny_dataset, artifacts, capsys):
    """Issue 21.4: --seeds N trains N runs on the same files and prints mean ± sd."""
    from core.training import cli

    argv = ["--data-dir", str(tiny_dataset), "--image-size", "32", "--epochs", "1"]
    assert cli.main([*argv, "--batch-size", "8", "--seed", "3", "--seeds", "2"]) == 0
    runs = run_folders.list_runs(artifacts / "runs")
    assert sorted(run.config["seed"] for run in runs) == [3, 4]
    assert len({run.config["experiment"] for run in runs}) == 1
    assert runs[0].subsets()["test"] == runs[1].subsets()["test"]
    assert "2 seeds on the same files" in capsys.readouterr().out
