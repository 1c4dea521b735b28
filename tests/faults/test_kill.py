"""SIGKILL in the middle of enrolments and imports, of `faceapi serve` and of the CLI: on restart every
committed person is there (each enrolment answered 201, each import answered 200 or exited 0), nothing is
half-written (a person has all the descriptors of their write or is absent), and SQLite's
``PRAGMA integrity_check`` says ok. A kill lands mid-transaction for sure when the gallery's WAL grows
while the write runs: SQLite spills the uncommitted pages of a large transaction there before the commit."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from faulting import faceapi_env, integrity, kill, people_in
from helpers import wait_for


def _doc(prefix: str, people: int, per_person: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"format": "faceapi-gallery", "version": 2, "people": [
        {"name": f"{prefix} {i}", "descriptors": np.round(rng.normal(0, 0.1, (per_person, 128)), 4).tolist()}
        for i in range(people)]}


def _wal_size(gallery: Path) -> int:
    try:
        return Path(f"{gallery}-wal").stat().st_size
    except FileNotFoundError:
        return 0


#: A large import: 2000 people, 6000 descriptors (3 MB of rows, over SQLite's 2 MB page cache).
BIG = ("big", 2000, 3)
#: WAL growth that means uncommitted pages spilled: the transaction is under way.
SPILLED = 512 * 1024


def test_server_killed_during_enrolments_and_an_import_keeps_every_committed_person(serve, tmp_path: Path,
                                                                                    face_crops):
    gallery = tmp_path / "gallery.sqlite3"
    crops = list(face_crops.values())
    committed: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def enrol_until_killed(http: httpx.Client, worker: int) -> None:
        for i in range(60):  # bounded: the kill comes long before
            name = f"w{worker} n{i}"
            try:
                r = http.post("/api/people", params={"name": name, "crop": "true"}, content=crops[(worker + i) % 8],
                              headers={"Content-Type": "image/png"})
            except httpx.TransportError:
                return  # the server is gone
            with lock:
                (committed if r.status_code == 201 else refused).append(name if r.status_code == 201 else r.text)

    big_answer: list[object] = []

    def import_big(http: httpx.Client) -> None:
        try:
            big_answer.append(http.post("/api/people/import", json=_doc(*BIG)).status_code)
        except httpx.TransportError as exc:
            big_answer.append(exc)

    srv = serve(["--gallery", gallery])
    with srv, srv.client(timeout=60) as http:
        base = http.post("/api/people/import", json=_doc("base", 5, 2, seed=1))
        assert base.status_code == 200, base.text
        workers = [threading.Thread(target=enrol_until_killed, args=(http, k)) for k in range(3)]
        for t in workers:
            t.start()
        wait_for(lambda: len(committed) >= 4, 60, "four answered enrolments")
        wal_before = _wal_size(gallery)
        importer = threading.Thread(target=import_big, args=(http,))
        importer.start()
        wait_for(lambda: _wal_size(gallery) > wal_before + SPILLED or big_answer, 60,
                 "the import's uncommitted pages in the WAL", interval=0.002)
        kill(srv.proc)
        for t in [*workers, importer]:
            t.join(60)
            assert not t.is_alive()
    assert not refused, refused
    assert isinstance(big_answer[0], httpx.TransportError), "the import finished before the kill"

    assert integrity(gallery) == "ok"
    with serve(["--gallery", gallery]) as again, again.client(timeout=60) as http:  # the restart
        listed = {p["name"]: p["descriptors"] for p in http.get("/api/people").json()["people"]}
    base_people = {f"base {i}" for i in range(5)}
    enrolled = {n for n in listed if n.startswith("w")}
    assert set(committed) <= enrolled, "an enrolment answered 201 is missing after the kill"
    assert len(enrolled - set(committed)) <= 3, "more committed than requests in flight"  # answers lost in the kill
    assert all(listed[n] == 1 for n in enrolled) and all(listed[n] == 2 for n in base_people)
    big = {n: c for n, c in listed.items() if n.startswith("big")}
    # all or nothing: nothing when the kill came before COMMIT (the usual case), all of it when it came after
    assert big in ({}, {f"big {i}": BIG[2] for i in range(BIG[1])}), f"{len(big)} of the killed import kept"
    assert set(listed) == base_people | enrolled | set(big)


def test_cli_import_killed_mid_transaction_keeps_the_gallery_as_it_was(tmp_path: Path):
    gallery, big = tmp_path / "gallery.sqlite3", tmp_path / "big.json"
    run = [sys.executable, "-m", "faceapi.cli.main", "people", "import"]
    small = subprocess.run([*run, "-", "--gallery", gallery], input=json.dumps(_doc("base", 5, 2)), text=True,
                           capture_output=True, env=faceapi_env(), timeout=60)
    assert small.returncode == 0, small.stderr
    before = people_in(gallery)
    big.write_text(json.dumps(_doc(*BIG)))

    proc = subprocess.Popen([*run, big, "--gallery", gallery], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=faceapi_env())
    try:
        wait_for(lambda: _wal_size(gallery) > SPILLED or proc.poll() is not None, 60,
                 "the import's uncommitted pages in the WAL", interval=0.002)
        assert proc.poll() is None, "the import finished before the kill"
    finally:
        kill(proc)
        proc.stderr.close()
    assert integrity(gallery) == "ok"
    kept = people_in(gallery)
    # all or nothing: nothing when the kill came before COMMIT (the usual case), all when it came after
    assert kept in (before, before | {f"big {i}": BIG[2] for i in range(BIG[1])}), "part of the killed import kept"

    ran = subprocess.run([*run, "-", "--gallery", gallery], input=json.dumps(_doc("after", 2, 2)), text=True,
                         capture_output=True, env=faceapi_env(), timeout=60)  # and it takes writes again
    assert ran.returncode == 0, ran.stderr
    assert people_in(gallery) == kept | {"after 0": 2, "after 1": 2}


def test_cli_enrolment_killed_at_any_moment_is_all_or_nothing(tmp_path: Path, character_photos):
    """`people add NAME` with four photos, killed at points across its run (its whole duration measured by a
    run left alone): the person has all four descriptors or is absent, never some."""
    gallery = tmp_path / "gallery.sqlite3"
    photos = [str(p) for p in next(iter(character_photos.values()))[:4]]
    assert len(photos) >= 3

    def add(name: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "faceapi.cli.main", "people", "add", name, *photos, "--crop",
                                 "--gallery", str(gallery)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=faceapi_env())

    started = time.monotonic()
    assert add("measured").wait(timeout=60) == 0
    duration = time.monotonic() - started
    for i, fraction in enumerate((0.7, 0.9, 0.97)):
        proc = add(f"killed {i}")
        time.sleep(duration * fraction)  # a chosen point of the run, not a wait for something
        kill(proc)
        assert integrity(gallery) == "ok"
    listed = people_in(gallery)
    assert listed["measured"] == len(photos)
    assert all(listed.get(f"killed {i}", len(photos)) == len(photos) for i in range(3)), listed
