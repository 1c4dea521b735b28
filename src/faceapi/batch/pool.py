"""The local worker pool: images analysed by N processes on this machine, results in input order.

Processes are *spawned*, not forked (onnxruntime's thread pools do not survive a fork), so each worker is
a fresh interpreter. Its initializer builds the worker's `FaceAnalyzer` once and keeps it, with the run's
`JobSettings`, in the module global `_worker`: the one piece of module state here, set only inside worker
processes (a pool's tasks are plain functions, so per-process state has to live at module level). Workers
ignore SIGINT: the parent decides when to stop and terminates them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faceapi.batch.jobs import ImageJob, ImageOutcome, JobSettings
from faceapi.engine.runtime import Precision
from faceapi.image import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from faceapi.matching import FaceMatcher
    from faceapi.pipeline import FaceAnalyzer


@dataclass(frozen=True)
class _Worker:
    analyzer: FaceAnalyzer
    settings: JobSettings


_worker: _Worker | None = None  # set by _init_worker in each worker process, never in the parent


def _init_worker(settings: JobSettings, models_dir: str | os.PathLike[str] | None, threads: int | None,
                 precision: Precision, max_pixels: int, matcher: FaceMatcher | None) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates the pool
    from faceapi.engine.runtime import RuntimeConfig
    from faceapi.pipeline import FaceAnalyzer

    analyzer = FaceAnalyzer(models_dir, RuntimeConfig(threads=threads, precision=precision), max_pixels=max_pixels,
                            matcher=matcher)
    _worker = _Worker(analyzer, settings)


def _analyse(job: ImageJob) -> ImageOutcome:
    if _worker is None:  # pragma: no cover - only reachable by calling it outside a pool worker
        raise RuntimeError("_analyse runs in pool workers only")
    return job.analyse(_worker.analyzer, _worker.settings)


class ImagePool:
    """`workers` spawned processes, each with its own FaceAnalyzer; onnxruntime threads are shared out
    (``cpu_count // workers`` each unless `threads` says otherwise)."""

    def __init__(self, workers: int, settings: JobSettings, *, models_dir: str | os.PathLike[str] | None = None,
                 threads: int | None = None, precision: Precision = "float", max_pixels: int = DEFAULT_MAX_PIXELS,
                 matcher: FaceMatcher | None = None):
        if threads is None:
            threads = max(1, (os.cpu_count() or 1) // workers)
        ctx = multiprocessing.get_context("spawn")
        self._pool = ctx.Pool(workers, initializer=_init_worker,
                              initargs=(settings, models_dir, threads, precision, max_pixels, matcher))

    def analyse(self, jobs: Iterable[ImageJob]) -> Iterator[ImageOutcome]:
        """The jobs' outcomes, in order (the annotated copies are not written: see `ImageJob.commit`)."""
        return self._pool.imap(_analyse, jobs, chunksize=1)

    def close(self, wait: bool = True) -> None:
        """Let the workers finish (`wait`) or stop them now."""
        if wait:
            self._pool.close()
        else:
            self._pool.terminate()
        self._pool.join()


__all__ = ["ImagePool"]
