"""`faceapi analyze` on folders and videos: error records, workers, tracking, smoothing, timelines,
CSV/JSONL agreement, Ctrl-C. Uses the tiny detector and short videos to keep the run time modest."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceapi.cli.main import main
from faceapi.collect import CSV_COLUMNS, ProgressBar, expand_inputs
from faceapi.results import EXPRESSION_LABELS, Box, Detection, Expressions, Face
from faceapi.timeline import CSV_HEADER
from faceapi.tracking import Tracker

from helpers import SHARED, read_rgb

av = pytest.importorskip("av")

PAN_FRAMES = 8
PAN_STEP = (4, 2)  # pixels per frame the window moves right and down
PAN_FPS = 10


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == CSV_COLUMNS
        return list(reader)


def assert_csv_matches_jsonl(records: list[dict], rows: list[dict]) -> None:
    """One CSV row per face of each ok record (same order, same numbers), one per failed/skipped input."""
    expected = []
    for r in records:
        if r["status"] != "ok":
            expected.append((r["source"], r["status"], str(r.get("frame", "")), None, r.get("error") or r["reason"]))
            continue
        for i, f in enumerate(r["faces"]):
            expected.append((r["source"], "ok", str(r.get("frame", "")), i, f))
    assert len(rows) == len(expected)
    for row, (source, status, frame, i, face) in zip(rows, expected):
        assert (row["source"], row["status"], row["frame"]) == (source, status, frame)
        if status != "ok":
            assert row["error"] == face and row["x"] == ""
            continue
        assert int(row["face"]) == i
        for k in ("x", "y", "width", "height"):
            assert float(row[k]) == face["box"][k]
        assert float(row["score"]) == face["score"]
        assert row["track"] == str(face.get("track", ""))
        if "expressions" in face:
            assert row["dominant"] == face["expressions"]["dominant"]
            for label in EXPRESSION_LABELS:
                assert float(row[label]) == face["expressions"]["probabilities"][label]
        if "age" in face:
            assert float(row["age"]) == face["age"] and row["gender"] == face["gender"]
            assert float(row["gender_probability"]) == face["gender_probability"]


# -- videos ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pan_video(tmp_path_factory) -> Path:
    """A short H.264 video: a 640x400 window panning over bbt4.jpg (six faces), made with PyAV."""
    image = read_rgb(SHARED / "images" / "bbt4.jpg")
    path = tmp_path_factory.mktemp("video") / "pan.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=PAN_FPS)
        stream.width, stream.height, stream.pix_fmt = 640, 400, "yuv420p"
        for i in range(PAN_FRAMES):
            x, y = i * PAN_STEP[0], i * PAN_STEP[1]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[y : y + 400, x : x + 640]), "rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_video_tracks_timeline_annotation(pan_video, tmp_path, capsys, models_dir):
    out, table = tmp_path / "out.jsonl", tmp_path / "out.csv"
    rc, stdout, stderr = run_cli(["analyze", pan_video, "--detector", "tiny", "--expressions", "--smooth", "3",
                                  "--out", out, "--csv", table, "--timeline", tmp_path / "tl",
                                  "--annotate", tmp_path / "ann", "--no-progress"], capsys)
    assert rc == 0, stderr
    assert stdout == ""  # --out given: the records go there
    assert "1 video(s) (8 frame(s) analysed)" in stderr
    records = read_jsonl(out)
    assert [r["frame"] for r in records] == list(range(PAN_FRAMES))
    assert all(math.isclose(r["time"], i / PAN_FPS, abs_tol=1e-6) for i, r in enumerate(records))
    assert all(r["status"] == "ok" and r["image"] == {"width": 640, "height": 400} for r in records)

    # the same face (its frame-0 box moved back by the pan) keeps its track id in every frame
    first = records[0]["faces"]
    assert len(first) >= 4
    ids0 = [f["track"] for f in first]
    assert sorted(ids0) == list(range(1, len(first) + 1))
    for i, r in enumerate(records):
        assert len(r["faces"]) == len(first)
        for f in r["faces"]:
            cx = f["box"]["x"] + f["box"]["width"] / 2 + i * PAN_STEP[0]
            cy = f["box"]["y"] + f["box"]["height"] / 2 + i * PAN_STEP[1]
            nearest = min(first, key=lambda g: (g["box"]["x"] + g["box"]["width"] / 2 - cx) ** 2
                          + (g["box"]["y"] + g["box"]["height"] / 2 - cy) ** 2)
            assert f["track"] == nearest["track"], f"frame {i}"

    # smoothing: the mean of the track's last 3 raw probabilities
    raw: dict[int, list[list[float]]] = {}
    for r in records:
        for f in r["faces"]:
            raw.setdefault(f["track"], []).append([f["expressions"]["probabilities"][k] for k in EXPRESSION_LABELS])
            expected = np.mean(raw[f["track"]][-3:], axis=0)
            got = [f["expressions_smoothed"]["probabilities"][k] for k in EXPRESSION_LABELS]
            np.testing.assert_allclose(got, expected, atol=1e-12)

    # timeline: a CSV and a PNG per track, with the smoothed values of the JSON
    for tid in ids0:
        rows = list(csv.reader((tmp_path / "tl" / f"pan.track{tid}.csv").open(newline="")))
        assert rows[0] == CSV_HEADER
        assert len(rows) == 1 + PAN_FRAMES
        for r, row in zip(records, rows[1:]):
            face = next(f for f in r["faces"] if f["track"] == tid)
            assert int(row[0]) == r["frame"] and math.isclose(float(row[1]), r["time"], abs_tol=1e-4)
            values = [float(v) for v in row[2:9]]
            assert math.isclose(sum(values), 1.0, abs_tol=1e-4)
            smoothed = face["expressions_smoothed"]
            assert values == pytest.approx([smoothed["probabilities"][k] for k in EXPRESSION_LABELS], abs=1e-6)
            assert row[9] == smoothed["dominant"]
        with Image.open(tmp_path / "tl" / f"pan.track{tid}.png") as png:
            assert png.format == "PNG" and png.size == (900, 360)
    assert len(list((tmp_path / "tl").glob("*.csv"))) == len(ids0)

    # annotated video: every frame, same size
    with av.open(str(tmp_path / "ann" / "pan.annotated.mp4")) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == PAN_FRAMES and (frames[0].width, frames[0].height) == (640, 400)

    assert_csv_matches_jsonl(records, read_csv(table))


def test_shared_video_every(shared_dir, tmp_path, capsys, models_dir):
    video = shared_dir / "videos" / "video.mp4"
    rc, stdout, stderr = run_cli(["analyze", video, "--every", "2", "--no-progress"], capsys)
    assert rc == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [r["frame"] for r in records] == [0, 2, 4]  # 5 frames
    assert [r["time"] for r in records] == pytest.approx([0, 2002 / 24000, 4004 / 24000], abs=1e-6)
    assert all(r["image"] == {"width": 820, "height": 460} for r in records)
    for r in records:
        ids = [f["track"] for f in r["faces"]]
        assert len(ids) == len(set(ids))
    # the face that stays put keeps its id
    tracks = [{f["track"] for f in r["faces"]} for r in records]
    assert set.intersection(*tracks), tracks


def test_tracker_reidentifies_with_descriptors_after_a_short_loss():
    def face(x, desc=None, probs=None):
        det = Detection(Box(x, 10, 50, 50), 0.9, 640, 480)
        return Face(det, descriptor=None if desc is None else np.asarray(desc, np.float32),
                    expressions=None if probs is None else Expressions(tuple(probs)))

    d_a, d_b = np.zeros(128), np.full(128, 0.2)  # distance 2.26: two people
    tr = Tracker(smooth_window=2, reid_seconds=1.0)
    p1, p2 = [1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0]
    a0, b0 = tr.update([face(0, d_a, p1), face(300, d_b)], 0.0)
    assert (a0.track, b0.track) == (1, 2) and a0.smoothed == tuple(map(float, p1))
    assert [t.track for t in tr.update([face(5, d_a, p2)], 0.1)] == [1]  # IoU
    assert a0.smoothed_dominant == "neutral"
    tr.update([], 0.2)  # both lost
    # they come back elsewhere, swapped: IoU cannot help, the descriptors can
    back = tr.update([face(320, d_a + 0.01, p2), face(10, d_b)], 0.3)
    assert [t.track for t in back] == [1, 2]
    assert back[0].smoothed == pytest.approx((0, 1, 0, 0, 0, 0, 0))  # window 2: the last two were happy
    # too long lost: a new track
    tr.update([], 2.0)
    assert [t.track for t in tr.update([face(600, d_a)], 2.5)] == [3]
    # without descriptors a lost face starts a new track
    tr2 = Tracker()
    tr2.update([face(0)], 0.0)
    tr2.update([], 0.1)
    assert [t.track for t in tr2.update([face(0)], 0.2)] == [2]


# -- folders --------------------------------------------------------------------------------------------
@pytest.fixture
def messy_folder(tmp_path) -> Path:
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for name in ("happy.jpg", "angry.jpg"):
        shutil.copy(SHARED / "images" / name, root / name)
    shutil.copy(SHARED / "images" / "surprised.jpg", root / "sub" / "surprised.jpg")
    data = (SHARED / "images" / "neutral.jpg").read_bytes()
    (root / "broken.jpg").write_bytes(data[: len(data) // 3])  # truncated JPEG
    (root / "text.png").write_text("not a picture\n")  # an image extension, not an image
    (root / "notes.txt").write_text("shot on holiday\n")  # not an image extension
    (root / "sub" / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))  # a broken video
    return root


def _strip(records: list[dict]) -> list[dict]:
    out = []
    for r in records:
        r = {k: v for k, v in r.items() if k not in ("timings_ms", "annotated")}
        out.append(r)
    return out


def test_folder_with_bad_files_and_workers(messy_folder, tmp_path, capsys, models_dir):
    common = ["--detector", "tiny", "--expressions", "--age-gender", "--no-progress"]
    out, table = tmp_path / "two.jsonl", tmp_path / "two.csv"
    rc, stdout, stderr = run_cli(["analyze", messy_folder, tmp_path / "missing.jpg", "--workers", "2", "--out", out,
                                  "--csv", table, "--annotate", tmp_path / "ann", *common], capsys)
    assert rc == 1
    records = read_jsonl(out)
    by_name = {Path(r["source"]).name: r for r in records}
    names = ("angry.jpg", "broken.jpg", "happy.jpg", "notes.txt", "sub/clip.mp4", "sub/surprised.jpg", "text.png")
    expected = [str(messy_folder / n) for n in names] + [str(tmp_path / "missing.jpg")]
    assert [r["source"] for r in records] == expected
    for name in ("angry.jpg", "happy.jpg", "surprised.jpg"):
        assert by_name[name]["status"] == "ok" and len(by_name[name]["faces"]) == 1
        assert Path(by_name[name]["annotated"]).is_file()
    assert by_name["happy.jpg"]["faces"][0]["expressions"]["dominant"] == "happy"
    assert (tmp_path / "ann" / "sub" / "surprised.annotated.png").is_file()  # folder layout kept
    assert by_name["broken.jpg"]["status"] == "error" and "truncated" in by_name["broken.jpg"]["error"]
    assert by_name["text.png"]["status"] == "error" and "text.png" in by_name["text.png"]["error"]
    assert by_name["missing.jpg"] == {"source": str(tmp_path / "missing.jpg"), "status": "error",
                                      "error": f"{tmp_path / 'missing.jpg'}: no such file or folder"}
    assert by_name["clip.mp4"]["status"] == "error" and "cannot open video" in by_name["clip.mp4"]["error"]
    assert by_name["notes.txt"]["status"] == "skipped"
    assert "3 ok, 4 failed" in stderr and "1 skipped" in stderr and "broken.jpg" in stderr
    assert_csv_matches_jsonl(records, read_csv(table))

    # one worker, records on stdout: the same results
    rc1, stdout1, _ = run_cli(["analyze", messy_folder, tmp_path / "missing.jpg", *common], capsys)
    assert rc1 == 1
    assert _strip([json.loads(line) for line in stdout1.splitlines()]) == _strip(records)


def test_single_image_annotate_file_and_empty_folder(tmp_path, capsys, models_dir):
    target = tmp_path / "out" / "happy.png"
    rc, stdout, _ = run_cli(["analyze", SHARED / "images" / "happy.jpg", "--detector", "tiny",
                             "--annotate", target], capsys)
    assert rc == 0 and target.is_file()
    assert json.loads(stdout)["annotated"] == str(target)
    (tmp_path / "empty").mkdir()
    rc, stdout, stderr = run_cli(["analyze", tmp_path / "empty", "--detector", "tiny"], capsys)
    assert rc == 1
    assert json.loads(stdout)["error"].endswith("folder contains no files")


def test_missing_weights_stop_the_run(tmp_path, capsys):
    rc, stdout, stderr = run_cli(["analyze", SHARED / "images" / "happy.jpg", SHARED / "images" / "angry.jpg",
                                  "--models-dir", tmp_path], capsys)
    assert rc == 1 and stdout == ""
    assert "faceapi models download" in stderr


def test_expand_inputs_and_progress_bar(messy_folder):
    items = expand_inputs([messy_folder])
    assert [(Path(i.path).name, i.kind) for i in items] == [
        ("angry.jpg", "image"), ("broken.jpg", "image"), ("happy.jpg", "image"), ("notes.txt", "skip"),
        ("clip.mp4", "video"), ("surprised.jpg", "image"), ("text.png", "image")]
    stream = io.StringIO()
    bar = ProgressBar(4, stream=stream, enabled=True, min_interval=0)
    bar.advance()
    bar.video_frame("clip.mp4", 3, 10)
    assert "1/4 inputs" in stream.getvalue() and "clip.mp4: frame 3/10" in stream.getvalue()
    assert "ETA" in stream.getvalue()
    bar.close()
    silent = io.StringIO()
    ProgressBar(4, stream=silent).advance()  # not a terminal: nothing
    assert silent.getvalue() == ""


# -- Ctrl-C -----------------------------------------------------------------------------------------------
def _make_pan(path: Path, frames: int) -> None:
    image = read_rgb(SHARED / "images" / "bbt4.jpg")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 400, "yuv420p"
        for i in range(frames):
            x, y = i % 60, (i // 2) % 60
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[y : y + 400, x : x + 640]), "rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize("case", ["folder, 1 worker", "folder, 2 workers", "video"])
def test_interrupt_keeps_outputs_valid(case, tmp_path, models_dir):
    """SIGINT part-way: exit 130, and the JSONL, CSV, annotated video and timeline files are all valid."""
    out, table = tmp_path / "o.jsonl", tmp_path / "o.csv"
    if case == "video":
        source = tmp_path / "long.mp4"
        _make_pan(source, 200)
        extra = ["--annotate", str(tmp_path / "ann"), "--timeline", str(tmp_path / "tl")]
    else:
        source = tmp_path / "many"
        source.mkdir()
        for i in range(60):
            shutil.copy(SHARED / "images" / "happy.jpg", source / f"img{i:03d}.jpg")
        extra = ["--workers", case.split(", ")[1][0]]
    env = dict(os.environ, FACEAPI_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "faceapi.cli.main", "analyze", str(source), "--detector", "tiny",
                             "--expressions", "--out", str(out), "--csv", str(table), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and len(out.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    text = out.read_text()
    assert text.endswith("\n")
    records = [json.loads(line) for line in text.splitlines()]
    total = 200 if case == "video" else 60
    assert 3 <= len(records) < total and all(r["status"] == "ok" for r in records)
    rows = read_csv(table)
    assert all(None not in r.values() for r in rows)  # whole rows only
    assert {r["source"] for r in rows} <= {r["source"] for r in records}
    if case == "video":
        with av.open(str(tmp_path / "ann" / "long.annotated.mp4")) as c:
            assert sum(1 for _ in c.decode(video=0)) >= len(records)
        timelines = sorted((tmp_path / "tl").glob("long.track*.csv"))
        assert timelines
        for path in timelines:
            rows = list(csv.reader(path.open(newline="")))
            assert rows[0] == CSV_HEADER and all(len(r) == len(CSV_HEADER) for r in rows)
            with Image.open(path.with_suffix(".png")) as png:
                png.verify()
