"""Net input preprocessing exactly as face-api.js does it for tensor inputs (spec section 3.2).

``padToSquare`` with zeros (detectors: bottom/right; face nets: centred, odd pixel at the end), then
tfjs ``resizeBilinear`` (align_corners=False, no half-pixel centres, no anti-aliasing), evaluated in
float64 and stored as float32. The result is bit-identical to face-api.js's own input tensors.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

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


#: float64 values per block of output rows in `_resample` (keeps the temporaries in cache; 32 rows at 416)
_BLOCK_VALUES = 40_000


@functools.lru_cache(maxsize=256)
def _plan(length: int, side: int, offset: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Source indices (into the unpadded image) and fractions along one axis of the padded square, and the
    contiguous range of outputs that read at least one image pixel (the rest are padding: 0). Indices that
    fall into the zero padding point at `length`, an extra zero row/column. Cached: a video's frames and
    a batch's crops ask for the same axes again and again; the arrays are read-only."""
    src = np.arange(size, dtype=np.float64) * (side / size)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(side - 1, np.ceil(src).astype(np.intp))
    frac = src - lo
    lo, hi = lo - offset, hi - offset
    lo = np.where((lo >= 0) & (lo < length), lo, length)
    hi = np.where((hi >= 0) & (hi < length), hi, length)
    used = np.flatnonzero((lo < length) | (hi < length))
    first, last = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 0)
    for a in (lo, hi, frac):
        a.flags.writeable = False
    return lo, hi, frac, first, last


