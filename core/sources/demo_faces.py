"""The demo dataset's pictures: procedurally drawn faces, and face-swapped fakes.

- "Real" images are procedurally drawn face-like pictures: varied skin tones, hair,
  backgrounds, eye/brow/nose/mouth shapes and positions, lighting direction, exposure,
  colour cast, skin texture, camera blur and sensor noise, then JPEG at a random
  quality.
- "Fake" images start as a real one, then get their inner face swapped for another
  identity's, the way face-swap deepfakes are made: the swapped region is rendered
  at a lower resolution and upsampled (loss of skin texture and sensor noise, with a
  faint checkerboard as left by transposed convolutions), its colour is slightly off
  (random direction, so no class is brighter or more saturated on average) and it is
  pasted with a soft, blurred mask boundary. Trace strengths vary per image, so some
  fakes are nearly invisible.

Everything is seeded: the same seed gives byte-identical files.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image

from core import settings

DEFAULT_SIZE = settings.DEMO_IMAGE_SIZE
#: Ranges of the fake traces' strengths, drawn per image (see the module docstring).
TRACES = {
    "checker": (2.0, 9.0),  # checkerboard amplitude, grey levels
    "colour": (0.02, 0.08),  # per-channel gain mismatch of the swapped region
    "downscale": (1.4, 2.6),  # the swapped face was rendered this much smaller
}

SKIN_TONES = np.array(
    [
        (255, 226, 200),
        (241, 196, 162),
        (226, 174, 134),
        (198, 138, 100),
        (163, 108, 74),
        (124, 82, 56),
        (86, 58, 40),
    ],
    dtype=np.float32,
)
HAIR_COLOURS = np.array(
    [
        (25, 20, 18),
        (60, 40, 28),
        (105, 72, 45),
        (170, 130, 80),
        (215, 190, 130),
        (140, 60, 30),
        (150, 150, 150),
    ],
    dtype=np.float32,
)
IRIS_COLOURS = np.array(
    [(70, 45, 25), (110, 75, 40), (60, 100, 150), (80, 120, 80), (110, 115, 120)],
    dtype=np.float32,
)


@dataclass(frozen=True)
class FaceParams:
    """Everything that defines one drawn face (geometry, colours, features)."""

    cx: float
    cy: float
    rx: float
    ry: float
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    iris: tuple[float, float, float]
    eye_y: float
    eye_dx: float
    eye_rx: float
    eye_ry: float
    brow_lift: float
    nose_y: float
    mouth_y: float
    mouth_rx: float
    mouth_ry: float
    skin_texture: float


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    return np.meshgrid(coords, coords)  # xx, yy in [0, 1]


def _ellipse(
    size: int,
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    angle: float = 0.0,
    crop: bool = False,
):
    """Anti-aliased ellipse coverage in [0, 1] (about one pixel of soft edge).

    With ``crop``, returns (coverage, box) computed only over the ellipse's bounding
    box (box = (row slice, column slice)): painting small features stays cheap.
    """
    xx, yy = _grid(size)
    box = (slice(None), slice(None))
    if crop:
        reach = max(rx, ry)
        rows = slice(max(0, int((cy - reach) * size) - 1), max(0, int((cy + reach) * size) + 2))
        cols = slice(max(0, int((cx - reach) * size) - 1), max(0, int((cx + reach) * size) + 2))
        box = (rows, cols)
        xx, yy = xx[box], yy[box]
    dx, dy = xx - cx, yy - cy
    if angle:
        cos, sin = np.cos(angle), np.sin(angle)
        dx, dy = dx * cos + dy * sin, -dx * sin + dy * cos
    dist = np.sqrt((dx / rx) ** 2 + (dy / ry) ** 2)
    radius_px = min(rx, ry) * size
    coverage = np.clip((1.0 - dist) * radius_px + 0.5, 0.0, 1.0)
    return (coverage, box) if crop else coverage


def _paint(image: np.ndarray, shape, colour, opacity: float = 1.0) -> None:
    """Paint ``colour`` over ``image`` where ``shape`` (coverage or (coverage, box)) is."""
    alpha, box = shape if isinstance(shape, tuple) else (shape, (slice(None), slice(None)))
    a = alpha[..., None] * opacity
    region = image[box]
    region *= 1.0 - a
    region += a * np.asarray(colour, dtype=np.float32)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 3):
    """Low-frequency noise in about [-1, 1]: a coarse random grid, upsampled bicubically."""
    coarse = rng.normal(0.0, 1.0, (cells, cells, channels)).astype(np.float32)
    layers = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(coarse[..., c])).resize(
                (size, size), Image.BICUBIC
            )
        )
        for c in range(channels)
    ]
    return np.stack(layers, axis=-1)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a float32 array (H, W) or (H, W, C)."""
    if sigma <= 0:
        return image
    return cv2.GaussianBlur(np.ascontiguousarray(image, dtype=np.float32), (0, 0), sigma)


