"""The service's front door: every HTTP request and WebSocket handshake passes here before any route.

Modelled on how Jupyter protects its local server, because this one holds biometric data (people's face
descriptors) and drives a webcam page:

1. **Host allow-list** (DNS rebinding): the ``Host`` header must name a loopback address or ``localhost``,
   the address the server is bound to, or a name given with ``--allow-host``. A page on an attacker's
   domain that rebinds its name to 127.0.0.1 sends its own name as Host and is refused, whatever it holds.
2. **Token**: a request is authenticated by ``Authorization: Bearer <token>``, by the session cookie that
   opening the page with ``?token=...`` sets (HttpOnly, SameSite=Strict; the page is then redirected to
   its address without the token), or, for the first page load and the WebSocket only, the ``token``
   query parameter. Tokens are compared in constant time. Only ``GET /api/health`` answers without one
   (and then says only whether the service is up).
3. **No cross-site writes**: a state-changing request (POST, PUT, PATCH, DELETE) or a WebSocket handshake
   whose ``Origin`` is present and is neither this server's own origin nor an ``--allow-origin``, or that
   carries ``Sec-Fetch-Site: cross-site``, is refused (403). The Host check above makes "own origin"
   trustworthy: it is built from a Host that is known to be ours.
4. **Headers**: every HTTP response carries ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy:
   no-referrer``; every HTML response a CSP with ``frame-ancestors 'none'`` (the page's strict one, or the
   API docs' one, which needs inline script).

The middleware is plain ASGI, so it runs before routing, for routes, static files, docs and the
WebSocket alike; routes see ``request.state.authenticated``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("faceapi.server")

#: CSP of the page: nothing is fetched from anywhere but this server, and no one may frame it.
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
            "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: CSP of the offline API docs (Swagger UI / ReDoc start from an inline script; still nothing external).
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Paths answered without a token (each says nothing a stranger may not know).
PUBLIC_PATHS = frozenset({"/api/health"})
#: Paths opened by a person in a browser: a valid ``?token=`` there sets the cookie and redirects.
PAGE_PATHS = frozenset({"/", "/index.html", "/static/index.html", *DOCS_PATHS})


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def is_loopback_host(host: str) -> bool:
    """``localhost`` (and ``*.localhost``, which resolvers must keep on loopback), 127.0.0.0/8 or ::1."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> str | None:
    """The host name of a ``Host`` header value (``name``, ``name:port``, ``[v6]:port``), lowercased;
    None when it is not a well-formed host."""
    try:
        parts = urlsplit("//" + value)
        name = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return None
    if not name or any(c in value for c in "/?#@\\ "):
        return None
    return name.lower().rstrip(".")


@dataclass(frozen=True)
class AccessPolicy:
    """Who may talk to this server.

    Args:
        token: the secret; None only when the server listens on loopback alone (``--no-token``).
        allowed_hosts: host names / addresses accepted in ``Host`` besides loopback ones (the bound
            address, the machine's LAN names for ``--lan``, each ``--allow-host``); lowercase.
        allowed_origins: browser origins (``scheme://host[:port]``) allowed to write and to open the
            WebSocket besides this server's own; ``"*"`` allows any (only for development).
        cookie_name: the session cookie's name; it includes the port, because cookies are shared by every
            port of a host and two servers must not overwrite each other's.
        secure_cookie: mark the cookie ``Secure`` (served over HTTPS).
    """

    token: str | None
    allowed_hosts: frozenset[str] = frozenset()
    allowed_origins: frozenset[str] = frozenset()
    cookie_name: str = "faceapi_session"
    secure_cookie: bool = False

    @classmethod
    def build(cls, token: str | None, *, port: int, https: bool, bound_hosts: Iterable[str] = (),
              allow_hosts: Iterable[str] = (), allow_origins: Iterable[str] = ()) -> AccessPolicy:
        hosts = {h.lower().strip("[]").rstrip(".") for h in [*bound_hosts, *allow_hosts] if h}
        hosts -= {"0.0.0.0", "::", ""}
        return cls(token=token, allowed_hosts=frozenset(hosts),
                   allowed_origins=frozenset(o.rstrip("/").lower() for o in allow_origins),
                   cookie_name=f"faceapi_session_{port}", secure_cookie=https)

    @property
    def session_value(self) -> str | None:
        """The cookie's value: derived from the token (not the token itself), so it is stable across
        restarts with the same token and worthless once the token changes."""
        if self.token is None:
            return None
        return hmac.new(self.token.encode(), b"faceapi session cookie v1", hashlib.sha256).hexdigest()

    # -- the checks --------------------------------------------------------------------------------------
    def host_allowed(self, host: str) -> bool:
        return is_loopback_host(host) or host in self.allowed_hosts

    def origin_allowed(self, origin: str, scheme: str, host_header: str) -> bool:
        """`origin` is this server's own (built from the already-checked Host) or an allowed one."""
        origin = origin.rstrip("/").lower()
        if "*" in self.allowed_origins or origin in self.allowed_origins:
            return True
        if origin == "null":
            return False
        own = urlsplit(f"{scheme}://{host_header.lower()}")
        theirs = urlsplit(origin)
        try:
            default = 443 if scheme == "https" else 80
            return (theirs.scheme == own.scheme and theirs.hostname == own.hostname
                    and (theirs.port or default) == (own.port or default))
        except ValueError:
            return False

    def token_matches(self, candidate: str | None) -> bool:
        return (self.token is not None and candidate is not None
                and hmac.compare_digest(candidate.encode(), self.token.encode()))

    def cookie_matches(self, candidate: str | None) -> bool:
        expected = self.session_value
        return (expected is not None and candidate is not None
                and hmac.compare_digest(candidate.encode(), expected.encode()))


