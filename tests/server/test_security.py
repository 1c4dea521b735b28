"""The attacks of issue 10, each tried against a real server on loopback with real HTTP and WebSocket clients
(httpx, websockets, raw sockets where a client would fix the request up), and each refused; and the access
rules that refuse them (token and cookie flow, host allow-list, origins, CORS, content types, bounded work,
security headers, the redacted access log).

Every test here failed against the server before issue 10 (no token, no Host check, text/plain JSON taken,
input_size=4096 taken, no CSP on /static/index.html, names in the access log, ...)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from faceapi.pipeline import FaceAnalyzer

from helpers import reference_descriptors, require

JSON = {"content-type": "application/json"}
JPEG = {"content-type": "image/jpeg"}
EVIL_HOST = "rebind.evil.example"


@pytest.fixture(scope="module")
def server(models_dir, gallery, create_app, live_server):
    app = create_app(FaceAnalyzer(models_dir), max_frame_bytes=200_000, gallery=gallery)
    with live_server(app, head_timeout_s=1.0) as srv:
        yield srv


@pytest.fixture(scope="module")
def anonymous(server):
    """A client without the token (a stranger, or another site's page)."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def descriptor(shared_dir) -> list[float]:
    """A real descriptor: face-api.js's for amy1.png (reference output)."""
    found = reference_descriptors(json.loads((shared_dir / "reference" / "amy1" / "result.json").read_text()))
    assert found, "amy1's reference output has a descriptor"
    return found[0]


def raw_exchange(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Send `request` as is on a new connection and read until the server closes it or the head ends."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def ws_handshake(port: int, host: str, token: str | None, origin: str | None = None) -> bytes:
    """A WebSocket opening handshake written by hand (websockets' client sets Host itself): its answer."""
    path = "/ws/stream" + (f"?token={token}" if token else "")
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    if origin:
        lines.append(f"Origin: {origin}")
    return raw_exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode())


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


# -- the token --------------------------------------------------------------------------------------------
def test_every_route_needs_the_token(server, http, anonymous):
    """Every REST route of the OpenAPI document, without the token: 401 (GET /api/health: status only)."""
    paths = http.get("/openapi.json").json()["paths"]
    tried = 0
    for path, ops in paths.items():
        concrete = path.replace("{name}", "amy")
        for method in ops:
            r = anonymous.request(method.upper(), concrete, headers=JPEG, content=b"x" if method != "get" else None)
            tried += 1
            if path == "/api/health":
                assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text
            else:
                assert r.status_code == 401, (method, path, r.status_code)
                assert "token" in r.json()["error"] and r.headers["www-authenticate"].startswith("Bearer")
    assert tried >= 12
    for path in ("/openapi.json", "/docs", "/redoc", "/static/app.js", "/static/index.html"):
        assert anonymous.get(path).status_code == 401, path
    wrong = httpx.get(f"{server.url}/api/people", headers={"Authorization": "Bearer " + "x" * 43})
    assert wrong.status_code == 401
    health = http.get("/api/health").json()
    assert {"version", "loaded", "clients", "recognition", "access"} <= set(health)
    assert health["access"]["token_required"] is True and server.token not in json.dumps(health)


def test_websocket_needs_the_token(server):
    InvalidStatus = require("websockets.exceptions").InvalidStatus
    connect = require("websockets.sync.client").connect
    for url in (server.ws, f"{server.ws}?token=wrong"):
        with pytest.raises(InvalidStatus) as info, connect(url):
            pass
        assert info.value.response.status_code == 401
    with connect(server.ws, additional_headers=server.auth) as ws:  # a Bearer header works too
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"


def test_page_token_sets_a_strict_cookie_and_leaves_the_address(server):
    r = httpx.get(f"{server.url}/?token={server.token}&lang=en")
    assert r.status_code == 303 and r.headers["location"] == "/?lang=en"  # the token leaves the address bar
    cookie = r.headers["set-cookie"]
    assert f"faceapi_session_{server.port}=" in cookie
    assert all(flag in cookie for flag in ("HttpOnly", "SameSite=Strict", "Path=/"))
    assert server.token not in cookie  # the cookie is derived from the token, not the token
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    with httpx.Client(base_url=server.url, cookies={f"faceapi_session_{server.port}": value}) as browser:
        page = browser.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert browser.get("/api/people").status_code == 200
    connect = require("websockets.sync.client").connect
    with connect(server.ws, additional_headers={"Cookie": f"faceapi_session_{server.port}={value}"}) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"
    # without the token: a page asking for it (no script), and no cookie for a wrong one
    for url in ("/", "/?token=wrong"):
        r = httpx.get(server.url + url)
        assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
        assert "set-cookie" not in r.headers and "<script" not in r.text and 'name=token' in r.text
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert httpx.get(f"{server.url}/api/people?token={server.token}").status_code == 401  # only pages/WS take ?token=


# -- DNS rebinding ------------------------------------------------------------------------------------------
def test_dns_rebinding_host_is_refused_even_with_the_token(server, http, gallery, descriptor):
    gallery.enrol("victim", [descriptor])
    try:
        evil = {"Host": f"{EVIL_HOST}:{server.port}"}
        export = http.get("/api/people/export", headers=evil)
        assert export.status_code == 403 and "--allow-host" in export.json()["error"]
        assert "victim" not in export.text
        assert http.delete(f"/api/people/{gallery.person('victim').id}", headers=evil).status_code == 403
        assert http.get("/", headers=evil).status_code == 403
        assert "victim" in gallery  # nothing was deleted
        for bad in ("", "a b", "x/y", "user@host"):
            assert status_of(raw_exchange(server.port, f"GET /api/health HTTP/1.1\r\nHost: {bad}\r\n\r\n".encode())) \
                == 400, bad
        # the WebSocket: the old origin check compared Origin with Host, both the attacker's
        answer = ws_handshake(server.port, f"{EVIL_HOST}:{server.port}", server.token,
                              origin=f"http://{EVIL_HOST}:{server.port}")
        assert status_of(answer) == 403, answer
        assert status_of(ws_handshake(server.port, f"127.0.0.1:{server.port}", server.token)) == 101
        for host in (f"localhost:{server.port}", f"[::1]:{server.port}", "127.0.0.1"):
            assert http.get("/api/health", headers={"Host": host}).status_code == 200, host
    finally:
        gallery.remove("victim")


def test_allow_host_admits_a_name(models_dir, create_app, live_server):
    from faceapi.server import security
    policy = security.AccessPolicy.build("t" * 20, bound_hosts=["127.0.0.1"], allow_hosts=["faceapi.lan"])
    with live_server(create_app(FaceAnalyzer(models_dir), access=policy)) as srv, srv.client() as http:
        assert http.get("/api/health", headers={"Host": f"faceapi.lan:{srv.port}"}).status_code == 200
        assert http.get("/api/health", headers={"Host": f"other.lan:{srv.port}"}).status_code == 403


# -- cross-site writes --------------------------------------------------------------------------------------
def test_cross_site_text_plain_import_cannot_replace_the_gallery(server, http, gallery, descriptor):
    """The attack: another site's page POSTs /api/people/import?replace=true as text/plain (no preflight)."""
    gallery.enrol("keeper", [descriptor])
    attacker = json.dumps({"format": "faceapi-gallery", "version": 1,
                           "people": [{"name": "mallory", "descriptors": [descriptor]}]})
    cookie = httpx.get(f"{server.url}/?token={server.token}").headers["set-cookie"].split(";", 1)[0]
    try:
        attempts = [
            # a browser would send the cookie only same-site (SameSite=Strict); assume the worst: it is sent
            {"content-type": "text/plain", "origin": "https://evil.example", "cookie": cookie},
            {"content-type": "text/plain", "sec-fetch-site": "cross-site", "cookie": cookie},
            {"content-type": "application/json", "origin": "null", "cookie": cookie},
            {"content-type": "application/json", "origin": f"http://127.0.0.1:{server.port + 1}", "cookie": cookie},
            {"content-type": "text/plain", "origin": "https://evil.example"},  # and without any credential
        ]
        with httpx.Client(base_url=server.url, timeout=30) as browser:
            for headers in attempts:
                r = browser.post("/api/people/import?replace=true", content=attacker, headers=headers)
                assert r.status_code in (401, 403), (headers, r.status_code, r.text)
                if "cookie" in headers:
                    assert r.status_code == 403 and "cross-site" in r.json()["error"]
        # with the token, text/plain is still not JSON to this server
        r = http.post("/api/people/import?replace=true", content=attacker, headers={"content-type": "text/plain"})
        assert r.status_code == 415 and "application/json" in r.json()["error"]
        assert "keeper" in gallery and "mallory" not in gallery
        # the same cross-site origin cannot open the stream either
        answer = ws_handshake(server.port, f"127.0.0.1:{server.port}", server.token, origin="https://evil.example")
        assert status_of(answer) == 403
    finally:
        gallery.remove("keeper")


def test_uploads_and_json_need_their_content_types(http, shared_dir):
    photo = (shared_dir / "images" / "happy.jpg").read_bytes()
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"content-type": ctype} if ctype else {}
        r = http.post("/api/analyze", content=photo, headers=headers)
        assert r.status_code == 415 and "image/jpeg" in r.json()["error"], (ctype, r.text)
        r = http.post("/api/people?name=x", content=photo, headers=headers)
        assert r.status_code == 415, ctype
    for ctype in ("image/jpeg", "application/octet-stream"):
        r = http.post("/api/analyze?detector=tiny", content=photo, headers={"content-type": ctype})
        assert r.status_code == 200, ctype
    assert http.post("/api/models/load", content=b'{"nets": []}', headers={"content-type": "text/plain"}).status_code \
        == 415
    assert http.patch("/api/people/1", content=b'{"name": "y"}', headers={"content-type": "text/plain"}).status_code \
        == 415


