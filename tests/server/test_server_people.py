"""The people endpoints and recognition of the web app, started for real (uvicorn on a free loopback port):
enrol the character photos over REST into a temporary gallery, recognise held-out photos and the faces of
the group photos (REST and the WebSocket stream), a person not enrolled, and the errors."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer

from helpers import GALLERY_KINDS

PEOPLE = ["amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart"]
MAX_FRAME = 1_000_000
#: What the group photos are analysed with (as tests/test_gallery.py: SSD, 68 landmarks, descriptors).
JPEG, PNG = {"content-type": "image/jpeg"}, {"content-type": "image/png"}  # uploads name their type
JSON = {"content-type": "application/json"}
GROUP_QUERY = {"detector": "ssd", "landmarks": "full", "expressions": "false", "recognize": "true"}


@pytest.fixture(scope="module", params=GALLERY_KINDS)
def store_kind(request) -> str:
    """Every test of this module runs against each gallery store."""
    return request.param


@pytest.fixture(scope="module")
def Gallery(store_kind, make_gallery):
    """``Gallery(path)``: a new gallery of the module's store (the path's folder holds a SQLite one)."""
    return lambda path: make_gallery(store_kind, path.parent)


@pytest.fixture(scope="module")
def images(shared_dir):
    return shared_dir / "images"


@pytest.fixture(scope="module")
def analyzer(models_dir):
    return FaceAnalyzer(models_dir, max_pixels=2_000_000)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, Gallery):
    g = Gallery(tmp_path_factory.mktemp("people") / "gallery.sqlite3")
    yield g
    g.close()


@pytest.fixture(scope="module")
def server(analyzer, gallery, create_app, live_server):
    app = create_app(analyzer, max_frame_bytes=MAX_FRAME, gallery=gallery)
    with live_server(app) as srv:
        yield srv


def enrol(http, name: str, path, crop: bool, multipart: bool = False, append: bool = False) -> httpx.Response:
    data = path.read_bytes()
    fields = {"name": name, "crop": str(crop).lower(), **({"append": "true"} if append else {})}
    if multipart:
        return http.post("/api/people", data=fields, files={"file": (path.name, data, "image/png")})
    return http.post("/api/people", params=fields, content=data, headers={"content-type": "image/png"})


@pytest.fixture(scope="module")
def enrolled(http, images):
    """The first two photos of each person, enrolled with crop=true (one as raw bytes, one multipart; the
    second with append=true)."""
    for person in PEOPLE:
        for k in (1, 2):
            r = enrol(http, person, images / f"{person}{k}.png", crop=True, multipart=k == 2, append=k == 2)
            assert r.status_code == 201, r.text
            body = r.json()
            assert body["name"] == person and body["descriptors"] == k and body["added"] == 1
            assert body["created_person"] is (k == 1)
    return PEOPLE


def labels_left_to_right(result: dict) -> list[str]:
    return [f["match"]["label"] for f in sorted(result["faces"], key=lambda f: f["box"]["x"])]


def engine_labels(analyzer, gallery, path) -> list[str]:
    """Who FaceAnalyzer names in a photo, left to right, with the server's gallery (SSD + 68 landmarks)."""
    options = AnalyzeOptions.from_dict({"detector": "ssd", "landmarks": "full", "recognize": True})
    return labels_left_to_right(analyzer.analyze(path, options, matcher=gallery).to_dict())


def test_people_list(http, enrolled):
    r = http.get("/api/people")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 8
    assert [p["name"] for p in body["people"]] == PEOPLE
    assert all(p["descriptors"] == 2 and p["created"].endswith("Z") for p in body["people"])
    amy = http.get("/api/people", params={"name": "AMY"}).json()["people"]
    assert [p["name"] for p in amy] == ["amy"] and http.get(f"/api/people/{amy[0]['id']}").json()["name"] == "amy"
    assert http.get("/api/people", params={"name": "nobody"}).json() == {"people": [], "count": 0}
    assert http.get("/api/health").json()["recognition"] is True


def test_held_out_photos_are_recognised(http, enrolled, images):
    """The third photo of each person (a 150x150 face crop: SSD rarely finds these faces) through the
    crop path of /api/people/match."""
    got = {}
    for person in PEOPLE:
        for strategy in ("mean", "nearest"):
            r = http.post("/api/people/match", params={"crop": "true", "strategy": strategy},
                          content=(images / f"{person}3.png").read_bytes(), headers=PNG)
            assert r.status_code == 200, r.text
            got[(person, strategy)] = r.json()["match"]
    wrong = {k: m for k, m in got.items() if m["label"] != k[0]}
    assert not wrong, wrong
    assert all(0 < m["distance"] < 0.6 for m in got.values())


