"""The `faceapi` command: detect, models list, and the missing-weights hint (run as real subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys

from PIL import Image


def faceapi_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faceapi.cli.main", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def test_detect_prints_json_lines_and_reports_bad_files(shared_dir, models_dir, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    proc = faceapi_cli("detect", str(shared_dir / "images" / "bbt4.jpg"), str(bad), "--detector", "tiny")
    assert proc.returncode == 1, proc.stderr
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert first["status"] == "ok" and len(first["faces"]) == 6
    assert first["image"] == {"width": 710, "height": 473}
    assert second["status"] == "error" and "notes.txt" in second["error"]


def test_detect_refuses_bad_input_size(shared_dir, models_dir):
    proc = faceapi_cli("detect", str(shared_dir / "images" / "happy.jpg"), "--detector", "tiny", "--input-size", "100")
    assert proc.returncode == 1
    assert "multiple of 32" in proc.stderr


def test_models_list_and_missing_models_hint(models_dir, shared_dir, tmp_path):
    proc = faceapi_cli("models", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 7 and all(r["verified"] for r in rows)
    empty = faceapi_cli("models", "list", "--dir", str(tmp_path))
    assert empty.returncode == 1 and "faceapi models download" in empty.stderr
    env = {"FACEAPI_MODELS": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = faceapi_cli("detect", str(shared_dir / "images" / "happy.jpg"), env=env)
    assert proc.returncode == 1
    assert "faceapi models download" in proc.stderr and "not found" in proc.stderr


def test_analyze_annotates_one_image(shared_dir, models_dir, tmp_path):
    out = tmp_path / "happy.png"
    proc = faceapi_cli("analyze", str(shared_dir / "images" / "happy.jpg"), "--all", "--annotate", str(out))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    (face,) = record["faces"]
    assert face["expressions"]["dominant"] == "happy"
    assert len(face["landmarks"]) == 68 and len(face["descriptor"]) == 128
    assert {"age", "gender", "gender_probability"} <= set(face)
    with Image.open(out) as im:
        assert im.size == (500, 282)
        box = face["box"]
        edge = im.convert("RGB").getpixel((int(box["x"] + box["width"] / 2), int(box["y"] + box["height"])))
        assert edge[2] > 200 and edge[0] < 80  # the blue box line is drawn at the face's bottom edge
