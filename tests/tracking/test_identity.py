"""A track is one person: a clip of five different people in turn at the same place, with hard cuts between
them (the shared photos, webcam-like noise, an H.264 video written with PyAV), gives five ids, with and
without descriptors, in the library and in `faceapi analyze --timeline`; a person back within
`reid_seconds` gets their id back, later a new one; smoothing starts again with each new id."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceapi.options import AnalyzeOptions, TrackingOptions
from faceapi.results import EXPRESSION_LABELS
from faceapi.tracking import FaceTracker

#: Five people (photos whose faces the tiny detector finds at this size), then the first one back.
PEOPLE = ("howard1.png", "raj1.png", "angry_cropped.jpg", "sheldon1.png", "penny2.png")
SEGMENT = 4  # frames per person
FPS = 10     # 0.4 s per person: the first one is back 1.6 s after leaving, within reid_seconds (2 s)
SIZE = (640, 480)


def person_frame(shared: Path, name: str, seed: int, side: int = 340) -> np.ndarray:
    """The photo scaled to `side` px, centred on a dark 640x480 frame, with Gaussian noise (sigma 6)."""
    im = Image.open(shared / "images" / name).convert("RGB")
    scale = side / max(im.size)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", SIZE, (24, 28, 34))
    canvas.paste(im, ((SIZE[0] - im.width) // 2, (SIZE[1] - im.height) // 2))
    noisy = np.asarray(canvas, np.float32) + np.random.default_rng(seed).normal(0.0, 6.0, (SIZE[1], SIZE[0], 3))
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def people_clip(shared: Path, order: tuple[int, ...]) -> tuple[list[np.ndarray], list[int]]:
    """Frames of `PEOPLE[i]` for i in `order`, `SEGMENT` frames each; and who is in each frame."""
    frames, who = [], []
    for k, i in enumerate(order):
        for j in range(SEGMENT):
            frames.append(person_frame(shared, PEOPLE[i], seed=k * SEGMENT + j))
            who.append(i)
    return frames, who


ORDER = (0, 1, 2, 3, 4, 0)


@pytest.fixture(scope="module")
def clip(shared_dir):
    return people_clip(shared_dir, ORDER)


def ids_by_person(tracks: list[int], who: list[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for t, p in zip(tracks, who):
        out.setdefault(p, set()).add(t)
    return out


@pytest.mark.parametrize("descriptors", [False, True])
def test_five_people_five_ids_and_the_first_one_back(analyzer, clip, descriptors):
    frames, who = clip
    options = AnalyzeOptions.from_dict({"detector": "tiny", "input_size": 416, "min_score": 0.5, "landmarks": "full",
                                        "expressions": True, "descriptors": descriptors})
    tracker = FaceTracker(analyzer, options)
    results = [tracker.update(f, k / FPS) for k, f in enumerate(frames)]
    assert [len(r.faces) for r in results] == [1] * len(frames)
    tracks = [r.faces[0].track for r in results]
    # one id per person, a different one for each person; the first person back gets theirs
    assert ids_by_person(tracks, who) == {i: {i + 1} for i in range(len(PEOPLE))}, tracks
    # at each cut the new person's smoothing starts from their own values: the smoothed face is the raw one
    for k in range(SEGMENT, len(frames) - SEGMENT, SEGMENT):
        face, raw = results[k].faces[0].face, results[k].faces[0].raw
        assert face.expressions == raw.expressions, k
        fb, rb = face.detection.box, raw.detection.box
        assert (fb.x, fb.y, fb.width, fb.height) == pytest.approx((rb.x, rb.y, rb.width, rb.height)), k
    # the box alone would have kept one id: every new person's face overlaps the one before by more than
    # the IoU that continues a track
    boxes = [r.faces[0].raw.detection.box for r in results]
    cuts = range(SEGMENT, len(frames), SEGMENT)
    assert all(boxes[k].iou(boxes[k - 1]) > TrackingOptions().iou_threshold for k in cuts)


def test_back_after_reid_seconds_is_a_new_id(analyzer, clip):
    frames, who = clip
    options = AnalyzeOptions.from_dict({"detector": "tiny", "landmarks": "full"})
    tracker = FaceTracker(analyzer, options, TrackingOptions(reid_seconds=1.0))
    tracks = [tracker.update(f, k / FPS).faces[0].track for k, f in enumerate(frames)]
    assert tracks == [1] * SEGMENT + [2] * SEGMENT + [3] * SEGMENT + [4] * SEGMENT + [5] * SEGMENT + [6] * SEGMENT


def test_video_timelines_hold_one_person_each(shared_dir, clip, tmp_path, analyze_cli, av, models_dir):
    frames, who = clip
    video = tmp_path / "people.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, "rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out = tmp_path / "out.jsonl"
    rc, _, stderr = analyze_cli(["analyze", video, "--detector", "tiny", "--landmarks", "full", "--expressions",
                                 "--out", out,
                                 "--timeline", tmp_path / "tl", "--no-progress"])
    assert rc == 0, stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(r["faces"]) for r in records] == [1] * len(frames)
    tracks = [r["faces"][0]["track"] for r in records]
    assert ids_by_person(tracks, who) == {i: {i + 1} for i in range(len(PEOPLE))}, tracks
    for tid in range(1, len(PEOPLE) + 1):
        rows = list(csv.DictReader((tmp_path / "tl" / f"people.track{tid}.csv").open(newline="")))
        assert {who[int(row["frame"])] for row in rows} == {tid - 1}  # one person's frames only
        assert [int(row["frame"]) for row in rows] == [k for k, t in enumerate(tracks) if t == tid]
        assert all(set(EXPRESSION_LABELS) <= set(row) for row in rows)
