"""A frozen pre-trained base trains in seconds per epoch: its features, computed once, cached.

While a model's pre-trained base is frozen (Xception's first phase), every epoch feeds
the same images through the same fixed base; only the head learns. So the base's pooled
features are computed once per image (and once per flipped image when the run augments
with flips), kept on disk next to the decoded-image store (or in the artifacts folder),
and the head trains on them. The head shares its layers with the full model, so the
model that is saved, fine-tuned or scored afterwards is the trained one.

The cache is named by the image files, the image size, the model's options and the
weights file's content, so a change to any of them computes the features again.
Used only when the model's spec can split it (``ModelSpec.frozen_split``), the weights
are pre-trained and the fakes are the dataset's own (self-blended fakes are new every
batch); fine-tuning then runs on the images as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core import settings
from core.data.catalog import LoadedImages
from core.models import registry

logger = logging.getLogger(__name__)


def cache_key(
    paths: Sequence[str], image_size: int, options: dict, weights_path: str, flip: bool
) -> str:
    """A name for one subset's features: files, size, options, weights content, flip."""
    digest = hashlib.sha256()
    digest.update(json.dumps([list(paths), image_size, options, flip], sort_keys=True).encode())
    with open(weights_path, "rb") as weights:
        for chunk in iter(lambda: weights.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:24]


def cache_folder(images: LoadedImages) -> Path:
    """Next to the decoded-image store the images come from, else in the artifacts folder."""
    store = getattr(images.pixels, "path", None)
    folder = Path(store).parent / "features" if store else settings.artifacts_dir() / "features"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def features_of(
    extractor: Any, images: LoadedImages, key: str, batch_size: int, flip: bool = False
) -> np.ndarray:
    """The base's pooled features of every image (flipped left-right if asked), cached.

    Args:
        extractor: the model from raw pixels to the features (inference mode).
        images: the decoded subset.
        key: the cache name (:func:`cache_key`).
        batch_size: images per forward pass.
        flip: mirror each image first (the augmentation's other half).

    Returns:
        float32 array (n, features), memory-mapped from the cache file.
    """
    path = cache_folder(images) / f"{key}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r")
    count = len(images.labels)
    if not count:
        return np.zeros((0, extractor.output_shape[-1]), np.float32)
    out, temporary = None, path
    for start in range(0, count, batch_size):
        batch = np.asarray(images.pixels[start : start + batch_size], dtype=np.float32)
        if flip:
            batch = batch[:, :, ::-1]
        values = np.asarray(extractor.predict_on_batch(batch), dtype=np.float32)
        if out is None:
            temporary = path.with_suffix(f".{os.getpid()}.tmp.npy")
            out = np.lib.format.open_memmap(temporary, "w+", np.float32, (count, values.shape[1]))
        out[start : start + len(values)] = values
    out.flush()
    del out
    os.replace(temporary, path)
    return np.load(path, mmap_mode="r")


def _dataset(
    features: tuple[np.ndarray, ...], labels: np.ndarray, batch_size: int, seed: int | None
):
    """Batches of (features, label); with two feature sets, each image's side at random."""
    import tensorflow as tf

    indices = tf.data.Dataset.range(len(labels))
    if seed is not None:
        indices = indices.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    rng = np.random.default_rng(seed)
    dtype = tf.float32

    def load(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = np.sort(batch)
        chosen = np.asarray(features[0][batch])
        if len(features) > 1:  # the random flip, applied to cached features
            flipped = rng.random(len(batch)) < 0.5
            chosen[flipped] = features[1][batch[flipped]]
        return chosen, labels[batch].astype(np.float32).reshape(-1, 1)

    def mapped(batch):
        x, y = tf.numpy_function(load, [batch], (dtype, dtype))
        x.set_shape((None, features[0].shape[1]))
        y.set_shape((None, 1))
        return x, y

    return indices.batch(batch_size).map(mapped).prefetch(tf.data.AUTOTUNE)


def _cached_sets(
    extractor: Any, subsets: Any, config: Any, weights_path: str
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray]]:
    """Train features (and their mirror when augmenting), and validation features."""
    options = config.to_dict()["options"]

    def cached(images: LoadedImages, flip: bool) -> np.ndarray:
        key = cache_key(images.paths, config.image_size, options, weights_path, flip)
        return features_of(extractor, images, key, config.batch_size, flip)

    train = (cached(subsets.train, False),)
    if config.augment:
        train += (cached(subsets.train, True),)
    return train, (cached(subsets.validation, False),)


def fit_frozen(
    setup: Any,
    subsets: Any,
    config: Any,
    progress: Any,
    extra: Sequence[Any],
    compile_model: Callable[[Any, float], None],
) -> tuple[int, float] | None:
    """Train the head of ``setup.model`` on its frozen base's cached features, when it can.

    Early stopping on validation AUC as in the trainer's fit; no checkpoint (a resumed
    run trains the head again, from the cached features: seconds).

    Args:
        setup: the trainer's Setup (model with its pre-trained base frozen, weights).
        subsets: the run's decoded subsets.
        config: the run's TrainConfig.
        progress: the run's Progress callback.
        extra: further Keras callbacks.
        compile_model: compiles a model at a learning rate (the trainer's).

    Returns:
        (epochs run, best validation AUC), or None when this run cannot use cached
        features (no split for the model, weights not pre-trained, blended fakes).
    """
    import keras

    weights = setup.weights
    split = registry.get_spec(config.model).frozen_split
    usable = weights is not None and weights.pretrained and weights.path
    if not usable or split is None or config.fakes_from != "dataset" or setup.replicas > 1:
        return None
    parts = split(setup.model)
    if parts is None:
        return None
    extractor, head = parts
    progress.update(phase="computing base features", force=True)
    train, val = _cached_sets(extractor, subsets, config, weights.path)
    compile_model(head, config.learning_rate)
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_auc",
        mode="max",
        patience=config.early_stopping_patience,
        restore_best_weights=True,
    )
    progress.start_phase("training (cached base features)", 0, config.epochs, config.to_dict())
    head.fit(
        _dataset(train, subsets.train.labels, config.batch_size, config.seed),
        validation_data=_dataset(val, subsets.validation.labels, config.batch_size, None),
        epochs=config.epochs,
        class_weight=setup.class_weights,
        shuffle=False,  # the dataset shuffles itself
        callbacks=[progress, stopper, *extra],
        verbose=0,
    )
    best = stopper.best if stopper.best is not None and np.isfinite(stopper.best) else -1.0
    return len(progress.history.get("loss", [])), float(best)
