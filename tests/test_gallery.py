"""The people gallery (issue 6): SQLite storage, transactions that survive kills, export/import, enrolment
from images, recognition of the character photos and of the faces in bbt1/bbt4/bbt5, and the CLI."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from faceapi import AnalyzeOptions, FaceAnalyzer, FaceMatcher, LabeledFaceDescriptors
from faceapi.errors import FaceApiError, GalleryError
from faceapi.gallery import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    WRITE_DELAY_ENV,
    Gallery,
    NameTakenError,
    UnknownPersonError,
    describe_face,
    enrol_images,
)
from faceapi.options import MatchOptions

from helpers import write_artifact

REPO = Path(__file__).resolve().parents[1]
PHOTO = re.compile(r"([a-z]+)(\d)")


def _vecs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.14, (n, 128)).astype(np.float32)


def _state(path: Path) -> tuple:
    """Everything in a gallery file, for before/after comparisons."""
    db = sqlite3.connect(path)
    try:
        people = db.execute("SELECT id, name, created FROM people ORDER BY id").fetchall()
        descs = db.execute("SELECT id, person_id, vector, image_sha256, created FROM descriptors "
                           "ORDER BY id").fetchall()
    finally:
        db.close()
    return people, descs


def _integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


# -- storage --------------------------------------------------------------------------------------------
def test_schema_is_versioned_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "sub" / "g.sqlite3"
    with Gallery(path) as g:
        assert g.schema_version == SCHEMA_VERSION and len(g) == 0
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} >= {"people",
                                                                                                  "descriptors"}
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(GalleryError, match="newer faceapi"):
        Gallery(path)

    other = tmp_path / "other.sqlite3"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(GalleryError, match="not a faceapi gallery"):
        Gallery(other)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(GalleryError, match="not a faceapi gallery"):
        Gallery(junk)
    with pytest.raises(GalleryError, match="does not exist"):
        Gallery(tmp_path / "missing.sqlite3", create=False)


def test_people_crud_and_clear_errors(tmp_path):
    g = Gallery(tmp_path / "g.sqlite3")
    v = _vecs(5)
    r = g.enrol("Amy", v[:2], ["a" * 64, "b" * 64])
    assert (r.added, r.created_person, r.person.descriptors) == (2, True, 2)
    r = g.enrol("amy", v[1:3])  # names are case-insensitive; the exact duplicate is skipped
    assert (r.added, r.skipped, r.person.name, r.person.descriptors) == (1, 1, "Amy", 3)
    np.testing.assert_array_equal(g.descriptors("AMY"), v[:3])
    assert g.add_person("  Sheldon ").name == "Sheldon" and g.person("sheldon").descriptors == 0
    assert "sheldon" in g and "penny" not in g and len(g) == 2

    with pytest.raises(NameTakenError, match="already a person called 'Amy'"):
        g.add_person("AMY")
    with pytest.raises(GalleryError, match="reserved"):
        g.enrol("Unknown", v[:1])
    with pytest.raises(GalleryError, match="empty"):
        g.add_person("   ")
    with pytest.raises(UnknownPersonError, match="no person called 'penny'.*known: Amy, Sheldon"):
        g.remove("penny")
    with pytest.raises(GalleryError, match="no person called 'penny'"):
        g.rename("penny", "Penny")
    with pytest.raises(GalleryError, match="no person called 'penny'"):
        g.enrol("penny", v[:1], create=False)
    with pytest.raises(NameTakenError, match="already a person called 'Sheldon'"):
        g.rename("amy", "sheldon")
    with pytest.raises(GalleryError, match="expected 128 numbers"):
        g.enrol("amy", [[0.1, 0.2]])
    with pytest.raises(GalleryError, match="NaN"):
        g.enrol("amy", [np.full(128, np.nan)])

    assert g.rename("amy", "Amy Farrah Fowler").descriptors == 3
    assert g.rename("amy farrah fowler", "AMY FARRAH FOWLER").name == "AMY FARRAH FOWLER"  # case change only
    removed = g.remove("sheldon")
    assert removed.name == "Sheldon" and [p.name for p in g.people()] == ["AMY FARRAH FOWLER"]
    assert g.num_descriptors == 3
    g.close()
    assert _integrity(tmp_path / "g.sqlite3") == "ok"


def test_matcher_is_cached_and_follows_writes(tmp_path):
    path = tmp_path / "g.sqlite3"
    g = Gallery(path)
    assert g.matcher().find_best_match(_vecs(1)[0]).label == "unknown"  # empty gallery
    v = _vecs(6)
    g.enrol("a", v[:3])
    g.enrol("b", v[3:])
    m = g.matcher()
    assert g.matcher() is m and len(m) == 2 and m.num_descriptors == 6
    assert g.matcher(strategy="nearest") is not m
    assert m.find_best_match(v[4]).label == "unknown"  # mean distance to b's 3 random vectors > 0.6
    assert g.matcher(strategy="nearest").find_best_match(v[4]).label == "b"
    g.rename("b", "bee")
    m2 = g.matcher()
    assert m2 is not m and g.matcher(strategy="nearest").find_best_match(v[4]).label == "bee"
    other = Gallery(path)  # a write by another connection (e.g. the CLI while the server runs)
    other.remove("bee")
    assert g.matcher().labels == ["a"]
    g.add_person("empty")  # no descriptors: not in the matcher
    assert g.matcher().labels == ["a"]
    # the gallery's matcher is face-api.js's FaceMatcher over the same references
    ref = FaceMatcher([LabeledFaceDescriptors("a", v[:3])], 0.5, "nearest")
    q = _vecs(4, seed=1)
    assert [m.label for m in g.matcher(0.5, "nearest").match_descriptors(q)] == \
        [m.label for m in ref.match_descriptors(q)]


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


# -- crashes --------------------------------------------------------------------------------------------
_KILL_SCRIPT = """
import sys, numpy as np
from faceapi.gallery import Gallery
g = Gallery(sys.argv[1])
rows = 0
def hook():
    global rows
    rows += 1
    if rows == int(sys.argv[3]):
        print("mid-transaction", flush=True)
        import time; time.sleep(60)