def _random_face(rng: np.random.Generator) -> FaceParams:
    tone = rng.uniform(0, len(SKIN_TONES) - 1)
    low = int(tone)
    skin = SKIN_TONES[low] + (tone - low) * (SKIN_TONES[min(low + 1, 6)] - SKIN_TONES[low])
    skin = skin * rng.uniform(0.95, 1.05, 3)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.85, 1.15)
    iris = IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] * rng.uniform(0.85, 1.15)
    return FaceParams(
        cx=rng.uniform(0.45, 0.55),
        cy=rng.uniform(0.48, 0.56),
        rx=rng.uniform(0.24, 0.30),
        ry=rng.uniform(0.31, 0.37),
        skin=tuple(skin),
        hair=tuple(hair),
        iris=tuple(iris),
        eye_y=rng.uniform(-0.11, -0.05),
        eye_dx=rng.uniform(0.09, 0.125),
        eye_rx=rng.uniform(0.045, 0.065),
        eye_ry=rng.uniform(0.018, 0.032),
        brow_lift=rng.uniform(0.035, 0.06),
        nose_y=rng.uniform(0.04, 0.09),
        mouth_y=rng.uniform(0.14, 0.20),
        mouth_rx=rng.uniform(0.06, 0.10),
        mouth_ry=rng.uniform(0.012, 0.03),
        skin_texture=rng.uniform(1.5, 5.0),
    )


def _swap_identity(rng: np.random.Generator, face: FaceParams) -> FaceParams:
    """Another person's inner face on the same head: same outline, new features."""
    other = _random_face(rng)
    skin = np.asarray(face.skin) * rng.uniform(0.93, 1.07, 3)  # a near match, as swaps pick
    return FaceParams(
        **{
            **other.__dict__,
            "cx": face.cx,
            "cy": face.cy,
            "rx": face.rx,
            "ry": face.ry,
            "skin": tuple(skin),
            "hair": face.hair,
        }
    )


def _draw_features(image: np.ndarray, size: int, face: FaceParams, rng) -> None:
    """Eyes, brows, nose and mouth, drawn on an image that already holds the face."""
    cx, cy = face.cx, face.cy
    skin = np.asarray(face.skin)

    def blob(x: float, y: float, rx: float, ry: float, angle: float = 0.0):
        return _ellipse(size, x, y, rx, ry, angle, crop=True)

    for side in (-1, 1):
        ex = cx + side * face.eye_dx + rng.normal(0, 0.004)
        ey = cy + face.eye_y + rng.normal(0, 0.004)
        _paint(image, blob(ex, ey, face.eye_rx, face.eye_ry), (235, 232, 228))
        iris_r = face.eye_ry * 0.95
        _paint(image, blob(ex, ey, iris_r, iris_r), face.iris)
        _paint(image, blob(ex, ey, iris_r * 0.45, iris_r * 0.45), (15, 12, 12))
        tilt = side * rng.uniform(-0.25, 0.1)
        brow = blob(ex, ey - face.brow_lift, face.eye_rx * 1.1, 0.009, tilt)
        _paint(image, brow, face.hair, 0.85)
    _paint(image, blob(cx, cy + face.nose_y, 0.03, 0.012), skin * 0.65, 0.5)
    ridge = blob(cx + 0.01, cy + face.nose_y - 0.05, 0.008, 0.045)
    _paint(image, ridge, np.minimum(skin * 1.15, 255), 0.25)
    lips = skin * np.array([0.85, 0.55, 0.55]) + np.array([25, 0, 5])
    _paint(image, blob(cx, cy + face.mouth_y, face.mouth_rx, face.mouth_ry), lips)
    _paint(image, blob(cx, cy + face.mouth_y, face.mouth_rx * 0.9, 0.004), lips * 0.45, 0.7)


