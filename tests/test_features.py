"""Xception's frozen base computed once per image (core.training.features, issue 24.4).

ImageNet weights cannot be downloaded here: a base built from a fixed seed and written
as Keras's notop file stands in. Its accuracy means nothing; what is checked is that the
head trained on cached features is the model's own head, that the cache is reused, and
that it is computed again when the image size or the weights change.
"""

from __future__ import annotations

import importlib

import keras
import numpy as np
import pytest

from core.data.catalog import LoadedImages
from core.models import registry
from core.runs.config import TrainConfig
from core.training import features
from core.training.trainer import train
from tests.test_models import write_legacy_weights


def _xception():
    """The Xception module, imported after the registry's own order (cnn first)."""
    registry.list_models()
    return importlib.import_module("core.models.xception")


@pytest.fixture
def weights_file(tmp_path):
    keras.utils.set_random_seed(0)
    base = keras.applications.Xception(include_top=False, weights=None, input_shape=(71, 71, 3))
    path = tmp_path / "seeded_notop.h5"
    write_legacy_weights(path, base)
    return path


def test_the_head_on_cached_features_is_the_models_own(weights_file):
    xception = _xception()
    model = xception.make_model(71, augment=True, seed=1, weights=str(weights_file))
    extractor, head = xception.split_frozen(model)
    pixels = np.random.default_rng(0).integers(0, 256, (4, 71, 71, 3)).astype("float32")
    images = LoadedImages(pixels.astype("uint8"), np.array([0, 1, 0, 1]), list("abcd"), [])
    key = features.cache_key(images.paths, 71, {}, str(weights_file), flip=False)
    cached = features.features_of(extractor, images, key, batch_size=3)
    np.testing.assert_allclose(
        np.asarray(head(cached)), np.asarray(model(pixels, training=False)), atol=1e-4
    )
    flipped = features.features_of(extractor, images, key + "f", batch_size=3, flip=True)
    np.testing.assert_allclose(
        np.asarray(head(flipped)), np.asarray(model(pixels[:, :, ::-1], training=False)), atol=1e-4
    )
    model.get_layer(xception.BASE_NAME).trainable = True  # fine-tuning: no cut
    assert xception.split_frozen(model) is None


def test_the_cache_name_follows_the_files_size_and_weights(weights_file, tmp_path):
    key = features.cache_key(["a.jpg"], 71, {"dropout": 0.3}, str(weights_file), False)
    assert key == features.cache_key(["a.jpg"], 71, {"dropout": 0.3}, str(weights_file), False)
    assert key != features.cache_key(["a.jpg"], 96, {"dropout": 0.3}, str(weights_file), False)
    assert key != features.cache_key(["b.jpg"], 71, {"dropout": 0.3}, str(weights_file), False)
    assert key != features.cache_key(["a.jpg"], 71, {"dropout": 0.3}, str(weights_file), True)
    other = tmp_path / "other.h5"
    other.write_bytes(weights_file.read_bytes() + b"x")
    assert key != features.cache_key(["a.jpg"], 71, {"dropout": 0.3}, str(other), False)


@pytest.mark.slow
def test_a_pretrained_xception_run_trains_its_head_on_cached_features(
    tiny_dataset, weights_file, artifacts
):
    config = TrainConfig(
        model="xception", data_dir=str(tiny_dataset), image_size=71, epochs=2, batch_size=4,
        weights_path=str(weights_file), seed=3,
    )  # fmt: skip
    result = train(config)
    assert result.state == "finished"
    cache = sorted(artifacts.rglob("features/*.npy"))
    assert len(cache) == 3  # train, train flipped, validation
    stamps = [path.stat().st_mtime_ns for path in cache]
    train(config)  # the same files: the features are reused, not computed again
    assert [path.stat().st_mtime_ns for path in cache] == stamps
