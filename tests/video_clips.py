"""Clips for the video tests, written with OpenCV's VideoWriter from the shared real images.

Nothing binary is committed: every clip is made in a temporary folder by these helpers.
OpenCV's wheel writes ``mp4v`` in ``.mp4`` / ``.mov`` and ``MJPG`` / ``XVID`` in ``.avi`` /
``.mkv`` here (not H.264), and reads them all back.
"""

from __future__ import annotations

import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import FFHQ

CODECS = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}


def face_images(count: int = 4, side: int = 128) -> list[np.ndarray]:
    """The first ``count`` real FFHQ test photos (faces), as RGB arrays of ``side`` px."""
    paths = sorted((FFHQ / "Test" / "Real").glob("*.jpg"))[:count]
    return [np.asarray(Image.open(path).convert("RGB").resize((side, side))) for path in paths]


def write_clip(
    path: Path, pictures: Sequence[np.ndarray], seconds_each: float = 1.0, fps: float = 10.0
) -> Path:
    """Write a clip showing each picture (RGB, all one size) for ``seconds_each`` seconds."""
    import cv2

    height, width = pictures[0].shape[:2]
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*CODECS[path.suffix]), fps, (width, height)
    )
    assert writer.isOpened(), f"OpenCV cannot write {path.suffix} here"
    for picture in pictures:
        bgr = cv2.cvtColor(np.ascontiguousarray(picture), cv2.COLOR_RGB2BGR)
        for _ in range(round(seconds_each * fps)):
            writer.write(bgr)
    writer.release()
    return path


def face_clip(path: Path, count: int = 4, side: int = 128, **options) -> Path:
    """A clip of real faces, one per second by default."""
    return write_clip(path, face_images(count, side), **options)


def grey_clip(path: Path, levels: Sequence[int] = (40, 200), side: int = 64, **options) -> Path:
    """A clip with no face: flat grey frames of the given levels, one per second."""
    return write_clip(
        path, [np.full((side, side, 3), level, np.uint8) for level in levels], **options
    )


def truncated(path: Path, source: Path, keep: float = 0.5) -> Path:
    """The first ``keep`` share of ``source``'s bytes, written to ``path``."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def audio_only(path: Path, seconds: float = 1.0) -> Path:
    """A WAV file (sound only) under ``path``'s name, e.g. ``song.mp4``."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * int(8000 * seconds))
    return path
