"""`faceapi eval liveness DIR`: the liveness check measured on ``DIR/real/`` (live faces) and ``DIR/attack/``
(photos of photos): APCER, BPCER and ACER at the threshold, the EER, the threshold for a chosen APCER,
faces missed (failures of the check), and leave-one-subject-out figures. A kind of `faceapi.cli.eval_cmd`'s
group (listed in its ``KIND_MODULES``): the same ``--json``, ``--plot``, ``--limit`` and ``--progress``.
"""

from __future__ import annotations

import argparse
import types
from pathlib import Path

from faceapi.cli.common import add_detector_choice_args, analyze_options
from faceapi.cli.eval_cmd import Outcome, add_common_args, make_analyzer, progress_bar
from faceapi.errors import OptionsError

__all__ = ["register_eval"]


def register_eval(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from faceapi.evaluation.liveness import DEFAULT_APCER_TARGET
    from faceapi.liveness import LIVENESS_THRESHOLD

    p = kinds.add_parser(
        "liveness", help="liveness on DIR/real and DIR/attack: APCER, BPCER, ACER, EER",
        description="Measure the liveness check (MiniFASNet) on DIR/real/ (live faces) and DIR/attack/ "
                    "(presentation attacks). Each image's best face is judged; an image without a face fails the "
                    "check (a live one is rejected, an attack counts as accepted).")
    p.add_argument("dir", metavar="DIR", help="a folder with real/ and attack/ sub-folders of images")
    p.add_argument("--threshold", type=float, default=LIVENESS_THRESHOLD, metavar="T",
                   help=f"live when the score is at least T (default: the shipped {LIVENESS_THRESHOLD:g})")
    p.add_argument("--apcer", type=float, default=DEFAULT_APCER_TARGET, metavar="X",
                   help=f"also report the threshold for an APCER of at most X, and fit the held-out thresholds "
                        f"with it (default {DEFAULT_APCER_TARGET:g})")
    p.add_argument("--items", action="store_true", help="include every image's score in the JSON")
    add_detector_choice_args(p)
    add_common_args(p)  # --limit N: the first N images of each class
    p.set_defaults(eval_func=_liveness)


def _rates_line(name: str, r: dict[str, object]) -> str:
    def f(x: object) -> str:
        return f"{x:.4f}" if isinstance(x, float) else "-"

    t = r.get("threshold")
    where = f" (threshold {t:.4g})" if isinstance(t, float) else ""
    return (f"{name}{where}: APCER {f(r['apcer'])} ({r['attacks_accepted']}/{r['attacks']} attacks accepted), "
            f"BPCER {f(r['bpcer'])} ({r['real_rejected']}/{r['real']} live rejected), ACER {f(r['acer'])}")


def _liveness(args: argparse.Namespace) -> Outcome:
    from faceapi.evaluation.liveness import evaluate_liveness, liveness_images, plot_liveness, score_images

    if not 0 <= args.threshold <= 1:
        raise OptionsError(f"--threshold must be in [0, 1], got {args.threshold}")
    if not 0 <= args.apcer <= 1:
        raise OptionsError(f"--apcer must be in [0, 1], got {args.apcer}")
    images = liveness_images(args.dir)
    if args.limit is not None:
        images = [im for attack in (False, True) for im in [im for im in images if im[1] == attack][:args.limit]]
    detector = analyze_options(args).detector
    bar = progress_bar(args, len(images))
    try:
        items = score_images(make_analyzer(args), images, detector, lambda done, total: bar.advance())
    finally:
        bar.close()
    report = evaluate_liveness(items, args.threshold, args.apcer, folder=args.dir)
    d = report.to_dict(items=args.items)
    lines = [f"{report.real} live, {report.attacks} attacks; faces missed: {report.missed_real} live, "
             f"{report.missed_attacks} attacks (a miss fails the check)",
             _rates_line("at the threshold", d["at_threshold"]),
             f"EER {report.eer:.4f} (at {report.eer_threshold:.4g})",
             _rates_line(f"for APCER <= {args.apcer:g}", d["at_apcer_target"])]
    if d["held_out"] is not None:
        h = d["held_out"]
        lines.append(_rates_line(f"held out (leave one subject out, {len(h['thresholds'])} subjects)", h)
                     + f"; worst subject's EER {h['eer_max_subject']:.4f}")
    result = types.SimpleNamespace(to_dict=lambda: d)  # the report's JSON, with the items when asked for

    def draw(path: Path) -> None:
        plot_liveness(report, path)

    return result, "\n  ".join(lines), draw
