"""`faceapi serve`: the web app (page, REST API, WebSocket stream) on uvicorn, with a token, over HTTP,
HTTPS (``--https``: a cached self-signed certificate) or on the LAN for a phone (``--lan``)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from faceapi.cli.common import add_gallery_arg, add_models_dir_arg, add_runtime_args, runtime_config
from faceapi.errors import FaceApiError

if TYPE_CHECKING:
    from faceapi.gallery import GalleryStore
    from faceapi.pipeline import FaceAnalyzer

#: The largest image `faceapi serve` decodes, in pixels: a 12-megapixel phone photo or a 4K webcam frame
#: (8.3 MP). The library's own default (40 MP) suits files on disk; a network service keeps the memory
#: one request may take small (a 12 MP image is 36 MB as RGB).
SERVE_MAX_PIXELS = 12_000_000
LAN_HOST = "0.0.0.0"

DESCRIPTION = f"""\
Serve the real-time page, the REST API (docs at /docs) and the WebSocket stream.

Access: a token is required by every request but GET /api/health (which then says only whether the
service is up). At start the server makes a random token (or takes --token / $FACEAPI_TOKEN) and prints
the page's address with it, http://127.0.0.1:8000/?token=... (--open opens it). Opening that address
sets a session cookie (HttpOnly, SameSite=Strict) and removes the token from the address bar; API clients
send 'Authorization: Bearer TOKEN'. --no-token is allowed only when every bound address is loopback.
Requests naming another host (DNS rebinding) are refused unless allowed with --allow-host; writes and
WebSockets from other sites are refused unless allowed with --allow-origin (which also turns on CORS for
those origins).

Phones: browsers grant the camera only to https:// pages (or localhost). --lan listens on all
interfaces with HTTPS (a self-signed certificate made once and cached) and the token, and prints the
phone's address and a QR code of it; the phone warns once about the certificate.

Limits: frames and uploads at most --max-frame-bytes (2000000) and --max-pixels
({SERVE_MAX_PIXELS} pixels by default: a 12-megapixel photo or a 4K webcam frame; the library's own
default is 40 MP); tiny-detector input sizes 128..1024; bodies and request heads must arrive in time;
connections that send nothing are closed after 5 s and never count against clients with the token
(see docs/security.md)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve", help="start the web app: the real-time emotion page, the REST API and the stream (with a token)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                   help="address to bind (default 127.0.0.1: this machine only; see --lan for phones)")
    p.add_argument("--port", type=int, default=8000, metavar="PORT", help="port (default 8000)")
    add_models_dir_arg(p)
    g = p.add_mutually_exclusive_group()
    add_gallery_arg(g, "the people gallery for recognition and /api/people, created when missing")
    g.add_argument("--no-gallery", action="store_true",
                   help="serve without a gallery: no recognition, /api/people answers 503")
    p.add_argument("--max-frame-bytes", type=int, default=2_000_000, metavar="BYTES",
                   help="largest frame or upload accepted, in bytes (default 2000000)")
    p.add_argument("--max-pixels", type=int, default=SERVE_MAX_PIXELS, metavar="PIXELS",
                   help=f"largest image decoded, in pixels (default {SERVE_MAX_PIXELS}: a 12 MP photo or a 4K "
                        "webcam frame)")
    t = p.add_mutually_exclusive_group()
    t.add_argument("--token", metavar="TOKEN",
                   help="the access token (default: $FACEAPI_TOKEN, else a new random one at each start)")
    t.add_argument("--no-token", action="store_true",
                   help="no token (only when every bound address is loopback; refused otherwise)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests for this host name (e.g. a name in your DNS or /etc/hosts; "
                        "repeatable). Loopback names and the bound address always are")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="let pages of this origin (e.g. https://example.org:8443) write, open the WebSocket "
                        "and read answers (CORS; they send the token as a Bearer header); repeatable, '*' for any")
    p.add_argument("--https", action="store_true",
                   help="serve HTTPS with a self-signed certificate made once and cached in the user data "
                        "folder ($FACEAPI_TLS_DIR overrides), covering localhost, this machine's names and addresses")
    p.add_argument("--lan", action="store_true",
                   help="serve phones on the LAN: listen on all interfaces with --https and the token, and print "
                        "the phone's address and a QR code of it")
    p.add_argument("--ssl-certfile", metavar="FILE",
                   help="serve HTTPS with this certificate (PEM) instead of the self-signed one")
    p.add_argument("--ssl-keyfile", metavar="FILE", help="the certificate's private key (PEM)")
    add_runtime_args(p)
    p.add_argument("--workers-threads", type=int, default=2, metavar="N",
                   help="threads running inference (default 2)")
    p.add_argument("--preload", action="store_true", help="load every net before accepting connections")
    p.add_argument("--open", action="store_true",
                   help="open the page (the address with the token) in a browser once the server is up")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="log level (default info; the access log names no people and shows no tokens)")
    r = p.add_argument_group("replicas on a Ray cluster (Ray Serve; see docs/scale-out.md)")
    r.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="serve as replicas on the Ray cluster at ADDRESS (host:port of its head, or 'auto') behind "
                        "Ray Serve's proxy on --host/--port; the token is required. The replicas log through Ray "
                        "Serve (logs/serve/ on each node); --log-level is this process's")
    r.add_argument("--replicas", type=int, default=None, metavar="N",
                   help="with --ray: replicas, each with its own nets and --workers-threads (default 1; more than "
                        "one needs a PostgreSQL --gallery)")
    r.add_argument("--replica-cpus", type=float, default=None, metavar="CPUS",
                   help="with --ray: CPUs Ray reserves for each replica (default 1; fractions allowed)")
    # internal: serve on an already bound, listening TCP socket inherited as this file descriptor (tests and
    # benchmarks pass one, so no port is picked, released and re-bound in between); --host/--port are ignored
    p.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=_serve)


