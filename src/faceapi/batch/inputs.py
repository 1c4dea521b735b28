"""Collections of inputs for `faceapi analyze`: expanding paths into images and videos, analysing images
in worker processes (each with its own `FaceAnalyzer`), writing JSON lines and CSV, and a progress bar.

Every output line is written whole and flushed, so an interrupted run leaves valid JSONL/CSV files.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from faceapi.draw import annotate
from faceapi.errors import FaceApiError, ModelError
from faceapi.options import AnalyzeOptions
from faceapi.results import EXPRESSION_LABELS
from faceapi.video import VIDEO_SUFFIXES

if TYPE_CHECKING:
    from faceapi.matching import FaceMatcher
    from faceapi.pipeline import FaceAnalyzer

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


# -- inputs -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputItem:
    """One thing to analyse. `kind`: "image", "video", "auto" (a named file of unknown type: tried as an
    image, then as a video), "skip" (a file in a folder without an image/video extension) or "error"."""

    path: str
    kind: str
    reason: str | None = None
    root: str | None = None  # the folder argument it was found under, if any

    @property
    def relative(self) -> Path:
        """The path relative to the folder it was found in (just the name for a named file)."""
        if self.root is None:
            return Path(Path(self.path).name)
        return Path(self.path).relative_to(self.root)


def kind_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def expand_inputs(paths: Iterable[str | os.PathLike]) -> list[InputItem]:
    """Files as given; folders recursively (sorted), keeping images and videos by extension.

    Nothing is dropped silently: a missing path becomes an "error" item, a folder's file with another
    extension a "skip" item (reported, not counted as a failure).
    """
    items: list[InputItem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted((f for f in p.rglob("*") if f.is_file()), key=lambda f: f.as_posix())
            for f in found:
                kind = kind_of(f)
                if kind is None:
                    items.append(InputItem(str(f), "skip", "not an image or video extension", str(p)))
                else:
                    items.append(InputItem(str(f), kind, root=str(p)))
        elif p.is_file():
            items.append(InputItem(str(p), kind_of(p) or "auto"))
        elif p.exists():
            items.append(InputItem(str(p), "error", "not a regular file or folder"))
        else:
            items.append(InputItem(str(p), "error", "no such file or folder"))
    return items


# -- one image --------------------------------------------------------------------------------------------
def analyze_image(analyzer: FaceAnalyzer, path: str, options: AnalyzeOptions, annotate_to: str | None = None,
                  descriptors: bool = True) -> dict:
    """The JSON record of one image file; errors (other than missing weights) become an error record."""
    try:
        result = analyzer.analyze(path, options)
        record = {"source": path, "status": "ok", **result.to_dict(descriptors=descriptors)}
        if annotate_to:
            target = Path(annotate_to)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.part")
            annotate(path, result).save(tmp, format=_pil_format(target))
            os.replace(tmp, target)
            record["annotated"] = str(target)
        return record
    except ModelError:
        raise
    except FaceApiError as exc:
        return {"source": path, "status": "error", "error": str(exc)}
    except Exception as exc:  # a file that breaks a decoder must not stop the run
        return {"source": path, "status": "error", "error": f"{path}: {type(exc).__name__}: {exc}"}


def _pil_format(target: Path) -> str:
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
            ".tiff": "TIFF"}.get(target.suffix.lower(), "PNG")


# -- worker pool ------------------------------------------------------------------------------------------
_worker: dict[str, Any] = {}


def _init_worker(models_dir: str | os.PathLike | None, threads: int | None, max_pixels: int,
                 matcher: FaceMatcher | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates the pool
    from faceapi.engine.runtime import RuntimeConfig
    from faceapi.pipeline import FaceAnalyzer

    _worker["analyzer"] = FaceAnalyzer(models_dir, RuntimeConfig(threads=threads), max_pixels=max_pixels,
                                       matcher=matcher)


def _work(task: tuple) -> dict:
    path, options, annotate_to, descriptors = task
    return analyze_image(_worker["analyzer"], path, options, annotate_to, descriptors)


class ImagePool:
    """Images analysed by `workers` processes (spawned, each with its own FaceAnalyzer), results in order."""

    def __init__(self, workers: int, models_dir: str | os.PathLike | None, threads: int | None, max_pixels: int,
                 matcher: FaceMatcher | None = None):
        if threads is None:
            threads = max(1, (os.cpu_count() or 1) // workers)
        ctx = multiprocessing.get_context("spawn")
        self._pool = ctx.Pool(workers, initializer=_init_worker, initargs=(models_dir, threads, max_pixels, matcher))

    def map(self, tasks: Iterable[tuple]) -> Iterator[dict]:
        return self._pool.imap(_work, tasks, chunksize=1)

    def close(self, wait: bool = True) -> None:
        if wait:
            self._pool.close()
        else:
            self._pool.terminate()
        self._pool.join()


# -- outputs ----------------------------------------------------------------------------------------------
CSV_COLUMNS = ["source", "status", "frame", "time", "face", "track", "x", "y", "width", "height", "score",
               "dominant", *EXPRESSION_LABELS, "age", "gender", "gender_probability", "person", "distance", "error"]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    return repr(v) if isinstance(v, float) else str(v)


def csv_rows(record: dict) -> list[list[str]]:
    """CSV rows of one record: one per face of an ok record, one (with the reason) per error or skip."""
    base = {"source": record.get("source"), "status": record.get("status"), "frame": record.get("frame"),
            "time": record.get("time")}
    if record.get("status") != "ok":
        row = dict(base, error=record.get("error") or record.get("reason"))
        return [[_cell(row.get(c)) for c in CSV_COLUMNS]]
    rows = []
    for i, f in enumerate(record.get("faces", [])):
        row = dict(base, face=i, track=f.get("track"), score=f.get("score"), age=f.get("age"),
                   gender=f.get("gender"), gender_probability=f.get("gender_probability"), **f["box"])
        if f.get("match"):
            row.update(person=f["match"]["label"], distance=f["match"]["distance"])
        expr = f.get("expressions")
        if expr:
            row["dominant"] = expr["dominant"]
            row.update(expr["probabilities"])
        rows.append([_cell(row.get(c)) for c in CSV_COLUMNS])
    return rows


class RecordWriter:
    """JSON lines (a stream or a file) and/or CSV; every record is written as whole lines and flushed."""

    def __init__(self, jsonl: IO[str] | None = None, csv_file: IO[str] | None = None):
        self.jsonl = jsonl
        self.csv_file = csv_file
        if csv_file is not None:
            self._write_csv_row(CSV_COLUMNS)

    @classmethod
    def open(cls, out: str | None, csv_path: str | None) -> RecordWriter:
        jsonl = None
        if out == "-" or (out is None and csv_path is None):
            jsonl = sys.stdout
        elif out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            jsonl = open(out, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()
        csv_file = None
        if csv_path:
            Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
            csv_file = open(csv_path, "w", encoding="utf-8", newline="", buffering=1)  # noqa: SIM115
        return cls(jsonl, csv_file)

    def _write_csv_row(self, row: list[str]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(row)
        self.csv_file.write(buf.getvalue())  # one write call per line: a row is never half written

    def write(self, record: dict) -> None:
        if self.jsonl is not None:
            self.jsonl.write(json.dumps(record) + "\n")
            self.jsonl.flush()
        if self.csv_file is not None:
            for row in csv_rows(record):
                self._write_csv_row(row)
            self.csv_file.flush()

    def close(self) -> None:
        for f in (self.jsonl, self.csv_file):
            if f is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                f.flush()
            if f is not sys.stdout:
                f.close()


# -- progress ---------------------------------------------------------------------------------------------
def _hms(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """A one-line progress bar on a terminal: inputs done, rate and ETA, plus the current video's frames.

    Does nothing when `enabled` is False (by default: when the stream is not a terminal).
    """

    def __init__(self, total: int, stream: IO[str] | None = None, enabled: bool | None = None,
                 min_interval: float = 0.1):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = total
        self.done = 0
        self.start = time.perf_counter()
        self.min_interval = min_interval
        self._last = 0.0
        self._video: tuple[str, int, int, float] | None = None  # name, frames done, frames total, start
        self._width = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._video = None
        self.draw(force=self.done >= self.total)

    def video_frame(self, name: str, done: int, total: int) -> None:
        start = self._video[3] if self._video and self._video[0] == name else time.perf_counter()
        self._video = (name, done, total, start)
        self.draw()

    def text(self) -> str:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        frac = self.done / self.total if self.total else 1.0
        filled = int(frac * 20)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else None
        parts = [f"[{'#' * filled}{'.' * (20 - filled)}] {self.done}/{self.total} inputs",
                 f"{rate:.1f}/s", f"ETA {_hms(eta) if eta is not None else '?'}"]
        if self._video:
            name, done, total, start = self._video
            fps = done / max(time.perf_counter() - start, 1e-9)
            left = f" ETA {_hms((total - done) / fps)}" if total >= done and fps > 0 else ""
            parts.append(f"{name}: frame {done}/{total or '?'} {fps:.1f} fps{left}")
        return "  ".join(parts)

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        line = self.text()
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
