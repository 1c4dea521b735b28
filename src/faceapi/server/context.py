"""What every route works with: one `ServerContext` per app (``app.state.ctx``), given to routes by the
`get_ctx` dependency (HTTP) or read from the WebSocket's app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request

from faceapi.pipeline import FaceAnalyzer
from faceapi.server.connections import ConnectionGuard
from faceapi.server.decoding import DecodePool
from faceapi.server.errors import GalleryUnavailable
from faceapi.server.models_state import ModelLoader, VerifyCache
from faceapi.server.security import AccessPolicy

if TYPE_CHECKING:
    from faceapi.gallery import GalleryStore

T = TypeVar("T")


@dataclass
class ServerContext:
    """The analyzer, the gallery, the limits, the access policy and the thread pools of one app.

    Inference runs in `pool` (`inference_threads` threads), never on the event loop; model loading in the
    loader's own thread; uploads are decoded by `decoder`'s worker processes (`faceapi.server.decoding`).
    `clients` counts open stream connections (shown by /api/health); `connections`
    accounts for the server's connections and requests in flight (`faceapi.server.connections`). `phone_url` is
    the address (with the token) a phone on the LAN opens, when serving with ``--lan``; `replica` the Ray
    Serve replica's id (``faceapi serve --ray``, `faceapi.server.ray_serve`), None for a lone server.
    """

    analyzer: FaceAnalyzer
    gallery: GalleryStore | None
    max_frame_bytes: int
    access: AccessPolicy
    inference_threads: int
    phone_url: str | None = None
    replica: str | None = None
    loader: ModelLoader = field(init=False)
    verify_cache: VerifyCache = field(default_factory=VerifyCache)
    connections: ConnectionGuard = field(default_factory=ConnectionGuard)
    pool: ThreadPoolExecutor = field(init=False)
    decoder: DecodePool = field(default_factory=DecodePool)
    clients: int = 0

    def __post_init__(self) -> None:
        self.loader = ModelLoader(self.analyzer)
        self.pool = ThreadPoolExecutor(max_workers=self.inference_threads, thread_name_prefix="faceapi-infer")

    @property
    def recognition_available(self) -> bool:
        return self.gallery is not None

    def need_gallery(self) -> GalleryStore:
        """The gallery, or GalleryUnavailable (503) on a server without one."""
        if self.gallery is None:
            raise GalleryUnavailable()
        return self.gallery

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in the inference pool."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.loader.shutdown()
        self.decoder.close()


def get_ctx(request: Request) -> ServerContext:
    """FastAPI dependency: the app's context."""
    ctx: ServerContext = request.app.state.ctx
    return ctx
