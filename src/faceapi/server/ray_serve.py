"""`faceapi serve --ray ADDRESS --replicas N`: the web app (page, REST, WebSocket) as a Ray Serve deployment
of N replicas behind Serve's proxy, every replica on one PostgreSQL gallery.

Each replica builds the same app as ``faceapi serve`` (`faceapi.server.create_app`) in its own process:
its own `FaceAnalyzer` (every net loaded before the replica takes traffic: a connection may land on any
replica) and its own inference threads, and its own connection to the gallery, whose change version it
polls (`faceapi.gallery.postgres`), so a person enrolled through one replica is recognised by the others
within the poll interval. A WebSocket stays on the replica it was routed to; a new connection may land on
any (the page reconnects after a replica is lost).

Secrets: the token and the session-cookie secret (`ReplicaSecrets`: the driver's ``$FACEAPI_SESSION_SECRET``,
else one made for the deployment) reach every replica as a constructor argument, the same values on every
replica, so a token or a cookie is valid whichever replica answers; the replica puts them in its own
environment (`TOKEN_ENV`, `SESSION_SECRET_ENV`, where `faceapi.server.sessions` reads its secret). Not in
the runtime environment's ``env_vars``: Ray's runtime-env agent writes those to its log in clear. Ray keeps
constructor arguments (pickled) in its control store, which its token authentication guards; the tests
check that no log of the cluster holds the token.

Through Serve's proxy (a uvicorn of Ray's) the replicas see the client's own request: its ``Host``,
``Origin``, ``Sec-Fetch-Site``, cookies and address (``scope["client"]``), so the access middleware
applies every rule of the single server, and bodies are streamed to the replica, where the upload reader
applies the size limits. What the proxy does not do as `faceapi.server.serving` does (its uvicorn has
Ray's defaults): no request-head deadline, WebSocket messages up to 16 MiB reach the replica (which
refuses frames over ``--max-frame-bytes`` with an error message), and connections are not counted per
address: `faceapi.server.connections.ConnectionGuard` sees no connections in a replica, only the requests
in flight (each replica keeps its own token holders' and anonymous shares). docs/scale-out.md says what to
put in front of the proxy for those.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from faceapi.errors import FaceApiError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from faceapi.engine.runtime import RuntimeConfig

log = logging.getLogger("faceapi.server")

#: The environment variables carrying the secrets to every replica (see the module's doc).
TOKEN_ENV = "FACEAPI_TOKEN"
SESSION_SECRET_ENV = "FACEAPI_SESSION_SECRET"
#: The Serve application and deployment names (the replicas' actors are named after them).
APP_NAME = "faceapi"
DEPLOYMENT_NAME = "FaceApi"


@dataclass(frozen=True)
class ReplicaSettings:
    """What every replica builds its app from: everything of ``faceapi serve``'s options but the secrets
    (those travel in the environment)."""

    models_dir: str | None
    runtime: RuntimeConfig
    max_pixels: int
    max_frame_bytes: int
    inference_threads: int
    #: the gallery: a ``postgresql://`` URL (a SQLite path only with one replica), None: no gallery
    gallery: str | None
    #: the addresses the proxy listens on, and the extra names and origins allowed (`AccessPolicy.build`)
    bound_hosts: tuple[str, ...]
    allow_hosts: tuple[str, ...] = ()
    allow_origins: tuple[str, ...] = ()


def build_app(settings: ReplicaSettings, token: str, replica: str) -> FastAPI:
    """The app one replica serves: the analyzer with every net loaded, the gallery opened here, the access
    policy of the whole deployment (one token), `replica` shown by authenticated ``/api/health``."""
    from faceapi.pipeline import FaceAnalyzer
    from faceapi.server import create_app
    from faceapi.server.security import AccessPolicy

    analyzer = FaceAnalyzer(settings.models_dir, settings.runtime, max_pixels=settings.max_pixels)
    analyzer.load()  # before traffic: a connection routed here must not wait for the nets
    gallery = None
    if settings.gallery is not None:
        from faceapi.gallery import open_gallery

        gallery = open_gallery(settings.gallery)
    policy = AccessPolicy.build(token, bound_hosts=settings.bound_hosts, allow_hosts=settings.allow_hosts,
                                allow_origins=settings.allow_origins)
    return create_app(analyzer, max_frame_bytes=settings.max_frame_bytes,
                      inference_threads=settings.inference_threads, gallery=gallery, access=policy, replica=replica)


@dataclass(frozen=True)
class ReplicaSecrets:
    """The token and the session secret every replica shares (never in a repr: Serve may log arguments)."""

    token: str = field(repr=False)
    session_secret: str = field(repr=False)

    @classmethod
    def for_deployment(cls, token: str) -> ReplicaSecrets:
        """`token` and the driver's ``$FACEAPI_SESSION_SECRET``, else a new random secret for this deployment."""
        return cls(token, os.environ.get(SESSION_SECRET_ENV) or secrets.token_urlsafe(32))


