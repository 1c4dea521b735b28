"""Typed jobs: what `faceapi analyze` does with each input, as small frozen values that yield records.

* `ImageJob`: analyse one image (in this process or a worker), write its annotated copy, one record.
* `VideoJob`: analyse a video's frames with face tracks; one record per analysed frame (and an error
  record if decoding fails part-way), an annotated copy and expression timelines.
* `SkipJob`: a folder's file with another extension; one "skipped" record.
* `ErrorJob`: an input that cannot be analysed at all (missing, empty folder); one error record.

`plan_jobs` turns expanded inputs into jobs (deciding the annotated copies' paths); the one loop that
runs them, writes their records and counts them is `faceapi.batch.runner.run_jobs`.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from faceapi.batch.inputs import IMAGE_SUFFIXES, InputItem
from faceapi.batch.prefetch import Decoded
from faceapi.batch.records import Record, error_record, frame_record, image_record, skipped_record
from faceapi.draw import annotate
from faceapi.errors import FaceApiError, ModelError, OptionsError, VideoError
from faceapi.fileio import atomic_write_bytes
from faceapi.options import AnalyzeOptions, TrackingOptions
from faceapi.video.decode import VIDEO_SUFFIXES, is_video, probe

if TYPE_CHECKING:
    from faceapi.pipeline import FaceAnalyzer
    from faceapi.tracking import FaceTracker


@dataclass(frozen=True)
class JobSettings:
    """How a run analyses its inputs; the same in every worker process (it is pickled to them).

    Attributes:
        options: what to compute for each image or frame.
        descriptors: keep the faces' descriptors in the records.
        every, smooth, iou, reid_seconds, reid_distance: videos: analyse every N-th frame; the tracker's
            expression smoothing (exponential, over about `smooth` frames: weight 2 / (smooth + 1) for a new
            one), IoU threshold and re-identification limits (see `faceapi.tracking.FaceTracker`).
        timeline_dir: videos: write per-track expression timelines there.
    """

    options: AnalyzeOptions
    descriptors: bool = True
    every: int = 1
    smooth: int = 5
    iou: float = 0.3
    reid_seconds: float = 2.0
    reid_distance: float = 0.6
    timeline_dir: str | None = None

    def __post_init__(self) -> None:
        if self.every < 1:
            raise OptionsError(f"every must be >= 1, got {self.every}")
        if self.smooth < 1:
            raise OptionsError(f"smooth must be >= 1, got {self.smooth}")
        if not 0 < self.iou <= 1:
            raise OptionsError(f"iou must be in (0, 1], got {self.iou}")

    def tracking(self) -> TrackingOptions:
        """The video tracker's options from these settings (the rest: `TrackingOptions`'s defaults)."""
        return TrackingOptions(expression_alpha=2 / (self.smooth + 1), iou_threshold=self.iou,
                               reid_seconds=self.reid_seconds, reid_distance=self.reid_distance)

    def tracker(self, analyzer: FaceAnalyzer) -> FaceTracker:
        """A new tracker for one video."""
        from faceapi.tracking import FaceTracker

        return FaceTracker(analyzer, self.options, self.tracking())


class JobContext:
    """What jobs run with in this process: the settings, the analyzer (made on first use, so that a run of
    skipped or missing files loads no model) and a progress callback for video frames."""

    def __init__(self, settings: JobSettings, make_analyzer: Callable[[], FaceAnalyzer],
                 on_video_frame: Callable[[str, int, int], None] | None = None):
        self.settings = settings
        self._make_analyzer = make_analyzer
        self._analyzer: FaceAnalyzer | None = None
        self.on_video_frame = on_video_frame

    @property
    def analyzer(self) -> FaceAnalyzer:
        if self._analyzer is None:
            self._analyzer = self._make_analyzer()
        return self._analyzer

    def video_frame(self, name: str, done: int, total: int) -> None:
        if self.on_video_frame is not None:
            self.on_video_frame(name, done, total)


@dataclass(frozen=True)
class ImageOutcome:
    """An analysed image as a worker hands it back: its record and, when asked for, the annotated copy's
    encoded bytes (written by the process that writes the records, so both appear together)."""

    record: Record
    annotated: bytes | None = None


_PIL_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


@dataclass(frozen=True)
class ImageJob:
    """Analyse one image. `not_video`: a named file of unknown type that is no video either (its error
    says so)."""

    kind: ClassVar[str] = "image"
    single: ClassVar[bool] = True  # yields exactly one record
    source: str
    annotate_to: str | None = None
    not_video: bool = False

    def analyse(self, analyzer: FaceAnalyzer, settings: JobSettings,
                decoded: Decoded | None = None) -> ImageOutcome:
        """The record and annotated bytes; any failure other than missing weights becomes an error record
        (a file that breaks a decoder must not stop the run).

        `decoded`: the image already decoded (by `faceapi.batch.prefetch`); its decode time is the record's
        "decode" timing, counted in "total" as when the analyzer decodes. Without pixels (the decode
        failed) the image is analysed from its path, so its error is exactly the analyzer's.
        """
        try:
            pixels = decoded.image if decoded is not None else None
            if decoded is not None and pixels is not None:
                result = analyzer.analyze(pixels, settings.options)
                timings = dict(result.timings_ms)
                timings["total"] += decoded.decode_ms - timings["decode"]
                timings["decode"] = decoded.decode_ms
                result = replace(result, timings_ms=timings)
            else:
                result = analyzer.analyze(self.source, settings.options)
            annotated = None
            if self.annotate_to is not None:
                buf = io.BytesIO()
                fmt = _PIL_FORMATS.get(Path(self.annotate_to).suffix.lower(), "PNG")
                annotate(pixels if pixels is not None else self.source, result).save(buf, format=fmt)
                annotated = buf.getvalue()
            return ImageOutcome(image_record(self.source, result, settings.descriptors), annotated)
        except ModelError:
            raise
        except FaceApiError as exc:
            return ImageOutcome(self._error(str(exc)))
        except Exception as exc:
            return ImageOutcome(self._error(f"{self.source}: {type(exc).__name__}: {exc}"))

    def _error(self, message: str) -> Record:
        return error_record(self.source, message + (" (and not a video either)" if self.not_video else ""))

    def commit(self, outcome: ImageOutcome) -> Record:
        """Write the annotated copy (atomically) and return the record to write."""
        if outcome.annotated is None or self.annotate_to is None:
            return outcome.record
        try:
            atomic_write_bytes(self.annotate_to, outcome.annotated)
        except OSError as exc:
            return error_record(self.source, f"{self.annotate_to}: cannot write the annotated copy ({exc})")
        return {**outcome.record, "annotated": self.annotate_to}

    def records(self, ctx: JobContext, decoded: Decoded | None = None) -> Generator[Record, None, None]:
        yield self.commit(self.analyse(ctx.analyzer, ctx.settings, decoded))


@dataclass(frozen=True)
class VideoJob:
    """Analyse a video: one record per analysed frame; `annotate_to`: an annotated copy; `timeline_stem`:
    the name its timeline files start with (when the settings ask for timelines)."""

    kind: ClassVar[str] = "video"
    single: ClassVar[bool] = False
    source: str
    annotate_to: str | None = None
    timeline_stem: str | None = None

    def records(self, ctx: JobContext) -> Generator[Record, None, None]:
        from faceapi.video.analyze import analyze_video
        from faceapi.video.timeline import Timeline

        settings = ctx.settings
        timeline = Timeline(self.source) if settings.timeline_dir else None
        name = Path(self.source).name
        try:
            info = probe(self.source)
            total = info.frames_to_analyse(settings.every)
            ctx.video_frame(name, 0, total)
            frames = analyze_video(ctx.analyzer, self.source, settings.options, every=settings.every,
                                   tracker=settings.tracker(ctx.analyzer), annotate_to=self.annotate_to,
                                   timeline=timeline,
                                   info=info)
            with contextlib.closing(frames):
                for done, f in enumerate(frames, 1):
                    ctx.video_frame(name, done, max(total, done))
                    yield frame_record(self.source, f.frame.index, f.frame.time, f.result, f.tracked,
                                       settings.descriptors)
        except VideoError as exc:
            yield error_record(self.source, str(exc), frame=exc.frame)
        finally:
            if timeline is not None and timeline.tracks and settings.timeline_dir:
                timeline.write(settings.timeline_dir, self.timeline_stem)


@dataclass(frozen=True)
class SkipJob:
    """A file found in a folder that is not analysed (another extension)."""

    kind: ClassVar[str] = "skip"
    single: ClassVar[bool] = True  # yields exactly one record
    source: str
    reason: str

    def records(self, ctx: JobContext) -> Generator[Record, None, None]:
        yield skipped_record(self.source, self.reason)


@dataclass(frozen=True)
class ErrorJob:
    """An input that cannot be analysed at all (missing, not a file, an empty folder)."""

    kind: ClassVar[str] = "error"
    single: ClassVar[bool] = True  # yields exactly one record
    source: str
    reason: str

    def records(self, ctx: JobContext) -> Generator[Record, None, None]:
        yield error_record(self.source, f"{self.source}: {self.reason}")


Job = ImageJob | VideoJob | SkipJob | ErrorJob


# -- planning -----------------------------------------------------------------------------------------------
def _pil_identifies(path: str) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            return True
    except (UnidentifiedImageError, OSError, ValueError):
        return False


def _resolve(item: InputItem) -> tuple[Literal["image", "video", "skip", "error"], bool]:
    """The item's kind, an "auto" one decided by content: an image if Pillow recognises it, else a video if
    PyAV opens it, else an image that will fail (True: "and not a video either")."""
    if item.kind != "auto":
        return item.kind, False
    if _pil_identifies(item.path):
        return "image", False
    if is_video(item.path):
        return "video", False
    return "image", True


def _targets(items: Sequence[InputItem], out: str | None, suffix: str, single_suffixes: set[str],
             single: bool) -> dict[str, Path]:
    """Annotated-copy paths, unique, keeping the layout of folders below OUT. With `single` (one input in
    all) and OUT named like a file of that kind, OUT itself."""
    if not out:
        return {}
    base = Path(out)
    if single and len(items) == 1 and base.suffix.lower() in single_suffixes:
        return {items[0].path: base}
    targets: dict[str, Path] = {}
    seen: set[Path] = set()
    for it in items:
        rel = it.relative
        stem = rel.parent / (rel.stem + ".annotated")
        target = base / (str(stem) + suffix)
        n = 2
        while target in seen:
            target = base / (f"{stem}-{n}" + suffix)
            n += 1
        seen.add(target)
        targets[it.path] = target
    return targets


def _str(p: Path | None) -> str | None:
    return str(p) if p is not None else None


def plan_jobs(items: Sequence[InputItem], annotate_to: str | None = None) -> list[Job]:
    """One job per input item, in order. `annotate_to`: where annotated copies go: a file when there is
    one image (or one video) and it is named like one, else a folder mirroring the inputs' folders."""
    resolved = [_resolve(it) for it in items]
    single = sum(kind in ("image", "video") for kind, _ in resolved) == 1
    images = [it for it, (kind, _) in zip(items, resolved) if kind == "image"]
    videos = [it for it, (kind, _) in zip(items, resolved) if kind == "video"]
    image_targets = _targets(images, annotate_to, ".png", IMAGE_SUFFIXES, single)
    video_targets = _targets(videos, annotate_to, ".mp4", VIDEO_SUFFIXES, single)
    jobs: list[Job] = []
    for it, (kind, not_video) in zip(items, resolved):
        if kind == "image":
            jobs.append(ImageJob(it.path, _str(image_targets.get(it.path)), not_video))
        elif kind == "video":
            stem = str(it.relative.with_suffix("")).replace(os.sep, "_")
            jobs.append(VideoJob(it.path, _str(video_targets.get(it.path)), stem))
        elif kind == "skip":
            jobs.append(SkipJob(it.path, it.reason or "not analysed"))
        else:
            jobs.append(ErrorJob(it.path, it.reason or "cannot be analysed"))
    return jobs


__all__ = ["ErrorJob", "ImageJob", "ImageOutcome", "Job", "JobContext", "JobSettings", "SkipJob", "VideoJob",
           "plan_jobs"]
