"""One `/ws/stream` connection's state and message handling, apart from the socket (routers/stream.py).

A `StreamSession` holds the settings in force and the next frame number. Text messages (settings, frame
ids, pings) are handled without I/O (`handle_text`); a binary frame is analysed in the inference pool
(`handle_frame`). The router awaits each answer before it reads the next message, so one frame per client
is in flight and answers come in order.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from faceapi import __version__
from faceapi.errors import FaceApiError
from faceapi.options import AnalyzeOptions, MatchOptions
from faceapi.pipeline import FaceAnalyzer
from faceapi.results import FrameResult
from faceapi.server.context import ServerContext
from faceapi.server.errors import error_payload
from faceapi.server.params import analyze_options
from faceapi.server.uploads import FRAME_LIMIT_HINT

log = logging.getLogger("faceapi.server")

#: Largest text message (settings, frame ids, pings).
MAX_TEXT_BYTES = 4096

#: What a stream uses until the client's settings arrive (tiny detector, full landmarks, expressions); a
#: settings message changes the keys it gives, the others come from here.
DEFAULT_STREAM_SETTINGS: dict[str, Any] = {
    "detector": "tiny", "input_size": 416, "min_score": 0.5, "landmarks": "full",
    "expressions": True, "age_gender": False, "descriptors": False,
}


def stream_options(settings: dict[str, Any], recognition_available: bool) -> AnalyzeOptions:
    """A settings message (without "type") over the stream defaults, as `AnalyzeOptions`; OptionsError."""
    return analyze_options({**DEFAULT_STREAM_SETTINGS, **settings}, recognition_available=recognition_available)


def settings_dict(options: AnalyzeOptions) -> dict[str, Any]:
    """The settings in force, as acknowledged: the options and the match options (defaults when off)."""
    match = options.recognize or MatchOptions()
    return {**options.to_dict(), "distance_threshold": match.distance_threshold, "strategy": match.strategy}


class StreamSession:
    """The state of one stream connection: its settings and frame numbering."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.options = stream_options({}, ctx.recognition_available)
        self.next_id = 1

    def hello(self) -> dict[str, Any]:
        return {"type": "hello", "version": __version__, "max_frame_bytes": self.ctx.max_frame_bytes,
                "settings": self.options.to_dict(), "loaded": self.ctx.analyzer.loaded,
                "recognition": self.ctx.recognition_available}

    def handle_text(self, text: str) -> dict[str, Any] | None:
        """One text message: the reply (None: none is due). Bad messages leave the state as it was."""
        if len(text.encode("utf-8", "replace")) > MAX_TEXT_BYTES:
            return {"type": "error", "error": f"text message over {MAX_TEXT_BYTES} bytes"}
        try:
            msg = json.loads(text)
        except json.JSONDecodeError as exc:
            return {"type": "error", "error": f"message is not valid JSON: {exc}"}
        if not isinstance(msg, dict):
            return {"type": "error", "error": "message must be a JSON object with a 'type'"}
        kind = msg.get("type", "settings")
        if kind == "settings":
            try:
                options = stream_options({k: v for k, v in msg.items() if k != "type"},
                                         self.ctx.recognition_available)
            except FaceApiError as exc:
                return {"type": "error", "error": f"settings refused: {exc}"}
            self.options = options
            return {"type": "settings", "ok": True, "settings": settings_dict(options),
                    "nets": FaceAnalyzer.nets_for(options)}
        if kind == "frame":
            fid = msg.get("id")
            if not isinstance(fid, int) or isinstance(fid, bool):
                return {"type": "error", "error": f"frame id must be an integer, got {fid!r}"}
            self.next_id = fid
            return None
        if kind == "ping":
            return {"type": "pong"}
        return {"type": "error", "error": f"unknown message type {kind!r}; expected settings, frame or ping"}

    async def handle_frame(self, data: bytes) -> dict[str, Any]:
        """One binary frame: its result (coordinates in the frame's pixels) or an error message."""
        frame_id, self.next_id = self.next_id, self.next_id + 1
        t0 = time.perf_counter()
        limit = self.ctx.max_frame_bytes
        if len(data) > limit:
            return {"type": "error", "frame": frame_id,
                    "error": f"frame is {len(data)} bytes, over the limit of {limit}{FRAME_LIMIT_HINT}"}
        if not data:
            return {"type": "error", "frame": frame_id, "error": "empty frame (0 bytes)"}
        options = self.options
        queued: list[float] = []

        def job() -> FrameResult:
            queued.append((time.perf_counter() - t0) * 1000)
            return self.ctx.analyzer.analyze(data, options, matcher=self.ctx.gallery)

        try:
            result = await self.ctx.run(job)
        except FaceApiError as exc:
            return {"type": "error", "frame": frame_id, **error_payload(exc)}
        except Exception:  # noqa: BLE001 - one bad frame must not end the stream
            log.exception("frame %s failed", frame_id)
            return {"type": "error", "frame": frame_id,
                    "error": "internal error while analysing the frame (see server log)"}
        out = result.to_dict(descriptors=options.descriptors)
        out["timings_ms"]["queue"] = round(queued[0], 3)
        out["timings_ms"]["server_total"] = round((time.perf_counter() - t0) * 1000, 3)
        return {"type": "result", "frame": frame_id, **out}