class FaceApiReplica:
    """One replica (Serve calls `__serve_build_asgi_app__` in the replica's process, after the constructor)."""

    def __init__(self, settings: ReplicaSettings, shared: ReplicaSecrets) -> None:
        self.settings = settings
        self.token = shared.token
        # this process's environment only, where the session code reads its secret
        os.environ[TOKEN_ENV] = shared.token
        os.environ[SESSION_SECRET_ENV] = shared.session_secret

    def __serve_build_asgi_app__(self) -> FastAPI:
        from ray import serve

        return build_app(self.settings, self.token, serve.get_replica_context().replica_id.unique_id)


def _serve_module() -> Any:
    try:
        from ray import serve
    except ImportError as exc:
        raise FaceApiError(f"`faceapi serve --ray` needs Ray Serve ({exc}): pip install 'faceapi[ray]'") from exc
    return serve


@dataclass(frozen=True)
class Deployment:
    """Where and how many: the Ray cluster, the proxy's address, the replicas and their CPUs."""

    address: str
    host: str
    port: int
    replicas: int
    replica_cpus: float = 1.0


def deploy(settings: ReplicaSettings, where: Deployment, token: str) -> None:
    """Connect to the cluster, start Serve's proxy on `where.host`:`where.port` and run the replicas;
    returns once every replica is up (the replicas' errors come out as FaceApiError)."""
    import ray

    serve = _serve_module()
    if not ray.is_initialized():
        _check_reachable(where.address)
        try:
            ray.init(address=where.address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise FaceApiError(f"--ray {where.address}: cannot connect to the Ray cluster ({exc})") from exc
    cpus = float(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
    if cpus < where.replicas * where.replica_cpus:
        raise FaceApiError(f"--replicas {where.replicas} x --replica-cpus {where.replica_cpus:g} needs "
                           f"{where.replicas * where.replica_cpus:g} CPUs; the Ray cluster has {cpus:g}")
    serve.start(http_options={"host": where.host, "port": where.port})
    ingress = serve.deployment(serve.ingress()(FaceApiReplica), name=DEPLOYMENT_NAME)
    app = ingress.options(
        num_replicas=where.replicas, max_ongoing_requests=1000,
        ray_actor_options={"num_cpus": where.replica_cpus},
        health_check_period_s=2, health_check_timeout_s=10,
    ).bind(settings, ReplicaSecrets.for_deployment(token))
    try:
        serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
    except Exception as exc:  # Serve wraps a replica's constructor error in its own (with the traceback)
        raise FaceApiError(f"the replicas did not start: {_last_line(exc)}") from None


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A TCP connection to the head's ``host:port`` within `timeout_s` (ray.init would retry for minutes);
    "auto" and ``ray://`` addresses are left to Ray."""
    host, sep, port = address.rpartition(":")
    if address == "auto" or "://" in address or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise FaceApiError(f"--ray {address}: cannot connect to the Ray cluster ({exc.strerror or exc})") from None


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def undeploy() -> None:
    """Delete the app (its replicas); Serve itself (controller, proxies) too when no other app is left.
    Nothing when this process never connected (Serve would connect, or start a local Ray, to look)."""
    import ray

    if not ray.is_initialized():
        return
    serve = _serve_module()
    try:
        serve.delete(APP_NAME)
        if not serve.status().applications:
            serve.shutdown()
    except Exception as exc:  # the cluster went first: nothing left to stop
        log.warning("stopping the replicas: %s", _last_line(exc))


def run_until_stopped(stop: threading.Event, started: Callable[[], None] | None = None) -> None:
    """Block until `stop` is set (Ctrl+C / SIGTERM set it), then take the replicas down."""
    try:
        if started is not None:
            started()
        while not stop.wait(0.5):
            pass
    finally:
        undeploy()


__all__ = ["APP_NAME", "DEPLOYMENT_NAME", "SESSION_SECRET_ENV", "TOKEN_ENV", "Deployment", "FaceApiReplica",
           "ReplicaSecrets", "ReplicaSettings", "build_app", "deploy", "run_until_stopped", "undeploy"]
