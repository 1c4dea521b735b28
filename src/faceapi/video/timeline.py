"""Expression timelines of video tracks: per track a CSV of the smoothed probabilities over time and a PNG
chart (one line per expression, time on the x axis), drawn with Pillow.

Files: ``<DIR>/<video stem>.track<ID>.csv`` with columns ``frame,time,<7 labels>,dominant`` and
``<DIR>/<video stem>.track<ID>.png``. Both are written atomically (`faceapi.fileio`), so a file that
exists is complete. Lines take the page's expression colours (`faceapi.draw.EXPRESSION_COLORS`).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from PIL import Image, ImageDraw

from faceapi.draw import EXPRESSION_COLORS, label_font
from faceapi.fileio import atomic_open
from faceapi.results import EXPRESSION_LABELS

CSV_HEADER = ["frame", "time", *EXPRESSION_LABELS, "dominant"]


@dataclass
class TrackTimeline:
    track: int
    frames: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    values: list[tuple[float, ...]] = field(default_factory=list)

    def add(self, frame: int, time: float, smoothed: Iterable[float]) -> None:
        self.frames.append(frame)
        self.times.append(time)
        self.values.append(tuple(float(v) for v in smoothed))


class Timeline:
    """Smoothed expressions of every track of one video, gathered frame by frame."""

    def __init__(self, source: str | os.PathLike[str]):
        self.source = str(source)
        self.tracks: dict[int, TrackTimeline] = {}

    def add(self, track: int, frame: int, time: float, smoothed: Iterable[float]) -> None:
        self.tracks.setdefault(track, TrackTimeline(track)).add(frame, time, smoothed)

    def write(self, folder: str | os.PathLike[str], stem: str | None = None) -> list[Path]:
        """Write a CSV and a PNG per track into `folder`; returns the paths written."""
        folder = Path(folder)
        stem = stem or Path(self.source).stem
        written = []
        for tid in sorted(self.tracks):
            tl = self.tracks[tid]
            csv_path = folder / f"{stem}.track{tid}.csv"
            with atomic_open(csv_path, text=True) as f:
                write_csv(f, tl)
            png_path = folder / f"{stem}.track{tid}.png"
            image = chart(tl, title=f"{Path(self.source).name} - track {tid}")
            with atomic_open(png_path) as fb:
                image.save(fb, format="PNG")
            written += [csv_path, png_path]
        return written


def write_csv(f: IO[str], tl: TrackTimeline) -> None:
    w = csv.writer(f)
    w.writerow(CSV_HEADER)
    for frame, time, vals in zip(tl.frames, tl.times, tl.values):
        dominant = EXPRESSION_LABELS[max(range(len(vals)), key=vals.__getitem__)]
        w.writerow([frame, f"{time:.4f}", *(f"{v:.6f}" for v in vals), dominant])


def _nice_step(span: float, target: int = 8) -> float:
    """A 1/2/5 x 10^k tick step giving about `target` ticks over `span`."""
    if span <= 0:
        return 1.0
    raw = span / target
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def chart(tl: TrackTimeline, title: str = "", size: tuple[int, int] = (900, 360)) -> Image.Image:
    """A line chart of the smoothed probabilities (0..1) of one track against time in seconds."""
    w, h = size
    left, right, top, bottom = 56, 130, 30, 42
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    font, small = label_font(14), label_font(11)
    pw, ph = w - left - right, h - top - bottom
    t0 = tl.times[0] if tl.times else 0.0
    t1 = tl.times[-1] if tl.times else 1.0
    if t1 <= t0:
        t1 = t0 + 1.0

    def px(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * pw

    def py(v: float) -> float:
        return top + (1.0 - v) * ph

    # grid and axes
    for i in range(0, 11, 2):
        v = i / 10
        d.line([(left, py(v)), (left + pw, py(v))], fill=(225, 225, 225))
        d.text((left - 8, py(v)), f"{v:.1f}", font=small, fill=(60, 60, 60), anchor="rm")
    step = _nice_step(t1 - t0)
    t = math.ceil(t0 / step) * step
    while t <= t1 + 1e-9:
        d.line([(px(t), top), (px(t), top + ph)], fill=(235, 235, 235))
        d.text((px(t), top + ph + 6), f"{t:g}", font=small, fill=(60, 60, 60), anchor="mt")
        t += step
    d.rectangle([left, top, left + pw, top + ph], outline=(0, 0, 0))
    d.text((left + pw / 2, h - 6), "time (s)", font=small, fill=(0, 0, 0), anchor="mb")
    d.text((left, 8), title, font=font, fill=(0, 0, 0))
    # one line per expression
    for k, label in enumerate(EXPRESSION_LABELS):
        pts = [(px(t), py(vals[k])) for t, vals in zip(tl.times, tl.values)]
        if len(pts) == 1:
            x, y = pts[0]
            d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=EXPRESSION_COLORS[label])
        elif pts:
            d.line(pts, fill=EXPRESSION_COLORS[label], width=2)
    # legend
    for k, label in enumerate(EXPRESSION_LABELS):
        y = top + 8 + k * 20
        d.line([(left + pw + 12, y), (left + pw + 36, y)], fill=EXPRESSION_COLORS[label], width=3)
        d.text((left + pw + 42, y), label, font=small, fill=(0, 0, 0), anchor="lm")
    return img
