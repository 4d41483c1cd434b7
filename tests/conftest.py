"""Shared fixtures: a temporary artifacts folder, tiny datasets, the shared real data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import settings

settings.enable_onednn()

SHARED_DATA = settings.REPO_ROOT.parent / "shared" / "data"
FFHQ = SHARED_DATA / "ffhq-stylegan2" / "Dataset"
OPENFORENSICS = SHARED_DATA / "openforensics-sample" / "Dataset"


@pytest.fixture(autouse=True)
def artifacts(tmp_path_factory, monkeypatch) -> Path:
    """Point the app's artifacts folder at a fresh temporary folder for every test."""
    folder = tmp_path_factory.mktemp("artifacts")
    monkeypatch.setenv(settings.ARTIFACTS_ENV, str(folder))
    monkeypatch.delenv(settings.DATA_ENV, raising=False)
    return folder


@pytest.fixture(scope="session")
def ffhq() -> Path:
    """The shared FFHQ-vs-StyleGAN2 dataset (520 real images, Kaggle layout)."""
    assert FFHQ.is_dir(), f"Shared test data missing: {FFHQ}"
    return FFHQ


@pytest.fixture(scope="session")
def openforensics() -> Path:
    """The 41-image sample of the Kaggle dataset itself (Test split only)."""
    assert OPENFORENSICS.is_dir(), f"Shared test data missing: {OPENFORENSICS}"
    return OPENFORENSICS


def write_image(path: Path, seed: int, size: int = 32, fmt: str = "JPEG") -> Path:
    """Write a small random RGB image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, fmt)
    return path


def make_tree(
    root: Path,
    counts: dict[str, tuple[int, int]],
    split_names: dict[str, str] | None = None,
    class_names: tuple[str, str] = ("Real", "Fake"),
    size: int = 32,
) -> Path:
    """Build a dataset tree ``root/<split>/<Real|Fake>/`` with (real, fake) images per split."""
    split_names = split_names or {}
    seed = 0
    for split, (n_real, n_fake) in counts.items():
        folder = root / split_names.get(split, split)
        for class_name, count in zip(class_names, (n_real, n_fake), strict=True):
            (folder / class_name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                seed += 1
                write_image(folder / class_name / f"{class_name.lower()}_{i}.jpg", seed, size)
    return root


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    """A 40-image dataset in the Kaggle layout under ``tmp_path/Dataset``."""
    return make_tree(
        tmp_path / "Dataset",
        {"Train": (10, 10), "Validation": (5, 5), "Test": (5, 5)},
    )


def pytest_configure(config):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, ffhq) -> Path:
    """A tiny CNN run trained once per session on the shared FFHQ split (about 20 s).

    Small on purpose (48 px, 40 training images, 2 epochs): tests that need a real
    trained model (prediction, Grad-CAM, the Classify page) check behaviour, not accuracy.
    """
    from core.config import TrainConfig
    from core.train import train

    config = TrainConfig(
        model="cnn",
        data_dir=str(ffhq),
        image_size=48,
        train_size=40,
        val_size=10,
        test_size=10,
        epochs=2,
        batch_size=16,
        early_stopping_patience=2,
        seed=0,
    )
    folder = tmp_path_factory.mktemp("trained_run") / "cnn_20250101-000000"
    result = train(config, run_dir=folder)
    assert result.state == "finished"
    return result.run_dir
