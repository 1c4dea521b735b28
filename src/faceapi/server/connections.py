"""Connection accounting: who holds the server's connections, so a client without the token cannot lock out
the ones with it (issue 19).

uvicorn's ``limit_concurrency`` counts every open connection, including ones that have sent nothing: about
520 idle sockets, re-opened as their head deadline closed them, made 39 of 41 authenticated requests answer
503. Here a connection is *anonymous* until one of its requests carries the token (the access middleware
says so: `ConnectionGuard.trust`), and then *trusted* for its life. The rules:

- Anonymous connections never count against the requests of trusted ones. Each address may hold
  `MAX_ANONYMOUS_PER_ADDRESS` of them; past that, a new connection from the address closes that address's
  oldest idle anonymous connection (one older than `EVICT_AFTER_S`, so a client that has just connected
  has the time to send its request). Loopback clients (all of this machine's processes) and each LAN
  address are held to it alike.
- Every address may hold at most `MAX_PER_ADDRESS` connections and the server `MAX_CONNECTIONS`; at either
  cap an idle anonymous connection is closed to make room (the address's own first, then anyone's), and
  only when none can be is the new connection closed.
- Requests in flight: trusted ones up to `MAX_REQUESTS` (WebSockets included), anonymous ones (only
  ``GET /api/health`` gets past the middleware without the token) up to `MAX_ANONYMOUS_REQUESTS`: a share
  that anonymous clients cannot take from the others. Past either, 503.
- A request head must arrive within the head deadline (`faceapi.server.serving.HEAD_TIMEOUT_S`), a TLS
  handshake within `faceapi.server.serving.TLS_HANDSHAKE_TIMEOUT_S` (a connection whose handshake is not
  finished is not seen here: asyncio has not handed it to the HTTP protocol yet; the deadline bounds it).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

#: Open connections in all, and from one address (anonymous and trusted).
MAX_CONNECTIONS = 4096
MAX_PER_ADDRESS = 1024
#: Anonymous connections one address keeps before its oldest idle one is closed for a new one.
MAX_ANONYMOUS_PER_ADDRESS = 64
#: An anonymous connection younger than this is not closed to make room (it may be about to send).
EVICT_AFTER_S = 0.5
#: Requests in flight (WebSockets included): with the token, and without it.
MAX_REQUESTS = 512
MAX_ANONYMOUS_REQUESTS = 64


class Closable(Protocol):
    """What the guard needs of a connection's protocol."""

    def idle(self) -> bool:
        """No request is being read or answered (closing it loses nothing)."""

    def close(self) -> None:
        """Close the connection."""


@dataclass
class _Entry:
    conn: Closable
    address: str
    opened: float
    trusted: bool = False


@dataclass
class ConnectionGuard:
    """The server's open connections by address and kind, and the requests in flight (see the module doc).
    Used from the event loop only (no locks)."""

    max_connections: int = MAX_CONNECTIONS
    max_per_address: int = MAX_PER_ADDRESS
    max_anonymous_per_address: int = MAX_ANONYMOUS_PER_ADDRESS
    evict_after_s: float = EVICT_AFTER_S
    max_requests: int = MAX_REQUESTS
    max_anonymous_requests: int = MAX_ANONYMOUS_REQUESTS
    _entries: dict[object, _Entry] = field(default_factory=dict)
    #: per address, its anonymous connections, oldest first
    _anonymous: dict[str, OrderedDict[object, _Entry]] = field(default_factory=dict)
    _per_address: dict[str, int] = field(default_factory=dict)
    in_flight: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})
    evicted: int = 0
    refused: int = 0

    # -- connections ---------------------------------------------------------------------------------------
    def opened(self, key: object, address: str, conn: Closable) -> bool:
        """A new connection `key` from `address`; False: over the caps with nothing to close, close it."""
        now = time.monotonic()
        if len(self._anonymous.get(address, ())) >= self.max_anonymous_per_address:
            self._evict_one(now, address)
        if self._per_address.get(address, 0) >= self.max_per_address and not self._evict_one(now, address):
            self.refused += 1
            return False
        if len(self._entries) >= self.max_connections and not (self._evict_one(now, address)
                                                               or self._evict_one(now, None)):
            self.refused += 1
            return False
        entry = _Entry(conn, address, now)
        self._entries[key] = entry
        self._anonymous.setdefault(address, OrderedDict())[key] = entry
        self._per_address[address] = self._per_address.get(address, 0) + 1
        return True

    def trust(self, key: object) -> None:
        """A request on connection `key` carried the token: it is no longer anonymous."""
        entry = self._entries.get(key)
        if entry is None or entry.trusted:
            return
        entry.trusted = True
        self._drop_anonymous(key, entry.address)

    def closed(self, key: object) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._drop_anonymous(key, entry.address)
        left = self._per_address.get(entry.address, 1) - 1
        if left > 0:
            self._per_address[entry.address] = left
        else:
            self._per_address.pop(entry.address, None)

    def counts(self) -> dict[str, int]:
        """Open connections (all, anonymous), requests in flight, and how many were closed or refused."""
        return {"open": len(self._entries), "anonymous": sum(len(a) for a in self._anonymous.values()),
                "requests": self.in_flight[True], "anonymous_requests": self.in_flight[False],
                "evicted": self.evicted, "refused": self.refused}

    def _drop_anonymous(self, key: object, address: str) -> None:
        pool = self._anonymous.get(address)
        if pool is not None:
            pool.pop(key, None)
            if not pool:
                del self._anonymous[address]

    def _evict_one(self, now: float, address: str | None) -> bool:
        """Close the oldest idle anonymous connection old enough to lose (of `address`, None: of any)."""
        pools = [self._anonymous.get(address)] if address is not None else list(self._anonymous.values())
        best: tuple[object, _Entry] | None = None
        for pool in pools:
            for key, entry in (pool or {}).items():  # oldest first: the first idle one is the pool's oldest
                if now - entry.opened < self.evict_after_s:
                    break
                if entry.conn.idle():
                    if best is None or entry.opened < best[1].opened:
                        best = (key, entry)
                    break
        if best is None:
            return False
        key, entry = best
        self.closed(key)
        self.evicted += 1
        entry.conn.close()
        return True

    # -- requests ------------------------------------------------------------------------------------------
    def begin(self, authenticated: bool) -> bool:
        """A request (or WebSocket) starts; False: its share is full (answer 503)."""
        limit = self.max_requests if authenticated else self.max_anonymous_requests
        if self.in_flight[authenticated] >= limit:
            return False
        self.in_flight[authenticated] += 1
        return True

    def end(self, authenticated: bool) -> None:
        self.in_flight[authenticated] -= 1