def _render(rng: np.random.Generator, size: int, face: FaceParams, scene: dict) -> np.ndarray:
    """Draw a face over a scene, with lighting; returns float32 (size, size, 3), no noise."""
    xx, yy = _grid(size)
    c0, c1 = scene["bg0"], scene["bg1"]
    ramp = np.clip((xx - 0.5) * scene["dir"][0] + (yy - 0.5) * scene["dir"][1] + 0.5, 0, 1)
    image = c0 + ramp[..., None] * (c1 - c0) + scene["bg_noise"]
    image = image.astype(np.float32)
    # Shoulders and neck, then hair behind the head, then the face.
    _paint(image, _ellipse(size, face.cx, 1.08, 0.42, 0.25, crop=True), scene["shirt"])
    neck = _ellipse(
        size, face.cx, face.cy + face.ry * 0.9, face.rx * 0.55, face.ry * 0.5, crop=True
    )
    _paint(image, neck, np.asarray(face.skin) * 0.8)
    if scene["hair_style"] > 0.15:
        hair = _ellipse(
            size, face.cx, face.cy - face.ry * 0.15, face.rx * 1.18, face.ry * 1.02, crop=True
        )
        _paint(image, hair, face.hair)
    face_alpha = _ellipse(size, face.cx, face.cy, face.rx, face.ry)
    skin_layer = np.asarray(face.skin, dtype=np.float32) * np.ones_like(image)
    skin_layer += scene["skin_noise"] * face.skin_texture
    a = face_alpha[..., None]
    image = image * (1 - a) + skin_layer * a
    if scene["hair_style"] > 0.15:
        fringe = _ellipse(
            size, face.cx, face.cy - face.ry * 0.95, face.rx * 0.95, face.ry * 0.28, crop=True
        )
        _paint(image, fringe, face.hair)
    _draw_features(image, size, face, rng)
    # Lighting: a directional term, stronger on the (roughly spherical) face.
    u = np.clip((xx - face.cx) / face.rx, -1.2, 1.2)
    v = np.clip((yy - face.cy) / face.ry, -1.2, 1.2)
    nz = np.sqrt(np.clip(1 - u**2 - v**2, 0, 1))
    lx, ly, strength = scene["light"]
    shade = 1 + strength * (lx * u + ly * v) * face_alpha + 0.15 * (nz - 0.6) * face_alpha
    shade += 0.08 * strength * (lx * (xx - 0.5) + ly * (yy - 0.5))
    image *= shade[..., None]
    image *= scene["exposure"] * scene["cast"]
    return image


def _random_scene(rng: np.random.Generator, size: int) -> dict:
    angle = rng.uniform(0, 2 * np.pi)
    light = rng.uniform(0, 2 * np.pi)
    return {
        "bg0": rng.uniform(20, 235, 3).astype(np.float32),
        "bg1": rng.uniform(20, 235, 3).astype(np.float32),
        "dir": (np.cos(angle) * 1.2, np.sin(angle) * 1.2),
        "bg_noise": _smooth_noise(rng, size, 5) * rng.uniform(4, 22),
        "shirt": rng.uniform(15, 240, 3),
        "hair_style": rng.uniform(),
        "skin_noise": _blur(rng.normal(0, 1, (size, size, 3)).astype(np.float32), 0.6),
        "light": (np.cos(light), np.sin(light), rng.uniform(0.05, 0.35)),
        "exposure": rng.uniform(0.78, 1.15),
        "cast": rng.uniform(0.94, 1.06, 3).astype(np.float32),
        "blur": rng.uniform(0.0, 0.8),
        "sensor_noise": rng.uniform(1.0, 5.0),
        "jpeg_quality": int(rng.integers(75, 96)),
    }