class AccessMiddleware:
    """Applies an `AccessPolicy` to every HTTP request and WebSocket handshake (see the module's doc)."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        websocket = scope["type"] == "websocket"
        headers = Headers(scope=scope)
        policy = self.policy
        path: str = scope.get("path", "")
        method: str = "GET" if websocket else scope.get("method", "GET")

        host_header = headers.get("host", "")
        host = split_host(host_header) if host_header else None
        if host is None or not policy.host_allowed(host):
            log.warning("refused a request for host %r", host_header[:100])
            await self._deny(scope, send, 403 if host else 400,
                             "this server does not answer to that host name (start it with --allow-host NAME "
                             "to allow one)")
            return

        if websocket or method in STATE_CHANGING:
            origin = headers.get("origin")
            scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
            if headers.get("sec-fetch-site", "").lower() == "cross-site" or (
                    origin is not None and not policy.origin_allowed(origin, scheme, host_header)):
                log.warning("refused a cross-site %s %s", method, path)
                await self._deny(scope, send, 403, "cross-site request refused (allow an origin with --allow-origin)")
                return

        query = scope.get("query_string", b"").decode("latin-1")
        query_token = next((v for k, v in parse_qsl(query, keep_blank_values=True) if k == "token"), None)
        authenticated = policy.token is None or self._authenticated(headers, policy)
        via_query = False
        if not authenticated and query_token is not None and (websocket or path in PAGE_PATHS) and method == "GET":
            authenticated = via_query = policy.token_matches(query_token)
        scope.setdefault("state", {})["authenticated"] = authenticated
        if not authenticated and not (path in PUBLIC_PATHS and method == "GET"):
            await self._deny(scope, send, 401, "authentication required: open the URL with the token that "
                                               "`faceapi serve` printed, or send 'Authorization: Bearer TOKEN'")
            return
        if via_query and not websocket:
            await self._redirect_with_cookie(scope, send, path, query)
            return
        if websocket:
            await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, self._with_headers(send, path))

    @staticmethod
    def _authenticated(headers: Headers, policy: AccessPolicy) -> bool:
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and policy.token_matches(auth[7:].strip()):
            return True
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == policy.cookie_name and policy.cookie_matches(value):
                return True
        return False

    async def _redirect_with_cookie(self, scope: Scope, send: Send, path: str, query: str) -> None:
        """First page load with ``?token=``: set the session cookie and show the address without it."""
        rest = urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "token"])
        location = path + (f"?{rest}" if rest else "")
        value = self.policy.session_value or ""
        cookie = f"{self.policy.cookie_name}={value}; Path=/; HttpOnly; SameSite=Strict"
        if self.policy.secure_cookie:
            cookie += "; Secure"
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode("latin-1")),
            (b"cache-control", b"no-store"), (b"content-length", b"0"), *_BASE_HEADERS]})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _deny(scope: Scope, send: Send, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"cache-control", b"no-store"), *_BASE_HEADERS]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="faceapi"'))
        if scope["type"] == "websocket":
            if "websocket.http.response" in scope.get("extensions", {}):
                await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
                await send({"type": "websocket.http.response.body", "body": body})
            else:  # the server answers a refused handshake with 403
                await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _with_headers(send: Send, path: str) -> Send:
        """`send`, adding the security headers to the response start (and a CSP to HTML)."""

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                names = {k.lower() for k, _ in raw}
                extra: list[tuple[bytes, bytes]] = [h for h in _BASE_HEADERS if h[0] not in names]
                content_type = next((v for k, v in raw if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html") and b"content-security-policy" not in names:
                    csp = DOCS_CSP if path.startswith(DOCS_PATHS) else PAGE_CSP
                    extra.append((b"content-security-policy", csp.encode()))
                message = {**message, "headers": raw + extra}
            await send(message)

        return wrapped


_BASE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def describe(policy: AccessPolicy) -> dict[str, Any]:
    """What the policy allows, for logs and `/api/health` with a token (never the token itself)."""
    return {"token_required": policy.token is not None, "allowed_hosts": sorted(policy.allowed_hosts),
            "allowed_origins": sorted(policy.allowed_origins)}
