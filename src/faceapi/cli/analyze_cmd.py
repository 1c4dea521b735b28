"""`faceapi analyze PATH...`: images, folders (recursively) and videos; one JSON line per image or analysed
video frame, optionally CSV, annotated copies and per-track expression timelines.

Records (JSON lines, stdout by default or ``--out FILE.jsonl``):

* image: ``{"source", "status": "ok", "image", "faces", "timings_ms"[, "annotated"]}``
* video frame: the same plus ``"frame"`` and ``"time"``; each face has ``"track"`` and, with expressions,
  ``"expressions_smoothed"``
* failure: ``{"source", "status": "error", "error"[, "frame"]}``; a folder's file with another
  extension: ``{"source", "status": "skipped", "reason"}``

The run goes on after a failed input and exits with 1 when any failed (0 otherwise), after a summary line
on stderr. Missing model weights stop it at once. Ctrl-C leaves every file written so far valid.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from faceapi.cli.common import add_detector_args, add_net_args, analyze_options
from faceapi.collect import (
    IMAGE_SUFFIXES,
    ImagePool,
    InputItem,
    ProgressBar,
    RecordWriter,
    analyze_image,
    expand_inputs,
)
from faceapi.engine.runtime import RuntimeConfig
from faceapi.errors import OptionsError
from faceapi.image import DEFAULT_MAX_PIXELS
from faceapi.options import MatchOptions
from faceapi.pipeline import FaceAnalyzer

__all__ = ["register", "run", "annotate_target", "IMAGE_SUFFIXES"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze", help="analyse images, folders and videos; one JSON line per image or video frame",
        description="Analyse images, folders (recursively, by extension) and videos. Prints one JSON line "
                    "per image or analysed video frame; exits with 1 when any input failed.")
    p.add_argument("images", nargs="+", metavar="PATH", help="image files, folders or video files")
    add_detector_args(p)
    add_net_args(p)
    g = p.add_argument_group("outputs")
    g.add_argument("--out", metavar="FILE.jsonl", help="write the JSON lines to FILE ('-': stdout, the default "
                                                      "unless --csv is given)")
    g.add_argument("--csv", metavar="FILE", help="write one CSV row per face (and one per failed input)")
    g.add_argument("--annotate", metavar="OUT",
                   help="write annotated copies: a file for one image (or one video), else a folder")
    g.add_argument("--timeline", metavar="DIR",
                   help="videos: per track a CSV and a PNG chart of the smoothed expressions (turns "
                        "--expressions on)")
    g.add_argument("--no-descriptor-output", action="store_true", help="leave descriptors out of the JSON")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    g = p.add_argument_group("recognition (people enrolled with `faceapi people add`)")
    g.add_argument("--recognize", action="store_true",
                   help="name each face from the gallery (computes descriptors); 'unknown' when nobody matches")
    g.add_argument("--gallery", metavar="PATH", help="gallery file (default: $FACEAPI_GALLERY or the user data folder)")
    g.add_argument("--distance-threshold", type=float, default=0.6, metavar="D",
                   help="a best match at this distance or more is 'unknown' (default 0.6, as face-api.js)")
    g.add_argument("--match-strategy", choices=("mean", "nearest"), default="mean",
                   help="distance to a person: mean over their descriptors (face-api.js) or the nearest one")
    g = p.add_argument_group("collections and videos")
    g.add_argument("--workers", type=int, default=1, metavar="N",
                   help="analyse images in N processes (default 1); onnxruntime threads are shared out")
    g.add_argument("--every", type=int, default=1, metavar="N", help="videos: analyse every N-th frame")
    g.add_argument("--smooth", type=int, default=5, metavar="N",
                   help="videos: average each track's expressions over its last N analysed frames (default 5)")
    g.add_argument("--iou", type=float, default=0.3, metavar="X",
                   help="videos: minimum IoU with the previous frame to keep a track (default 0.3)")
    g.add_argument("--reid-seconds", type=float, default=2.0, metavar="S",
                   help="videos, with --descriptors: re-identify a track lost for up to S seconds (default 2)")
    g.add_argument("--reid-distance", type=float, default=0.6, metavar="D",
                   help="videos, with --descriptors: maximum descriptor distance to re-identify (default 0.6)")
    p.set_defaults(func=run)


def annotate_target(out: str, source: str, single: bool) -> Path:
    """Where the annotated copy of an image goes: OUT itself for a single image named like an image."""
    target = Path(out)
    if single and target.suffix.lower() in IMAGE_SUFFIXES:
        return target
    return target / (Path(source).stem + ".annotated.png")


def _targets(items: list[InputItem], out: str | None, suffix: str, single_suffixes: set[str],
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


class _Run:
    """State of one `faceapi analyze` run."""

    def __init__(self, args: argparse.Namespace):
        for name, minimum in (("workers", 1), ("every", 1), ("smooth", 1)):
            if getattr(args, name) < minimum:
                raise OptionsError(f"--{name} must be >= {minimum}, got {getattr(args, name)}")
        if not 0 < args.iou <= 1:
            raise OptionsError(f"--iou must be in (0, 1], got {args.iou}")
        self.args = args
        self.options = analyze_options(args, **({"expressions": True} if args.timeline else {}))
        self.descriptors_out = not args.no_descriptor_output
        self.matcher = _gallery_matcher(args) if args.recognize else None
        if self.matcher is not None:
            self.options = replace(self.options, recognize=MatchOptions(self.matcher.distance_threshold,
                                                                        self.matcher.strategy))
        self._analyzer: FaceAnalyzer | None = None
        self.counts = {"images": 0, "videos": 0, "frames": 0, "ok": 0, "failed": 0, "skipped": 0}
        self.failed: list[str] = []

    @property
    def analyzer(self) -> FaceAnalyzer:
        if self._analyzer is None:
            self._analyzer = FaceAnalyzer(self.args.models_dir, RuntimeConfig(threads=self.args.threads),
                                          matcher=self.matcher)
        return self._analyzer

    def count(self, record: dict, input_done: bool = True) -> None:
        status = record.get("status")
        if status == "error":
            self.counts["failed"] += 1
            self.failed.append(record.get("source", "?"))
        elif status == "skipped":
            self.counts["skipped"] += 1
        elif input_done:
            self.counts["ok"] += 1

    def video(self, item: InputItem, writer: RecordWriter, progress: ProgressBar, target: Path | None) -> None:
        from faceapi.timeline import Timeline
        from faceapi.tracking import Tracker
        from faceapi.video import VideoError, analyze_video

        a = self.args
        tracker = Tracker(iou_threshold=a.iou, reid_distance=a.reid_distance, reid_seconds=a.reid_seconds,
                          smooth_window=a.smooth)
        timeline = Timeline(item.path) if a.timeline else None
        self.counts["videos"] += 1
        failed = False
        name = Path(item.path).name
        progress.video_frame(name, 0, 0)
        try:
            for record in analyze_video(self.analyzer, item.path, self.options, every=a.every, tracker=tracker,
                                        annotate_to=target, timeline=timeline, descriptors=self.descriptors_out,
                                        on_frame=lambda d, t: progress.video_frame(name, d, t)):
                writer.write(record)
                if record["status"] == "ok":
                    self.counts["frames"] += 1
                else:
                    failed = True
                    self.count(record)
        except VideoError as exc:
            failed = True
            record = {"source": item.path, "status": "error", "error": str(exc)}
            writer.write(record)
            self.count(record)
        finally:
            if timeline is not None and timeline.tracks:
                stem = str(item.relative.with_suffix("")).replace(os.sep, "_")
                timeline.write(a.timeline, stem)
        if not failed:
            self.counts["ok"] += 1

    def summary(self, seconds: float, stopped: str | None) -> str:
        c = self.counts
        parts = [f"{c['images']} image(s)", f"{c['videos']} video(s) ({c['frames']} frame(s) analysed)"]
        if c["skipped"]:
            parts.append(f"{c['skipped']} skipped (not an image or video extension)")
        text = (f"faceapi: {stopped + '; ' if stopped else ''}{', '.join(parts)}: {c['ok']} ok, "
                f"{c['failed']} failed in {seconds:.1f} s")
        if self.failed:
            shown = ", ".join(self.failed[:5]) + (f" and {len(self.failed) - 5} more" if len(self.failed) > 5 else "")
            text += f"; failed: {shown}"
        return text


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    state = _Run(args)
    items = expand_inputs(args.images)
    for raw in args.images:  # a folder without any file is an input that gave nothing: say so
        if Path(raw).is_dir() and not any(it.root == str(Path(raw)) for it in items):
            items.append(InputItem(str(raw), "error", "folder contains no files"))
    from faceapi.video import VIDEO_SUFFIXES

    single = sum(it.kind in ("image", "video", "auto") for it in items) == 1
    image_targets = _targets([it for it in items if it.kind in ("image", "auto")], args.annotate, ".png",
                             IMAGE_SUFFIXES, single)
    video_targets = _targets([it for it in items if it.kind in ("video", "auto")], args.annotate, ".mp4",
                             VIDEO_SUFFIXES, single)
    n_images = sum(it.kind == "image" for it in items)
    progress = ProgressBar(len(items), enabled=args.progress)
    writer = RecordWriter.open(args.out, args.csv)
    pool: ImagePool | None = None
    stopped: str | None = None
    try:
        if args.workers > 1 and n_images > 1:
            pool = ImagePool(args.workers, args.models_dir, args.threads, DEFAULT_MAX_PIXELS, state.matcher)
        i = 0
        while i < len(items):
            item = items[i]
            if item.kind == "image":
                j = i
                while j < len(items) and items[j].kind == "image":
                    j += 1
                batch = items[i:j]
                tasks = [(it.path, state.options, _str(image_targets.get(it.path)), state.descriptors_out)
                         for it in batch]
                results = pool.map(tasks) if pool else (
                    analyze_image(state.analyzer, *t) for t in tasks)
                for record in results:
                    state.counts["images"] += 1
                    writer.write(record)
                    state.count(record)
                    progress.advance()
                i = j
                continue
            if item.kind == "video":
                state.video(item, writer, progress, video_targets.get(item.path))
            elif item.kind == "auto":
                record = analyze_image(state.analyzer, item.path, state.options,
                                       _str(image_targets.get(item.path)), state.descriptors_out)
                if record["status"] == "error" and _is_video(item.path):
                    state.video(item, writer, progress, video_targets.get(item.path))
                else:
                    if record["status"] == "error":
                        record["error"] += " (and not a video either)"
                    state.counts["images"] += 1
                    writer.write(record)
                    state.count(record)
            elif item.kind == "skip":
                record = {"source": item.path, "status": "skipped", "reason": item.reason}
                writer.write(record)
                state.count(record)
            else:
                record = {"source": item.path, "status": "error", "error": f"{item.path}: {item.reason}"}
                writer.write(record)
                state.count(record)
            progress.advance()
            i += 1
    except KeyboardInterrupt:
        stopped = "interrupted"
        raise
    except BaseException:
        stopped = "stopped"
        raise
    finally:
        progress.close()
        if pool is not None:
            pool.close(wait=stopped is None)
        writer.close()
        if stopped != "stopped":  # an error that stops the run is reported on its own (main prints it)
            print(state.summary(time.perf_counter() - t0, stopped), file=sys.stderr, flush=True)
    return 1 if state.counts["failed"] else 0


def _gallery_matcher(args: argparse.Namespace):
    """The gallery's matcher for --recognize; an empty or missing gallery is an error, not silent 'unknown's."""
    from faceapi.gallery import Gallery, default_gallery_path

    path = Path(args.gallery) if args.gallery else default_gallery_path()
    if not path.is_file():
        raise OptionsError(f"--recognize: no gallery at {path}; enrol people first: faceapi people add NAME IMAGE...")
    matcher = Gallery(path, create=False).matcher(args.distance_threshold, args.match_strategy)
    if not matcher.labeled:
        raise OptionsError(f"--recognize: the gallery {path} has nobody enrolled: faceapi people add NAME IMAGE...")
    return matcher


def _str(p: Path | None) -> str | None:
    return str(p) if p is not None else None


def _is_video(path: str) -> bool:
    try:
        from faceapi.video import probe

        probe(path)
        return True
    except Exception:
        return False
