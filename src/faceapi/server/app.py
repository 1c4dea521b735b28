"""The web app: a static page, a REST API and the `/ws/stream` WebSocket, over one `FaceAnalyzer`.

Everything runs in one process. Inference and model loading run off the event loop, in a bounded pool
of `inference_threads` threads (one more for loading), so a slow frame never stalls other clients.
Nothing a client sends is written to disk: frames and uploads are read into memory (with a size limit)
and decoded there.

REST
----
- ``GET /api/health`` - ``{"status": "ok", "version", "loaded", "clients"}``.
- ``GET /api/models`` - every net: its model files, whether they are ``available`` (present),
  ``verified`` (SHA-256 as pinned) and ``loaded``; plus the state of the last load request.
- ``POST /api/models/load`` - body ``{"nets": [...]}`` or ``{"settings": {...}}`` (the nets those
  settings need; default: all). Loads in the background and answers 202 at once with the load state
  (poll ``GET /api/models`` for per-net progress); ``?wait=true`` answers when done (200, or 503 with
  the error, e.g. which command fetches missing weights).
- ``POST /api/analyze`` - an image as the raw body or as the first file of a multipart form; options
  in the query as in the CLI (``detector=tiny&input_size=416&min_score=0.5&landmarks=full&
  expressions=true&age_gender=true&descriptors=false&single=false``) -> the engine's JSON;
  ``?annotate=true`` -> the annotated image (JPEG; ``&format=png`` for PNG); ``?recognize=true``
  (with ``distance_threshold=0.6`` and ``strategy=mean|nearest``) matches every face against the
  gallery: each face gets ``match: {label, distance}`` (400 when the server has no gallery).
  Errors: 400 (not an image, bad option, too many pixels), 413 (body over ``max_frame_bytes``),
  503 (weights missing), always as ``{"error": "..."}``.
- ``GET /docs`` - OpenAPI docs (Swagger UI served by this server: works offline); ``GET /`` - the page.

People (the gallery; 503 on a server started with ``--no-gallery``)
-------------------------------------------------------------------
- ``GET /api/people`` - ``{"people": [{id, name, created, descriptors}], "count"}``, by name.
- ``POST /api/people?name=Amy[&crop=true]`` - enrol the one face of an image (raw body, or a multipart
  form with a file and optional ``name``/``crop`` fields): 201 with the person and ``added``/``skipped``
  (an existing name gets one more sample). 422 when the image shows no face or several (the body has
  ``faces``: how many were found), or the name is bad; 400 for a bad image, 413 over ``max_frame_bytes``.
  Described in the inference pool, with SSD MobileNetV1 + 68 landmarks as ``faceapi people add``;
  ``crop=true`` describes the whole image (a face crop already).
- ``POST /api/people/match[?crop=true&distance_threshold=0.6&strategy=mean]`` - who is the one face of
  an image? ``{"match": {label, distance}}``; the same errors as enrolment.
- ``GET /api/people/{name}`` - one person (404 unknown); ``DELETE /api/people/{name}`` - remove (404);
  ``PATCH /api/people/{name}`` with ``{"name": new}`` - rename (404 unknown, 409 taken, 422 bad name).
- ``GET /api/people/export`` - the gallery as JSON (``faceapi people export``'s format);
  ``POST /api/people/import[?replace=true]`` - merge such a JSON (or a face-api.js FaceMatcher JSON).

WebSocket ``/ws/stream``
------------------------
Text messages are JSON objects (at most 4 KB), binary messages are encoded image frames (JPEG; at
most ``max_frame_bytes``). The server first sends ``{"type": "hello", "version", "max_frame_bytes",
"settings", "loaded", "recognition"}``. Then:

- client ``{"type": "settings", "detector": "tiny", "input_size": 416, "min_score": 0.5,
  "landmarks": "full", "expressions": true, "age_gender": false, "recognize": false,
  "distance_threshold": 0.6, "strategy": "mean"}`` (any subset;
  missing keys take the defaults shown) -> ``{"type": "settings", "ok": true, "settings": {...},
  "nets": [...]}`` or ``{"type": "error", "error": reason}`` (the previous settings stay in force).
  Settings may change at any time; they apply from the next frame.
- client ``{"type": "frame", "id": N}`` (optional) names the next binary frame; otherwise the server
  numbers frames itself, 1, 2, 3, ... per connection (after a named frame, counting goes on from it).
- client binary frame -> ``{"type": "result", "frame": N, "image": {width, height}, "faces": [...],
  "timings_ms": {decode, detect, ..., total, queue, server_total}}`` with coordinates in the frame's
  pixels, or ``{"type": "error", "frame": N, "error": reason}`` for a bad frame. The connection stays
  open after every error.
- client ``{"type": "ping"}`` -> ``{"type": "pong"}``.

One frame in flight per client: the client sends the next frame when the answer to the previous one
has arrived, so nothing queues (frames sent early are answered in order). Connections whose ``Origin``
is neither this server (same host and port, or a loopback name with the same port) nor in
``allowed_origins`` are refused at the handshake (HTTP 403). Clients without an ``Origin`` (not
browsers) are accepted.

Recognition: ``create_app(gallery=...)`` (``app.state.gallery``; ``faceapi serve`` opens the default
gallery unless ``--no-gallery``). Without one, a ``recognize`` setting is refused. With one,
``recognize`` turns descriptors on and every face gets a ``match`` ({label, distance}; distance is
null when the gallery is empty), computed in the inference pool; the page shows the names.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.parser
import email.policy
import io
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from faceapi import __version__
from faceapi.errors import FaceApiError, GalleryError, ImageError, ModelError, ModelNotFoundError, OptionsError
from faceapi.matching import DEFAULT_DISTANCE_THRESHOLD
from faceapi.models import MODELS, check_model, model_dir
from faceapi.options import AnalyzeOptions, MatchOptions
from faceapi.pipeline import NETS, FaceAnalyzer
from faceapi.results import FrameResult

try:  # Swagger UI and ReDoc served from the package, not from a CDN (a closed network gets working /docs)
    from fastapi_offline import FastAPIOffline as _FastAPI
except ImportError:  # pragma: no cover - the server extra installs it
    _FastAPI = FastAPI

log = logging.getLogger("faceapi.server")

STATIC_DIR = Path(__file__).parent / "static"
MAX_SETTINGS_BYTES = 4096
#: Multipart framing around an upload may add this much to the body over the image size limit.
MULTIPART_SLACK = 64 * 1024

#: What a stream uses until the client's settings arrive (tiny detector, full landmarks, expressions).
DEFAULT_STREAM_SETTINGS: dict[str, Any] = {
    "detector": "tiny", "input_size": 416, "min_score": 0.5, "landmarks": "full",
    "expressions": True, "age_gender": False, "descriptors": False,
}

#: Largest body of POST /api/people/import (a gallery export).
MAX_IMPORT_BYTES = 64 * 1024 * 1024

#: Query parameters of /api/analyze that are not engine options.
_QUERY_EXTRA = {"annotate", "format", "recognize", "distance_threshold", "strategy"}
_BOOL_OPTIONS = {"expressions", "age_gender", "descriptors", "single"}

# CSP of the page: nothing is fetched from anywhere but this server.
_PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
             "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
             "base-uri 'none'; frame-ancestors 'none'")


def model_name(net: str) -> str:
    """The model files (faceapi.models.MODELS key) a net (faceapi.pipeline.NETS key) reads."""
    return f"{net}_model"


def error_body(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# -- model loading state ------------------------------------------------------------------------------
@dataclass
class LoadJob:
    """The last (or current) model load request, as shown to clients."""

    nets: list[str] = field(default_factory=list)
    state: str = "idle"  # idle | loading | done | error
    status: dict[str, str] = field(default_factory=dict)  # net -> pending | loading | loaded | error
    current: str | None = None
    error: str | None = None
    command: str | None = None
    started: float | None = None
    seconds: float | None = None

    def to_dict(self) -> dict:
        return {"nets": self.nets, "state": self.state, "status": self.status, "current": self.current,
                "error": self.error, "command": self.command, "seconds": self.seconds}


class _VerifyCache:
    """SHA-256 checks of model files, redone only when a file's size or mtime changes."""

    def __init__(self) -> None:
        self._cache: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def check(self, name: str, folder: Path):
        stamp = []
        for fname in MODELS[name].files:
            p = folder / fname
            try:
                st = p.stat()
                stamp.append((fname, st.st_size, st.st_mtime_ns))
            except OSError:
                stamp.append((fname, None, None))
        key = (name, str(folder), tuple(stamp))
        with self._lock:
            hit = self._cache.get(key)
        if hit is None:
            hit = check_model(name, folder)
            with self._lock:
                self._cache[key] = hit
        return hit


