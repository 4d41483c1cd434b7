"""core.evaluation.compare: fair comparison of runs, re-scoring, cross-dataset checks, exports.

Runs are built by :func:`make_run` in the folder format of core/training/trainer.py: a tiny
functional Keras model saved as ``model.keras`` and the JSON files, with
metrics.json computed from the model's real predictions on its test files.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from core import metrics
from core.data import catalog, testsets
from core.evaluation import compare, export, scoring
from core.runs import run_folders
from core.runs.config import TrainConfig
from tests.conftest import make_tree
from ui import compare_columns

SIZE = 32


def tiny_model(seed: int, size: int = SIZE):
    """A functional model taking raw pixels, with a one-logit head."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(2, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def make_run(
    dataset: Path,
    test_size: int,
    seed: int,
    model: str = "cnn",
    runs_root: Path | None = None,
    size: int = SIZE,
) -> Path:
    """Write a finished run folder scored on a seeded stratified sample of ``dataset``'s Test."""
    from core.evaluation import scoring

    index = catalog.index_dataset(dataset)
    pick = {
        split: catalog.stratified_subset(index.splits[split], size, seed)
        for split, size in (("Train", 4), ("Validation", 2), ("Test", test_size))
    }
    folder = run_folders.new_run_dir(model, runs_root)
    config = TrainConfig(model=model, image_size=size, test_size=test_size, seed=seed, epochs=2)
    weights = {"weights": {"imagenet": False, "message": "offline"}} if model == "xception" else {}
    run_folders.write_json(
        folder / "config.json",
        config.to_dict() | {"dataset": str(index.root), "is_demo": False} | weights,
    )
    run_folders.write_json(
        folder / "subsets.json",
        {
            "root": str(index.root),
            "train": [s.path for s in pick["Train"]],
            "validation": [s.path for s in pick["Validation"]],
            "test": [s.path for s in pick["Test"]],
            "skipped": [],
        },
    )
    run_folders.write_json(
        folder / "history.json",
        {
            key: [0.5 + 0.1 * seed, 0.6 + 0.1 * seed]
            for key in ("loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc")
        },
    )
    keras_model = tiny_model(seed, size)
    keras_model.save(folder / "model.keras")
    loaded = catalog.load_images(index.root, pick["Test"], size)
    p_real = scoring.predict_p_real(keras_model, loaded.pixels)
    report = metrics.detection_report(loaded.labels, p_real)
    report |= {
        "train_seconds": 1.5 + seed,
        "images_per_second": 100.0 + seed,
        "params": int(keras_model.count_params()),
        "epochs_run": 2,
        "inference_ms_per_image": 1.0,
        "test_files": loaded.paths,
        "dataset": str(index.root),
        "is_demo": False,
        "weights_message": "",
        "image_size": size,
        "model": model,
        "model_display": model.upper(),
    }
    run_folders.set_status(
        folder, "finished", epoch=2, epochs=2, created=time.time(), elapsed_s=1.0
    )
    run_folders.write_json(folder / "metrics.json", report)
    return folder


@pytest.fixture
def dataset(tmp_path) -> Path:
    return make_tree(
        tmp_path / "data" / "Dataset",
        {"Train": (4, 4), "Validation": (2, 2), "Test": (8, 8)},
    )


@pytest.fixture
def two_runs(dataset) -> tuple[Path, Path]:
    """Two runs whose test subsets are different samples of the same Test split."""
    first = make_run(dataset, test_size=8, seed=1)
    second = make_run(dataset, test_size=8, seed=2, model="capsnet")
    return first, second


def test_runs_scored_on_different_test_subsets_are_flagged(two_runs):
    comparison = compare.load_comparison()
    assert [r.name for r in comparison.records] == [two_runs[1].name, two_runs[0].name]
    assert comparison.problems == []
    table = compare.comparison_table(comparison.records)
    a, b = (comparison.record(p.name).test_set for p in two_runs)
    assert a.files != b.files
    assert len(compare.distinct_test_sets(table)) == 2
    assert set(table[compare.TEST_SET_COLUMN]) == {a.label, b.label}
    assert a.label.startswith("data Test, 8 images · ")  # named by its data, then its id
    for column in ("loss", "accuracy", "balanced_accuracy", "auc", "ap", "eer", "f1"):
        assert table[column].notna().all()
    assert table["inference_ms_per_image"].notna().all()
    assert set(table["model"]) == {"CNN", "CAPSNET"}
    assert table["train_n"].tolist() == [4.0, 4.0]


