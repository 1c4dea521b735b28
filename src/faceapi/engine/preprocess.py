"""Net input preprocessing exactly as face-api.js does it for tensor inputs (spec section 3.2).

``padToSquare`` with zeros (detectors: bottom/right; face nets: centred, odd pixel at the end), then
tfjs ``resizeBilinear`` (align_corners=False, no half-pixel centres, no anti-aliasing), evaluated in
float64 and stored as float32. The result is bit-identical to face-api.js's own input tensors.

The per-pixel loop is compiled with numba (`_bilinear`): in numpy the same float64 arithmetic took about
ten passes over memory and a third of a tiny-416 ``detect`` call; compiled it is one pass, 2x faster for
the detectors' inputs and the face crops alike (docs/speed.md). numba is imported and the loop compiled
on the first resize, not on ``import faceapi``; the machine code is cached (in ``__pycache__`` beside this
file, or numba's user cache), so only a machine's first process pays the compilation (about a second).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import cast

import numpy as np


def js_round(x: float) -> int:
    """JavaScript ``Math.round``: halves round up (Python's round() rounds them to even)."""
    return math.floor(x + 0.5)


def reshaped_dims(width: int, height: int, size: int) -> tuple[int, int]:
    """``computeReshapedDimensions``: the size the image occupies inside the ``size x size`` input, at least
    one pixel each way (face-api.js rounds a very thin image's short side to 0 and then divides by it: a
    2000x1 image gave a ZeroDivisionError in both detectors; nothing else changes)."""
    scale = size / max(width, height)
    return max(1, js_round(width * scale)), max(1, js_round(height * scale))


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
def _columns(length: int, side: int, offset: int, size: int, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the active output columns of `_plan`: flat source column indices of the left and right
    neighbours (column x of channel k is flat column ``x * c + k``; the padding is flat column
    ``length * c + k``, past the row) and their fractions per channel."""
    x0, x1, fx, ca, cb = _plan(length, side, offset, size)
    channels = np.arange(c)
    cols0 = (x0[ca:cb, None] * c + channels).ravel()
    cols1 = (x1[ca:cb, None] * c + channels).ravel()
    fxc = np.repeat(fx[ca:cb], c)
    for a in (cols0, cols1, fxc):
        a.flags.writeable = False
    return cols0, cols1, fxc


def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """tfjs ``resizeBilinear(image, [size, size])`` of an ``H x W x C`` (or ``H x W``) image, as float32.

    Per output pixel, in float64: ``top = tl + (tr - tl) * fx``, ``bottom = bl + (br - bl) * fx``,
    ``value = top + (bottom - top) * fy``, stored as float32 (bit-identical to tfjs).
    """
    h, w = image.shape[:2]
    return _resample(image, (h, w), (0, 0), size)


def _bilinear(flat: np.ndarray, y0: np.ndarray, y1: np.ndarray, fy: np.ndarray, rows: tuple[int, int],
              cols0: np.ndarray, cols1: np.ndarray, fx: np.ndarray, target: np.ndarray) -> None:
    """The tfjs formula for output rows ``rows[0]:rows[1]`` and the flat columns of `cols0`, into `target`.

    `flat` is the image as ``H x (W * C)``; a row index ``H`` reads a zero row and a column index past
    the row a zero (the padding). In float64, in this order, with no fused multiply-add
    (``fastmath=False``): ``top = (tr - tl) * fx + tl``, the same for ``bottom``, then
    ``(bottom - top) * fy + top``, stored as float32: every operation rounds as numpy's and JavaScript's do.
    """
    height, width = flat.shape
    zeros = np.zeros(width, flat.dtype)
    for r in range(rows[0], rows[1]):
        upper = flat[y0[r]] if y0[r] < height else zeros
        lower = flat[y1[r]] if y1[r] < height else zeros
        f = fy[r]
        out = target[r]
        for k in range(cols0.size):
            c0, c1, g = cols0[k], cols1[k], fx[k]
            if c0 < width and c1 < width:  # all but the columns at a padded edge
                tl, tr = np.float64(upper[c0]), np.float64(upper[c1])  # float() keeps a float32 a float32
                bl, br = np.float64(lower[c0]), np.float64(lower[c1])
            else:
                tl = np.float64(upper[c0]) if c0 < width else 0.0
                tr = np.float64(upper[c1]) if c1 < width else 0.0
                bl = np.float64(lower[c0]) if c0 < width else 0.0
                br = np.float64(lower[c1]) if c1 < width else 0.0
            top = (tr - tl) * g + tl
            bottom = (br - bl) * g + bl
            out[k] = (bottom - top) * f + top


@functools.cache
def _compiled_bilinear() -> Callable[..., None]:
    """`_bilinear` compiled (once per process; from numba's cache after a machine's first process). No
    GIL held while it runs, so threads resize in parallel."""
    import numba

    return cast(Callable[..., None], numba.njit(cache=True, nogil=True, fastmath=False)(_bilinear))


def compile_resize() -> None:
    """Compile the resize for RGB images now (or load it from numba's cache) instead of on the first frame:
    `FaceAnalyzer.load` calls it, so loading the models is also what makes the first frame fast."""
    to_net_input(np.zeros((2, 3, 3), np.uint8), 4, centred=True)


def _resample(image: np.ndarray, square: tuple[int, int], offset: tuple[int, int], size: int,
              out: np.ndarray | None = None) -> np.ndarray:
    """Resize the image as if zero-padded into a ``side x side`` square at ``offset`` (rows, cols),
    without building or copying anything (`_bilinear` reads zeros for the padding), leaving the outputs
    that read only padding 0. Channels are flattened into the row, so `_bilinear` sees one ``H x (W * C)``
    plane."""
    h, w = image.shape[:2]
    c = image.shape[2] if image.ndim == 3 else 1
    side_h, side_w = square
    if out is None:
        out = np.zeros((size, size) + image.shape[2:], np.float32)
    if side_h == size and side_w == size and offset == (0, 0) and (h, w) == (size, size):
        out[...] = image
        return out
    y0, y1, fy, ra, rb = _plan(h, side_h, offset[0], size)
    ca, cb = _plan(w, side_w, offset[1], size)[3:]
    if ra == rb or ca == cb:
        return out
    cols0, cols1, fxc = _columns(w, side_w, offset[1], size, c)
    flat = np.ascontiguousarray(image).reshape(h, w * c)
    target = out.reshape(size, size * c)[:, ca * c : cb * c]
    _compiled_bilinear()(flat, y0, y1, fy, (ra, rb), cols0, cols1, fxc, target)
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
