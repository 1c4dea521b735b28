"""`faceapi analyze` on folders: error and skip records, images without faces, workers, annotated copies,
CSV/JSONL agreement, missing weights, and Ctrl-C leaving consistent outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _strip(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("timings_ms", "annotated")} for r in records]


def test_folder_with_bad_files_and_workers(messy_folder, tmp_path, analyze_cli, csv_matches_jsonl, models_dir):
    common = ["--detector", "tiny", "--expressions", "--age-gender", "--no-progress"]
    out, table = tmp_path / "two.jsonl", tmp_path / "two.csv"
    rc, stdout, stderr = analyze_cli(["analyze", messy_folder, tmp_path / "missing.jpg", "--workers", "2",
                                      "--out", out, "--csv", table, "--annotate", tmp_path / "ann", *common])
    assert rc == 1 and stdout == ""
    records = _read_jsonl(out)
    by_name = {Path(r["source"]).name: r for r in records}
    names = ("angry.jpg", "broken.jpg", "happy.jpg", "notes.txt", "sub/clip.mp4", "sub/surprised.jpg", "text.png",
             "white.png")
    expected = [str(messy_folder / n) for n in names] + [str(tmp_path / "missing.jpg")]
    assert [r["source"] for r in records] == expected
    for name in ("angry.jpg", "happy.jpg", "surprised.jpg"):
        assert by_name[name]["status"] == "ok" and len(by_name[name]["faces"]) == 1
        assert Path(by_name[name]["annotated"]).is_file()
    assert by_name["white.png"]["status"] == "ok" and by_name["white.png"]["faces"] == []
    assert by_name["happy.jpg"]["faces"][0]["expressions"]["dominant"] == "happy"
    assert (tmp_path / "ann" / "sub" / "surprised.annotated.png").is_file()  # folder layout kept
    assert by_name["broken.jpg"]["status"] == "error" and "truncated" in by_name["broken.jpg"]["error"]
    assert by_name["text.png"]["status"] == "error" and "text.png" in by_name["text.png"]["error"]
    assert by_name["missing.jpg"] == {"source": str(tmp_path / "missing.jpg"), "status": "error",
                                      "error": f"{tmp_path / 'missing.jpg'}: no such file or folder"}
    clip = by_name["clip.mp4"]
    assert clip["status"] == "error" and "cannot open video (Invalid data found" in clip["error"]
    assert "Errno" not in clip["error"]  # PyAV's message, not its error number
    assert by_name["notes.txt"]["status"] == "skipped"
    assert "6 image(s), 1 video(s) (0 frame(s) analysed), 3 face(s) found" in stderr
    assert "4 ok, 4 failed" in stderr and "1 skipped" in stderr and "broken.jpg" in stderr
    rows = csv_matches_jsonl(records, table)
    white = [r for r in rows if r["source"].endswith("white.png")]
    assert len(white) == 1 and white[0]["status"] == "ok" and white[0]["face"] == ""  # analysed, no face

    # one worker, records on stdout: the same results
    rc1, stdout1, _ = analyze_cli(["analyze", messy_folder, tmp_path / "missing.jpg", *common])
    assert rc1 == 1
    assert _strip([json.loads(line) for line in stdout1.splitlines()]) == _strip(records)


def test_single_image_annotate_file_and_empty_folder(tmp_path, analyze_cli, shared_dir, models_dir):
    target = tmp_path / "out" / "happy.png"
    rc, stdout, _ = analyze_cli(["analyze", shared_dir / "images" / "happy.jpg", "--detector", "tiny",
                                 "--annotate", target])
    assert rc == 0 and target.is_file()
    assert json.loads(stdout)["annotated"] == str(target)
    assert not list(target.parent.glob(".*"))  # written atomically, no temporary file left
    (tmp_path / "empty").mkdir()
    rc, stdout, stderr = analyze_cli(["analyze", tmp_path / "empty", "--detector", "tiny"])
    assert rc == 1
    assert json.loads(stdout)["error"].endswith("folder contains no files")


def test_named_file_without_extension_is_tried_as_image_then_video(tmp_path, analyze_cli, shared_dir, models_dir):
    photo = tmp_path / "photo"
    shutil.copy(shared_dir / "images" / "happy.jpg", photo)
    junk = tmp_path / "junk"
    junk.write_bytes(b"neither")
    rc, stdout, stderr = analyze_cli(["analyze", photo, junk, "--detector", "tiny"])
    first, second = map(json.loads, stdout.splitlines())
    assert first["status"] == "ok" and len(first["faces"]) == 1
    assert second["status"] == "error" and second["error"].endswith("(and not a video either)")
    assert rc == 1 and "2 image(s)" in stderr


def test_missing_weights_stop_the_run(tmp_path, analyze_cli, shared_dir):
    rc, stdout, stderr = analyze_cli(["analyze", shared_dir / "images" / "happy.jpg",
                                      shared_dir / "images" / "angry.jpg", "--models-dir", tmp_path])
    assert rc == 1 and stdout == ""
    assert "faceapi models download" in stderr


def test_descriptor_outputs_are_private(tmp_path, analyze_cli, shared_dir, models_dir):
    out, table = tmp_path / "o.jsonl", tmp_path / "o.csv"
    rc, _, _ = analyze_cli(["analyze", shared_dir / "images" / "happy.jpg", "--all", "--out", out, "--csv", table])
    assert rc == 0 and len(_read_jsonl(out)[0]["faces"][0]["descriptor"]) == 128
    assert (out.stat().st_mode & 0o777, table.stat().st_mode & 0o777) == (0o600, 0o600)


@pytest.mark.parametrize("workers", [1, 2])
def test_interrupt_keeps_outputs_consistent(workers, tmp_path, shared_dir, models_dir, run_until_interrupted,
                                            csv_matches_jsonl):
    """SIGINT once 3 records are out: exit 130, and the JSON lines, CSV and annotated copies cover exactly
    the same images (pooled images analysed ahead are not written)."""
    source = tmp_path / "many"
    source.mkdir()
    for i in range(200):  # far more output than a pipe holds: the run cannot finish first
        shutil.copy(shared_dir / "images" / "happy.jpg", source / f"img{i:03d}.jpg")
    table, ann = tmp_path / "o.csv", tmp_path / "ann"
    records, stderr, rc = run_until_interrupted(
        ["analyze", source, "--detector", "tiny", "--expressions", "--csv", table, "--annotate", ann,
         "--workers", workers], 3)
    assert rc == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert 3 <= len(records) < 200 and all(r["status"] == "ok" for r in records)
    assert [r["source"] for r in records] == [str(source / f"img{i:03d}.jpg") for i in range(len(records))]
    csv_matches_jsonl(records, table)
    assert sorted(ann.iterdir()) == sorted(Path(r["annotated"]) for r in records)  # no copy without its record
    assert f"{len(records)} image(s)" in stderr and f"{len(records)} ok, 0 failed" in stderr
