"""The one converter from whatever a user passes (path, bytes, PIL image, numpy array) to RGB uint8.

Browsers apply EXIF orientation and convert embedded colour profiles to sRGB before face-api.js sees the
pixels; we do the same, so results match what a web page shows.
"""

from __future__ import annotations

import io
import mmap
import os
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from faceapi.errors import ImageError

ImageInput = str | os.PathLike[str] | bytes | bytearray | memoryview | Image.Image | np.ndarray

#: Default limit on width x height; larger inputs are refused before they are decoded.
DEFAULT_MAX_PIXELS = 40_000_000
#: The formats decoded (Pillow's names). Everything else is refused before a decoder runs: Pillow would
#: otherwise also hand EPS/PostScript to Ghostscript and parse dozens of rarely used formats.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

_SRGB = ImageCms.createProfile("sRGB")
_ORIENTATION = 0x0112  # EXIF tag


def describe(source: object) -> str:
    """A short name for an input, used in error messages."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.mode} {source.size[0]}x{source.size[1]}>"
    if isinstance(source, np.ndarray):
        return f"<array {source.dtype} {source.shape}>"
    return f"<{type(source).__name__}>"


def _to_srgb(im: Image.Image, name: str) -> Image.Image:
    icc = im.info.get("icc_profile")
    if icc and im.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            mode = "RGB" if im.mode != "L" else "L"
            converted = ImageCms.profileToProfile(im.convert("RGB") if im.mode == "RGBA" else im, src, _SRGB,
                                                  outputMode="RGB" if mode == "RGB" else "L")
            if converted is not None:  # None only for inPlace=True
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            warnings.warn(f"{name}: embedded colour profile ignored ({exc})", stacklevel=3)
    return im


def _from_pil(im: Image.Image, name: str, max_pixels: int) -> np.ndarray:
    w, h = im.size
    if w * h > max_pixels:
        raise ImageError(f"{name}: image is {w}x{h} = {w * h} pixels, over the limit of {max_pixels}")
    if w == 0 or h == 0:
        raise ImageError(f"{name}: image is empty ({w}x{h})")
    try:
        if im.getexif().get(_ORIENTATION, 1) != 1:  # exif_transpose copies even when there is nothing to do
            im = ImageOps.exif_transpose(im)
        if im.mode.startswith("I;16") or im.mode == "I":
            # 16-bit samples (e.g. 16-bit grayscale PNG): keep the high byte, as browsers' libpng does;
            # Pillow's own conversion would clip everything above 255 to white
            high = np.right_shift(np.asarray(im).astype(np.uint32), 8)
            im = Image.fromarray(np.minimum(high, 255).astype(np.uint8))
        transparent = None
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            # a browser canvas keeps no colour under fully transparent pixels: face-api.js sees black there
            transparent = np.asarray(im.convert("RGBA"))[..., 3] == 0
        im = _to_srgb(im, name)
        if im.mode != "RGB":
            im = im.convert("RGB")
        rgb = np.asarray(im, dtype=np.uint8)
        if transparent is not None and transparent.any():
            rgb = rgb.copy()
            rgb[transparent] = 0
        return rgb
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{name}: cannot decode image ({exc})") from exc


def _from_array(a: np.ndarray, name: str, max_pixels: int) -> np.ndarray:
    if a.dtype != np.uint8:
        raise ImageError(f"{name}: expected a uint8 array with values 0..255, got dtype {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    elif not (a.ndim == 3 and a.shape[2] == 3):
        raise ImageError(f"{name}: expected an HxW, HxWx3 (RGB) or HxWx4 (RGBA) array, got shape {a.shape}")
    h, w = a.shape[:2]
    if h == 0 or w == 0:
        raise ImageError(f"{name}: image is empty ({w}x{h})")
    if w * h > max_pixels:
        raise ImageError(f"{name}: image is {w}x{h} = {w * h} pixels, over the limit of {max_pixels}")
    return np.ascontiguousarray(a)


# -- structural checks before decoding -------------------------------------------------------------------
# A decoder's cost is not bounded by the file's size or pixel count alone: a progressive JPEG may repeat a
# tiny scan thousands of times, each costing a pass over every block of the image (3456x3456 flat grey with
# a 26-byte scan repeated 1,000 times: 73 KB, 2 s of CPU; 2 MB of such scans: about a minute). These limits
# are read from the file's structure (markers, chunks, blocks, IFDs: no pixel is decoded) and refuse what no
# camera, browser or common encoder writes.

#: Most scans (SOS segments) of a JPEG. libjpeg's and Pillow's progressive mode writes 10 for colour and 6 for
#: greyscale, mozjpeg's optimised progression about 10-12, a baseline file one per component (at most 4).
MAX_JPEG_SCANS = 64
#: Most frames (pages) of a GIF, APNG, animated WebP or multi-page TIFF. Only the first is decoded; the walk
#: that counts them stops here.
MAX_FRAMES = 1000
#: Largest embedded colour profile: sRGB's is 3 KB, Display P3's 0.5 KB, camera and scanner profiles up to a
#: few hundred KB.
MAX_ICC_BYTES = 1 << 20
#: JPEG frame types (SOFn markers) decoded: Huffman-coded baseline, extended sequential and progressive.
#: Lossless, hierarchical and arithmetic-coded JPEGs are refused: no camera or browser writes them.
_JPEG_SOF = {0xC0: "baseline", 0xC1: "extended sequential", 0xC2: "progressive"}
_JPEG_SOF_REFUSED = {0xC3: "lossless", 0xC5: "hierarchical", 0xC6: "hierarchical", 0xC7: "hierarchical",
                     0xC9: "arithmetic-coded", 0xCA: "arithmetic-coded progressive", 0xCB: "lossless arithmetic",
                     0xCD: "hierarchical arithmetic", 0xCE: "hierarchical arithmetic",
                     0xCF: "hierarchical arithmetic"}


#: What the checks read: bytes, or a read-only mmap of a file (both index to ints, slice to bytes, `find`).
_Buffer = bytes | mmap.mmap
_Order = Literal["little", "big"]


def _u16(data: _Buffer, i: int, order: _Order = "big") -> int:
    return int.from_bytes(data[i:i + 2], order)


def _u32(data: _Buffer, i: int, order: _Order = "big") -> int:
    return int.from_bytes(data[i:i + 4], order)


def _truncated(name: str, what: str) -> ImageError:
    return ImageError(f"{name}: corrupt or truncated image ({what})")


def _check_jpeg(data: _Buffer, name: str) -> None:
    n, i, scans, icc = len(data), 2, 0, 0
    kind = ""
    while i + 4 <= n:
        if data[i:i + 1] != b"\xff":  # extraneous bytes before a marker: libjpeg skips them, so do we
            i = data.find(b"\xff", i)
            if i < 0:
                return
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0xD9:  # EOI
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            i += 2
            continue
        length = _u16(data, i + 2)
        if length < 2:
            raise _truncated(name, f"JPEG: segment of length {length} at byte {i}")
        end = i + 2 + length
        if marker in _JPEG_SOF_REFUSED:
            raise ImageError(f"{name}: {_JPEG_SOF_REFUSED[marker]} JPEG (SOF{marker - 0xC0}) is not decoded; "
                             f"accepted: baseline, extended sequential and progressive Huffman-coded JPEG")
        if marker in _JPEG_SOF:
            kind = _JPEG_SOF[marker]
        elif marker == 0xE2 and data[i + 4:i + 16] == b"ICC_PROFILE\x00":
            icc += length - 16
            if icc > MAX_ICC_BYTES:
                raise ImageError(f"{name}: embedded colour profile over {MAX_ICC_BYTES} bytes; at most "
                                 f"{MAX_ICC_BYTES} accepted")
        elif marker == 0xDA:  # SOS: the header, then entropy-coded data up to the next marker
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise ImageError(f"{name}: {kind or 'a'} JPEG with over {MAX_JPEG_SCANS} scans; at most "
                                 f"{MAX_JPEG_SCANS} accepted (encoders write 1 to 12)")
            j = end
            while True:
                j = data.find(b"\xff", j)
                if j < 0 or j + 1 >= n:
                    return  # no EOI: the decoder reports a truncated file
                nxt = data[j + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:  # stuffed byte, restart, fill
                    j += 1 if nxt == 0xFF else 2
                    continue
                break
            end = j
        i = end


def _check_png(data: _Buffer, name: str) -> None:
    n, i = len(data), 8
    while i + 8 <= n:
        length, kind = _u32(data, i), data[i + 4:i + 8]
        if kind == b"IEND":
            return
        if kind == b"PLTE" and (length > 768 or length % 3):
            raise ImageError(f"{name}: PNG palette of {length} bytes; at most 256 RGB entries (768 bytes)")
        if kind == b"iCCP" and length > MAX_ICC_BYTES:
            raise ImageError(f"{name}: embedded colour profile over {MAX_ICC_BYTES} bytes; at most "
                             f"{MAX_ICC_BYTES} accepted")
        if kind == b"acTL" and _u32(data, i + 8) > MAX_FRAMES:
            raise ImageError(f"{name}: animated PNG with {_u32(data, i + 8)} frames; at most {MAX_FRAMES} "
                             f"accepted")
        i += 12 + length


def _check_gif(data: _Buffer, name: str) -> None:
    n = len(data)
    if n < 13:
        raise _truncated(name, "GIF header")
    flags = data[10]
    i, frames = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0), 0

    def skip_sub_blocks(j: int) -> int:
        while j < n:
            size = data[j]
            j += 1 + size
            if size == 0:
                break
        return j

    while i < n:
        block = data[i]
        if block == 0x3B:  # trailer
            return
        if block == 0x21:  # extension: label, sub-blocks
            i = skip_sub_blocks(i + 2)
        elif block == 0x2C:  # image: descriptor, local colour table, LZW code size, sub-blocks
            frames += 1
            if frames > MAX_FRAMES:
                raise ImageError(f"{name}: GIF with over {MAX_FRAMES} frames; at most {MAX_FRAMES} accepted")
            if i + 10 > n:
                return
            local = data[i + 9]
            i += 10 + (3 * (2 << (local & 7)) if local & 0x80 else 0)
            i = skip_sub_blocks(i + 1)
        else:
            return  # garbage after the frames: the decoder decides


def _check_webp(data: _Buffer, name: str) -> None:
    n, i, frames = len(data), 12, 0
    while i + 8 <= n:
        kind, length = data[i:i + 4], _u32(data, i + 4, "little")
        if kind == b"ANMF":
            frames += 1
            if frames > MAX_FRAMES:
                raise ImageError(f"{name}: animated WebP with over {MAX_FRAMES} frames; at most {MAX_FRAMES} "
                                 f"accepted")
        elif kind == b"ICCP" and length > MAX_ICC_BYTES:
            raise ImageError(f"{name}: embedded colour profile over {MAX_ICC_BYTES} bytes; at most "
                             f"{MAX_ICC_BYTES} accepted")
        i += 8 + length + (length & 1)


def _check_tiff(data: _Buffer, name: str) -> None:
    order: _Order = "little" if data[:2] == b"II" else "big"
    if _u16(data, 2, order) != 42:
        return  # BigTIFF or not TIFF: the decoder decides
    offset, pages, seen = _u32(data, 4, order), 0, set()
    while offset and offset + 2 <= len(data):
        if offset in seen:
            raise _truncated(name, "TIFF: the chain of pages loops")
        seen.add(offset)
        pages += 1
        if pages > MAX_FRAMES:
            raise ImageError(f"{name}: TIFF with over {MAX_FRAMES} pages; at most {MAX_FRAMES} accepted")
        entries = _u16(data, offset, order)
        for k in range(entries):
            e = offset + 2 + 12 * k
            if _u16(data, e, order) == 34675 and _u32(data, e + 4, order) > MAX_ICC_BYTES:  # ICC: bytes
                raise ImageError(f"{name}: embedded colour profile over {MAX_ICC_BYTES} bytes; at most "
                                 f"{MAX_ICC_BYTES} accepted")
        offset = _u32(data, offset + 2 + 12 * entries, order)


def check_structure(data: _Buffer, name: str = "the image") -> None:
    """Refuse, before any decoder runs, a file whose structure makes decoding cost more than its size and
    pixel count say: a JPEG with more than `MAX_JPEG_SCANS` scans or a lossless, hierarchical or
    arithmetic-coded one; an animation or multi-page file with more than `MAX_FRAMES` frames; a colour
    profile over `MAX_ICC_BYTES`; a PNG palette over 256 entries. Reads markers, chunks and block headers
    only (a 2 MB JPEG is walked in about a millisecond). Unknown formats pass (Pillow refuses them).

    Raises:
        ImageError: naming the limit.
    """
    head = data[:12]
    if head[:2] == b"\xff\xd8":
        _check_jpeg(data, name)
    elif head[:8] == b"\x89PNG\r\n\x1a\n":
        _check_png(data, name)
    elif head[:6] in (b"GIF87a", b"GIF89a"):
        _check_gif(data, name)
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        _check_webp(data, name)
    elif head[:4] in (b"II*\x00", b"MM\x00*"):
        _check_tiff(data, name)


def header_size(data: bytes) -> tuple[int, int] | None:
    """An encoded image's width and height from its header (nothing decoded), or None when Pillow cannot
    read one (`load_image` then says why)."""
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as im:
            w, h = im.size
            return int(w), int(h)
    except Exception:  # noqa: BLE001 - any unreadable header: load_image reports it
        return None


def load_image(source: ImageInput, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return the image as an ``H x W x 3`` RGB uint8 array.

    Args:
        source: a file path, encoded bytes (JPEG, PNG, ...), a PIL image, or a uint8 numpy array
            (``HxW`` grayscale, ``HxWx3`` RGB or ``HxWx4`` RGBA; alpha is dropped).
        max_pixels: refuse images with more pixels than this (checked before decoding).

    Encoded input (bytes, files) passes `check_structure` first: its scan, frame and profile limits bound
    the cost of decoding as `max_pixels` bounds its memory.

    Raises:
        ImageError: empty, corrupt, truncated or non-image input, unsupported type, too many pixels, or a
            structure over a limit of `check_structure`.
    """
    name = describe(source)
    if isinstance(source, np.ndarray):
        return _from_array(source, name, max_pixels)
    if isinstance(source, Image.Image):
        return _from_pil(source, name, max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError(f"{name}: no bytes (empty input)")
        data = bytes(source)
        check_structure(data, name)
        stream: io.BytesIO | Path = io.BytesIO(data)
    elif isinstance(source, (str, os.PathLike)):
        stream = Path(source)
        if not stream.is_file():
            raise ImageError(f"{name}: no such file")
        if stream.stat().st_size == 0:
            raise ImageError(f"{name}: file is empty")
        with open(stream, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            check_structure(mapped, name)
    else:
        raise ImageError(
            f"{name}: expected a path, bytes, a PIL image or a uint8 numpy array, got {type(source).__name__}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream, formats=IMAGE_FORMATS) as im:
                w, h = im.size  # known from the header: refuse huge images before decoding them
                if w * h > max_pixels:
                    raise ImageError(f"{name}: image is {w}x{h} = {w * h} pixels, over the limit of {max_pixels}")
                im.load()
                return _from_pil(im, name, max_pixels)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name}: image too large ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{name}: not an image file that can be decoded (accepted: JPEG, PNG, WebP, GIF, BMP, "
                         f"TIFF)") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"{name}: corrupt or truncated image ({exc})") from exc
