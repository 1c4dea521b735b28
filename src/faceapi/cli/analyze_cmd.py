"""`faceapi analyze PATH...`: images, folders (recursively) and videos; one JSON line per image or analysed
video frame, optionally CSV, annotated copies and per-track expression timelines.

The record shapes are in `faceapi.batch.records`; the jobs and the one loop that writes and counts their
records in `faceapi.batch`. This module turns the command line into settings and jobs, and prints the
summary. The run goes on after a failed input and exits with 1 when any failed (0 otherwise), after a
summary line on stderr. Missing model weights stop it at once. Ctrl-C stops it between records, leaving
every output written so far valid and consistent with the others. With ``--ray ADDRESS`` the same jobs run on
a Ray cluster (`faceapi.batch.ray_runner`) and their records go through the same loop.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from faceapi.batch import (
    ImageJob,
    ImagePool,
    JobContext,
    JobSettings,
    ProgressBar,
    RecordWriter,
    Tally,
    VideoJob,
    expand_inputs,
    plan_jobs,
    run_jobs,
)
from faceapi.batch.runner import write_scheduled
from faceapi.cli.common import (
    add_crop_arg,
    add_detector_args,
    add_gallery_arg,
    add_net_args,
    add_option_arg,
    analyze_options,
    option_value,
    runtime_config,
)
from faceapi.errors import OptionsError
from faceapi.image import DEFAULT_MAX_PIXELS
from faceapi.options import MatchOptions

if TYPE_CHECKING:
    from faceapi.matching import FaceMatcher
    from faceapi.pipeline import FaceAnalyzer

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "analyze", help="analyse images, folders and videos; one JSON line per image or video frame",
        description="Analyse images, folders (recursively, by extension) and videos. Prints one JSON line "
                    "per image or analysed video frame; exits with 1 when any input failed.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="an image, a video, or a folder (searched recursively for images and videos)")
    add_detector_args(p)
    add_net_args(p)
    add_crop_arg(p, "the images (not videos)")
    g = p.add_argument_group("outputs")
    g.add_argument("--out", metavar="FILE", help="write the JSON lines to FILE ('-': stdout, the default "
                                                 "unless --csv is given)")
    g.add_argument("--csv", metavar="FILE",
                   help="write CSV to FILE ('-': stdout): a row per face, a row with empty face columns per "
                        "image or frame without faces, a row per failed or skipped input")
    g.add_argument("--annotate", metavar="PATH",
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
    add_gallery_arg(g, "the people gallery to recognise faces with, with --recognize")
    add_option_arg(g, "distance_threshold", help="with --recognize: a best match at this distance or more is "
                                                 "'unknown' (face-api.js: 0.6)")
    add_option_arg(g, "match_strategy", help="with --recognize: distance to a person: mean over their descriptors "
                                             "(face-api.js) or the nearest one")
    g = p.add_argument_group("collections and videos")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="analyse images in N processes (default 1); onnxruntime threads are shared out; with "
                        "--ray: at most N actors (default: the cluster's CPUs / --threads)")
    g.add_argument("--every", type=int, default=1, metavar="N", help="videos: analyse every N-th frame")
    g.add_argument("--smooth", type=int, default=5, metavar="N",
                   help="videos: smooth each track's expressions exponentially over about N analysed frames "
                        "(a new frame weighs 2/(N+1); default 5)")
    g.add_argument("--iou", type=float, default=0.3, metavar="X",
                   help="videos: minimum IoU with the previous frame to keep a track (default 0.3)")
    g.add_argument("--reid-seconds", type=float, default=2.0, metavar="S",
                   help="videos, with --descriptors: re-identify a track lost for up to S seconds (default 2)")
    g.add_argument("--reid-distance", type=float, default=0.6, metavar="D",
                   help="videos, with --descriptors: maximum descriptor distance to re-identify (default 0.6)")
    g = p.add_argument_group("scale out (the faceapi[ray] extra)")
    g.add_argument("--ray", metavar="ADDRESS",
                   help="run on a Ray cluster: 'auto' (the cluster this machine belongs to, or $RAY_ADDRESS) or "
                        "HOST:PORT of its head; inputs may be URIs (s3://, gs://, ...)")
    g.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl",
                   help="with --ray: 'parquet' has the workers write a Parquet dataset into the folder or URI "
                        "--out (default: jsonl)")
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace, matcher: FaceMatcher | None) -> JobSettings:
    """The run's settings from the command line, each checked with the flag's name in the message."""
    for name, minimum in (("workers", 1), ("every", 1), ("smooth", 1)):
        if getattr(args, name) is not None and getattr(args, name) < minimum:
            raise OptionsError(f"--{name} must be >= {minimum}, got {getattr(args, name)}")
    if not 0 < args.iou <= 1:
        raise OptionsError(f"--iou must be in (0, 1], got {args.iou}")
    options = analyze_options(args, **({"expressions": True} if args.timeline else {}))
    if matcher is not None:
        options = replace(options, recognize=MatchOptions(matcher.distance_threshold,
                                                          option_value(args, "match_strategy")))
    return JobSettings(options, descriptors=not args.no_descriptor_output, every=args.every, smooth=args.smooth,
                       iou=args.iou, reid_seconds=args.reid_seconds, reid_distance=args.reid_distance,
                       timeline_dir=args.timeline)


def _gallery_matcher(args: argparse.Namespace) -> FaceMatcher:
    """The gallery's matcher for --recognize; an empty or missing gallery is an error, not silent 'unknown's."""
    from faceapi.gallery import open_gallery, user_gallery_path

    threshold = option_value(args, "distance_threshold")
    strategy = option_value(args, "match_strategy")
    where: str = args.gallery or os.environ.get("FACEAPI_GALLERY") or str(user_gallery_path())
    if not str(where).startswith(("postgresql://", "postgres://")) and not Path(where).is_file():
        raise OptionsError(f"--recognize: no gallery at {where}; enrol people first: faceapi people add NAME IMAGE...")
    with open_gallery(where, create=False) as gallery:
        matcher = gallery.matcher(threshold, strategy)
        location = gallery.location
    if not matcher.labeled:
        raise OptionsError(f"--recognize: the gallery {location} has nobody enrolled: faceapi people add NAME "
                           f"IMAGE...")
    return matcher


