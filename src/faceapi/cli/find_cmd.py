"""`faceapi find FACE PATH...`: the faces in images and folders (and the people in the gallery) nearest to
a face, nearest first, as JSON (the default, on stdout) and/or CSV.

Exit status: 0 when every input was searched, 1 when any could not be read (they are listed in the JSON's
``not_searched`` and the CSV's error rows, and counted on stderr) or the query image cannot be used.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from faceapi.batch.progress import ProgressBar
from faceapi.batch.writers import csv_cell
from faceapi.cli.common import add_crop_arg, add_detector_args, analyze_options, gallery_help, runtime_config
from faceapi.errors import OptionsError
from faceapi.fileio import PRIVATE, PUBLIC, atomic_write_text
from faceapi.option_schema import SPECS
from faceapi.options import DEFAULT_DISTANCE_THRESHOLD

if TYPE_CHECKING:
    from faceapi.compare import FindResult
    from faceapi.gallery import Gallery

#: The CSV's columns: one row per match (rank 1 first), then one per input not searched.
CSV_COLUMNS = ["rank", "distance", "same", "source", "face", "person", "x", "y", "width", "height", "status",
               "reason"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "find", help="the faces in folders (or people in the gallery) nearest to a face, with distances",
        description="Describe the one face in FACE, then every face in PATHs (images; folders searched "
                    "recursively) and/or every person in the gallery (--gallery), and list the nearest first "
                    "with their distances and whether they are the same person by face-api.js's rule "
                    "(distance below the threshold). JSON on stdout by default; --csv and --json write files "
                    "('-': stdout). Exits with 1 when an input could not be read.")
    p.add_argument("face", metavar="FACE", help="an image showing exactly one face (or a face crop, with --crop)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="images and folders to search (recursively)")
    add_crop_arg(p, "FACE and the images searched")
    p.add_argument("--face-crop", action="store_true",
                   help="FACE alone is a face crop (e.g. someone's crop, looked for in group photos)")
    # unlike the other commands' --gallery FILE, FILE is optional here: --gallery alone searches the default one
    p.add_argument("--gallery", nargs="?", const="", default=None, metavar="FILE",
                   help=gallery_help("also rank the people of this gallery (FILE optional; put --gallery after "
                                     "the PATHs, or write --gallery=FILE)"))
    p.add_argument("--match-strategy", choices=("mean", "nearest"), default="mean",
                   help="with --gallery: a person's distance is the mean over their samples (face-api.js) or "
                        "the nearest one")
    p.add_argument("--top", type=int, default=10, metavar="K", help="at most K matches (default 10; 0: all)")
    p.add_argument("--threshold", type=float, default=DEFAULT_DISTANCE_THRESHOLD, metavar="D",
                   help="'same' below this distance (default 0.6, face-api.js's FaceMatcher)")
    p.add_argument("--json", metavar="FILE", help="write the JSON answer to FILE ('-': stdout, the default "
                                                  "unless --csv is given)")
    p.add_argument("--csv", metavar="FILE", help="write CSV to FILE ('-': stdout): a row per match, nearest "
                                                 "first, then a row per input not searched")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    add_detector_args(p)
    p.set_defaults(func=run)


def _open_gallery(arg: str | None) -> Gallery | None:
    if arg is None:
        return None
    from faceapi.gallery import Gallery, default_gallery_path

    path = Path(arg) if arg else default_gallery_path()
    if path.is_dir():
        raise OptionsError(f"--gallery {arg}: that is a folder, not a gallery file; put the folders to search "
                           f"before --gallery, or write --gallery=FILE")
    if not path.is_file():
        raise OptionsError(f"--gallery: no gallery at {path}; enrol people first: faceapi people add NAME IMAGE...")
    return Gallery(path, create=False)


def csv_text(result: FindResult) -> str:
    """The CSV of an answer (see `CSV_COLUMNS`); names and paths escaped as `faceapi analyze`'s CSV does."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for rank, m in enumerate(result.matches, start=1):
        box = m.box.to_dict() if m.box is not None else {}
        row = {"rank": rank, "distance": m.distance, "same": str(m.same).lower(), "source": m.source,
               "face": m.face, "person": m.person, **box, "status": "ok"}
        w.writerow([csv_cell(row.get(c)) for c in CSV_COLUMNS])
    for n in result.not_searched:
        w.writerow([csv_cell({"source": n.source, "status": n.status, "reason": n.reason}.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def _write(target: str, text: str, private: bool) -> None:
    """`text` to the file `target` (created 0600 when it names people), or to stdout for '-'."""
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    atomic_write_text(target, text, PRIVATE if private else PUBLIC)


def run(args: argparse.Namespace) -> int:
    from faceapi.compare import find
    from faceapi.pipeline import FaceAnalyzer

    if args.top < 0:
        raise OptionsError(f"--top must be >= 0 (0: all), got {args.top}")
    if args.json is not None and args.json == args.csv and args.json != "-":
        raise OptionsError(f"--json and --csv name the same file: {args.json}")
    options = analyze_options(args)
    SPECS["distance_threshold"].check(args.threshold, lambda _: "--threshold")
    gallery = _open_gallery(args.gallery)
    if not args.paths and gallery is None:
        raise OptionsError("find: nothing to search: give images or folders (PATH...), or --gallery")
    analyzer = FaceAnalyzer(args.models_dir, runtime_config(args))
    progress = ProgressBar(0, enabled=args.progress)

    def step(done: int, total: int) -> None:
        progress.total = total
        progress.advance()

    try:
        result = find(args.face, args.paths, gallery=gallery, crop=options.crop,
                      face_crop=options.crop or args.face_crop, top=args.top or None,
                      threshold=args.threshold, strategy=args.match_strategy, detector=options.detector,
                      analyzer=analyzer, progress=step)
    finally:
        progress.close()
        if gallery is not None:
            gallery.close()
    private = gallery is not None  # people's names
    answer = {"query": args.face, **result.to_dict()}
    if args.csv is not None:
        _write(args.csv, csv_text(result), private)
    if args.json is not None or args.csv is None:
        _write(args.json or "-", json.dumps(answer) + "\n", private)
    same = sum(1 for m in result.matches if m.same)
    print(f"faceapi: {result.images} image(s), {result.faces} face(s), {result.people} people searched; "
          f"{len(result.matches)} match(es) listed, {same} under {result.threshold}; {result.failed} input(s) "
          f"could not be read", file=sys.stderr)
    return 1 if result.failed else 0
