"""`faceapi verify A B`: are the faces in two images the same person? One JSON object on stdout.

The exit status is 0 whatever the answer (``"same"`` says it), 1 when an image cannot be used (no face or
several, unreadable: the message says which and why) or the weights are missing.
"""

from __future__ import annotations

import argparse
import json

from faceapi.cli.common import add_crop_arg, add_detector_args, analyze_options, runtime_config
from faceapi.option_schema import SPECS
from faceapi.options import DEFAULT_DISTANCE_THRESHOLD


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify", help="are the faces in two images the same person? (JSON: same, distance, threshold)",
        description="Compare the one face in each of two images by face-api.js's rule: the same person when "
                    "the Euclidean distance of their 128-d descriptors is below the threshold. Prints one JSON "
                    "object {a, b, same, distance, threshold, false_match_rate, measured_on}; exits with 0 "
                    "either way (1 when an image shows no face or several, or cannot be read).")
    p.add_argument("a", metavar="A", help="an image showing exactly one face (or a face crop, with --crop)")
    p.add_argument("b", metavar="B", help="the other image")
    add_crop_arg(p, "both images")
    p.add_argument("--threshold", type=float, default=DEFAULT_DISTANCE_THRESHOLD, metavar="D",
                   help="the same person below this distance (default 0.6, face-api.js's FaceMatcher)")
    add_detector_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceapi.compare import verify
    from faceapi.pipeline import FaceAnalyzer

    options = analyze_options(args)
    SPECS["distance_threshold"].check(args.threshold, lambda _: "--threshold")
    analyzer = FaceAnalyzer(args.models_dir, runtime_config(args))
    answer = verify(args.a, args.b, crop=options.crop, threshold=args.threshold, detector=options.detector,
                    analyzer=analyzer)
    print(json.dumps({"a": args.a, "b": args.b, **answer.to_dict()}), flush=True)
    return 0
