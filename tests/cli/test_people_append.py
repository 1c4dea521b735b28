"""`faceapi people add` under a name that exists: refused without --append; with it, a sample farther than the
match threshold from the person's samples is refused without --force (a typo must not merge two people)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from faceapi.gallery import Gallery

REPO = Path(__file__).resolve().parents[2]


def _add(gallery: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faceapi.cli.main", "people", "add", name, *args, "--crop",
                           "--gallery", str(gallery)], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_add_to_an_existing_person_needs_append_and_a_close_sample(tmp_path, models_dir, shared_dir):
    images = shared_dir / "images"
    g = tmp_path / "people.sqlite3"
    assert _add(g, "amy", str(images / "amy1.png")).returncode == 0
    again = _add(g, "Amy", str(images / "amy2.png"))
    assert again.returncode == 1 and "already a person called 'amy'" in again.stderr and "--append" in again.stderr
    added = _add(g, "Amy", str(images / "amy2.png"), "--append")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["descriptors"] == 2
    typo = _add(g, "amy", str(images / "sheldon1.png"), "--append")  # sheldon's photo under amy's name
    assert typo.returncode == 1 and "beyond the match threshold 0.6" in typo.stderr and "--force" in typo.stderr
    with Gallery(g) as gallery:
        assert gallery.person("amy").descriptors == 2  # nothing written
    forced = _add(g, "amy", str(images / "sheldon1.png"), "--append", "--force")
    assert forced.returncode == 0 and json.loads(forced.stdout)["descriptors"] == 3