def test_no_cors_headers_unless_an_origin_is_allowed(models_dir, create_app, live_server, http):
    r = http.get("/api/health", headers={"Origin": "https://evil.example"})
    assert not any(k.lower().startswith("access-control-") for k in r.headers)
    pre = http.options("/api/people", headers={"Origin": "https://evil.example",
                                               "Access-Control-Request-Method": "GET"})
    assert pre.status_code == 403 and "access-control-allow-origin" not in pre.headers
    app = create_app(FaceAnalyzer(models_dir), allowed_origins=("https://app.example",))
    with live_server(app) as srv, srv.client() as client:
        pre = client.options("/api/people", headers={"Origin": "https://app.example",
                                                     "Access-Control-Request-Method": "POST",
                                                     "Access-Control-Request-Headers": "authorization"})
        assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == "https://app.example"
        assert "Authorization" in pre.headers["access-control-allow-headers"]
        assert "access-control-allow-credentials" not in pre.headers  # never cookies cross-site
        r = client.get("/api/health", headers={"Origin": "https://app.example"})
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        r = client.get("/api/health", headers={"Origin": "https://other.example"})
        assert "access-control-allow-origin" not in r.headers
        r = client.post("/api/models/load", json={"nets": []}, headers={"Origin": "https://app.example",
                                                                       "Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 202, r.text  # an allowed origin may write (with the token)


# -- --no-token is for loopback only ---------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["--host", "0.0.0.0", "--no-token"], ["--lan", "--no-token"],
                                  ["--host", "192.0.2.1", "--no-token"]])
