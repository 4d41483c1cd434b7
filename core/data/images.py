"""Decode any image a person or a dataset hands us into an RGB array, safely.

This is the only place pixels enter the app, for training, EDA and prediction
alike, so preprocessing matches exactly everywhere: orient by EXIF, take the
first frame, convert to 8-bit RGB, resize to a square of the model's size.
Models do their own scaling, so the arrays stay raw ``uint8`` 0-255.

Errors a user can cause raise :class:`ImageError` with one sentence saying what
is wrong; nothing here crashes on a strange file.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core import settings

#: Refuse images above this many pixels before decoding them (decompression bombs).
MAX_PIXELS = 50_000_000
IMAGE_EXTENSIONS = settings.IMAGE_EXTENSIONS
RESAMPLE = Image.Resampling.BILINEAR


class ImageError(ValueError):
    """An image that cannot be used, with a message meant for the user."""


@dataclass
class DecodedImage:
    """An RGB image and what was done to get it.

    Attributes:
        pixels: ``uint8`` array of shape (height, width, 3).
        original_size: (width, height) as stored in the file.
        original_mode: Pillow mode of the file (``RGB``, ``CMYK``, ``P``...).
        format: file format reported by Pillow (``JPEG``, ``PNG``...).
        notes: plain-language remarks (first frame used, alpha dropped...).
    """

    pixels: np.ndarray
    original_size: tuple[int, int]
    original_mode: str
    format: str | None
    notes: list[str] = field(default_factory=list)


def _size_text(count: int) -> str:
    # MB as Streamlit counts them (server.maxUploadSize = 20 means 20 * 2**20 bytes).
    return f"{count / 2**20:.1f} MB" if count >= 100_000 else f"{count:,} bytes"


def _open(source: str | Path | bytes, max_bytes: int | None) -> Image.Image:
    if isinstance(source, bytes | bytearray):
        size = len(source)
    else:
        path = Path(source)
        size = path.stat().st_size
    if size == 0:
        raise ImageError("The file is empty (0 bytes).")
    if max_bytes is not None and size > max_bytes:
        raise ImageError(
            f"The file is {_size_text(size)}, above the limit of {_size_text(max_bytes)}; "
            "use a smaller file."
        )
    if isinstance(source, bytes | bytearray):
        return Image.open(io.BytesIO(source))
    return Image.open(path)


def _too_large(width: int, height: int, max_pixels: int) -> ImageError:
    return ImageError(
        f"The image is {width}x{height} pixels, above the limit of "
        f"{max_pixels:,} pixels; resize it before uploading."
    )


def decode(
    source: str | Path | bytes, max_pixels: int = MAX_PIXELS, max_bytes: int | None = None
) -> DecodedImage:
    """Decode an image file or its bytes into an 8-bit RGB array.

    Only the header is read before the size checks, so an image claiming huge
    dimensions (a decompression bomb) is refused without allocating its pixels.

    Args:
        source: a path or the raw bytes of an image file.
        max_pixels: images with more pixels are refused before decoding.
        max_bytes: files larger than this are refused before reading them (None: no limit).

    Returns:
        The decoded image with notes on any conversion made.

    Raises:
        ImageError: the data is not a usable image; the message says why.
        OSError: a path that cannot be read (missing file, no permission).
    """
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            # Our own max_pixels check below replaces Pillow's bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = _open(source, max_bytes)
        width, height = image.size
        if width * height > max_pixels:
            raise _too_large(width, height, max_pixels)
        if width < 1 or height < 1:
            raise ImageError("The image has no pixels (zero width or height).")
        mode, fmt = image.mode, image.format
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            image.seek(0)
            notes.append(f"{frames} frames found; the first one was used.")
        image.load()
        image = ImageOps.exif_transpose(image) or image
        image = _to_rgb(image, notes)
        pixels = np.asarray(image, dtype=np.uint8)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(
            f"The image's dimensions are above the limit of {max_pixels:,} pixels; "
            "resize it before uploading."
        ) from None
    except UnidentifiedImageError:
        raise ImageError(
            "This file is not an image we can read (JPEG, PNG, WebP or BMP)."
        ) from None
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        raise ImageError(f"The image file is damaged or truncated ({error}).") from None
    if pixels.ndim != 3 or pixels.shape[2] != 3 or min(pixels.shape[:2]) < 1:
        raise ImageError("The image has no usable pixels.")
    return DecodedImage(pixels, (width, height), mode, fmt, notes)


def _to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, flattening transparency on white."""
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # 16/32-bit greyscale: scale to 0-255 instead of clipping. A 16-bit mode has a
        # known range; for 32-bit "I"/"F" files the range is a guess from the values.
        array = np.asarray(image, dtype=np.float64)
        wide = image.mode.startswith("I;16") or array.max() > 255
        top = 65535.0 if wide else 255.0
        image = Image.fromarray(np.clip(np.rint(array / top * 255.0), 0, 255).astype(np.uint8), "L")
        notes.append("16-bit image scaled to 8 bits.")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            rgba = Image.alpha_composite(background, rgba)
            notes.append("Transparency flattened onto white.")
        image = rgba
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def resize(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB array to ``size`` x ``size`` (no-op when already that size)."""
    if pixels.shape[0] == size and pixels.shape[1] == size:
        return pixels
    return np.asarray(Image.fromarray(pixels).resize((size, size), RESAMPLE), dtype=np.uint8)


def load(source: str | Path | bytes, size: int) -> np.ndarray:
    """Decode an image and resize it to ``size`` x ``size``: the model input."""
    return resize(decode(source).pixels, size)


def thumbnail(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink an RGB array to at most ``max_side`` on its longer side, keeping its shape."""
    height, width = pixels.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(pixels).resize(size, RESAMPLE), dtype=np.uint8)