@functools.lru_cache(maxsize=256)
def _columns(length: int, side: int, offset: int, size: int, c: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """For the active output columns of `_plan`: flat source column indices of the left and right
    neighbours (column x of channel k is flat column ``x * c + k``), their fractions per channel, and
    whether any of them reads the padding (flat column ``length * c + k``)."""
    x0, x1, fx, ca, cb = _plan(length, side, offset, size)
    channels = np.arange(c)
    cols0 = (x0[ca:cb, None] * c + channels).ravel()
    cols1 = (x1[ca:cb, None] * c + channels).ravel()
    fxc = np.repeat(fx[ca:cb], c)
    for a in (cols0, cols1, fxc):
        a.flags.writeable = False
    return cols0, cols1, fxc, bool(max(x0[ca:cb].max(), x1[ca:cb].max()) >= length)


def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """tfjs ``resizeBilinear(image, [size, size])`` of an ``H x W x C`` (or ``H x W``) image, as float32.

    Per output pixel, in float64: ``top = tl + (tr - tl) * fx``, ``bottom = bl + (br - bl) * fx``,
    ``value = top + (bottom - top) * fy``, stored as float32 (bit-identical to tfjs).
    """
    h, w = image.shape[:2]
    return _resample(image, (h, w), (0, 0), size)


@functools.lru_cache(maxsize=256)
def _row_blocks(length: int, side: int, offset: int, size: int, block_rows: int
                ) -> tuple[tuple[int, int, slice | np.ndarray, int, np.ndarray], ...]:
    """The blocks of active output rows: ``(r0, r1, rows, count, where)``: the block's outputs ``r0:r1``
    read the `count` source rows `rows` (a slice: a contiguous run; an index array in a downscale by 2 or more,
    where a run would hold many rows no output reads), and ``where`` gives, for the top then the bottom
    neighbour of each output row, its index among them; index `count` is the zero row of the padding."""
    y0, y1, _fy, ra, rb = _plan(length, side, offset, size)
    blocks: list[tuple[int, int, slice | np.ndarray, int, np.ndarray]] = []
    for r0 in range(ra, rb, block_rows):
        r1 = min(rb, r0 + block_rows)
        needed = np.concatenate([y0[r0:r1], y1[r0:r1]])
        used = np.unique(needed[needed < length])
        first, last = int(used[0]), int(used[-1]) + 1
        rows: slice | np.ndarray
        if last - first == used.size:  # the usual case: a contiguous run of source rows
            rows, count = slice(first, last), last - first
            where = np.where(needed < length, needed - first, count)
        else:
            rows, count = used, used.size
            where = np.where(needed < length, np.searchsorted(used, needed), count)
            used.flags.writeable = False
        where.flags.writeable = False
        blocks.append((r0, r1, rows, count, where))
    return tuple(blocks)


_scratch_space = threading.local()


def _scratch(name: str, shape: tuple[int, int], dtype: np.dtype[Any] | type[np.generic]) -> np.ndarray:
    """A per-thread work array, reused between calls: allocating the temporaries anew on every call
    costs more than the arithmetic (the allocator hands large blocks back to the system and takes
    them again, page by page)."""
    buffers: dict[tuple[str, np.dtype[Any]], np.ndarray] = _scratch_space.__dict__.setdefault("buffers", {})
    key = (name, np.dtype(dtype))
    count = shape[0] * shape[1]
    buffer = buffers.get(key)
    if buffer is None or buffer.size < count:
        buffer = buffers[key] = np.empty(count, key[1])
    return buffer[:count].reshape(shape)


def _resample(image: np.ndarray, square: tuple[int, int], offset: tuple[int, int], size: int,
              out: np.ndarray | None = None) -> np.ndarray:
    """Resize the image as if zero-padded into a ``side x side`` square at ``offset`` (rows, cols),
    without building the square: padding reads an extra zero row/column, and outputs that read only
    padding are left 0. Works in blocks of output rows, with channels flattened into the row and the
    horizontal pass done once per source row a block needs (little memory traffic, same arithmetic).

    The horizontal pass takes ``tr - tl`` exactly in int16 and multiplies it by ``fx`` straight into
    float64, then adds ``tl``: the same float64 operations as ``tl + (tr - tl) * fx`` on float64 pixels
    (every uint8 and every difference of two is exact in float64), in fewer passes over memory."""
    h, w = image.shape[:2]
    c = image.shape[2] if image.ndim == 3 else 1
    side_h, side_w = square
    if out is None:
        out = np.zeros((size, size) + image.shape[2:], np.float32)
    if side_h == size and side_w == size and offset == (0, 0) and (h, w) == (size, size):
        out[...] = image
        return out
    fy, ra, rb = _plan(h, side_h, offset[0], size)[2:]
    ca, cb = _plan(w, side_w, offset[1], size)[3:]
    if ra == rb or ca == cb:
        return out
    cols0, cols1, fxc, reads_padding = _columns(w, side_w, offset[1], size, c)
    flat = np.ascontiguousarray(image).reshape(h, w * c)
    if reads_padding:  # one zero column for the padding (otherwise the image itself will do)
        flat = np.concatenate([flat, np.zeros((h, c), image.dtype)], axis=1)
    exact_ints = image.dtype == np.uint8
    m = cols0.size
    target = out.reshape(size, size * c)[:, ca * c : cb * c]
    for r0, r1, rows, count, where in _row_blocks(h, side_h, offset[0], size, max(8, _BLOCK_VALUES // m)):
        n = r1 - r0
        src = flat[rows]
        left = np.take(src, cols0, axis=1, out=_scratch("left", (count, m), src.dtype), mode="clip")
        right = np.take(src, cols1, axis=1, out=_scratch("right", (count, m), src.dtype), mode="clip")
        horiz = _scratch("horiz", (count + 1, m), np.float64)  # a last zero row for the bottom padding
        if exact_ints:
            diff = np.subtract(right, left, out=_scratch("diff", (count, m), np.int16), dtype=np.int16)  # tr - tl
        else:
            diff = np.subtract(right, left, out=_scratch("diff", (count, m), np.float64), dtype=np.float64)
        np.multiply(diff, fxc, out=horiz[:-1])  # (tr - tl) * fx
        horiz[:-1] += left  # tl + (tr - tl) * fx
        horiz[-1] = 0.0
        top = np.take(horiz, where[:n], axis=0, out=_scratch("top", (n, m), np.float64), mode="clip")
        value = np.take(horiz, where[n:], axis=0, out=_scratch("value", (n, m), np.float64), mode="clip")
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
