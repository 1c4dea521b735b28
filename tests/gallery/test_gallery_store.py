"""The gallery's SQLite store: versioned schema, people and descriptors, the cached matcher, private
files, and transactions that survive kills at any row of a write (interrupted through the store's
`on_row_written` callback, at known points)."""

from __future__ import annotations

import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceapi import FaceMatcher, LabeledFaceDescriptors
from faceapi.errors import GalleryError, NameTakenError, UnknownPersonError
from faceapi.gallery import APPLICATION_ID, SCHEMA_VERSION, Gallery

from helpers import GALLERY_KINDS


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


def _other_connection(g):
    """A second connection to the same gallery (another process, the CLI while the server runs)."""
    if isinstance(g, Gallery):
        return Gallery(g.path)
    from faceapi.gallery.postgres import PostgresGallery

    return PostgresGallery(g.url, poll_interval=0)


@pytest.mark.parametrize("kind", GALLERY_KINDS)
def test_people_crud_and_clear_errors(tmp_path, make_gallery, kind):
    g = make_gallery(kind, tmp_path)
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
    assert g.clear() == 1 and len(g) == 0 and g.matcher().labels == []
    g.close()
    if kind == "sqlite":
        assert _integrity(g.path) == "ok"


@pytest.mark.parametrize("kind", GALLERY_KINDS)
def test_matcher_is_cached_and_follows_writes(tmp_path, make_gallery, kind):
    g = make_gallery(kind, tmp_path)
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
    other = _other_connection(g)  # a write by another connection (e.g. the CLI while the server runs)
    other.remove("bee")
    assert g.matcher().labels == ["a"]
    other.enrol("c", v[3:5])  # only what changed is loaded: a's descriptors stay the same array
    a_rows = g._loaded.people[g.person("a").id][1]
    assert g.matcher().labels == ["a", "c"] and g._loaded.people[g.person("a").id][1] is a_rows
    other.rename("c", "Cee")
    assert g.matcher().labels == ["a", "Cee"]
    other.remove("cee")
    other.close()
    g.add_person("empty")  # no descriptors: not in the matcher
    assert g.matcher().labels == ["a"]
    # the gallery's matcher is face-api.js's FaceMatcher over the same references
    ref = FaceMatcher([LabeledFaceDescriptors("a", v[:3])], 0.5, "nearest")
    q = _vecs(4, seed=1)
    assert [m.label for m in g.matcher(0.5, "nearest").match_descriptors(q)] == \
        [m.label for m in ref.match_descriptors(q)]


def test_new_gallery_files_are_private(tmp_path):
    path = tmp_path / "new" / "g.sqlite3"
    with Gallery(path) as g:
        g.enrol("amy", _vecs(1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    wal = Path(str(path) + "-wal")
    if wal.exists():  # SQLite gives its journal the database's mode
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600


# -- crashes --------------------------------------------------------------------------------------------
#: Enrols argv[2] random descriptors as "bulk"; after row argv[3] (0: never) it says so and waits (for a
#: line on stdin that never comes) inside the transaction, to be killed there.
_KILL_SCRIPT = """
import sys, numpy as np
from faceapi.gallery import Gallery
stop_at, rows = int(sys.argv[3]), 0
def row_written():
    global rows
    rows += 1
    if rows == stop_at:
        print("mid-transaction", flush=True)
        sys.stdin.readline()
g = Gallery(sys.argv[1], on_row_written=row_written)
g.enrol("bulk", np.random.default_rng(int(sys.argv[4])).normal(0, 0.14, (int(sys.argv[2]), 128)))
print("committed", flush=True)
"""


def _enrol_and_kill(path: Path, rows: int, stop_at: int, seed: int = 7) -> int:
    """Run the script; SIGKILL it when it reports it is inside the transaction. Returns its exit code."""
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(path), str(rows), str(stop_at), str(seed)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        if stop_at:
            assert line == "mid-transaction"
            proc.send_signal(signal.SIGKILL)
        else:
            assert line == "committed"
        return proc.wait(timeout=60)
    finally:
        proc.kill()  # only if something above failed: it has exited otherwise
        proc.wait(timeout=60)
        proc.stdin.close()
        proc.stdout.close()


def test_kill_in_the_middle_of_enrolment_leaves_the_gallery_as_it_was(tmp_path):
    """SIGKILL after 6000 of 8000 rows of one enrolment: far more than SQLite's page cache, so uncommitted
    pages have already been written to the WAL file when the process dies."""
    path = tmp_path / "g.sqlite3"
    with Gallery(path) as g:
        g.enrol("amy", _vecs(2), ["a" * 64, "b" * 64])
        g.enrol("bulk", _vecs(1, seed=3))
    before = _state(path)
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(path), "8000", "6000", "7"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "mid-transaction"
        wal = Path(str(path) + "-wal")
        assert wal.stat().st_size > 1_000_000, "expected uncommitted pages in the WAL before the kill"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
        proc.stdin.close()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert _integrity(path) == "ok"
    assert _state(path) == before
    with Gallery(path) as g:
        assert g.person("bulk").descriptors == 1 and g.matcher().num_descriptors == 3
        g.enrol("penny", _vecs(1, seed=4))  # and it is writable again
        assert _integrity(path) == "ok"


@pytest.mark.parametrize("stop_at", [1, 137, 400], ids=["first row", "a middle row", "last row, before COMMIT"])
def test_a_kill_at_any_row_keeps_nothing_of_the_write(tmp_path, stop_at):
    """Kills after the first, a middle and the last of 400 rows: nothing of the enrolment is kept, the rest
    of the gallery is untouched, and the same enrolment run to the end keeps all 400."""
    path = tmp_path / "g.sqlite3"
    with Gallery(path) as g:
        g.enrol("amy", _vecs(2))
    before = _state(path)
    assert _enrol_and_kill(path, 400, stop_at) == -signal.SIGKILL
    assert _integrity(path) == "ok"
    assert _state(path) == before
    assert _enrol_and_kill(path, 400, 0) == 0
    after = _state(path)
    assert len(after[1]) == len(before[1]) + 400 and after[1][: len(before[1])] == before[1]
