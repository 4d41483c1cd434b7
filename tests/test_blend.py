"""Self-blended pseudo-fakes: deterministic, local to the mask, same size and dtype."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import blend, images
from tests.conftest import FFHQ


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """A real face photograph at the training size."""
    first = sorted((FFHQ / "Test" / "Real").glob("*.jpg"))[0]
    return images.load(first, 128)


def test_same_seed_same_blend_other_seed_other_blend(face: np.ndarray) -> None:
    one = blend.self_blend(face, np.random.default_rng(7))
    two = blend.self_blend(face, np.random.default_rng(7))
    other = blend.self_blend(face, np.random.default_rng(8))
    assert np.array_equal(one.pixels, two.pixels) and np.array_equal(one.mask, two.mask)
    assert not np.array_equal(one.pixels, other.pixels)


@pytest.mark.parametrize("seed", range(6))
def test_pixels_change_only_inside_the_mask(face: np.ndarray, seed: int) -> None:
    result = blend.self_blend(face, np.random.default_rng(seed))
    assert result.pixels.shape == face.shape and result.pixels.dtype == np.uint8
    outside = result.mask == 0
    assert outside.any() and (~outside).any()
    assert np.array_equal(result.pixels[outside], face[outside])
    changed = np.any(result.pixels != face, axis=2)
    assert changed.sum() > 0.05 * changed.size  # a visible paste, not a no-op


def test_mask_is_soft_and_within_range(face: np.ndarray) -> None:
    mask = blend.make_mask(
        (128, 128), (30, 30, 60, 70), np.random.default_rng(0), blend.BlendParams(partial_chance=0)
    )
    assert mask.dtype == np.float32 and mask.min() >= 0 and mask.max() <= 1
    assert mask.max() > 0.99  # full paste at the centre
    assert np.mean((mask > 0) & (mask < 0.99)) > 0  # a blended boundary


def test_face_is_found_on_a_photo_and_a_plain_image_falls_back_to_the_centre(face) -> None:
    box, found = blend.face_box(images.load(sorted((FFHQ / "Test" / "Real").glob("*.jpg"))[0], 256))
    assert found and box[2] > 50
    plain = np.full((96, 96, 3), 120, dtype=np.uint8)
    result = blend.self_blend(plain, np.random.default_rng(0))
    assert not result.face_found
    x, y, w, h = result.box
    assert abs((x + w / 2) - 48) <= 2 and abs((y + h / 2) - 48) <= 2


def test_blend_batch_keeps_shape_and_is_seeded(face: np.ndarray) -> None:
    batch = np.stack([face, face[:, ::-1]])
    boxes = np.array([[30, 25, 70, 80], [28, 25, 70, 80]])
    a = blend.blend_batch(batch, boxes, seed=3)
    assert a.shape == batch.shape and a.dtype == np.uint8
    assert np.array_equal(a, blend.blend_batch(batch, boxes, seed=3))
    assert not np.array_equal(a, blend.blend_batch(batch, boxes, seed=4))
    assert blend.blend_batch(batch[:0], boxes[:0], seed=0).shape == (0, 128, 128, 3)


def test_params_are_recorded_as_json_ready() -> None:
    import json

    assert json.loads(json.dumps(blend.DEFAULT_PARAMS.to_dict()))["jpeg_chance"] == 0.3