def test_same_files_give_the_same_test_set_id(dataset):
    first = make_run(dataset, test_size=6, seed=3)
    second = make_run(dataset, test_size=6, seed=3)
    table = compare.comparison_table(compare.load_comparison().records)
    assert len(compare.distinct_test_sets(table)) == 1
    assert first.name != second.name


def test_rescore_puts_both_runs_on_identical_files(two_runs, dataset):
    comparison = compare.load_comparison()
    chosen = comparison.record(two_runs[0].name)
    common = compare.run_test_set(chosen)
    results = scoring.rescore(comparison.records, common)
    assert [r.error for r in results] == [None, None]
    assert not any(r.reused for r in results)

    files = [r.record["files"] for r in results]
    assert files[0] == files[1] == sorted(chosen.metrics["test_files"])
    assert len(files[0]) == 16 // 2
    # Each stored result is consistent with its own stored predictions.
    for result in results:
        stored = result.record
        again = metrics.detection_report(stored["labels"], stored["p_real"])
        assert stored["metrics"]["auc"] == pytest.approx(again["auc"], abs=1e-6)
        assert stored["labels"] == [testsets.label_of(f) for f in stored["files"]]
    # Re-scoring a run on its own test files reproduces the metrics of training time.
    own = next(r for r in results if r.run == chosen.name).record["metrics"]
    assert own["auc"] == pytest.approx(chosen.metrics["auc"], abs=1e-6)
    assert own["confusion_matrix"] == chosen.metrics["confusion_matrix"]

    # The table, read back from disk, carries the common group for both rows.
    records = compare.load_comparison().records
    table = compare.comparison_table(records, common=common.id)
    assert set(table["common/test_set"]) == {f"data Test, 8 images · {common.id}"}
    assert table["common/auc"].notna().all()
    stored_files = [
        json.loads(run_folders.rescore_path(r.run.path, common.id).read_text())["files"]
        for r in records
    ]
    assert stored_files[0] == stored_files[1]


def test_rescore_results_are_stored_and_reused(two_runs, monkeypatch):
    comparison = compare.load_comparison()
    common = compare.run_test_set(comparison.records[0])
    first = scoring.rescore(comparison.records, common)
    for path in two_runs:
        assert run_folders.rescore_path(path, common.id).is_file()

    def no_loading(run_dir):
        raise AssertionError("a stored re-score must be reused, not recomputed")

    monkeypatch.setattr(scoring, "load_model", no_loading)
    fresh = compare.load_comparison()  # as after a page rerun
    assert set(fresh.records[0].rescores) == {common.id}
    again = scoring.rescore(fresh.records, common)
    assert all(r.reused for r in again)
    assert [r.record["metrics"] for r in again] == [r.record["metrics"] for r in first]
    info = compare.available_test_sets(fresh.records)[common.id]
    assert info["size"] == 8 and info["purpose"] == "common"
    assert sorted(info["runs"]) == sorted(p.name for p in two_runs)

    monkeypatch.undo()
    forced = scoring.rescore(fresh.records[:1], common, force=True)
    assert not forced[0].reused and forced[0].error is None


def test_dataset_sample_is_seeded_and_stratified(dataset):
    one = testsets.dataset_test_set(dataset, size=6, seed=7)
    same = testsets.dataset_test_set(dataset.parent, size=6, seed=7)
    other = testsets.dataset_test_set(dataset, size=6, seed=8)
    assert one == same and one.id == same.id
    assert one.id != other.id
    labels = [s.label for s in one.samples()]
    assert labels.count(0) == labels.count(1) == 3
    assert all(path.startswith("Test/") for path in one.files)
    whole = testsets.dataset_test_set(dataset)
    assert len(whole.files) == 16 and "all 16" in whole.description