# -- helpers ------------------------------------------------------------------------------------------
def _parse_query_options(params) -> tuple[AnalyzeOptions, bool, str]:
    """AnalyzeOptions, annotate flag and image format from /api/analyze's query (raises OptionsError)."""
    raw: dict[str, Any] = {}
    for key, value in params.items():
        if key in _QUERY_EXTRA:
            continue
        if key in _BOOL_OPTIONS:
            raw[key] = _parse_bool(key, value)
        elif key == "landmarks":
            raw[key] = None if value.lower() in ("", "off", "none", "false", "null") else value
        else:
            raw[key] = value
    options = AnalyzeOptions.from_dict(raw)
    annotate = _parse_bool("annotate", params.get("annotate", "false"))
    fmt = params.get("format", "jpeg").lower()
    if fmt not in ("jpeg", "jpg", "png"):
        raise OptionsError(f"format must be 'jpeg' or 'png', got {fmt!r}")
    return options, annotate, "png" if fmt == "png" else "jpeg"


@dataclass(frozen=True)
class Recognition:
    """How faces are matched against the gallery (face-api.js's FaceMatcher threshold, and strategy)."""

    distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD
    strategy: str = "mean"

    @classmethod
    def parse(cls, threshold: object = None, strategy: object = None) -> Recognition:
        """From query strings or JSON values (None: the default); OptionsError when out of range."""
        t = DEFAULT_DISTANCE_THRESHOLD if threshold is None else threshold
        if isinstance(t, bool):
            raise OptionsError(f"distance_threshold must be a number, got {threshold!r}")
        try:
            t = float(t)
        except (TypeError, ValueError):
            raise OptionsError(f"distance_threshold must be a number, got {threshold!r}") from None
        if not (0 < t <= 10):
            raise OptionsError(f"distance_threshold must be in (0, 10], got {threshold!r}")
        st = "mean" if strategy is None else strategy
        if st not in ("mean", "nearest"):
            raise OptionsError(f"strategy must be 'mean' or 'nearest', got {strategy!r}")
        return cls(t, st)

    def to_dict(self) -> dict:
        return {"distance_threshold": self.distance_threshold, "strategy": self.strategy}