def _check_format(args: argparse.Namespace) -> bool:
    """Whether the run writes a Parquet dataset (--format parquet), checked against --ray, --out, --csv."""
    for flag, value in (("--annotate", args.annotate), ("--timeline", args.timeline)):
        if value == "-":  # '-' is stdout for the flags that write a stream (--out, --csv)
            raise OptionsError(f"{flag} writes image files, not a stream: give a file or folder, not '-' (stdout)")
    if args.ray:
        from faceapi.batch.ray_runner import check_address

        check_address(args.ray)
    if args.format != "parquet":
        return False
    if not args.ray:
        raise OptionsError("--format parquet: the Ray workers write the dataset; use it with --ray ADDRESS")
    if not args.out or args.out == "-" or args.csv:
        raise OptionsError("--format parquet writes a dataset folder: give it as --out DIR (and no --csv)")
    return True


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    parquet = _check_format(args)
    for name in ("distance_threshold", "match_strategy"):
        option_value(args, name)  # checked first: the same refusal as REST's and the stream's
        if getattr(args, name) is not None and not args.recognize:
            raise OptionsError(f"--{name.replace('_', '-')} applies only with --recognize")
    matcher = _gallery_matcher(args) if args.recognize else None
    settings = _settings(args, matcher)

    def make_analyzer() -> FaceAnalyzer:
        from faceapi.pipeline import FaceAnalyzer

        return FaceAnalyzer(args.models_dir, runtime_config(args), matcher=matcher)

    ray_job = None
    if args.ray:
        from faceapi.batch.ray_runner import RayConfig, RayJob

        ray_job = RayJob(args.paths, settings, RayConfig(args.ray, cpus_per_actor=args.threads or 1,
                                                          actors=args.workers, precision=args.precision),
                         models_dir=args.models_dir, matcher=matcher, annotate=args.annotate)
        jobs = ray_job.jobs
    else:
        jobs = plan_jobs(expand_inputs(args.paths), args.annotate)
    if settings.options.crop:
        videos = [j.source for j in jobs if isinstance(j, VideoJob)]
        if videos:
            raise OptionsError(f"--crop: each image is taken to be one face crop; a video is not ({videos[0]})")
    progress = ProgressBar(len(jobs), enabled=args.progress)
    ctx = JobContext(settings, make_analyzer, on_video_frame=progress.video_frame)
    tally = Tally()
    # descriptors and names are biometric data: such outputs are created private (0600)
    private = (settings.options.descriptors and settings.descriptors) or settings.options.recognize is not None
    writer = None if parquet else RecordWriter.open(args.out, args.csv, private=private)
    pool: ImagePool | None = None
    stopped: str | None = None
    try:
        if ray_job is not None:  # the same loop, fed from the cluster
            write_scheduled(ray_job.scheduled(args.out if parquet else None, private=private), writer, tally,
                            progress=progress)
        else:
            assert writer is not None  # only --ray writes Parquet
            workers = args.workers or 1
            if workers > 1 and sum(isinstance(j, ImageJob) for j in jobs) > 1:
                pool = ImagePool(workers, settings, models_dir=args.models_dir, threads=args.threads,
                                 precision=args.precision,
                                 max_pixels=DEFAULT_MAX_PIXELS, matcher=matcher)
            run_jobs(jobs, ctx, writer, tally, pool=pool, progress=progress)
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
        if writer is not None:
            writer.close()
        if stopped != "stopped":  # an error that stops the run is reported on its own (main prints it)
            print(tally.summary(time.perf_counter() - t0, stopped), file=sys.stderr, flush=True)
    return 1 if tally.failed else 0
