"""The one converter from whatever a user passes (path, bytes, PIL image, numpy array) to RGB uint8.

Browsers apply EXIF orientation and convert embedded colour profiles to sRGB before face-api.js sees the
pixels; we do the same, so results match what a web page shows.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from faceapi.errors import ImageError

ImageInput = str | os.PathLike[str] | bytes | bytearray | memoryview | Image.Image | np.ndarray

#: Default limit on width x height; larger inputs are refused before they are decoded.
DEFAULT_MAX_PIXELS = 40_000_000

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


def load_image(source: ImageInput, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return the image as an ``H x W x 3`` RGB uint8 array.

    Args:
        source: a file path, encoded bytes (JPEG, PNG, ...), a PIL image, or a uint8 numpy array
            (``HxW`` grayscale, ``HxWx3`` RGB or ``HxWx4`` RGBA; alpha is dropped).
        max_pixels: refuse images with more pixels than this (checked before decoding).

    Raises:
        ImageError: empty, corrupt, truncated or non-image input, unsupported type, or too many pixels.
    """
    name = describe(source)
    if isinstance(source, np.ndarray):
        return _from_array(source, name, max_pixels)
    if isinstance(source, Image.Image):
        return _from_pil(source, name, max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError(f"{name}: no bytes (empty input)")
        stream: io.BytesIO | Path = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        stream = Path(source)
        if not stream.is_file():
            raise ImageError(f"{name}: no such file")
        if stream.stat().st_size == 0:
            raise ImageError(f"{name}: file is empty")
    else:
        raise ImageError(
            f"{name}: expected a path, bytes, a PIL image or a uint8 numpy array, got {type(source).__name__}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as im:
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
        raise ImageError(f"{name}: not an image file that can be decoded") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"{name}: corrupt or truncated image ({exc})") from exc
