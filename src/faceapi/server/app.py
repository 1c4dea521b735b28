"""The web app: a static page, a REST API and the `/ws/stream` WebSocket, over one `FaceAnalyzer`.

`create_app` builds it from the parts, each in its own module:

- ``context.py`` - `ServerContext`: the analyzer, the gallery, the limits, the inference pool.
- ``errors.py`` - the one table from errors to HTTP statuses and ``{"error": ...}`` bodies.
- ``params.py`` - the options routes declare (listed in /openapi.json) and the one conversion of request
  options into `AnalyzeOptions` (REST and stream alike).
- ``uploads.py`` - the one upload reader (raw body or multipart file, with size limits).
- ``decoding.py`` - `DecodePool`: uploads decoded in worker processes under a CPU budget; `run_for_client`.
- ``models_state.py`` - background model loading (one load at a time; waiters share its completion).
- ``stream.py`` - `StreamSession`: one stream connection's settings and messages.
- ``security.py`` - the access policy (host allow-list, token, origins, security headers, the redacted
  access log) as ASGI middleware, installed in `middleware_stack`: every request and WebSocket handshake
  passes it before any route.
- ``serving.py`` - the uvicorn configuration with the connection limits (`uvicorn_config`).
- ``tls.py`` - the cached self-signed certificate and the phone's QR code (``faceapi serve --https/--lan``).
- ``routers/`` - service (page, health, phone), analyze, people, models, stream.

Access (see `faceapi.server.security`): every route but ``GET /api/health`` needs the token (``Authorization:
Bearer TOKEN``, the session cookie set by opening ``/?token=TOKEN``, or ``?token=`` on the WebSocket):
401 without it. Requests for a host name not allowed are refused (DNS rebinding), and state-changing
requests and WebSocket handshakes from other sites (``Origin``, ``Sec-Fetch-Site``) get 403.

Inference and model loading run in the server's process, off the event loop, in a bounded pool of
`inference_threads` threads (one more for loading), so a slow frame never stalls other clients. Uploads
(analyze, enrol, match) are decoded in a few worker processes under a CPU budget, abandoned when the client
leaves (``decoding.py``); stream frames of up to 2 megapixels are decoded in the inference thread (their
cost bounded by the structural checks of `faceapi.image.check_structure`), larger ones by the workers.
Nothing a client sends is written to disk: frames and uploads are read into memory (with a size limit)
and decoded there.

REST
----
- ``GET /api/health`` - ``{"status": "ok"}`` without the token; with it also ``version``, ``loaded``,
  ``clients``, ``recognition``, ``access`` (what the access policy allows), ``phone`` (serving on the LAN),
  ``database`` (``"ok"``, ``"unreachable"``: the gallery's database does not answer, enrolments get 503;
  null without a gallery) and ``replica`` (the replica's id under ``faceapi serve --ray``, else null).
- ``GET /api/phone`` - serving with ``--lan``: ``{"url", "qr_svg"}``, the address a phone opens (with the
  token) and its QR code as SVG; 404 otherwise.
- ``GET /api/models`` - every net: its ``name``, ``label`` (human name), model files, whether they
  are ``available`` (present), ``verified`` (SHA-256 as pinned) and ``loaded``; plus the state of the last load request.
- ``POST /api/models/load`` - body ``{"nets": [...]}`` or ``{"settings": {...}}`` (the nets those
  settings need; default: all). Loads in the background and answers 202 at once with the load state
  (poll ``GET /api/models`` for per-net progress); ``?wait=true`` answers when done (200, or 503 with
  the error, e.g. which command fetches missing weights).
- ``POST /api/analyze`` - an image as the raw body or as the file of a multipart form; options
  in the query as in the CLI (``detector=tiny&input_size=416&min_score=0.5&max_results=100&landmarks=full&
  expressions=true&age_gender=true&descriptors=false&single=false``; each declared with its limits in
  /openapi.json) -> the engine's JSON; ``?annotate=true`` -> the annotated image (JPEG; ``&format=png``
  for PNG); ``?recognize=true`` (with ``distance_threshold=0.6`` and ``match_strategy=mean|nearest``, also
  accepted as ``strategy``) matches every face against the gallery: each face gets
  ``match: {label, distance}`` (400 when the server has no gallery).
  The body's Content-Type is an image type, ``application/octet-stream`` or ``multipart/form-data``.
  Errors: 400 (not an image, bad option, too many pixels), 413 (body over ``max_frame_bytes``),
  415 (another Content-Type), 503 (weights missing), always as ``{"error": "..."}``.
- ``GET /docs`` - OpenAPI docs (Swagger UI served by this server: works offline); ``GET /`` - the page.

People (the gallery; 503 on a server started with ``--no-gallery``)
-------------------------------------------------------------------
- ``GET /api/people`` - ``{"people": [{id, name, created, descriptors}], "count"}``, by name.
- ``POST /api/people?name=Amy[&crop=true][&append=true[&force=true]]`` - enrol the one face of an image (raw
  body, or a multipart form with a file and optional ``name``/``crop``/``append``/``force`` fields): 201 with
  the person and ``added``/``skipped``. An existing name is refused (409) unless ``append=true``; a sample
  farther than the match threshold from that person's samples is refused (409, saying the distance) unless
  ``force=true``. 422 when the image shows no face or several (the body has ``faces``: how many were
  found), or the name is bad; 400 for a bad image, 413 over ``max_frame_bytes``.
  Described in the inference pool, with SSD MobileNetV1 + 68 landmarks as ``faceapi people add``;
  ``crop=true`` describes the whole image (a face crop already).
- ``POST /api/people/match[?crop=true&distance_threshold=0.6&strategy=mean]`` (``match_strategy`` is
  ``strategy``) - who is the one face of an image? ``{"match": {label, distance}}``; the same errors as enrolment.
- ``GET /api/people/{name}`` - one person (404 unknown); ``DELETE /api/people/{name}`` - remove (404);
  ``PATCH /api/people/{name}`` with ``{"name": new}`` - rename (404 unknown, 409 taken, 422 bad name).
- ``GET /api/people/export`` - the gallery as JSON (``faceapi people export``'s format);
  ``POST /api/people/import[?replace=true]`` - merge such a JSON (or a face-api.js FaceMatcher JSON). Both
  export and ``replace=true`` need the token itself (``Authorization: Bearer``): 403 with the cookie alone.
- ``POST /api/logout`` - end the session of the cookie sent (``{"ended": bool}``; the cookie is cleared).

WebSocket ``/ws/stream``
------------------------
Open it with the session cookie (the page) or ``?token=TOKEN``. Text messages are JSON objects (at most
4 KB), binary messages are encoded image frames (JPEG; at most ``max_frame_bytes``; a message far over it
closes the connection, 1009; compression is off). The server first sends ``{"type": "hello", "version",
"max_frame_bytes", "settings", "loaded", "recognition"}``. Then (handled by `faceapi.server.stream.StreamSession`):

- client ``{"type": "settings", "detector": "tiny", "input_size": 416, "min_score": 0.5,
  "landmarks": "full", "expressions": true, "age_gender": false, "recognize": false,
  "distance_threshold": 0.6, "strategy": "mean"}`` (any subset; ``match_strategy`` is ``strategy``;
  missing keys take the defaults shown) -> ``{"type": "settings", "ok": true, "settings": {...},
  "nets": [...]}`` or ``{"type": "error", "error": reason}`` (the previous settings stay in force).
  Settings may change at any time; they apply from the next frame.
- client ``{"type": "frame", "id": N}`` (optional) names the next binary frame; otherwise the server
  numbers frames itself, 1, 2, 3, ... per connection (after a named frame, counting goes on from it).
- client binary frame -> ``{"type": "result", "frame": N, "image": {width, height}, "faces": [...],
  "timings_ms": {decode, detect, ..., recognize, total, queue, server_total}}`` (the JSON and timing keys
  of ``POST /api/analyze`` and ``faceapi analyze`` for the same options) with coordinates in the frame's
  pixels, or ``{"type": "error", "frame": N, "error": reason}`` for a bad frame. The connection stays
  open after every error.
- client ``{"type": "ping"}`` -> ``{"type": "pong"}``.

One frame in flight per client: the client sends the next frame when the answer to the previous one
has arrived, so nothing queues (frames sent early are answered in order). Handshakes whose ``Origin``
is neither this server (same host and port, or a loopback name with the same port) nor in
``allowed_origins`` are refused (HTTP 403); without the token, 401. Clients without an ``Origin`` (not
browsers) need the token all the same.

Recognition: ``create_app(gallery=...)`` (``app.state.ctx.gallery``; ``faceapi serve`` opens the default
gallery unless ``--no-gallery``). Without one, a ``recognize`` setting is refused. With one,
``recognize`` turns descriptors on and every face gets a ``match`` ({label, distance}; distance is
null when the gallery is empty), computed in the inference pool; the page shows the names.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware import Middleware

from faceapi import __version__
from faceapi.pipeline import FaceAnalyzer
from faceapi.server.context import ServerContext
from faceapi.server.decoding import DecodePool
from faceapi.server.errors import install_error_handlers
from faceapi.server.routers import analyze, models, people, service, stream
from faceapi.server.routers.service import STATIC_DIR
from faceapi.server.security import AccessMiddleware, AccessPolicy, new_token, normalise_origins

if TYPE_CHECKING:
    from faceapi.gallery import GalleryStore



def _fastapi(**kwargs: Any) -> FastAPI:
    """FastAPI serving Swagger UI and ReDoc from the package, not from a CDN (/docs works offline)."""
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:  # pragma: no cover - the server extra installs it
        return FastAPI(**kwargs)
    return FastAPIOffline(**kwargs)


def middleware_stack(ctx: ServerContext) -> list[Middleware]:
    """The request-wide checks, outermost first: the one place where host, token and origin checks are
    installed (body sizes are checked where bodies are read, `faceapi.server.uploads`)."""
    return [Middleware(AccessMiddleware, policy=ctx.access, guard=ctx.connections)]


def create_app(analyzer: FaceAnalyzer | None = None, *, max_frame_bytes: int = 2_000_000,
               allowed_origins: Sequence[str] = (), inference_threads: int = 2,
               gallery: GalleryStore | None = None, access: AccessPolicy | None = None,
               phone_url: str | None = None, decoder: DecodePool | None = None,
               replica: str | None = None) -> FastAPI:
    """Build the web app around `analyzer` (a new `FaceAnalyzer()` when None).

    Args:
        gallery: a `faceapi.gallery.GalleryStore` (SQLite or PostgreSQL) for recognition and the /api/people
            endpoints (None: no recognition, and /api/people answers 503).
        max_frame_bytes: largest frame or upload accepted (bytes); larger ones get a 413 / an error.
        allowed_origins: extra browser origins (``"https://host:port"``, or ``"*"``) allowed to write and
            to open the WebSocket (added to `access`'s); same-origin and loopback pages of this server
            always are.
        inference_threads: threads running inference (each also uses onnxruntime's own threads).
        access: who may talk to the server (`faceapi.server.security.AccessPolicy`). None: a new random
            token (read it from ``app.state.ctx.access.token``), loopback host names only.
        phone_url: the address a phone on the LAN opens (``faceapi serve --lan``), served by /api/phone.
        decoder: the worker processes decoding uploads (`faceapi.server.decoding.DecodePool`; None: the
            default's two workers and 2 s CPU budget), started with the app.
        replica: this server's replica id among several (``faceapi serve --ray``), shown by /api/health and the
            stream's hello.
    """
    if max_frame_bytes < 1:
        raise ValueError(f"max_frame_bytes must be positive, got {max_frame_bytes}")
    if inference_threads < 1:
        raise ValueError(f"inference_threads must be >= 1, got {inference_threads}")
    access = access or AccessPolicy(token=new_token())
    if allowed_origins:
        access = replace(access, allowed_origins=access.allowed_origins | normalise_origins(allowed_origins))
    ctx = ServerContext(analyzer=analyzer or FaceAnalyzer(), gallery=gallery, max_frame_bytes=max_frame_bytes,
                        access=access, inference_threads=inference_threads, phone_url=phone_url,
                        decoder=decoder or DecodePool(), replica=replica)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(ctx.decoder.start)  # once, before the first request
        try:
            yield
        finally:
            ctx.shutdown()

    app = _fastapi(
        title="faceapi", version=__version__, lifespan=lifespan, middleware=middleware_stack(ctx),
        description="face-api.js's nets in Python: analyse images (REST) and webcam streams (WebSocket "
                    "`/ws/stream`, see the module docstring of faceapi.server.app for the protocol).",
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    for router in (service.router, analyze.router, people.router, models.router, stream.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
