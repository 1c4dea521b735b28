"""The attacks of issue 19, each tried against a real server on loopback (`faceapi serve` in a subprocess, or
uvicorn in a thread) and each refused. Every loop is bounded in count and time.

Each test here failed on the code before issue 19 (how that was shown is said at each test)."""

from __future__ import annotations

import os
import selectors
import socket
import ssl
import threading
import time

import httpx
import pytest

from helpers import missing, require, rss_mb


def _tls_client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class IdleHolder:
    """A client without the token holding `count` connections that send nothing (plain TCP; with `tls`, three
    in four finish the TLS handshake and go quiet, the fourth never starts it), re-opening each one the server closes,
    until stopped or `max_s` has passed. Bounded: at most `count` open, at most `max_opens` opened."""

    def __init__(self, port: int, count: int, tls: bool = False, max_s: float = 60, max_opens: int = 50_000) -> None:
        self.port, self.count, self.tls, self.max_s, self.max_opens = port, count, tls, max_s, max_opens
        self.opened = 0
        self.held = 0
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ctx = _tls_client_context() if tls else None

    def _open(self, i: int) -> socket.socket | None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            if self.ctx is not None and i % 4 != 3:
                s = self.ctx.wrap_socket(s, server_hostname="localhost")  # handshake done, then silence
            s.setblocking(False)
        except OSError:
            return None
        self.opened += 1
        return s

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        deadline = time.monotonic() + self.max_s
        socks: dict[int, socket.socket] = {}
        try:
            for i in range(self.count):
                s = self._open(i)
                if s is not None:
                    socks[i] = s
                    sel.register(s, selectors.EVENT_READ, i)
            self.held = len(socks)
            self.ready.set()
            while not self.stop.is_set() and time.monotonic() < deadline and self.opened < self.max_opens:
                for key, _ in sel.select(timeout=0.05):
                    i = key.data
                    s = socks.pop(i)
                    sel.unregister(s)
                    try:
                        gone = s.recv(1) == b""  # closed by the server (or a 4xx head): open another
                    except (BlockingIOError, ssl.SSLWantReadError):
                        gone = False
                    except OSError:
                        gone = True
                    if not gone:
                        socks[i] = s
                        sel.register(s, selectors.EVENT_READ, i)
                        continue
                    s.close()
                    again = self._open(i)
                    if again is not None:
                        socks[i] = again
                        sel.register(again, selectors.EVENT_READ, i)
                self.held = len(socks)
        finally:
            self.ready.set()
            for s in socks.values():
                s.close()
            sel.close()

    def __enter__(self) -> IdleHolder:
        self.thread.start()
        assert self.ready.wait(120)
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)


def _authenticated_requests_stay_fast(srv, seconds: float, verify: bool = True) -> list[float]:
    """GET /api/health with the token on a NEW connection each time (the worst case: not yet trusted),
    every 0.2 s for `seconds`: each must be 200 within 1 s. Returns the latencies."""
    times = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        with httpx.Client(base_url=srv.url, headers=srv.auth, timeout=5, verify=verify) as c:
            r = c.get("/api/health")
        took = time.perf_counter() - t0
        assert r.status_code == 200 and r.json().get("version"), (r.status_code, r.text[:200])
        assert took < 1.0, f"an authenticated request took {took:.2f} s under the idle-connection flood"
        times.append(took)
        time.sleep(0.2)  # a steady client's pace (not a wait for a condition)
    return times


# -- 1. lock-out with no token -------------------------------------------------------------------------------
# Before (shown by running these tests on the code before issue 19): uvicorn's limit_concurrency=512 counted
# the idle sockets, and the first authenticated request answered 503 ("Exceeded concurrency limit").
@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_idle_connections_without_the_token_cannot_lock_out_the_token(https, models_dir, tmp_path, serve_process):
    if https:
        require("cryptography")
    env = {**os.environ, "FACEAPI_MODELS": str(models_dir), "FACEAPI_TLS_DIR": str(tmp_path / "tls")}
    args = ["--no-gallery", "--log-level", "error", *(["--https"] if https else [])]
    with serve_process(args, env) as srv:
        with srv.client(timeout=60) as http:
            assert http.get("/api/health").status_code == 200  # up
        hold_s = float(os.environ.get("FACEAPI_LOCKOUT_HOLD_S", "8"))
        count = 720 if https else 600  # over TLS: 540 handshaken and quiet, 180 that never start the handshake
        with IdleHolder(srv.port, count, tls=https, max_s=hold_s + 60) as holder:
            assert holder.held >= count - 50, holder.held  # the flood is really there
            times = _authenticated_requests_stay_fast(srv, hold_s, verify=False)
            assert holder.opened >= count
        assert len(times) >= hold_s / 1.2


# -- the in-process server of the tests below ------------------------------------------------------------------
JPEG = {"content-type": "image/jpeg"}
PNG = {"content-type": "image/png"}


@pytest.fixture(scope="module")
def server(models_dir, gallery, create_app, live_server):
    from faceapi.pipeline import FaceAnalyzer

    app = create_app(FaceAnalyzer(models_dir), max_frame_bytes=2_000_000, gallery=gallery)
    with live_server(app) as srv:
        yield srv


def _png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(out, "PNG")
    return out.getvalue()


def strict_json(text: str):
    """JSON as a browser parses it: NaN and Infinity are not JSON."""
    import json

    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


