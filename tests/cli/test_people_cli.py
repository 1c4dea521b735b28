"""`faceapi people`: enrol, list, rename, export, remove, import through the command line (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from faceapi.gallery import Gallery

REPO = Path(__file__).resolve().parents[2]


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
