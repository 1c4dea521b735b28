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
from urllib.parse import quote

from faceapi.cli.common import add_gallery_arg, add_models_dir_arg, add_runtime_args, runtime_config
from faceapi.errors import FaceApiError

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


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: F401 - the server extra's check

        from faceapi.server import create_app
        from faceapi.server.security import AccessPolicy, is_loopback_host
        from faceapi.server.serving import GuardedServer, uvicorn_config
    except ModuleNotFoundError as exc:
        raise FaceApiError(f"`faceapi serve` needs the server extras ({exc.name} is missing): "
                           "pip install 'faceapi[server]'") from exc
    from faceapi.pipeline import FaceAnalyzer

    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise FaceApiError("--ssl-certfile and --ssl-keyfile go together")
    if args.max_frame_bytes < 1:
        raise FaceApiError("--max-frame-bytes must be positive")
    if args.max_pixels < 1:
        raise FaceApiError("--max-pixels must be positive")
    if args.workers_threads < 1:
        raise FaceApiError("--workers-threads must be >= 1")

    host, port = (LAN_HOST if args.lan else args.host), args.port
    sockets = None
    if args.fd is not None:
        try:
            sock = socket.socket(fileno=args.fd)
            host, port = sock.getsockname()[:2]
        except OSError as exc:
            raise FaceApiError(f"--fd {args.fd}: not a bound socket ({exc})") from exc
        sockets = [sock]
    token = _token(args, host)  # before anything is opened: a refused --no-token changes nothing

    https = bool(args.https or args.lan or args.ssl_certfile)
    certfile, keyfile = args.ssl_certfile, args.ssl_keyfile
    lan_ips: list[str] = []
    if args.lan:
        from faceapi.server.tls import lan_addresses

        lan_ips = lan_addresses()
    if https and not certfile:
        from faceapi.server.tls import ensure_certificate

        extra = [*args.allow_host] + ([] if host in ("0.0.0.0", "::") else [host])
        cert, key = ensure_certificate(extra_names=extra)
        certfile, keyfile = str(cert), str(key)
    scheme = "https" if https else "http"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    local_url = f"{scheme}://{url_host(shown)}:{port}/"
    phone_host = lan_ips[0] if lan_ips else (socket.gethostname() if args.lan else None)
    phone_url = f"{scheme}://{url_host(phone_host)}:{port}/" if phone_host else None

    gallery = None
    if not args.no_gallery:
        from faceapi.gallery import open_gallery

        gallery = open_gallery(args.gallery)  # GalleryError (a FaceApiError) for a file that is not a gallery
        print(f"faceapi: gallery {gallery.location} ({len(gallery)} people)", file=sys.stderr)
    analyzer = FaceAnalyzer(args.models_dir, runtime_config(args), max_pixels=args.max_pixels)
    if args.preload:
        analyzer.load(progress=lambda name, i, n: print(f"loading {name} ({i + 1}/{n})", file=sys.stderr))
    bound = [host] if not args.lan else [host, *lan_ips]
    policy = AccessPolicy.build(token, bound_hosts=bound, allow_hosts=args.allow_host,
                                allow_origins=args.allow_origin)
    app = create_app(analyzer, max_frame_bytes=args.max_frame_bytes, inference_threads=args.workers_threads,
                     gallery=gallery, access=policy,
                     phone_url=_with_token(phone_url, token) if args.lan and phone_url else None)
    server = GuardedServer(uvicorn_config(app, host=host, port=port, log_level=args.log_level,
                                           ssl_certfile=certfile, ssl_keyfile=keyfile))

    page = _with_token(local_url, token)
    print(f"faceapi: serving on {local_url} (API docs at {local_url}docs); Ctrl+C stops", file=sys.stderr)
    print(f"faceapi: open the page at {page}", file=sys.stderr)
    if token is not None:
        print("faceapi: API clients send 'Authorization: Bearer <the token above>'", file=sys.stderr)
    if args.lan and phone_url:
        from faceapi.server.tls import qr_text

        phone_page = _with_token(phone_url, token)
        print(f"faceapi: on a phone on the same network open {phone_page}\n{qr_text(phone_page)}", file=sys.stderr)
        print("faceapi: the phone will warn once that the certificate is not trusted (it is this machine's own, "
              "made for this server): accept it to continue.", file=sys.stderr)
    elif not is_loopback_host(host) and not https:
        print("faceapi: note: browsers allow the camera only on https:// or localhost pages; "
              "use --lan (or --https) for other machines", file=sys.stderr)
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if args.open and headless:  # webbrowser would fall back to a console browser and take the terminal
        print(f"faceapi: no display here; open {page} in your browser", file=sys.stderr)
    elif args.open:
        def opener() -> None:
            for _ in range(200):
                if server.started:
                    webbrowser.open(page)
                    return
                threading.Event().wait(0.05)

        threading.Thread(target=opener, daemon=True).start()
    try:
        server.run(sockets=sockets)
    finally:
        if gallery is not None:
            gallery.close()
    return 0
