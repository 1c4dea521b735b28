"""The page (``GET /``) and ``GET /api/health``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from faceapi import __version__
from faceapi.server.context import ServerContext, get_ctx

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

#: CSP of the page: nothing is fetched from anywhere but this server.
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
            "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")

router = APIRouter()


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={
        "Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


@router.get("/api/health", tags=["service"])
async def health(ctx: Annotated[ServerContext, Depends(get_ctx)]) -> dict[str, Any]:
    """Liveness: version, loaded nets, the number of open stream connections, whether recognition is on."""
    return {"status": "ok", "version": __version__, "loaded": ctx.analyzer.loaded,
            "clients": ctx.clients, "recognition": ctx.recognition_available}
