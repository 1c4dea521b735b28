"""The gallery's JSON formats: export and import round trip (float32 exactly), face-api.js's FaceMatcher
JSON, all-or-nothing imports, and private export files."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest

from faceapi.errors import GalleryError
from faceapi.gallery import SCHEMA_VERSION, Gallery
from faceapi.gallery.interchange import parse_import


def _vecs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.14, (n, 128)).astype(np.float32)


def _state(path: Path) -> tuple:
    db = sqlite3.connect(path)
    try:
        return (db.execute("SELECT * FROM people ORDER BY id").fetchall(),
                db.execute("SELECT * FROM descriptors ORDER BY id").fetchall())
    finally:
        db.close()


def test_export_import_round_trip_and_atomic_import(tmp_path):
    g = Gallery(tmp_path / "a.sqlite3")
    v = _vecs(5)
    g.enrol("amy", v[:2], ["1" * 64, "2" * 64])
    g.enrol("raj", v[2:5])
    out = tmp_path / "export.json"
    assert g.export(out) == 2
    data = json.loads(out.read_text())
    assert data["format"] == "faceapi-gallery" and data["version"] == SCHEMA_VERSION
    assert data["people"][0]["descriptors"][0]["image_sha256"] == "1" * 64

    h = Gallery(tmp_path / "b.sqlite3")
    assert h.import_file(out) == {"people": 2, "added_people": 2, "added_descriptors": 5, "skipped_descriptors": 0}
    assert h.import_file(out)["skipped_descriptors"] == 5  # importing twice adds nothing
    np.testing.assert_array_equal(h.descriptors("raj"), v[2:5])  # float32 exactly
    assert h.export_json()["people"] == data["people"]

    # face-api.js's FaceMatcher.toJSON() shape is accepted too
    fm = {"distanceThreshold": 0.6, "labeledDescriptors": [{"label": "penny", "descriptors": [v[0].tolist()]}]}
    assert h.import_json(fm)["added_people"] == 1 and h.person("penny").descriptors == 1

    before = _state(tmp_path / "b.sqlite3")
    bad = {"format": "faceapi-gallery", "version": 1, "people": [
        {"name": "new person", "descriptors": [{"vector": v[0].tolist()}]},
        {"name": "broken", "descriptors": [{"vector": [1.0, 2.0]}]}]}
    with pytest.raises(GalleryError, match="'broken' descriptor 1: expected 128 numbers"):
        h.import_json(bad)
    with pytest.raises(GalleryError, match="appears twice"):
        h.import_json([{"name": "x", "descriptors": []}, {"name": "X", "descriptors": []}])
    with pytest.raises(GalleryError, match="not JSON"):
        (tmp_path / "bad.json").write_text("{nope")
        h.import_file(tmp_path / "bad.json")
    assert _state(tmp_path / "b.sqlite3") == before

    assert h.import_file(out, replace=True)["people"] == 2
    assert [p.name for p in h.people()] == ["amy", "raj"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # descriptors are biometric data
    assert not list(tmp_path.glob(".*.part*"))  # written atomically: no temporary file left


def test_parse_import_checks_everything_before_anything_is_written():
    v = _vecs(1)[0].tolist()
    people = parse_import([{"label": " Amy ", "descriptors": [v]}, {"name": "Raj", "descriptors": [{"vector": v,
                           "image_sha256": "f" * 64, "created": 5}]}], SCHEMA_VERSION)
    assert [(p.name, len(p.descriptors)) for p in people] == [("Amy", 1), ("Raj", 1)]
    assert people[1].descriptors[0].image_sha256 == "f" * 64 and people[1].descriptors[0].created is None
    with pytest.raises(GalleryError, match="format version 99"):
        parse_import({"format": "faceapi-gallery", "version": 99, "people": []}, SCHEMA_VERSION)
    with pytest.raises(GalleryError, match="entry 1: .*reserved"):
        parse_import([{"name": "unknown", "descriptors": []}], SCHEMA_VERSION)
    with pytest.raises(GalleryError, match="expected a faceapi gallery export"):
        parse_import({"something": "else"}, SCHEMA_VERSION)
