"""CSV cells that a spreadsheet would run as a formula (starting with =, +, -, @) are written as text: a file
name or a person's name must not become a formula when the CSV is opened (CSV injection)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

from faceapi.gallery import Gallery
from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer


def test_formula_cells_are_escaped(tmp_path, models_dir, shared_dir):
    images = shared_dir / "images"
    shutil.copy(images / "happy.jpg", tmp_path / "@SUM(1+1).jpg")
    shutil.copy(images / "happy.jpg", tmp_path / "+cmd.jpg")
    evil = '=HYPERLINK("http://evil.example","click")'
    descriptor = FaceAnalyzer(models_dir).analyze(images / "happy.jpg", AnalyzeOptions.from_dict(
        {"detector": "ssd", "descriptors": True})).faces[0].descriptor
    with Gallery(tmp_path / "g.sqlite3") as g:
        g.enrol(evil, [descriptor])
    out = tmp_path / "out.csv"
    r = subprocess.run([sys.executable, "-m", "faceapi.cli.main", "analyze", "@SUM(1+1).jpg", "+cmd.jpg",
                        "--detector", "ssd", "--recognize", "--gallery", str(tmp_path / "g.sqlite3"), "--csv", str(out),
                        "--out", str(tmp_path / "out.jsonl")], capture_output=True, text=True, cwd=tmp_path,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert {row["source"] for row in rows} == {"'@SUM(1+1).jpg", "'+cmd.jpg"}, rows
    assert {row["person"] for row in rows} == {"'" + evil}
    for row in rows:  # numbers stay numbers
        float(row["x"]), float(row["score"])
        assert not any(v.startswith(("=", "+", "-", "@")) for v in row.values())
