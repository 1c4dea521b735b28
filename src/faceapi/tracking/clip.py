"""A synthetic webcam clip and the measures tracking is judged by (the tests and benchmarks/bench_stream.py).

`noisy_clip` puts a photo on a 640x480 frame, still for a while and then panning sideways, each frame with
webcam-like noise (Gaussian, sigma 6 per channel) and JPEG compression (quality 80), as a browser sends it.
`jitter` and `lag` measure landmark tracks on it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from faceapi.image import ImageInput, load_image


@dataclass(frozen=True)
class Clip:
    """JPEG frames and where the photo sits in each (x offset in px; it moves by `step` px per panning frame)."""

    frames: tuple[bytes, ...]
    offsets: tuple[int, ...]
    still: int  # the first `still` frames do not move
    step: int

    @property
    def panning(self) -> range:
        """Indices of the frames after the first move."""
        return range(self.still + 1, len(self.frames))


def noisy_clip(photo: ImageInput, *, width: int = 400, still: int = 30, pan: int = 60, step: int = 3,
               size: tuple[int, int] = (640, 480), sigma: float = 6.0, quality: int = 80, seed: int = 0) -> Clip:
    """`still` frames of `photo` (scaled to `width` px, vertically centred, on a dark background), then
    `pan` frames moving it right by `step` px each; Gaussian noise (`sigma`) and JPEG (`quality`) per frame."""
    rgb = load_image(photo)
    im = Image.fromarray(rgb)
    im = im.resize((width, round(im.height * width / im.width)), Image.Resampling.BICUBIC)
    fw, fh = size
    if width + pan * step > fw or im.height > fh:
        raise ValueError(f"a {im.width}x{im.height} photo panning {pan * step} px does not fit in {fw}x{fh}")
    rng = np.random.default_rng(seed)
    frames: list[bytes] = []
    offsets = [0] * still + [step * (k + 1) for k in range(pan)]
    y = (fh - im.height) // 2
    for x in offsets:
        canvas = Image.new("RGB", size, (24, 28, 34))
        canvas.paste(im, (x, y))
        noisy = np.asarray(canvas, np.float32) + rng.normal(0.0, sigma, (fh, fw, 3)).astype(np.float32)
        buf = io.BytesIO()
        Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=quality)
        frames.append(buf.getvalue())
    return Clip(tuple(frames), tuple(offsets), still, step)


def jitter(landmarks: Sequence[np.ndarray]) -> float:
    """Mean distance (px) a landmark moves between consecutive frames: ``(68, 2)`` arrays of one still face."""
    pts = np.stack([np.asarray(p, np.float64) for p in landmarks])
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=2).mean())


def lag(smoothed: Sequence[np.ndarray], raw: Sequence[np.ndarray], direction: tuple[float, float] = (1.0, 0.0)
        ) -> float:
    """Mean distance (px) the smoothed landmarks trail the raw ones along the motion's `direction`
    (positive: behind), over frames of a moving face."""
    d = np.asarray(direction, np.float64)
    d = d / np.linalg.norm(d)
    diff = np.stack([np.asarray(r, np.float64) for r in raw]) - np.stack([np.asarray(s, np.float64) for s in smoothed])
    return float((diff @ d).mean())
