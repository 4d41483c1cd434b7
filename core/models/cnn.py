"""A compact convolutional detector: forensic front end, four conv blocks, global pooling.

In the spirit of the keras-io "image classification from scratch" example, with
what face-forgery work found to matter on small data: fixed SRM high-pass residuals
next to the RGB input (Zhou et al. 2018, "Learning Rich Features for Image
Manipulation Detection"), no resampling augmentation (it blurs away generator
traces, Wang et al. 2020, "CNN-generated images are surprisingly easy to spot...
for now"), and global average pooling so the network trains on native-resolution
patches and scores whole images.
"""

from __future__ import annotations

from typing import Any

import keras

from core.models.layers import preprocess
from core.models.registry import register


def _conv_block(x: Any, filters: int, name: str) -> Any:
    for i in (1, 2):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(
            x
        )
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        x = keras.layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)


@register("cnn")
def make_model(
    image_size: int,
    augment: bool = True,
    patch_size: int | None = None,
    high_pass: bool = True,
    widths: tuple[int, ...] = (32, 64, 128, 128),
    dropout: float = 0.3,
    seed: int | None = None,
    **_: Any,
) -> keras.Model:
    """Build the CNN.

    Args:
        image_size: side of the square raw-RGB input.
        augment: random horizontal flips while training.
        patch_size: train on random patches of this side (None: the whole image).
        high_pass: add the fixed SRM residual channels to the input.
        widths: filters of each conv block (two 3x3 convs, batch norm, max pooling).
        dropout: dropout rate before the logit.
        seed: seeds the random layers.

    Returns:
        An uncompiled model: raw 0-255 RGB (image_size, image_size, 3) -> one logit of P(Real).
    """
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = preprocess(inputs, augment, patch_size, seed, high_pass)
    for i, filters in enumerate(widths, start=1):
        x = _conv_block(x, filters, f"block{i}")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(1, name="logit")(x)
    return keras.Model(inputs, outputs, name="cnn")
