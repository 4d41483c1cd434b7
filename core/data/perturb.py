"""Image degradations for robustness curves: how a detector holds up on internet copies.

Benchmarks of the field (DeepfakeBench, FaceForensics++) score detectors on test
images re-compressed, resized, blurred or noised the way images are once shared.
Each :class:`Perturbation` here takes a decoded RGB image (``uint8``, any size) and
returns one of the same size and dtype; the model's own preprocessing (resize to its
input) comes after, exactly as for a clean image. Strengths follow the robustness
protocol of the comparison page::

    jpeg     re-compression at quality 95, 75, 50, 30
    rescale  downscale by 0.75, 0.5, 0.25 and upscale back
    blur     Gaussian blur, sigma 0.5, 1, 2 (pixels)
    noise    additive Gaussian noise, std 2, 5, 10 (on 0-255)
    crop     centre crop keeping 90 % or 75 % of the side, resized back

Every perturbation is deterministic: noise draws from a generator seeded by the
run-independent pair (seed, image index), so every model sees the same pixels and
a second call gives the same result. An "identity" strength (quality 100 is *not*
identity for JPEG, so the identity is the clean image itself) is represented by
:data:`CLEAN`, the first point of every curve.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

#: Resampling used to shrink and enlarge images (Pillow's bicubic, as in core.data.images).
_RESAMPLE = Image.Resampling.BICUBIC
#: The clean setting: no perturbation, the first point of every curve.
CLEAN = ("clean", 0.0)


def jpeg(pixels: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    """Re-encode as JPEG at ``quality`` (1-100) and decode again."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def rescale(pixels: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Shrink by ``factor`` (0-1], then enlarge back to the original size."""
    height, width = pixels.shape[:2]
    if factor >= 1:
        return pixels.copy()
    small = (max(1, round(width * factor)), max(1, round(height * factor)))
    image = Image.fromarray(pixels).resize(small, _RESAMPLE).resize((width, height), _RESAMPLE)
    return np.asarray(image, dtype=np.uint8)


def blur(pixels: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels (Pillow's radius is sigma)."""
    if sigma <= 0:
        return pixels.copy()
    image = Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(radius=sigma))
    return np.asarray(image, dtype=np.uint8)


def noise(pixels: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``std`` (on the 0-255 scale), clipped."""
    if std <= 0:
        return pixels.copy()
    noisy = pixels.astype(np.float32) + rng.normal(0.0, std, size=pixels.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def crop(pixels: np.ndarray, keep: float, rng: np.random.Generator) -> np.ndarray:
    """Keep the centre ``keep`` share of each side, then resize back to the original size."""
    height, width = pixels.shape[:2]
    if keep >= 1:
        return pixels.copy()
    crop_h, crop_w = max(1, round(height * keep)), max(1, round(width * keep))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    centre = pixels[top : top + crop_h, left : left + crop_w]
    return np.asarray(Image.fromarray(centre).resize((width, height), _RESAMPLE), dtype=np.uint8)


PerturbFunction = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Perturbation:
    """One kind of degradation and the strengths it is measured at.

    Attributes:
        name: short key (``jpeg``, ``rescale``...), used in stored records.
        title: what a chart calls it.
        parameter: what the strength means, for axis titles.
        strengths: the settings measured, from mild to severe.
        function: ``(pixels, strength, rng) -> pixels`` of the same shape.
    """

    name: str
    title: str
    parameter: str
    strengths: tuple[float, ...]
    function: PerturbFunction


PERTURBATIONS: dict[str, Perturbation] = {
    item.name: item
    for item in (
        Perturbation("jpeg", "JPEG re-compression", "quality", (95, 75, 50, 30), jpeg),
        Perturbation("rescale", "Downscale and upscale", "scale", (0.75, 0.5, 0.25), rescale),
        Perturbation("blur", "Gaussian blur", "sigma (px)", (0.5, 1.0, 2.0), blur),
        Perturbation("noise", "Gaussian noise", "std (0-255)", (2.0, 5.0, 10.0), noise),
        Perturbation("crop", "Centre crop", "kept share", (0.9, 0.75), crop),
    )
}


def settings() -> Iterator[tuple[str, float]]:
    """Every (perturbation name, strength) of the protocol, mildest first per kind."""
    for item in PERTURBATIONS.values():
        for strength in item.strengths:
            yield item.name, float(strength)


def setting_key(name: str, strength: float) -> str:
    """Stable text key of a setting, e.g. ``jpeg@75`` or ``blur@0.5``."""
    return f"{name}@{strength:g}"


def apply(pixels: np.ndarray, name: str, strength: float, seed: int, index: int) -> np.ndarray:
    """Perturb one image deterministically.

    Args:
        pixels: ``uint8`` RGB array (height, width, 3).
        name: a key of :data:`PERTURBATIONS`, or ``"clean"`` for the image itself.
        strength: the setting's strength.
        seed: the robustness run's seed.
        index: the image's position in the test set; with ``seed`` it seeds the noise,
            so the result does not depend on batching or on which model asks.

    Returns:
        A new ``uint8`` array of the same shape.

    Raises:
        KeyError: unknown perturbation; the message lists the valid ones.
    """
    if name == CLEAN[0]:
        return pixels.copy()
    if name not in PERTURBATIONS:
        valid = ", ".join([CLEAN[0], *PERTURBATIONS])
        raise KeyError(f"Unknown perturbation {name!r}; choose one of: {valid}.")
    rng = np.random.default_rng([seed, index])
    return PERTURBATIONS[name].function(pixels, strength, rng)


__all__ = [
    "CLEAN",
    "PERTURBATIONS",
    "Perturbation",
    "apply",
    "blur",
    "crop",
    "jpeg",
    "noise",
    "rescale",
    "setting_key",
    "settings",
]
