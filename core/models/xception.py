"""Xception by transfer learning (registry name ``xception``).

Chollet 2017, "Xception: Deep Learning with Depthwise Separable Convolutions"; the
baseline of FaceForensics++ (Rossler et al. 2019).

``keras.applications.Xception(include_top=False)`` + statistics pooling +
dropout + a one-unit logit. Inputs are raw 0-255 RGB, scaled inside the model to
the [-1, 1] range Xception was trained on.

With ImageNet weights the base is frozen and called with ``training=False`` (its
batch-norm statistics stay as learned); :func:`unfreeze_top` then opens the top
blocks for fine-tuning at a low learning rate after recompiling (keras-io
"Transfer learning & fine-tuning"). The weights come from, in order: a file the
person names, the Keras cache (``$KERAS_HOME/models/...notop.h5``), or Keras's own
download (a scoped timeout, never a process-wide one). When none is available the
whole network trains from scratch and the run says so in plain words
(:data:`FROM_SCRATCH`) and records what was tried.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.models.options import FUSED_BATCH_NORM, POINTWISE_MATMUL
from core.models.registry import ModelSpec, Option, WeightsChoice, register

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/xception/" + WEIGHTS_FILE
)
WEIGHTS_MD5 = "b0042744bf5b25fce3cb969f33bebb97"
FROM_SCRATCH = "ImageNet weights unavailable — trained from scratch"
#: Seconds to wait for the download server to answer, then for each read of the download.
CONNECT_TIMEOUT_S = 3.0
DOWNLOAD_TIMEOUT_S = 30.0
#: Xception's last two blocks (``block13``, ``block14``) are opened for fine-tuning.
FINE_TUNE_BLOCKS = ("block13", "block14")
BASE_NAME = "xception_base"
GRADCAM_LAYER = "block14_sepconv2_act"


def keras_cache_file() -> Path:
    """Where Keras keeps the downloaded no-top weights (Keras's own rule, read now).

    ``$KERAS_HOME`` when set, else ``~/.keras`` (``/tmp/.keras`` when the home folder
    is not writable), then ``models/<file>``.
    """
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home).expanduser() / "models" / WEIGHTS_FILE


def _reachable(url: str, timeout: float) -> bool:
    host = url.split("/")[2]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _download(url: str, target: Path, timeout: float) -> Path:
    """Download ``url`` to ``target`` atomically, checking its MD5; the timeout is per read."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.md5(usedforsecurity=False)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with (
            os.fdopen(handle, "wb") as file,
            urllib.request.urlopen(url, timeout=timeout) as answer,
        ):
            while chunk := answer.read(1 << 20):
                digest.update(chunk)
                file.write(chunk)
        if digest.hexdigest() != WEIGHTS_MD5:
            raise OSError("the downloaded file does not match its checksum")
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return target


def resolve_weights(
    weights_path: str | None = None, download: bool = True, timeout: float = CONNECT_TIMEOUT_S
) -> WeightsChoice:
    """Find ImageNet weights without ever hanging on a download that cannot work.

    Args:
        weights_path: a weights file the person named (checked first).
        download: try to download them when nothing is cached.
        timeout: seconds to wait for the download server to answer.

    Returns:
        The choice made, with a message and a record of what happened.
    """
    if weights_path:
        path = Path(weights_path).expanduser()
        if path.is_file():
            return WeightsChoice(str(path), True, f"ImageNet weights loaded from {path}.", "file")
        return WeightsChoice(
            None, False, f"{FROM_SCRATCH} (weights file not found: {path}).", "file missing"
        )
    cached = keras_cache_file()
    if cached.is_file():
        message = f"ImageNet weights loaded from the Keras cache ({cached})."
        return WeightsChoice(str(cached), True, message, "cached")
    if not download:
        return WeightsChoice(None, False, f"{FROM_SCRATCH} (no cached file).", "not cached")
    if not _reachable(WEIGHTS_URL, timeout):
        message = f"{FROM_SCRATCH} (no cached file; the download server did not answer)."
        return WeightsChoice(None, False, message, "unreachable", download_tried=True)
    try:
        fetched = _download(WEIGHTS_URL, cached, DOWNLOAD_TIMEOUT_S)
    except OSError as error:  # network, disk or checksum: all mean "no weights"
        logger.warning("ImageNet weights download failed: %s", error)
        message = f"{FROM_SCRATCH} (download failed: {error})."
        return WeightsChoice(None, False, message, "download failed", download_tried=True)
    message = f"ImageNet weights downloaded to the Keras cache ({fetched})."
    return WeightsChoice(str(fetched), True, message, "downloaded", download_tried=True)


def weights_status(weights_path: str | None = None) -> str:
    """Say what this machine has, before a run starts: the file, the cache, a download.

    Args:
        weights_path: the weights file the person named, if any.

    Returns:
        One or two plain sentences for the Train page.
    """
    if weights_path:
        path = Path(weights_path).expanduser()
        if path.is_file():
            return f"The weights file you named ({path}) will be loaded: Xception starts from it."
        return f"No file at {path}: check the path, or leave it empty to use the Keras cache."
    cached = keras_cache_file()
    if cached.is_file():
        return (
            f"ImageNet weights found in the Keras cache on this machine ({cached}): "
            "Xception starts from them (frozen base, then optional fine-tuning)."
        )
    return (
        f"No ImageNet weights in the Keras cache on this machine ({cached}). At start the "
        f"run will try to download them (about 80 MB, waiting {CONNECT_TIMEOUT_S:g} s for "
        "the server); if that fails, Xception trains from scratch. The run records which "
        "happened."
    )


