"""Shared fixtures: a temporary artifacts folder, tiny datasets, the shared real data."""

from __future__ import annotations

import functools
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


@pytest.fixture(scope="session")
def demo_set(tmp_path_factory) -> Path:
    """The generated demo dataset, made once per test process (about 5 s on 2 cores)."""
    from core.sources import demo

    return demo.ensure_demo_dataset(tmp_path_factory.mktemp("demo") / "Dataset")


@pytest.fixture(autouse=True)
def artifacts(request, tmp_path_factory, monkeypatch) -> Path:
    """Point the app's artifacts folder at a fresh temporary folder for every test.

    A test marked ``demo`` finds the demo dataset already in it (a link to
    :func:`demo_set`, which it must not change), as the app finds it after its first
    start: without it, every page test generated its own.
    """
    folder = tmp_path_factory.mktemp("artifacts")
    monkeypatch.setenv(settings.ARTIFACTS_ENV, str(folder))
    monkeypatch.delenv(settings.DATA_ENV, raising=False)
    if request.node.get_closest_marker("demo"):
        link = settings.demo_data_dir()
        link.parent.mkdir(parents=True)
        link.symlink_to(request.getfixturevalue("demo_set"), target_is_directory=True)
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
    _scan_installed_components_once()


def _scan_installed_components_once() -> None:
    """Let AppTest scan the installed packages for Streamlit components once per process.

    Each new AppTest reads the metadata of every installed package for them (about
    0.6 s with this project's ~300 packages, on every one of the suite's AppTests);
    the installed packages do not change while the tests run.
    """
    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:  # a Streamlit without v2 components does not scan
        return
    manifest_scanner.scan_component_manifests = functools.cache(
        manifest_scanner.scan_component_manifests
    )


#: The brightness model's logit per unit of mean grey level in [-1, 1] (see known_cnn).
KNOWN_GAIN = 4.0


def known_p_real(grey: float) -> float:
    """P(Real) that :func:`known_cnn` gives an image of uniform grey level 0-255."""
    return float(1.0 / (1.0 + np.exp(-KNOWN_GAIN * (grey / 127.5 - 1.0))))


def known_cnn(image_size: int = 48):
    """The registry's CNN with weights set so that its behaviour is known on any CPU.

    Every trainable weight is zero except a path that carries the grey level
    ``g = mean(RGB) / 127.5 - 1`` (in [-1, 1]) of each location to the last block:
    the stem puts ``relu(g)`` in channel 0 and ``relu(-g)`` in channel 1, each
    residual block passes both on through its 1x1 shortcut (its separable
    convolutions are zero) and batch norms are the identity. The logit is
    ``KNOWN_GAIN * (mean channel 0 - mean channel 1) = KNOWN_GAIN * mean(g)`` over
    the locations the strides sample. So bright images are "Real", dark ones
    "Fake"; Grad-CAM for Real lights up the bright regions, for Fake the dark ones.
    """
    from core.models import registry

    model = registry.build("cnn", image_size=image_size, augment=False)
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("BatchNormalization", "FusedBatchNormalization"):
            gamma, beta, mean, variance = layer.get_weights()
            exact = np.full_like(variance, 1.0 - layer.epsilon)  # sqrt(var + eps) == 1
            layer.set_weights([np.ones_like(gamma), beta * 0, mean * 0, exact])
        elif kind in ("Conv2D", "SeparableConv2D", "Dense"):
            weights = [np.zeros_like(w) for w in layer.get_weights()]
            if layer.name == "block1_conv1":  # input: scaled RGB, then 9 SRM channels
                weights[0][1, 1, :3, 0] = 1 / 3
                weights[0][1, 1, :3, 1] = -1 / 3
            elif layer.name == "block1_conv2":
                weights[0][1, 1, 0, 0] = weights[0][1, 1, 1, 1] = 1.0
            elif layer.name.endswith("_shortcut"):
                weights[0][0, 0, 0, 0] = weights[0][0, 0, 1, 1] = 1.0
            elif layer.name == "logit":  # input: channel means, then channel variances
                weights[0][0, 0], weights[0][1, 0] = KNOWN_GAIN, -KNOWN_GAIN
            layer.set_weights(weights)
    return model


@pytest.fixture(scope="session")
def trained_run_artifacts(tmp_path_factory) -> Path:
    """The artifacts folder :func:`trained_run` trains in (its store, its speed record)."""
    return tmp_path_factory.mktemp("trained_run_artifacts")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, ffhq, trained_run_artifacts) -> Path:
    """A CNN run folder whose model behaves as :func:`known_cnn` says, on any CPU.

    A tiny run (48 px, 40 training images, 2 epochs) is trained once per session on
    the shared FFHQ split for a real run folder (config, subsets, metrics); its
    ``model.keras`` is then replaced by :func:`known_cnn`, so tests of prediction,
    Grad-CAM and the Classify page never depend on what a tiny training run
    learned (that differs between CPUs: AVX2, AVX-512, AMX-BF16, oneDNN on or off).
    """
    from core.runs.config import TrainConfig
    from core.training.trainer import train

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
    # A session fixture runs before each test's artifacts folder is set: without its own,
    # the run's decoded store and speed record landed in the repository's artifacts/.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(settings.ARTIFACTS_ENV, str(trained_run_artifacts))
        result = train(config, run_dir=folder)
    assert result.state == "finished"
    known_cnn(48).save(result.run_dir / "model.keras")
    return result.run_dir
