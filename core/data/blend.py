"""Self-blended pseudo-fakes: teach a detector the traces a face swap leaves, from real faces.

After Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images" (CVPR 2022):
a face swap pastes one face into another image through a soft mask, and leaves a
blending boundary and a colour, sharpness or compression mismatch between the
inner face and its surroundings. Blending a real image with a slightly altered copy
of *itself* inside a face-shaped mask reproduces exactly those traces without any
identity change, so a detector trained on such pseudo-fakes learns the traces and
not one generator's fingerprint.

Recipe, per image (all randomness from one generator, so a seed fixes the result):

1. **Face region.** The largest face of OpenCV's Haar cascade (:mod:`core.data.faces`,
   ships inside the wheel, works offline); when none is found, a centred box
   covering the middle of the image (the Kaggle images are face crops) and the
   caller is told (``found=False``).
2. **Mask.** An ellipse inside the face box, randomly resized and shifted, then
   randomly eroded or dilated and blurred; values below 1/255 are cut to zero, so
   pixels outside the (dilated) mask are left exactly as they were.
3. **Source.** A copy of the image with colour, brightness and contrast jitter, a
   slight scale and shift, then blur or sharpening, and sometimes JPEG compression.
4. **Blend.** ``mask * source + (1 - mask) * image``, with the mask's peak randomly
   lowered sometimes (a partly transparent paste).

Landmark models that ship inside their wheel were weighed: ``mtcnn`` (weights in the
wheel, five landmarks, TensorFlow) is tens of times slower per image than the cascade;
``mediapipe`` needs a separately downloaded model file and ``opencv-contrib``. The
cascade box with a random ellipse keeps blending cheap enough to run every epoch.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class BlendParams:
    """Ranges the blends are drawn from (recorded with every run that uses them).

    Attributes:
        ellipse_scale: ellipse half-axes as a share of the face box's half-sides.
        mask_morph: largest erosion/dilation, as a share of the face box's side.
        mask_blur: range of the mask's blur sigma, as a share of the face box's side.
        colour_jitter: largest per-channel gain change (0.06 = +-6 %).
        brightness: largest brightness shift, on 0-255.
        contrast: largest contrast change (0.1 = +-10 %).
        scale: largest scale change of the source copy (0.05 = +-5 %).
        shift: largest shift of the source copy, as a share of the face box's side.
        jpeg_chance: probability that the source is JPEG-compressed.
        jpeg_quality: (lowest, highest) quality of that compression.
        partial_chance: probability that the mask's peak is below 1.
    """

    ellipse_scale: tuple[float, float] = (0.75, 1.0)
    mask_morph: float = 0.06
    mask_blur: tuple[float, float] = (0.02, 0.08)
    colour_jitter: float = 0.06
    brightness: float = 12.0
    contrast: float = 0.1
    scale: float = 0.04
    shift: float = 0.03
    jpeg_chance: float = 0.3
    jpeg_quality: tuple[int, int] = (60, 95)
    partial_chance: float = 0.3

    def to_dict(self) -> dict[str, object]:
        """JSON-ready parameters, for config.json."""
        return asdict(self)


DEFAULT_PARAMS = BlendParams()


def face_box(pixels: np.ndarray) -> tuple[Box, bool]:
    """The largest face's box (x, y, width, height), or a centred fallback.

    Returns:
        (box, found): ``found`` is False when no face was detected and the centre
        of the image stands in for it.
    """
    from core.data import faces

    height, width = pixels.shape[:2]
    found = faces.detect_faces(pixels)
    if found:
        return found[0], True
    return (
        round(width * 0.2),
        round(height * 0.15),
        round(width * 0.6),
        round(height * 0.7),
    ), False


def make_mask(
    shape: tuple[int, int], box: Box, rng: np.random.Generator, params: BlendParams
) -> np.ndarray:
    """A soft face-shaped mask in [0, 1], ``float32`` (height, width), zero far from the box."""
    import cv2

    height, width = shape
    x, y, w, h = box
    low, high = params.ellipse_scale
    axes = (
        max(2, round(w / 2 * rng.uniform(low, high))),
        max(2, round(h / 2 * rng.uniform(low, high))),
    )
    centre = (
        round(x + w / 2 + rng.uniform(-0.05, 0.05) * w),
        round(y + h / 2 + rng.uniform(-0.05, 0.05) * h),
    )
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, thickness=-1)
    side = max(w, h)
    morph = round(rng.uniform(0, params.mask_morph) * side)
    if morph > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * morph + 1, 2 * morph + 1))
        mask = (cv2.dilate if rng.random() < 0.5 else cv2.erode)(mask, kernel)
    sigma = max(0.5, rng.uniform(*params.mask_blur) * side)
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigmaX=sigma)
    soft = np.clip(soft, 0.0, 1.0)
    soft[soft < 1.0 / 255.0] = 0.0
    if rng.random() < params.partial_chance:
        soft *= rng.choice([0.5, 0.75])
    return soft.astype(np.float32)


def transform_source(
    pixels: np.ndarray, box: Box, rng: np.random.Generator, params: BlendParams
) -> np.ndarray:
    """A slightly altered copy of the image: colour, geometry, sharpness, compression."""
    import cv2

    image = pixels.astype(np.float32)
    gains = 1.0 + rng.uniform(-params.colour_jitter, params.colour_jitter, size=3)
    contrast = 1.0 + rng.uniform(-params.contrast, params.contrast)
    mean = image.mean()
    image = (image * gains - mean) * contrast + mean
    image += rng.uniform(-params.brightness, params.brightness)
    image = np.clip(image, 0, 255).astype(np.uint8)

    height, width = pixels.shape[:2]
    side = max(box[2], box[3])
    scale = 1.0 + rng.uniform(-params.scale, params.scale)
    dx, dy = rng.uniform(-params.shift, params.shift, size=2) * side
    centre = (box[0] + box[2] / 2, box[1] + box[3] / 2)
    matrix = cv2.getRotationMatrix2D(centre, 0.0, scale)
    matrix[:, 2] += (dx, dy)
    image = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)

    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), sigmaX=rng.uniform(0.5, 1.5))
    else:
        blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=1.0)
        amount = rng.uniform(0.3, 1.0)
        image = cv2.addWeighted(image, 1 + amount, blurred, -amount, 0)
    if rng.random() < params.jpeg_chance:
        image = _jpeg(image, int(rng.integers(*params.jpeg_quality, endpoint=True)))
    return image


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


@dataclass
class Blend:
    """One self-blended image and how it was made.

    Attributes:
        pixels: the pseudo-fake, ``uint8`` with the input's shape.
        mask: the blending mask in [0, 1] (height, width).
        box: the face box used.
        face_found: False when the centred fallback stood in for a face.
    """

    pixels: np.ndarray
    mask: np.ndarray
    box: Box
    face_found: bool


def self_blend(
    pixels: np.ndarray,
    rng: np.random.Generator,
    box: Box | None = None,
    face_found: bool = True,
    params: BlendParams = DEFAULT_PARAMS,
) -> Blend:
    """Blend an image with an altered copy of itself inside a face-shaped mask.

    Args:
        pixels: a real image, ``uint8`` RGB (height, width, 3).
        rng: the random generator (seed it for a reproducible blend).
        box: the face box if already known (detection is the slow part; callers
            detect once per file); None detects it here.
        face_found: whether ``box`` came from a detection (recorded on the result).
        params: the ranges the blend is drawn from.

    Returns:
        The pseudo-fake and its mask; outside the mask the pixels are unchanged.
    """
    if box is None:
        box, face_found = face_box(pixels)
    mask = make_mask(pixels.shape[:2], box, rng, params)
    source = transform_source(pixels, box, rng, params)
    weight = mask[..., None]
    mixed = weight * source.astype(np.float32) + (1.0 - weight) * pixels.astype(np.float32)
    blended = np.where(weight > 0, np.clip(np.rint(mixed), 0, 255), pixels).astype(np.uint8)
    return Blend(blended, mask, box, face_found)


def blend_batch(
    batch: np.ndarray, boxes: np.ndarray, seed: int, params: BlendParams = DEFAULT_PARAMS
) -> np.ndarray:
    """Self-blend every image of a batch (fresh blends for every seed).

    Args:
        batch: ``uint8`` images (n, height, width, 3).
        boxes: ``int`` face boxes (n, 4), detected once per file.
        seed: seeds this batch's blends (the pipeline passes a new one per batch).
        params: the ranges the blends are drawn from.

    Returns:
        The pseudo-fakes, ``uint8`` (n, height, width, 3).
    """
    rng = np.random.default_rng(seed)
    return (
        np.stack(
            [
                self_blend(image, rng, tuple(int(v) for v in box), params=params).pixels
                for image, box in zip(batch, boxes, strict=True)
            ]
        )
        if len(batch)
        else batch.copy()
    )


__all__ = [
    "DEFAULT_PARAMS",
    "Blend",
    "BlendParams",
    "blend_batch",
    "face_box",
    "make_mask",
    "self_blend",
    "transform_source",
]