def url_host(host: str) -> str:
    """`host` as it goes in a URL (IPv6 addresses in brackets)."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def _token(args: argparse.Namespace, host: str) -> str | None:
    """The token to use; FaceApiError when --no-token is asked for on a non-loopback address."""
    from faceapi.server.security import is_loopback_host, new_token

    if args.no_token:
        if args.lan or not is_loopback_host(host):
            raise FaceApiError(f"--no-token: the server would listen on {host}, which is not loopback; a token is "
                               "required for any other address (drop --no-token, or bind --host 127.0.0.1)")
        return None
    token: str | None = args.token or os.environ.get("FACEAPI_TOKEN") or None
    if token is not None and (len(token) < 8 or any(c.isspace() or not c.isprintable() for c in token)):
        raise FaceApiError("--token / $FACEAPI_TOKEN: use at least 8 printable characters without spaces")
    return token or new_token()


def _with_token(url: str, token: str | None) -> str:
    return url if token is None else f"{url}?token={quote(token, safe='')}"


def _server_modules() -> None:
    """The server extra's check: a clear install hint instead of an import error."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as exc:
        raise FaceApiError(f"`faceapi serve` needs the server extras ({exc.name} is missing): "
                           "pip install 'faceapi[server]'") from exc


def _check_limits(args: argparse.Namespace) -> None:
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise FaceApiError("--ssl-certfile and --ssl-keyfile go together")
    if args.max_frame_bytes < 1:
        raise FaceApiError("--max-frame-bytes must be positive")
    if args.max_pixels < 1:
        raise FaceApiError("--max-pixels must be positive")
    if args.workers_threads < 1:
        raise FaceApiError("--workers-threads must be >= 1")


@dataclass(frozen=True)
class _Listening:
    """Where the server listens: the address and port, the inherited socket (``--fd``), the LAN addresses."""

    host: str
    port: int
    sockets: list[socket.socket] | None
    lan_ips: list[str]

    @property
    def bound(self) -> list[str]:
        return [self.host, *self.lan_ips]


def _listening(args: argparse.Namespace) -> _Listening:
    host, port = (LAN_HOST if args.lan else args.host), args.port
    sockets = None
    if args.fd is not None:
        try:
            sock = socket.socket(fileno=args.fd)
            host, port = sock.getsockname()[:2]
        except OSError as exc:
            raise FaceApiError(f"--fd {args.fd}: not a bound socket ({exc})") from exc
        sockets = [sock]
    lan_ips: list[str] = []
    if args.lan:
        from faceapi.server.tls import lan_addresses

        lan_ips = lan_addresses()
    return _Listening(host, port, sockets, lan_ips)