def test_group_photos_over_rest(http, enrolled, images, analyzer, gallery):
    for name in ("bbt4", "bbt5"):
        r = http.post("/api/analyze", params=GROUP_QUERY, content=(images / f"{name}.jpg").read_bytes(), headers=JPEG)
        assert r.status_code == 200, r.text
        result = r.json()
        labels = labels_left_to_right(result)
        assert labels == engine_labels(analyzer, gallery, images / f"{name}.jpg"), result
        named = [x for x in labels if x != "unknown"]
        assert len(named) == len(labels) and len(set(named)) == len(named), labels  # everyone, once each
        assert "descriptor" not in result["faces"][0]  # computed for matching, not asked for
        assert all(f["match"]["distance"] < 0.6 for f in result["faces"])
    # descriptors=true keeps them in the answer; a strict threshold makes everyone unknown
    r = http.post("/api/analyze", params={**GROUP_QUERY, "descriptors": "true", "distance_threshold": "0.05"},
                  content=(images / "bbt5.jpg").read_bytes(), headers=JPEG)
    faces = r.json()["faces"]
    assert len(faces[0]["descriptor"]) == 128
    assert {f["match"]["label"] for f in faces} == {"unknown"}
    bad = http.post("/api/analyze", params={**GROUP_QUERY, "strategy": "median"}, content=b"x", headers=JPEG)
    assert bad.status_code == 400 and "strategy" in bad.json()["error"]


def test_group_photo_over_the_stream(server, enrolled, images, analyzer, gallery):
    settings = {"detector": "ssd", "landmarks": "full", "expressions": False, "recognize": True}
    with server.stream() as ws:
        ws.send(json.dumps({"type": "settings", **settings}))
        ack = ws.recv_json()
        assert ack["ok"] and ack["settings"]["recognize"] is True and "face_recognition" in ack["nets"]
        assert ack["settings"]["distance_threshold"] == 0.6 and ack["settings"]["strategy"] == "mean"
        for name in ("bbt4", "bbt5"):
            ws.send((images / f"{name}.jpg").read_bytes())
            result = ws.recv_json(timeout=120)
            assert result["type"] == "result", result
            assert labels_left_to_right(result) == engine_labels(analyzer, gallery, images / f"{name}.jpg")
            assert "descriptor" not in result["faces"][0] and "recognize" in result["timings_ms"]
        ws.send(json.dumps({"type": "settings", **settings, "strategy": "nope"}))
        assert "strategy" in ws.recv_json()["error"]


def test_a_person_not_enrolled_is_unknown(http, enrolled, images, analyzer, gallery):
    """Remove howard: his held-out photo and his face in bbt5 come out "unknown"; then enrol him again."""
    r = http.delete(f"/api/people/{gallery.person('howard').id}")
    assert r.status_code == 200 and r.json()["removed"]["name"] == "howard"
    try:
        m = http.post("/api/people/match?crop=true", content=(images / "howard3.png").read_bytes(),
                      headers=PNG).json()["match"]
        assert m["label"] == "unknown", m
        want = engine_labels(analyzer, gallery, images / "bbt5.jpg")  # with howard removed
        r = http.post("/api/analyze", params=GROUP_QUERY, content=(images / "bbt5.jpg").read_bytes(), headers=JPEG)
        assert "howard" not in labels_left_to_right(r.json()) and "unknown" in labels_left_to_right(r.json())
        assert labels_left_to_right(r.json()) == want
    finally:
        for k in (1, 2):
            assert enrol(http, "howard", images / f"howard{k}.png", crop=True, append=k == 2).status_code == 201


