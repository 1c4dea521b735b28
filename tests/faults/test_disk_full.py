"""A full disk under the gallery and under exports: a real one (a small tmpfs in a private mount namespace,
filled to its last page: `faulting.SmallDisk`), with `faceapi serve` and the CLI running on it.

What must hold: a write that does not fit is refused whole with a clear error (HTTP 507 Insufficient
Storage; the CLI exits 1 saying the disk is full), the gallery stays exactly as it was and readable, no
partial file is left (a gallery, an export, a temporary file), and everything works again once there is room,
without a restart."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np

from faulting import faceapi_env, integrity, people_in, run_cli
from helpers import missing


def _doc(names: list[str], per_person: int = 2, seed: int = 0) -> dict:
    """A gallery export document of `names` with random descriptors (in the range real ones occupy)."""
    rng = np.random.default_rng(seed)
    return {"format": "faceapi-gallery", "version": 2, "people": [
        {"name": n, "descriptors": np.round(rng.normal(0, 0.1, (per_person, 128)), 5).tolist()} for n in names]}


def _checkpoint(disk, gallery) -> None:
    """Move the gallery's WAL into the database file and empty it, so that the next write needs new pages."""
    code = ("import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
            "print(db.execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchone())")
    out = run_cli_python(disk, code, gallery)
    assert out.startswith("(0,"), out  # 0: not blocked


