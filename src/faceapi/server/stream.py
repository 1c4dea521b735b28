"""One `/ws/stream` connection's state and message handling, apart from the socket (routers/stream.py).

A `StreamSession` holds the settings in force, the next frame number and, with tracking on, the client's
`FaceTracker`. Text messages (settings, frame ids, pings) are handled without I/O (`handle_text`); a binary
frame is analysed in the inference pool (`handle_frame`). The router awaits each answer before it reads the
next message, so one frame per client is in flight and answers come in order (and reach the tracker in order).

Tracking is a stream setting: ``"tracking": true`` (off until a client asks; the page asks by default) and
``"tracking_options": {...}`` (`TrackingOptions` keys, each optional). With tracking on, a result has
``"detected"`` and ``"detect_reason"``, and each face ``"track"`` and ``"raw"`` (see `faceapi.tracking`).
A frame message may give the frame's capture time, ``{"type": "frame", "id": N, "time": <seconds>}`` (any
clock of the client's, increasing, within +-`MAX_FRAME_TIME`); the tracker's filters use it, else the time
the frame arrived. A time that does not increase by at least a millisecond is moved on to the previous
one plus a millisecond (`FaceTracker.update`): nothing non-finite comes out of the filters.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from faceapi import __version__, expression_models
from faceapi.errors import FaceApiError, OptionsError
from faceapi.image import header_size
from faceapi.option_schema import schema_json
from faceapi.options import AnalyzeOptions, MatchOptions, TrackingOptions
from faceapi.pipeline import FaceAnalyzer
from faceapi.results import FrameResult
from faceapi.server.context import ServerContext
from faceapi.server.errors import error_payload
from faceapi.server.params import settings_options
from faceapi.server.uploads import FRAME_LIMIT_HINT, parse_json
from faceapi.tracking.face_tracker import FaceTracker, TrackedFrame

log = logging.getLogger("faceapi.server")

#: Largest text message (settings, frame ids, pings).
MAX_TEXT_BYTES = 4096
#: Largest frame time (s) a client may give: any clock's seconds (Unix time is about 1.8e9); beyond it, steps
#: of a millisecond are lost to rounding. The tracker moves times that do not increase on by a millisecond.
MAX_FRAME_TIME = 1e10

#: Frames of up to this many pixels (Full HD, 1920x1088) are decoded in the inference thread: the structural
#: checks bound their cost (64 progressive scans of 2 megapixels: about 30 ms of CPU) and a worker would add
#: its transfer to every frame. Larger frames are decoded by the server's decode workers, as uploads are.
STREAM_INLINE_PIXELS = 1920 * 1088

#: What a stream uses until the client's settings arrive, where it differs from the option schema's defaults
#: (`faceapi.option_schema`): tiny detector, full landmarks, expressions. A settings message changes the keys it
#: gives, the others come from here and then from the schema.
DEFAULT_STREAM_SETTINGS: dict[str, Any] = {"detector": "tiny", "landmarks": "full", "expressions": True}


def stream_options(settings: dict[str, Any], recognition_available: bool) -> AnalyzeOptions:
    """A settings message (without "type") over the stream defaults, as `AnalyzeOptions` (validated with the
    REST query's limits, `faceapi.server.params.StreamSettings`); OptionsError."""
    return settings_options(settings, recognition_available, DEFAULT_STREAM_SETTINGS)


def settings_dict(options: AnalyzeOptions) -> dict[str, Any]:
    """The settings in force, as acknowledged: the options and the match options (defaults when off)."""
    match = options.recognize or MatchOptions()
    return {**options.to_dict(), "distance_threshold": match.distance_threshold, "strategy": match.strategy}


def tracking_settings(settings: dict[str, Any]) -> tuple[bool, TrackingOptions | None]:
    """Take ``tracking`` (bool) and ``tracking_options`` (an object) out of a settings message (changed in
    place): (on, options; None when not given). OptionsError for bad values."""
    on = settings.pop("tracking", False)
    if not isinstance(on, bool):
        raise OptionsError(f"tracking must be true or false, got {on!r}")
    given = settings.pop("tracking_options", None)
    if given is None:
        return on, None
    if not isinstance(given, dict):
        raise OptionsError(f"tracking_options must be an object, got {given!r}")
    return on, TrackingOptions.from_dict(given)


class StreamSession:
    """The state of one stream connection: its settings, frame numbering and tracker."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.options = stream_options({}, ctx.recognition_available)
        self.next_id = 1
        self.next_time: float | None = None  # the capture time the client gave the next frame, in seconds
        self.tracking = TrackingOptions()
        self.tracker: FaceTracker | None = None  # while tracking is on

    def hello(self) -> dict[str, Any]:
        return {"type": "hello", "version": __version__, "max_frame_bytes": self.ctx.max_frame_bytes,
                "settings": self.options.to_dict(), "loaded": self.ctx.analyzer.loaded,
                "recognition": self.ctx.recognition_available, "tracking": True,
                "expression_models": [m.to_dict() for m in expression_models.EXPRESSION_MODELS.values()],
                "liveness": True,  # the MiniFASNet nets ship with the package (faceapi.liveness)
                # the option schema, for the page's controls (each option's type, default, limits, detectors)
                "options": schema_json(), "stream_defaults": DEFAULT_STREAM_SETTINGS,
                "replica": self.ctx.replica}  # which Ray Serve replica holds this connection (else null)

    def _apply(self, options: AnalyzeOptions, tracking_on: bool, tracking: TrackingOptions | None) -> None:
        """New settings. A tracker keeps its tracks and ids through option changes; off drops it."""
        self.options = options
        if tracking is not None:
            self.tracking = tracking
        if not tracking_on:
            self.tracker = None
        elif self.tracker is None:
            self.tracker = FaceTracker(self.ctx.analyzer, options, self.tracking, matcher=self.ctx.gallery)
        else:
            self.tracker.configure(options, self.tracking)

    def handle_text(self, text: str) -> dict[str, Any] | None:
        """One text message: the reply (None: none is due). Bad messages leave the state as it was."""
        if len(text.encode("utf-8", "replace")) > MAX_TEXT_BYTES:
            return {"type": "error", "error": f"text message over {MAX_TEXT_BYTES} bytes"}
        try:
            msg = parse_json(text)
        except FaceApiError as exc:
            return {"type": "error", "error": f"message refused: {exc}"}
        if not isinstance(msg, dict):
            return {"type": "error", "error": "message must be a JSON object with a 'type'"}
        kind = msg.get("type", "settings")
        if kind == "settings":
            settings = {k: v for k, v in msg.items() if k != "type"}
            try:
                tracking_on, tracking = tracking_settings(settings)
                options = stream_options(settings, self.ctx.recognition_available)
            except FaceApiError as exc:
                return {"type": "error", "error": f"settings refused: {exc}"}
            self._apply(options, tracking_on, tracking)
            ack = {**settings_dict(options), "tracking": tracking_on}
            if tracking_on:
                ack["tracking_options"] = self.tracking.to_dict()
            return {"type": "settings", "ok": True, "settings": ack, "nets": FaceAnalyzer.nets_for(options)}
        if kind == "frame":
            fid = msg.get("id")
            if not isinstance(fid, int) or isinstance(fid, bool):
                return {"type": "error", "error": f"frame id must be an integer, got {fid!r}"}
            ftime = msg.get("time")
            if ftime is not None and (isinstance(ftime, bool) or not isinstance(ftime, (int, float))
                                      or not math.isfinite(ftime) or abs(ftime) > MAX_FRAME_TIME):
                return {"type": "error", "error": f"frame time must be a number of seconds within "
                                                  f"+-{MAX_FRAME_TIME:g}, got {ftime!r}"}
            self.next_id = fid
            self.next_time = None if ftime is None else float(ftime)
            return None
        if kind == "ping":
            return {"type": "pong"}
        return {"type": "error", "error": f"unknown message type {kind!r}; expected settings, frame or ping"}

    async def handle_frame(self, data: bytes) -> dict[str, Any]:
        """One binary frame: its result (coordinates in the frame's pixels) or an error message."""
        frame_id, self.next_id = self.next_id, self.next_id + 1
        # the frame's time for the tracker's filters: the client's capture time, else when it came in
        frame_time, self.next_time = (self.next_time if self.next_time is not None else time.monotonic()), None
        t0 = time.perf_counter()
        limit = self.ctx.max_frame_bytes
        if len(data) > limit:
            return {"type": "error", "frame": frame_id,
                    "error": f"frame is {len(data)} bytes, over the limit of {limit}{FRAME_LIMIT_HINT}"}
        if not data:
            return {"type": "error", "frame": frame_id, "error": "empty frame (0 bytes)"}
        options, tracker = self.options, self.tracker
        queued: list[float] = []
        size = header_size(data)
        decode_ms: float | None = None  # set when a decode worker decoded the frame

        def job(image: bytes | np.ndarray) -> FrameResult | TrackedFrame:
            queued.append((time.perf_counter() - t0) * 1000)
            if tracker is not None:
                return tracker.update(image, frame_time)
            return self.ctx.analyzer.analyze(image, options, matcher=self.ctx.gallery)

        try:
            if size is not None and size[0] * size[1] > STREAM_INLINE_PIXELS:
                decoded = await self.ctx.decoder.decode(data, self.ctx.analyzer.max_pixels)
                decode_ms = decoded.ms
                result = await self.ctx.run(job, decoded.pixels)
            else:
                result = await self.ctx.run(job, data)
        except FaceApiError as exc:
            return {"type": "error", "frame": frame_id, **error_payload(exc)}
        except Exception:  # noqa: BLE001 - one bad frame must not end the stream
            log.exception("frame %s failed", frame_id)
            return {"type": "error", "frame": frame_id,
                    "error": "internal error while analysing the frame (see server log)"}
        out = result.to_dict(descriptors=options.descriptors)
        if decode_ms is not None:  # the worker's time, as if the engine had decoded the bytes
            t = out["timings_ms"]
            t["total"] = round(t.get("total", 0.0) - t.get("decode", 0.0) + decode_ms, 3)
            t["decode"] = round(decode_ms, 3)
        out["timings_ms"]["queue"] = round(queued[0], 3)
        out["timings_ms"]["server_total"] = round((time.perf_counter() - t0) * 1000, 3)
        return {"type": "result", "frame": frame_id, **out}
