"""The batch building blocks without models: input expansion, job planning (annotated paths), records
and their CSV rows, the tally and its summary, Ctrl-C between records, the progress bar."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import pytest

from faceapi.batch import (
    ErrorJob,
    ImageJob,
    InputItem,
    ProgressBar,
    SkipJob,
    StopBetweenRecords,
    Tally,
    VideoJob,
    csv_rows,
    error_record,
    expand_inputs,
    plan_jobs,
    skipped_record,
)


def test_expand_inputs(messy_folder, tmp_path):
    (tmp_path / "empty").mkdir()
    items = expand_inputs([messy_folder, tmp_path / "empty", tmp_path / "nope"])
    assert [(Path(i.path).name, i.kind) for i in items] == [
        ("angry.jpg", "image"), ("broken.jpg", "image"), ("happy.jpg", "image"), ("notes.txt", "skip"),
        ("clip.mp4", "video"), ("surprised.jpg", "image"), ("text.png", "image"), ("white.png", "image"),
        ("empty", "error"), ("nope", "error")]
    assert items[4].relative == Path("sub/clip.mp4")
    assert [i.reason for i in items[-2:]] == ["folder contains no files", "no such file or folder"]


def test_plan_jobs_types_and_annotated_paths(messy_folder, tmp_path):
    jobs = plan_jobs(expand_inputs([messy_folder, tmp_path / "nope"]), str(tmp_path / "ann"))
    assert [type(j).__name__ for j in jobs] == ["ImageJob", "ImageJob", "ImageJob", "SkipJob", "VideoJob", "ImageJob",
                                                "ImageJob", "ImageJob", "ErrorJob"]
    clip = jobs[4]
    assert isinstance(clip, VideoJob)
    assert clip.annotate_to == str(tmp_path / "ann" / "sub" / "clip.annotated.mp4") and clip.timeline_stem == "sub_clip"
    assert jobs[5] == ImageJob(str(messy_folder / "sub" / "surprised.jpg"),
                               str(tmp_path / "ann" / "sub" / "surprised.annotated.png"))
    assert jobs[3] == SkipJob(str(messy_folder / "notes.txt"), "not an image or video extension")
    assert jobs[8] == ErrorJob(str(tmp_path / "nope"), "no such file or folder")
    # one image and OUT named like an image: OUT itself; same names in one folder stay apart
    one = plan_jobs([InputItem("a/x.jpg", "image")], "out.jpg")
    assert one == [ImageJob("a/x.jpg", "out.jpg")]
    two = plan_jobs([InputItem("a/x.jpg", "image"), InputItem("b/x.png", "image")], "out")
    assert [j.annotate_to for j in two if isinstance(j, ImageJob)] == ["out/x.annotated.png", "out/x.annotated-2.png"]
    with pytest.raises(AttributeError):
        one[0].source = "y"  # type: ignore[misc]  # jobs are frozen values


def test_records_rows_and_tally():
    err = error_record("v.mp4", "v.mp4: decoding failed at frame 7 (Invalid data)", frame=7)
    assert list(err) == ["source", "status", "frame", "error"]
    skip = skipped_record("n.txt", "not an image or video extension")
    ok = {"source": "w.png", "status": "ok", "image": {"width": 1, "height": 1}, "faces": [], "timings_ms": {}}
    assert csv_rows(err)[0][:3] == ["v.mp4", "error", "7"] and csv_rows(err)[0][-1] == err["error"]
    assert csv_rows(skip)[0][-1] == "not an image or video extension"
    assert len(csv_rows(ok)) == 1 and csv_rows(ok)[0][:2] == ["w.png", "ok"] and set(csv_rows(ok)[0][2:]) == {""}
    tally = Tally()
    for record, kind in ((ok, "image"), (skip, "skip"), (err, "video")):
        tally.record(record)
        tally.input_done(kind, record["status"] != "error")
    assert (tally.images, tally.videos, tally.ok, tally.failed, tally.skipped, tally.faces) == (1, 1, 1, 1, 1, 0)
    assert tally.summary(1.0, "interrupted") == (
        "faceapi: interrupted; 1 image(s), 1 video(s) (0 frame(s) analysed), 0 face(s) found, 1 skipped (not an "
        "image or video extension): 1 ok, 1 failed in 1.0 s; failed: v.mp4")


def test_sigint_stops_between_records_and_twice_at_once():
    previous = signal.getsignal(signal.SIGINT)
    with StopBetweenRecords() as stop:
        os.kill(os.getpid(), signal.SIGINT)  # delivered to this (main) thread before kill returns
        assert stop.requested  # noted, not raised: the record being written is finished first
        with pytest.raises(KeyboardInterrupt):
            stop.check()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C: at once
    assert signal.getsignal(signal.SIGINT) is previous


def test_progress_bar():
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
