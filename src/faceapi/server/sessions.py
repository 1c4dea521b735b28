"""Browser sessions: the value of the session cookie the page gets by opening ``/?token=TOKEN``.

The value is random per session and signed, never derived from the token alone:
``v1.<session id>.<issued ms>.<seen ms>.<HMAC-SHA256>``, the MAC keyed by the server's session secret and
the token. So

- any process holding the same secret and token checks it (several replicas behind Ray Serve accept each
  other's cookies) without a shared table;
- a server restarted without ``FACEAPI_SESSION_SECRET`` has a new random secret: every cookie of the last
  run stops working (set the variable, 32 characters or more, to keep sessions across restarts and to
  share them between replicas);
- a new token ends every session too (it is part of the key);
- a session ends ``idle_s`` after its last use (``seen``, renewed on use: `renew`) and ``absolute_s`` after
  it began (``issued``, never renewed), whatever happens; both are checked here, not left to the browser;
- `revoke` (``POST /api/logout``) ends a session by id, every renewed value of it included. Revocations are
  kept in a `RevocationStore`: by default a bounded set in this process (`MemoryRevocations`), so on several
  replicas a logout holds on the replica that answered it unless they share a store (the protocol is two
  methods: a gallery database can back it).

Configuration, read by `SessionManager.from_env` (``faceapi serve`` and every replica read the same):
``FACEAPI_SESSION_SECRET``, ``FACEAPI_SESSION_IDLE_S`` (default 12 h), ``FACEAPI_SESSION_MAX_S`` (default 7 days).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from faceapi.errors import FaceApiError

DEFAULT_IDLE_S = 12 * 3600.0
DEFAULT_ABSOLUTE_S = 7 * 86400.0
#: A shared secret shorter than this is refused (it is the key of every session).
MIN_SECRET_CHARS = 32
#: Revocations kept in memory before the store gives up remembering them one by one and ends every
#: session begun so far instead (see `MemoryRevocations`): a logout is never forgotten.
MAX_REVOCATIONS = 10_000
ENV_SECRET = "FACEAPI_SESSION_SECRET"
ENV_IDLE = "FACEAPI_SESSION_IDLE_S"
ENV_ABSOLUTE = "FACEAPI_SESSION_MAX_S"
_VERSION = "v1"
_MAX_VALUE_CHARS = 200


@dataclass(frozen=True)
class Session:
    """A checked session cookie: its id, when it began and when it was last renewed (epoch ms)."""

    id: str
    issued_ms: int
    seen_ms: int


class RevocationStore(Protocol):
    """Where ended sessions are remembered until they would have expired anyway."""

    def revoke(self, session_id: str, until_ms: int) -> None:
        """Remember that `session_id` ended; it could not have lived past `until_ms` in any case."""

    def is_revoked(self, session: Session) -> bool:
        """Whether `session` was ended."""


class MemoryRevocations:
    """Revoked session ids in this process, each kept until the session would have expired anyway.

    Bounded: past `max_entries` live revocations (only authenticated clients can add any) the store ends
    every session issued so far (``not_before``) and forgets the list, so memory stays bounded and no
    logout is undone; the people still using the page open its address again."""

    def __init__(self, max_entries: int = MAX_REVOCATIONS, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self.not_before_ms = -1
        self._until: dict[str, int] = {}
        self._lock = threading.Lock()

    def revoke(self, session_id: str, until_ms: int) -> None:
        now_ms = int(self.clock() * 1000)
        with self._lock:
            self._until = {sid: t for sid, t in self._until.items() if t > now_ms}
            if len(self._until) >= self.max_entries:
                self.not_before_ms = now_ms  # every session begun up to this millisecond
                self._until.clear()
            else:
                self._until[session_id] = until_ms

    def is_revoked(self, session: Session) -> bool:
        with self._lock:
            return session.issued_ms <= self.not_before_ms or session.id in self._until


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SessionManager:
    """Issues, checks, renews and revokes session cookie values (see the module's doc).

    Args:
        secret: the signing secret (bytes, or a string of at least `MIN_SECRET_CHARS`); None: random, so
            the sessions of this manager end with it.
        idle_s: a session unused this long has ended.
        absolute_s: a session this old has ended, however much it is used.
        token: the server's token, mixed into the key (a new token ends every session).
        revocations: where logouts are remembered (default: `MemoryRevocations`).
    """

    def __init__(self, secret: bytes | str | None = None, idle_s: float = DEFAULT_IDLE_S,
                 absolute_s: float = DEFAULT_ABSOLUTE_S, *, token: str | None = None,
                 revocations: RevocationStore | None = None, clock: Callable[[], float] = time.time) -> None:
        if not (0 < idle_s <= absolute_s):
            raise ValueError(f"session lifetimes: need 0 < idle ({idle_s}) <= absolute ({absolute_s})")
        if isinstance(secret, str):
            if len(secret) < MIN_SECRET_CHARS:
                raise ValueError(f"the session secret needs at least {MIN_SECRET_CHARS} characters")
            secret = secret.encode()
        self.persistent = secret is not None
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.idle_s = float(idle_s)
        self.absolute_s = float(absolute_s)
        self.clock = clock
        self.revocations: RevocationStore = revocations if revocations is not None else MemoryRevocations(clock=clock)
        self._key = self._derive(token)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, token: str | None = None,
                 revocations: RevocationStore | None = None) -> SessionManager:
        """A manager configured by ``FACEAPI_SESSION_SECRET``, ``FACEAPI_SESSION_IDLE_S`` and
        ``FACEAPI_SESSION_MAX_S`` (FaceApiError for a bad value: the server refuses to start)."""
        env = os.environ if environ is None else environ

        def seconds(name: str, default: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise FaceApiError(f"${name}: {raw!r} is not a number of seconds") from None
            if not 0 < value < 10 * 365 * 86400:
                raise FaceApiError(f"${name}: {raw!r} is not a positive number of seconds (under 10 years)")
            return value

        idle = seconds(ENV_IDLE, DEFAULT_IDLE_S)
        absolute = seconds(ENV_ABSOLUTE, max(DEFAULT_ABSOLUTE_S, idle))
        secret = env.get(ENV_SECRET) or None
        if secret is not None and len(secret) < MIN_SECRET_CHARS:
            raise FaceApiError(f"${ENV_SECRET}: use at least {MIN_SECRET_CHARS} characters "
                               f"(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
        try:
            return cls(secret, idle, absolute, token=token, revocations=revocations)
        except ValueError as exc:
            raise FaceApiError(f"${ENV_IDLE} / ${ENV_ABSOLUTE}: {exc}") from None

    def for_token(self, token: str | None) -> SessionManager:
        """This manager (same secret, lifetimes and revocations) keyed for `token`."""
        other = SessionManager(self._secret, self.idle_s, self.absolute_s, token=token,
                               revocations=self.revocations, clock=self.clock)
        other.persistent = self.persistent
        return other

    def _derive(self, token: str | None) -> bytes:
        return hmac.new(self._secret, b"faceapi session key v1\0" + (token or "").encode(), hashlib.sha256).digest()

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def _value(self, session_id: str, issued_ms: int, seen_ms: int) -> str:
        body = f"{_VERSION}.{session_id}.{issued_ms}.{seen_ms}"
        return f"{body}.{self._mac(body)}"

    @property
    def refresh_after_s(self) -> float:
        """A value last renewed longer ago than this is renewed on use (`renew`): a quarter of the idle
        time, at most 5 minutes (a Set-Cookie now and then, not on every answer)."""
        return min(300.0, self.idle_s / 4)

    def issue(self) -> str:
        """The value of a new session's cookie."""
        now_ms = int(self.clock() * 1000)
        return self._value(_b64(secrets.token_bytes(16)), now_ms, now_ms)

    def session(self, value: str | None) -> Session | None:
        """The live session `value` is the cookie of; None for a forged, malformed, expired or revoked one."""
        if not value or len(value) > _MAX_VALUE_CHARS:
            return None
        parts = value.split(".")
        if len(parts) != 5 or parts[0] != _VERSION or not (parts[2].isdigit() and parts[3].isdigit()):
            return None
        body = value.rsplit(".", 1)[0]
        if not hmac.compare_digest(parts[4].encode("ascii", "replace"), self._mac(body).encode("ascii")):
            return None
        found = Session(parts[1], int(parts[2]), int(parts[3]))
        now_ms = int(self.clock() * 1000)
        if not (found.issued_ms <= found.seen_ms <= now_ms + 60_000):  # a minute of clock skew between replicas
            return None
        if now_ms - found.seen_ms > self.idle_s * 1000 or now_ms - found.issued_ms > self.absolute_s * 1000:
            return None
        if self.revocations.is_revoked(found):
            return None
        return found

    def check(self, value: str | None) -> bool:
        """Whether `value` is the cookie of a live session."""
        return self.session(value) is not None

    def renew(self, value: str | None) -> str | None:
        """A new value of the same session, last seen now, when `value` is live and due for renewal
        (`refresh_after_s`); None otherwise. The absolute expiry does not move."""
        found = self.session(value)
        now_ms = int(self.clock() * 1000)
        if found is None or now_ms - found.seen_ms < self.refresh_after_s * 1000:
            return None
        return self._value(found.id, found.issued_ms, now_ms)

    def revoke(self, value: str | None) -> bool:
        """End the session `value` belongs to (every value of it); False when it was not a live session."""
        found = self.session(value)
        if found is None:
            return False
        self.revocations.revoke(found.id, found.issued_ms + int(self.absolute_s * 1000))
        return True
