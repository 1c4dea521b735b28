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


# -- structural limits (check_structure): refused before any decoder runs -----------------------------------
def _progressive_with_scans(extra: int, side: int = 64) -> bytes:
    """Pillow's progressive JPEG (10 scans for colour) with its last scan repeated `extra` more times."""
    data = _jpeg(np.full((side, side, 3), 128, np.uint8), progressive=True)
    sos = data.rindex(b"\xff\xda")
    eoi = len(data) - 2
    return data[:eoi] + data[sos:eoi] * extra + data[eoi:]


def test_encoders_output_passes_the_structural_checks(shared_dir):
    from faceapi.image import check_structure

    for path in sorted((shared_dir / "images").iterdir()):
        if path.is_file():
            check_structure(path.read_bytes(), path.name)  # every shared photo
    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    frames = [Image.fromarray(np.roll(rgb, k, axis=1)) for k in range(3)]
    for fmt, kw in (("JPEG", {}), ("JPEG", {"progressive": True}), ("JPEG", {"icc_profile": b"\0" * 70_000}),
                    ("PNG", {}), ("GIF", {"save_all": True, "append_images": frames[1:]}),
                    ("PNG", {"save_all": True, "append_images": frames[1:]}), ("WEBP", {}),
                    ("TIFF", {"save_all": True, "append_images": frames[1:]}), ("BMP", {})):
        buf = io.BytesIO()
        frames[0].save(buf, fmt, **kw)
        check_structure(buf.getvalue())
    assert load_image(_progressive_with_scans(54)).shape == (64, 64, 3)  # 64 scans: the limit


def test_a_jpeg_over_the_scan_limit_is_refused(tmp_path):
    data = _progressive_with_scans(55)  # 65 scans
    with pytest.raises(ImageError, match="progressive JPEG with over 64 scans; at most 64 accepted"):
        load_image(data)
    path = tmp_path / "scans.jpg"
    path.write_bytes(data)
    with pytest.raises(ImageError, match="over 64 scans"):  # files too (read through mmap)
        load_image(path)


def test_arithmetic_and_lossless_jpegs_are_refused():
    data = _jpeg(np.full((8, 8, 3), 9, np.uint8))
    sof = data.index(b"\xff\xc0")
    for marker, kind in ((b"\xc9", "arithmetic-coded JPEG"), (b"\xc3", "lossless JPEG"),
                         (b"\xc5", "hierarchical JPEG")):
        with pytest.raises(ImageError, match=kind):
            load_image(data[:sof + 1] + marker + data[sof + 2:])


def test_too_many_frames_pages_or_profile_bytes_are_refused():
    frames = [Image.new("RGB", (2, 2), (k % 256, k // 256, 0)) for k in range(1001)]
    for fmt, what in (("GIF", "GIF with over 1000 frames"), ("PNG", "animated PNG with 1001 frames"),
                      ("TIFF", "TIFF with over 1000 pages")):
        buf = io.BytesIO()
        frames[0].save(buf, fmt, save_all=True, append_images=frames[1:])
        with pytest.raises(ImageError, match=what):
            load_image(buf.getvalue())
    buf = io.BytesIO()  # (a PNG's compressed profile is limited by Pillow: 1 MB decompressed)
    Image.new("RGB", (8, 8)).save(buf, "JPEG", icc_profile=b"\0" * ((1 << 20) + 1))
    with pytest.raises(ImageError, match="colour profile over 1048576 bytes"):
        load_image(buf.getvalue())


def test_a_png_palette_over_256_entries_is_refused():
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 3, 0, 0, 0))
           + chunk(b"PLTE", b"\0" * 771) + chunk(b"IDAT", zlib.compress(b"\0\0")) + chunk(b"IEND", b""))
    with pytest.raises(ImageError, match="PNG palette of 771 bytes"):
        load_image(png)


def test_extraneous_bytes_between_jpeg_segments_are_skipped_as_libjpeg_does():
    data = _jpeg(np.full((16, 16, 3), 77, np.uint8))
    dqt = data.index(b"\xff\xdb")
    padded = data[:dqt] + b"\x00" * 5 + data[dqt:]  # some cameras pad; libjpeg warns and goes on
    np.testing.assert_array_equal(load_image(padded), load_image(data))