g._row_written = hook
g.enrol("bulk", np.random.default_rng(7).normal(0, 0.14, (int(sys.argv[2]), 128)))
print("committed", flush=True)
"""


def test_kill_in_the_middle_of_enrolment_leaves_the_gallery_as_it_was(tmp_path):
    """SIGKILL after 6000 of 8000 rows of one enrolment: far more than SQLite's page cache, so uncommitted
    pages have already been written to the WAL file when the process dies."""
    path = tmp_path / "g.sqlite3"
    with Gallery(path) as g:
        g.enrol("amy", _vecs(2), ["a" * 64, "b" * 64])
        g.enrol("bulk", _vecs(1, seed=3))
    before = _state(path)
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(path), "8000", "6000"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "mid-transaction"
        wal = Path(str(path) + "-wal")
        assert wal.stat().st_size > 1_000_000, "expected uncommitted pages in the WAL before the kill"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _integrity(path) == "ok"
    assert _state(path) == before
    with Gallery(path) as g:
        assert g.person("bulk").descriptors == 1 and g.matcher().num_descriptors == 3
        g.enrol("penny", _vecs(1, seed=4))  # and it is writable again
        assert _integrity(path) == "ok"


def test_kills_at_random_moments_are_all_or_nothing(tmp_path):
    """Kills at random times during an enrolment slowed by the test hook (this may land in the COMMIT):
    afterwards the gallery holds either none or all of the new descriptors."""
    path = tmp_path / "g.sqlite3"
    with Gallery(path) as g:
        g.enrol("amy", _vecs(2))
    script = ("import sys, numpy as np; from faceapi.gallery import Gallery; print('go', flush=True); "
              "Gallery(sys.argv[1]).enrol('bulk', np.random.default_rng(int(sys.argv[2])).normal(0, .14, (400, 128)))")
    env = {**os.environ, WRITE_DELAY_ENV: "0.001"}
    rnd = random.Random(6)
    outcomes = []
    for attempt in range(3):
        before = _state(path)
        proc = subprocess.Popen([sys.executable, "-c", script, str(path), str(attempt)], stdout=subprocess.PIPE,
                                text=True, env=env)
        proc.stdout.readline()
        time.sleep(rnd.uniform(0.05, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _integrity(path) == "ok"
        after = _state(path)
        new = len(after[1]) - len(before[1])
        assert new in (0, 400), f"attempt {attempt}: a killed enrolment left {new} of 400 descriptors"
        assert after[1][: len(before[1])] == before[1]
        outcomes.append(new)
    print("descriptors kept after each kill:", outcomes)


# -- images ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def analyzer(models_dir) -> FaceAnalyzer:
    return FaceAnalyzer(models_dir)


@pytest.fixture(scope="module")
def photos(shared_dir) -> dict[str, list[Path]]:
    """person -> their 150x150 photos, in order."""
    out: dict[str, list[Path]] = {}
    for p in sorted((shared_dir / "images").glob("*.png")):
        m = PHOTO.fullmatch(p.stem)
        if m:
            out.setdefault(m.group(1), []).append(p)
    assert len(out) == 8
    return out


@pytest.fixture(scope="module")
def described(analyzer, photos) -> dict[str, np.ndarray]:
    """photo stem -> descriptor of the whole 150x150 photo (it is a face crop already)."""
    return {p.stem: describe_face(analyzer, p, crop=True).descriptor for ps in photos.values() for p in ps}


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory, analyzer, photos) -> Gallery:
    """The first two photos of each person enrolled with crop=True, through `enrol_images`."""
    g = Gallery(tmp_path_factory.mktemp("gallery") / "people.sqlite3")
    for person, ps in photos.items():
        r = enrol_images(analyzer, g, person, ps[:2], crop=True)
        assert r.added == 2
    return g


def test_enrolled_people_recognise_their_other_photos(enrolled, photos, described):
    queries = [p.stem for ps in photos.values() for p in ps[2:]]
    q = np.stack([described[s] for s in queries])
    people = sorted(photos)
    mean_matcher = enrolled.matcher()
    dist = mean_matcher.distances(q)  # (query, person) mean distances
    table = {person: {other: float(np.mean([dist[i, mean_matcher.labels.index(other)]
                                            for i, s in enumerate(queries) if PHOTO.fullmatch(s).group(1) == person]))
                      for other in people} for person in people}
    results = {}
    for strategy in ("mean", "nearest"):
        matches = enrolled.matcher(strategy=strategy).match_descriptors(q)
        results[strategy] = {s: (m.label, round(m.distance, 4)) for s, m in zip(queries, matches)}
    write_artifact("gallery-recognition", {"queries": results, "mean_distance_query_person_x_enrolled": table})
    print("\nmean distance, held-out photos of (row) to enrolled (column):")
    print("".join(f"{p[:6]:>8s}" for p in ["", *people]))
    for a in people:
        print(f"{a[:6]:>8s}" + "".join(f"{table[a][b]:8.3f}" for b in people))
    for strategy, res in results.items():
        wrong = {s: lab for s, (lab, _) in res.items() if lab != PHOTO.fullmatch(s).group(1)}
        assert not wrong, f"{strategy}: misrecognised {wrong}"
    for a in people:
        assert min(table[a], key=table[a].get) == a


def test_a_person_not_enrolled_is_unknown(analyzer, photos, described):
    """Leave each person out in turn: their photos must not be given someone else's name."""
    confusions = {}
    for left_out in photos:
        refs = [LabeledFaceDescriptors(p, [described[x.stem] for x in ps[:2]])
                for p, ps in photos.items() if p != left_out]
        m = FaceMatcher(refs)
        for photo in photos[left_out]:
            match = m.find_best_match(described[photo.stem])
            if match.label != "unknown":
                confusions[photo.stem] = (match.label, round(match.distance, 4))
    write_artifact("gallery-left-out", confusions)
    print("\nleft-out photos given a name:", confusions or "none")
    assert not confusions, f"photos of a person who was not enrolled got a name: {confusions}"


