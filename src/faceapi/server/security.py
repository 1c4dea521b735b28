"""The service's front door: every HTTP request and WebSocket handshake passes here before any route.

Modelled on how Jupyter protects its local server, because this one holds biometric data (people's face
descriptors) and drives a webcam page:

1. **Host allow-list** (DNS rebinding): the ``Host`` header must name a loopback address or ``localhost``,
   the address the server is bound to, or a name given with ``--allow-host``; a server bound to all
   interfaces also answers to its host names and to any IP address (a rebinding attack needs a DNS name:
   a page whose origin is an IP address of this machine is this server's own page). A page on an
   attacker's domain that rebinds its name to 127.0.0.1 sends its own name as Host and is refused,
   whatever it holds (even a stolen cookie or token).
2. **Token**: a request is authenticated by ``Authorization: Bearer <token>``, by the session cookie that
   opening a page with ``?token=...`` sets (a random signed session, `faceapi.server.sessions`: it expires
   when idle and at an absolute age, ends at ``POST /api/logout`` and when the server restarts; HttpOnly,
   SameSite=Strict, over HTTPS ``__Host-`` and Secure; the browser is then redirected to the address without
   the token), or, for the first page load and the WebSocket only, the ``token`` query parameter. Tokens
   are compared in constant time. Only ``GET /api/health`` answers without one, and then says only whether
   the service is up. A server without a token (``--no-token``) answers only connections that arrive on a
   loopback address. Routes see how a request was authenticated in ``request.state.auth`` (`AUTH_TOKEN`,
   `AUTH_COOKIE`, `AUTH_OPEN`); the most destructive ones need the token itself (`require_token`).
3. **No cross-site writes**: a state-changing request (POST, PUT, PATCH, DELETE) or a WebSocket handshake
   whose ``Origin`` is present and is neither this server's own origin nor an ``--allow-origin``, or that
   carries ``Sec-Fetch-Site: cross-site`` from an origin not allowed, is refused (403). The Host check
   makes "own origin" trustworthy: it is built from a Host that is known to be ours. CORS headers are sent
   only to ``--allow-origin`` origins (never with credentials: cookies are not for other sites; such a page
   sends the token as a Bearer header).
4. **Headers**: every HTTP response carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy:
   no-referrer`` and ``X-Frame-Options: DENY``; every HTML response a CSP with ``frame-ancestors 'none'``
   (the page's strict one, or the API docs' one, which needs inline script); API answers ``Cache-Control:
   no-store`` (they may hold descriptors).
5. **Access log**: one line per request, written here instead of uvicorn's (which prints the path and the
   query: people's names and tokens). Names in ``/api/people/{name}`` and every query string are redacted.

The middleware is plain ASGI, so it runs before routing, for routes, static files, docs and the
WebSocket alike; routes see ``request.state.authenticated``.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import logging
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceapi.server.connections import ConnectionGuard
from faceapi.server.errors import TokenRequired
from faceapi.server.sessions import SessionManager

log = logging.getLogger("faceapi.server")
access_log = logging.getLogger("faceapi.access")

#: CSP of the page: nothing is fetched from anywhere but this server, and no one may frame it.
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
            "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: CSP of the offline API docs (Swagger UI / ReDoc start from an inline script; still nothing external).
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: CSP of the "token needed" page this module writes (a form, no script, no style).
LOGIN_CSP = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
DOCS_PATHS = ("/docs", "/redoc")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Paths answered without a token (each says nothing a stranger may not know).
PUBLIC_PATHS = frozenset({"/api/health"})
#: Paths opened by a person in a browser: a valid ``?token=`` there sets the cookie and redirects.
PAGE_PATHS = frozenset({"/", "/index.html", "/static/index.html", *DOCS_PATHS})
#: Paths under /api/people/ that are routes, not people's names (kept in the access log).
_PEOPLE_ROUTES = frozenset({"export", "import", "match"})
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
#: How a request was authenticated (``request.state.auth``): the token itself (a Bearer header, or ``?token=``
#: on the WebSocket), the session cookie, a server without a token (loopback only), or not at all.
AUTH_TOKEN, AUTH_COOKIE, AUTH_OPEN, AUTH_NONE = "token", "cookie", "open", "none"


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


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def split_host(value: str) -> str | None:
    """The host name of a ``Host`` header value (``name``, ``name:port``, ``[v6]:port``), lowercased;
    None when it is not a well-formed host."""
    if not value or any(c in value for c in "/?#@\\ \t"):
        return None
    try:
        parts = urlsplit("//" + value)
        name = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return None
    if not name:
        return None
    return name.lower().rstrip(".")


def machine_names() -> set[str]:
    """This machine's host names as a browser on the LAN may type them (``name``, ``name.local``, FQDN)."""
    names = set()
    for n in (socket.gethostname(), socket.getfqdn()):
        n = n.lower().rstrip(".")
        if n:
            names.add(n)
            if "." not in n:
                names.add(n + ".local")  # mDNS: how phones and Macs find a machine on the LAN
    return names


