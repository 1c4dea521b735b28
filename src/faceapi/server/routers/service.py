"""The page (``GET /``), ``GET /api/health``, ``GET /api/phone`` and ``POST /api/logout``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from faceapi import __version__
from faceapi.server.context import ServerContext, get_ctx
from faceapi.server.errors import NotOnTheLan
from faceapi.server.security import describe

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    # the security headers (CSP, nosniff, Referrer-Policy) are added to every HTML answer by AccessMiddleware
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/api/health", tags=["service"])
async def health(request: Request, ctx: Annotated[ServerContext, Depends(get_ctx)]) -> dict[str, Any]:
    """Liveness. Without the token only ``{"status": "ok"}``; with it also the version, the loaded nets,
    the number of open stream connections, whether recognition is on, what the access policy allows and
    whether the server serves phones on the LAN (``phone``: GET /api/phone has the address), whether the
    gallery's database answers (``database``: "ok", "unreachable", null without a gallery) and, among Ray
    Serve replicas, which one answered (``replica``)."""
    if not getattr(request.state, "authenticated", False):
        return {"status": "ok"}
    gallery = ctx.gallery
    database = None if gallery is None else ("ok" if await asyncio.to_thread(gallery.reachable) else "unreachable")
    return {"status": "ok", "version": __version__, "loaded": ctx.analyzer.loaded,
            "clients": ctx.clients, "recognition": ctx.recognition_available, "access": describe(ctx.access),
            "phone": ctx.phone_url is not None, "database": database, "replica": ctx.replica}


@router.head("/api/health", include_in_schema=False)
async def health_head() -> Response:
    """``HEAD /api/health``: up or not, for monitors that ask with HEAD (was 405)."""
    return Response(status_code=200, media_type="application/json")


@router.get("/api/phone", tags=["service"], responses={
    404: {"description": "the server was not started with --lan"}})
async def phone(ctx: Annotated[ServerContext, Depends(get_ctx)]) -> dict[str, str]:
    """Serving on the LAN (``faceapi serve --lan``): the address a phone opens (the machine's LAN address,
    with the token) and its QR code as SVG, for the page to show."""
    if ctx.phone_url is None:
        raise NotOnTheLan("this server does not serve phones on the LAN (start it with `faceapi serve --lan`)")
    from faceapi.server.tls import qr_svg

    return {"url": ctx.phone_url, "qr_svg": await asyncio.to_thread(qr_svg, ctx.phone_url)}


@router.post("/api/logout", tags=["service"])
async def logout(request: Request, ctx: Annotated[ServerContext, Depends(get_ctx)]) -> JSONResponse:
    """End this browser's session: its cookie (every renewed value of it) stops working at once and the
    browser is told to drop it. ``{"ended": true}`` when the request carried a live session cookie (a
    Bearer client has none to end: ``false``). On several replicas without a shared revocation store the
    logout holds on the replica that answered (see `faceapi.server.sessions`)."""
    port = (request.scope.get("server") or (None, None))[1]  # as the middleware names the cookie
    ended, cookie = ctx.access.end_session(request.headers, port, request.scope.get("scheme") == "https")
    return JSONResponse({"ended": ended}, headers={"set-cookie": cookie})
