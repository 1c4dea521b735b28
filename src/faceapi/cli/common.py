"""Arguments shared by the subcommands that analyse images."""

from __future__ import annotations

import argparse

from faceapi.options import AnalyzeOptions


def add_detector_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector", choices=("ssd", "tiny"), default="ssd",
                   help="SSD MobileNetV1 (default, more accurate) or Tiny Face Detector (faster)")
    p.add_argument("--input-size", type=int, default=416, metavar="N",
                   help="tiny detector input size, a multiple of 32 (default 416)")
    p.add_argument("--min-score", type=float, default=0.5, metavar="X", help="minimum detection score (default 0.5)")
    p.add_argument("--max-results", type=int, default=100, metavar="N", help="SSD: at most N faces (default 100)")
    p.add_argument("--models-dir", metavar="DIR", help="model folder (default: $FACEAPI_MODELS or the user cache)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="onnxruntime threads (default: all cores)")


def add_net_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--landmarks", choices=("full", "tiny"), default=None, help="68 landmarks (full or tiny net)")
    p.add_argument("--expressions", action="store_true", help="expression probabilities")
    p.add_argument("--age-gender", action="store_true", help="age and gender")
    p.add_argument("--descriptors", action="store_true", help="128-d descriptors (need landmarks: full by default)")
    p.add_argument("--all", action="store_true", help="full landmarks, expressions, age/gender, descriptors")


def analyze_options(args: argparse.Namespace, **overrides) -> AnalyzeOptions:
    d = {"detector": args.detector, "input_size": args.input_size, "min_score": args.min_score,
         "max_results": args.max_results}
    if hasattr(args, "landmarks"):
        everything = getattr(args, "all", False)
        d.update(landmarks=args.landmarks or ("full" if everything else None),
                 expressions=args.expressions or everything, age_gender=args.age_gender or everything,
                 descriptors=args.descriptors or everything)
    d.update(overrides)
    return AnalyzeOptions.from_dict(d)
