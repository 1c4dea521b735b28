"""`faceapi analyze` on videos: frames, times, face tracks, smoothing, timelines, the annotated copy,
CSV/JSONL agreement, PyAV errors as messages, and Ctrl-C leaving outputs that agree frame for frame."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceapi.results import EXPRESSION_LABELS
from faceapi.video import CSV_HEADER, VideoError, iter_frames, probe

PAN_FRAMES = 8
PAN_STEP = (4, 2)  # pixels per frame the window moves right and down
PAN_FPS = 10


@pytest.fixture(scope="module")
def pan_video(tmp_path_factory, make_pan_video) -> Path:
    """A short H.264 video: a 640x400 window panning over bbt4.jpg (six faces)."""
    return make_pan_video(tmp_path_factory.mktemp("video") / "pan.mp4", PAN_FRAMES, PAN_FPS, PAN_STEP)


def _frames(av, path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_video_tracks_timeline_annotation(pan_video, tmp_path, analyze_cli, csv_matches_jsonl, models_dir, av):
    out, table = tmp_path / "out.jsonl", tmp_path / "out.csv"
    rc, stdout, stderr = analyze_cli(["analyze", pan_video, "--detector", "tiny", "--expressions", "--smooth", "3",
                                      "--out", out, "--csv", table, "--timeline", tmp_path / "tl",
                                      "--annotate", tmp_path / "ann", "--no-progress"])
    assert rc == 0, stderr
    assert stdout == ""  # --out given: the records go there
    assert "1 video(s) (8 frame(s) analysed)" in stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
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

    # smoothing (--smooth 3): exponential over the track's raw probabilities, a new frame weighing 2 / (3 + 1)
    smoothed: dict[int, np.ndarray] = {}
    for r in records:
        for f in r["faces"]:
            probs = np.array([f["expressions"]["probabilities"][k] for k in EXPRESSION_LABELS])
            before = smoothed.get(f["track"])
            expected = probs if before is None else before + 0.5 * (probs - before)
            smoothed[f["track"]] = expected
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

    csv_matches_jsonl(records, table)


def test_shared_video_every(shared_dir, tmp_path, analyze_cli, models_dir, av):
    video = shared_dir / "videos" / "video.mp4"
    rc, stdout, stderr = analyze_cli(["analyze", video, "--every", "2", "--no-progress"])
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


def test_pyav_errors_are_messages(tmp_path, av):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    for call in (lambda: probe(bad), lambda: next(iter_frames(bad))):
        with pytest.raises(VideoError, match=r"bad\.mp4: cannot open video \(Invalid data found when processing "
                                             r"input\)$") as info:
            call()
        assert "Errno" not in str(info.value) and info.value.frame is None
    with pytest.raises(VideoError, match=r"cannot open video \(No such file or directory\)"):
        probe(tmp_path / "missing.mp4")


@pytest.mark.parametrize("every", [1, 3])
def test_interrupt_keeps_video_outputs_consistent(every, tmp_path, make_pan_video, models_dir, run_until_interrupted,
                                                  csv_matches_jsonl, av):
    """SIGINT once 3 frame records are out: exit 130; the CSV has the records' rows, the annotated video
    has exactly the frames up to the last record's, each timeline exactly the recorded frames of its track."""
    source = make_pan_video(tmp_path / "long.mp4", 200, fps=25, step=(1, 1))
    table, ann, tl = tmp_path / "o.csv", tmp_path / "ann", tmp_path / "tl"
    records, stderr, rc = run_until_interrupted(
        ["analyze", source, "--detector", "tiny", "--expressions", "--every", every, "--csv", table,
         "--annotate", ann, "--timeline", tl], 3)
    assert rc == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert f"1 video(s) ({len(records)} frame(s) analysed)" in stderr and "0 ok, 0 failed" in stderr
    assert 3 <= len(records) < 200 // every and all(r["status"] == "ok" for r in records)
    assert [r["frame"] for r in records] == list(range(0, every * len(records), every))
    csv_matches_jsonl(records, table)
    assert _frames(av, ann / "long.annotated.mp4") == records[-1]["frame"] + 1
    timelines = sorted(tl.glob("long.track*.csv"))
    tracks = {f["track"] for r in records for f in r["faces"]}
    assert sorted(p.name for p in timelines) == sorted(f"long.track{t}.csv" for t in tracks)
    for path in timelines:
        track = int(path.name.split(".track")[1].split(".")[0])
        rows = list(csv.reader(path.open(newline="")))
        assert rows[0] == CSV_HEADER
        assert [int(row[0]) for row in rows[1:]] == [r["frame"] for r in records
                                                       if any(f["track"] == track for f in r["faces"])]
        with Image.open(path.with_suffix(".png")) as png:
            png.verify()
    assert not list(ann.glob(".*")) and not list(tl.glob(".*"))  # no temporary files left
