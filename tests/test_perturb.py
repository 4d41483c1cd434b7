"""Perturbations for robustness curves: shape, determinism and that each does what it says."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data import images, perturb

PHOTO = (
    Path(__file__).resolve().parents[1] / "../shared/data/ffhq-stylegan2/Dataset/Test/Real"
).resolve()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real 256x256 face photograph, decoded as the app decodes it."""
    first = sorted(PHOTO.glob("*.jpg"))[0]
    return images.decode(first).pixels


def high_frequency_energy(pixels: np.ndarray) -> float:
    """Mean squared difference between horizontal neighbours: a crude high-pass energy."""
    grey = pixels.astype(np.float64).mean(axis=2)
    return float(np.mean(np.diff(grey, axis=1) ** 2))


def jpeg_bytes(pixels: np.ndarray) -> int:
    """Size of an image saved losslessly: more detail, more bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.tell()


def test_protocol_has_the_fifteen_settings_of_the_issue() -> None:
    assert list(perturb.settings()) == [
        ("jpeg", 95.0), ("jpeg", 75.0), ("jpeg", 50.0), ("jpeg", 30.0),
        ("rescale", 0.75), ("rescale", 0.5), ("rescale", 0.25),
        ("blur", 0.5), ("blur", 1.0), ("blur", 2.0),
        ("noise", 2.0), ("noise", 5.0), ("noise", 10.0),
        ("crop", 0.9), ("crop", 0.75),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "strength"), list(perturb.settings()))
def test_every_setting_keeps_shape_and_dtype_and_changes_pixels(
    photo: np.ndarray, name: str, strength: float
) -> None:
    out = perturb.apply(photo, name, strength, seed=0, index=0)
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert not np.array_equal(out, photo)
    assert np.array_equal(out, perturb.apply(photo, name, strength, seed=0, index=0))


@pytest.mark.parametrize(
    ("name", "identity"), [("rescale", 1.0), ("blur", 0.0), ("noise", 0.0), ("crop", 1.0)]
)
def test_zero_strength_is_identity(photo: np.ndarray, name: str, identity: float) -> None:
    assert np.array_equal(perturb.apply(photo, name, identity, seed=3, index=7), photo)


def test_clean_is_the_image_itself(photo: np.ndarray) -> None:
    out = perturb.apply(photo, *perturb.CLEAN, seed=0, index=0)
    assert np.array_equal(out, photo) and out is not photo


def test_lower_jpeg_quality_loses_more_detail(photo: np.ndarray) -> None:
    errors = []
    sizes = []
    for quality in (95, 75, 50, 30):
        out = perturb.apply(photo, "jpeg", quality, seed=0, index=0)
        errors.append(float(np.mean((out.astype(float) - photo) ** 2)))
        sizes.append(jpeg_bytes(out))
    assert errors == sorted(errors) and errors[0] > 0
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("name", ["blur", "rescale"])
def test_stronger_blur_and_rescale_lower_high_frequency_energy(
    photo: np.ndarray, name: str
) -> None:
    strengths = perturb.PERTURBATIONS[name].strengths
    energies = [high_frequency_energy(photo)]
    energies += [
        high_frequency_energy(perturb.apply(photo, name, s, seed=0, index=0)) for s in strengths
    ]
    assert energies == sorted(energies, reverse=True)


def test_noise_has_the_asked_std_and_depends_on_seed_and_index(photo: np.ndarray) -> None:
    grey = np.full((128, 128, 3), 128, dtype=np.uint8)
    out = perturb.apply(grey, "noise", 10.0, seed=1, index=0)
    assert abs(float(np.std(out.astype(float) - 128)) - 10.0) < 0.5
    assert not np.array_equal(out, perturb.apply(grey, "noise", 10.0, seed=1, index=1))
    assert not np.array_equal(out, perturb.apply(grey, "noise", 10.0, seed=2, index=0))


def test_crop_enlarges_the_centre() -> None:
    board = np.zeros((100, 100, 3), dtype=np.uint8)
    board[:, 50:] = 255  # left half black, right half white
    board[:5] = 255  # a white band at the top, cut away by a 90 % centre crop
    out = perturb.apply(board, "crop", 0.9, seed=0, index=0)
    assert out[0, 10].max() < 30  # the top band is gone
    assert out[50, 10].max() < 30 and out[50, 90].min() > 225


def test_unknown_perturbation_lists_the_valid_ones(photo: np.ndarray) -> None:
    with pytest.raises(KeyError, match="jpeg, rescale, blur, noise, crop"):
        perturb.apply(photo, "sepia", 1.0, seed=0, index=0)


def test_setting_key() -> None:
    assert perturb.setting_key("jpeg", 75.0) == "jpeg@75"
    assert perturb.setting_key("blur", 0.5) == "blur@0.5"