def test_no_token_beyond_loopback_refuses_to_start(args, tmp_path):
    env = {**os.environ, "FACEAPI_TLS_DIR": str(tmp_path / "tls"), "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-m", "faceapi.cli.main", "serve", "--no-gallery", *args],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode != 0 and "a token is required" in r.stderr, r.stderr
    assert not (tmp_path / "tls").exists()  # refused before anything was made


def test_no_token_on_loopback_works(models_dir, serve_process):
    env = {**os.environ, "FACEAPI_MODELS": str(models_dir)}
    with serve_process(["--no-token", "--no-gallery", "--log-level", "warning"], env) as srv:
        r = httpx.get(f"{srv.url}/api/health", timeout=60)
        assert r.status_code == 200 and r.json()["access"]["token_required"] is False
        # rebinding is still refused without a token
        assert httpx.get(f"{srv.url}/api/models", headers={"Host": EVIL_HOST}, timeout=30).status_code == 403


def test_serve_help_says_how_access_works():
    r = subprocess.run([sys.executable, "-m", "faceapi.cli.main", "serve", "--help"], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    text = " ".join(r.stdout.split())
    for words in ("?token=", "--no-token", "--allow-host", "--allow-origin", "--lan", "--https", "Bearer",
                  "12000000", "loopback"):
        assert words in text, words


# -- bounded work ---------------------------------------------------------------------------------------------
def test_input_size_is_bounded_everywhere(server, http, shared_dir):
    photo = (shared_dir / "images" / "happy.jpg").read_bytes()
    for size in ("4096", "16384", "96", "1056"):
        r = http.post("/api/analyze", params={"detector": "tiny", "input_size": size}, content=photo, headers=JPEG)
        assert r.status_code == 400 and "multiple of 32 from 128 to 1024" in r.json()["error"], r.text
    r = http.post("/api/models/load", json={"settings": {"detector": "tiny", "input_size": 4096}})
    assert r.status_code == 400 and "128 to 1024" in r.json()["error"]
    with server.stream() as ws:
        ws.send(json.dumps({"type": "settings", "detector": "tiny", "input_size": 4096}))
        err = ws.recv_json()
        assert err["type"] == "error" and "128 to 1024" in err["error"]
        ws.send(json.dumps({"type": "settings", "max_results": 10**9}))
        assert "max_results" in ws.recv_json()["error"]
    r = http.post("/api/analyze", params={"max_results": "100000"}, content=photo, headers=JPEG)
    assert r.status_code == 400 and "1 to 1000" in r.json()["error"]


@pytest.mark.parametrize("body, words", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"nets": [' + "1" * 5000 + "]}", "characters"),
    ('{"nets": 1e999}', "out of range"),
    ('{"nets": NaN}', "NaN"),
    (b'{"nets": "\xff"}', "UTF-8"),
])
def test_hostile_json_is_a_400_not_a_500(http, body, words):
    for path, limit in (("/api/people/import", None), ("/api/models/load", 4096)):
        data = body.encode() if isinstance(body, str) else body
        r = http.post(path, content=data, headers=JSON)
        if limit is not None and len(data) > limit:
            assert r.status_code == 413, (path, r.text)
        else:
            assert r.status_code == 400 and words in r.json()["error"], (path, r.text)


def test_hostile_settings_message_keeps_the_stream(server):
    with server.stream() as ws:
        ws.send("[" * 2000 + "]" * 2000)  # within 4096 bytes
        err = ws.recv_json()
        assert err["type"] == "error" and "nested too deeply" in err["error"]
        ws.send(json.dumps({"type": "ping"}))
        assert ws.recv_json() == {"type": "pong"}


def test_bodies_are_refused_by_their_declared_size_before_reading(server):
    """A declared 70 MB import is refused at once (413), without waiting for the body."""
    head = (f"POST /api/people/import HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer "
            f"{server.token}\r\nContent-Type: application/json\r\nContent-Length: 70000000\r\n\r\n").encode()
    t0 = time.monotonic()
    answer = raw_exchange(server.port, head)
    assert status_of(answer) == 413 and time.monotonic() - t0 < 5


def test_websocket_messages_are_bounded_and_not_compressed(server):
    connect = require("websockets.sync.client").connect
    ConnectionClosed = require("websockets.exceptions").ConnectionClosed
    with connect(server.ws_with_token, max_size=None) as ws:  # the client offers permessage-deflate
        assert "sec-websocket-extensions" not in ws.response.headers  # the server takes no compression
        json.loads(ws.recv(timeout=30))
        ws.send(b"\xff\xd8" + os.urandom(200_000 + 64 * 1024 + 1))  # past the frame limit and its slack
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=30)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009