def _camera(rng: np.random.Generator, image: np.ndarray, scene: dict) -> np.ndarray:
    """Lens softness and sensor noise, as every real photo has."""
    image = _blur(image, scene["blur"])
    noise = rng.normal(0, scene["sensor_noise"], image.shape[:2])[..., None]
    noise = noise + rng.normal(0, scene["sensor_noise"] * 0.5, image.shape)
    return image + noise.astype(np.float32)


def _generated_look(rng: np.random.Generator, region: np.ndarray, size: int) -> np.ndarray:
    """What a face generator's output looks like when pasted back.

    A lower resolution, upsampled (sometimes by a transposed convolution, leaving a
    checkerboard), and a colour that does not quite match the target.
    """
    factor = rng.uniform(*TRACES["downscale"])
    low = max(8, round(size / factor))
    up_filter = Image.BILINEAR if rng.uniform() < 0.5 else Image.BICUBIC
    channels = []
    for c in range(3):
        layer = Image.fromarray(np.ascontiguousarray(region[..., c], dtype=np.float32))
        layer = layer.resize((low, low), Image.BILINEAR).resize((size, size), up_filter)
        channels.append(np.asarray(layer))
    out = np.stack(channels, axis=-1)
    xx, yy = np.meshgrid(np.arange(size), np.arange(size))
    checker = ((xx % 2) + (yy % 2) - 1.0).astype(np.float32)
    out += checker[..., None] * rng.uniform(*TRACES["checker"]) * rng.uniform(0.7, 1.3, 3)
    # Colour mismatch with a random sign per channel: no class-level brightness shift.
    gain = 1 + rng.choice([-1, 1], 3) * rng.uniform(*TRACES["colour"], 3)
    out = out * gain.astype(np.float32) + rng.normal(0, 3)
    return out


def _make_image(rng: np.random.Generator, size: int, fake: bool) -> tuple[np.ndarray, int]:
    """Draw one image; returns uint8 (size, size, 3) before JPEG, and its JPEG quality."""
    scene = _random_scene(rng, size)
    face = _random_face(rng)
    image = _camera(rng, _render(rng, size, face, scene), scene)
    if fake:
        swapped = _render(rng, size, _swap_identity(rng, face), scene)
        swapped = _generated_look(rng, swapped, size)
        mask = _ellipse(
            size,
            face.cx + rng.normal(0, 0.01),
            face.cy + rng.uniform(0.0, 0.04),
            face.rx * rng.uniform(0.72, 0.88),
            face.ry * rng.uniform(0.68, 0.82),
        )
        mask = _blur(mask, rng.uniform(1.5, 4.5) * size / 128)[..., None]
        # Compression noise: a faint grain survives in generated faces too.
        swapped += rng.normal(0, 0.8, swapped.shape).astype(np.float32)
        image = image * (1 - mask) + swapped * mask
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), scene["jpeg_quality"]


def _jpeg_bytes(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def render_image(seed: int | tuple[int, ...], fake: bool, size: int = DEFAULT_SIZE) -> bytes:
    """Render one demo image as JPEG bytes.

    Args:
        seed: the image's seed (an int or a tuple of ints).
        fake: draw a face-swapped "fake" instead of a "real" face.
        size: side of the square image in pixels.

    Returns:
        The JPEG file content; the same arguments always give the same bytes.
    """
    rng = np.random.default_rng(seed)
    pixels, quality = _make_image(rng, size, fake)
    return _jpeg_bytes(pixels, quality)
