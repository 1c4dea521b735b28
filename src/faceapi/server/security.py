"""Who may use the server. Today: the WebSocket's origin policy (browsers' cross-site pages are refused at
the handshake). Request-wide checks (host allow-list, token, same-origin writes, limits) are middleware,
installed in one place: `faceapi.server.app.middleware_stack`."""

from __future__ import annotations

from urllib.parse import urlsplit

#: Loopback names a page of this server may be opened with (same port).
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def origin_allowed(origin: str | None, host: str | None, allowed: frozenset[str]) -> bool:
    """Same-origin (Origin host:port == Host), a loopback name on the same port, or listed in `allowed`
    (``"*"``: any). No Origin header: not a browser, accepted (origin checks protect browsers' users)."""
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
    return o.hostname in LOOPBACK and h.hostname in LOOPBACK and o_port == h_port
