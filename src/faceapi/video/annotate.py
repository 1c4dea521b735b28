"""Annotated videos: each frame drawn with the faces of the latest analysed frame and their track ids,
encoded with PyAV (H.264 in .mp4/.mkv/.mov/.m4v, else the container's default codec)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from faceapi.draw import draw_faces, scaled_font
from faceapi.errors import VideoError
from faceapi.fileio import PUBLIC, atomic_path
from faceapi.tracking import TrackedFace
from faceapi.video.decode import av_message, load_av

TRACK_COLOR = (255, 140, 0)


def draw_tracked(rgb: np.ndarray, tracked: Sequence[TrackedFace]) -> Image.Image:
    """The frame with face-api.js's drawing of each face plus a ``#id`` tag at the box's top-right."""
    image = draw_faces(Image.fromarray(rgb), [t.face for t in tracked])
    if not tracked:
        return image
    d = ImageDraw.Draw(image)
    font = scaled_font(image.size)
    for t in tracked:
        b = t.face.detection.box
        text = f"#{t.track}"
        x0, y0, x1, y1 = d.textbbox((0, 0), text, font=font)
        tw, th = x1 - x0 + 8, y1 - y0 + 8
        x = min(max(b.right - tw, 0), image.width - tw)
        y = min(max(b.y - th, 0), image.height - th)
        d.rectangle([x, y, x + tw, y + th], fill=TRACK_COLOR)
        d.text((x + 4 - x0, y + 4 - y0), text, font=font, fill=(0, 0, 0))
    return image


class VideoWriter:
    """Writes RGB frames to a video file; a context manager.

    The file is written under a temporary name and renamed when the writer closes, also when the block
    is left by an exception (Ctrl-C included): the encoder is flushed first, so the video is valid and
    holds every frame written. A killed process leaves only the temporary ``.part`` file.
    """

    def __init__(self, path: str | os.PathLike[str], fps: Fraction, width: int, height: int):
        self.path = Path(path)
        self.fps = fps
        self.width, self.height = width - width % 2, height - height % 2  # yuv420p needs even sizes
        self.frames = 0
        self._stack = contextlib.ExitStack()
        self._container: Any = None
        self._stream: Any = None

    def __enter__(self) -> VideoWriter:
        av = load_av()
        tmp = self._stack.enter_context(atomic_path(self.path, PUBLIC))
        try:
            self._container = av.open(str(tmp), "w")
            codec = "libx264" if self.path.suffix.lower() in (".mp4", ".mkv", ".mov", ".m4v") else "mpeg4"
            try:
                self._stream = self._container.add_stream(codec, rate=self.fps)
            except (av.FFmpegError, ValueError):
                self._stream = self._container.add_stream("mpeg4", rate=self.fps)
            self._stream.width, self._stream.height = self.width, self.height
            self._stream.pix_fmt = "yuv420p"
            if self._stream.codec_context.name == "libx264":
                self._stream.options = {"preset": "veryfast", "crf": "23"}
        except (av.FFmpegError, OSError, ValueError) as exc:
            if self._container is not None:
                self._container.close()
            self._stack.__exit__(type(exc), exc, exc.__traceback__)
            raise VideoError(f"{self.path}: cannot write video ({av_message(exc)})") from exc
        return self

    def write(self, image: Image.Image | np.ndarray) -> None:
        """Encode one frame (cropped to even width and height)."""
        av = load_av()
        arr = np.asarray(image)[: self.height, : self.width]
        try:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, ValueError) as exc:
            raise VideoError(f"{self.path}: cannot write frame {self.frames} ({av_message(exc)})") from exc
        self.frames += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Flush the encoder, finish the file and put it in place."""
        with self._stack:
            try:
                for packet in self._stream.encode():
                    self._container.mux(packet)
            finally:
                self._container.close()


__all__ = ["TRACK_COLOR", "VideoWriter", "draw_tracked"]
