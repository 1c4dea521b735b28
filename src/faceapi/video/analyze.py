"""Analysing a video: every N-th decoded frame through a `FaceTracker` (the live stream's tracker: ids, smoothing,
the detector only when needed), with an annotated copy and expression timelines written as it goes.

Outputs and interruption: an analysed frame's side outputs (the annotated frames up to and including it,
its timeline points) are written *before* it is yielded, and nothing of a later frame is written until
the caller asks for the next one. A caller that records each yielded frame and then stops (and closes the
generator: Ctrl-C between records, see `faceapi.batch.runner`) leaves an annotated video of exactly the
frames up to the last one it recorded, and timelines with exactly the recorded frames: all outputs agree.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faceapi.options import AnalyzeOptions
from faceapi.results import FrameResult
from faceapi.tracking import FaceTracker, TrackedFace
from faceapi.video.annotate import VideoWriter, draw_tracked
from faceapi.video.decode import VideoFrame, VideoInfo, iter_frames, probe
from faceapi.video.timeline import Timeline

if TYPE_CHECKING:
    from faceapi.pipeline import FaceAnalyzer


@dataclass(frozen=True)
class AnalysedFrame:
    """One analysed frame: the decoded frame, the engine's raw result (`TrackedFrame.raw`), the tracked faces
    (same order) and whether the detector ran on it."""

    frame: VideoFrame
    result: FrameResult
    tracked: tuple[TrackedFace, ...]
    detected: bool = True


def analyze_video(analyzer: FaceAnalyzer, source: str | os.PathLike[str], options: AnalyzeOptions, *,
                  every: int = 1, tracker: FaceTracker | None = None,
                  annotate_to: str | os.PathLike[str] | None = None,
                  timeline: Timeline | None = None,
                  info: VideoInfo | None = None) -> Generator[AnalysedFrame, None, None]:
    """Analyse every `every`-th decoded frame of a video; yields each analysed frame, in order.

    Args:
        analyzer: a `FaceAnalyzer`.
        tracker: follows the faces (a `FaceTracker` of `analyzer` with default `TrackingOptions` when None;
            a given one is set to `options` and should be new: it takes the frames' times as its clock).
        annotate_to: write an annotated copy there: every decoded frame, drawn with the faces of the latest
            analysed frame (frames after the last analysed one are written when the video ends).
        timeline: gathers each track's smoothed expressions (needs ``options.expressions``).
        info: the video's `probe` result, when the caller has it already.

    Raises:
        VideoError: the file cannot be opened (before anything is yielded), or decoding fails part-way
            (after the frames before it; ``exc.frame`` says where).
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    if tracker is None:
        tracker = FaceTracker(analyzer, options)
    else:
        tracker.configure(options)
    info = info or probe(source)
    tracked: tuple[TrackedFace, ...] = ()
    with contextlib.ExitStack() as stack:
        writer = (stack.enter_context(VideoWriter(annotate_to, info.fps, info.width, info.height))
                  if annotate_to is not None else None)
        frames = stack.enter_context(contextlib.closing(iter_frames(source, info)))
        for frame in frames:
            if frame.index % every:
                if writer is not None:
                    writer.write(draw_tracked(frame.rgb, tracked))
                continue
            tracked_frame = tracker.update(frame.rgb, frame.time)
            tracked = tracked_frame.faces
            if writer is not None:
                writer.write(draw_tracked(frame.rgb, tracked))
            if timeline is not None:
                for t in tracked:
                    if t.face.expressions is not None:
                        timeline.add(t.track, frame.index, frame.time, t.face.expressions.probabilities)
            yield AnalysedFrame(frame, tracked_frame.raw, tracked, tracked_frame.detected)


__all__ = ["AnalysedFrame", "analyze_video"]
