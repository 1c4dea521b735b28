"""`faceapi export-onnx DIR`: the seven nets as standalone ONNX files, each with a JSON description."""

from __future__ import annotations

import argparse
import json
import sys

from faceapi.nets import net_names


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export-onnx", help="write the nets as standalone .onnx files with a JSON description beside each",
        description="Write each net as DIR/NAME.onnx plus DIR/NAME.json (input layout, padding, resize and "
                    "normalisation rules, outputs and post-processing), the SSD anchors as .npy and an "
                    "index.json. Prints one JSON line per net.")
    p.add_argument("dir", metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--nets", nargs="+", choices=net_names(), metavar="NET",
                   help=f"only these nets (default all: {', '.join(net_names())})")
    p.add_argument("--models-dir", metavar="DIR", help="model folder (default: $FACEAPI_MODELS or the user cache)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceapi.export import export_nets
    from faceapi.pipeline import FaceAnalyzer

    written = export_nets(args.dir, FaceAnalyzer(args.models_dir), args.nets)
    for entry in written:
        print(json.dumps(entry), flush=True)
    print(f"faceapi: exported {len(written)} net(s) to {args.dir}", file=sys.stderr)
    return 0