#: Who is in the group photos, left to right (checked by eye; the bbt1 cast are in costume, with beards).
GROUP_PHOTOS = {
    "bbt1": ["raj", "leonard", "howard", "sheldon"],
    "bbt4": ["leonard", "amy", "raj", "penny", "sheldon", "bernadette"],
    "bbt5": ["raj", "penny", "sheldon", "leonard", "howard"],
}


def test_label_the_faces_in_the_group_photos(enrolled, analyzer, shared_dir):
    """SSD + 68 landmarks + descriptors on the group photos, matched against the 16 enrolled photos."""
    people = {p.name for p in enrolled.people()}
    options = AnalyzeOptions(landmarks="full", descriptors=True, recognize=MatchOptions())
    labels = {}
    for name in GROUP_PHOTOS:
        result = analyzer.analyze(shared_dir / "images" / f"{name}.jpg", options, matcher=enrolled.matcher())
        assert result.faces
        found = [f.match.label for f in sorted(result.faces, key=lambda f: f.detection.box.x)]
        labels[name] = [(f.match.label, round(f.match.distance, 3))
                        for f in sorted(result.faces, key=lambda f: f.detection.box.x)]
        named = [x for x in found if x != "unknown"]
        assert set(named) <= people
        assert len(named) == len(set(named)), f"{name}: a name used twice: {found}"
        assert len(named) >= len(found) // 2, f"{name}: most faces should be recognised: {found}"
    print("\nlabels, left to right:", json.dumps(labels))
    write_artifact("gallery-group-labels", labels)
    assert {k: [lab for lab, _ in v] for k, v in labels.items()} == GROUP_PHOTOS


