"""The one loop of a batch run: run each job, write each of its records, count them.

Ctrl-C (SIGINT) is honoured *between records*: the first one asks the run to stop after the record being
produced is written (and its job's side outputs, which are written before the record is handed over); a
second one stops at once. So an interrupted run's outputs agree with each other: the JSON lines, the CSV,
the annotated copies and video, and the timelines cover the same images and frames.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import signal
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from types import FrameType, TracebackType

from faceapi.batch.jobs import ImageJob, Job, JobContext
from faceapi.batch.pool import ImagePool
from faceapi.batch.prefetch import DEFAULT_DEPTH, Prefetcher
from faceapi.batch.progress import ProgressBar
from faceapi.batch.records import Record
from faceapi.batch.writers import RecordWriter
from faceapi.image import load_image


@dataclass
class Tally:
    """What a run did, counted from its records."""

    images: int = 0
    videos: int = 0
    frames: int = 0
    faces: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    failed_sources: list[str] = field(default_factory=list)

    def record(self, record: Record) -> None:
        status = record.get("status")
        if status == "error":
            self.failed += 1
            self.failed_sources.append(str(record.get("source", "?")))
        elif status == "skipped":
            self.skipped += 1
        else:
            self.faces += len(record.get("faces", ()))
            if "frame" in record:
                self.frames += 1

    def input_done(self, kind: str, ok: bool) -> None:
        """One input done (or cut short); `ok`: all of it analysed, none of its records an error."""
        if kind == "image":
            self.images += 1
        elif kind == "video":
            self.videos += 1
        if ok and kind in ("image", "video"):
            self.ok += 1

    def summary(self, seconds: float, stopped: str | None = None) -> str:
        """The line `faceapi analyze` prints on stderr at the end."""
        parts = [f"{self.images} image(s)", f"{self.videos} video(s) ({self.frames} frame(s) analysed)",
                 f"{self.faces} face(s) found"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (not an image or video extension)")
        text = (f"faceapi: {stopped + '; ' if stopped else ''}{', '.join(parts)}: {self.ok} ok, "
                f"{self.failed} failed in {seconds:.1f} s")
        if self.failed_sources:
            shown = ", ".join(self.failed_sources[:5])
            more = len(self.failed_sources) - 5
            text += f"; failed: {shown}" + (f" and {more} more" if more > 0 else "")
        return text


class StopBetweenRecords:
    """A context in which SIGINT sets a flag that `check` turns into KeyboardInterrupt (a second SIGINT
    raises at once). Outside the main thread, where signal handlers cannot be set, it does nothing."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: signal.Handlers | int | None | object = None
        self._installed = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopBetweenRecords:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
            self._installed = False


#: each job with its records, in the run's order: what the one loop below consumes (`_scheduled` makes it
#: locally; `faceapi.batch.ray_runner` from a Ray cluster's results)
Scheduled = Generator[tuple[Job, Generator[Record, None, None]], None, None]


def _one(record: Record) -> Generator[Record, None, None]:
    yield record


def _scheduled(jobs: Sequence[Job], ctx: JobContext, pool: ImagePool | None, prefetch: int) -> Scheduled:
    """Each job with its records, in order. Runs of consecutive images go through the pool when there is one
    (their annotated copies are written here, in this process, just before their records); without a pool,
    a run of two or more images is decoded ahead by a `Prefetcher` holding up to `prefetch` images."""
    for images_run, group in itertools.groupby(jobs, key=lambda j: isinstance(j, ImageJob)):
        run = list(group)
        images = [j for j in run if isinstance(j, ImageJob)]
        if pool is not None and images_run:
            for image, outcome in zip(images, pool.analyse(images)):
                yield image, _one(image.commit(outcome))
        elif images_run and prefetch > 0 and len(images) > 1:
            decode = functools.partial(load_image, max_pixels=ctx.analyzer.max_pixels)
            with Prefetcher([j.source for j in images], decode, max_items=prefetch) as ahead:
                for image, decoded in zip(images, ahead):
                    yield image, image.records(ctx, decoded)
        else:
            for job in run:
                yield job, job.records(ctx)


def run_jobs(jobs: Sequence[Job], ctx: JobContext, writer: RecordWriter, tally: Tally, *,
             pool: ImagePool | None = None, progress: ProgressBar | None = None,
             prefetch: int = DEFAULT_DEPTH) -> None:
    """Run `jobs` in order, writing every record and counting it in `tally` (which stays valid when this
    raises). Missing model weights (ModelError) stop the run; KeyboardInterrupt is raised between records
    (see the module docstring). `prefetch`: without a pool, decode up to this many images ahead while one
    is analysed (0: decode each when its turn comes); records are the same either way."""
    write_scheduled(_scheduled(jobs, ctx, pool, prefetch), writer, tally, progress=progress)


def write_scheduled(scheduled: Scheduled, writer: RecordWriter | None, tally: Tally, *,
                    progress: ProgressBar | None = None) -> None:
    """The one loop: write (unless `writer` is None: the records went elsewhere) and count every record of
    every scheduled job, advance the progress bar per job, stop between records on Ctrl-C."""
    with StopBetweenRecords() as stop, contextlib.closing(scheduled):
        for job, records in scheduled:
            failed_before = tally.failed
            written = 0
            try:
                with contextlib.closing(records):  # an interrupted job finishes its side outputs now
                    for record in records:
                        if writer is not None:
                            writer.write(record)
                        tally.record(record)
                        written += 1
                        stop.check()
            except KeyboardInterrupt:
                if written:  # started: counted; done only if its one record is out (a video cut short is not)
                    tally.input_done(job.kind, job.single and tally.failed == failed_before)
                raise
            tally.input_done(job.kind, tally.failed == failed_before)
            if progress is not None:
                progress.advance()
            stop.check()


__all__ = ["Scheduled", "StopBetweenRecords", "Tally", "run_jobs", "write_scheduled"]
