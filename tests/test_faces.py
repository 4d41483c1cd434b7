"""Face crop: finds the face in real photos (full frame, small in a scene), none on a wall."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.data import faces, images


@pytest.fixture(scope="module")
def face(ffhq) -> np.ndarray:
    return images.decode(ffhq / "Test" / "Real" / "real_330.jpg").pixels


def test_finds_face_in_full_frame_photo(face):
    crop = faces.crop_face(face)
    assert crop is not None
    x, _, w, _ = crop.face
    assert w > 60 and 0.25 * 256 < x + w / 2 < 0.75 * 256
    _, _, side, side_again = crop.box
    assert side == side_again
    assert crop.pixels.shape == (side, side, 3)


def test_finds_small_face_in_larger_scene(face):
    small = np.asarray(Image.fromarray(face).resize((100, 100), Image.Resampling.BILINEAR))
    scene = np.full((480, 640, 3), (70, 110, 160), dtype=np.uint8)
    scene[300:400, 450:550] = small
    crop = faces.crop_face(scene)
    assert crop is not None
    x, y, w, h = crop.face
    assert x >= 450 and x + w <= 550 and y >= 300 and y + h <= 400
    left, top, side, _ = crop.box
    # Square, with a margin around the face, inside the image.
    assert side > w
    assert left <= x and top <= y and left + side >= x + w and top + side >= y + h
    assert left >= 0 and left + side <= 640 and top >= 0 and top + side <= 480
    np.testing.assert_array_equal(crop.pixels, scene[top : top + side, left : left + side])


@pytest.mark.parametrize("colour", [(128, 128, 128), (250, 240, 230)])
def test_no_face_in_plain_image(colour):
    assert faces.crop_face(np.full((300, 400, 3), colour, dtype=np.uint8)) is None


def test_square_box_stays_inside_the_image():
    assert faces.square_box((0, 0, 50, 50), 60, 40, margin=0.5) == (
        5,
        0,
        40,
        40,
    )  # centred, clamped
    left, top, side, _ = faces.square_box((90, 90, 10, 10), 100, 100, margin=0.5)
    assert (left + side, top + side) == (100, 100) and side == 20
