"""int8 study: each net quantised statically (QDQ) against float, for speed and accuracy on the shared photos.

Quantisation: ``onnxruntime.quantization.quantize_static``, QDQ format, uint8 activations and int8 weights
(per channel), MinMax calibration on the graph inputs of half of the shared photos (every other one, sorted
by name); accuracy is measured on the other half (held out) and, for recognition, on all 150x150 photos.

Accuracy against float (not against face-api.js: this is int8's own loss):
* expressions: top-1 agreement, max and mean |probability difference|;
* landmarks (full, tiny): max and mean error in crop pixels;
* age/gender: max and mean age difference (years), gender agreement;
* descriptor: distance of each int8 descriptor to its float descriptor, and how many same/different-person
  decisions at 0.6 change over all pairs of the 150x150 photos of the eight people;
* detectors: recall of the float detections (IoU >= 0.5), mean IoU of the matches, extra detections.

Speed: the graph alone (pre-processing excluded), float and int8 alternating call by call, batch 1 and 6:
median ms, and the speed-up as the median of the per-pair ratios.
Usage: ``python benchmarks/bench_int8.py [--nets ...] [--reps N] [--save FILE.json] [--calibrate]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from bench_common import MODULES, NETS, graph_input, shared_dir

from faceapi.engine.graph_cache import cached_graph
from faceapi.engine.quantize import INT8_MODELS, calibrate, calibration_path, quantize
from faceapi.engine.runtime import RuntimeConfig, create_session
from faceapi.image import load_image
from faceapi.models import load_weights
from faceapi.nets import ssd_mobilenetv1, tiny_face_detector
from faceapi.options import TinyFaceDetectorOptions

PEOPLE = ("amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart")


# -- data -------------------------------------------------------------------------------------------
def photos() -> list[Path]:
    return sorted(p for p in (shared_dir() / "images").iterdir() if p.suffix in (".jpg", ".png"))


def portraits() -> list[Path]:
    """The 150x150 photos of the eight people (amy1.png, ...)."""
    return [p for p in photos() if p.stem.rstrip("0123456789") in PEOPLE]


def face_crops(kind: str) -> list[tuple[str, np.ndarray]]:
    """Every face crop of that kind face-api.js's reference saved (faceN_KIND.png), plus the portraits."""
    from PIL import Image

    crops = []
    for folder in sorted((shared_dir() / "reference").iterdir()):
        for path in sorted(folder.glob(f"face*_{kind}.png")):
            crops.append((f"{folder.name}/{path.stem}", np.asarray(Image.open(path).convert("RGB"))))
    crops += [(p.stem, load_image(p)) for p in portraits()]
    return crops


def split(items: list[Any]) -> tuple[list[Any], list[Any]]:
    """(calibration, held out): every other item."""
    return items[0::2], items[1::2]


def detector_inputs(name: str, images: list[np.ndarray]) -> list[np.ndarray]:
    if name == "ssd_mobilenetv1":
        return [ssd_mobilenetv1.preprocess(im)[0] for im in images]
    return [tiny_face_detector.preprocess(im, 416)[0] for im in images]


def calibration_inputs(name: str) -> list[np.ndarray]:
    kind = NETS[name][1]
    if kind == "image":
        return detector_inputs(name, [load_image(p) for p in split(photos())[0]])
    return [MODULES[name].preprocess([crop]) for _, crop in split(face_crops(kind))[0]]


# -- quantisation -----------------------------------------------------------------------------------
def quantized(name: str, fmodel: bytes, ranges: Path) -> bytes:
    """Calibrate on the calibration half of the photos into `ranges`, then quantise as the engine does."""
    spec = NETS[name][0]
    calibrate(spec.model, spec.graph_version, fmodel, calibration_inputs(name), cache=ranges)
    return bytes(quantize(spec.model, spec.graph_version, fmodel, cache=ranges).SerializeToString())


def float_model(name: str) -> bytes:
    spec = NETS[name][0]
    return cached_graph(spec.model, load_weights(spec.model), spec.graph_version, spec.build_graph)


# -- speed ------------------------------------------------------------------------------------------
def speed(sessions: dict[str, Any], batch: np.ndarray, calls: int) -> dict[str, float]:
    """Median ms per run of each session on `batch`; the sessions alternate call by call, so a change in
    the machine's load hits both alike. Also the median of the per-pair ratios ("ratio")."""
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for s in sessions.values():
        s.run(None, {"input": batch})
    for _ in range(calls):
        for key, s in sessions.items():
            t0 = time.perf_counter()
            s.run(None, {"input": batch})
            times[key].append((time.perf_counter() - t0) * 1000)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["ratio"] = statistics.median(f / q for f, q in zip(times["float"], times["int8"]))
    return out


# -- accuracy ---------------------------------------------------------------------------------------
def _iou(a: Any, b: Any) -> float:
    ax2, ay2, bx2, by2 = a.x + a.width, a.y + a.height, b.x + b.width, b.y + b.height
    iw, ih = max(0.0, min(ax2, bx2) - max(a.x, b.x)), max(0.0, min(ay2, by2) - max(a.y, b.y))
    inter = iw * ih
    return inter / (a.width * a.height + b.width * b.height - inter)


