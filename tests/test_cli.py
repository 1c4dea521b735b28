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


def test_analyze_recognize_names_faces_from_the_gallery(shared_dir, models_dir, tmp_path):
    gallery = tmp_path / "people.sqlite3"
    images = shared_dir / "images"
    for person in ("amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart"):
        proc = faceapi_cli("people", "add", person, str(images / f"{person}1.png"), str(images / f"{person}2.png"),
                           "--crop", "--gallery", str(gallery))
        assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("bbt4.jpg", "bbt5.jpg"):
        (folder / name).write_bytes((images / name).read_bytes())
    out, csv_path = tmp_path / "out.jsonl", tmp_path / "out.csv"
    proc = faceapi_cli("analyze", str(folder), "--recognize", "--gallery", str(gallery), "--workers", "2",
                       "--out", str(out), "--csv", str(csv_path), "--no-descriptor-output")
    assert proc.returncode == 0, proc.stderr
    records = {r["source"].split("/")[-1]: r for r in map(json.loads, out.read_text().splitlines())}

    def left_to_right(record):
        return [f["match"]["label"] for f in sorted(record["faces"], key=lambda f: f["box"]["x"])]

    assert left_to_right(records["bbt4.jpg"]) == ["leonard", "amy", "raj", "penny", "sheldon", "bernadette"]
    assert left_to_right(records["bbt5.jpg"]) == ["raj", "penny", "sheldon", "leonard", "howard"]
    csv_people = [line.split(",")[-3] for line in csv_path.read_text().splitlines()[1:]]
    assert sorted(csv_people) == sorted(f["match"]["label"] for r in records.values() for f in r["faces"])
    empty = faceapi_cli("analyze", str(images / "bbt4.jpg"), "--recognize", "--gallery", str(tmp_path / "no.db"))
    assert empty.returncode == 1 and "faceapi people add" in empty.stderr
