"""The input converter: every kind of input, orientation and colour profiles, and clear errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from faceapi.errors import ImageError
from faceapi.image import load_image

from helpers import read_rgb


def _jpeg(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def test_kinds_of_input_give_the_same_rgb(shared_dir):
    path = shared_dir / "images" / "happy.jpg"
    from_path = load_image(path)
    assert from_path.shape == (282, 500, 3) and from_path.dtype == np.uint8
    np.testing.assert_array_equal(load_image(str(path)), from_path)
    np.testing.assert_array_equal(load_image(path.read_bytes()), from_path)
    np.testing.assert_array_equal(load_image(Image.open(path)), from_path)
    np.testing.assert_array_equal(load_image(from_path), from_path)


def test_grayscale_and_alpha_are_converted(shared_dir):
    gray = load_image(shared_dir / "images" / "amy1.png")
    assert gray.shape == (150, 150, 3) and (gray[..., 0] == gray[..., 2]).all()
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., :3] = 7
    assert load_image(rgba).shape == (4, 5, 3) and load_image(rgba).max() == 7
    assert load_image(np.full((3, 3), 9, np.uint8)).shape == (3, 3, 3)
    rgba[0, 0, 3] = 255
    from_pil = load_image(Image.fromarray(rgba, "RGBA"))  # as a browser canvas: no colour where alpha is 0
    assert from_pil.shape == (4, 5, 3) and from_pil[0, 0].tolist() == [7, 7, 7] and from_pil[1:].max() == 0


def test_16_bit_png_keeps_the_high_byte():
    samples = (np.arange(16 * 64, dtype=np.uint16).reshape(16, 64) * 64)
    buf = io.BytesIO()
    Image.fromarray(samples).save(buf, "PNG")  # mode I;16
    out = load_image(buf.getvalue())
    assert out.shape == (16, 64, 3)
    np.testing.assert_array_equal(out[..., 0], samples >> 8)


def test_exif_orientation_is_applied():
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    out = load_image(_jpeg(arr, exif=exif))
    assert out.shape == (40, 20, 3)
    assert out[:20].mean() > 200 and out[20:].mean() < 50  # white half now on top


def test_embedded_adobe_rgb_profile_is_converted_to_srgb(shared_dir):
    """bbt5.jpg carries Adobe RGB: converted as Chromium does (decoded.png), within one level."""
    ours = load_image(shared_dir / "images" / "bbt5.jpg").astype(int)
    chromium = read_rgb(shared_dir / "reference" / "bbt5" / "decoded.png").astype(int)
    assert np.abs(ours - chromium).max() <= 1
    naive = np.asarray(Image.open(shared_dir / "images" / "bbt5.jpg").convert("RGB")).astype(int)
    assert np.abs(naive - chromium).max() > 20  # the plain decode is far off


@pytest.mark.parametrize("bad, message", [
    (b"", "empty"),
    (b"this is not an image", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, "corrupt|not an image"),
    (12345, "expected a path, bytes"),
    (np.zeros((4, 4, 3), np.float32), "uint8"),
    (np.zeros((4, 4, 2), np.uint8), "shape"),
    (np.zeros((0, 4, 3), np.uint8), "empty"),
])
def test_bad_inputs_get_clear_errors(bad, message):
    with pytest.raises(ImageError, match=message):
        load_image(bad)


def test_truncated_and_missing_files(tmp_path, shared_dir):
    data = (shared_dir / "images" / "bbt4.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="cut.jpg"):
        load_image(cut)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.png")
    empty = tmp_path / "empty.png"
    empty.touch()
    with pytest.raises(ImageError, match="empty"):
        load_image(empty)


def test_pixel_limit_is_checked_before_decoding():
    buf = io.BytesIO()
    Image.new("L", (6000, 5000)).save(buf, "PNG")  # 30 MP, a few KB compressed
    with pytest.raises(ImageError, match="over the limit"):
        load_image(buf.getvalue(), max_pixels=10_000_000)
    with pytest.raises(ImageError, match="over the limit"):
        load_image(np.zeros((100, 100, 3), np.uint8), max_pixels=5000)
