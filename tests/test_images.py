"""The safe decoder on every strange file a person may upload, generated in tmp_path."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data import images
from core.serving.predict import prepare_image


def save(path: Path, image: Image.Image, fmt: str, **options) -> Path:
    image.save(path, fmt, **options)
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` with almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_non_image_renamed_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are my holiday notes, not a photo\n" * 20)
    with pytest.raises(images.ImageError, match="not an image we can read"):
        images.decode(path)


def test_truncated_jpeg(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(images.ImageError, match="damaged or truncated"):
        images.decode(path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(images.ImageError, match=r"empty \(0 bytes\)"):
        images.decode(path)
    with pytest.raises(images.ImageError, match="empty"):
        images.decode(b"")


@pytest.mark.parametrize(
    ("width", "height"),
    [(8000, 7000), (100_000, 100_000)],  # above our limit; above Pillow's own bomb limit
)
def test_decompression_bomb_refused_before_decoding(width, height):
    data = png_header_only(width, height)
    assert len(data) < 200
    started = time.perf_counter()
    with pytest.raises(images.ImageError, match=f"limit of {images.MAX_PIXELS:,} pixels"):
        images.decode(data)
    # Decoding 56-10,000 megapixels would take seconds and gigabytes; the header check doesn't.
    assert time.perf_counter() - started < 0.5


def test_bomb_message_states_dimensions_when_known():
    with pytest.raises(images.ImageError, match="8000x7000 pixels"):
        images.decode(png_header_only(8000, 7000))


def test_large_but_compressible_image_under_custom_limit(tmp_path):
    path = save(tmp_path / "big.png", Image.new("RGB", (3000, 3000), (10, 20, 30)), "PNG")
    assert path.stat().st_size < 200_000
    with pytest.raises(images.ImageError, match="3000x3000"):
        images.decode(path, max_pixels=4_000_000)
    assert images.decode(path).pixels.shape == (3000, 3000, 3)


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "lime", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = images.decode(path)
    assert decoded.pixels.shape == (16, 16, 3)
    assert tuple(decoded.pixels[8, 8]) == (255, 0, 0)
    assert any("3 frames" in note and "first" in note for note in decoded.notes)


def test_cmyk_jpeg_converted(tmp_path):
    image = Image.new("CMYK", (16, 16), (255, 0, 0, 0))  # pure cyan
    image.paste((0, 0, 0, 255), (0, 0, 8, 16))  # left half black
    decoded = images.decode(save(tmp_path / "cmyk.jpg", image, "JPEG", quality=100))
    assert decoded.original_mode == "CMYK"
    assert np.allclose(decoded.pixels[8, 12], (0, 255, 255), atol=12)
    assert np.allclose(decoded.pixels[8, 2], (0, 0, 0), atol=12)


def test_palette_without_transparency(tmp_path):
    image = Image.new("P", (4, 4), 0)
    image.putpalette([200, 10, 20] + [30, 40, 250] + [0, 0, 0] * 254)
    image.putpixel((1, 1), 1)
    decoded = images.decode(save(tmp_path / "palette.png", image, "PNG"))
    assert decoded.original_mode == "P"
    assert tuple(decoded.pixels[0, 0]) == (200, 10, 20)
    assert tuple(decoded.pixels[1, 1]) == (30, 40, 250)


def test_palette_with_transparency_flattened_on_white(tmp_path):
    image = Image.new("P", (4, 4), 0)
    image.putpalette([200, 10, 20] + [30, 40, 250] + [0, 0, 0] * 254)
    image.putpixel((1, 1), 1)
    image.info["transparency"] = 0
    decoded = images.decode(save(tmp_path / "palette_t.png", image, "PNG", transparency=0))
    assert tuple(decoded.pixels[0, 0]) == (255, 255, 255)
    assert tuple(decoded.pixels[1, 1]) == (30, 40, 250)
    assert any("Transparency" in note for note in decoded.notes)


def test_greyscale(tmp_path):
    image = Image.new("L", (4, 4), 77)
    decoded = images.decode(save(tmp_path / "grey.png", image, "PNG"))
    assert decoded.pixels.shape == (4, 4, 3)
    assert tuple(decoded.pixels[2, 2]) == (77, 77, 77)


def test_sixteen_bit_scaled_not_clipped(tmp_path):
    values = np.array([[0, 65535, 32896, 1000]], dtype=np.uint16)
    path = save(tmp_path / "deep.png", Image.fromarray(values), "PNG")
    assert Image.open(path).mode.startswith("I")
    decoded = images.decode(path)
    assert decoded.pixels[0, :, 0].tolist() == [0, 255, 128, 4]
    assert any("16-bit" in note for note in decoded.notes)


def test_rgba_flattened_on_white(tmp_path):
    pixels = np.zeros((2, 2, 4), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 0, 255)  # opaque red
    pixels[0, 1] = (255, 0, 0, 0)  # invisible
    pixels[1, 0] = (0, 0, 255, 128)  # half blue
    pixels[1, 1] = (0, 255, 0, 255)
    decoded = images.decode(save(tmp_path / "rgba.png", Image.fromarray(pixels, "RGBA"), "PNG"))
    assert tuple(decoded.pixels[0, 0]) == (255, 0, 0)
    assert tuple(decoded.pixels[0, 1]) == (255, 255, 255)
    assert np.allclose(decoded.pixels[1, 0], (127, 127, 255), atol=1)
    assert tuple(decoded.pixels[1, 1]) == (0, 255, 0)


def test_opaque_rgba_has_no_transparency_note(tmp_path):
    image = Image.new("RGBA", (4, 4), (1, 2, 3, 255))
    decoded = images.decode(save(tmp_path / "opaque.png", image, "PNG"))
    assert tuple(decoded.pixels[0, 0]) == (1, 2, 3)
    assert not decoded.notes


def test_one_pixel_image(tmp_path):
    path = save(tmp_path / "dot.png", Image.new("RGB", (1, 1), (9, 99, 199)), "PNG")
    assert images.decode(path).pixels.shape == (1, 1, 3)
    model_input = images.load(path, 32)
    assert model_input.shape == (32, 32, 3)
    assert (model_input == (9, 99, 199)).all()


def test_exif_orientation_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 10, 20))  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    decoded = images.decode(save(tmp_path / "rotated.jpg", image, "JPEG", exif=exif))
    assert decoded.pixels.shape == (40, 20, 3)  # portrait after rotation
    assert decoded.pixels[2, 10].mean() > 200  # the band is now at the top
    assert decoded.pixels[37, 10].mean() < 50


@pytest.mark.parametrize("fmt", ["WEBP", "BMP", "PNG", "JPEG"])
def test_accepted_formats_round_trip(tmp_path, fmt):
    path = save(tmp_path / f"img.{fmt.lower()}", Image.new("RGB", (8, 6), (50, 100, 150)), fmt)
    decoded = images.decode(path)
    assert decoded.pixels.shape == (6, 8, 3)
    assert np.allclose(decoded.pixels[3, 4], (50, 100, 150), atol=4)


def test_file_over_the_upload_limit():
    from streamlit import config

    limit_mb = config.get_option("server.maxUploadSize")
    assert limit_mb == 20  # what .streamlit/config.toml sets and the page states
    limit = limit_mb * 1024 * 1024
    data = b"\0" * (limit + 1)
    with pytest.raises(images.ImageError, match=r"above the limit of 20\.0 MB"):
        images.decode(data, max_bytes=limit)
    prepared = prepare_image(("huge.jpg", data), 32, max_bytes=limit)
    assert prepared.pixels is None
    assert "above the limit" in prepared.error


def test_missing_file_reported_by_prepare(tmp_path):
    prepared = prepare_image(tmp_path / "nowhere.jpg", 32)
    assert prepared.error == "File not found; check the path."
