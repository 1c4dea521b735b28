"""Loading nets in the background, one load at a time, and waiting for it without polling.

A load request while a load runs joins it (its missing nets are appended to the running job) and shares
its completion: every waiter awaits the job's one `concurrent.futures.Future`, set by the loader thread
when the job ends. `GET /api/models` shows the job's progress (per-net status) meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from faceapi.errors import FaceApiError, ModelError
from faceapi.models import MODELS, check_model
from faceapi.models.store import ModelStatus
from faceapi.pipeline import FaceAnalyzer
from faceapi.server.errors import DOWNLOAD_COMMAND

log = logging.getLogger("faceapi.server")

JobState = Literal["idle", "loading", "done", "error"]
NetState = Literal["pending", "loading", "loaded", "error"]


@dataclass
class LoadJob:
    """One model load request (and the requests that joined it), as shown to clients. Mutated only under
    the loader's lock; `finished` is resolved once, when the job ends (done or error)."""

    nets: list[str] = field(default_factory=list)
    state: JobState = "idle"
    status: dict[str, NetState] = field(default_factory=dict)
    current: str | None = None
    error: str | None = None
    command: str | None = None
    started: float | None = None
    seconds: float | None = None
    finished: Future[None] = field(default_factory=Future, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"nets": list(self.nets), "state": self.state, "status": dict(self.status), "current": self.current,
                "error": self.error, "command": self.command, "seconds": self.seconds}


class ModelLoader:
    """Loads nets of one `FaceAnalyzer` in a single background thread, one job at a time."""

    def __init__(self, analyzer: FaceAnalyzer) -> None:
        self.analyzer = analyzer
        self._lock = threading.Lock()
        self._job = LoadJob()
        self._job.finished.set_result(None)  # the idle job has nothing to wait for
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceapi-load")

    def snapshot(self) -> dict[str, Any]:
        """The last (or current) job, as JSON."""
        with self._lock:
            return self._job.to_dict()

    def state_of(self, job: LoadJob) -> dict[str, Any]:
        with self._lock:
            return job.to_dict()

    def start(self, nets: Iterable[str]) -> LoadJob:
        """Load `nets` (in order); joins the running job when there is one. Returns the job at once."""
        wanted = list(dict.fromkeys(nets))
        with self._lock:
            job = self._job
            if job.state == "loading":
                for n in wanted:
                    if n not in job.status:
                        job.nets.append(n)
                        job.status[n] = "pending"
                return job
            loaded = set(self.analyzer.loaded)
            job = LoadJob(nets=wanted, state="loading", started=time.perf_counter(),
                          status={n: ("loaded" if n in loaded else "pending") for n in wanted})
            self._job = job
        self._thread.submit(self._work, job)
        return job

    async def wait(self, job: LoadJob) -> dict[str, Any]:
        """Wait until `job` ends (woken by the loader thread, no polling); its final state as JSON."""
        # shielded: a waiter that goes away (client disconnected) must not cancel the future others share
        await asyncio.shield(asyncio.wrap_future(job.finished))
        return self.state_of(job)

    def shutdown(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
        self._finish(self._job)  # a job cancelled before it ran must not leave its waiters hanging

    def _work(self, job: LoadJob) -> None:
        try:
            self._load_all(job)
        finally:
            self._finish(job)

    def _finish(self, job: LoadJob) -> None:
        with self._lock:
            if not job.finished.done():
                job.finished.set_result(None)

    def _load_all(self, job: LoadJob) -> None:
        assert job.started is not None
        i = 0
        while True:
            with self._lock:
                if i >= len(job.nets):  # nets appended by joining requests are in job.nets by now
                    job.state, job.current = "done", None
                    job.seconds = round(time.perf_counter() - job.started, 3)
                    return
                name = job.nets[i]
                job.current = name
                if job.status[name] != "loaded":
                    job.status[name] = "loading"
            try:
                self.analyzer.net(name)
            except Exception as exc:  # noqa: BLE001 - shown to the user, the server goes on
                with self._lock:
                    job.status[name] = "error"
                    job.state, job.current = "error", None
                    job.error = str(exc) if isinstance(exc, FaceApiError) else f"{name}: {exc}"
                    if isinstance(exc, ModelError):
                        job.command = DOWNLOAD_COMMAND
                    job.seconds = round(time.perf_counter() - job.started, 3)
                if not isinstance(exc, FaceApiError):
                    log.exception("loading %s failed", name)
                return
            with self._lock:
                job.status[name] = "loaded"
            i += 1


class VerifyCache:
    """SHA-256 checks of model files, redone only when a file's size or mtime changes."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], ModelStatus] = {}
        self._lock = threading.Lock()

    def check(self, name: str, folder: Path) -> ModelStatus:
        stamp: list[tuple[str, int | None, int | None]] = []
        for fname in MODELS[name].files:
            try:
                st = (folder / fname).stat()
                stamp.append((fname, st.st_size, st.st_mtime_ns))
            except OSError:
                stamp.append((fname, None, None))
        key = (name, str(folder), tuple(stamp))
        with self._lock:
            hit = self._cache.get(key)
        if hit is None:
            hit = check_model(name, folder)
            with self._lock:
                self._cache[key] = hit
        return hit