def cookie_name(port: int | None, https: bool = False) -> str:
    """The session cookie's name: it includes the port, because cookies are shared by every port of a host
    and two servers on one machine must not overwrite each other's. Over HTTPS it is a ``__Host-`` cookie:
    browsers keep it only when it was set Secure, with ``Path=/`` and no ``Domain``, by an https:// page, so
    a plain-HTTP page of the same host cannot set or shadow it."""
    return f"{'__Host-' if https else ''}faceapi_session_{port or 0}"


def require_token(request: Request, what: str) -> None:
    """TokenRequired (403) unless `request` carries the token itself (or the server has none): for the
    operations that must not be done with a captured session cookie alone."""
    auth = getattr(request.state, "auth", AUTH_NONE)
    if auth not in (AUTH_TOKEN, AUTH_OPEN):
        raise TokenRequired(f"{what} needs the token itself, not only the session cookie: send "
                            "'Authorization: Bearer TOKEN' (the page asks for the token that `faceapi serve` "
                            "printed)")


@dataclass(frozen=True)
class AccessPolicy:
    """Who may talk to this server.

    Args:
        token: the secret; None only when the server listens on loopback alone (``--no-token``).
        allowed_hosts: host names / addresses accepted in ``Host`` besides loopback ones (the bound
            address, the machine's names when bound to all interfaces, each ``--allow-host``); lowercase.
        any_ip_host: accept any IP address as ``Host`` (a server bound to all interfaces: an IP address
            cannot be rebound, see the module's doc).
        allowed_origins: browser origins (``scheme://host[:port]``) allowed to write, to open the WebSocket
            and to read answers (CORS) besides this server's own; ``"*"`` allows any (only for development).
        sessions: the session cookies' issuer and checker (default: configured from the environment,
            `SessionManager.from_env`); keyed for `token` here, so a new token ends every session.
    """

    token: str | None
    allowed_hosts: frozenset[str] = frozenset()
    any_ip_host: bool = False
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    sessions: SessionManager = field(default_factory=SessionManager.from_env, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sessions", self.sessions.for_token(self.token))

    @classmethod
    def build(cls, token: str | None, *, bound_hosts: Iterable[str] = (), allow_hosts: Iterable[str] = (),
              allow_origins: Iterable[str] = (), sessions: SessionManager | None = None) -> AccessPolicy:
        """The policy of a server bound to `bound_hosts` (a wildcard adds the machine's names and any IP)."""
        bound = [h.lower().strip("[]").rstrip(".") for h in bound_hosts]
        wildcard = any(h in _WILDCARD_HOSTS for h in bound)
        hosts = {h for h in bound if h not in _WILDCARD_HOSTS}
        hosts |= {h.lower().strip("[]").rstrip(".") for h in allow_hosts if h.strip()}
        if wildcard:
            hosts |= machine_names()
        return cls(token=token, allowed_hosts=frozenset(hosts), any_ip_host=wildcard,
                   allowed_origins=normalise_origins(allow_origins),
                   sessions=sessions if sessions is not None else SessionManager.from_env())

    # -- the checks --------------------------------------------------------------------------------------
    def host_allowed(self, host: str) -> bool:
        return (is_loopback_host(host) or host in self.allowed_hosts
                or (self.any_ip_host and is_ip_literal(host)))

    def origin_listed(self, origin: str) -> bool:
        """`origin` is one of the ``--allow-origin`` origins (or they include ``*``)."""
        return "*" in self.allowed_origins or origin.rstrip("/").lower() in self.allowed_origins

    def origin_allowed(self, origin: str, scheme: str, host_header: str) -> bool:
        """`origin` is this server's own (built from the already-checked Host; a loopback name of the same
        port counts as own when the Host is a loopback name too) or an allowed one."""
        if self.origin_listed(origin):
            return True
        origin = origin.rstrip("/").lower()
        if origin == "null":
            return False
        try:
            own = urlsplit(f"{scheme}://{host_header.lower()}")
            theirs = urlsplit(origin)
            default = 443 if scheme == "https" else 80
            own_port, their_port = own.port or default, theirs.port or default
        except ValueError:
            return False
        if theirs.scheme != own.scheme or their_port != own_port or not theirs.hostname or not own.hostname:
            return False
        return theirs.hostname == own.hostname or (is_loopback_host(theirs.hostname)
                                                   and is_loopback_host(own.hostname))

    def token_matches(self, candidate: str | None) -> bool:
        return (self.token is not None and candidate is not None
                and hmac.compare_digest(candidate.encode("utf-8", "replace"), self.token.encode()))

    def set_cookie(self, port: int | None, https: bool, value: str, max_age: int | None = None) -> str:
        """A Set-Cookie value for the session cookie (named by `cookie_name`): HttpOnly, SameSite=Strict,
        Path=/, no Domain, Secure over HTTPS; the browser drops it at the session's absolute expiry too."""
        age = int(self.sessions.absolute_s) if max_age is None else max_age
        cookie = f"{cookie_name(port, https)}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={age}"
        return cookie + ("; Secure" if https else "")

    def end_session(self, headers: Headers, port: int | None, https: bool) -> tuple[bool, str]:
        """``POST /api/logout``: end the session whose cookie `headers` carry (on every value of it).
        Returns whether a live session was ended, and the Set-Cookie value that makes the browser drop it."""
        ended = self.sessions.revoke(session_cookie(headers, port, https))
        return ended, self.set_cookie(port, https, "", max_age=0)

    def cookie_matches(self, candidate: str | None) -> bool:
        """`candidate` is the cookie of a live session (a server without a token has no sessions)."""
        return self.token is not None and self.sessions.check(candidate)


def session_cookie(headers: Headers, port: int | None, https: bool) -> str | None:
    """The value of this server's session cookie in a request's ``Cookie`` header, if any."""
    name = cookie_name(port, https)
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def normalise_origins(origins: Iterable[str]) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/").lower() for o in origins if o.strip())


def redacted_path(path: str, query: bytes) -> str:
    """`path` for the access log: a person's name in ``/api/people/{name}`` becomes ``<name>``, and the
    query string (names, tokens) becomes ``?...``."""
    prefix = "/api/people/"
    if path.startswith(prefix) and path[len(prefix):] not in _PEOPLE_ROUTES:
        path = prefix + "<name>"
    return path + ("?..." if query else "")


class AccessMiddleware:
    """Applies an `AccessPolicy` to every HTTP request and WebSocket handshake (see the module's doc)."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy, guard: ConnectionGuard | None = None) -> None:
        self.app = app
        self.policy = policy
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        websocket = scope["type"] == "websocket"
        path: str = scope.get("path", "")
        method: str = "GET" if websocket else scope.get("method", "GET")
        outcome: dict[str, Any] = {"status": None}
        send = self._logged(scope, send, method, path, outcome)
        try:
            await self._handle(scope, receive, send, websocket, path, method)
        finally:
            self._log(scope, method, path, outcome["status"])

    async def _handle(self, scope: Scope, receive: Receive, send: Send, websocket: bool, path: str,
                      method: str) -> None:
        headers = Headers(scope=scope)
        policy = self.policy

        host_header = headers.get("host", "")
        host = split_host(host_header)
        if host is None or not policy.host_allowed(host):
            log.warning("refused a request for host %r", host_header[:100])
            await self._deny(scope, send, 403 if host else 400,
                             "this server does not answer to that host name (start it with --allow-host NAME "
                             "to allow one)")
            return
        if policy.token is None and not is_loopback_host(str((scope.get("server") or ("",))[0])):
            # --no-token is for loopback only; a connection arriving on another address is refused
            await self._deny(scope, send, 403, "this server runs without a token and answers only on loopback")
            return

        origin = headers.get("origin")
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        if method == "OPTIONS" and origin is not None and "access-control-request-method" in headers:
            await self._preflight(scope, send, origin)
            return
        if websocket or method in STATE_CHANGING:
            listed = origin is not None and policy.origin_listed(origin)
            cross_site = headers.get("sec-fetch-site", "").lower() == "cross-site"
            if not listed and (cross_site or (origin is not None
                                              and not policy.origin_allowed(origin, scheme, host_header))):
                log.warning("refused a cross-site %s %s", method, redacted_path(path, b""))
                await self._deny(scope, send, 403, "cross-site request refused (allow an origin with --allow-origin)")
                return

        query = scope.get("query_string", b"").decode("latin-1")
        pairs = parse_qsl(query, keep_blank_values=True)
        query_token = next((v for k, v in pairs if k == "token"), None)
        page = not websocket and method == "GET" and path in PAGE_PATHS
        https = scheme == "https"
        port = (scope.get("server") or (None, None))[1]
        auth, cookie = (AUTH_OPEN, None) if policy.token is None else self._authenticated(headers, policy, port, https)
        if query_token is not None and (websocket or page) and policy.token_matches(query_token):
            if page:  # set the cookie and show the address without the token
                await self._redirect_with_cookie(send, path, pairs, port, https)
                return
            auth = AUTH_TOKEN
        authenticated = auth != AUTH_NONE
        state = scope.setdefault("state", {})
        state["authenticated"] = authenticated
        state["auth"] = auth
        if not authenticated and not (path in PUBLIC_PATHS and method in ("GET", "HEAD")):
            if page:
                await self._login_page(send, path, wrong=query_token is not None)
            else:
                await self._deny(scope, send, 401, "authentication required: open the URL with the token that "
                                                   "`faceapi serve` printed, or send 'Authorization: Bearer TOKEN'")
            return
        guard = self.guard
        if guard is not None:
            if authenticated:
                guard.trust(scope.get("client"))  # this connection is a token holder's now
            if not guard.begin(authenticated):
                await self._deny(scope, send, 503, "too many requests in flight; try again shortly")
                return
        try:
            if websocket:
                await self.app(scope, receive, send)
            else:
                cors = origin if origin is not None and policy.origin_listed(origin) else None
                # a session in use is renewed now and then (its idle expiry moves; its absolute one never)
                renewed = policy.sessions.renew(cookie) if auth == AUTH_COOKIE and path != "/api/logout" else None
                extra = [(b"set-cookie", policy.set_cookie(port, https, renewed).encode("latin-1"))] if renewed else []
                await self.app(scope, receive, self._with_headers(send, path, cors, extra))
        finally:
            if guard is not None:
                guard.end(authenticated)

    @staticmethod
    def _authenticated(headers: Headers, policy: AccessPolicy, port: int | None, https: bool) -> tuple[str, str | None]:
        """How the request is authenticated (`AUTH_TOKEN`, `AUTH_COOKIE` or `AUTH_NONE`) and, for a
        cookie, its value."""
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and policy.token_matches(auth[7:].strip()):
            return AUTH_TOKEN, None
        value = session_cookie(headers, port, https)
        if policy.cookie_matches(value):
            return AUTH_COOKIE, value
        return AUTH_NONE, None

    async def _redirect_with_cookie(self, send: Send, path: str, pairs: list[tuple[str, str]], port: int | None,
                                    https: bool) -> None:
        """First page load with ``?token=``: set a new session's cookie and show the address without the token."""
        rest = urlencode([(k, v) for k, v in pairs if k != "token"])
        location = path + (f"?{rest}" if rest else "")
        cookie = self.policy.set_cookie(port, https, self.policy.sessions.issue())
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", location.encode("latin-1", "replace")), (b"set-cookie", cookie.encode("latin-1")),
            (b"cache-control", b"no-store"), (b"content-length", b"0"), *BASE_HEADERS]})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _login_page(send: Send, path: str, wrong: bool) -> None:
        """A page opened without the token: say where the token is, and let the person paste it (the form
        reloads this page with ``?token=``, which sets the cookie)."""
        note = "That token is not this server's. " if wrong else ""
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            "<title>faceapi: token needed</title><h1>This faceapi server needs its token</h1>"
            f"<p>{note}Open the address that <code>faceapi serve</code> printed (it ends with "
            "<code>?token=...</code>), or paste the token here:</p>"
            f"<form method=get action='{html.escape(path, quote=True)}'><label>Token "
            "<input name=token type=password autocomplete=off required></label> <button>Open</button></form>"
        ).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"), (b"content-security-policy", LOGIN_CSP.encode()), *BASE_HEADERS]})
        await send({"type": "http.response.body", "body": body})

    async def _preflight(self, scope: Scope, send: Send, origin: str) -> None:
        """A CORS preflight: allowed for ``--allow-origin`` origins only (no credentials: the token travels
        as a Bearer header)."""
        if not self.policy.origin_listed(origin):
            await self._deny(scope, send, 403, "cross-origin requests from this origin are not allowed "
                                               "(allow one with --allow-origin)")
            return
        await send({"type": "http.response.start", "status": 204, "headers": [
            (b"access-control-allow-origin", origin.encode("latin-1", "replace")), (b"vary", b"Origin"),
            (b"access-control-allow-methods", b"GET, POST, PATCH, DELETE"),
            (b"access-control-allow-headers", b"Authorization, Content-Type"),
            (b"access-control-max-age", b"600"), *BASE_HEADERS]})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _deny(scope: Scope, send: Send, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"cache-control", b"no-store"), *BASE_HEADERS]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="faceapi"'))
        if scope["type"] == "websocket":
            if "websocket.http.response" in scope.get("extensions", {}):
                await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
                await send({"type": "websocket.http.response.body", "body": body})
            else:  # the server answers a handshake closed before accept with 403
                await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _with_headers(send: Send, path: str, cors_origin: str | None,
                      more: list[tuple[bytes, bytes]] | None = None) -> Send:
        """`send`, adding the security headers to the response start (a CSP to HTML, no-store to the API,
        CORS headers for an allowed origin) and `more`."""

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                names = {k.lower() for k, _ in raw}
                extra: list[tuple[bytes, bytes]] = [h for h in BASE_HEADERS if h[0] not in names] + (more or [])
                content_type = next((v for k, v in raw if k.lower() == b"content-type"), b"")
                if content_type.lower().startswith(b"text/html"):
                    raw = [(k, v) for k, v in raw if k.lower() != b"content-security-policy"]
                    csp = DOCS_CSP if path.startswith(DOCS_PATHS) else PAGE_CSP
                    extra.append((b"content-security-policy", csp.encode()))
                if path.startswith("/api/") and b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                if cors_origin is not None:
                    extra += [(b"access-control-allow-origin", cors_origin.encode("latin-1", "replace")),
                              (b"vary", b"Origin")]
                message = {**message, "headers": raw + extra}
            await send(message)

        return wrapped

    @staticmethod
    def _logged(scope: Scope, send: Send, method: str, path: str, outcome: dict[str, Any]) -> Send:
        """`send`, noting the answer's status for the access log."""

        async def wrapped(message: Message) -> None:
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                outcome["status"] = message.get("status")
            elif kind == "websocket.accept":
                outcome["status"] = 101
            elif kind == "websocket.close" and outcome["status"] is None:
                outcome["status"] = 403
            await send(message)

        return wrapped

    @staticmethod
    def _log(scope: Scope, method: str, path: str, status: int | None) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        client = scope.get("client")
        who = f"{client[0]}:{client[1]}" if client else "-"
        kind = "WebSocket" if scope["type"] == "websocket" else method
        access_log.info('%s - "%s %s" %s', who, kind, redacted_path(path, scope.get("query_string", b"")),
                        status if status is not None else "-")


BASE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def describe(policy: AccessPolicy) -> dict[str, Any]:
    """What the policy allows, for `/api/health` with a token (never the token itself)."""
    return {"token_required": policy.token is not None, "allowed_hosts": sorted(policy.allowed_hosts),
            "any_ip_host": policy.any_ip_host, "allowed_origins": sorted(policy.allowed_origins)}
