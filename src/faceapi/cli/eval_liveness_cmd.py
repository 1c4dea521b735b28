"""`faceapi eval liveness DIR`: the liveness check measured on ``DIR/real/`` (live faces) and ``DIR/attack/``
(photos of photos): APCER, BPCER and ACER at the threshold, the EER, the threshold for a chosen APCER,
faces missed (failures of the check), and leave-one-subject-out figures. ``--json`` for the report as one
JSON object, ``--plot FILE.png`` for the score histograms and the DET curve.

`register` adds ``liveness`` to the ``eval`` group of `faceapi.cli.eval_cmd` when that group exists, and
makes an ``eval`` group of its own otherwise; `register_liveness` adds it to a given group.
"""

from __future__ import annotations

import argparse
import json
import sys

from faceapi.cli.common import add_detector_args, analyze_options, runtime_config

__all__ = ["register", "register_liveness", "run"]


def _subparsers_of(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="eval_command", metavar="SET", required=True)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parent = sub.choices.get("eval")
    if parent is None:
        parent = sub.add_parser("eval", help="measure accuracy on labelled sets")
    register_liveness(_subparsers_of(parent))


def register_liveness(evsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from faceapi.evaluation.liveness import DEFAULT_APCER_TARGET
    from faceapi.liveness import LIVENESS_THRESHOLD

    p = evsub.add_parser(
        "liveness", help="liveness on DIR/real and DIR/attack: APCER, BPCER, ACER, EER",
        description="Measure the liveness check (MiniFASNet) on DIR/real/ (live faces) and DIR/attack/ "
                    "(presentation attacks). Each image's best face is judged; an image without a face fails the "
                    "check (a live one is rejected, an attack counts as accepted).")
    p.add_argument("folder", metavar="DIR", help="a folder with real/ and attack/ sub-folders of images")
    p.add_argument("--threshold", type=float, default=LIVENESS_THRESHOLD, metavar="T",
                   help=f"live when the score is at least T (default: the shipped {LIVENESS_THRESHOLD:g})")
    p.add_argument("--apcer", type=float, default=DEFAULT_APCER_TARGET, metavar="X",
                   help=f"also report the threshold for an APCER of at most X, and fit the held-out thresholds "
                        f"with it (default {DEFAULT_APCER_TARGET:g})")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--items", action="store_true", help="with --json: include every image's score")
    p.add_argument("--plot", metavar="FILE", help="write a PNG: score histograms and the DET curve")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress on stderr (default: when stderr is a terminal)")
    add_detector_args(p)
    p.set_defaults(func=run)


def _rates_line(name: str, r: dict[str, object]) -> str:
    def f(x: object) -> str:
        return f"{x:.4f}" if isinstance(x, float) else "-"

    t = r.get("threshold")
    where = f" (threshold {t:.4g})" if isinstance(t, float) else ""
    return (f"{name}{where}: APCER {f(r['apcer'])} ({r['attacks_accepted']}/{r['attacks']} attacks accepted), "
            f"BPCER {f(r['bpcer'])} ({r['real_rejected']}/{r['real']} live rejected), ACER {f(r['acer'])}")


def run(args: argparse.Namespace) -> int:
    from faceapi.errors import OptionsError
    from faceapi.evaluation.liveness import evaluate_liveness, liveness_images, plot_liveness, score_images
    from faceapi.pipeline import FaceAnalyzer

    if not 0 <= args.threshold <= 1:
        raise OptionsError(f"--threshold must be in [0, 1], got {args.threshold}")
    if not 0 <= args.apcer <= 1:
        raise OptionsError(f"--apcer must be in [0, 1], got {args.apcer}")
    images = liveness_images(args.folder)
    detector = analyze_options(args).detector
    analyzer = FaceAnalyzer(args.models_dir, runtime_config(args))
    show = sys.stderr.isatty() if args.progress is None else args.progress

    def progress(done: int, total: int) -> None:
        if show and (done == total or done % 10 == 0):
            print(f"\rliveness: {done}/{total} images", end="\n" if done == total else "", file=sys.stderr,
                  flush=True)

    items = score_images(analyzer, images, detector, progress)
    report = evaluate_liveness(items, args.threshold, args.apcer, folder=args.folder)
    if args.plot:
        plot_liveness(report, args.plot)
    d = report.to_dict(items=args.items)
    if args.json:
        print(json.dumps(d))
        return 0
    print(f"{args.folder}: {report.real} live, {report.attacks} attacks; faces missed: {report.missed_real} live, "
          f"{report.missed_attacks} attacks (a miss fails the check)")
    print(_rates_line("at the threshold", d["at_threshold"]))
    print(f"EER {report.eer:.4f} (at {report.eer_threshold:.4g})")
    print(_rates_line(f"for APCER <= {args.apcer:g}", d["at_apcer_target"]))
    if d["held_out"] is not None:
        h = d["held_out"]
        print(_rates_line(f"held out (leave one subject out, {len(h['thresholds'])} subjects)", h)
              + f"; worst subject's EER {h['eer_max_subject']:.4f}")
    if args.plot:
        print(f"chart: {args.plot}", file=sys.stderr)
    return 0
