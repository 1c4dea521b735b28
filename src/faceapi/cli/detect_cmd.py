"""`faceapi detect IMAGE...`: face detections as JSON lines, one per image."""

from __future__ import annotations

import argparse
import json

from faceapi.batch.records import error_record, image_record
from faceapi.cli.common import add_detector_args, analyze_options, runtime_config
from faceapi.errors import FaceApiError, ModelError
from faceapi.pipeline import FaceAnalyzer


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("detect", help="detect faces; prints one JSON line per image")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files to detect faces in")
    add_detector_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = analyze_options(args)
    analyzer = FaceAnalyzer(args.models_dir, runtime_config(args))
    failed = 0
    for path in args.images:
        try:
            print(json.dumps(image_record(path, analyzer.analyze(path, options))), flush=True)
        except FaceApiError as exc:
            if isinstance(exc, ModelError):
                raise  # no image can be analysed without the weights: stop with the hint
            failed += 1
            print(json.dumps(error_record(path, str(exc))), flush=True)
    return 1 if failed else 0