class GalleryUnavailable(Exception):
    """The server has no gallery (answered 503)."""


class _BodyTooLarge(Exception):
    """A request body over its limit (answered 413)."""


async def _read_body(request: Request, limit: int, shown_limit: int | None = None) -> bytes:
    """The whole body, refusing (by Content-Length, else while reading) anything over `limit` bytes."""
    shown = shown_limit if shown_limit is not None else limit
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge(f"body is {int(declared)} bytes, over the limit of {shown} "
                            f"(server option --max-frame-bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge(f"body is over the limit of {shown} bytes (server option --max-frame-bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _multipart_form(content_type: str, body: bytes) -> tuple[dict[str, str], bytes | None, str | None]:
    """A multipart/form-data body parsed in memory: (text fields, the first file's bytes, its filename)."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body)
    if not msg.is_multipart():
        raise ImageError("multipart body could not be parsed (no parts found)")
    fields: dict[str, str] = {}
    data: bytes | None = None
    filename: str | None = None
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename():
            if data is None:
                data, filename = payload, part.get_filename()
        elif isinstance(name, str):
            fields[name] = payload.decode("utf-8", "replace")
    return fields, data, filename


def _parse_bool(key: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise OptionsError(f"option {key!r} must be true or false, got {value!r}")


def _multipart_image(content_type: str, body: bytes) -> bytes:
    """The first file (else the first part) of a multipart/form-data body, parsed in memory."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body)
    if not msg.is_multipart():
        raise ImageError("multipart body could not be parsed (no parts found)")
    parts = list(msg.iter_parts())
    if not parts:
        raise ImageError("multipart body has no parts; send the image as a file field (e.g. 'file')")
    files = [p for p in parts if p.get_filename()]
    part = (files or parts)[0]
    data = part.get_payload(decode=True)
    return data or b""


def _origin_allowed(origin: str | None, host: str | None, allowed: frozenset[str]) -> bool:
    """Same-origin (Origin host:port == Host), a loopback name on the same port, or listed."""
    if origin is None:
        return True  # not a browser: origin checks protect browsers' users only
    origin = origin.rstrip("/")
    if "*" in allowed or origin in allowed:
        return True
    try:
        o = urlsplit(origin)
        h = urlsplit("//" + (host or ""))
        if o.scheme not in ("http", "https") or not o.hostname or not h.hostname:
            return False
        default = 443 if o.scheme == "https" else 80
        o_port = o.port or default
        h_port = h.port or default
    except ValueError:
        return False
    if o.hostname == h.hostname and o_port == h_port:
        return True
    loopback = {"localhost", "127.0.0.1", "::1"}
    return o.hostname in loopback and h.hostname in loopback and o_port == h_port


# -- the app ------------------------------------------------------------------------------------------
def create_app(analyzer: FaceAnalyzer | None = None, *, max_frame_bytes: int = 2_000_000,
               allowed_origins: tuple[str, ...] | list[str] = (), inference_threads: int = 2,
               gallery: Any = None) -> FastAPI:
    """Build the web app around `analyzer` (a new `FaceAnalyzer()` when None).

    Args:
        gallery: a `faceapi.gallery.Gallery` for recognition and the /api/people endpoints (None: no
            recognition, and /api/people answers 503).
        max_frame_bytes: largest frame or upload accepted (bytes); larger ones get a 413 / an error.
        allowed_origins: extra browser origins (``"https://host:port"``, or ``"*"``) allowed to open
            the WebSocket; same-origin and loopback pages of this server always are.
        inference_threads: threads running inference (each also uses onnxruntime's own threads).
    """
    if max_frame_bytes < 1:
        raise ValueError(f"max_frame_bytes must be positive, got {max_frame_bytes}")
    if inference_threads < 1:
        raise ValueError(f"inference_threads must be >= 1, got {inference_threads}")
    analyzer = analyzer or FaceAnalyzer()
    allowed = frozenset(o.rstrip("/") for o in allowed_origins)
    pool = ThreadPoolExecutor(max_workers=inference_threads, thread_name_prefix="faceapi-infer")
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceapi-load")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            yield
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            loader.shutdown(wait=False, cancel_futures=True)

    app = _FastAPI(
        title="faceapi", version=__version__, lifespan=lifespan,
        description="face-api.js's nets in Python: analyse images (REST) and webcam streams (WebSocket "
                    "`/ws/stream`, see the module docstring of faceapi.server.app for the protocol).",
    )
    app.state.analyzer = analyzer
    app.state.gallery = gallery  # recognition and /api/people (None: neither)
    app.state.max_frame_bytes = max_frame_bytes
    app.state.allowed_origins = allowed
    app.state.clients = 0
    app.state.load_job = LoadJob()
    verify_cache = _VerifyCache()
    job_lock = threading.Lock()

    def folder() -> Path:
        return model_dir(analyzer.models_dir)

    async def in_pool(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def recognition_available() -> bool:
        return app.state.gallery is not None

    # -- analysis (runs in the pool) -----------------------------------------------------------------
    def run_analysis(data: bytes, options: AnalyzeOptions, recognize: Recognition | None) -> FrameResult:
        if recognize is not None:
            options = replace(options, recognize=MatchOptions(recognize.distance_threshold, recognize.strategy))
        return analyzer.analyze(data, options, matcher=app.state.gallery)

    def stream_options(raw: dict) -> tuple[AnalyzeOptions, Recognition | None]:
        """Validate a settings message (without "type"): AnalyzeOptions and how to recognise (None: not)."""
        raw = dict(raw)
        recognize = raw.pop("recognize", False)
        if not isinstance(recognize, bool):
            raise OptionsError(f"option 'recognize' must be true or false, got {recognize!r}")
        rec = Recognition.parse(raw.pop("distance_threshold", None), raw.pop("strategy", None))
        if recognize and not recognition_available():
            raise OptionsError("recognition is not available: this server has no gallery of enrolled people")
        merged = {**DEFAULT_STREAM_SETTINGS, **raw}
        if recognize:
            merged["descriptors"] = True
        return AnalyzeOptions.from_dict(merged), (rec if recognize else None)

    # -- model loading -------------------------------------------------------------------------------
    def start_load(nets: list[str]) -> LoadJob:
        with job_lock:
            job = app.state.load_job
            if job.state == "loading":
                # one load at a time: add what is missing to the running job
                for n in nets:
                    if n not in job.status:
                        job.nets.append(n)
                        job.status[n] = "pending"
                return job
            job = LoadJob(nets=list(nets), state="loading",
                          status={n: ("loaded" if n in analyzer.loaded else "pending") for n in nets},
                          started=time.perf_counter())
            app.state.load_job = job

        def work() -> None:
            i = 0
            while True:
                with job_lock:
                    if i >= len(job.nets):
                        job.state, job.current = "done", None
                        job.seconds = round(time.perf_counter() - job.started, 3)
                        return
                    name = job.nets[i]
                    job.current = name
                    if job.status[name] != "loaded":
                        job.status[name] = "loading"
                try:
                    analyzer.net(name)
                except Exception as exc:  # noqa: BLE001 - shown to the user, the server goes on
                    with job_lock:
                        job.status[name] = "error"
                        job.state, job.current = "error", None
                        job.error = f"{name}: {exc}" if not isinstance(exc, FaceApiError) else str(exc)
                        if isinstance(exc, ModelError):
                            job.command = "faceapi models download"
                        job.seconds = round(time.perf_counter() - job.started, 3)
                    if not isinstance(exc, FaceApiError):
                        log.exception("loading %s failed", name)
                    return
                with job_lock:
                    job.status[name] = "loaded"
                i += 1

        loader.submit(work)
        return job

    # -- routes --------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={
            "Content-Security-Policy": _PAGE_CSP, "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})

    @app.get("/api/health", tags=["service"])
    async def health() -> dict:
        """Liveness: version, loaded nets and the number of open stream connections."""
        return {"status": "ok", "version": __version__, "loaded": analyzer.loaded,
                "clients": app.state.clients, "recognition": recognition_available()}

    @app.get("/api/models", tags=["models"])
    async def models(verify: bool = True) -> dict:
        """Every net with its model files: available (present), verified (SHA-256) and loaded.

        ``verify=false`` skips hashing (results are cached by file size and mtime anyway)."""
        root = folder()

        def gather() -> list[dict]:
            out = []
            for net in NETS:
                mname = model_name(net)
                spec = MODELS.get(mname)
                available = spec is not None and all((root / f).is_file() for f in spec.files)
                entry: dict[str, Any] = {"name": net, "model": mname, "available": available,
                                         "loaded": net in analyzer.loaded, "verified": None, "problem": None}
                if spec is None:
                    entry["problem"] = "no model files registered"
                elif verify:
                    st = verify_cache.check(mname, root)
                    entry["verified"], entry["problem"] = st.verified, st.problem
                elif not available:
                    entry["problem"] = "model files missing"
                out.append(entry)
            return out

        nets = await asyncio.to_thread(gather)  # hashing reads files: not on the event loop
        with job_lock:
            job = app.state.load_job.to_dict()
        missing = [n["name"] for n in nets if not n["available"]]
        return {"models_dir": str(root), "nets": nets, "loaded": analyzer.loaded,
                "available": [n["name"] for n in nets if n["available"]],
                "verified": [n["name"] for n in nets if n["verified"]],
                "missing": missing, "download_command": "faceapi models download" if missing else None,
                "load": job}

    @app.post("/api/models/load", tags=["models"], status_code=202)
    async def models_load(request: Request, wait: bool = False) -> JSONResponse:
        """Load nets: body ``{"nets": [...]}`` or ``{"settings": {...}}`` (default: all nets).

        Answers at once (202) with the load state; poll ``GET /api/models`` for progress. With
        ``wait=true`` answers when loading ends: 200, or 503 with the error and the command to run."""
        body = await request.body()
        if len(body) > MAX_SETTINGS_BYTES:
            return error_body(f"request body over {MAX_SETTINGS_BYTES} bytes", 413)
        try:
            payload = json.loads(body) if body.strip() else {}
            if not isinstance(payload, dict):
                raise OptionsError("body must be a JSON object: {\"nets\": [...]} or {\"settings\": {...}}")
            if "nets" in payload:
                nets = payload["nets"]
                if not isinstance(nets, list) or not all(isinstance(n, str) for n in nets):
                    raise OptionsError("'nets' must be a list of net names")
                unknown = [n for n in nets if n not in NETS]
                if unknown:
                    raise OptionsError(f"unknown net(s) {unknown}; known: {list(NETS)}")
            elif "settings" in payload:
                if not isinstance(payload["settings"], dict):
                    raise OptionsError("'settings' must be a JSON object")
                opts, _ = stream_options({k: v for k, v in payload["settings"].items() if k != "type"})
                nets = FaceAnalyzer.nets_for(opts)
            else:
                nets = list(NETS)
        except json.JSONDecodeError as exc:
            return error_body(f"body is not valid JSON: {exc}", 400)
        except OptionsError as exc:
            return error_body(str(exc), 400)
        nets = list(dict.fromkeys(nets))
        job = start_load(nets)
        if wait:
            while True:
                with job_lock:
                    state = job.state
                if state != "loading":
                    break
                await asyncio.sleep(0.05)
            with job_lock:
                d = job.to_dict()
            return JSONResponse(d, status_code=503 if d["state"] == "error" else 200)
        with job_lock:
            return JSONResponse(job.to_dict(), status_code=202)

    @app.post("/api/analyze", tags=["analyze"], responses={
        200: {"description": "the engine's JSON, or the annotated image with annotate=true",
              "content": {"application/json": {}, "image/jpeg": {}, "image/png": {}}},
        400: {"description": "not an image, too many pixels, or a bad option"},
        413: {"description": "body over the size limit"},
        503: {"description": "model weights missing"}})
    async def analyze(request: Request) -> Response:
        """Analyse one image: the raw body or the first file of a multipart form.

        Query: detector (ssd|tiny), input_size, min_score, max_results, landmarks (off|tiny|full),
        expressions, age_gender, descriptors, single; annotate=true for the annotated image
        (format=jpeg|png); recognize=true to name the faces from the gallery (distance_threshold,
        default 0.6; strategy=mean|nearest)."""
        try:
            options, annotate, fmt = _parse_query_options(request.query_params)
            q = request.query_params
            recognize = None
            if _parse_bool("recognize", q.get("recognize", "false")):
                if not recognition_available():
                    raise OptionsError("recognition is not available: this server has no gallery of enrolled "
                                       "people (started with --no-gallery)")
                recognize = Recognition.parse(q.get("distance_threshold"), q.get("strategy"))
        except OptionsError as exc:
            return error_body(str(exc), 400)
        want_descriptors = options.descriptors
        if recognize is not None and not options.descriptors:
            options = dataclasses.replace(options, descriptors=True)
        ctype = request.headers.get("content-type", "")
        multipart = ctype.lower().startswith("multipart/")
        try:
            body = await _read_body(request, max_frame_bytes + (MULTIPART_SLACK if multipart else 0),
                                    max_frame_bytes)
        except _BodyTooLarge as exc:
            return error_body(str(exc), 413)
        try:
            data = _multipart_image(ctype, body) if multipart else body
            if len(data) > max_frame_bytes:
                return error_body(f"image is {len(data)} bytes, over the limit of {max_frame_bytes}", 413)
            if not data:
                raise ImageError("no image in the request (empty body); send the image bytes or a "
                                 "multipart form with a file")
            if annotate:
                matcher = (app.state.gallery.matcher(recognize.distance_threshold, recognize.strategy)
                           if recognize is not None else None)
                payload = await in_pool(_annotated, analyzer, data, options, fmt, matcher)
                return Response(payload, media_type=f"image/{fmt}")
            result = await in_pool(run_analysis, data, options, recognize)
            return JSONResponse(result.to_dict(descriptors=want_descriptors))
        except ImageError as exc:
            return error_body(str(exc), 400)
        except OptionsError as exc:
            return error_body(str(exc), 400)
        except ModelNotFoundError as exc:
            return error_body(str(exc), 503)
        except ModelError as exc:
            return error_body(str(exc), 503)

    # -- people (the gallery) ------------------------------------------------------------------------
    def need_gallery():
        g = app.state.gallery
        if g is None:
            raise GalleryUnavailable()
        return g

    def gallery_error(exc: Exception) -> JSONResponse:
        from faceapi.gallery import FaceCountError, NameTakenError, UnknownPersonError

        if isinstance(exc, GalleryUnavailable):
            return error_body("this server has no gallery of people (it was started with --no-gallery)", 503)
        if isinstance(exc, UnknownPersonError):
            return error_body(str(exc), 404)
        if isinstance(exc, NameTakenError):
            return error_body(str(exc), 409)
        if isinstance(exc, FaceCountError):
            return JSONResponse({"error": str(exc), "faces": exc.faces}, status_code=422)
        if isinstance(exc, GalleryError):
            return error_body(str(exc), 422)
        if isinstance(exc, (ImageError, OptionsError)):
            return error_body(str(exc), 400)
        if isinstance(exc, ModelError):
            return error_body(str(exc), 503)
        raise exc

    async def read_face_image(request: Request) -> tuple[bytes, dict[str, str], str]:
        """An uploaded image (raw body or multipart file), the form's text fields, a name for messages."""
        ctype = request.headers.get("content-type", "")
        multipart = ctype.lower().startswith("multipart/")
        body = await _read_body(request, max_frame_bytes + (MULTIPART_SLACK if multipart else 0), max_frame_bytes)
        fields: dict[str, str] = {}
        label = "the image"
        if multipart:
            fields, data, filename = _multipart_form(ctype, body)
            data = data or b""
            if filename:
                label = filename
        else:
            data = body
        if len(data) > max_frame_bytes:
            raise _BodyTooLarge(f"image is {len(data)} bytes, over the limit of {max_frame_bytes}")
        if not data:
            raise ImageError("no image in the request (empty body); send the image bytes or a multipart form "
                             "with a file")
        return data, fields, label

    def describe_upload(data: bytes, crop: bool, label: str):
        from faceapi.gallery import describe_face

        return describe_face(analyzer, data, crop=crop, label=label)

    @app.get("/api/people", tags=["people"])
    async def people_list() -> Response:
        """Everyone in the gallery, by name: id, name, created (ISO 8601 UTC), number of descriptors."""
        try:
            g = need_gallery()
            people = await asyncio.to_thread(g.people)
        except Exception as exc:  # noqa: BLE001 - gallery_error re-raises what it does not map
            return gallery_error(exc)
        return JSONResponse({"people": [p.to_dict() for p in people], "count": len(people)})

    @app.post("/api/people", tags=["people"], status_code=201, responses={
        201: {"description": "the person after enrolment, with how many descriptors were added"},
        400: {"description": "not an image"}, 413: {"description": "body over the size limit"},
        422: {"description": "no face or several faces (`faces` says how many), or a bad name"},
        503: {"description": "no gallery, or model weights missing"}})
    async def people_enrol(request: Request) -> JSONResponse:
        """Enrol the one face of an image under ``name``: the raw body with ``?name=``, or a multipart form
        with a file and ``name`` (field or query). ``crop=true``: the image is a face crop already
        (described whole, no detection). An existing name gets one more sample."""
        try:
            g = need_gallery()
            data, fields, label = await read_face_image(request)
            q = request.query_params
            name = fields.get("name", q.get("name"))
            if name is None or not name.strip():
                raise GalleryError("give the person's name: ?name=... (or a 'name' form field)")
            crop = _parse_bool("crop", fields.get("crop", q.get("crop", "false")))
            from faceapi.gallery import check_name

            clean = check_name(name)
            described = await in_pool(describe_upload, data, crop, label)
            result = await asyncio.to_thread(g.enrol, clean, [described.descriptor], [described.sha256])
        except _BodyTooLarge as exc:
            return error_body(str(exc), 413)
        except Exception as exc:  # noqa: BLE001
            return gallery_error(exc)
        return JSONResponse(result.to_dict(), status_code=201)

    @app.post("/api/people/match", tags=["people"])
    async def people_match(request: Request) -> JSONResponse:
        """Who is the one face of this image? ``{"match": {label, distance}}`` ("unknown" when nobody is
        within ``distance_threshold``). ``crop=true`` for a face crop; ``strategy=mean|nearest``."""
        try:
            g = need_gallery()
            q = request.query_params
            rec = Recognition.parse(q.get("distance_threshold"), q.get("strategy"))
            data, fields, label = await read_face_image(request)
            crop = _parse_bool("crop", fields.get("crop", q.get("crop", "false")))
            described = await in_pool(describe_upload, data, crop, label)
            match = g.matcher(rec.distance_threshold, rec.strategy).match_descriptors(
                described.descriptor[None, :])[0]
        except _BodyTooLarge as exc:
            return error_body(str(exc), 413)
        except Exception as exc:  # noqa: BLE001
            return gallery_error(exc)
        return JSONResponse({"match": match.to_dict(), **rec.to_dict()})

    @app.get("/api/people/export", tags=["people"])
    async def people_export() -> Response:
        """The whole gallery as JSON (the format of ``faceapi people export``; import it elsewhere)."""
        try:
            data = await asyncio.to_thread(need_gallery().export_json)
        except Exception as exc:  # noqa: BLE001
            return gallery_error(exc)
        return JSONResponse(data, headers={"Content-Disposition": 'attachment; filename="faceapi-gallery.json"'})

    @app.post("/api/people/import", tags=["people"])
    async def people_import(request: Request, replace: bool = False) -> JSONResponse:
        """Merge people from a JSON body (a gallery export, or face-api.js's ``FaceMatcher.toJSON()``);
        ``replace=true`` empties the gallery first. All or nothing; answers with counts."""
        try:
            g = need_gallery()
            body = await _read_body(request, MAX_IMPORT_BYTES)
            try:
                payload = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return error_body(f"body is not valid JSON: {exc}", 400)
            counts = await asyncio.to_thread(g.import_json, payload, replace=replace)
        except _BodyTooLarge as exc:
            return error_body(str(exc).replace(" (server option --max-frame-bytes)", ""), 413)
        except Exception as exc:  # noqa: BLE001
            return gallery_error(exc)
        return JSONResponse(counts)

    @app.get("/api/people/{name:path}", tags=["people"])
    async def people_get(name: str) -> JSONResponse:
        """One person (any case); 404 when unknown."""
        try:
            person = await asyncio.to_thread(need_gallery().person, name)
        except Exception as exc:  # noqa: BLE001
            return gallery_error(exc)
        return JSONResponse(person.to_dict())

    @app.delete("/api/people/{name:path}", tags=["people"])
    async def people_remove(name: str) -> JSONResponse:
        """Remove a person and all their descriptors; answers with who was removed (404 when unknown)."""
        try:
            person = await asyncio.to_thread(need_gallery().remove, name)
        except Exception as exc:  # noqa: BLE001
            return gallery_error(exc)
        return JSONResponse({"removed": person.to_dict()})

    @app.patch("/api/people/{name:path}", tags=["people"])
    async def people_rename(name: str, request: Request) -> JSONResponse:
        """Rename: body ``{"name": "new name"}``. 404 unknown, 409 when the new name is taken."""
        try:
            g = need_gallery()
            body = await _read_body(request, MAX_SETTINGS_BYTES)
            try:
                payload = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return error_body(f"body is not valid JSON: {exc}; send {{\"name\": \"new name\"}}", 400)
            if not isinstance(payload, dict) or "name" not in payload:
                return error_body('body must be a JSON object {"name": "new name"}', 400)
            person = await asyncio.to_thread(g.rename, name, payload["name"])
        except _BodyTooLarge:
            return error_body(f"body over {MAX_SETTINGS_BYTES} bytes", 413)
        except Exception as exc:  # noqa: BLE001
            return gallery_error(exc)
        return JSONResponse(person.to_dict())

    @app.websocket("/ws/stream")
    async def stream(ws: WebSocket) -> None:
        if not _origin_allowed(ws.headers.get("origin"), ws.headers.get("host"), allowed):
            log.warning("refused WebSocket from origin %s", ws.headers.get("origin"))
            await ws.close(code=1008)  # before accept: the handshake is answered with HTTP 403
            return
        await ws.accept()
        app.state.clients += 1
        options, recognize = stream_options({})
        next_id = 1
        try:
            await ws.send_json({"type": "hello", "version": __version__, "max_frame_bytes": max_frame_bytes,
                                "settings": options.to_dict(), "loaded": analyzer.loaded,
                                "recognition": recognition_available()})
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    return
                text, data = msg.get("text"), msg.get("bytes")
                if text is not None:
                    reply, new = _handle_text(text, stream_options)
                    if new is not None:
                        if new[0] == "settings":
                            options, recognize = new[1]
                        elif new[0] == "frame":
                            next_id = new[1]
                    if reply is not None:
                        await ws.send_json(reply)
                    continue
                if data is None:
                    continue
                frame_id, next_id = next_id, next_id + 1
                t0 = time.perf_counter()
                if len(data) > max_frame_bytes:
                    await ws.send_json({"type": "error", "frame": frame_id,
                                        "error": f"frame is {len(data)} bytes, over the limit of "
                                                 f"{max_frame_bytes} (server option --max-frame-bytes)"})
                    continue
                if not data:
                    await ws.send_json({"type": "error", "frame": frame_id, "error": "empty frame (0 bytes)"})
                    continue
                queued = [0.0]

                def job(data=data, options=options, recognize=recognize, queued=queued, t0=t0):
                    queued[0] = (time.perf_counter() - t0) * 1000
                    return run_analysis(data, options, recognize)

                try:
                    result = await in_pool(job)
                except (ImageError, OptionsError, ModelError) as exc:
                    err: dict[str, Any] = {"type": "error", "frame": frame_id, "error": str(exc)}
                    if isinstance(exc, ModelError):
                        err["command"] = "faceapi models download"
                    await ws.send_json(err)
                    continue
                except Exception:  # noqa: BLE001 - one bad frame must not end the stream
                    log.exception("frame %s failed", frame_id)
                    await ws.send_json({"type": "error", "frame": frame_id,
                                        "error": "internal error while analysing the frame (see server log)"})
                    continue
                out = result.to_dict(descriptors=False)
                out["timings_ms"]["queue"] = round(queued[0], 3)
                out["timings_ms"]["server_total"] = round((time.perf_counter() - t0) * 1000, 3)
                await ws.send_json({"type": "result", "frame": frame_id, **out})
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the client left (maybe mid-frame): nothing to clean up but the counter
        finally:
            app.state.clients -= 1

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _handle_text(text: str, validate) -> tuple[dict | None, tuple | None]:
    """One text message of the stream: (reply, change), change = ("settings", (opts, rec)) | ("frame", id)."""
    if len(text.encode("utf-8", "replace")) > MAX_SETTINGS_BYTES:
        return {"type": "error", "error": f"text message over {MAX_SETTINGS_BYTES} bytes"}, None
    try:
        msg = json.loads(text)
    except json.JSONDecodeError as exc:
        return {"type": "error", "error": f"message is not valid JSON: {exc}"}, None
    if not isinstance(msg, dict):
        return {"type": "error", "error": "message must be a JSON object with a 'type'"}, None
    kind = msg.get("type", "settings")
    if kind == "settings":
        try:
            opts, recognize = validate({k: v for k, v in msg.items() if k != "type"})
        except OptionsError as exc:
            return {"type": "error", "error": f"settings refused: {exc}"}, None
        settings = {**opts.to_dict(), "recognize": recognize is not None,
                    **(recognize or Recognition()).to_dict()}
        return ({"type": "settings", "ok": True, "settings": settings, "nets": FaceAnalyzer.nets_for(opts)},
                ("settings", (opts, recognize)))
    if kind == "frame":
        fid = msg.get("id")
        if not isinstance(fid, int) or isinstance(fid, bool):
            return {"type": "error", "error": f"frame id must be an integer, got {fid!r}"}, None
        return None, ("frame", fid)
    if kind == "ping":
        return {"type": "pong"}, None
    return {"type": "error", "error": f"unknown message type {kind!r}; expected settings, frame or ping"}, None


def _annotated(analyzer: FaceAnalyzer, data: bytes, options: AnalyzeOptions, fmt: str, matcher=None) -> bytes:
    from faceapi.draw import annotate
    from faceapi.image import load_image

    image = load_image(data, analyzer.max_pixels)
    result = analyzer.analyze(image, options, matcher=matcher)
    out = io.BytesIO()
    im = annotate(image, result)
    if fmt == "png":
        im.save(out, format="PNG")
    else:
        im.convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()
