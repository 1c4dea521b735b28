"""Decoding ahead (`faceapi.batch.prefetch`): the records and annotated copies are exactly those of a run
that decodes each image in turn, the queue stays within its bounds, and Ctrl-C still stops between records
with the read-ahead thread gone."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from faceapi.batch import JobContext, JobSettings, RecordWriter, Tally, plan_jobs, run_jobs
from faceapi.batch.inputs import expand_inputs
from faceapi.batch.prefetch import Prefetcher
from faceapi.image import load_image
from faceapi.options import AnalyzeOptions


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "faceapi-prefetch"]


@pytest.fixture(scope="module")
def analyzer(models_dir):
    from faceapi.engine.runtime import RuntimeConfig
    from faceapi.pipeline import FaceAnalyzer

    return FaceAnalyzer(models_dir, RuntimeConfig(threads=1))


@pytest.fixture
def photos_and_junk(tmp_path: Path, shared_dir: Path) -> Path:
    """Every shared photo, a truncated JPEG, a text file named .png, and a file with another extension."""
    root = tmp_path / "in"
    root.mkdir()
    for p in sorted((shared_dir / "images").iterdir()):
        if p.suffix.lower() in (".jpg", ".png"):
            shutil.copy(p, root / p.name)
    data = (shared_dir / "images" / "bbt1.jpg").read_bytes()
    (root / "broken.jpg").write_bytes(data[: len(data) // 4])
    (root / "text.png").write_text("not a picture\n")
    (root / "readme.txt").write_text("about the photos\n")
    return root


def _run(folder: Path, analyzer, prefetch: int, annotate_to: Path | None,
         settings: JobSettings) -> tuple[list[dict], Tally]:
    jobs = plan_jobs(expand_inputs([folder]), str(annotate_to) if annotate_to else None)
    out = io.StringIO()
    tally = Tally()
    run_jobs(jobs, JobContext(settings, lambda: analyzer), RecordWriter(out), tally, prefetch=prefetch)
    return [json.loads(line) for line in out.getvalue().splitlines()], tally


def test_records_with_prefetch_are_those_without(photos_and_junk, analyzer, tmp_path):
    settings = JobSettings(AnalyzeOptions(landmarks="full", expressions=True, age_gender=True, descriptors=True))
    before, tally_before = _run(photos_and_junk, analyzer, 0, tmp_path / "ann0", settings)
    after, tally_after = _run(photos_and_junk, analyzer, 2, tmp_path / "ann2", settings)
    assert _prefetch_threads() == []

    names = sorted(p.name for p in photos_and_junk.iterdir())
    assert [Path(r["source"]).name for r in after] == names  # input order
    assert sum(r["status"] == "ok" for r in after) == len(names) - 3
    errors = {Path(r["source"]).name: r["error"] for r in after if r["status"] == "error"}
    assert set(errors) == {"broken.jpg", "text.png"}
    assert "corrupt or truncated image" in errors["broken.jpg"]
    assert errors["text.png"].startswith(f"{photos_and_junk / 'text.png'}: not an image file that can be decoded")

    def without_timings(records: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("timings_ms", "annotated")} for r in records]

    assert without_timings(after) == without_timings(before)  # every number, every error message
    for a, b in zip(after, before):
        if "timings_ms" in a:  # the same stages timed; decode measured where it happened, within total
            assert a["timings_ms"].keys() == b["timings_ms"].keys()
            assert 0 < a["timings_ms"]["decode"] <= a["timings_ms"]["total"]
        if "annotated" in a:  # the annotated copies, drawn on the decoded-ahead pixels: the same bytes
            assert Path(a["annotated"]).read_bytes() == Path(b["annotated"]).read_bytes()
    assert sum("annotated" in r for r in after) == len(names) - 3
    assert vars(tally_after) == vars(tally_before)


def test_queue_is_bounded_by_count_and_bytes(shared_dir):
    sources = [str(p) for p in sorted((shared_dir / "images").glob("*.png"))]
    assert len(sources) > 10
    decoded = 0
    lock = threading.Lock()

    def decode(path: str) -> np.ndarray:
        nonlocal decoded
        image = load_image(path)
        with lock:
            decoded += 1
        return image

    def decoded_count() -> int:
        with lock:
            return decoded

    ahead = Prefetcher(sources, decode, max_items=3)
    with ahead:
        seen = []
        for taken, item in enumerate(ahead, 1):
            # let the reader fill the queue (as a slow analysis would), then check it stopped at the bound
            deadline = time.monotonic() + 30
            while decoded_count() < min(taken + 3, len(sources)) and time.monotonic() < deadline:
                time.sleep(0.005)
            assert decoded_count() >= min(taken + 3, len(sources)), "the reader did not read ahead"
            assert decoded_count() <= taken + 3 + 1  # queue (3) + the one being decoded
            seen.append(item.source)
            assert item.image is not None and item.image.shape[2] == 3
    assert seen == sources
    assert ahead.peak_items == 3
    assert ahead.peak_bytes <= 3 * max(load_image(s).nbytes for s in sources)

    # a byte budget smaller than one image: one waits at a time, however many the count would allow
    small = Prefetcher(sources, load_image, max_items=5, max_bytes=1000)
    with small:
        assert [item.source for item in small] == sources
    assert small.peak_items == 1


def test_close_stops_the_reader_and_failed_decodes_are_handed_on(shared_dir):
    sources = [str(p) for p in sorted((shared_dir / "images").glob("*.png"))]
    with Prefetcher(sources, load_image, max_items=2) as ahead:
        first = next(iter(ahead))
        assert first.source == sources[0]
    assert _prefetch_threads() == []  # closed with images still to read: the thread is gone

    def failing(path: str) -> np.ndarray:
        raise OSError("disk on fire")

    with Prefetcher(sources[:3], failing) as broken:
        items = list(broken)
    assert [(i.source, i.image) for i in items] == [(s, None) for s in sources[:3]]  # analysed from the path


def test_sigint_stops_between_records_with_prefetch(tmp_path, shared_dir, analyzer):
    """The first Ctrl-C stops the run after the record being written; records so far are complete and in
    order, the tally agrees with them, and the read-ahead thread (which had decoded further) is gone."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(12):
        shutil.copy(shared_dir / "images" / "happy.jpg", folder / f"img{i:02d}.jpg")
    jobs = plan_jobs(expand_inputs([folder]), str(tmp_path / "ann"))

    class InterruptAfter(RecordWriter):
        def __init__(self, after: int):
            self.stream = io.StringIO()
            super().__init__(self.stream)
            self.after = after
            self.count = 0

        def write(self, record: dict) -> None:
            super().write(record)
            self.count += 1
            if self.count == self.after:
                os.kill(os.getpid(), signal.SIGINT)  # delivered to this (main) thread before kill returns

    writer = InterruptAfter(3)
    tally = Tally()
    settings = JobSettings(AnalyzeOptions.from_dict({"detector": "tiny", "expressions": True}))
    with pytest.raises(KeyboardInterrupt):
        run_jobs(jobs, JobContext(settings, lambda: analyzer), writer, tally, prefetch=2)
    records = [json.loads(line) for line in writer.stream.getvalue().splitlines()]
    assert [r["source"] for r in records] == [str(folder / f"img{i:02d}.jpg") for i in range(3)]
    assert all(r["status"] == "ok" and len(r["faces"]) == 1 for r in records)
    assert (tally.images, tally.ok, tally.faces) == (3, 3, 3)
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == [f"img{i:02d}.annotated.png" for i in range(3)]
    assert _prefetch_threads() == []