def test_enrolment_errors_are_clear(http, enrolled, images):
    r = enrol(http, "nobody", images / "white.png", crop=False)
    assert r.status_code == 422 and r.json()["faces"] == 0
    assert "no face found" in r.json()["error"]
    r = http.post("/api/people", data={"name": "crowd"},
                  files={"file": ("bbt4.jpg", (images / "bbt4.jpg").read_bytes(), "image/jpeg")})
    assert r.status_code == 422 and r.json()["faces"] == 6
    assert r.json()["error"].startswith("bbt4.jpg: 6 faces found; an enrolment image must show exactly one face")
    cases = [
        ({"name": ""}, (images / "amy1.png").read_bytes(), 422, "name"),
        ({}, (images / "amy1.png").read_bytes(), 422, "name"),
        ({"name": "unknown", "crop": "true"}, (images / "amy1.png").read_bytes(), 422, "reserved"),
        ({"name": "x" * 101, "crop": "true"}, (images / "amy1.png").read_bytes(), 422, "at most 100"),
        ({"name": "junk"}, b"not an image at all", 400, "not an image"),
        ({"name": "junk"}, b"", 400, "empty"),
        ({"name": "junk"}, b"\xff\xd8" + os.urandom(MAX_FRAME + 10), 413, "over the limit"),
        ({"name": "junk", "crop": "maybe"}, (images / "amy1.png").read_bytes(), 400, "true or false"),
    ]
    for params, body, status, words in cases:
        r = http.post("/api/people", params=params, content=body, headers=PNG)
        assert r.status_code == status, (params, r.text)
        assert words in r.json()["error"], (params, r.json())
    names = [p["name"] for p in http.get("/api/people").json()["people"]]
    assert names == PEOPLE  # nothing written by a failed enrolment


