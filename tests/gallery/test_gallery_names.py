"""The one name rule (NFKC + Unicode case folding, the `name_key` unique key) in both stores: hostile pairs
are one person, deceptive names are refused with a clear message, every gallery the store accepted
exports and imports back unchanged (and from SQLite into PostgreSQL and back), and a version-1 SQLite
gallery whose names collide under the new rule is migrated without merging anyone, with a report."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from faceapi.errors import GalleryError, NameTakenError
from faceapi.gallery import Gallery, check_name, name_key

from helpers import GALLERY_KINDS

#: Each pair is one person: the database used to compare ASCII case only and made two of each.
PAIRS = [("Straße", "STRASSE"), ("Émile", "émile"), ("Ωmega", "ωmega"), ("İstanbul", "istanbul"),
         ("ＡＭＹ", "amy"), ("Anne\u00a0Marie", "anne  marie")]
#: Refused, with the words the message must contain.
DECEPTIVE = [("Аmy", "mixes scripts"), ("pаypal", "looks like the Latin 'a'"), ("Μaria", "Greek"),
             ("a\u200bb", "invisible"), ("x\u3164", "invisible"), ("ab\ufe0f", "invisible"),
             ("a\u202eb", "invisible formatting"), ("a\tb", "control"), ("a\u2028b", "line separator"),
             ("a\u0336b", "overlay"), ("\u0301a", "combining mark"), ("e\u0301\u0302\u0303\u0304", "stacks"),
             ("a\ue000", "private-use"), ("UNKNOWN", "reserved"), ("unknown\u00a0", "reserved")]
#: Accepted as they are (one script per word, or scripts written together).
FINE = ["山田 たろう", "山田たろう", "Ivan Иванов", "Ελένη", "Nguyễn Văn An", "José María", "O'Brien",
        "Joy Smith/2", "김민준", "محمد", "export", "match", "42"]


def _vecs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.14, (n, 128)).astype(np.float32)


def _document(g) -> dict:
    data = g.export_json()
    data.pop("exported")
    return data


@pytest.mark.parametrize("kind", GALLERY_KINDS)
def test_hostile_pairs_are_one_person(tmp_path, make_gallery, kind):
    g = make_gallery(kind, tmp_path)
    v = _vecs(2 * len(PAIRS))
    for i, (first, second) in enumerate(PAIRS):
        r = g.enrol(first, v[2 * i : 2 * i + 1], append=False)
        assert r.created_person
        with pytest.raises(NameTakenError, match="append"):
            g.enrol(second, v[2 * i + 1 : 2 * i + 2], append=False)
        r = g.enrol(second, v[2 * i + 1 : 2 * i + 2], append=True)  # the second enrolment asks for append
        assert not r.created_person and r.person.descriptors == 2 and r.person.name == check_name(first)
        assert second in g and g.person(second).id == r.person.id
    assert len(g) == len(PAIRS)
    g.add_person("Strasse Zwei")
    with pytest.raises(NameTakenError, match="already a person called 'Straße'"):
        g.rename("strasse zwei", "STRASSE")  # a rename cannot make a pair either
    assert g.rename("ωMEGA", "ΩMEGA").name == "ΩMEGA"  # a change of case of the same person is fine
    g.close()


@pytest.mark.parametrize("kind", GALLERY_KINDS)
def test_deceptive_names_are_refused_with_a_clear_message(tmp_path, make_gallery, kind):
    g = make_gallery(kind, tmp_path)
    for name, words in DECEPTIVE:
        with pytest.raises(GalleryError, match=words):
            g.enrol(name, _vecs(1))
        with pytest.raises(GalleryError, match=words):
            g.import_json([{"name": name, "descriptors": [_vecs(1)[0].tolist()]}])
    assert len(g) == 0
    for name in FINE:
        assert g.add_person(name).name == name
    g.close()


def test_import_refuses_a_pair_in_one_file():
    from faceapi.gallery.interchange import parse_import

    for first, second in PAIRS:
        with pytest.raises(GalleryError, match="appears twice"):
            parse_import([{"name": first, "descriptors": []}, {"name": second, "descriptors": []}], 2)


def _hostile_gallery(g) -> None:
    v = _vecs(40, seed=5)
    for i, (first, second) in enumerate(PAIRS):
        g.enrol(first, v[2 * i : 2 * i + 1], [f"{i:064x}"])
        g.enrol(second, v[2 * i + 1 : 2 * i + 2])
    for j, name in enumerate(FINE):
        g.enrol(name, v[20 + j : 21 + j])
    g.add_person("Nobody Yet")


@pytest.mark.parametrize("kind", GALLERY_KINDS)
def test_every_accepted_gallery_round_trips(tmp_path, make_gallery, kind):
    g = make_gallery(kind, tmp_path / "a")
    _hostile_gallery(g)
    before = _document(g)
    for replace in (False, True):
        back = make_gallery(kind, tmp_path / f"b{replace}")
        counts = back.import_json(g.export_json(), replace=replace)
        assert counts["added_people"] == len(before["people"])
        assert _document(back) == before
        assert g.import_json(g.export_json())["added_descriptors"] == 0  # into itself: nothing new
        back.close()
    g.close()


def test_sqlite_to_postgresql_and_back_unchanged(tmp_path, make_gallery):
    lite = make_gallery("sqlite", tmp_path / "a")
    _hostile_gallery(lite)
    exported = lite.export_json()
    pg = make_gallery("postgresql", tmp_path)
    pg.import_json(exported)
    assert _document(pg) == _document(lite)
    again = make_gallery("sqlite", tmp_path / "c")
    again.import_json(pg.export_json())
    assert _document(again) == _document(lite)
    la, pa = lite.matcher().labels, pg.matcher().labels
    assert sorted(la) == sorted(pa) and len(la) == len(PAIRS) + len(FINE)
    for g in (lite, pg, again):
        g.close()


_V1_SCHEMA = """
CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, created TEXT NOT NULL);
CREATE TABLE descriptors (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    vector BLOB NOT NULL CHECK (length(vector) = 512), image_sha256 TEXT, created TEXT NOT NULL);
CREATE INDEX descriptors_person ON descriptors(person_id);
"""


def test_a_version_1_gallery_with_colliding_names_is_migrated_without_merging(tmp_path, caplog):
    """Schema 1 (ASCII-only NOCASE) let Straße and STRASSE be two people; opening it with schema 2 keeps both
    (the later renamed ``STRASSE (2)``), reports it, and the result exports and imports back."""
    path = tmp_path / "v1.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(_V1_SCHEMA)
    db.execute("PRAGMA application_id = 1178685513")
    db.execute("PRAGMA user_version = 1")
    names = ["Straße", "STRASSE", "Émile", "émile", "amy", "x\u200by"]
    v = _vecs(len(names), seed=9)
    for i, name in enumerate(names):
        db.execute("INSERT INTO people (name, created) VALUES (?, '2026-01-01T00:00:00.000Z')", (name,))
        db.execute("INSERT INTO descriptors (person_id, vector, created) VALUES (?, ?, 'x')",
                   (i + 1, v[i].astype("<f4").tobytes()))
    db.commit()
    db.close()
    with caplog.at_level("WARNING", logger="faceapi.gallery"):
        g = Gallery(path)
    assert g.schema_version == 2 and len(g) == len(names) and g.num_descriptors == len(names)
    got = {p.id: p.name for p in g.people()}
    assert got == {1: "Straße", 2: "STRASSE (2)", 3: "Émile", 4: "émile (2)", 5: "amy", 6: "x\u200by"}
    report = "\n".join(g.migration_report)
    assert "'STRASSE' is the same name as 'Straße'" in report and "renamed 'STRASSE (2)'" in report
    assert "'émile (2)'" in report and "would refuse" in report and "x\\u200by" in report
    assert "STRASSE (2)" in caplog.text
    np.testing.assert_array_equal(g.descriptors("strasse (2)"), v[1:2])
    assert len({name_key(n) for n in got.values()}) == len(names)
    g.rename("x\u200by", "xy")  # the one refused name is renamed: then the whole gallery round trips
    back = Gallery(tmp_path / "back.sqlite3")
    back.import_json(g.export_json())
    assert _document(back) == _document(g)
    g.close()
    assert Gallery(path).migration_report == []  # migrated once
