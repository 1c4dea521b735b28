"""``/ws/stream``: the WebSocket of the live page. The protocol (messages and their handling) is in
`faceapi.server.stream`; this router accepts or refuses the connection and moves messages."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from faceapi.server.context import ServerContext
from faceapi.server.stream import StreamSession

log = logging.getLogger("faceapi.server")

router = APIRouter()

#: Loopback names a page of this server may be opened with (same port).
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def origin_allowed(origin: str | None, host: str | None, allowed: frozenset[str]) -> bool:
    """Same-origin (Origin host:port == Host), a loopback name on the same port, or listed in `allowed`
    (``"*"``: any). No Origin header: not a browser, accepted (origin checks protect browsers' users).
    Goes when `faceapi.server.security.AccessMiddleware` is installed (it checks handshakes' origins)."""
    if origin is None:
        return True
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
    return o.hostname in _LOOPBACK and h.hostname in _LOOPBACK and o_port == h_port


@router.websocket("/ws/stream")
async def stream(ws: WebSocket) -> None:
    ctx: ServerContext = ws.app.state.ctx
    if not origin_allowed(ws.headers.get("origin"), ws.headers.get("host"), ctx.allowed_origins):
        log.warning("refused WebSocket from origin %s", ws.headers.get("origin"))
        await ws.close(code=1008)  # before accept: the handshake is answered with HTTP 403
        return
    await ws.accept()
    ctx.clients += 1
    session = StreamSession(ctx)
    try:
        await ws.send_json(session.hello())
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            text, data = msg.get("text"), msg.get("bytes")
            if text is not None:
                reply = session.handle_text(text)
                if reply is not None:
                    await ws.send_json(reply)
            elif data is not None:
                await ws.send_json(await session.handle_frame(data))  # one frame in flight: answered first
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the client left (maybe mid-frame): nothing to clean up but the counter
    finally:
        ctx.clients -= 1