def test_dataset_without_test_split_is_a_clear_error(tmp_path):
    make_tree(tmp_path / "Dataset", {"Train": (2, 2)})
    with pytest.raises(testsets.CompareError, match="no Test split"):
        testsets.dataset_test_set(tmp_path / "Dataset")
    with pytest.raises(catalog.DatasetError, match="Folder not found"):
        testsets.dataset_test_set(tmp_path / "nowhere")


def test_cross_dataset_check_gets_its_own_column_group(two_runs, openforensics):
    records = compare.load_comparison().records
    cross = testsets.dataset_test_set(openforensics, size=10, seed=0)
    results = scoring.rescore(records, cross, purpose="cross")
    assert all(r.error is None for r in results)
    assert results[0].record["files"] == results[1].record["files"] == list(cross.files)
    records = compare.load_comparison().records
    info = compare.available_test_sets(records)[cross.id]
    assert info["purpose"] == "cross" and info["name"] == "openforensics-sample"
    table = compare.comparison_table(records, cross=[cross.id])
    assert "cross:openforensics-sample/auc" in table.columns
    assert table["cross:openforensics-sample/accuracy"].notna().all()
    cell = table["cross:openforensics-sample/test_set"].iloc[0]
    assert cell == f"openforensics-sample Test, 10 images · {cross.id}"
    # The page's titles come from ui.compare_columns, not from core.
    titled = compare_columns.titled(table)
    assert "cross: openforensics-sample · AUC" in titled.columns
    # Shown as the table's subject, the group's titles are short (the set is named above).
    short = compare_columns.titled(table, "cross:openforensics-sample")
    assert {"AUC", "Accuracy", "AUC 95% CI"} <= set(short.columns)
    assert compare_columns.formats(table)["cross: openforensics-sample · ms/image"] == "{:.2f}"


def test_a_broken_model_fails_its_row_only(two_runs):
    # A whole archive Keras cannot load (one that is not an archive is not a finished run).
    with zipfile.ZipFile(two_runs[1] / "model.keras", "w") as archive:
        archive.writestr("config.json", "{not json")
    records = compare.load_comparison().records
    common = compare.run_test_set(records[-1])
    results = scoring.rescore(records, common)
    by_run = {r.run: r for r in results}
    assert by_run[two_runs[0].name].error is None
    assert "could not be loaded" in by_run[two_runs[1].name].error
    assert run_folders.rescore_path(two_runs[0], common.id).exists()
    assert not run_folders.rescore_path(two_runs[1], common.id).exists()


def test_unfinished_runs_are_not_listed_as_finished(dataset):
    done = make_run(dataset, test_size=4, seed=1)
    running = run_folders.new_run_dir("cnn")
    run_folders.write_json(running / "config.json", TrainConfig(image_size=SIZE).to_dict())
    run_folders.set_status(running, "running", epoch=1, epochs=3)
    crashed = run_folders.new_run_dir("capsnet")
    run_folders.set_status(crashed, "finished")  # says finished, but metrics.json never came
    assert [r.name for r in run_folders.finished_runs()] == [done.name]
    comparison = compare.load_comparison()
    assert [r.name for r in comparison.records] == [done.name]
    assert {r.name for r in comparison.unfinished} == {running.name, crashed.name}
    assert any(crashed.name in p and "metrics.json" in p for p in comparison.problems)
    assert not any(running.name in p for p in comparison.problems)


@pytest.mark.parametrize("file", ["history.json", "subsets.json", "config.json"])
def test_a_corrupt_side_file_is_reported_not_fatal(dataset, file):
    run = make_run(dataset, test_size=4, seed=1)
    (run / file).write_text("{not json", encoding="utf-8")
    comparison = compare.load_comparison()
    assert [r.name for r in comparison.records] == [run.name]
    assert any(file in p and "not valid JSON" in p for p in comparison.problems)
    table = compare.comparison_table(comparison.records)
    assert len(table) == 1 and table["auc"].notna().all()
    export.full_record_json(comparison.records)  # still exportable


