"""``/ws/stream``: the WebSocket of the live page. The protocol (messages and their handling) is in
`faceapi.server.stream`; this router accepts the connection (the access middleware has refused the ones
without the token or from other sites) and moves messages."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from faceapi.server.context import ServerContext
from faceapi.server.stream import StreamSession

log = logging.getLogger("faceapi.server")

router = APIRouter()


def answer_text(reply: dict[str, Any]) -> str:
    """A reply as JSON text, and the one check that no number in it is NaN or infinite (a browser cannot
    parse those; REST answers get the same check from Starlette's JSONResponse, ``allow_nan=False``): such a
    reply becomes an error message for its frame, and the server log says so."""
    try:
        return json.dumps(reply, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        log.error("a %s answer held a non-finite number; sent an error instead", reply.get("type"))
        error = {"type": "error", "error": "internal error: the answer held a number that is not finite "
                                           "(see the server log)"}
        if "frame" in reply:
            error["frame"] = reply["frame"]
        return json.dumps(error)


@router.websocket("/ws/stream")
async def stream(ws: WebSocket) -> None:
    # host, token and origin were checked at the handshake by faceapi.server.security.AccessMiddleware
    ctx: ServerContext = ws.app.state.ctx
    await ws.accept()
    ctx.clients += 1
    session = StreamSession(ctx)
    ahead: asyncio.Future[Any] | None = None  # the message read while a frame was analysed
    try:
        await ws.send_text(answer_text(session.hello()))
        while True:
            msg = await (ahead if ahead is not None else ws.receive())
            ahead = None
            if msg["type"] == "websocket.disconnect":
                return
            text, data = msg.get("text"), msg.get("bytes")
            if text is not None:
                reply = session.handle_text(text)
                if reply is not None:
                    await ws.send_text(answer_text(reply))
            elif data is not None:
                # one frame in flight, answered before the next message is handled; that message is read
                # meanwhile (one, no more: back-pressure stays), so a client that leaves mid-frame has its
                # frame abandoned (a decode worker killed, inference not yet started dropped)
                frame = asyncio.ensure_future(session.handle_frame(data))
                ahead = asyncio.ensure_future(ws.receive())
                await asyncio.wait({frame, ahead}, return_when=asyncio.FIRST_COMPLETED)
                if ahead.done() and not ahead.cancelled() and ahead.exception() is None \
                        and ahead.result()["type"] == "websocket.disconnect" and not frame.done():
                    frame.cancel()
                    return
                await ws.send_text(answer_text(await frame))
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the client left (maybe mid-frame): nothing to clean up but the counter
    finally:
        if ahead is not None and not ahead.done():
            ahead.cancel()
        ctx.clients -= 1