def run_cli_python(disk, code: str, *args) -> str:
    out = subprocess.run([*disk.wrap, sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_server_enrolment_and_import_on_a_full_disk_are_refused_whole(small_disk, serve, face_crops):
    disk = small_disk(4 << 20)
    gallery = disk.path / "gallery.sqlite3"
    first, second, third = list(face_crops)[:3]

    def enrol(http, name):
        return http.post("/api/people", params={"name": name, "crop": "true"}, content=face_crops[name],
                         headers={"Content-Type": "image/png"})

    with serve(["--gallery", gallery], wrap=disk.wrap) as srv, srv.client(timeout=60) as http:
        assert enrol(http, first).status_code == 201 and enrol(http, second).status_code == 201
        _checkpoint(disk, gallery)
        disk.fill()

        r = enrol(http, third)
        assert r.status_code == 507, (r.status_code, r.text)
        assert "disk is full" in r.json()["error"], r.text
        r = http.post("/api/people/import", json=_doc(["imported 1", "imported 2"]))
        assert r.status_code == 507 and "disk is full" in r.json()["error"], (r.status_code, r.text)
        listed = http.get("/api/people").json()["people"]  # readable meanwhile, nothing of the refused writes
        assert {p["name"]: p["descriptors"] for p in listed} == {first: 1, second: 1}
        assert http.get("/api/people/export").status_code == 200

        disk.free()  # room again: the same requests succeed, no restart
        assert enrol(http, third).status_code == 201
        assert http.post("/api/people/import", json=_doc(["imported 1", "imported 2"])).status_code == 200
    assert "Traceback" not in srv.stderr, srv.stderr
    assert integrity(gallery, disk.wrap) == "ok"
    assert people_in(gallery, disk.wrap) == {first: 1, second: 1, third: 1, "imported 1": 2, "imported 2": 2}


def test_cli_export_onto_a_full_disk_leaves_no_partial_file(small_disk, tmp_path):
    """`people export FILE` with FILE on a full disk (the gallery elsewhere): exit 1 saying so, the older
    export at FILE whole, no new file, no temporary file left; `people export -` and `people list --json`
    with stdout into a file there: exit 1 with one line, no traceback."""
    disk = small_disk(1 << 20)
    gallery, out = tmp_path / "gallery.sqlite3", disk.path / "export.json"
    ran = run_cli(["people", "import", "-", "--gallery", gallery], input=json.dumps(_doc(["amy", "bob"])))
    assert ran.returncode == 0, ran.stderr
    assert run_cli(["people", "export", out, "--gallery", gallery], disk.wrap).returncode == 0
    exported = (disk.view / "export.json").read_bytes()
    assert run_cli(["people", "import", "-", "--gallery", gallery], input=json.dumps(_doc(["cat"], seed=1))
                   ).returncode == 0
    disk.fill()
    files = disk.files()
    for target in (out, disk.path / "new-export.json"):  # over an older export, and a new file
        ran = run_cli(["people", "export", target, "--gallery", gallery], disk.wrap)
        assert ran.returncode == 1, (ran.returncode, ran.stderr)
        assert "No space left on device" in ran.stderr and "Traceback" not in ran.stderr, ran.stderr
        assert disk.files() == files
        assert (disk.view / "export.json").read_bytes() == exported
    for args in (["people", "export", "-"], ["people", "list", "--json"]):  # stdout into a file on the full disk
        with open(disk.view / "export.json", "ab") as stdout:  # appending: the older export's bytes stay
            ran = subprocess.run([sys.executable, "-m", "faceapi.cli.main", *args, "--gallery", str(gallery)],
                                 stdout=stdout, stderr=subprocess.PIPE, text=True, env=faceapi_env(), timeout=60)
        assert ran.returncode == 1, (args, ran.returncode, ran.stderr)
        assert ran.stderr == "faceapi: error: writing the output: No space left on device\n", ran.stderr
    disk.free()
    assert run_cli(["people", "export", out, "--gallery", gallery], disk.wrap).returncode == 0
    assert [p["name"] for p in json.loads((disk.view / "export.json").read_text())["people"]] == ["amy", "bob", "cat"]


def test_cli_on_a_gallery_on_a_full_disk_refuses_clearly_and_keeps_it(small_disk, tmp_path):
    """The gallery itself on the full disk: an import is refused whole; a new process cannot even open the
    gallery for reading (SQLite's WAL index, ``-shm``, needs room), and says the disk is full."""
    disk = small_disk(4 << 20)
    gallery = disk.path / "gallery.sqlite3"
    people = {f"person {i}": 2 for i in range(3)}
    ran = run_cli(["people", "import", "-", "--gallery", gallery], disk.wrap, input=json.dumps(_doc(list(people))))
    assert ran.returncode == 0, ran.stderr
    disk.fill()
    companions = {"gallery.sqlite3-wal", "gallery.sqlite3-shm"}  # SQLite's own, made by opening (may be empty)
    files = disk.files() - companions
    before = (disk.view / "gallery.sqlite3").read_bytes()
    for args, given in ((["people", "import", "-"], json.dumps(_doc(["refused"], seed=2))),
                        (["people", "export", tmp_path / "out.json"], None), (["people", "list"], None)):
        ran = run_cli([*args, "--gallery", gallery], disk.wrap, input=given)
        assert ran.returncode == 1, (args, ran.returncode, ran.stderr)
        assert "disk is full" in ran.stderr and "Traceback" not in ran.stderr, ran.stderr
        assert disk.files() - companions == files
        assert (disk.view / "gallery.sqlite3").read_bytes() == before
    assert not (tmp_path / "out.json").exists()
    disk.free()
    assert people_in(gallery, disk.wrap) == people
    assert integrity(gallery, disk.wrap) == "ok"


def test_a_new_gallery_on_a_full_disk_is_not_left_behind(small_disk):
    """Creating a gallery on a full disk fails saying so and leaves no file: not an empty one that a later
    start would have to guess about."""
    disk = small_disk(1 << 20)
    gallery = disk.path / "gallery.sqlite3"
    disk.fill()
    ran = run_cli(["people", "list", "--gallery", gallery], disk.wrap)
    assert ran.returncode == 1 and "disk is full" in ran.stderr and "Traceback" not in ran.stderr, ran.stderr
    assert disk.files() == {"filler"}
    disk.free()
    ran = run_cli(["people", "list", "--gallery", gallery], disk.wrap)
    assert ran.returncode == 0 and "0 people" in ran.stderr, ran.stderr
    assert integrity(gallery, disk.wrap) == "ok"


def test_a_file_size_limit_under_the_server_is_a_storage_error_and_the_gallery_goes_on(serve, tmp_path):
    """RLIMIT_FSIZE (``prlimit --fsize``: writes past it fail with EFBIG, which SQLite reports as an I/O
    error): an import that does not fit is refused whole with 503, a write that fits still succeeds."""
    if not shutil.which("prlimit"):
        missing("prlimit (util-linux) is needed")
    gallery = tmp_path / "gallery.sqlite3"
    ran = run_cli(["people", "import", "-", "--gallery", gallery], input=json.dumps(_doc(["amy", "bob"])))
    assert ran.returncode == 0, ran.stderr
    limit = ["prlimit", f"--fsize={256 * 1024}", "--"]
    with serve(["--gallery", gallery], wrap=limit) as srv, srv.client(timeout=60) as http:
        r = http.post("/api/people/import", json=_doc([f"big {i}" for i in range(500)], per_person=4))
        assert r.status_code == 503 and "storage failed" in r.json()["error"], (r.status_code, r.text)
        assert {p["name"] for p in http.get("/api/people").json()["people"]} == {"amy", "bob"}
        assert http.post("/api/people/import", json=_doc(["cat"], seed=3)).status_code == 200
    assert "Traceback" not in srv.stderr, srv.stderr
    assert integrity(gallery) == "ok"
    assert people_in(gallery) == {"amy": 2, "bob": 2, "cat": 2}
