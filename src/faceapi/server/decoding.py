"""Untrusted uploads are decoded in worker processes that are killed past a CPU budget.

A decoder's cost is bounded by `faceapi.image.check_structure` (scans, frames, profiles) and the pixel limit;
what is left (a 40-megapixel progressive JPEG with 64 scans: 0.8 s of CPU in 4:2:0, 1.1 s in 4:4:4) must
still never hold the inference threads, and a decode the client no longer waits for must stop. So
`DecodePool` keeps a few worker processes, started once with the server (`multiprocessing`'s forkserver: a
fresh interpreter with the decoding module imported, forked for each worker; no copy of the server's
threads, sockets or onnxruntime sessions).
Each decode:

- is checked structurally on the event loop first (a fraction of a millisecond), so a file the limits refuse
  never occupies a worker;
- runs in a worker under ``ITIMER_PROF`` (the worker's CPU time): past `DECODE_CPU_BUDGET_S` the kernel
  ends the worker with SIGPROF and the upload is refused (400) naming the budget; past `DECODE_WALL_S` of
  wall time (a worker starved of CPU) it is killed the same way;
- is abandoned when its caller is cancelled (the client went away, `run_for_client`): the worker is killed
  at once and replaced.

A killed worker is replaced by a fresh fork (about 20 ms of CPU). The pixels come back unframed through
the worker's socket, straight into the array (`recv_into`). What a decode costs in a worker beyond decoding
in place (docs/speed.md, "Decoding"): about 1.4 ms of CPU for a 640x480 JPEG (4.0 ms in all against 2.65 ms
in place) and 70 ms for a 12-megapixel one, mostly the copy of its 36 MB of pixels.

Like everything built on `multiprocessing`, a program that starts the server from a script of its own needs
the ``if __name__ == "__main__":`` guard: the forkserver imports the main module (once, for all workers).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

import numpy as np
from starlette.requests import Request

from faceapi.errors import ImageError
from faceapi.image import check_structure, describe, load_image
from faceapi.results import FrameResult
from faceapi.server.errors import ClientGone

log = logging.getLogger("faceapi.server")

T = TypeVar("T")

#: CPU seconds one decode may take before its worker is killed (the worst image the limits let through, 40
#: megapixels progressive with 64 scans, takes 0.8-1.1 s).
DECODE_CPU_BUDGET_S = 2.0
#: Wall seconds one decode may take (CPU starved by other work) before its worker is killed.
DECODE_WALL_S = 20.0
#: Worker processes: decodes in parallel. Small: each holds at most one image's pixels.
DECODE_WORKERS = 2


@dataclass(frozen=True)
class Decoded:
    """Pixels decoded by a worker (``H x W x 3`` RGB uint8, as `load_image`) and the wall time it took (ms,
    from handing over the bytes to having the pixels, transfer included)."""

    pixels: np.ndarray
    ms: float


def with_decode_time(result: FrameResult, decode_ms: float) -> FrameResult:
    """A result of the analyzer run on decoded pixels, with the worker's decode time as its "decode" timing
    (and in its "total"), as if it had decoded the bytes itself."""
    t = result.timings_ms
    timings = {**t, "decode": decode_ms, "total": t.get("total", 0.0) - t.get("decode", 0.0) + decode_ms}
    return replace(result, timings_ms=timings)


def _serve(conn: Connection, cpu_budget_s: float) -> None:
    """A worker's loop: max_pixels then the bytes -> ("ok", shape) then the pixels, or ("error", message).
    The profiling timer counts this process's CPU time; its SIGPROF (no handler) ends the process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal is the server's to handle
    raw = socket.socket(fileno=os.dup(conn.fileno()))  # the same socket, for the pixels without framing
    while True:
        try:
            max_pixels = conn.recv()
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the server went away
        signal.setitimer(signal.ITIMER_PROF, cpu_budget_s)
        try:
            pixels = load_image(data, max_pixels)
        except ImageError as exc:
            signal.setitimer(signal.ITIMER_PROF, 0)
            conn.send(("error", str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - reported to the server, which logs it
            signal.setitimer(signal.ITIMER_PROF, 0)
            conn.send(("crash", f"{type(exc).__name__}: {exc}"))
            continue
        signal.setitimer(signal.ITIMER_PROF, 0)
        conn.send(("ok", pixels.shape))
        raw.sendall(np.ascontiguousarray(pixels).reshape(-1).data)  # straight after the header, unframed


class _Worker:
    """One worker process and the server's end of its pipe."""

    def __init__(self, ctx: Any, cpu_budget_s: float) -> None:
        self.conn, child = multiprocessing.Pipe(duplex=True)  # a socketpair
        self.raw = socket.socket(fileno=os.dup(self.conn.fileno()))  # pixels are read from it into the array
        self.process: BaseProcess = ctx.Process(target=_serve, args=(child, cpu_budget_s), daemon=True,
                                                name="faceapi-decode")
        self.process.start()
        child.close()
        self.killed = False  # by the server (cancelled or over the wall time), not by its own CPU timer

    def kill(self) -> None:
        self.killed = True
        self.process.kill()  # SIGKILL; nothing if it has ended already

    @property
    def alive(self) -> bool:
        return not self.killed and self.process.is_alive()

    def close(self) -> None:
        self.kill()
        self.process.join(1)
        self.conn.close()
        self.raw.close()

    def decode(self, data: bytes, max_pixels: int, label: str, cpu_budget_s: float, wall_s: float) -> np.ndarray:
        """Blocking: the pixels, or ImageError. Runs in one of the pool's threads."""
        try:
            self.conn.send(max_pixels)
            self.conn.send_bytes(data)
            if not self.conn.poll(wall_s):
                self.kill()
                raise ImageError(f"{label}: decoding took over {wall_s:.0f} s; abandoned")
            status, value = self.conn.recv()
            if status == "ok":
                shape = tuple(value)
                pixels = np.empty(shape, dtype=np.uint8)  # filled by the kernel's copy, no Python-level copy
                view, got = pixels.reshape(-1).data, 0
                while got < pixels.size:
                    n = self.raw.recv_into(view[got:])
                    if n == 0:
                        raise EOFError
                    got += n
                return pixels
        except (EOFError, OSError):
            self.process.join(1)
            if self.killed:
                raise ImageError(f"{label}: decoding abandoned") from None
            if self.process.exitcode == -signal.SIGPROF:
                raise ImageError(f"{label}: decoding took over {cpu_budget_s:g} s of CPU; at most "
                                 f"{cpu_budget_s:g} s accepted") from None
            raise ImageError(f"{label}: the decoder failed (exit code {self.process.exitcode})") from None
        if status == "crash":
            log.error("decode worker: %s", value)
            raise ImageError(f"{label}: cannot decode image (decoder error)")
        raise ImageError(value)


class DecodePool:
    """A few decode worker processes (see the module's docstring); `decode` from the event loop."""

    def __init__(self, workers: int = DECODE_WORKERS, cpu_budget_s: float = DECODE_CPU_BUDGET_S,
                 wall_s: float = DECODE_WALL_S) -> None:
        if workers < 1:
            raise ValueError(f"decode workers must be >= 1, got {workers}")
        if cpu_budget_s <= 0 or wall_s <= 0:
            raise ValueError("decode budgets must be positive")
        self.workers, self.cpu_budget_s, self.wall_s = workers, cpu_budget_s, wall_s
        self.replaced = 0  # workers killed (over budget, abandoned) and replaced: shown to tests and logs
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._free: asyncio.Semaphore | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._mp: Any = None

    def start(self) -> None:
        """Start the workers (idempotent; `decode` starts them when the server's startup did not)."""
        with self._lock:
            if self._threads is not None:
                return
            self._mp = multiprocessing.get_context("forkserver")
            # the server's main module too: else every fork would import it again (a console script's does)
            self._mp.set_forkserver_preload(["__main__", "faceapi.server.decoding"])
            self._all = [_Worker(self._mp, self.cpu_budget_s) for _ in range(self.workers)]
            self._idle = list(self._all)
            self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="faceapi-decode")

    def pids(self) -> list[int]:
        """The worker processes' ids (for tests and monitoring)."""
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None]

    def _replace(self, worker: _Worker) -> _Worker:
        worker.close()
        fresh = _Worker(self._mp, self.cpu_budget_s)
        with self._lock:
            self._all = [fresh if w is worker else w for w in self._all]
            self.replaced += 1
        return fresh

    def _run(self, worker: _Worker, data: bytes, max_pixels: int, label: str,
             done: Callable[[_Worker], None]) -> np.ndarray:
        """In a pool thread: the worker's decode; a dead worker is replaced before it goes back."""
        try:
            return worker.decode(data, max_pixels, label, self.cpu_budget_s, self.wall_s)
        finally:
            if not worker.alive:
                try:
                    worker = self._replace(worker)
                except Exception:  # noqa: BLE001 - the slot stays (dead): its next decode fails and retries
                    log.exception("a decode worker could not be replaced")
            done(worker)

    async def decode(self, data: bytes, max_pixels: int) -> Decoded:
        """The pixels of an encoded image (as `load_image`), decoded in a worker; ImageError as `load_image`
        (with the same messages), or for a decode over the budgets. Cancelling the caller kills the worker."""
        t0 = time.perf_counter()
        label = describe(data)
        if not data:
            raise ImageError(f"{label}: no bytes (empty input)")
        check_structure(data, label)  # refused here, a bad file never takes a worker
        self.start()
        loop = asyncio.get_running_loop()
        if self._free is None:
            self._free = asyncio.Semaphore(self.workers)
        assert self._threads is not None
        await self._free.acquire()
        with self._lock:
            worker = self._idle.pop()

        def done(w: _Worker) -> None:  # from the pool thread: the worker (or its replacement) is free again
            with self._lock:
                self._idle.append(w)
            loop.call_soon_threadsafe(self._release)

        future = self._threads.submit(self._run, worker, data, max_pixels, label, done)
        try:
            pixels = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if future.cancel():  # not started: the worker never left
                done(worker)
            else:
                worker.kill()  # the pool thread sees the pipe close, replaces the worker and frees it
            raise
        return Decoded(pixels, (time.perf_counter() - t0) * 1000)

    def _release(self) -> None:
        if self._free is not None:
            self._free.release()

    def close(self) -> None:
        with self._lock:
            workers, self._all, self._idle = self._all, [], []
            threads, self._threads = self._threads, None
        for w in workers:
            w.close()
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)


async def run_for_client(request: Request, work: Awaitable[T]) -> T:
    """`work`, abandoned (cancelled: a decode's worker killed, inference not yet started dropped) when the
    client disconnects first; then ClientGone. The body must have been read (the next message the server
    can receive is the client's disconnect)."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        gone.cancel()
    if not task.done():
        task.cancel()
        raise ClientGone("the client closed the connection; its work was abandoned")
    return task.result()


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