def make_model(
    image_size: int,
    augment: bool = True,
    seed: int | None = None,
    weights: str | None = None,
    dropout: float = 0.3,
    fused_batch_norm: bool = True,
    pointwise_matmul: bool = True,
    **_: Any,
) -> keras.Model:
    """Build Xception with a one-logit head.

    Args:
        image_size: side of the square raw-RGB input (at least 71).
        augment: random horizontal flips while training.
        seed: seeds the random layers.
        weights: an ImageNet weights file (see :func:`resolve_weights`), or None to
            train the whole network from scratch.
        dropout: dropout rate before the logit.
        fused_batch_norm: batch norm in TensorFlow's fused kernel (the same arithmetic;
            Keras's Xception is cloned with its batch-norm layers swapped).
        pointwise_matmul: the separable convolutions' 1x1 step as a matrix product
            (the same arithmetic; their layers swapped likewise).

    Returns:
        An uncompiled model: raw 0-255 RGB (image_size, image_size, 3) -> one logit
        of P(Real). With weights, the base is frozen.
    """
    import keras

    from core.models.layers import StatsPooling, preprocess, swap_layers

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = preprocess(inputs, augment, seed, high_pass=False)
    base = keras.applications.Xception(
        include_top=False, weights=None, input_shape=(image_size, image_size, 3), name=BASE_NAME
    )
    base = swap_layers(base, fused_batch_norm, pointwise_matmul)
    if weights:
        base.load_weights(weights)
        base.trainable = False
        # training=False keeps the pretrained batch-norm statistics, also when unfrozen later.
        x = base(x, training=False)
    else:
        # From scratch on small data: Keras's momentum of 0.99 leaves the moving
        # statistics far from the batch ones for dozens of epochs, and inference
        # (validation) then answers one class; 0.9 follows within an epoch or two.
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.9
        x = base(x)
    # Mean and variance pooling: from scratch on the shared data, validation AUC 0.93
    # against 0.88 for global average pooling after 9 epochs (test 0.95 and 0.94).
    x = StatsPooling(name="stats_pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs, outputs, name="xception")


def unfreeze_top(model: keras.Model, blocks: tuple[str, ...] = FINE_TUNE_BLOCKS) -> int:
    """Open the top blocks of the base for fine-tuning (batch norm stays frozen).

    Recompile the model afterwards, at a low learning rate.

    Returns:
        The number of layers made trainable.
    """
    import keras

    base = model.get_layer(BASE_NAME)
    base.trainable = True
    opened = 0
    for layer in base.layers:
        trainable = layer.name.startswith(blocks) and not isinstance(
            layer, keras.layers.BatchNormalization
        )
        layer.trainable = trainable
        opened += trainable
    return opened


def split_frozen(model: keras.Model) -> tuple[keras.Model, keras.Model] | None:
    """Cut a model with a frozen base after its pooling: (extractor, head).

    The extractor maps raw pixels to the pooled base features (flips off: the caller
    flips); the head maps those features to the logit through the model's own dropout
    and logit layers, so training the head trains the model. None when the base trains
    (from scratch, or fine-tuning).
    """
    import keras

    if model.get_layer(BASE_NAME).trainable:
        return None
    pooled = model.get_layer("stats_pool").output
    extractor = keras.Model(model.inputs, pooled, name="xception_features")
    features = keras.Input(pooled.shape[1:], name="features")
    logit = model.get_layer("logit")(model.get_layer("dropout")(features))
    return extractor, keras.Model(features, logit, name="xception_head")


def gradcam_model(model: keras.Model, layer_name: str) -> keras.Model:
    """A model with outputs ``[activation of layer_name in the base, logit]`` (public API).

    The base is a nested model, so its inner layer and the outer logit belong to two
    graphs: the base is split into a two-output model and the outer head is replayed
    on it, reusing the trained layers.
    """
    import keras

    base = model.get_layer(BASE_NAME)
    inner = keras.Model(base.inputs, [base.get_layer(layer_name).output, base.output])
    inputs = keras.Input(model.input_shape[1:], name="image")
    x = model.get_layer("scale")(inputs)  # the flip, if any, is identity at inference
    activation, features = inner(x)
    for name in ("stats_pool", "dropout", "logit"):
        features = model.get_layer(name)(features)
    return keras.Model(inputs, [activation, features])


SPEC = register(
    ModelSpec(
        name="xception",
        display_name="Xception",
        build=make_model,
        summary="keras.applications.Xception by transfer learning (FaceForensics++ baseline).",
        options={
            "dropout": Option(
                0.3, "Dropout rate before the logit.", 0.0, 0.9, label="Dropout rate"
            ),
            "fused_batch_norm": FUSED_BATCH_NORM,
            "pointwise_matmul": POINTWISE_MATMUL,
        },
        min_image_size=71,
        default_image_size=128,
        gradcam_layer=GRADCAM_LAYER,
        gradcam_model=gradcam_model,
        resolve_weights=resolve_weights,
        weights_status=weights_status,
        weights_file_hint=WEIGHTS_FILE,
        fine_tune=unfreeze_top,
        frozen_split=split_frozen,
        # bfloat16 where the CPU has it: 1.3-1.5x, AUC within seed noise (BENCHMARKS.md)
        default_precision="auto",
    )
)