def _certificate(args: argparse.Namespace, host: str) -> tuple[str | None, str | None]:
    """The certificate and key files of an HTTPS server (the cached self-signed one unless given), or
    (None, None) for HTTP."""
    if not (args.https or args.lan or args.ssl_certfile):
        return None, None
    if args.ssl_certfile:
        return args.ssl_certfile, args.ssl_keyfile
    from faceapi.server.tls import ensure_certificate

    extra = [*args.allow_host] + ([] if host in ("0.0.0.0", "::") else [host])
    cert, key = ensure_certificate(extra_names=extra)
    return str(cert), str(key)


@dataclass(frozen=True)
class _Addresses:
    """The page's address on this machine and, serving on the LAN, a phone's."""

    local: str
    phone: str | None


def _addresses(args: argparse.Namespace, where: _Listening, https: bool) -> _Addresses:
    scheme = "https" if https else "http"
    shown = "127.0.0.1" if where.host in ("0.0.0.0", "::") else where.host
    phone_host = where.lan_ips[0] if where.lan_ips else (socket.gethostname() if args.lan else None)
    return _Addresses(f"{scheme}://{url_host(shown)}:{where.port}/",
                      f"{scheme}://{url_host(phone_host)}:{where.port}/" if phone_host else None)


def _open_gallery(args: argparse.Namespace) -> GalleryStore | None:
    if args.no_gallery:
        return None
    from faceapi.gallery import open_gallery

    gallery = open_gallery(args.gallery)  # GalleryError (a FaceApiError) for a file that is not a gallery
    print(f"faceapi: gallery {gallery.location} ({len(gallery)} people)", file=sys.stderr)
    return gallery


def _analyzer(args: argparse.Namespace) -> FaceAnalyzer:
    from faceapi.pipeline import FaceAnalyzer

    analyzer = FaceAnalyzer(args.models_dir, runtime_config(args), max_pixels=args.max_pixels)
    if args.preload:
        analyzer.load(progress=lambda name, i, n: print(f"loading {name} ({i + 1}/{n})", file=sys.stderr))
    return analyzer


def _announce(args: argparse.Namespace, urls: _Addresses, token: str | None, *, https: bool, host: str) -> str:
    """Print where the page is (with the token) and what clients send; returns the page's address."""
    from faceapi.server.security import is_loopback_host

    page = _with_token(urls.local, token)
    print(f"faceapi: serving on {urls.local} (API docs at {urls.local}docs); Ctrl+C stops", file=sys.stderr)
    print(f"faceapi: open the page at {page}", file=sys.stderr)
    if token is not None:
        print("faceapi: API clients send 'Authorization: Bearer <the token above>'", file=sys.stderr)
    if args.lan and urls.phone:
        from faceapi.server.tls import qr_text

        phone_page = _with_token(urls.phone, token)
        print(f"faceapi: on a phone on the same network open {phone_page}\n{qr_text(phone_page)}", file=sys.stderr)
        print("faceapi: the phone will warn once that the certificate is not trusted (it is this machine's own, "
              "made for this server): accept it to continue.", file=sys.stderr)
    elif not is_loopback_host(host) and not https:
        print("faceapi: note: browsers allow the camera only on https:// or localhost pages; "
              "use --lan (or --https) for other machines", file=sys.stderr)
    return page


def _open_when_up(args: argparse.Namespace, page: str, up: Callable[[], bool]) -> None:
    """--open: open `page` in a browser once `up()` (in a thread; bounded), or say where to open it."""
    if not args.open:
        return
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless:  # webbrowser would fall back to a console browser and take the terminal
        print(f"faceapi: no display here; open {page} in your browser", file=sys.stderr)
        return

    def opener() -> None:
        for _ in range(200):
            if up():
                webbrowser.open(page)
                return
            threading.Event().wait(0.05)

    threading.Thread(target=opener, daemon=True).start()


