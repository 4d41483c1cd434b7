"""The dataset layer: layout discovery, subsets, decoding with corrupt files, real data."""

from __future__ import annotations

import pytest

from core.data import catalog
from core.settings import LABEL_FAKE, LABEL_REAL
from tests.conftest import make_tree, write_image


def test_good_layout(tiny_dataset):
    index = catalog.index_dataset(tiny_dataset)
    assert index.root == tiny_dataset
    assert index.counts() == {
        "Train": {"Real": 10, "Fake": 10},
        "Validation": {"Real": 5, "Fake": 5},
        "Test": {"Real": 5, "Fake": 5},
    }
    assert index.missing_splits == [] and index.warnings == []
    assert index.total == 40
    first = index.splits["Train"][0]
    assert index.absolute(first).is_file()
    assert {s.label for s in index.splits["Train"] if "/Real/" in s.path} == {LABEL_REAL}
    assert {s.label for s in index.splits["Train"] if "/Fake/" in s.path} == {LABEL_FAKE}


def test_root_holding_dataset_folder(tiny_dataset):
    index = catalog.index_dataset(tiny_dataset.parent)
    assert index.root == tiny_dataset
    assert index.total == 40


@pytest.mark.parametrize("validation_name", ["val", "valid", "validation", "VALIDATION"])
def test_lowercase_and_common_spellings(tmp_path, validation_name):
    root = make_tree(
        tmp_path / "dataset",
        {"Train": (2, 3), "Validation": (1, 2), "Test": (2, 1)},
        split_names={"Train": "train", "Validation": validation_name, "Test": "test"},
        class_names=("real", "fake"),
    )
    index = catalog.index_dataset(tmp_path)  # the parent of a lowercase "dataset"
    assert index.root == root
    assert index.counts() == {
        "Train": {"Real": 2, "Fake": 3},
        "Validation": {"Real": 1, "Fake": 2},
        "Test": {"Real": 2, "Fake": 1},
    }


def test_missing_split_is_reported_not_fatal(tmp_path):
    make_tree(tmp_path, {"Test": (3, 2)})
    index = catalog.index_dataset(tmp_path)
    assert list(index.splits) == ["Test"]
    assert index.missing_splits == ["Train", "Validation"]
    assert any("Train" in w and "Validation" in w for w in index.warnings)


def test_wrong_layout_names_the_folders_found(tmp_path):
    for name in ("images", "labels"):
        (tmp_path / name).mkdir()
    with pytest.raises(catalog.DatasetError) as error:
        catalog.index_dataset(tmp_path)
    message = str(error.value)
    assert "images" in message and "labels" in message
    assert "Train" in message  # says what was expected


def test_split_without_class_folders_names_what_it_found(tmp_path):
    (tmp_path / "Train" / "cats").mkdir(parents=True)
    with pytest.raises(catalog.DatasetError, match="cats"):
        catalog.index_dataset(tmp_path)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(catalog.DatasetError, match="not found"):
        catalog.index_dataset(tmp_path / "nowhere")


def test_empty_class_folder_is_a_warning(tmp_path):
    make_tree(tmp_path, {"Train": (3, 0), "Test": (1, 1)})
    index = catalog.index_dataset(tmp_path)
    assert index.counts()["Train"] == {"Real": 3, "Fake": 0}
    assert any("Train/Fake" in w for w in index.warnings)


def test_non_image_files_are_ignored(tmp_path):
    make_tree(tmp_path, {"Train": (2, 2)})
    (tmp_path / "Train" / "Real" / "notes.txt").write_text("hello")
    write_image(tmp_path / "Train" / "Real" / "extra.png", seed=99, fmt="PNG")
    index = catalog.index_dataset(tmp_path)
    paths = [s.path for s in index.splits["Train"]]
    assert "Train/Real/extra.png" in paths
    assert not any(p.endswith(".txt") for p in paths)


def test_corrupt_image_is_skipped_and_counted(tiny_dataset):
    bad = tiny_dataset / "Train" / "Fake" / "fake_broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff this is not really a jpeg")
    empty = tiny_dataset / "Train" / "Real" / "real_empty.jpg"
    empty.write_bytes(b"")
    index = catalog.index_dataset(tiny_dataset)
    samples = index.splits["Train"]
    assert len(samples) == 22  # indexing lists files without decoding them
    loaded = catalog.load_images(index.root, samples, size=16)
    assert loaded.pixels.shape == (20, 16, 16, 3)
    assert loaded.pixels.dtype.name == "uint8"
    assert len(loaded.labels) == len(loaded.paths) == 20
    assert sorted(path for path, _ in loaded.skipped) == [
        "Train/Fake/fake_broken.jpg",
        "Train/Real/real_empty.jpg",
    ]
    assert all(reason for _, reason in loaded.skipped)


def _imbalanced(tmp_path):
    make_tree(tmp_path, {"Train": (30, 10)}, size=8)
    return catalog.index_dataset(tmp_path).splits["Train"]


def test_subset_is_stratified(tmp_path):
    samples = _imbalanced(tmp_path)
    subset = catalog.stratified_subset(samples, 20, seed=0)
    assert len(subset) == 20
    assert sum(s.label == LABEL_REAL for s in subset) == 15
    assert sum(s.label == LABEL_FAKE for s in subset) == 5
    half = catalog.stratified_subset(samples, 0.5, seed=0)
    assert (sum(s.label == LABEL_REAL for s in half), len(half)) == (15, 20)


def test_subset_same_seed_same_files_other_seed_differs(tmp_path):
    samples = _imbalanced(tmp_path)
    first = catalog.stratified_subset(samples, 12, seed=7)
    assert first == catalog.stratified_subset(samples, 12, seed=7)
    assert first != catalog.stratified_subset(samples, 12, seed=8)
    assert catalog.stratified_subset(samples, None, seed=1) == sorted(samples, key=lambda s: s.path)


def test_subset_too_large_is_refused(tmp_path):
    samples = _imbalanced(tmp_path)
    with pytest.raises(catalog.DatasetError, match="only 40"):
        catalog.stratified_subset(samples, 41, seed=0)


def test_ffhq_counts(ffhq):
    index = catalog.index_dataset(ffhq)
    assert index.counts() == {
        "Train": {"Real": 300, "Fake": 100},
        "Validation": {"Real": 30, "Fake": 30},
        "Test": {"Real": 30, "Fake": 30},
    }
    assert index.missing_splits == []


def test_openforensics_test_split_only(openforensics):
    index = catalog.index_dataset(openforensics)
    assert index.counts() == {"Test": {"Real": 21, "Fake": 20}}
    assert index.missing_splits == ["Train", "Validation"]
