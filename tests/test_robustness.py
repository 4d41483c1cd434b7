"""Robustness scoring: every setting scored, stored, reused and resumable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.data import perturb
from core.evaluation import ensemble, robustness
from tests.conftest import make_tree

SETTINGS = len(list(perturb.settings())) + 1  # plus the clean image


def brightness_model(size: int, path: Path) -> Path:
    """Save a model with fixed weights: its logit is (mean pixel / 255 - 0.5) * 8.

    Its behaviour is known by construction, so tests never depend on training.
    """
    import keras

    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logit = keras.layers.Dense(1, name="logit")(x)
    model = keras.Model(inputs, logit)
    model.get_layer("logit").set_weights(
        [np.full((3, 1), 8 / 3, dtype="float32"), np.array([-4.0], dtype="float32")]
    )
    path.mkdir(parents=True, exist_ok=True)
    model.save(path / "model.keras")
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, list[str]]:
    root = make_tree(tmp_path / "Dataset", {"Test": (5, 5)}, size=40)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*.jpg"))
    (root / files[0]).write_bytes(b"not an image")  # one corrupt file, skipped
    return root, files


@pytest.fixture
def two_runs(tmp_path: Path) -> list[Path]:
    return [
        brightness_model(32, tmp_path / "runs" / "cnn_1"),
        brightness_model(24, tmp_path / "runs" / "cnn_2"),
    ]


def test_every_setting_is_scored_and_stored(dataset, two_runs) -> None:
    root, files = dataset
    results = robustness.score_runs(two_runs, root, files, "set1", seed=0)
    assert set(results) == {"cnn_1", "cnn_2"}
    for run_dir in two_runs:
        record = results[run_dir.name]
        assert record["complete"] and len(record["settings"]) == SETTINGS
        assert len(record["files"]) == len(files) - 1 and record["skipped"][0][0] == files[0]
        for values in record["settings"].values():
            assert len(values["p_real"]) == len(record["files"])
            assert values["metrics"]["n"] == len(record["files"])
        assert robustness.load_result(run_dir, "set1", 0) == record
    # Noise changes the pixels, so the brightness model's scores move.
    one = results["cnn_1"]["settings"]
    assert one["noise@10"]["p_real"] != one["clean@0"]["p_real"]


def test_stored_results_are_reused(dataset, two_runs, monkeypatch) -> None:
    root, files = dataset
    first = robustness.score_runs(two_runs, root, files, "set1")

    def no_loading(run_dir):
        raise AssertionError("a stored result was scored again")

    monkeypatch.setattr("core.evaluation.scoring.load_model", no_loading)
    assert robustness.score_runs(two_runs, root, files, "set1") == first


def test_a_stopped_job_resumes_where_it_was(dataset, two_runs, monkeypatch) -> None:
    root, files = dataset
    monkeypatch.setattr(robustness, "CHUNK", 4)
    full = robustness.score_runs(two_runs[:1], root, files, "whole", seed=1)

    class Stop(Exception):
        pass

    def stop_after_first_chunk(done, total, message):
        if done:  # the first call (done 0) says which model is loading
            raise Stop

    with pytest.raises(Stop):
        robustness.score_runs(
            two_runs[:1], root, files, "part", seed=1, progress=stop_after_first_chunk
        )
    partial = robustness.load_result(two_runs[0], "part", 1)
    assert partial["done"] == 4 and not partial["complete"]
    seen = []
    resumed = robustness.score_runs(
        two_runs[:1], root, files, "part", seed=1, progress=lambda d, t, m: seen.append((d, m))
    )
    # The stage is named with its unit: the model loading, then images scored.
    settings_count = len(robustness.all_settings())
    assert seen == [
        (0, "loading model 1 of 1 (cnn_1)"),
        (8, f"scoring images under {settings_count} settings"),
        (len(files), f"scoring images under {settings_count} settings"),
    ]  # the first chunk was not scored again
    for key, values in full["cnn_1"]["settings"].items():
        assert resumed["cnn_1"]["settings"][key]["p_real"] == values["p_real"]


def test_same_seed_same_scores(dataset, two_runs) -> None:
    root, files = dataset
    a = robustness.score_runs(two_runs[:1], root, files, "a", seed=5)["cnn_1"]
    b = robustness.score_runs(two_runs[:1], root, files, "b", seed=5, force=True)["cnn_1"]
    assert a["settings"] == b["settings"]


def test_curves_start_with_the_clean_score(dataset, two_runs) -> None:
    root, files = dataset
    results = robustness.score_runs(two_runs, root, files, "set1")
    lines = robustness.curves(results, "accuracy")["cnn_1"]
    clean = results["cnn_1"]["settings"]["clean@0"]["metrics"]["accuracy"]
    assert lines["jpeg"][0] == (100.0, clean)
    assert [s for s, _ in lines["jpeg"]] == [100.0, 95.0, 75.0, 50.0, 30.0]
    assert set(lines) == set(perturb.PERTURBATIONS)


def test_ensemble_of_identical_runs_equals_the_run(dataset, tmp_path) -> None:
    root, files = dataset
    runs = [brightness_model(32, tmp_path / "r" / name) for name in ("a_1", "a_2")]
    results = robustness.score_runs(runs, root, files, "set1")
    combined = robustness.ensemble_result(results, ["a_1", "a_2"])
    for key, values in results["a_1"]["settings"].items():
        assert np.allclose(combined["settings"][key]["p_real"], values["p_real"], atol=2e-6)
    with pytest.raises(ensemble.EnsembleError):
        robustness.ensemble_result(results, ["a_1"])


def test_cli_prints_a_table(dataset, two_runs, capsys) -> None:
    root, _ = dataset
    assert robustness.main(["--runs", str(two_runs[0]), "--data-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "jpeg@30" in out and "crop@0.75" in out and "cnn_1" in out