def test_bad_enrolment_images_get_clear_errors_and_write_nothing(tmp_path, analyzer, shared_dir):
    images = shared_dir / "images"
    g = Gallery(tmp_path / "g.sqlite3")
    with pytest.raises(GalleryError, match=r"white\.png: no face found"):
        enrol_images(analyzer, g, "nobody", [images / "white.png"])
    with pytest.raises(GalleryError, match=r"bbt4\.jpg: 6 faces found; an enrolment image must show exactly one"):
        enrol_images(analyzer, g, "crowd", [images / "happy.jpg", images / "bbt4.jpg"], crop=False)
    with pytest.raises(FaceApiError, match="missing.png"):
        enrol_images(analyzer, g, "ghost", [images / "amy1.png", images / "missing.png"], crop=True)
    assert len(g) == 0 and g.num_descriptors == 0  # nothing written by a failed enrolment
    with pytest.raises(GalleryError, match="no person called 'nobody'"):
        g.remove("nobody")
    r = enrol_images(analyzer, g, "happy", [images / "happy.jpg"])  # one face, detected
    assert r.added == 1


# -- CLI ------------------------------------------------------------------------------------------------
def _cli(*args: str, gallery: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "faceapi.cli.main", "people", *args, "--gallery", str(gallery)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_cli_round_trip(tmp_path, models_dir, shared_dir):
    images = shared_dir / "images"
    g = tmp_path / "people.sqlite3"
    out = _cli("add", "amy", str(images / "amy1.png"), str(images / "amy2.png"), "--crop", gallery=g)
    assert json.loads(out.stdout)["descriptors"] == 2 and "2 descriptor(s) added" in out.stderr
    listed = [json.loads(x) for x in _cli("list", "--json", gallery=g).stdout.splitlines()]
    assert [(p["name"], p["descriptors"]) for p in listed] == [("amy", 2)]
    assert json.loads(_cli("rename", "amy", "Amy", gallery=g).stdout)["name"] == "Amy"
    _cli("export", str(tmp_path / "out.json"), gallery=g)
    exported = json.loads((tmp_path / "out.json").read_text())
    assert [p["name"] for p in exported["people"]] == ["Amy"]
    rm = _cli("remove", "amy", gallery=g)
    assert "removed Amy (2 descriptor(s))" in rm.stderr
    missing = _cli("remove", "amy", gallery=g, check=False)
    assert missing.returncode == 1 and "no person called 'amy'" in missing.stderr
    imported = json.loads(_cli("import", str(tmp_path / "out.json"), gallery=g).stdout)
    assert imported["added_descriptors"] == 2
    with Gallery(g) as gallery:
        assert gallery.export_json()["people"] == exported["people"]
