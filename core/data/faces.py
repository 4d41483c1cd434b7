"""Automatic face crop: the detectors are trained on face crops, a holiday photo is not one.

Uses OpenCV's frontal-face Haar cascade, whose model file ships inside the
``opencv-python-headless`` wheel (``cv2.data.haarcascades``), so it works offline.
The largest face found is cropped as a square with a margin around it, clamped to
the image; when no face is found the caller classifies the whole image and says so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CASCADE_FILE = "haarcascade_frontalface_default.xml"
#: Extra context around the detected box, as a fraction of its side on each side:
#: the training crops show hair, chin and some background, not just the inner face.
DEFAULT_MARGIN = 0.3
#: Detection runs on a copy no larger than this (pixels on the longer side), for speed.
DETECT_MAX_SIDE = 640
#: Faces smaller than this fraction of the shorter image side are ignored as noise.
MIN_FACE_FRACTION = 0.08

_lock = threading.Lock()  # one cascade object, shared by Streamlit's script threads


@dataclass
class FaceCrop:
    """A square crop around the largest face.

    Attributes:
        pixels: the crop, ``uint8`` RGB (side, side, 3).
        box: (x, y, side, side) of the crop in the original image.
        face: (x, y, width, height) of the detected face in the original image.
        faces_found: how many faces the detector found.
    """

    pixels: np.ndarray
    box: tuple[int, int, int, int]
    face: tuple[int, int, int, int]
    faces_found: int


@lru_cache(maxsize=1)
def _cascade():
    import cv2

    path = cv2.data.haarcascades + CASCADE_FILE
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's face model could not be loaded from {path}.")
    return cascade


def detect_faces(pixels: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Return face boxes (x, y, width, height) in ``pixels``' coordinates, largest first.

    Args:
        pixels: ``uint8`` RGB image (height, width, 3).
    """
    import cv2

    height, width = pixels.shape[:2]
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
    if scale < 1.0:
        grey = cv2.resize(
            grey, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
        )
    min_side = max(20, int(MIN_FACE_FRACTION * min(grey.shape)))
    with _lock:
        found = _cascade().detectMultiScale(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
        )
    boxes = [
        tuple(round(int(value) / scale) for value in (x, y, w, h))
        for x, y, w, h in (found if len(found) else [])
    ]
    return sorted(boxes, key=lambda box: box[2] * box[3], reverse=True)


def square_box(
    face: tuple[int, int, int, int], width: int, height: int, margin: float = DEFAULT_MARGIN
) -> tuple[int, int, int, int]:
    """Grow a face box by ``margin`` into a square, shifted (and if needed shrunk) to fit."""
    x, y, w, h = face
    side = round(max(w, h) * (1 + 2 * margin))
    side = max(1, min(side, width, height))
    center_x, center_y = x + w / 2, y + h / 2
    left = round(center_x - side / 2)
    top = round(center_y - side / 2)
    left = min(max(left, 0), width - side)
    top = min(max(top, 0), height - side)
    return left, top, side, side


def crop_face(pixels: np.ndarray, margin: float = DEFAULT_MARGIN) -> FaceCrop | None:
    """Crop the largest face as a square with a margin; None when no face is found.

    Args:
        pixels: ``uint8`` RGB image (height, width, 3).
        margin: extra context on each side, as a fraction of the face's side.

    Returns:
        The crop and where it came from, or None.
    """
    faces = detect_faces(pixels)
    if not faces:
        return None
    height, width = pixels.shape[:2]
    left, top, side, _ = square_box(faces[0], width, height, margin)
    crop = pixels[top : top + side, left : left + side].copy()
    return FaceCrop(crop, (left, top, side, side), faces[0], len(faces))


def draw_box(
    pixels: np.ndarray, box: tuple[int, int, int, int], colour: tuple[int, int, int] = (255, 64, 0)
) -> np.ndarray:
    """Return a copy of ``pixels`` with the (x, y, width, height) box outlined."""
    import cv2

    x, y, w, h = box
    thickness = max(2, round(min(pixels.shape[:2]) / 150))
    outlined = np.ascontiguousarray(pixels).copy()
    cv2.rectangle(outlined, (x, y), (x + w - 1, y + h - 1), colour, thickness)
    return outlined
