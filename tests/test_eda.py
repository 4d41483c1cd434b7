"""core.explore.eda on tiny trees and on the shared real images."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from core.data import catalog
from core.explore import eda, leakage
from tests.conftest import make_tree, write_image


@pytest.fixture
def index(tiny_dataset) -> catalog.DatasetIndex:
    return catalog.index_dataset(tiny_dataset)


def test_class_distribution_counts_and_balance(tmp_path):
    make_tree(tmp_path, {"Train": (9, 3), "Test": (2, 2)}, size=8)
    table = eda.class_distribution(catalog.index_dataset(tmp_path)).set_index("split")
    assert table.loc["Train", ["Real", "Fake", "total"]].tolist() == [9, 3, 12]
    assert table.loc["Train", "balance"] == pytest.approx(1 / 3)
    assert table.loc["Test", "balance"] == 1.0
    assert list(table.index) == ["Train", "Test"]


def test_class_distribution_one_class_missing(tmp_path):
    make_tree(tmp_path, {"Train": (4, 0)}, size=8)
    table = eda.class_distribution(catalog.index_dataset(tmp_path))
    assert table.loc[0, "balance"] == 0.0


def test_sample_images_seeded_per_class(index):
    first = eda.sample_images(index, "Train", 4, seed=3)
    assert set(first) == {"Real", "Fake"}
    assert all(len(paths) == 4 for paths in first.values())
    assert all(p.startswith("Train/Real/") for p in first["Real"])
    assert all(p.startswith("Train/Fake/") for p in first["Fake"])
    assert eda.sample_images(index, "Train", 4, seed=3) == first
    assert eda.sample_images(index, "Train", 4, seed=4) != first  # reshuffle
    # Asking for more than a class holds returns what there is.
    assert len(eda.sample_images(index, "Test", 50, seed=0)["Real"]) == 5


def test_batch_summary_matches_the_pipeline(index):
    batch = eda.batch_summary(index, "Train", batch_size=8, image_size=24)
    assert batch["images_shape"] == (8, 24, 24, 3)
    assert batch["images_dtype"] == "uint8"
    assert batch["labels_shape"] == (8, 1)
    assert batch["labels_dtype"] == "float32"
    assert batch["labels"] == {"Real": 4, "Fake": 4}
    assert 0 <= batch["pixel_min"] <= batch["pixel_max"] <= 255
    assert batch["skipped"] == []
    # A batch larger than the split is capped at the split.
    assert eda.batch_summary(index, "Test", 64, 16)["images_shape"][0] == 10


def test_pixel_histograms_sum_to_one_and_report_sampling(index):
    result = eda.pixel_histograms(index, per_class=3, seed=0, bins=16, image_size=16)
    table = result["table"]
    assert set(table["class"]) == {"Real", "Fake"}
    assert set(table["channel"]) == set(eda.CHANNELS)
    sums = table.groupby(["class", "channel"])["density"].sum()
    assert np.allclose(sums.to_numpy(), 1.0)
    assert len(table) == 2 * 3 * 16
    assert result["sampled"] and result["used"] == 6 and result["population"] == 40
    everything = eda.pixel_histograms(index, per_class=100, seed=0, image_size=8)
    assert not everything["sampled"] and everything["used"] == 40
    # Random uniform pixels: the per-channel means sit near the middle.
    assert everything["means"]["mean"].between(100, 155).all()


def test_image_properties_sizes_formats_and_corrupt(tmp_path):
    make_tree(tmp_path, {"Train": (3, 3)}, size=20)
    write_image(tmp_path / "Train" / "Real" / "big.png", seed=5, size=40, fmt="PNG")
    (tmp_path / "Train" / "Fake" / "broken.jpg").write_bytes(b"not an image at all")
    (tmp_path / "Train" / "Fake" / "empty.jpg").write_bytes(b"")
    index = catalog.index_dataset(tmp_path)
    result = eda.image_properties(index, sample_size=None, seed=0)
    assert not result["sampled"] and result["used"] == 9
    sizes = {(row.dimensions, row["class"]): row["count"] for _, row in result["sizes"].iterrows()}
    assert sizes == {("20x20", "Real"): 3, ("20x20", "Fake"): 3, ("40x40", "Real"): 1}
    formats = dict(zip(result["formats"]["format"], result["formats"]["count"], strict=True))
    assert formats == {"JPEG": 6, "PNG": 1}
    assert sorted(result["corrupt"]["path"]) == ["Train/Fake/broken.jpg", "Train/Fake/empty.jpg"]
    sampled = eda.image_properties(index, sample_size=4, seed=0)
    assert sampled["sampled"] and sampled["used"] == 4 and sampled["population"] == 9


def test_image_properties_full_decode_finds_truncated_file(tmp_path):
    make_tree(tmp_path, {"Train": (2, 2)}, size=64)
    path = tmp_path / "Train" / "Real" / "real_0.jpg"
    path.write_bytes(path.read_bytes()[:200])  # header intact, data cut
    index = catalog.index_dataset(tmp_path)
    decoded = eda.image_properties(index, None, 0, decode=True)
    assert list(decoded["corrupt"]["path"]) == ["Train/Real/real_0.jpg"]


def test_leakage_finds_planted_duplicates(tmp_path):
    make_tree(tmp_path, {"Train": (4, 4), "Validation": (2, 2), "Test": (2, 2)}, size=16)
    # One Train image copied into Test (leak), one Test image copied inside Test.
    shutil.copy(tmp_path / "Train/Real/real_1.jpg", tmp_path / "Test/Real/leaked.jpg")
    shutil.copy(tmp_path / "Test/Fake/fake_0.jpg", tmp_path / "Test/Fake/again.jpg")
    index = catalog.index_dataset(tmp_path)
    result = leakage.leakage_check(index, sample_size=None, seed=0)
    assert not result["sampled"] and result["hashed"] == 18
    assert result["cross_split"] == 1 and result["cross_split_files"] == 2
    group = result["cross_examples"][0]
    assert group["splits"] == ["Train", "Test"]
    assert sorted(group["files"]) == ["Test/Real/leaked.jpg", "Train/Real/real_1.jpg"]
    within = result["within_split"].set_index("split")
    assert within.loc["Test", "groups"] == 1 and within.loc["Test", "extra_copies"] == 1
    assert within.loc["Train", "extra_copies"] == 0
    assert sorted(result["within_examples"][0]["files"]) == [
        "Test/Fake/again.jpg",
        "Test/Fake/fake_0.jpg",
    ]


def test_leakage_on_sample_says_so(index):
    result = leakage.leakage_check(index, sample_size=10, seed=1)
    assert result["sampled"] and result["hashed"] == 10 and result["population"] == 40
    assert "sample of 10 of 40" in eda.describe_sampling(result, "files")


def test_image_statistics_known_values():
    grey = np.full((8, 8, 3), 100, dtype=np.uint8)
    stats = eda.image_statistics(grey)
    assert stats["brightness"] == pytest.approx(100, abs=0.01)
    assert stats["saturation"] == 0.0 and stats["high_freq"] == 0.0
    red = np.zeros((8, 8, 3), dtype=np.uint8)
    red[..., 0] = 200
    assert eda.image_statistics(red)["saturation"] == pytest.approx(1.0)
    checker = np.indices((8, 8)).sum(axis=0) % 2 * 255
    noisy = np.repeat(checker[..., None], 3, axis=-1).astype(np.uint8)
    assert eda.image_statistics(noisy)["high_freq"] > 1000


def test_shortcut_statistics_flags_a_planted_brightness_shortcut(tmp_path):
    rng = np.random.default_rng(0)
    for label, base in (("Real", 60), ("Fake", 190)):
        folder = tmp_path / "Train" / label
        folder.mkdir(parents=True)
        for i in range(6):
            pixels = np.clip(base + rng.normal(0, 10, (24, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{label.lower()}_{i}.png")
    index = catalog.index_dataset(tmp_path)
    result = eda.shortcut_statistics(index, per_class=5, seed=0)
    assert result["sampled"] and result["used"] == 10
    assert set(result["table"].columns) >= set(eda.SHORTCUT_STATS)
    summary = result["summary"].set_index("key")
    assert summary.loc["brightness", "auc"] == 0.0  # Real is always darker
    assert summary.loc["brightness", "separation"] == 1.0


def test_ffhq_has_no_cross_split_leakage_and_a_planted_copy_is_found(ffhq, tmp_path):
    result = leakage.leakage_check(catalog.index_dataset(ffhq), sample_size=None, seed=0)
    assert not result["sampled"] and result["hashed"] == 520
    assert result["cross_split"] == 0
    # A small copy of it (two files per class folder), with one Train image planted in Test.
    for folder in ("Train/Real", "Train/Fake", "Test/Real", "Test/Fake"):
        (tmp_path / folder).mkdir(parents=True)
        for source in sorted((ffhq / folder).iterdir())[:2]:
            shutil.copy(source, tmp_path / folder / source.name)
    clean = leakage.leakage_check(catalog.index_dataset(tmp_path), sample_size=None, seed=0)
    assert clean["hashed"] == 8 and clean["cross_split"] == 0
    train_real = sorted((tmp_path / "Train/Real").iterdir())[0]
    shutil.copy(train_real, tmp_path / "Test/Real/planted.jpg")
    planted = leakage.leakage_check(catalog.index_dataset(tmp_path), sample_size=None, seed=0)
    assert planted["cross_split"] == 1 and planted["cross_split_files"] == 2
    assert sorted(planted["cross_examples"][0]["files"]) == sorted(
        [f"Train/Real/{train_real.name}", "Test/Real/planted.jpg"]
    )
