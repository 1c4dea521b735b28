"""The web app started for real (uvicorn on a loopback socket), over HTTP (httpx) and WebSocket
(websockets), with the shared photos; answers are compared with FaceAnalyzer on the same bytes."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer

from helpers import missing, require

MAX_FRAME = 1_000_000
JPEG = {"content-type": "image/jpeg"}  # uploads name their type (415 otherwise)
MAX_PIXELS = 1_000_000  # bbt1.jpg (1366x768) is over it, the other photos are under
STREAM = {"detector": "tiny", "input_size": 416, "min_score": 0.5, "landmarks": "full", "expressions": True}


@pytest.fixture(scope="module")
def analyzer(models_dir) -> FaceAnalyzer:
    return FaceAnalyzer(models_dir, max_pixels=MAX_PIXELS)


@pytest.fixture(scope="module")
def server(analyzer, create_app, live_server):
    app = create_app(analyzer, max_frame_bytes=MAX_FRAME, allowed_origins=("https://allowed.example",),
                     inference_threads=2)
    with live_server(app) as srv:
        yield srv


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


# -- REST ---------------------------------------------------------------------------------------------
def test_health_and_models(http):
    h = http.get("/api/health").json()
    assert h["status"] == "ok" and h["recognition"] is False
    m = http.get("/api/models").json()
    names = {n["name"] for n in m["nets"]}
    assert {"tiny_face_detector", "ssd_mobilenetv1", "face_expression", "face_landmark_68"} <= names
    assert all(n["available"] and n["verified"] for n in m["nets"]), m
    assert all(n["label"] and n["label"] != n["name"] for n in m["nets"]), m
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
    r = http.post("/api/models/load", content=b"{not json", headers={"content-type": "application/json"})
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
        r = http.post("/api/analyze", params={"annotate": "true", "format": fmt, "landmarks": "full"}, content=data,
                      headers=JPEG)
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
        r = http.post("/api/analyze", content=body, headers=JPEG)
        assert r.status_code == status, (words, r.text)
        assert r.headers["content-type"] == "application/json"
        assert words in r.json()["error"].lower(), r.json()
    big = http.post("/api/analyze", files={"file": ("x.jpg", b"\xff\xd8" + os.urandom(MAX_FRAME + 100_000))})
    assert big.status_code == 413
    bad_options = [({"detector": "yolo"}, "detector"), ({"detector": "tiny", "input_size": "100"}, "multiple of 32"),
                   ({"colour": "red"}, "unknown option"), ({"expressions": "maybe"}, "true or false"),
                   ({"min_score": "2"}, "min_score")]
    for params, words in bad_options:
        r = http.post("/api/analyze", params=params, content=(images / "happy.jpg").read_bytes(), headers=JPEG)
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
    with server.stream(STREAM) as ws:
        ws.send(happy)
        r1 = ws.recv_json()
        assert r1["type"] == "result" and r1["frame"] == 1
        assert_same_faces(r1, engine(analyzer, happy, STREAM))
        assert r1["faces"][0]["expressions"]["dominant"] == "happy"
        stages = {"decode", "detect", "landmarks", "expressions", "total", "queue", "server_total"}
        assert stages <= set(r1["timings_ms"])
        ws.send(json.dumps({"type": "frame", "id": 41}))
        ws.send(faces)
        r2 = ws.recv_json()
        assert r2["frame"] == 41 and len(r2["faces"]) >= 3
        ssd = {"detector": "ssd", "landmarks": None, "expressions": False, "age_gender": True}
        ws.send(json.dumps({"type": "settings", **ssd}))
        ack = ws.recv_json()
        assert ack["ok"] and ack["settings"]["detector"] == "ssd" and "age_gender" in ack["nets"]
        ws.send(faces)
        r3 = ws.recv_json()
        assert r3["frame"] == 42  # counting goes on from the named frame
        assert_same_faces(r3, engine(analyzer, faces, {**STREAM, **ssd}))
        assert "expressions" not in r3["faces"][0] and "age" in r3["faces"][0]
        ws.send(json.dumps({"type": "ping"}))
        assert ws.recv_json() == {"type": "pong"}


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
    with server.stream(STREAM) as ws:
        for data, words in bad_frames:
            ws.send(data)
            err = ws.recv_json()
            assert err["type"] == "error" and words in err["error"], (words, err)
            assert isinstance(err["frame"], int)
        for text, words in bad_texts:
            ws.send(text)
            err = ws.recv_json()
            assert err["type"] == "error" and words in err["error"], (words, err)
        # the settings in force are still the good ones, and a good frame is answered
        ws.send(happy)
        ok = ws.recv_json()
        assert ok["type"] == "result" and ok["faces"][0]["expressions"]["dominant"] == "happy"
        assert "landmarks" in ok["faces"][0]


def test_stream_origin_check(server, images):
    InvalidStatus = require("websockets.exceptions").InvalidStatus
    connect = require("websockets.sync.client").connect
    for origin in ("http://evil.example", f"http://127.0.0.1:{server.port + 1}", "null"):
        with pytest.raises(InvalidStatus) as info, connect(server.ws, origin=origin):
            pass
        assert info.value.response.status_code == 403, origin
    for origin in (f"http://127.0.0.1:{server.port}", f"http://localhost:{server.port}", "https://allowed.example"):
        with server.stream(None, origin=origin) as ws:
            ws.send(json.dumps({"type": "ping"}))
            assert ws.recv_json()["type"] == "pong"


def test_stream_disconnect_mid_frame(server, http, images):
    data = (images / "bbt4.jpg").read_bytes()
    for _ in range(3):
        with server.stream(STREAM) as ws:
            ws.send(data)  # and close before the answer
    with server.stream(STREAM) as ws:
        ws.send((images / "happy.jpg").read_bytes())
        assert ws.recv_json()["type"] == "result"
    deadline = time.monotonic() + 10
    while http.get("/api/health").json()["clients"] != 0:
        assert time.monotonic() < deadline, "disconnected clients were not cleaned up"
        time.sleep(0.1)


def test_stream_eight_concurrent_clients(server, images):
    photos = [(images / n).read_bytes() for n in ("happy.jpg", "angry.jpg", "surprised.jpg", "neutral.jpg")]
    frames = 3

    def client(i: int) -> list[dict]:
        out = []
        with server.stream(STREAM) as ws:
            for k in range(frames):
                ws.send(json.dumps({"type": "frame", "id": 1000 * i + k}))
                ws.send(photos[(i + k) % len(photos)])
                out.append(ws.recv_json(timeout=120))
        return out

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client, range(8)))
    for i, answers in enumerate(results):
        assert [a["type"] for a in answers] == ["result"] * frames, answers
        assert [a["frame"] for a in answers] == [1000 * i + k for k in range(frames)]
        assert all(len(a["faces"]) >= 1 for a in answers)


# -- missing weights ----------------------------------------------------------------------------------
def test_missing_weights_say_what_to_run(tmp_path, images, create_app, live_server):
    app = create_app(FaceAnalyzer(tmp_path / "no-models"))
    with live_server(app) as srv, srv.client(timeout=30) as http:
        m = http.get("/api/models").json()
        assert m["available"] == [] and m["download_command"] == "faceapi models download"
        r = http.post("/api/models/load?wait=true", json={"settings": STREAM})
        assert r.status_code == 503
        body = r.json()
        assert body["state"] == "error" and "faceapi models download" in body["error"]
        assert body["command"] == "faceapi models download"
        r = http.post("/api/analyze", content=(images / "happy.jpg").read_bytes(), headers=JPEG)
        assert r.status_code == 503 and "faceapi models download" in r.json()["error"]
        with srv.stream(STREAM) as ws:
            ws.send((images / "happy.jpg").read_bytes())
            err = ws.recv_json()
            assert err["type"] == "error" and "faceapi models download" in err["error"]
            ws.send(json.dumps({"type": "ping"}))
            assert ws.recv_json()["type"] == "pong"


# -- the CLI ------------------------------------------------------------------------------------------
def test_serve_command_runs(models_dir, tmp_path, serve_process):
    env = {**os.environ, "FACEAPI_MODELS": str(models_dir)}
    gallery = tmp_path / "sub" / "people.sqlite3"
    args = ["--max-frame-bytes", "1234", "--log-level", "warning", "--gallery", str(gallery)]
    with serve_process(args, env) as srv, srv.client(timeout=60) as http:
        # the socket listens already: this request waits in its backlog until the server accepts it
        r = http.get("/api/health")
        assert r.json()["status"] == "ok" and r.json()["recognition"] is True
        r = http.post("/api/analyze", content=b"x" * 2000, headers=JPEG)
        assert r.status_code == 413 and "1234" in r.json()["error"]
        assert http.get("/api/people").json() == {"people": [], "count": 0}
    assert f"serving on http://127.0.0.1:{srv.port}/" in srv.stderr and f"gallery {gallery} (0 people)" in srv.stderr
    assert srv.page_url in srv.stderr  # the page's address with the token
    assert gallery.is_file()


# -- the recognition hook (issue "People") ------------------------------------------------------------
def test_recognition_hook_with_a_gallery(analyzer, images, create_app, live_server):
    from faceapi.gallery import Gallery

    gallery = Gallery(":memory:")
    settings = {"detector": "tiny", "input_size": 160}
    opts = AnalyzeOptions.from_dict({**settings, "descriptors": True})
    for name in ("sheldon", "raj"):
        face = analyzer.analyze(images / f"{name}1.png", opts).faces[0]
        gallery.enrol(name, [face.descriptor])
    app = create_app(analyzer, gallery=gallery)
    with live_server(app) as srv, srv.stream({**settings, "recognize": True}) as ws:
        ws.send((images / "sheldon2.png").read_bytes())
        r = ws.recv_json()
        assert r["type"] == "result" and r["faces"][0]["match"]["label"] == "sheldon", r
        assert "descriptor" not in r["faces"][0] and "recognize" in r["timings_ms"]


def test_serve_command_https(models_dir, tmp_path, images, serve_process):
    """--ssl-certfile/--ssl-keyfile: the page, the API and the stream over HTTPS / WSS."""
    import ssl

    connect = require("websockets.sync.client").connect
    if not shutil.which("openssl"):
        missing("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    env = {**os.environ, "FACEAPI_MODELS": str(models_dir)}
    with serve_process(["--log-level", "warning", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
                        "--no-gallery"], env) as srv:
        with httpx.Client(timeout=60, verify=False, follow_redirects=True) as browser:
            r = browser.get(srv.page_url)  # the token sets the cookie (Secure over HTTPS), then the page
            assert r.status_code == 200 and "Detect faces" in r.text and r.url == f"{srv.url}/"
            assert "Secure" in r.history[0].headers["set-cookie"]
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        with connect(srv.ws_with_token, ssl=ctx, origin=f"https://localhost:{srv.port}") as ws:
            assert json.loads(ws.recv(timeout=60))["type"] == "hello"
            ws.send((images / "happy.jpg").read_bytes())
            assert json.loads(ws.recv(timeout=60))["faces"][0]["expressions"]["dominant"] == "happy"
    assert f"serving on https://127.0.0.1:{srv.port}/" in srv.stderr


# -- one JSON for one request: REST, WebSocket and the CLI -----------------------------------------------
def test_rest_stream_and_cli_give_the_same_json(analyzer, images, tmp_path, models_dir, create_app, live_server):
    """The same image and options through POST /api/analyze, the stream and `faceapi analyze` (subprocess):
    the same faces (boxes equal up to float noise), the same keys and the same timing stages."""
    from faceapi.gallery import Gallery

    gallery = Gallery(tmp_path / "people.sqlite3")
    desc_opts = AnalyzeOptions.from_dict({"detector": "tiny", "input_size": 160, "descriptors": True})
    for name in ("sheldon", "raj", "penny"):
        gallery.enrol(name, [analyzer.analyze(images / f"{name}1.png", desc_opts).faces[0].descriptor])
    photo = images / "bbt4.jpg"
    data = photo.read_bytes()
    # descriptors asked for: all three then answer with them (the CLI writes the descriptors recognition
    # computes even when not asked, REST and the stream only when asked)
    settings = {"detector": "ssd", "landmarks": "full", "expressions": True, "age_gender": True, "descriptors": True,
                "recognize": True, "distance_threshold": 0.55, "match_strategy": "nearest"}
    app = create_app(analyzer, gallery=gallery)
    with live_server(app) as srv, srv.client(timeout=120) as http:
        r = http.post("/api/analyze", params={k: str(v).lower() for k, v in settings.items()}, content=data,
                      headers=JPEG)
        assert r.status_code == 200, r.text
        rest = r.json()
        with srv.stream(settings) as ws:
            ws.send(data)
            streamed = ws.recv_json(timeout=120)
    gallery.close()
    env = {**os.environ, "FACEAPI_MODELS": str(models_dir), "PYTHONPATH": os.pathsep.join(sys.path)}
    cli = subprocess.run([sys.executable, "-m", "faceapi.cli.main", "analyze", str(photo), "--detector", "ssd",
                          "--landmarks", "full", "--expressions", "--age-gender", "--descriptors", "--recognize",
                          "--gallery", str(tmp_path / "people.sqlite3"), "--distance-threshold", "0.55",
                          "--match-strategy", "nearest"], capture_output=True, text=True, env=env, timeout=300)
    assert cli.returncode == 0, cli.stderr
    (record,) = [json.loads(line) for line in cli.stdout.splitlines() if line.strip()]

    assert streamed["type"] == "result"
    transport = {"rest": set(), "stream": {"type", "frame"}, "cli": {"source", "status"}}
    shapes = {"rest": rest, "stream": streamed, "cli": record}
    keys = {k: set(v) - transport[k] for k, v in shapes.items()}
    assert keys["rest"] == keys["stream"] == keys["cli"] == {"image", "faces", "timings_ms"}, keys
    stages = {k: set(v["timings_ms"]) for k, v in shapes.items()}
    stages["stream"] -= {"queue", "server_total"}  # the stream's own: time waiting for and spent in the server
    assert stages["rest"] == stages["stream"] == stages["cli"], stages
    assert {"decode", "detect", "landmarks", "expressions", "age_gender", "recognize", "total"} <= stages["rest"]
    assert "recognition" not in stages["rest"]
    labels = [f["match"]["label"] for f in rest["faces"]]
    assert len(set(labels) - {"unknown"}) >= 2, labels  # recognition ran and named people
    for other in (streamed, record):
        assert other["image"] == rest["image"] and len(other["faces"]) == len(rest["faces"])
        for a, b in zip(rest["faces"], other["faces"]):
            assert set(a) == set(b)
            assert a["box"] == pytest.approx(b["box"], abs=1e-6)
            assert a["score"] == pytest.approx(b["score"], abs=1e-9)
            assert a["match"]["label"] == b["match"]["label"]
            assert a["match"]["distance"] == pytest.approx(b["match"]["distance"], abs=1e-6)
            assert a["descriptor"] == pytest.approx(b["descriptor"], abs=1e-6)


# -- declared parameters: /openapi.json ---------------------------------------------------------------
def test_openapi_declares_every_analyze_option_with_its_limits(http):
    doc = http.get("/openapi.json").json()
    params = {p["name"]: p for p in doc["paths"]["/api/analyze"]["post"]["parameters"]}
    want = {"detector", "input_size", "min_score", "max_results", "landmarks", "expressions", "age_gender",
            "descriptors", "single", "recognize", "distance_threshold", "match_strategy", "annotate", "format"}
    assert want <= set(params), sorted(want - set(params))
    assert all(p["in"] == "query" and p.get("description") for p in params.values())
    schema = {name: p["schema"] for name, p in params.items()}
    assert schema["detector"]["enum"] == ["ssd", "tiny"] and schema["detector"]["default"] == "ssd"
    assert (schema["input_size"]["type"], schema["input_size"]["multipleOf"], schema["input_size"]["minimum"],
            schema["input_size"]["maximum"], schema["input_size"]["default"]) == ("integer", 32, 128, 1024, 416)
    assert (schema["min_score"]["exclusiveMinimum"], schema["min_score"]["exclusiveMaximum"],
            schema["min_score"]["default"]) == (0, 1, 0.5)
    assert (schema["max_results"]["minimum"], schema["max_results"]["maximum"]) == (1, 1000)
    assert (schema["distance_threshold"]["exclusiveMinimum"], schema["distance_threshold"]["maximum"],
            schema["distance_threshold"]["default"]) == (0, 10, 0.6)
    assert schema["landmarks"]["enum"] == ["off", "full", "tiny"]
    assert schema["match_strategy"]["enum"] == ["mean", "nearest"]
    for flag in ("expressions", "age_gender", "descriptors", "single", "recognize", "annotate"):
        assert schema[flag] == {**schema[flag], "type": "boolean", "default": False}, flag
    assert "png" in schema["format"]["enum"]
    body = doc["paths"]["/api/analyze"]["post"]["requestBody"]["content"]
    assert {"image/*", "multipart/form-data"} <= set(body)
    people = {path: {p["name"] for p in op.get("parameters", [])}
              for path, ops in doc["paths"].items() if path.startswith("/api/people")
              for method, op in ops.items() if method == "post"}
    assert {"name", "crop"} <= people["/api/people"]
    assert {"crop", "distance_threshold", "strategy"} <= people["/api/people/match"]
    assert "replace" in people["/api/people/import"]


def test_declared_limits_are_enforced_with_clear_errors(http, images):
    data = (images / "happy.jpg").read_bytes()
    cases = [({"input_size": "1056", "detector": "tiny"}, "input_size"), ({"max_results": "0"}, "max_results"),
             ({"max_results": "1001"}, "max_results"), ({"min_score": "0"}, "min_score"),
             ({"distance_threshold": "0"}, "distance_threshold"), ({"distance_threshold": "11"}, "distance_threshold"),
             ({"landmarks": "medium"}, "landmarks"), ({"format": "gif"}, "format"),
             ({"strategy": "mean", "match_strategy": "nearest"}, "differ")]
    for params, words in cases:
        r = http.post("/api/analyze", params=params, content=data, headers=JPEG)
        assert r.status_code == 400, (params, r.text)
        assert r.headers["content-type"] == "application/json" and words in r.json()["error"], (params, r.json())
    # every way of saying "no landmarks" the page and README use
    for off in ("off", "none", ""):
        r = http.post("/api/analyze", params={"landmarks": off}, content=data, headers=JPEG)
        assert r.status_code == 200 and "landmarks" not in r.json()["faces"][0], off


# -- the error table --------------------------------------------------------------------------------------
def test_every_project_error_has_one_status():
    import inspect

    import faceapi.errors as project_errors
    import faceapi.gallery as gallery
    from faceapi.results import Liveness
    from faceapi.server import errors as table
    classes = [c for _, c in inspect.getmembers(project_errors, inspect.isclass)
               if issubclass(c, project_errors.FaceApiError) and c is not project_errors.FaceApiError]
    classes += [gallery.UnknownPersonError, gallery.NameTakenError, gallery.FaceCountError,
                table.RequestTooLarge, table.GalleryUnavailable]
    unlisted = [c.__name__ for c in classes if c not in table.ERROR_STATUS]
    assert not unlisted, f"errors without an HTTP status in faceapi.server.errors.ERROR_STATUS: {unlisted}"
    want = {"ImageError": 400, "OptionsError": 400, "RequestTooLarge": 413, "ModelError": 503,
            "ModelNotFoundError": 503, "GalleryUnavailable": 503, "GalleryError": 422, "UnknownPersonError": 404,
            "NameTakenError": 409, "FaceCountError": 422}
    for cls in classes:
        if cls is gallery.FaceCountError:
            exc = cls("x", 2)
        elif cls is project_errors.NotLiveError:
            exc = cls("x", Liveness(0.01, False, 0.03))
        else:
            exc = cls("x")
        assert table.status_of(exc) == want.get(cls.__name__, table.ERROR_STATUS[cls]), cls
        assert table.error_payload(exc)["error"] == "x"
    assert table.error_payload(gallery.FaceCountError("two faces", 2)) == {"error": "two faces", "faces": 2}
    assert table.error_payload(project_errors.ModelNotFoundError("no weights"))["command"] == "faceapi models download"

    class Unmapped(project_errors.FaceApiError):
        pass

    assert table.status_of(Unmapped("x")) == 500  # a new error gets a status by its base until it is listed


# -- model loading: a future, not polling ------------------------------------------------------------
class CountingAnalyzer(FaceAnalyzer):
    """A real FaceAnalyzer that counts its net loads and can hold them until released."""

    def __init__(self, *args, **kw) -> None:
        import threading

        super().__init__(*args, **kw)
        self.loads: dict[str, int] = {}
        self.gate = threading.Event()
        self.count_lock = threading.Lock()

    def net(self, name: str):
        if name not in self._nets:
            self.gate.wait(60)
            with self.count_lock:
                self.loads[name] = self.loads.get(name, 0) + 1
        return super().net(name)


def test_concurrent_loads_share_one_load(models_dir):
    import asyncio

    from faceapi.server import models_state as loader_mod
    analyzer = CountingAnalyzer(models_dir)
    loader = loader_mod.ModelLoader(analyzer)

    async def scenario() -> list[dict]:
        first = loader.start(["tiny_face_detector", "face_landmark_68"])
        second = loader.start(["face_landmark_68", "face_expression"])  # joins the running job
        assert second is first and first.nets == ["tiny_face_detector", "face_landmark_68", "face_expression"]
        waiters = [asyncio.ensure_future(loader.wait(first)) for _ in range(3)]
        await asyncio.sleep(0)
        assert not any(w.done() for w in waiters)  # held at the gate: nobody is woken early
        waiters[0].cancel()  # a waiter that goes away does not cancel the others' load
        analyzer.gate.set()
        done = await asyncio.wait_for(asyncio.gather(*waiters[1:]), 120)
        assert first.finished.done()
        return done

    try:
        states = asyncio.run(scenario())
    finally:
        loader.shutdown()
    assert all(s["state"] == "done" for s in states), states
    assert states[0]["status"] == {n: "loaded" for n in states[0]["nets"]}
    assert analyzer.loads == {"tiny_face_detector": 1, "face_landmark_68": 1, "face_expression": 1}
    # a finished job is not joined: a new request starts a new job, and loaded nets are not loaded again
    again = loader_mod.ModelLoader(analyzer)
    try:
        job = again.start(["face_expression"])
        assert job.status == {"face_expression": "loaded"}
        assert asyncio.run(asyncio.wait_for(again.wait(job), 60))["state"] == "done"
    finally:
        again.shutdown()
    assert analyzer.loads["face_expression"] == 1


def test_models_list_every_net_with_its_label(http):
    m = http.get("/api/models?verify=false").json()
    labels = {n["name"]: n["label"] for n in m["nets"]}
    assert labels == {
        "ssd_mobilenetv1": "SSD MobileNet V1", "tiny_face_detector": "Tiny Face Detector",
        "face_landmark_68": "68 landmarks", "face_landmark_68_tiny": "68 landmarks (tiny)",
        "face_expression": "Expressions", "age_gender": "Age & gender",
        "face_recognition": "Recognition (descriptors)"}
    assert all({"name", "label", "available", "verified", "loaded"} <= set(n) for n in m["nets"])


def test_hello_carries_the_frame_limit(server):
    with server.stream() as ws:
        assert ws.hello["max_frame_bytes"] == MAX_FRAME


# -- multipart: Starlette's parser, with limits --------------------------------------------------------
def test_multipart_limits(http, images):
    data = (images / "happy.jpg").read_bytes()
    two = http.post("/api/analyze", files=[("file", ("a.jpg", data, "image/jpeg")),
                                           ("file2", ("b.jpg", data, "image/jpeg"))])
    assert two.status_code == 400 and "Too many files" in two.json()["error"], two.text
    big_field = http.post("/api/analyze", data={"note": "x" * 5000}, files={"file": ("a.jpg", data, "image/jpeg")})
    assert big_field.status_code == 413 and "over the limit" in big_field.json()["error"], big_field.text
    form_without_file = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b--\r\n'
    no_file = http.post("/api/analyze", content=form_without_file,
                        headers={"content-type": "multipart/form-data; boundary=b"})
    assert no_file.status_code == 400 and "no file" in no_file.json()["error"], no_file.text
    broken = http.post("/api/analyze", content=b"not multipart at all",
                       headers={"content-type": "multipart/form-data"})
    assert broken.status_code == 400 and "boundary" in broken.json()["error"], broken.text
    fine = http.post("/api/analyze", files={"file": ("a.jpg", data, "image/jpeg")})
    assert fine.status_code == 200 and fine.json()["faces"]
