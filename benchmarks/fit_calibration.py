"""Fit the temperature of the expression net's calibrated probabilities (`calibrated` option) and write
``src/faceapi/data/expression_calibration.json``.

Inputs: the ``.npz`` files of `expression_features.py` (logits per image), one per set, given as
``KIND=FILE`` (e.g. ``wild=fer2013-train.npz posed=ckplus48.npz``). The temperature T minimises the mean
over the sets of each set's negative log-likelihood of ``softmax(logits / T)``: every set weighs the same
whatever its size, so one kind of data (28,709 in-the-wild FER2013 crops) cannot pull T where another
kind (posed faces) is badly served. Dividing logits by one T > 0 never changes which label is largest:
face-api.js's dominant label stays.

Why not FER2013's training split alone: its labels are noisy, and a T fitted there alone (5.6) made the
cleaner posed CK+ set under-confident (ECE 0.077 -> 0.146); see docs/accuracy.md, "Calibration".

It also prints a leave-one-set-out check: for each set, T fitted on the others and the ECE on it, the
figures docs/accuracy.md reports for sets the shipped T was fitted on.

    python benchmarks/fit_calibration.py wild=/tmp/x/fer2013-train.npz posed-crops=/tmp/x/ckplus48.npz \\
        posed-chain=/tmp/x/taiwanese.npz --check fer2013-publictest=/tmp/x/fer2013-publictest.npz --write
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar

from faceapi.evaluation.stats import expected_calibration_error

OUT = Path(__file__).resolve().parents[1] / "src" / "faceapi" / "data" / "expression_calibration.json"

#: Where each set comes from and its terms (written beside the fitted parameters).
SOURCES = {
    "fer2013-train": "FER2013 Training split (Goodfellow et al. 2013, Kaggle 'Challenges in Representation "
                     "Learning'), 28,709 crops, via RecepTahirGunlu/Duygu-Tanima @ 8d429277 train/; research use",
    "ckplus48": "CK+ (Lucey et al. 2010), 927 48x48 crops, via WuJie1010/Facial-Expression-Recognition.Pytorch @ "
                "fefe6653 CK+48/; non-commercial research use",
    "taiwanese": "Taiwanese Facial Expression Image Database (Chinese Journal of Psychology 2013, 55(4):439-454), "
                 "1,223 images, via lai-wei-cheng/b12207073 @ 790c4498; research use",
}


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(-1, keepdims=True)
    return out


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = np.load(path)
    found = d["found"]
    return d["logits"][found, 0].astype(np.float64), d["labels"][found]


def nll(t: float, z: np.ndarray, y: np.ndarray) -> float:
    p = softmax(z / t)
    return float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))


def fit(sets: list[tuple[np.ndarray, np.ndarray]]) -> float:
    r = minimize_scalar(lambda t: float(np.mean([nll(t, z, y) for z, y in sets])), bounds=(0.05, 20.0),
                        method="bounded", options={"xatol": 1e-4})
    return float(r.x)


def ece(t: float, z: np.ndarray, y: np.ndarray) -> float:
    p = softmax(z / t)
    return expected_calibration_error(p.max(-1), p.argmax(-1) == y)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fit", nargs="+", metavar="NAME=FILE.npz", help="sets to fit on (equal weight each)")
    ap.add_argument("--check", nargs="*", default=[], metavar="NAME=FILE.npz", help="sets only checked")
    ap.add_argument("--write", action="store_true", help=f"write {OUT}")
    args = ap.parse_args(argv)
    fit_sets = {k: load(Path(v)) for k, v in (a.split("=", 1) for a in args.fit)}
    check_sets = {k: load(Path(v)) for k, v in (a.split("=", 1) for a in args.check)}
    t = fit(list(fit_sets.values()))
    print(f"T = {t:.4f} (fitted on {', '.join(fit_sets)})")
    rows = {}
    for name, (z, y) in {**fit_sets, **check_sets}.items():
        others = [s for k, s in fit_sets.items() if k != name]
        t_out = fit(others) if name in fit_sets else t
        rows[name] = {"ece_raw": ece(1.0, z, y), "ece_shipped": ece(t, z, y),
                      "held_out_temperature": t_out, "ece_held_out": ece(t_out, z, y)}
        print(f"{name:20s} n={len(y):6d} ECE raw {rows[name]['ece_raw']:.3f}  shipped T {rows[name]['ece_shipped']:.3f}"
              f"  held out (T={t_out:.2f} fitted without it) {rows[name]['ece_held_out']:.3f}")
    if args.write:
        doc = {
            "method": "temperature scaling of the expression net's logits: calibrated = softmax(logits / T); "
                      "one T > 0, so the dominant label never changes",
            "models": {"faceapi": {"temperature": round(t, 4)}},
            "fitted_on": {k: SOURCES.get(k, k) for k in fit_sets},
            "objective": "mean over the sets of each set's negative log-likelihood (every set weighs the same)",
            "script": "benchmarks/fit_calibration.py",
            "terms": "fitted parameters only (no images); the sets' own terms apply: research use",
            "check": rows,
        }
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
