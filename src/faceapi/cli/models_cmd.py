"""`faceapi models download|list`."""

from __future__ import annotations

import argparse
import json
import sys

from faceapi.cli.common import add_models_dir_arg
from faceapi.models import check_model, download_models, model_dir
from faceapi.nets import NET_SPECS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="download, verify and list the model weights")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    d = msub.add_parser("download", help="fetch the weights with `npm pack` (or from --from PATH), verify, install")
    d.add_argument("--from", dest="source", metavar="PATH", help="a folder or .tgz of @vladmandic/face-api you have")
    add_models_dir_arg(d, old_name="--dir")
    d.set_defaults(func=_download)
    ls = msub.add_parser("list", help="show each model, its files and sizes, and whether it verifies")
    add_models_dir_arg(ls, old_name="--dir")
    ls.add_argument("--json", action="store_true", help="one JSON object per model")
    ls.set_defaults(func=_list)


def _download(args: argparse.Namespace) -> int:
    folder = download_models(args.models_dir, args.source, log=lambda m: print(m, file=sys.stderr))
    print(folder)
    return 0


def _list(args: argparse.Namespace) -> int:
    folder = model_dir(args.models_dir)
    print(f"model folder: {folder}", file=sys.stderr)
    bad = 0
    for net in NET_SPECS:
        name = net.model
        st = check_model(name, folder)
        bad += not st.verified
        if args.json:
            print(json.dumps(st.to_dict()))
            continue
        size = sum(s or 0 for s in st.files.values())
        state = "ok" if st.verified else f"NOT OK: {st.problem}"
        print(f"{name:32s} {size / 1e6:7.2f} MB  {', '.join(st.files)}  {state}")
    if bad:
        print(f"{bad} model(s) missing or corrupt: run `faceapi models download`", file=sys.stderr)
    return 1 if bad else 0
