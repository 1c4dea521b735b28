"""Videos: decoding (`decode`, PyAV), analysis with face tracks (`analyze`), annotated copies (`annotate`)
and per-track expression timelines (`timeline`). Needs the ``faceapi[video]`` extra (PyAV) at run time;
importing this package does not import PyAV."""

from __future__ import annotations

from faceapi.errors import VideoError
from faceapi.video.analyze import AnalysedFrame, analyze_video
from faceapi.video.annotate import TRACK_COLOR, VideoWriter, draw_tracked
from faceapi.video.decode import VIDEO_SUFFIXES, VideoFrame, VideoInfo, av_message, is_video, iter_frames, probe
from faceapi.video.timeline import CSV_HEADER, Timeline, TrackTimeline, chart

__all__ = ["CSV_HEADER", "TRACK_COLOR", "VIDEO_SUFFIXES", "AnalysedFrame", "Timeline", "TrackTimeline", "VideoError",
           "VideoFrame", "VideoInfo", "VideoWriter", "analyze_video", "av_message", "chart", "draw_tracked",
           "is_video", "iter_frames", "probe"]
