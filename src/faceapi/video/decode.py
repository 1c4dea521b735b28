"""Video files: decoding with PyAV (the ``faceapi[video]`` extra), analysing every N-th frame with face
tracks and smoothed expressions, and writing an annotated copy.

`analyze_video` yields one JSON-ready record per analysed frame::

    {"source", "status": "ok", "frame": <decoded frame index, from 0>, "time": <seconds>,
     "image", "faces": [{..., "track": <id>, "expressions_smoothed": {...}}], "timings_ms"}

and, when decoding fails part-way, one ``{"source", "status": "error", "frame", "error"}`` record after
which that video stops. The annotated video has every decoded frame (same rate), each drawn with the
faces of the latest analysed frame and their track ids.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from faceapi.draw import draw_faces, label_font
from faceapi.errors import FaceApiError
from faceapi.options import AnalyzeOptions
from faceapi.results import FrameResult
from faceapi.timeline import Timeline
from faceapi.tracking import TrackedFace, Tracker

if TYPE_CHECKING:
    from faceapi.pipeline import FaceAnalyzer

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".y4m",
                  ".3gp", ".ts", ".mts", ".gif"}
TRACK_COLOR = (255, 140, 0)


class VideoError(FaceApiError):
    """A video file could not be opened or decoded."""


def _av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise VideoError("reading videos needs PyAV: pip install 'faceapi[video]'") from exc
    return av


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    frames: int  # 0 when the container does not say

    def frames_to_analyse(self, every: int) -> int:
        return (self.frames + every - 1) // every if self.frames else 0


@dataclass(frozen=True)
class VideoFrame:
    index: int
    time: float
    rgb: np.ndarray


def probe(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate and frame count of a video's first video stream."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            return _info(container, path)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: cannot open video ({exc})") from exc


def _info(container, path) -> VideoInfo:
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


def iter_frames(path: str | os.PathLike, info: VideoInfo | None = None) -> Iterator[VideoFrame]:
    """Every decoded frame of the first video stream as RGB, with its index and time in seconds.

    Raises VideoError when the file cannot be opened, or when decoding fails part-way (after the frames
    decoded until then).
    """
    av = _av()
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: cannot open video ({exc})") from exc
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
            raise VideoError(f"{path}: decoding failed at frame {index} ({exc})") from exc


class VideoWriter:
    """Writes RGB frames to a video file (H.264 in .mp4/.mkv/.mov, else the container's default codec)."""

    def __init__(self, path: str | os.PathLike, fps: Fraction, width: int, height: int):
        av = _av()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.width, self.height = width - width % 2, height - height % 2  # yuv420p needs even sizes
        self._container = av.open(str(self.path), "w")
        codec = "libx264" if self.path.suffix.lower() in (".mp4", ".mkv", ".mov", ".m4v") else None
        try:
            self._stream = self._container.add_stream(codec or "mpeg4", rate=fps)
        except (av.FFmpegError, ValueError):
            self._stream = self._container.add_stream("mpeg4", rate=fps)
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        if self._stream.codec_context.name == "libx264":
            self._stream.options = {"preset": "veryfast", "crf": "23"}
        self._av = av
        self.frames = 0

    def write(self, image: Image.Image | np.ndarray) -> None:
        arr = np.asarray(image)[: self.height, : self.width]
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (safe to call twice)."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None


def draw_tracked(rgb: np.ndarray, tracked: list[TrackedFace]) -> Image.Image:
    """The frame with face-api.js's drawing of each face plus a ``#id`` tag at the box's top-right."""
    image = draw_faces(Image.fromarray(rgb), [t.face for t in tracked])
    if not tracked:
        return image
    d = ImageDraw.Draw(image)
    font = label_font(max(12, round(14 * max(1.0, max(image.size) / 800))))
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


def frame_record(source: str, frame: VideoFrame, result: FrameResult, tracked: list[TrackedFace],
                 descriptors: bool = True) -> dict:
    """The JSON record of one analysed frame: the FrameResult plus frame, time, track ids and smoothing."""
    d = result.to_dict(descriptors=descriptors)
    for face_d, t in zip(d["faces"], tracked):
        face_d["track"] = t.track
        if t.smoothed is not None:
            face_d["expressions_smoothed"] = {"dominant": t.smoothed_dominant, "probabilities": t.smoothed_dict}
    return {"source": source, "status": "ok", "frame": frame.index, "time": round(frame.time, 6), **d}


def analyze_video(analyzer: FaceAnalyzer, source: str, options: AnalyzeOptions, *, every: int = 1,
                  tracker: Tracker | None = None, annotate_to: str | os.PathLike | None = None,
                  timeline: Timeline | None = None, descriptors: bool = True,
                  on_frame: Callable[[int, int], None] | None = None) -> Iterator[dict]:
    """Analyse every `every`-th decoded frame of a video; yields one record per analysed frame.

    Args:
        analyzer: a `FaceAnalyzer`.
        tracker: assigns track ids and smooths expressions (a default `Tracker` when None).
        annotate_to: write an annotated copy of the video there.
        timeline: gathers each track's smoothed expressions (needs ``options.expressions``).
        descriptors: keep descriptors in the records.
        on_frame: ``on_frame(analysed so far, expected total)`` after each analysed frame (progress).

    Raises VideoError when the file cannot be opened at all; the annotated video and the timeline stay
    valid when the caller stops early (KeyboardInterrupt included): they are closed in a ``finally``.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    tracker = tracker or Tracker()
    info = probe(source)
    total = info.frames_to_analyse(every)
    writer = VideoWriter(annotate_to, info.fps, info.width, info.height) if annotate_to else None
    tracked: list[TrackedFace] = []
    done = 0
    next_index = 0
    frames = iter_frames(source, info)
    try:
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except VideoError as exc:
                yield {"source": source, "status": "error", "frame": next_index, "error": str(exc)}
                return
            next_index = frame.index + 1
            if frame.index % every == 0:
                result = analyzer.analyze(frame.rgb, options)
                tracked = tracker.update(result.faces, frame.time)
                if timeline is not None:
                    for t in tracked:
                        if t.smoothed is not None:
                            timeline.add(t.track, frame.index, frame.time, t.smoothed)
                done += 1
                yield frame_record(source, frame, result, tracked, descriptors)
                if on_frame:
                    on_frame(done, max(total, done))
            if writer is not None:
                writer.write(draw_tracked(frame.rgb, tracked))
    finally:
        frames.close()
        if writer is not None:
            writer.close()
