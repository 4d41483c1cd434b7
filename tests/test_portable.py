"""Portable artifacts: test-set ids come from files and contents, not from where they sit;
moving the artifacts folder or the dataset keeps runs, re-scores and comparisons usable;
old run folders still load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core import settings
from core.data import testsets
from core.evaluation import compare, scoring
from core.runs import run_folders
from tests.conftest import make_tree
from tests.test_compare import make_run


def test_id_depends_on_files_and_contents_not_on_the_folder(tmp_path):
    one = make_tree(tmp_path / "one" / "Dataset", {"Test": (2, 2)})
    two = tmp_path / "elsewhere" / "copy"
    shutil.copytree(one, two)
    files = ["Test/Real/real_0.jpg", "Test/Fake/fake_1.jpg"]
    assert testsets.test_set_id(one, files) == testsets.test_set_id(two, reversed(files))
    assert testsets.test_set_id(one, files) != testsets.test_set_id(one, files[:1])
    (two / files[0]).write_bytes((two / files[0]).read_bytes() + b"\0")  # same name, new bytes
    assert testsets.test_set_id(one, files) != testsets.test_set_id(two, files)
    assert len(testsets.test_set_id(one, files)) == 10


def test_file_hashes_are_cached(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "Dataset", {"Test": (3, 3)})
    files = [str(p.relative_to(root)) for p in sorted(root.rglob("*.jpg"))]
    first = testsets.test_set_id(root, files)
    opened = []
    real_open = open

    def counting_open(path, *args, **kwargs):
        opened.append(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    assert testsets.test_set_id(root, files) == first
    assert opened == []  # unchanged files are not read again


def test_trainer_records_the_dataset_as_given_and_the_content_id(trained_run, ffhq):
    subsets = run_folders.read_json(trained_run / "subsets.json")
    metrics = run_folders.read_json(trained_run / "metrics.json")
    assert subsets["data_dir"] == str(ffhq) and subsets["is_demo"] is False
    assert not Path(subsets["test"][0]).is_absolute()
    assert metrics["test_set_id"] == testsets.test_set_id(subsets["root"], metrics["test_files"])


@pytest.fixture
def scored(tmp_path, monkeypatch) -> dict:
    """Two old-style runs (absolute root, no stored id) re-scored on one common set."""
    first_home = tmp_path / "first"
    monkeypatch.setenv(settings.ARTIFACTS_ENV, str(first_home / "artifacts"))
    dataset = make_tree(
        first_home / "data" / "Dataset", {"Train": (4, 4), "Validation": (2, 2), "Test": (6, 6)}
    )
    folders = [make_run(dataset, test_size=6, seed=1), make_run(dataset, test_size=6, seed=2)]
    comparison = compare.load_comparison()
    common = compare.run_test_set(comparison.record(folders[0].name))
    results = scoring.rescore(comparison.records, common)
    assert all(result.error is None for result in results)
    sample = testsets.dataset_test_set(dataset, size=4, seed=3)
    return {
        "dataset": dataset,
        "folders": folders,
        "common": common,
        "common_id": common.id,
        "sample_id": sample.id,
        "own_ids": {r.name: r.test_set.id for r in comparison.records},
        "metrics": {r.run: r.record["metrics"] for r in results},
    }


def test_moving_artifacts_and_dataset_keeps_everything_usable(scored, tmp_path, monkeypatch):
    # Copy the artifacts folder somewhere else and move the dataset, then point the app there.
    new_artifacts = tmp_path / "second" / "artifacts"
    shutil.copytree(settings.artifacts_dir(), new_artifacts)
    new_dataset = tmp_path / "second" / "moved" / "Dataset"
    new_dataset.parent.mkdir(parents=True)
    shutil.move(scored["dataset"], new_dataset)
    monkeypatch.setenv(settings.ARTIFACTS_ENV, str(new_artifacts))
    monkeypatch.setenv(settings.DATA_ENV, str(new_dataset))

    comparison = compare.load_comparison()
    assert comparison.problems == []
    assert sorted(r.name for r in comparison.records) == sorted(f.name for f in scored["folders"])
    for record in comparison.records:
        assert record.test_set.root == str(new_dataset)  # found at its new place
        assert record.test_set.id == scored["own_ids"][record.name]
    common_id = scored["common_id"]
    table = compare.comparison_table(comparison.records, common=common_id)
    assert table["common/auc"].notna().all()

    # The stored re-scores are reused as they are: nothing is scored again.
    def no_loading(run_dir):
        raise AssertionError("a stored re-score must be reused after a move")

    monkeypatch.setattr(scoring, "load_model", no_loading)
    again = scoring.rescore(
        comparison.records, compare.run_test_set(comparison.record(scored["folders"][0].name))
    )
    assert all(result.reused for result in again)
    assert {r.run: r.record["metrics"] for r in again} == scored["metrics"]
    monkeypatch.undo()
    monkeypatch.setenv(settings.ARTIFACTS_ENV, str(new_artifacts))
    monkeypatch.setenv(settings.DATA_ENV, str(new_dataset))

    # The same sample of the moved dataset is the same test set; and it can be scored there.
    sample = testsets.dataset_test_set(new_dataset, size=4, seed=3)
    assert sample.id == scored["sample_id"]
    fresh = scoring.rescore(compare.load_comparison().records, sample)
    assert all(result.error is None for result in fresh)
    forced = scoring.rescore(
        comparison.records[:1], compare.run_test_set(comparison.records[0]), force=True
    )
    assert forced[0].error is None and not forced[0].reused


def test_a_run_finds_its_dataset_where_the_sidebar_points(scored, tmp_path, monkeypatch):
    moved = tmp_path / "moved-by-hand" / "Dataset"
    moved.parent.mkdir()
    shutil.move(scored["dataset"], moved)
    record = compare.load_comparison().record(scored["folders"][0].name)
    assert record.test_set.root != str(moved)  # nobody said where it went
    testsets.note_root(moved)  # what the sidebar does with the folder typed there
    record = compare.load_comparison().record(scored["folders"][0].name)
    assert record.test_set.root == str(moved)


def test_demo_runs_follow_the_artifacts_folder(tmp_path, monkeypatch):
    old = tmp_path / "old" / "artifacts"
    monkeypatch.setenv(settings.ARTIFACTS_ENV, str(old))
    demo = make_tree(
        settings.demo_data_dir(), {"Train": (4, 4), "Validation": (2, 2), "Test": (4, 4)}
    )
    folder = make_run(demo, test_size=4, seed=1)
    subsets = run_folders.read_json(folder / "subsets.json")
    run_folders.write_json(folder / "subsets.json", subsets | {"data_dir": None, "is_demo": True})
    new = tmp_path / "new" / "artifacts"
    new.parent.mkdir()
    shutil.move(old, new)
    monkeypatch.setenv(settings.ARTIFACTS_ENV, str(new))
    (record,) = compare.load_comparison().records
    assert record.test_set.root == str(new / "demo" / "Dataset")
    result = scoring.rescore([record], compare.run_test_set(record))[0]
    assert result.error is None


def test_old_rescore_ids_still_load(scored):
    folder = scored["folders"][0]
    current = run_folders.rescore_path(folder, scored["common_id"])
    record = json.loads(current.read_text())
    legacy = testsets.legacy_test_set_id(record["root"], record["requested_files"])
    assert legacy != scored["common_id"]
    record["test_set_id"] = legacy
    current.rename(run_folders.rescore_path(folder, legacy))
    run_folders.write_json(run_folders.rescore_path(folder, legacy), record)
    comparison = compare.load_comparison()
    assert comparison.problems == []
    assert legacy in comparison.record(folder.name).rescores
    assert legacy in compare.available_test_sets(comparison.records)
    table = compare.comparison_table(comparison.records, common=legacy)
    assert table.set_index("run").loc[folder.name, "common/auc"] == pytest.approx(
        record["metrics"]["auc"]
    )


def test_a_moved_dataset_is_matched_by_its_images_not_only_their_names(tmp_path):
    """Kaggle-layout folders share file names: a look-alike is not taken for the moved one."""
    original = make_tree(tmp_path / "a" / "Dataset", {"Test": (2, 2)})
    files = sorted(str(p.relative_to(original)) for p in original.rglob("*.jpg"))
    expected = testsets.test_set_id(original, files)
    moved = tmp_path / "moved" / "Dataset"
    shutil.copytree(original, moved)
    shutil.rmtree(original)
    look_alike = make_tree(tmp_path / "other" / "Dataset", {"Test": (2, 2)})
    for path in look_alike.rglob("*.jpg"):  # same names, other pixels
        path.write_bytes(path.read_bytes() + b"\0")
    testsets.note_root(moved)
    testsets.note_root(look_alike)  # noticed last, so tried first
    found = testsets.resolve_root(str(original), files, expected_id=expected)
    assert found == str(moved)
    # Without a stored id (runs from before content ids) names are all there is to go by.
    assert testsets.resolve_root(str(original), files) == str(look_alike)
