"""``/ws/stream``: the WebSocket of the live page. The protocol (messages and their handling) is in
`faceapi.server.stream`; this router accepts the connection (the access middleware has refused the ones
without the token or from other sites) and moves messages."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from faceapi.server.context import ServerContext
from faceapi.server.stream import StreamSession

log = logging.getLogger("faceapi.server")

router = APIRouter()


@router.websocket("/ws/stream")
async def stream(ws: WebSocket) -> None:
    # host, token and origin were checked at the handshake by faceapi.server.security.AccessMiddleware
    ctx: ServerContext = ws.app.state.ctx
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