def _serve(args: argparse.Namespace) -> int:
    _server_modules()
    _check_limits(args)
    if args.ray is not None:
        return _serve_ray(args)
    for flag, value in (("--replicas", args.replicas), ("--replica-cpus", args.replica_cpus)):
        if value is not None:
            raise FaceApiError(f"{flag} goes with --ray ADDRESS (replicas on a Ray cluster)")
    from faceapi.server import create_app
    from faceapi.server.security import AccessPolicy
    from faceapi.server.serving import GuardedServer, uvicorn_config

    where = _listening(args)
    token = _token(args, where.host)  # before anything is opened: a refused --no-token changes nothing
    certfile, keyfile = _certificate(args, where.host)
    https = certfile is not None
    urls = _addresses(args, where, https)
    gallery = _open_gallery(args)
    try:
        analyzer = _analyzer(args)
        policy = AccessPolicy.build(token, bound_hosts=where.bound, allow_hosts=args.allow_host,
                                    allow_origins=args.allow_origin)
        app = create_app(analyzer, max_frame_bytes=args.max_frame_bytes, inference_threads=args.workers_threads,
                         gallery=gallery, access=policy,
                         phone_url=_with_token(urls.phone, token) if args.lan and urls.phone else None)
        server = GuardedServer(uvicorn_config(app, host=where.host, port=where.port, log_level=args.log_level,
                                               ssl_certfile=certfile, ssl_keyfile=keyfile))
        page = _announce(args, urls, token, https=https, host=where.host)
        _open_when_up(args, page, lambda: bool(server.started))
        server.run(sockets=where.sockets)
    finally:
        if gallery is not None:
            gallery.close()
    return 0


# -- faceapi serve --ray: replicas on Ray Serve (faceapi.server.ray_serve) ---------------------------------------
_NOT_WITH_RAY = (("lan", "--lan"), ("https", "--https"), ("ssl_certfile", "--ssl-certfile"), ("fd", "--fd"),
                 ("no_token", "--no-token"))


def _ray_gallery(args: argparse.Namespace) -> str | None:
    """The gallery the replicas open, checked here first (reachable, a faceapi gallery); a SQLite file only
    with one replica (replicas on several machines cannot share a file, and SQLite's matcher would not be
    told of another replica's writes on another machine)."""
    if args.no_gallery:
        return None
    where = args.gallery or os.environ.get("FACEAPI_GALLERY") or None
    postgres = isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))
    if not postgres and args.replicas > 1:
        raise FaceApiError(f"--replicas {args.replicas} needs a PostgreSQL gallery that every replica shares: give "
                           "--gallery postgresql://user@host:port/db (or --no-gallery); a SQLite file is for one "
                           "server (see docs/scale-out.md)")
    gallery = _open_gallery(args)
    if gallery is None:
        return None
    gallery.close()
    return where if postgres else str(gallery.location)


def _serve_ray(args: argparse.Namespace) -> int:
    import signal

    from faceapi.server import ray_serve

    for attr, flag in _NOT_WITH_RAY:
        if getattr(args, attr):
            raise FaceApiError(f"{flag} does not go with --ray: Ray Serve's proxy serves plain HTTP with the token "
                               "(put a TLS-terminating proxy in front of it: see docs/scale-out.md)")
    args.replicas = 1 if args.replicas is None else args.replicas
    args.replica_cpus = 1.0 if args.replica_cpus is None else args.replica_cpus
    if args.replicas < 1:
        raise FaceApiError("--replicas must be >= 1")
    if not args.replica_cpus > 0:
        raise FaceApiError("--replica-cpus must be positive")
    token = _token(args, args.host)
    assert token is not None  # --no-token was refused above
    settings = ray_serve.ReplicaSettings(
        models_dir=args.models_dir, runtime=runtime_config(args), max_pixels=args.max_pixels,
        max_frame_bytes=args.max_frame_bytes, inference_threads=args.workers_threads, gallery=_ray_gallery(args),
        bound_hosts=(args.host,), allow_hosts=tuple(args.allow_host), allow_origins=tuple(args.allow_origin))
    where = ray_serve.Deployment(address=args.ray, host=args.host, port=args.port, replicas=args.replicas,
                                 replica_cpus=args.replica_cpus)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"faceapi: starting {args.replicas} replica(s) on the Ray cluster at {args.ray}", file=sys.stderr)
    try:
        ray_serve.deploy(settings, where, token)
        urls = _addresses(args, _Listening(args.host, args.port, None, []), https=False)
        page = _announce(args, urls, token, https=False, host=args.host)
        print(f"faceapi: {args.replicas} replica(s) behind Ray Serve's proxy", file=sys.stderr)
        _open_when_up(args, page, lambda: True)
        ray_serve.run_until_stopped(stop)
    except BaseException:
        ray_serve.undeploy()
        raise
    return 0
