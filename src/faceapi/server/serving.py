"""How the app is served: the uvicorn configuration with the connection limits, used by ``faceapi serve``,
the tests and the benchmarks alike (so what is tested is what runs).

The limits, and why:

- HTTP/1.1 by h11 (pure Python; its request-head limit is enforced, `MAX_HEAD_BYTES`) with a deadline for
  a request's head (`HEAD_TIMEOUT_S`): uvicorn has none, so a client that opens a connection and sends
  nothing, or a header a byte at a time, would hold it for ever and, with ``limit_concurrency``, lock
  everybody out. `GuardedH11Protocol` closes such connections.
- Connections are counted by `faceapi.server.connections.ConnectionGuard`, not by uvicorn's
  ``limit_concurrency`` (which counted connections that had sent nothing, so idle sockets without the token
  locked everybody out): anonymous connections are capped per address and closed to make room, requests
  with the token keep their own share. Idle keep-alive connections are closed after `KEEP_ALIVE_S`; a TLS
  handshake must finish within `TLS_HANDSHAKE_TIMEOUT_S` (`GuardedServer`; asyncio's default is 60 s).
- WebSocket (websockets' sans-I/O implementation): compression off (a small compressed message could
  expand to megabytes), messages at most the frame limit plus `WS_SLACK_BYTES` (a frame a little over the
  limit gets an error message and the connection stays open; a far larger one closes it, 1009); the
  server stops reading while a message waits to be handled (back-pressure); pings every 20 s close dead
  connections.
- Request bodies: read with a size and time limit where they are read (`faceapi.server.uploads`).
- uvicorn's access log is off: it prints paths with people's names and query strings with tokens. The
  access middleware writes a redacted line instead (logger ``faceapi.access``).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import socket
from typing import TYPE_CHECKING, Any

import h11
import uvicorn
from uvicorn.config import LOGGING_CONFIG, Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from faceapi.server.connections import ConnectionGuard

if TYPE_CHECKING:
    from fastapi import FastAPI

#: A request's line and headers must arrive within this many seconds of the connection opening (or of
#: the first byte of the next request on a kept-alive connection).
HEAD_TIMEOUT_S = 5.0
#: A TLS handshake must finish within this many seconds of the connection opening.
TLS_HANDSHAKE_TIMEOUT_S = 5.0
#: Largest request head (request line and headers), bytes.
MAX_HEAD_BYTES = 32 * 1024
#: Idle keep-alive connections are closed after this many seconds.
KEEP_ALIVE_S = 5
#: A WebSocket message may exceed the frame limit by this much before the connection is closed.
WS_SLACK_BYTES = 64 * 1024


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head (see the module's doc)."""

    head_timeout_s: float = HEAD_TIMEOUT_S
    guard: ConnectionGuard | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(self.head_timeout_s, self._head_overdue)
        if self.guard is not None and not self.guard.opened(self.client, (self.client or ("?",))[0], self):
            self.transport.close()  # over the connection caps, with no idle anonymous connection to close

    def idle(self) -> bool:
        """No request is being read or answered on this (HTTP, not upgraded) connection."""
        return (self.transport.get_protocol() is self and self.conn.their_state is h11.IDLE
                and not self.conn.trailing_data[0] and (self.cycle is None or self.cycle.response_complete))

    def close(self) -> None:
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._head_too_large(data):
            return
        super().data_received(data)
        waiting = self.conn.their_state is h11.IDLE
        if not waiting:
            self._stop_head_timer()
        elif self._head_timer is None and self.conn.trailing_data[0]:
            # the first bytes of another request on a kept-alive connection: its head has a deadline too
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_overdue)

    def _head_too_large(self, data: bytes) -> bool:
        """Refuse (431) a request head over `MAX_HEAD_BYTES`: h11's own limit holds only while a head is
        incomplete, so a large head that arrives in one read would pass it."""
        buffered = self.conn.trailing_data[0] + data
        end = buffered.find(b"\r\n\r\n")
        if (end if end >= 0 else len(buffered)) <= MAX_HEAD_BYTES:
            return False
        body = f"request head over {MAX_HEAD_BYTES} bytes".encode()
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
                             b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.transport.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        if self.guard is not None:
            self.guard.closed(self.client)
        super().connection_lost(exc)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # closed, or upgraded to a WebSocket
        if self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete):
            self.logger.debug("closing a connection whose request head did not arrive in %s s", self.head_timeout_s)
            self.transport.close()


class GuardedWSProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, telling the guard when an upgraded connection ends (the HTTP protocol
    it replaced no longer hears of it)."""

    guard: ConnectionGuard | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.guard is not None:
            self.guard.closed(self.client)
        super().connection_lost(exc)


class GuardedServer(uvicorn.Server):
    """uvicorn's server with a deadline on TLS handshakes (uvicorn passes none, so asyncio's 60 s held a
    connection that never finished its handshake)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        if self.config.ssl is None:
            await super().startup(sockets=sockets)
            return
        loop.create_server = functools.partial(  # type: ignore[method-assign]
            loop.create_server, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S)
        try:
            await super().startup(sockets=sockets)
        finally:
            del loop.create_server  # the instance attribute set above: back to the loop's method


class DropWebSocketPathLines(logging.Filter):
    """Drops uvicorn's own ``"WebSocket /path?query" [accepted]`` lines: they print the query (the token of
    ``/ws/stream?token=``). The access middleware logs each handshake, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith('%s - "WebSocket %s"'))


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging configuration plus faceapi's loggers (the redacted access log among them)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"no_websocket_paths": {"()": DropWebSocketPathLines}}
    config["loggers"]["uvicorn.error"] = {**config["loggers"]["uvicorn.error"], "filters": ["no_websocket_paths"]}
    config["loggers"]["faceapi"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def uvicorn_config(app: FastAPI, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
                   ssl_certfile: str | None = None, ssl_keyfile: str | None = None,
                   head_timeout_s: float = HEAD_TIMEOUT_S) -> Config:
    """The uvicorn configuration serving `app` (made by `faceapi.server.create_app`) with the limits above
    (`head_timeout_s`: the request-head deadline; tests shorten it). Serve it with `GuardedServer`."""
    max_frame_bytes: int = app.state.ctx.max_frame_bytes
    guard: ConnectionGuard = app.state.ctx.connections  # the access middleware tells it who has the token
    protocol = type("GuardedH11Protocol", (GuardedH11Protocol,), {"head_timeout_s": head_timeout_s, "guard": guard})
    ws_protocol = type("GuardedWSProtocol", (GuardedWSProtocol,), {"guard": guard})
    return Config(
        app, host=host, port=port, log_level=log_level, log_config=log_config(log_level), access_log=False,
        ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile,
        http=protocol, h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=KEEP_ALIVE_S,
        ws=ws_protocol, ws_max_size=max_frame_bytes + WS_SLACK_BYTES, ws_per_message_deflate=False,
        ws_ping_interval=20.0, ws_ping_timeout=20.0,
        server_header=False, proxy_headers=False,
    )
