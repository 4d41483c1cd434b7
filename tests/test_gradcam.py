"""Grad-CAM: heatmap size and range, the map points at the region that drove the verdict,
every model has a layer.

The run's model is :func:`tests.conftest.known_cnn` (bright means Real), so where the
map must light up is known by construction, on any CPU.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.data import images
from core.evaluation import scoring
from core.models import registry
from core.serving import gradcam


@pytest.fixture(scope="module")
def model(trained_run):
    return scoring.load_model(trained_run)


@pytest.fixture(scope="module")
def photo(ffhq) -> np.ndarray:
    # Not square and not the model's size: the heatmap must come back at this size.
    pixels = images.decode(ffhq / "Test" / "Real" / "real_330.jpg").pixels
    return pixels[:, 30:230]


def test_heatmap_of_trained_model(model, photo):
    result = gradcam.compute_gradcam(model, photo)
    assert result.layer == "block4_relu2"
    assert result.heatmap.shape == photo.shape[:2]
    assert result.heatmap.dtype == np.float32
    assert result.heatmap.min() >= 0.0 and result.heatmap.max() <= 1.0
    assert result.target == ("Real" if result.p_real >= 0.5 else "Fake")
    # The Real and Fake maps are ReLU(+s) and ReLU(-s) of one weighted sum s, so
    # whichever way this tiny model leans, one of them shows evidence.
    other = gradcam.compute_gradcam(
        model, photo, target="Fake" if result.target == "Real" else "Real"
    )
    evidence = max((result, other), key=lambda cam: cam.heatmap.max())
    assert evidence.heatmap.max() > 0.9  # normalised to its peak
    assert evidence.heatmap.std() > 0.01, "a trained model's map should not be constant"
    p_real = scoring.predict_p_real(model, images.resize(photo, 48))[0]
    assert result.p_real == pytest.approx(p_real, abs=1e-5)


@pytest.mark.parametrize("target", ["Real", "Fake"])
def test_heatmap_lights_up_the_region_that_drove_the_verdict(model, target):
    # Bright top-left quarter on black; not square, not the model's size.
    pixels = np.zeros((90, 120, 3), dtype=np.uint8)
    pixels[:45, :60] = 255
    result = gradcam.compute_gradcam(model, pixels, target=target)
    assert result.reason is None
    assert result.heatmap.shape == (90, 120) and result.heatmap.max() == pytest.approx(1.0)
    bright, dark = result.heatmap[:30, :40].mean(), result.heatmap[60:, 80:].mean()
    if target == "Real":  # brightness pushes the known model towards Real
        assert bright > 0.9 and dark < 0.1
    else:
        assert dark > 0.9 and bright < 0.1
    assert result.p_real < 0.5  # three quarters dark: the verdict is Fake


def test_explains_either_verdict_and_named_layer(model, photo):
    real = gradcam.compute_gradcam(model, photo, target="Real")
    fake = gradcam.compute_gradcam(model, photo, target="Fake")
    assert (real.target, fake.target) == ("Real", "Fake")
    assert not np.allclose(real.heatmap, fake.heatmap)
    named = gradcam.compute_gradcam(model, photo, layer_name="block3_relu2")
    assert named.layer == "block3_relu2"
    assert named.heatmap.shape == photo.shape[:2]
    missing = gradcam.compute_gradcam(model, photo, layer_name="no_such_layer")
    assert missing.heatmap is None and "no_such_layer" in missing.reason


def test_model_is_left_untouched(model, photo):
    layer = model.get_layer("block4_relu2")
    before = dict(vars(layer))
    gradcam.compute_gradcam(model, photo)
    assert "call" not in vars(layer)  # nothing patched
    assert vars(layer).keys() == before.keys()


@pytest.mark.parametrize(
    ("name", "size", "expected"),
    [
        ("capsnet", 32, "block4_relu2"),  # shared backbone before the capsule branches
        ("xception", 71, "xception_base/block14_sepconv2_act"),  # inside the nested base
    ],
)
def test_layer_found_in_every_model(name, size, expected):
    model = registry.build(name, image_size=size)
    pixels = np.random.default_rng(0).integers(0, 256, (50, 60, 3), dtype=np.uint8)
    result = gradcam.compute_gradcam(model, pixels)
    assert result.layer == expected
    assert result.heatmap.shape == (50, 60)
    assert result.heatmap.min() >= 0.0 and result.heatmap.max() <= 1.0


def test_model_without_shared_conv_has_a_reason():
    import keras

    inputs = keras.Input((16, 16, 3))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(flat))
    result = gradcam.compute_gradcam(model, np.zeros((16, 16, 3), dtype=np.uint8))
    assert result.heatmap is None
    assert "no convolutional layer" in result.reason


def test_overlay():
    pixels = np.full((20, 30, 3), 100, dtype=np.uint8)
    heatmap = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    blended = gradcam.overlay(pixels, heatmap, alpha=0.5)
    assert blended.shape == (20, 30, 3) and blended.dtype == np.uint8
    assert not np.array_equal(blended[0, 0], blended[-1, -1])
    assert np.array_equal(gradcam.overlay(pixels, heatmap, alpha=0.0), pixels)
    # A heatmap at another size is resized to the image.
    assert gradcam.overlay(pixels, heatmap[:5, :5]).shape == (20, 30, 3)
