"""A one-line progress bar on stderr for `faceapi analyze`: inputs done, rate and ETA, plus the current
video's frames. Silent when stderr is not a terminal (unless asked)."""

from __future__ import annotations

import sys
import time
from typing import IO


def _hms(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """A one-line progress bar on a terminal: inputs done, rate and ETA, plus the current video's frames.

    Does nothing when `enabled` is False (by default: when the stream is not a terminal).
    """

    def __init__(self, total: int, stream: IO[str] | None = None, enabled: bool | None = None,
                 min_interval: float = 0.1):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = total
        self.done = 0
        self.start = time.perf_counter()
        self.min_interval = min_interval
        self._last = 0.0
        self._video: tuple[str, int, int, float] | None = None  # name, frames done, frames total, start
        self._width = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._video = None
        self.draw(force=self.done >= self.total)

    def video_frame(self, name: str, done: int, total: int) -> None:
        start = self._video[3] if self._video and self._video[0] == name else time.perf_counter()
        self._video = (name, done, total, start)
        self.draw()

    def text(self) -> str:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        frac = self.done / self.total if self.total else 1.0
        filled = int(frac * 20)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else None
        parts = [f"[{'#' * filled}{'.' * (20 - filled)}] {self.done}/{self.total} inputs",
                 f"{rate:.1f}/s", f"ETA {_hms(eta) if eta is not None else '?'}"]
        if self._video:
            name, done, total, start = self._video
            fps = done / max(time.perf_counter() - start, 1e-9)
            left = f" ETA {_hms((total - done) / fps)}" if total >= done and fps > 0 else ""
            parts.append(f"{name}: frame {done}/{total or '?'} {fps:.1f} fps{left}")
        return "  ".join(parts)

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        line = self.text()
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()

__all__ = ["ProgressBar"]
