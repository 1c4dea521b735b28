"""`faceapi serve`: the web app (page, REST API, WebSocket stream) on uvicorn."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import webbrowser

from faceapi.cli.common import add_gallery_arg, add_models_dir_arg
from faceapi.errors import FaceApiError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve", help="start the web app: the real-time emotion page, the REST API and the stream",
        description="Serve the real-time page at http://HOST:PORT/ (API docs at /docs). Browsers allow the "
                    "camera only on https:// pages or on localhost: to use the page from another machine, "
                    "pass --host 0.0.0.0 with --ssl-certfile/--ssl-keyfile.")
    p.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, metavar="PORT", help="port (default 8000)")
    add_models_dir_arg(p)
    g = p.add_mutually_exclusive_group()
    add_gallery_arg(g, "the people gallery for recognition and /api/people, created when missing")
    g.add_argument("--no-gallery", action="store_true",
                   help="serve without a gallery: no recognition, /api/people answers 503")
    p.add_argument("--max-frame-bytes", type=int, default=2_000_000, metavar="BYTES",
                   help="largest frame or upload accepted, in bytes (default 2000000)")
    p.add_argument("--max-pixels", type=int, default=None, metavar="PIXELS",
                   help="largest image accepted, in pixels (default: the library's, 40 megapixels)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="also accept WebSocket connections from pages of this origin, e.g. "
                        "https://example.org:8443 (repeatable; '*' for any)")
    p.add_argument("--ssl-certfile", metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--ssl-keyfile", metavar="FILE", help="the certificate's private key (PEM)")
    p.add_argument("--workers-threads", type=int, default=2, metavar="N",
                   help="threads running inference (default 2)")
    p.add_argument("--preload", action="store_true", help="load every net before accepting connections")
    p.add_argument("--open", action="store_true", help="open the page in a browser once the server is up")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn's log level (default info)")
    # internal: serve on an already bound, listening TCP socket inherited as this file descriptor (tests and
    # benchmarks pass one, so no port is picked, released and re-bound in between); --host/--port are ignored
    p.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from faceapi.server import create_app
    except ModuleNotFoundError as exc:
        raise FaceApiError(f"`faceapi serve` needs the server extras ({exc.name} is missing): "
                           "pip install 'faceapi[server]'") from exc
    from faceapi.image import DEFAULT_MAX_PIXELS
    from faceapi.pipeline import FaceAnalyzer

    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise FaceApiError("--ssl-certfile and --ssl-keyfile go together")
    if args.max_frame_bytes < 1:
        raise FaceApiError("--max-frame-bytes must be positive")
    if args.workers_threads < 1:
        raise FaceApiError("--workers-threads must be >= 1")
    gallery = None
    if not args.no_gallery:
        from faceapi.gallery import Gallery

        gallery = Gallery(args.gallery)  # GalleryError (a FaceApiError) for a file that is not a gallery
        print(f"faceapi: gallery {gallery.path} ({len(gallery)} people)", file=sys.stderr)
    analyzer = FaceAnalyzer(args.models_dir, max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS)
    if args.preload:
        analyzer.load(progress=lambda name, i, n: print(f"loading {name} ({i + 1}/{n})", file=sys.stderr))
    app = create_app(analyzer, max_frame_bytes=args.max_frame_bytes, allowed_origins=tuple(args.allow_origin),
                     inference_threads=args.workers_threads, gallery=gallery)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level,
        ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile,
        # hard cap on a WebSocket message; frames between --max-frame-bytes and this get an error message
        # and the connection stays open, larger ones close it (1009)
        ws_max_size=max(16 * 1024 * 1024, 4 * args.max_frame_bytes),
    )
    server = uvicorn.Server(config)
    sockets = None
    host, port = args.host, args.port
    if args.fd is not None:
        try:
            sock = socket.socket(fileno=args.fd)
            host, port = sock.getsockname()[:2]
        except OSError as exc:
            raise FaceApiError(f"--fd {args.fd}: not a bound socket ({exc})") from exc
        sockets = [sock]
    scheme = "https" if args.ssl_certfile else "http"
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "::1") else host
    url = f"{scheme}://{shown}:{port}/"
    print(f"faceapi: serving on {url} (API docs at {url}docs); Ctrl+C stops", file=sys.stderr)
    if host not in ("127.0.0.1", "localhost", "::1") and not args.ssl_certfile:
        print("faceapi: note: browsers allow the camera only on https:// or localhost pages; "
              "use --ssl-certfile/--ssl-keyfile for other machines", file=sys.stderr)
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if args.open and headless:  # webbrowser would fall back to a console browser and take the terminal
        print(f"faceapi: no display here; open {url} in your browser", file=sys.stderr)
    elif args.open:
        def opener() -> None:
            for _ in range(200):
                if server.started:
                    webbrowser.open(url)
                    return
                threading.Event().wait(0.05)

        threading.Thread(target=opener, daemon=True).start()
    try:
        server.run(sockets=sockets)
    finally:
        if gallery is not None:
            gallery.close()
    return 0