# -- 7. thin images ---------------------------------------------------------------------------------------------
# Before: a 2000x1 PNG (88 bytes) was a ZeroDivisionError in both detectors: 500 on analyze, enrol and match.
@pytest.mark.parametrize("size", [(2000, 1), (1, 2000), (3000, 2)])
def test_very_thin_images_are_answered_not_500(http, size):
    data = _png(*size)
    for detector in ("ssd", "tiny"):
        r = http.post("/api/analyze", params={"detector": detector, "landmarks": "full", "descriptors": "true"},
                      content=data, headers=PNG)
        assert r.status_code == 200 and r.json()["faces"] == [], (detector, r.status_code, r.text)
    r = http.post("/api/people", params={"name": "thin"}, content=data, headers=PNG)
    assert r.status_code == 422 and r.json()["faces"] == 0, r.text
    r = http.post("/api/people/match", content=data, headers=PNG)
    assert r.status_code == 422 and r.json()["faces"] == 0, r.text


# -- 8. nothing non-finite leaves the server ---------------------------------------------------------------------
# Before: frame times 0 then 5e-324 s turned the tracker's smoothing into NaN, and every later answer on the
# connection carried NaN (json.loads with a browser's rules refused them).
def test_no_answer_on_the_stream_carries_a_non_finite_number(server, shared_dir):
    import json

    frame = (shared_dir / "images" / "bbt4.jpg").read_bytes()
    with server.stream({"tracking": True, "detector": "tiny"}) as ws:
        for i, t in enumerate((0, 5e-324, 1e-323, 1.5e-323, 1.0, 1.0 + 5e-324)):
            ws.send(json.dumps({"type": "frame", "id": i + 1, "time": t}))
            ws.send(frame)
            msg = ws.ws.recv(timeout=120)
            answer = strict_json(msg)  # raises on NaN / Infinity
            assert answer["type"] in ("result", "error") and answer["frame"] == i + 1, answer
        ws.send('{"type": "ping"}')
        assert strict_json(ws.ws.recv(timeout=30)) == {"type": "pong"}


def test_the_answer_check_turns_a_non_finite_number_into_an_error():
    from faceapi.server.routers.stream import answer_text

    fine = {"type": "result", "frame": 3, "x": 1.5}
    assert strict_json(answer_text(fine)) == fine
    err = strict_json(answer_text({"type": "result", "frame": 3, "faces": [{"x": float("nan")}]}))
    assert err["type"] == "error" and err["frame"] == 3 and "not finite" in err["error"]


# -- minor -------------------------------------------------------------------------------------------------------
# Before: GET /api/models had "models_dir" (the server's folder); HEAD /api/health was 405.
def test_models_shows_no_server_path_and_health_answers_head(server, http, models_dir):
    body = http.get("/api/models").text
    assert str(models_dir) not in body and "models_dir" not in body
    assert httpx.head(f"{server.url}/api/health", timeout=30).status_code == 200
    assert http.head("/api/health").status_code == 200


# -- 3. memory bounded by configuration, not by request parameters ----------------------------------------------
def _big_gallery(path, people: int) -> None:
    import numpy as np

    from faceapi.gallery import Gallery

    vectors = np.random.default_rng(19).uniform(-0.2, 0.2, (people, 128)).round(4)
    g = Gallery(path)
    try:
        g.import_json({"format": "faceapi-gallery", "version": 1, "people": [
            {"name": f"person {i}", "descriptors": [vectors[i].tolist()]} for i in range(people)]})
    finally:
        g.close()


# Before: the gallery kept a matcher per distinct distance_threshold (about 0.56 MB each with 20,000 people),
# built before the body was read: these 1,000 requests with 1-byte bodies added over 500 MB.
def test_memory_does_not_grow_with_request_parameters(models_dir, tmp_path, serve_process):
    if not os.path.isdir("/proc/self"):
        missing("reading the server's memory needs /proc (Linux)")
    gallery = tmp_path / "big.sqlite3"
    _big_gallery(gallery, 20_000)
    env = {**os.environ, "FACEAPI_MODELS": str(models_dir)}
    with serve_process(["--gallery", str(gallery), "--log-level", "error"], env) as srv, \
            srv.client(timeout=60) as http:
        assert http.get("/api/health").status_code == 200

        def hostile(i: int) -> None:
            threshold = 0.3 + i * 1e-4
            kind = i % 4
            if kind == 0:
                params = {"recognize": "true", "distance_threshold": threshold}
            elif kind == 1:
                params = {"recognize": "true", "distance_threshold": threshold, "match_strategy": "nearest",
                          "min_score": 0.1 + i * 1e-4, "max_results": 1 + i % 999}
            elif kind == 2:
                params = {"recognize": "true", "distance_threshold": threshold, "detector": "tiny",
                          "input_size": 128 + 32 * (i % 28)}
            else:
                r = http.post("/api/people/match", params={"distance_threshold": threshold}, content=b"x",
                              headers=JPEG)
                assert r.status_code == 400, r.text
                return
            r = http.post("/api/analyze", params=params, content=b"x", headers=JPEG)
            assert r.status_code == 400, r.text

        for i in range(50):  # warm up: the first matcher, allocator pools
            hostile(i)
        before = rss_mb(srv.proc.pid)
        t0 = time.monotonic()
        for i in range(50, 1050):
            hostile(i)
            assert time.monotonic() - t0 < 300
        grown = rss_mb(srv.proc.pid) - before
    assert grown < 50, f"the server grew by {grown:.0f} MB over 1,000 requests with distinct parameters"