def test_a_request_head_that_never_ends_is_cut(server):
    """Slowloris: a connection that sends half a request head is closed after the head deadline (1 s in
    this test; 10 s by default) instead of being held for ever."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        t0 = time.monotonic()
        assert s.recv(1024) == b""  # closed by the server
        assert time.monotonic() - t0 < 8
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
        assert s.recv(1024).startswith(b"HTTP/1.1 431")  # over the 32 KB head limit


# -- headers ---------------------------------------------------------------------------------------------------
def test_every_html_answer_is_unframeable(http, server):
    for path in ("/", "/static/index.html", "/docs", "/redoc"):
        r = http.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, path
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
    page_csp = http.get("/static/index.html").headers["content-security-policy"]
    assert "script-src 'self';" in page_csp and "unsafe-inline" not in page_csp
    r = http.get("/api/people/export")
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    assert "server" not in r.headers


# -- people: 404 without the gallery's names or path, names out of the access log --------------------------------
def test_unknown_person_404_says_nothing_else(http, gallery, descriptor):
    gallery.enrol("Amelia", [descriptor])
    try:
        for method in ("GET", "DELETE"):
            r = http.request(method, "/api/people/999999")
            assert r.status_code == 404 and r.json() == {"error": "no person with id 999999"}, r.text
        r = http.patch("/api/people/999999", json={"name": "x"})
        assert r.status_code == 404 and "Amelia" not in r.text and str(gallery.path) not in r.text
    finally:
        gallery.remove("Amelia")


def test_access_log_has_no_names_and_no_tokens(models_dir, tmp_path, serve_process, shared_dir):
    env = {**os.environ, "FACEAPI_MODELS": str(models_dir)}
    secret = "Zebediah Quux"
    args = ["--log-level", "info", "--gallery", str(tmp_path / "g.sqlite3")]
    with serve_process(args, env) as srv, srv.client(timeout=120) as http:
        photo = (shared_dir / "images" / "amy1.png").read_bytes()
        r = http.post("/api/people", params={"name": secret, "crop": "true"}, content=photo,
                      headers={"content-type": "image/png"})
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        assert http.get("/api/people", params={"name": secret}).json()["people"][0]["id"] == pid
        assert http.get(f"/api/people/{pid}").status_code == 200
        assert http.delete(f"/api/people/{pid}").status_code == 200
        assert httpx.get(srv.page_url, timeout=30).status_code == 303
        with srv.stream() as ws:
            ws.send(json.dumps({"type": "ping"}))
            ws.recv_json()
    log = srv.stderr
    assert '"GET /api/people/<name>" 200' in log and '"DELETE /api/people/<name>" 200' in log, log
    assert '"POST /api/people?..." 201' in log and '"WebSocket /ws/stream?..." 101' in log, log
    for word in ("Zebediah", "Quux", "Zebediah%20Quux"):
        assert word not in log
    # the token appears once: in the address printed for the person at start, never in a log line
    assert log.count(srv.token) == 1 and re.search(r"open the page at \S+\?token=", log)


def test_only_the_project_image_formats_are_decoded(http):
    """EPS/PostScript (Ghostscript) and other formats Pillow knows are refused before any decoder runs."""
    import io

    from PIL import Image

    from faceapi.errors import ImageError
    from faceapi.image import load_image

    eps = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n%%EndComments\n"
           b"newpath 0 0 moveto 8 8 lineto stroke showpage\n%%EOF\n")
    assert Image.open(io.BytesIO(eps)).format == "EPS"  # Pillow alone would take it
    with pytest.raises(ImageError, match="accepted: JPEG, PNG"):
        load_image(eps)
    for ctype in ("image/x-eps", "application/octet-stream"):
        r = http.post("/api/analyze", content=eps, headers={"content-type": ctype})
        assert r.status_code == 400 and "not an image" in r.json()["error"], r.text


# -- data integrity ------------------------------------------------------------------------------------------
def test_out_of_range_descriptors_cannot_be_imported(http, gallery, descriptor):
    """The attack: descriptors of +-3.4e38 imported, after which every recognition failed."""
    before = http.get("/api/people/export").json()
    bad = {"huge": [3.4e38] * 64 + [-3.4e38] * 64, "one huge value": [*descriptor[:-1], 3.4e38],
           "too large": [x * 5 for x in descriptor], "zeros": [0.0] * 128, "127 numbers": descriptor[:127],
           "strings": ["0.1"] * 128}
    for what, vector in bad.items():
        payload = {"format": "faceapi-gallery", "version": 1, "people": [{"name": "mallory", "descriptors": [vector]}]}
        r = http.post("/api/people/import", json=payload)
        assert r.status_code == 422, (what, r.text)
        assert "descriptor" in r.json()["error"], (what, r.json())
    assert http.get("/api/people/export").json()["people"] == before["people"]
    fine = {"format": "faceapi-gallery", "version": 1, "people": [{"name": "real", "descriptors": [descriptor]}]}
    assert http.post("/api/people/import", json=fine).status_code == 200
    assert http.delete(f"/api/people/{gallery.person('real').id}").status_code == 200


def test_reference_descriptors_are_all_within_the_bounds(shared_dir):
    """The bounds were measured on the reference outputs: every reference descriptor passes them."""
    from faceapi.gallery import validation
    found = [d for path in sorted((shared_dir / "reference").glob("*/*result.json"))
             for d in reference_descriptors(json.loads(path.read_text()))]
    assert len(found) >= 100
    for vector in found:
        validation.check_descriptor(vector)


def test_matching_survives_bad_rows_already_stored(http, gallery, descriptor, shared_dir):
    """Rows written before the bounds (or by hand) are left out of matching, not allowed to break it."""
    import sqlite3
    import struct as st

    gallery.enrol("amy", [descriptor])
    pid = None
    try:
        with sqlite3.connect(gallery.path) as db:
            # written by hand as another writer would: a new change version, the person marked with it
            version = db.execute("UPDATE gallery_state SET version = version + 1 RETURNING version").fetchone()[0]
            pid = db.execute("INSERT INTO people (name, name_key, created, revision) "
                             "VALUES ('corrupt', 'corrupt', '2026-01-01T00:00:00Z', ?)", (version,)).lastrowid
            for vector in ([3.4e38] * 128, [float("nan")] * 128, [-3.4e38] * 64 + [0.0] * 64):
                db.execute("INSERT INTO descriptors (person_id, vector, created) VALUES (?, ?, '2026-01-01T00:00:00Z')",
                           (pid, st.pack("<128f", *vector)))
        held_out = (shared_dir / "images" / "amy3.png").read_bytes()
        for strategy in ("mean", "nearest"):
            r = http.post("/api/people/match", params={"crop": "true", "strategy": strategy}, content=held_out,
                          headers={"content-type": "image/png"})
            assert r.status_code == 200, r.text
            assert r.json()["match"]["label"] == "amy" and r.json()["match"]["distance"] < 0.6
        r = http.post("/api/analyze", params={"detector": "ssd", "landmarks": "full", "recognize": "true"},
                      content=(shared_dir / "images" / "amy1.png").read_bytes(), headers={"content-type": "image/png"})
        assert r.status_code == 200 and all(f["match"]["label"] in ("amy", "unknown") for f in r.json()["faces"])
    finally:
        gallery.remove("amy")
        if pid is not None:
            gallery.remove("corrupt")


def test_enrolling_an_existing_name_needs_append_and_a_close_sample(http, shared_dir):
    """A typo must not merge two people: an existing name needs append=true, and a sample farther than the
    match threshold from the person's samples needs force=true."""
    images = shared_dir / "images"

    def enrol(photo: str, **flags) -> httpx.Response:
        params = {"name": "Amy T", "crop": "true", **{k: str(v).lower() for k, v in flags.items()}}
        return http.post("/api/people", params=params, content=(images / photo).read_bytes(),
                         headers={"content-type": "image/png"})

    try:
        assert enrol("amy1.png").status_code == 201
        r = enrol("amy2.png")
        assert r.status_code == 409 and "append=true" in r.json()["error"] and r.json()["conflict"] == "name_taken"
        r = enrol("amy2.png", append=True)
        assert r.status_code == 201 and r.json()["descriptors"] == 2 and r.json()["created_person"] is False
        r = enrol("sheldon1.png", append=True)  # somebody else under Amy's name
        assert r.status_code == 409, r.text
        err = r.json()["error"]
        assert r.json()["conflict"] == "sample_mismatch"
        assert "beyond the match threshold 0.6" in err and "force=true" in err and "somebody else" in err
        assert http.get("/api/people", params={"name": "amy t"}).json()["people"][0]["descriptors"] == 2
        r = enrol("sheldon1.png", append=True, force=True)
        assert r.status_code == 201 and r.json()["descriptors"] == 3
    finally:
        for p in http.get("/api/people", params={"name": "Amy T"}).json()["people"]:
            http.delete(f"/api/people/{p['id']}")


def test_gallery_and_its_wal_and_shm_are_private(models_dir, tmp_path, create_app, live_server, shared_dir):
    """The attack: the gallery and its -wal/-shm files were 0644 (readable by every user of the machine)."""
    import stat

    from faceapi.gallery import Gallery
    folder = tmp_path / "new" / "people"
    g = Gallery(folder / "gallery.sqlite3")
    with live_server(create_app(FaceAnalyzer(models_dir), gallery=g)) as srv, srv.client(timeout=120) as http:
        r = http.post("/api/people", params={"name": "amy", "crop": "true"},
                      content=(shared_dir / "images" / "amy1.png").read_bytes(), headers={"content-type": "image/png"})
        assert r.status_code == 201
        files = [g.path, folder / "gallery.sqlite3-wal", folder / "gallery.sqlite3-shm"]
        assert all(f.exists() for f in files), [f.name for f in folder.iterdir()]
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
        assert set(modes.values()) == {0o600}, modes
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    g.close()
    # a gallery made readable by others (an older faceapi made them 0644) is made private when opened
    for f in files:
        if f.exists():
            os.chmod(f, 0o644)
    Gallery(folder / "gallery.sqlite3").close()
    assert stat.S_IMODE(g.path.stat().st_mode) == 0o600
