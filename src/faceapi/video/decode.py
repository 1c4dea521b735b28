"""Reading video files with PyAV (the ``faceapi[video]`` extra): size, rate and length, and every frame as
RGB with its index and time. PyAV's errors become `VideoError` with PyAV's message (not its errno)."""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass
from fractions import Fraction
from types import ModuleType
from typing import Any

import numpy as np

from faceapi.errors import VideoError

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".y4m",
                  ".3gp", ".ts", ".mts", ".gif"}


def load_av() -> ModuleType:
    """The `av` module, or VideoError saying how to install it."""
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise VideoError("reading and writing videos needs PyAV: pip install 'faceapi[video]'") from exc
    return av


def av_message(exc: BaseException) -> str:
    """PyAV's text for an error, without the ``[Errno 1094995529]`` prefix its ``str()`` starts with (FFmpeg's
    negative error codes are meaningless to a user)."""
    text = getattr(exc, "strerror", None)
    if isinstance(text, str) and text:
        return text
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class VideoInfo:
    """A video stream's frame size, frame rate and number of frames (0 when the container does not say)."""

    width: int
    height: int
    fps: Fraction
    frames: int

    def frames_to_analyse(self, every: int) -> int:
        """How many frames analysing every `every`-th one gives (0 when the length is unknown)."""
        return (self.frames + every - 1) // every if self.frames else 0


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its index (from 0), time in seconds and RGB pixels."""

    index: int
    time: float
    rgb: np.ndarray


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Size, frame rate and frame count of a video's first video stream; VideoError if it cannot be read."""
    av = load_av()
    try:
        with av.open(str(path)) as container:
            return _info(container, path)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: cannot open video ({av_message(exc)})") from exc


def _info(container: Any, path: str | os.PathLike[str]) -> VideoInfo:
    if not container.streams.video:
        raise VideoError(f"{path}: no video stream")
    s = container.streams.video[0]
    fps = s.average_rate or s.guessed_rate or Fraction(25)
    frames = int(s.frames or 0)
    if not frames and s.duration and s.time_base:
        frames = int(round(float(s.duration * s.time_base * fps)))
    if not frames and container.duration:
        frames = int(round(container.duration / 1_000_000 * float(fps)))
    return VideoInfo(s.codec_context.width, s.codec_context.height, Fraction(fps), frames)


def iter_frames(path: str | os.PathLike[str], info: VideoInfo | None = None) -> Generator[VideoFrame, None, None]:
    """Every decoded frame of the first video stream as RGB, with its index and time in seconds.

    Raises VideoError when the file cannot be opened, or when decoding fails part-way (after the frames
    decoded until then; its `frame` is the index of the frame that failed).
    """
    av = load_av()
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: cannot open video ({av_message(exc)})") from exc
    with container:
        info = info or _info(container, path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = 0
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else index / float(info.fps)
                yield VideoFrame(index, float(t), frame.to_ndarray(format="rgb24"))
                index += 1
        except (av.FFmpegError, ValueError) as exc:
            raise VideoError(f"{path}: decoding failed at frame {index} ({av_message(exc)})", frame=index) from exc


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether PyAV can open `path` as a video (False without PyAV)."""
    try:
        probe(path)
    except VideoError:
        return False
    return True


__all__ = ["VIDEO_SUFFIXES", "VideoError", "VideoFrame", "VideoInfo", "av_message", "is_video", "iter_frames",
           "load_av", "probe"]
