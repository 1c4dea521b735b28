"""A gallery file that is not a usable gallery at start -- random bytes, truncated, empty, a damaged page,
another application's SQLite database, a newer schema version -- is refused by `faceapi serve` and by
`faceapi people list` with a one-line message saying what it is and exit status 1, and is never written:
its bytes, mode and mtime are unchanged and no companion file (``-wal``, ``-shm``, ``-journal``) is left."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from faulting import run_cli


def _good(path: Path) -> bytes:
    """A real gallery of 40 people (several pages), checkpointed into one file; its bytes."""
    from faceapi.gallery import Gallery

    rng = np.random.default_rng(0)
    with Gallery(path) as g:
        g.import_json({"format": "faceapi-gallery", "version": 2, "people": [
            {"name": f"person {i}", "descriptors": rng.normal(0, 0.1, (3, 128)).tolist()} for i in range(40)]})
    return path.read_bytes()


def _sqlite(path: Path, *statements: str) -> bytes:
    db = sqlite3.connect(path)
    for s in statements:
        db.execute(s)
    db.commit()
    db.close()
    return path.read_bytes()


def _damaged_page(path: Path) -> bytes:
    data = bytearray(_good(path))
    data[len(data) // 2: len(data) // 2 + 4096] = b"\xa5" * 4096  # one page in the middle overwritten
    return bytes(data)


def _newer(path: Path) -> bytes:
    _good(path)
    return _sqlite(path, "PRAGMA user_version = 99")


#: kind -> (make the file's bytes in a scratch path, words the refusal says)
KINDS: dict[str, tuple[Callable[[Path], bytes], str]] = {
    "random bytes": (lambda p: np.random.default_rng(1).bytes(64 * 1024), "not a faceapi gallery"),
    "truncated": (lambda p: (data := _good(p))[: len(data) // 2], "damaged"),
    "truncated to its header": (lambda p: _good(p)[:100], "damaged"),
    "empty": (lambda p: b"", "empty file"),
    "a damaged page": (_damaged_page, "damaged"),
    "another application's database": (
        lambda p: _sqlite(p, "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)",
                          "INSERT INTO notes (text) VALUES ('keep me')"), "not a faceapi gallery"),
    "an SQLite database without tables": (lambda p: _sqlite(p, "CREATE TABLE t (x)", "DROP TABLE t"),
                                          "not a faceapi gallery"),
    "a newer schema version": (_newer, "schema version 99, written by a newer faceapi"),
}


@pytest.fixture(params=list(KINDS))
def broken(request, tmp_path: Path) -> tuple[Path, str]:
    """A broken gallery file (its kind from `KINDS`) alone in its folder, and what its refusal must say."""
    make, words = KINDS[request.param]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    data = make(scratch / "g.sqlite3")
    folder = tmp_path / "galleries"
    folder.mkdir()
    path = folder / "gallery.sqlite3"
    path.write_bytes(data)
    os.chmod(path, 0o640)  # a mode faceapi would change (to 0600) if it opened the file as a gallery
    old = 1_600_000_000_000_000_000
    os.utime(path, ns=(old, old))
    return path, words


def _unchanged(path: Path, data: bytes, st: os.stat_result) -> None:
    now = path.stat()
    assert path.read_bytes() == data, "the file was written"
    assert (now.st_mtime_ns, now.st_mode, now.st_size) == (st.st_mtime_ns, st.st_mode, st.st_size)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name], "companion files were left"


def _one_clear_line(stderr: str, path: Path, words: str) -> None:
    assert "Traceback" not in stderr, stderr
    line = stderr.strip()
    assert line.startswith("faceapi: error: ") and "\n" not in line, stderr
    assert str(path) in line and words in line, stderr


def test_people_list_refuses_a_broken_gallery(broken):
    path, words = broken
    data, st = path.read_bytes(), path.stat()
    ran = run_cli(["people", "list", "--gallery", path])
    assert ran.returncode == 1 and ran.stdout == "", (ran.returncode, ran.stdout)
    _one_clear_line(ran.stderr, path, words)
    _unchanged(path, data, st)


def test_serve_refuses_a_broken_gallery(broken, serve):
    path, words = broken
    data, st = path.read_bytes(), path.stat()
    with serve(["--gallery", path]) as srv:
        try:
            rc = srv.proc.wait(timeout=60)
        except Exception:
            rc = None
    assert rc == 1, f"faceapi serve started on a broken gallery ({rc}): {srv.stderr}"
    _one_clear_line(srv.stderr, path, words)
    _unchanged(path, data, st)
