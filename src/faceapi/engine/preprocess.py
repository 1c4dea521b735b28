"""Net input preprocessing exactly as face-api.js does it for tensor inputs (spec section 3.2).

``padToSquare`` with zeros (detectors: bottom/right; face nets: centred, odd pixel at the end), then
tfjs ``resizeBilinear`` (align_corners=False, no half-pixel centres, no anti-aliasing), evaluated in
float64 and stored as float32. The result is bit-identical to face-api.js's own input tensors.
"""

from __future__ import annotations

import math

import numpy as np


def js_round(x: float) -> int:
    """JavaScript ``Math.round``: halves round up (Python's round() rounds them to even)."""
    return math.floor(x + 0.5)


def reshaped_dims(width: int, height: int, size: int) -> tuple[int, int]:
    """``computeReshapedDimensions``: the size the image occupies inside the ``size x size`` input."""
    scale = size / max(width, height)
    return js_round(width * scale), js_round(height * scale)


def pad_to_square(image: np.ndarray, centred: bool) -> np.ndarray:
    """Zero-pad an ``H x W x C`` image to a square of side ``max(H, W)``."""
    h, w = image.shape[:2]
    if h == w:
        return image
    diff = abs(h - w)
    after = js_round(diff * 0.5) if centred else diff
    before = diff - after
    side = max(h, w)
    out = np.zeros((side, side) + image.shape[2:], dtype=image.dtype)
    if h > w:
        out[:, before : before + w] = image
    else:
        out[before : before + h] = image
    return out


#: float64 values per block of output rows in `_resample` (keeps the temporaries in cache; 16 rows at 416)
_BLOCK_VALUES = 20_000


def _axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src = np.arange(out_size, dtype=np.float64) * (in_size / out_size)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(in_size - 1, np.ceil(src).astype(np.intp))
    return lo, hi, src - lo


def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """tfjs ``resizeBilinear(image, [size, size])`` of an ``H x W x C`` (or ``H x W``) image, as float32.

    Per output pixel, in float64: ``top = tl + (tr - tl) * fx``, ``bottom = bl + (br - bl) * fx``,
    ``value = top + (bottom - top) * fy``, stored as float32 (bit-identical to tfjs).
    """
    h, w = image.shape[:2]
    return _resample(image, (h, w), (0, 0), size)


def _source_axis(length: int, side: int, offset: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (into the unpadded image) and fractions along one axis of the padded square.
    Indices that fall into the zero padding point at `length`, an extra zero row/column."""
    lo, hi, frac = _axis(side, size)
    lo, hi = lo - offset, hi - offset
    lo = np.where((lo >= 0) & (lo < length), lo, length)
    hi = np.where((hi >= 0) & (hi < length), hi, length)
    return lo, hi, frac


def _active(lo: np.ndarray, hi: np.ndarray, length: int) -> tuple[int, int]:
    """The contiguous range of outputs that read at least one image pixel (the rest are padding: 0)."""
    used = np.flatnonzero((lo < length) | (hi < length))
    return (int(used[0]), int(used[-1]) + 1) if used.size else (0, 0)


def _resample(image: np.ndarray, square: tuple[int, int], offset: tuple[int, int], size: int,
              out: np.ndarray | None = None) -> np.ndarray:
    """Resize the image as if zero-padded into a ``side x side`` square at ``offset`` (rows, cols),
    without building the square: padding reads an extra zero row/column, and outputs that read only
    padding are left 0. Works in blocks of output rows, with channels flattened into the row and the
    horizontal pass done once per source row a block needs (little memory traffic, same arithmetic)."""
    h, w = image.shape[:2]
    c = image.shape[2] if image.ndim == 3 else 1
    side_h, side_w = square
    if out is None:
        out = np.zeros((size, size) + image.shape[2:], np.float32)
    if side_h == size and side_w == size and offset == (0, 0) and (h, w) == (size, size):
        out[...] = image
        return out
    y0, y1, fy = _source_axis(h, side_h, offset[0], size)
    x0, x1, fx = _source_axis(w, side_w, offset[1], size)
    ra, rb = _active(y0, y1, h)
    ca, cb = _active(x0, x1, w)
    if ra == rb or ca == cb:
        return out
    flat = np.zeros((h + 1, (w + 1) * c), image.dtype)  # one zero row and column for the padding
    flat[:h, : w * c] = np.ascontiguousarray(image).reshape(h, w * c)
    channels = np.arange(c)
    cols0 = (x0[ca:cb, None] * c + channels).ravel()  # column x of channel k is flat column x * c + k
    cols1 = (x1[ca:cb, None] * c + channels).ravel()
    fxc = np.repeat(fx[ca:cb], c)
    target = out.reshape(size, size * c)[:, ca * c : cb * c]
    block_rows = max(8, _BLOCK_VALUES // cols0.size)  # small outputs (112, 150) in one or two blocks
    for r0 in range(ra, rb, block_rows):
        r1 = min(rb, r0 + block_rows)
        n = r1 - r0
        needed = np.concatenate([y0[r0:r1], y1[r0:r1]])
        lo, hi = int(needed.min()), int(needed.max())
        if hi - lo < 2 * n:  # the usual case: the block reads a contiguous run of source rows
            src, where = flat[lo : hi + 1], needed - lo
        else:  # padding rows (index h) far from the image rows, or a strong downscale
            rows, where = np.unique(needed, return_inverse=True)
            src = flat[rows]
        left = np.take(src, cols0, axis=1).astype(np.float64)
        horiz = np.take(src, cols1, axis=1).astype(np.float64)
        horiz -= left  # tr - tl
        horiz *= fxc  # (tr - tl) * fx
        horiz += left  # tl + (tr - tl) * fx
        top = horiz[where[:n]]
        value = horiz[where[n:]]
        value -= top  # bottom - top
        value *= fy[r0:r1, None]
        value += top
        target[r0:r1] = value
    return out


def to_net_input(image: np.ndarray, size: int, centred: bool, out: np.ndarray | None = None) -> np.ndarray:
    """Pad to square then resize: one ``size x size x 3`` float32 net input from an RGB image.

    Equal, bit for bit, to ``resize_bilinear(pad_to_square(image, centred), size)``, without building
    the padded square or computing the rows and columns that only see padding. `out`, if given, is a
    zeroed ``size x size x 3`` float32 array to write into (e.g. a slot of a batch).
    """
    h, w = image.shape[:2]
    side = max(h, w)
    diff = side - min(h, w)
    before = diff - js_round(diff * 0.5) if centred else 0
    offset = (before, 0) if w > h else (0, before)
    return _resample(image, (side, side), offset, size, out)


def batch_net_input(images: list[np.ndarray], size: int, centred: bool) -> np.ndarray:
    """Several images (each padded and resized on its own, as face-api.js does) as one batch."""
    batch = np.zeros((len(images), size, size, 3), np.float32)
    for im, slot in zip(images, batch):
        to_net_input(im, size, centred, out=slot)
    return batch