def accuracy(name: str, fnet: Any, qnet: Any) -> dict[str, Any]:
    kind = NETS[name][1]
    if kind == "image":
        images = [load_image(p) for p in split(photos())[1]]
        if name == "ssd_mobilenetv1":
            run = lambda net, im: net.detect(im)  # noqa: E731
        else:
            run = lambda net, im: net.detect(im, TinyFaceDetectorOptions(input_size=416))  # noqa: E731
        found = matched = extra = 0
        ious: list[float] = []
        dscore: list[float] = []
        for im in images:
            ref, got = run(fnet, im), run(qnet, im)
            found += len(ref)
            used: set[int] = set()
            for r in ref:
                best = max(((_iou(r.box, g.box), i) for i, g in enumerate(got) if i not in used), default=(0.0, -1))
                if best[0] >= 0.5:
                    matched += 1
                    used.add(best[1])
                    ious.append(best[0])
                    dscore.append(abs(r.score - got[best[1]].score))
            extra += len(got) - len(used)
        return {"images": len(images), "float faces": found, "recall": matched / max(found, 1),
                "mean IoU": float(np.mean(ious)) if ious else 0.0,
                "min IoU": float(np.min(ious)) if ious else 0.0,
                "max |dscore|": float(np.max(dscore)) if dscore else 0.0, "extra": extra}
    crops = [c for _, c in split(face_crops(kind))[1]]
    if name in ("face_landmark_68", "face_landmark_68_tiny"):
        err = np.concatenate([np.linalg.norm(a - b, axis=1) for a, b in zip(fnet.predict(crops), qnet.predict(crops))])
        return {"crops": len(crops), "max px": float(err.max()), "mean px": float(err.mean())}
    if name == "face_expression":
        f = np.array([e.probabilities for e in fnet.predict(crops)])
        q = np.array([e.probabilities for e in qnet.predict(crops)])
        return {"crops": len(crops), "top-1 agreement": float(np.mean(f.argmax(1) == q.argmax(1))),
                "max |dp|": float(np.abs(f - q).max()), "mean |dp|": float(np.abs(f - q).mean())}
    if name == "age_gender":
        f, q = fnet.predict(crops), qnet.predict(crops)
        dage = np.array([abs(a.age - b.age) for a, b in zip(f, q)])
        return {"crops": len(crops), "max age diff": float(dage.max()), "mean age diff": float(dage.mean()),
                "gender agreement": float(np.mean([a.gender == b.gender for a, b in zip(f, q)]))}
    # descriptor: the 150x150 portraits (all), pairs decided at 0.6
    people = [load_image(p) for p in portraits()]
    f, q = np.array(fnet.predict(people)), np.array(qnet.predict(people))
    to_float = np.linalg.norm(f - q, axis=1)
    flips = total = 0
    for i, j in itertools.combinations(range(len(people)), 2):
        total += 1
        flips += (np.linalg.norm(f[i] - f[j]) < 0.6) != (np.linalg.norm(q[i] - q[j]) < 0.6)
    return {"photos": len(people), "max dist to float": float(to_float.max()),
            "mean dist to float": float(to_float.mean()), "pairs": total, "decisions changed": int(flips)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=list(NETS))
    parser.add_argument("--reps", type=int, default=60, help="calls per session and batch (SSD: a quarter)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--save", type=Path)
    parser.add_argument("--calibrate", action="store_true",
                        help="store the ranges of the nets in INT8_MODELS in the package (engine/int8/)")
    args = parser.parse_args(argv)
    # Calibrate first: the calibrator builds onnxruntime sessions of its own, which onnxruntime allows
    # only before a shared thread pool exists in the process.
    models = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.nets:
            spec = NETS[name][0]
            fmodel = float_model(name)
            ranges = Path(tmp) / f"{name}.json"
            if args.calibrate and spec.model in INT8_MODELS:
                ranges = calibration_path(spec.model, spec.graph_version)
            t0 = time.perf_counter()
            models[name] = (fmodel, quantized(name, fmodel, ranges))
            print(f"{name}: calibrated and quantised in {time.perf_counter() - t0:.1f} s ({ranges.name})", flush=True)
    runtime = RuntimeConfig(threads=args.threads)
    rows = []
    for name in args.nets:
        fmodel, qmodel = models[name]
        fnet = NETS[name][0].net_class(None, runtime)
        qnet = NETS[name][0].net_class(None, runtime)
        qnet.session = create_session(qmodel, runtime)
        row: dict[str, Any] = {"net": name}
        for batch in (1, 6):
            calls = args.reps if name != "ssd_mobilenetv1" else max(args.reps // 4, 5)
            ms = speed({"float": fnet.session, "int8": qnet.session}, graph_input(name, batch), calls)
            row[f"b{batch}"] = ms
            row[f"b{batch} speed-up"] = ms["ratio"]
        row["accuracy"] = accuracy(name, fnet, qnet)
        row["int8 ops"] = sorted({n.op_type for n in onnx.load_from_string(qmodel).graph.node})
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print("| net | batch 1 float / int8 ms | speed-up | batch 6 float / int8 ms | speed-up | accuracy vs float |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        acc = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in r["accuracy"].items())
        print(f"| {r['net']} | {r['b1']['float']:.2f} / {r['b1']['int8']:.2f} | {r['b1 speed-up']:.2f}x "
              f"| {r['b6']['float']:.2f} / {r['b6']['int8']:.2f} | {r['b6 speed-up']:.2f}x | {acc} |")
    if args.save:
        args.save.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
