"""The web app started for real (uvicorn on a free loopback port), over HTTP (httpx) and WebSocket
(websockets), with the shared photos; answers are compared with FaceAnalyzer on the same bytes."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("websockets")

from websockets.exceptions import InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from faceapi.options import AnalyzeOptions  # noqa: E402
from faceapi.pipeline import FaceAnalyzer  # noqa: E402
from faceapi.server import create_app  # noqa: E402

MAX_FRAME = 1_000_000
MAX_PIXELS = 1_000_000  # bbt1.jpg (1366x768) is over it, the other photos are under
STREAM = {"detector": "tiny", "input_size": 416, "min_score": 0.5, "landmarks": "full", "expressions": True}


class LiveServer:
    """uvicorn serving `app` on a free 127.0.0.1 port, in a background thread."""

    def __init__(self, app):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                ws_max_size=16 * 1024 * 1024)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/stream"


@pytest.fixture(scope="module")
def analyzer(models_dir) -> FaceAnalyzer:
    return FaceAnalyzer(models_dir, max_pixels=MAX_PIXELS)


@pytest.fixture(scope="module")
def server(analyzer):
    app = create_app(analyzer, max_frame_bytes=MAX_FRAME, allowed_origins=("https://allowed.example",),
                     inference_threads=2)
    with LiveServer(app) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def images(shared_dir) -> Path:
    return shared_dir / "images"


def engine(analyzer: FaceAnalyzer, data: bytes, settings: dict) -> dict:
    return analyzer.analyze(data, AnalyzeOptions.from_dict(settings)).to_dict(descriptors=False)


def assert_same_faces(got: dict, want: dict) -> None:
    assert got["image"] == want["image"]
    assert len(got["faces"]) == len(want["faces"])
    for g, w in zip(got["faces"], want["faces"]):
        assert set(g) == set(w)
        assert g["box"] == pytest.approx(w["box"], abs=1e-3)
        assert g["score"] == pytest.approx(w["score"], abs=1e-5)
        if "landmarks" in w:
            for gp, wp in zip(g["landmarks"], w["landmarks"]):
                assert gp == pytest.approx(wp, abs=1e-3)
        if "expressions" in w:
            assert g["expressions"]["dominant"] == w["expressions"]["dominant"]
            assert g["expressions"]["probabilities"] == pytest.approx(w["expressions"]["probabilities"], abs=1e-5)
        if "age" in w:
            assert g["age"] == pytest.approx(w["age"], abs=1e-3)
            assert g["gender"] == w["gender"]


def recv_json(ws, timeout: float = 60) -> dict:
    msg = ws.recv(timeout=timeout)
    assert isinstance(msg, str), "the server answers with JSON text messages"
    return json.loads(msg)


@contextmanager
def open_stream(server: LiveServer, settings: dict | None = None, **kw):
    """A stream connection past the server's hello (and the settings' acknowledgement)."""
    with connect(server.ws, max_size=None, **kw) as ws:
        hello = recv_json(ws)
        assert hello["type"] == "hello"
        if settings is not None:
            ws.send(json.dumps({"type": "settings", **settings}))
            reply = recv_json(ws)
            assert reply["type"] == "settings" and reply["ok"], reply
        yield ws


# -- REST ---------------------------------------------------------------------------------------------
def test_health_and_models(http):
    h = http.get("/api/health").json()
    assert h["status"] == "ok" and h["recognition"] is False
    m = http.get("/api/models").json()
    names = {n["name"] for n in m["nets"]}
    assert {"tiny_face_detector", "ssd_mobilenetv1", "face_expression", "face_landmark_68"} <= names
    assert all(n["available"] and n["verified"] for n in m["nets"]), m
    assert m["missing"] == [] and m["download_command"] is None


def test_models_load(http):
    r = http.post("/api/models/load?wait=true", json={"settings": STREAM})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "done"
    assert set(body["nets"]) == {"tiny_face_detector", "face_landmark_68", "face_expression"}
    assert all(s == "loaded" for s in body["status"].values())
    loaded = http.get("/api/models?verify=false").json()["loaded"]
    assert set(body["nets"]) <= set(loaded)
    r = http.post("/api/models/load", json={"nets": ["nope"]})
    assert r.status_code == 400 and "unknown net" in r.json()["error"]
    r = http.post("/api/models/load", content=b"{not json")
    assert r.status_code == 400 and "JSON" in r.json()["error"]


@pytest.mark.parametrize("name, settings", [
    ("happy.jpg", STREAM),
    ("bbt4.jpg", {"detector": "ssd", "landmarks": "tiny", "expressions": True, "age_gender": True}),
    ("angry.jpg", {"detector": "tiny", "input_size": 320, "landmarks": None, "age_gender": True}),
])
def test_analyze_matches_engine(http, analyzer, images, name, settings):
    data = (images / name).read_bytes()
    params = {k: ("off" if v is None else str(v).lower()) for k, v in settings.items()}
    r = http.post("/api/analyze", params=params, content=data, headers={"content-type": "image/jpeg"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["faces"], "the shared photos have faces"
    assert_same_faces(got, engine(analyzer, data, settings))
    assert {"decode", "detect", "total"} <= set(got["timings_ms"])


def test_analyze_multipart_and_annotate(http, analyzer, images):
    data = (images / "happy.jpg").read_bytes()
    r = http.post("/api/analyze", params={"detector": "ssd", "expressions": "true"},
                  files={"file": ("happy.jpg", data, "image/jpeg")})
    assert r.status_code == 200, r.text
    assert_same_faces(r.json(), engine(analyzer, data, {"detector": "ssd", "expressions": True}))
    assert r.json()["faces"][0]["expressions"]["dominant"] == "happy"
    for fmt, kind in (("jpeg", "JPEG"), ("png", "PNG")):
        r = http.post("/api/analyze", params={"annotate": "true", "format": fmt, "landmarks": "full"}, content=data)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == f"image/{fmt}"
        im = Image.open(io.BytesIO(r.content))
        assert im.format == kind and im.size == (500, 282)


def test_analyze_bad_input(http, images):
    cases = [
        (b"this is not an image", 400, "not an image"),
        (b"", 400, "empty"),
        ((images / "happy.jpg").read_bytes()[:3000], 400, "truncated"),
        (b"\xff\xd8" + os.urandom(MAX_FRAME + 10), 413, "over the limit"),
        ((images / "bbt1.jpg").read_bytes(), 400, "over the limit"),  # too many pixels
    ]
    for body, status, words in cases:
        r = http.post("/api/analyze", content=body)
        assert r.status_code == status, (words, r.text)
        assert r.headers["content-type"] == "application/json"
        assert words in r.json()["error"].lower(), r.json()
    big = http.post("/api/analyze", files={"file": ("x.jpg", b"\xff\xd8" + os.urandom(MAX_FRAME + 100_000))})
    assert big.status_code == 413
    bad_options = [({"detector": "yolo"}, "detector"), ({"detector": "tiny", "input_size": "100"}, "multiple of 32"),
                   ({"colour": "red"}, "unknown option"), ({"expressions": "maybe"}, "true or false"),
                   ({"min_score": "2"}, "min_confidence")]
    for params, words in bad_options:
        r = http.post("/api/analyze", params=params, content=(images / "happy.jpg").read_bytes())
        assert r.status_code == 400 and words in r.json()["error"], (params, r.text)
    assert http.get("/api/health").status_code == 200


def test_page_and_docs(http):
    r = http.get("/")
    assert r.status_code == 200 and "Load models" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for path in ("/static/main.js", "/static/style.css", "/openapi.json", "/docs"):
        assert http.get(path).status_code == 200, path
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/api/analyze", "/api/models", "/api/models/load", "/api/health"} <= set(paths)


def test_docs_work_offline(http):
    """/docs and /redoc load Swagger UI / ReDoc from this server only (a closed network has no CDN)."""
    import re

    for page, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        r = http.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', r.text)
        assert any(ref.endswith(script) for ref in refs), refs
        assert "fonts.googleapis" not in r.text
        for ref in refs:
            assert ref.startswith("/") and not ref.startswith("//"), f"{page} references {ref}"
            asset = http.get(ref)
            assert asset.status_code == 200 and len(asset.content) > 100, ref
        js = http.get(next(ref for ref in refs if ref.endswith(script)))
        assert "javascript" in js.headers["content-type"] and len(js.content) > 100_000


# -- WebSocket ----------------------------------------------------------------------------------------
def test_stream_matches_engine_and_settings_change(server, analyzer, images):
    happy = (images / "happy.jpg").read_bytes()
    faces = (images / "bbt4.jpg").read_bytes()
    with open_stream(server, STREAM) as ws:
        ws.send(happy)
        r1 = recv_json(ws)
        assert r1["type"] == "result" and r1["frame"] == 1
        assert_same_faces(r1, engine(analyzer, happy, STREAM))
        assert r1["faces"][0]["expressions"]["dominant"] == "happy"
        stages = {"decode", "detect", "landmarks", "expressions", "total", "queue", "server_total"}
        assert stages <= set(r1["timings_ms"])
        ws.send(json.dumps({"type": "frame", "id": 41}))
        ws.send(faces)
        r2 = recv_json(ws)
        assert r2["frame"] == 41 and len(r2["faces"]) >= 3
        ssd = {"detector": "ssd", "landmarks": None, "expressions": False, "age_gender": True}
        ws.send(json.dumps({"type": "settings", **ssd}))
        ack = recv_json(ws)
        assert ack["ok"] and ack["settings"]["detector"] == "ssd" and "age_gender" in ack["nets"]
        ws.send(faces)
        r3 = recv_json(ws)
        assert r3["frame"] == 42  # counting goes on from the named frame
        assert_same_faces(r3, engine(analyzer, faces, {**STREAM, **ssd}))
        assert "expressions" not in r3["faces"][0] and "age" in r3["faces"][0]
        ws.send(json.dumps({"type": "ping"}))
        assert recv_json(ws) == {"type": "pong"}


def test_stream_bad_input_keeps_connection(server, images):
    happy = (images / "happy.jpg").read_bytes()
    bad_frames = [
        (b"garbage bytes, not a jpeg", "not an image"),
        (b"", "empty"),
        (happy[:2000], "truncated"),
        (b"\xff\xd8" + os.urandom(MAX_FRAME + 1), "over the limit"),
        ((images / "bbt1.jpg").read_bytes(), "pixels, over the limit"),
    ]
    bad_texts = [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"type": "settings", "detector": "yolo"}), "detector"),
        (json.dumps({"type": "settings", "input_size": 100, "detector": "tiny"}), "multiple of 32"),
        (json.dumps({"type": "settings", "shoe_size": 44}), "unknown option"),
        (json.dumps({"type": "settings", "expressions": "yes"}), "true or false"),
        (json.dumps({"type": "settings", "recognize": True}), "recognition is not available"),
        (json.dumps({"type": "frame", "id": "x"}), "integer"),
        (json.dumps({"type": "dance"}), "unknown message type"),
        ("{" + " " * 5000 + "}", "over 4096 bytes"),
    ]
    with open_stream(server, STREAM) as ws:
        for data, words in bad_frames:
            ws.send(data)
            err = recv_json(ws)
            assert err["type"] == "error" and words in err["error"], (words, err)
            assert isinstance(err["frame"], int)
        for text, words in bad_texts:
            ws.send(text)
            err = recv_json(ws)
            assert err["type"] == "error" and words in err["error"], (words, err)
        # the settings in force are still the good ones, and a good frame is answered
        ws.send(happy)
        ok = recv_json(ws)
        assert ok["type"] == "result" and ok["faces"][0]["expressions"]["dominant"] == "happy"
        assert "landmarks" in ok["faces"][0]


def test_stream_origin_check(server, images):
    for origin in ("http://evil.example", f"http://127.0.0.1:{server.port + 1}", "null"):
        with pytest.raises(InvalidStatus) as info, connect(server.ws, origin=origin):
            pass
        assert info.value.response.status_code == 403, origin
    for origin in (f"http://127.0.0.1:{server.port}", f"http://localhost:{server.port}", "https://allowed.example"):
        with open_stream(server, None, origin=origin) as ws:
            ws.send(json.dumps({"type": "ping"}))
            assert recv_json(ws)["type"] == "pong"


def test_stream_disconnect_mid_frame(server, http, images):
    data = (images / "bbt4.jpg").read_bytes()
    for _ in range(3):
        with open_stream(server, STREAM) as ws:
            ws.send(data)  # and close before the answer
    with open_stream(server, STREAM) as ws:
        ws.send((images / "happy.jpg").read_bytes())
        assert recv_json(ws)["type"] == "result"
    deadline = time.monotonic() + 10
    while http.get("/api/health").json()["clients"] != 0:
        assert time.monotonic() < deadline, "disconnected clients were not cleaned up"
        time.sleep(0.1)


def test_stream_eight_concurrent_clients(server, images):
    photos = [(images / n).read_bytes() for n in ("happy.jpg", "angry.jpg", "surprised.jpg", "neutral.jpg")]
    frames = 3

    def client(i: int) -> list[dict]:
        out = []
        with open_stream(server, STREAM) as ws:
            for k in range(frames):
                ws.send(json.dumps({"type": "frame", "id": 1000 * i + k}))
                ws.send(photos[(i + k) % len(photos)])
                out.append(recv_json(ws, timeout=120))
        return out

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client, range(8)))
    for i, answers in enumerate(results):
        assert [a["type"] for a in answers] == ["result"] * frames, answers
        assert [a["frame"] for a in answers] == [1000 * i + k for k in range(frames)]
        assert all(len(a["faces"]) >= 1 for a in answers)


# -- missing weights ----------------------------------------------------------------------------------
def test_missing_weights_say_what_to_run(tmp_path, images):
    app = create_app(FaceAnalyzer(tmp_path / "no-models"))
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as http:
        m = http.get("/api/models").json()
        assert m["available"] == [] and m["download_command"] == "faceapi models download"
        r = http.post("/api/models/load?wait=true", json={"settings": STREAM})
        assert r.status_code == 503
        body = r.json()
        assert body["state"] == "error" and "faceapi models download" in body["error"]
        r = http.post("/api/analyze", content=(images / "happy.jpg").read_bytes())
        assert r.status_code == 503 and "faceapi models download" in r.json()["error"]
        with open_stream(srv, STREAM) as ws:
            ws.send((images / "happy.jpg").read_bytes())
            err = recv_json(ws)
            assert err["type"] == "error" and "faceapi models download" in err["error"]
            ws.send(json.dumps({"type": "ping"}))
            assert recv_json(ws)["type"] == "pong"


# -- the CLI ------------------------------------------------------------------------------------------
def test_serve_command_runs(models_dir, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FACEAPI_MODELS": str(models_dir)}
    gallery = tmp_path / "sub" / "people.sqlite3"
    proc = subprocess.Popen([sys.executable, "-m", "faceapi.cli.main", "serve", "--port", str(port),
                             "--max-frame-bytes", "1234", "--log-level", "warning", "--gallery", str(gallery)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "faceapi serve did not come up"
                time.sleep(0.1)
        assert r.json()["status"] == "ok" and r.json()["recognition"] is True
        r = httpx.post(f"http://127.0.0.1:{port}/api/analyze", content=b"x" * 2000)
        assert r.status_code == 413 and "1234" in r.json()["error"]
        assert httpx.get(f"http://127.0.0.1:{port}/api/people").json() == {"people": [], "count": 0}
    finally:
        proc.terminate()
        proc.wait(10)
    err = proc.stderr.read().decode()
    assert "serving on http://localhost:" in err and f"gallery {gallery} (0 people)" in err
    assert gallery.is_file()


# -- the recognition hook (issue "People") ------------------------------------------------------------
def test_recognition_hook_with_a_gallery(analyzer, images):
    gallery_mod = pytest.importorskip("faceapi.gallery")
    gallery = gallery_mod.Gallery(":memory:")
    settings = {"detector": "tiny", "input_size": 160}
    opts = AnalyzeOptions.from_dict({**settings, "descriptors": True})
    for name in ("sheldon", "raj"):
        face = analyzer.analyze(images / f"{name}1.png", opts).faces[0]
        gallery.enrol(name, [face.descriptor])
    app = create_app(analyzer, gallery=gallery)
    with LiveServer(app) as srv, open_stream(srv, {**settings, "recognize": True}) as ws:
        ws.send((images / "sheldon2.png").read_bytes())
        r = recv_json(ws)
        assert r["type"] == "result" and r["faces"][0]["match"]["label"] == "sheldon", r
        assert "descriptor" not in r["faces"][0] and "recognize" in r["timings_ms"]


def test_serve_command_https(models_dir, tmp_path, images):
    """--ssl-certfile/--ssl-keyfile: the page, the API and the stream over HTTPS / WSS."""
    import ssl

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FACEAPI_MODELS": str(models_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "faceapi.cli.main", "serve", "--port", str(port), "--log-level",
                             "warning", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), "--no-gallery"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/", timeout=2, verify=False)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "faceapi serve did not come up"
                time.sleep(0.1)
        assert r.status_code == 200 and "Detect faces" in r.text
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        with connect(f"wss://127.0.0.1:{port}/ws/stream", ssl=ctx, origin=f"https://localhost:{port}") as ws:
            assert recv_json(ws)["type"] == "hello"
            ws.send((images / "happy.jpg").read_bytes())
            assert recv_json(ws)["faces"][0]["expressions"]["dominant"] == "happy"
    finally:
        proc.terminate()
        proc.wait(10)
