"""`faceapi eval KIND DIR`: accuracy on labelled data (`faceapi.evaluation`). One JSON document on stdout
(or ``--json FILE``), a short summary on stderr, ``--plot FILE.png`` for the pictures.

Kinds are a group: `KINDS` here (expressions, verification), then each module of `KIND_MODULES` that is
part of the build, whose ``register_eval(sub)`` adds its parser (as `faceapi.cli.main` does for the
subcommands). A kind's parser sets ``eval_func`` to a function of the parsed arguments that returns the
result object (with ``to_dict()``) and its one-line summary; `run` writes the outputs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from faceapi.batch.progress import ProgressBar
from faceapi.cli.common import add_models_dir_arg, add_runtime_args, runtime_config
from faceapi.errors import OptionsError

#: Modules adding more kinds (each with ``register_eval(sub)``); a missing one is not part of the build.
KIND_MODULES: tuple[str, ...] = ("faceapi.cli.eval_liveness_cmd",)

__all__ = ["KIND_MODULES", "Outcome", "add_common_args", "make_analyzer", "progress_bar", "register", "run"]


class Result(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


#: What a kind's ``func`` returns: the result, its summary line, and how to draw it (or None).
Outcome = tuple[Result, str, Callable[[Path], None] | None]


def add_common_args(p: argparse.ArgumentParser) -> None:
    """``--json``, ``--plot``, ``--limit``, ``--progress``, models folder and runtime: every kind has them."""
    p.add_argument("--json", metavar="FILE", default="-", help="write the figures as JSON to FILE ('-': stdout, "
                                                               "the default)")
    p.add_argument("--plot", metavar="FILE.png", help="draw the figures into a PNG (needs faceapi[eval])")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N items (a quick look)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    add_models_dir_arg(p)
    add_runtime_args(p)


def make_analyzer(args: argparse.Namespace) -> Any:
    from faceapi.pipeline import FaceAnalyzer

    return FaceAnalyzer(args.models_dir, runtime_config(args))


def progress_bar(args: argparse.Namespace, total: int) -> ProgressBar:
    return ProgressBar(total, enabled=args.progress)


def _count_images(root: str, limit: int | None) -> int:
    from faceapi.evaluation.data import image_folder

    return len(image_folder(root, limit=limit))


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x * 100:.1f} %"


def _expressions(args: argparse.Namespace) -> Outcome:
    from faceapi import expression_models
    from faceapi.evaluation.expressions import evaluate_expressions
    from faceapi.evaluation.plots import plot_expressions

    expression_models.get(args.expression_model)
    bar = progress_bar(args, _count_images(args.dir, args.limit))
    try:
        r = evaluate_expressions(args.dir, crop=args.crop, model=args.expression_model, calibrated=args.calibrated,
                                 analyzer=make_analyzer(args), limit=args.limit, progress=bar.advance)
    finally:
        bar.close()
    fear = r.recall.get("fearful")
    line = (f"{r.n} images, accuracy {_pct(r.accuracy.value)} [{_pct(r.accuracy.low)}, {_pct(r.accuracy.high)}], "
            f"balanced {_pct(r.balanced_accuracy.value)}, ECE {r.ece.value:.3f}, missed {r.missed}, "
            f"unreadable {len(r.unreadable)}" + (f", fearful recall {_pct(fear.value)}" if fear else ""))
    return r, line, lambda path: plot_expressions(r, path)


def _verification(args: argparse.Namespace) -> Outcome:
    from faceapi.evaluation.data import lfw_pairs
    from faceapi.evaluation.plots import plot_verification
    from faceapi.evaluation.verification import evaluate_verification

    bar = progress_bar(args, len(lfw_pairs(args.dir, limit=args.limit)))
    try:
        r = evaluate_verification(args.dir, crop=args.crop, threshold=args.threshold, target_fmr=args.target_fmr,
                                  gallery_size=args.gallery_size, analyzer=make_analyzer(args), limit=args.limit,
                                  progress=bar.advance)
    finally:
        bar.close()
    line = (f"{r.n} pairs, accuracy {_pct(r.accuracy.value)} at {r.threshold:g} (FMR {_pct(r.fmr.value)}, FNMR "
            f"{_pct(r.fnmr.value)}); FMR <= {r.target_fmr:g} at threshold {r.threshold_at_target:.3f} (FNMR "
            f"{_pct(r.fnmr_at_target.value)}; the set resolves FMR down to {r.fmr_resolution:.4f}); a stranger "
            f"matches one of {r.gallery_size} people: {_pct(r.gallery_false_match)} at {r.threshold:g}")
    return r, line, lambda path: plot_verification(r, path)


def _register_expressions(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from faceapi import expression_models

    p = sub.add_parser("expressions", help="expression accuracy on DIR/<label>/<image>",
                       description="Expression accuracy on an ImageFolder: DIR/<label>/<image>, labels in "
                                   "face-api.js's names (neutral, happy, sad, angry, fearful, disgusted, "
                                   "surprised). The full chain runs and the largest face counts (a miss is "
                                   "a wrong answer), or --crop: each image is the face crop.")
    p.add_argument("dir", metavar="DIR", help="a folder of label folders (DIR/<label>/<image>)")
    p.add_argument("--crop", action="store_true", help="each image is a face crop (no detector)")
    p.add_argument("--expression-model", default=expression_models.DEFAULT_MODEL, metavar="NAME",
                   help=f"expression model: {', '.join(expression_models.names())} (default "
                        f"{expression_models.DEFAULT_MODEL}: face-api.js's net)")
    p.add_argument("--calibrated", action="store_true", help="score the calibrated probabilities")
    add_common_args(p)
    p.set_defaults(eval_func=_expressions)


def _register_verification(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("verification", help="descriptor verification on LFW-style pairs",
                       description="Face verification with the 128-d descriptor on LFW's layout: DIR/pairs.txt "
                                   "and DIR/images/NAME/NAME_NNNN.jpg. The full chain runs (largest face), or "
                                   "--crop: each image is the face crop.")
    p.add_argument("dir", metavar="DIR", help="a folder with LFW's pairs.txt and images/NAME/NAME_NNNN.jpg")
    p.add_argument("--crop", action="store_true", help="each image is a face crop (no detector)")
    p.add_argument("--threshold", type=float, default=0.6, metavar="D",
                   help="match when the distance is below D (default 0.6, face-api.js's)")
    p.add_argument("--target-fmr", type=float, default=0.001, metavar="X",
                   help="report the threshold giving at most this false-match rate (default 0.001)")
    p.add_argument("--gallery-size", type=int, default=100, metavar="N",
                   help="say what the false-match rate means for a gallery of N people (default 100)")
    add_common_args(p)
    p.set_defaults(eval_func=_verification)


#: The kinds of this module, in the order `faceapi eval --help` lists them.
KINDS = (_register_expressions, _register_verification)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("eval", help="accuracy on labelled data (expressions, verification, ...)",
                       description="Measure accuracy on labelled data; one JSON document out, --plot for pictures.")
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    for add in KINDS:
        add(kinds)
    for name in KIND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register_eval(kinds)
    p.set_defaults(func=lambda args: run(args, p))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    kind_func = getattr(args, "eval_func", None)
    if getattr(args, "kind", None) is None or kind_func is None:
        if parser is not None:
            parser.print_help(sys.stderr)
        return 2
    if args.limit is not None and args.limit < 1:
        raise OptionsError(f"--limit must be >= 1, got {args.limit}")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise OptionsError(f"--plot writes a PNG: give a FILE.png, got {args.plot}")
    result, line, draw = kind_func(args)
    text = json.dumps(_finite(result.to_dict()), indent=1)
    if args.json == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    if args.plot and draw is not None:
        draw(Path(args.plot))
    print(f"faceapi eval {args.kind}: {line}", file=sys.stderr)
    return 0


def _finite(o: Any) -> Any:
    """NaN (an undefined figure: a class with no items) as JSON null."""
    if isinstance(o, float):
        return None if math.isnan(o) or math.isinf(o) else o
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o
