"""Read-ahead for a run of images: a background thread decodes the next images while the current one is
analysed, so reading and decoding overlap with inference (Pillow and numpy release the GIL while they
decode and convert).

Memory stays bounded: at most `max_items` decoded images wait in the queue, and no more than `max_bytes`
of pixels unless the queue is empty (one image, however large, is always allowed, or nothing could
advance). With the image being decoded and the one being analysed, a run holds at most ``max_items + 2``
decoded images. Decoding has no side effects, so images decoded ahead and never used (Ctrl-C, an error)
are simply dropped.

A failed decode is not reported from here: the image is handed on as failed and analysed from its path
as before, so its error record is exactly the one the analyzer gives (see `ImageJob.analyse`).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

#: How many decoded images may wait by default; 2 keeps the analysing thread fed without holding much.
DEFAULT_DEPTH = 2
#: Pixels (bytes) that may wait by default beyond a first image: four 12-megapixel photos.
DEFAULT_MAX_BYTES = 4 * 12_000_000 * 3


@dataclass(frozen=True)
class Decoded:
    """An image decoded ahead: its pixels (None when decoding failed) and the decode's wall time."""

    source: str
    image: np.ndarray | None
    decode_ms: float


class Prefetcher:
    """Decodes `sources` in order on one daemon thread; iterate to get them, in the same order.

    Use as a context manager (or call `close`): closing stops the thread, drops what it decoded ahead and
    waits for it (at most the decode of one image).
    """

    def __init__(self, sources: Sequence[str], decode: Callable[[str], np.ndarray], *,
                 max_items: int = DEFAULT_DEPTH, max_bytes: int = DEFAULT_MAX_BYTES):
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        self._sources = list(sources)
        self._decode = decode
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._queue: collections.deque[Decoded] = collections.deque()
        self._queued_bytes = 0
        self._cond = threading.Condition()
        self._closed = False
        self._done = False  # the thread has put every source (or was closed)
        #: the most images / bytes that ever waited in the queue at once (for tests and benchmarks)
        self.peak_items = 0
        self.peak_bytes = 0
        self._thread = threading.Thread(target=self._run, name="faceapi-prefetch", daemon=True)
        self._thread.start()

    def _fits(self, nbytes: int) -> bool:
        if not self._queue:
            return True
        return len(self._queue) < self._max_items and self._queued_bytes + nbytes <= self._max_bytes

    def _wait_for_room(self, nbytes: int) -> bool:
        """Wait (holding the lock) until an image of `nbytes` fits in the queue: True, or closed: False."""
        self._cond.wait_for(lambda: self._closed or self._fits(nbytes))
        return not self._closed

    def _run(self) -> None:
        try:
            for source in self._sources:
                with self._cond:
                    # room for at least a small image before decoding the next one
                    if not self._wait_for_room(0):
                        return
                t0 = time.perf_counter()
                try:
                    image: np.ndarray | None = self._decode(source)
                except Exception:  # reported by the analyzer itself, from the path (see the module docstring)
                    image = None
                item = Decoded(source, image, (time.perf_counter() - t0) * 1000)
                nbytes = image.nbytes if image is not None else 0
                with self._cond:
                    if not self._wait_for_room(nbytes):
                        return
                    self._queue.append(item)
                    self._queued_bytes += nbytes
                    self.peak_items = max(self.peak_items, len(self._queue))
                    self.peak_bytes = max(self.peak_bytes, self._queued_bytes)
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def __iter__(self) -> Iterator[Decoded]:
        for source in self._sources:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._done)
                if self._closed:
                    return
                if self._queue:
                    item = self._queue.popleft()
                    self._queued_bytes -= item.image.nbytes if item.image is not None else 0
                    self._cond.notify_all()
                else:  # the thread ended early (it should not): the image is analysed from its path
                    item = Decoded(source, None, 0.0)
            yield item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._queued_bytes = 0
            self._cond.notify_all()
        self._thread.join()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DEFAULT_DEPTH", "DEFAULT_MAX_BYTES", "Decoded", "Prefetcher"]