def test_rename_remove_export_import(http, enrolled, images):
    r = enrol(http, "Happy", images / "happy.jpg", crop=False)  # one face, detected by SSD
    assert r.status_code == 201 and r.json()["descriptors"] == 1
    taken = enrol(http, "happy", images / "happy.jpg", crop=False)  # the name exists: append=true needed
    assert taken.status_code == 409 and "append=true" in taken.json()["error"]
    again = enrol(http, "happy", images / "happy.jpg", crop=False, append=True)  # the same image: nothing new
    assert again.status_code == 201 and again.json()["added"] == 0 and again.json()["skipped"] == 1
    happy = f"/api/people/{r.json()['id']}"
    r = http.patch(happy, json={"name": "amy"})
    assert r.status_code == 409 and "already a person called 'amy'" in r.json()["error"]
    assert http.patch("/api/people/999999", json={"name": "Someone"}).status_code == 404
    assert http.patch(happy, json={"name": " "}).status_code == 422
    assert http.patch(happy, content=b"{nope", headers=JSON).status_code == 400
    r = http.patch(happy, json={"name": "Joy Smith/2"})
    assert r.status_code == 200 and r.json()["name"] == "Joy Smith/2"
    assert http.get(happy).json()["descriptors"] == 1

    export = http.get("/api/people/export")
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    data = export.json()
    assert data["format"] == "faceapi-gallery" and len(data["people"]) == 9

    r = http.delete(happy)
    assert r.status_code == 200 and r.json()["removed"]["descriptors"] == 1
    r = http.delete(happy)
    assert r.status_code == 404 and "no person with id" in r.json()["error"]

    r = http.post("/api/people/import", content=json.dumps(data), headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json() == {"people": 9, "added_people": 1, "added_descriptors": 1, "skipped_descriptors": 16}
    joy = http.get("/api/people", params={"name": "joy smith/2"}).json()["people"]
    assert len(joy) == 1 and http.delete(f"/api/people/{joy[0]['id']}").status_code == 200
    assert http.post("/api/people/import", content=b"[{\"name\": 3}]", headers=JSON).status_code == 422
    assert http.post("/api/people/import", content=b"{not json", headers=JSON).status_code == 400
    assert http.get("/api/people").json()["count"] == 8


def test_without_a_gallery(models_dir, images, create_app, live_server):
    app = create_app(FaceAnalyzer(models_dir))
    with live_server(app) as srv, srv.client(timeout=30) as http:
        for method, path in (("GET", "/api/people"), ("POST", "/api/people?name=x"), ("DELETE", "/api/people/1"),
                             ("GET", "/api/people/export")):
            r = http.request(method, path, content=b"x" if method == "POST" else None, headers=JPEG)
            assert r.status_code == 503 and "--no-gallery" in r.json()["error"], (method, path, r.text)
        r = http.post("/api/analyze?recognize=true", content=(images / "happy.jpg").read_bytes(), headers=JPEG)
        assert r.status_code == 400 and "recognition is not available" in r.json()["error"]


def test_empty_gallery_matches_say_unknown(models_dir, images, tmp_path, create_app, live_server, Gallery):
    app = create_app(FaceAnalyzer(models_dir), gallery=Gallery(tmp_path / "empty.sqlite3"))
    with live_server(app) as srv, srv.client(timeout=60) as http:
        r = http.post("/api/analyze", params={"detector": "tiny", "recognize": "true"},
                      content=(images / "happy.jpg").read_bytes(), headers=JPEG)
        assert r.status_code == 200, r.text
        assert r.json()["faces"][0]["match"] == {"label": "unknown", "distance": None}
        r = http.post("/api/analyze", params={"detector": "tiny", "recognize": "true", "annotate": "true"},
                      content=(images / "happy.jpg").read_bytes(), headers=JPEG)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"


def test_people_forms_and_match_options(http, enrolled, images):
    """Form fields are validated as the query's parameters; one file per form; match_strategy or strategy."""
    amy = (images / "amy1.png").read_bytes()
    cases = [
        ({"name": "x", "crop": "maybe"}, [("file", ("a.png", amy, "image/png"))], 400, "'crop' must be true or false"),
        ({"name": "x", "colour": "red"}, [("file", ("a.png", amy, "image/png"))], 400, "unknown option"),
        ({"name": "x"}, [("file", ("a.png", amy, "image/png")), ("more", ("b.png", amy, "image/png"))], 400,
         "Too many files"),
    ]
    for data, files, status, words in cases:
        r = http.post("/api/people", data=data, files=files)
        assert r.status_code == status and words in r.json()["error"], (data, r.text)
    assert [p["name"] for p in http.get("/api/people").json()["people"]] == PEOPLE  # nothing written
    held_out = (images / "amy3.png").read_bytes()
    for params in ({"crop": "true", "match_strategy": "nearest"}, {"crop": "true", "strategy": "nearest"}):
        r = http.post("/api/people/match", params=params, content=held_out, headers=PNG)
        assert r.status_code == 200 and r.json()["match"]["label"] == "amy" and r.json()["strategy"] == "nearest"
    r = http.post("/api/people/match", data={"crop": "true"}, files={"file": ("amy3.png", held_out, "image/png")})
    assert r.status_code == 200 and r.json()["match"]["label"] == "amy", r.text
    r = http.post("/api/people/match", params={"strategy": "mean", "match_strategy": "nearest"}, content=held_out,
                  headers=PNG)
    assert r.status_code == 400 and "differ" in r.json()["error"]
    r = http.post("/api/people/match", params={"distance_threshold": "-1"}, content=held_out, headers=PNG)
    assert r.status_code == 400 and "distance_threshold" in r.json()["error"]


def test_no_name_shadows_a_route(http, enrolled, images, gallery):
    """People called like the routes (export, import, match) or like an id are shown, renamed and removed by id;
    the routes still answer; hostile Unicode pairs are one person through the API too."""
    photo = images / "amy1.png"
    ids = {}
    for name in ("export", "import", "match", "1"):
        r = enrol(http, name, photo, crop=True)
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    for name, pid in ids.items():
        assert http.get(f"/api/people/{pid}").json()["name"] == name
        assert http.get("/api/people", params={"name": name.upper()}).json()["people"][0]["id"] == pid
    assert http.get("/api/people/export").json()["format"] == "faceapi-gallery"
    r = enrol(http, "Straße", photo, crop=True)
    assert r.status_code == 201
    again = enrol(http, "STRASSE", images / "amy2.png", crop=True)
    assert again.status_code == 409 and "append=true" in again.json()["error"]
    again = enrol(http, "STRASSE", images / "amy2.png", crop=True, append=True)
    assert again.status_code == 201 and again.json()["id"] == r.json()["id"] and again.json()["name"] == "Straße"
    bad = enrol(http, "Аmy", photo, crop=True)  # Cyrillic А
    assert bad.status_code == 422 and "mixes scripts" in bad.json()["error"]
    data = http.get("/api/people/export").json()
    r = http.post("/api/people/import", json=data, params={"replace": "true"})
    assert r.status_code == 200, r.text
    after = http.get("/api/people/export").json()
    assert [p["name"] for p in after["people"]] == [p["name"] for p in data["people"]]
    for p in http.get("/api/people").json()["people"]:
        if p["name"] not in PEOPLE:
            assert http.delete(f"/api/people/{p['id']}").status_code == 200
    assert [p["name"] for p in http.get("/api/people").json()["people"]] == PEOPLE