def test_corrupt_metrics_or_rescore_is_reported_not_fatal(dataset):
    good = make_run(dataset, test_size=4, seed=1)
    bad = make_run(dataset, test_size=4, seed=2)
    (bad / "metrics.json").write_text("[1, 2", encoding="utf-8")
    rescores = good / run_folders.RESCORES_DIR
    rescores.mkdir()
    (rescores / "0123456789.json").write_text("{", encoding="utf-8")
    (rescores / "abcdefabcd.json").write_text('{"test_set_id": "other"}', encoding="utf-8")
    comparison = compare.load_comparison()
    assert [r.name for r in comparison.records] == [good.name]
    assert comparison.records[0].rescores == {}
    text = "\n".join(comparison.problems)
    assert f"{bad.name}/metrics.json is not valid JSON" in text
    assert "0123456789.json is not valid JSON" in text
    assert "abcdefabcd.json is not a re-score record" in text


def test_csv_and_json_exports(two_runs):
    records = compare.load_comparison().records
    common = compare.run_test_set(records[1])
    scoring.rescore(records, common)
    table = compare.comparison_table(records, common=common.id)
    parsed = pd.read_csv(io.StringIO(compare.table_csv(table)))
    assert list(parsed.columns) == list(table.columns)
    assert parsed["run"].tolist() == [r.name for r in records]
    assert parsed["auc"].to_numpy() == pytest.approx(table["auc"].to_numpy())
    assert parsed["common/auc"].notna().all()

    exported = json.loads(export.full_record_json(records))
    assert [run["name"] for run in exported["runs"]] == [r.name for r in records]
    for run, record in zip(exported["runs"], records, strict=True):
        assert run["config"]["model"] == record.run.model
        assert run["metrics"]["auc"] == pytest.approx(record.metrics["auc"])
        assert run["history"]["val_auc"] == record.history["val_auc"]
        assert run["test_set"]["files"] == sorted(record.metrics["test_files"])
        assert run["rescores"][common.id]["files"] == list(common.files)


def test_headline_long_form(two_runs):
    records = compare.load_comparison().records
    long = compare.headline_long(records)
    assert set(long["metric"]) == {"accuracy", "balanced_accuracy", "auc", "ap", "f1"}
    titled = compare_columns.headline_long(records, None)
    assert set(titled["Metric"]) == {"Accuracy", "Balanced acc.", "AUC", "AP", "F1"}
    assert len(long) == 2 * 5
    assert compare.headline_long(records, test_set="nothere").empty


def test_label_of_needs_a_class_folder():
    assert testsets.label_of("Test/Real/a.jpg") == 1
    assert testsets.label_of("test/fake/b.png") == 0
    with pytest.raises(testsets.CompareError):
        testsets.label_of("Test/other/c.jpg")


@pytest.mark.slow
def test_a_real_training_run_rescored_on_its_own_files_matches(dataset):
    """The contract with the trainer: its run folder is read, and re-scoring reproduces it."""
    from core.training.trainer import train

    config = TrainConfig(
        model="cnn",
        data_dir=str(dataset),
        image_size=SIZE,
        train_size=8,
        val_size=4,
        test_size=8,
        epochs=1,
        batch_size=4,
        augment=False,
    )
    result = train(config)
    comparison = compare.load_comparison()
    assert comparison.problems == []
    record = comparison.record(result.run_dir.name)
    assert list(record.test_set.files) == sorted(result.metrics["test_files"])
    table = compare.comparison_table(comparison.records)
    assert table.loc[0, "model"] == "CNN" and table.loc[0, "train_n"] == 8
    assert table.loc[0, "epochs_run"] == 1 and table.loc[0, "params"] > 0
    rescored = scoring.rescore(comparison.records, compare.run_test_set(record))[0]
    assert rescored.error is None
    assert rescored.record["files"] == sorted(result.metrics["test_files"])
    assert rescored.record["metrics"]["confusion_matrix"] == result.metrics["confusion_matrix"]
    assert rescored.record["metrics"]["auc"] == pytest.approx(result.metrics["auc"], abs=1e-4)
    assert rescored.record["metrics"]["loss"] == pytest.approx(result.metrics["loss"], abs=1e-4)
