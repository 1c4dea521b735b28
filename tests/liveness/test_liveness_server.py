"""require_live through a real server on loopback (tests/conftest.py's live_server): enrolling a printed photo
is refused with 422 and its score; a print of an enrolled person is not named over REST, people/match and
the WebSocket stream; liveness is a stream setting."""

from __future__ import annotations

import json

import pytest

from faceapi.liveness import NOT_LIVE
from faceapi.pipeline import FaceAnalyzer

from helpers import require

JPEG = {"content-type": "image/jpeg"}


def _one_face(analyzer, nuaa, cls: str, subject: str, n: int) -> list[bytes]:
    found = [p for p in sorted((nuaa / cls).glob(f"{subject}_*"))[: 4 * n] if len(analyzer.analyze(str(p)).faces) == 1]
    assert len(found) >= n
    return [p.read_bytes() for p in found[:n]]


@pytest.fixture(scope="module")
def server(models_dir, tmp_path_factory, live_server):
    require("fastapi")
    from faceapi.gallery import Gallery
    from faceapi.server import create_app

    gallery = Gallery(tmp_path_factory.mktemp("live") / "gallery.sqlite3")
    app = create_app(FaceAnalyzer(models_dir), max_frame_bytes=2_000_000, gallery=gallery)
    with live_server(app) as srv:
        yield srv
    gallery.close()


def test_require_live_over_rest_and_stream(server, nuaa, liveness_analyzer):
    real = _one_face(liveness_analyzer, nuaa, "real", "0006", 3)
    attack = _one_face(liveness_analyzer, nuaa, "attack", "0006", 1)[0]
    with server.client(timeout=120) as http:
        refused = http.post("/api/people", params={"name": "p0006", "require_live": "true"}, content=attack,
                            headers=JPEG)
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert "not live" in body["error"] and body["liveness"]["live"] is False
        assert body["liveness"]["score"] < body["liveness"]["threshold"]
        assert http.get("/api/people").json()["count"] == 0  # nothing enrolled
        for i, data in enumerate(real[:2]):
            r = http.post("/api/people", params={"name": "p0006", "require_live": "true", "append": str(i > 0).lower()},
                          content=data, headers=JPEG)
            assert r.status_code == 201, r.text

        # REST analyze: named without require_live (the weakness), "not live" with it
        query = {"recognize": "true", "single": "true"}
        plain = http.post("/api/analyze", params=query, content=attack, headers=JPEG).json()["faces"][0]
        assert plain["match"]["label"] == "p0006" and "liveness" not in plain
        guarded = http.post("/api/analyze", params={**query, "require_live": "true"}, content=attack,
                            headers=JPEG).json()["faces"][0]
        assert guarded["match"] == {"label": NOT_LIVE, "distance": None} and guarded["liveness"]["live"] is False
        live = http.post("/api/analyze", params={**query, "require_live": "true"}, content=real[2],
                         headers=JPEG).json()["faces"][0]
        assert live["match"]["label"] == "p0006" and live["liveness"]["live"] is True

        m = http.post("/api/people/match", params={"require_live": "true"}, content=attack, headers=JPEG).json()
        assert m["match"]["label"] == NOT_LIVE and m["liveness"]["live"] is False
        assert http.post("/api/people/match", content=attack, headers=JPEG).json()["match"]["label"] == "p0006"
        bad = http.post("/api/people", params={"name": "x", "require_live": "true", "crop": "true"}, content=attack,
                        headers=JPEG)
        assert bad.status_code == 400 and "crop" in bad.json()["error"]

    with server.stream() as ws:
        ws.send(json.dumps({"type": "settings", "detector": "ssd", "recognize": True, "require_live": True,
                            "liveness": True}))
        ack = ws.recv_json()
        assert ack["type"] == "settings" and ack["settings"]["require_live"] is True
        assert {"minifasnet_v2", "minifasnet_v1se"} <= set(ack["nets"])
        for data, label, live_flag in ((attack, NOT_LIVE, False), (real[2], "p0006", True)):
            ws.send(data)
            result = ws.recv_json(timeout=120)
            assert result["type"] == "result", result
            face = max(result["faces"], key=lambda f: f["score"])
            assert face["match"]["label"] == label and face["liveness"]["live"] is live_flag
        ws.send(json.dumps({"type": "settings", "liveness": "yes"}))
        assert ws.recv_json()["type"] == "error"
