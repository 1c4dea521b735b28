"""Fit the temperature of the expression models' calibrated probabilities (`calibrated` option) and write
``src/faceapi/data/expression_calibration.json``; print every method compared leave-one-set-out.

Inputs: the ``.npz`` files of `expression_features.py` (logits per image), one per set, given as
``NAME=FILE`` (e.g. ``fer2013-train=/tmp/x/fer2013-train.npz``). A model other than face-api.js's net
(``--model balanced``) is scored on its own logits, computed from the same files by
`faceapi.expression_models` (`logits_from_outputs`).

Methods (each keeps the dominant label: it divides the logits by a T > 0):

- ``nll``: one T minimising the mean over the fit sets of each set's negative log-likelihood (every set
  weighs the same whatever its size).
- ``adaptive``: an input-dependent ``T(x) = exp(w . g(x) + b)``, g from the logits' own shape (log top-two
  margin and entropy: shift-invariant, so the tracker's smoothed probabilities, ``log p`` = logits less a
  constant, give the same T), fitted by the same NLL. Research only (never shipped: see the table).
- ``least``: the smallest T at which every fit set's ECE is at most ``--target`` (or, where no T gets
  there, the T with the lowest worst ECE). Why: FER2013's noisy labels make the NLL explain wrong labels
  with ever flatter probabilities (its NLL optimum T = 5.6 over-tempers clean faces: CK+ ECE 0.08 -> 0.15),
  while tempering no more than the fit sets need leaves clean faces confident.

The leave-one-set-out check: for each fit set, the method refitted without it and the ECE (15 bins) on it;
``--check`` sets (never fitted on) use the method fitted on all the fit sets.

    python benchmarks/fit_calibration.py fer2013-train=/tmp/x/fer2013-train.npz ckplus48=/tmp/x/ckplus48.npz \\
        taiwanese=/tmp/x/taiwanese.npz --check fer2013-publictest=/tmp/x/fer2013-publictest.npz \\
        --method least --write
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from faceapi import expression_models
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
METHODS = ("nll", "adaptive", "least")
#: the least-T rule's default target: the issue's bar (0.10) less a margin for data unlike the fit sets
TARGET = 0.07

Set = tuple[np.ndarray, np.ndarray]  # logits [N, 7], labels [N]
Calibrator = Callable[[np.ndarray], np.ndarray]  # logits -> per-face temperatures [N]


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    out: np.ndarray = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return out


def load(path: Path, model: str) -> Set:
    d = np.load(path)
    found = d["found"]
    if model == expression_models.DEFAULT_MODEL:
        z = d["logits"][found, 0].astype(np.float64)
    else:
        z = expression_models.logits_from_outputs(model, d["logits"][found]).astype(np.float64)
    return z, d["labels"][found]


def nll(t: np.ndarray | float, z: np.ndarray, y: np.ndarray) -> float:
    lp = log_softmax(z / np.reshape(t, (-1, 1)))
    return float(-np.mean(lp[np.arange(len(y)), y]))


def ece(t: np.ndarray | float, z: np.ndarray, y: np.ndarray) -> float:
    p = np.exp(log_softmax(z / np.reshape(t, (-1, 1))))
    return expected_calibration_error(p.max(-1), p.argmax(-1) == y)


def shape_features(z: np.ndarray) -> np.ndarray:
    """g(x) of the adaptive method: log(1 + top-two margin) and the entropy, both unchanged by a shift."""
    lp = log_softmax(z)
    top = np.sort(z, -1)
    margin = np.minimum(top[:, -1] - top[:, -2], 50.0)
    return np.stack([np.log1p(margin), -(np.exp(lp) * lp).sum(-1)], -1)


def fit_nll(sets: list[Set]) -> Calibrator:
    r = minimize_scalar(lambda t: float(np.mean([nll(t, z, y) for z, y in sets])), bounds=(0.05, 20.0),
                        method="bounded", options={"xatol": 1e-4})
    t = float(r.x)
    return lambda z: np.full(len(z), t)


def fit_adaptive(sets: list[Set]) -> Calibrator:
    g_all = np.concatenate([shape_features(z) for z, _ in sets])
    mu, sd = g_all.mean(0), g_all.std(0) + 1e-9

    def temps(theta: np.ndarray, z: np.ndarray) -> np.ndarray:
        return np.asarray(np.exp((shape_features(z) - mu) / sd @ theta[:-1] + theta[-1]))

    def objective(theta: np.ndarray) -> float:
        return float(np.mean([nll(temps(theta, z), z, y) for z, y in sets]) + 1e-3 * np.sum(theta[:-1] ** 2))

    theta = minimize(objective, np.r_[0.0, 0.0, np.log(4.0)], method="L-BFGS-B").x
    return lambda z: temps(theta, z)


def fit_least(sets: list[Set], target: float = TARGET) -> Calibrator:
    grid = np.round(np.arange(1.0, 10.0001, 0.01), 2)
    worst = np.array([max(ece(t, z, y) for z, y in sets) for t in grid])
    ok = np.flatnonzero(worst <= target)
    t = float(grid[ok[0]] if ok.size else grid[int(np.argmin(worst))])
    return lambda z: np.full(len(z), t)


def fitter(method: str, target: float) -> Callable[[list[Set]], Calibrator]:
    if method == "nll":
        return fit_nll
    if method == "adaptive":
        return fit_adaptive
    return lambda sets: fit_least(sets, target)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fit", nargs="+", metavar="NAME=FILE.npz", help="sets to fit on")
    ap.add_argument("--check", nargs="*", default=[], metavar="NAME=FILE.npz", help="sets only checked")
    ap.add_argument("--model", default=expression_models.DEFAULT_MODEL, choices=expression_models.names())
    ap.add_argument("--method", default="least", choices=METHODS, help="the method written (all are compared)")
    ap.add_argument("--target", type=float, default=TARGET, help=f"the least-T rule's ECE target ({TARGET})")
    ap.add_argument("--write", action="store_true", help=f"write the model's entry into {OUT}")
    args = ap.parse_args(argv)
    fit_sets = {k: load(Path(v), args.model) for k, v in (a.split("=", 1) for a in args.fit)}
    check_sets = {k: load(Path(v), args.model) for k, v in (a.split("=", 1) for a in args.check)}
    everything = {**fit_sets, **check_sets}
    table: dict[str, dict[str, dict[str, float]]] = {}
    for method in METHODS:
        fit = fitter(method, args.target)
        on_all = fit(list(fit_sets.values()))
        rows = {}
        for name, (z, y) in everything.items():
            held = fit([s for k, s in fit_sets.items() if k != name]) if name in fit_sets else on_all
            rows[name] = {"ece_raw": ece(1.0, z, y), "ece_shipped": ece(on_all(z), z, y),
                          "ece_held_out": ece(held(z), z, y), "held_out_temperature": float(np.mean(held(z)))}
        table[method] = rows
        print(f"{method:9s} " + "  ".join(f"{k} raw {r['ece_raw']:.3f} held out {r['ece_held_out']:.3f} "
                                        f"(mean T {r['held_out_temperature']:.2f})" for k, r in rows.items()))
    t = float(fitter(args.method, args.target)(list(fit_sets.values()))(np.zeros((1, 7)))[0])
    print(f"{args.method}: T = {t:.4f} (fitted on {', '.join(fit_sets)})")
    if args.write:
        if args.method == "adaptive":
            raise SystemExit("the adaptive method is research only (it did no better held out); not written")
        models = json.loads(OUT.read_text()).get("models", {}) if OUT.exists() else {}
        doc = {
            "method": "temperature scaling of each model's logits: calibrated = softmax(logits / T); one T > 0 "
                      "per model, so the dominant label never changes",
            "script": "benchmarks/fit_calibration.py",
            "terms": "fitted parameters only (no images); the sets' own terms apply: research use",
            "models": {k: v for k, v in models.items() if isinstance(v, dict) and "rule" in v},
        }
        doc["models"][args.model] = {
            "temperature": round(t, 4),
            "rule": ("the smallest T at which every fit set's ECE (15 bins) is at most "
                     f"{args.target}" if args.method == "least" else
                     "the mean over the fit sets of each set's NLL (every set weighs the same)"),
            "fitted_on": {k: SOURCES.get(k, k) for k in fit_sets},
            "check": table[args.method],
        }
        OUT.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.model} into {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
