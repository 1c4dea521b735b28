"""`faceapi analyze IMAGE...`: every face with what the flags ask for, one JSON line per image."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from faceapi.cli.common import add_detector_args, add_net_args, analyze_options
from faceapi.draw import annotate
from faceapi.errors import FaceApiError, ModelError
from faceapi.pipeline import FaceAnalyzer
from faceapi.runtime import RuntimeConfig

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="detect faces and run the other nets; prints one JSON line per image")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    add_detector_args(p)
    add_net_args(p)
    p.add_argument("--annotate", metavar="OUT",
                   help="write annotated images: a file (OUT.png, one input) or a folder")
    p.add_argument("--no-descriptor-output", action="store_true", help="leave descriptors out of the JSON")
    p.set_defaults(func=run)


def annotate_target(out: str, source: str, single: bool) -> Path:
    target = Path(out)
    if single and target.suffix.lower() in IMAGE_SUFFIXES:
        return target
    return target / (Path(source).stem + ".annotated.png")


def run(args: argparse.Namespace) -> int:
    options = analyze_options(args)
    analyzer = FaceAnalyzer(args.models_dir, RuntimeConfig(threads=args.threads))
    failed = 0
    for path in args.images:
        try:
            result = analyzer.analyze(path, options)
            record = {"source": path, "status": "ok", **result.to_dict(descriptors=not args.no_descriptor_output)}
            if args.annotate:
                target = annotate_target(args.annotate, path, len(args.images) == 1)
                target.parent.mkdir(parents=True, exist_ok=True)
                annotate(path, result).save(target)
                record["annotated"] = str(target)
            print(json.dumps(record), flush=True)
        except FaceApiError as exc:
            if isinstance(exc, ModelError):
                raise
            failed += 1
            print(json.dumps({"source": path, "status": "error", "error": str(exc)}), flush=True)
    if failed:
        print(f"faceapi: {failed} of {len(args.images)} input(s) failed", file=sys.stderr)
    return 1 if failed else 0
