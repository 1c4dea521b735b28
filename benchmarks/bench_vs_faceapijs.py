"""Side by side with face-api.js on this machine: every net and the chain, one table of speed-ups.

face-api.js runs in headless Chromium on its fastest CPU backend (``@vladmandic/face-api`` 1.7.15, tfjs
wasm with SIMD and threads, the same weights), timed by the measuring tool in
``shared/tools/faceapijs-bench``; we run in a child process per thread-pool mode (``--pools``: ``own``,
each net's own pool spinning at most 20 µs, the default; ``nospin``, own pools that never spin,
``FACEAPI_SPIN_US=0``; ``shared``, one pool with onnxruntime's long spin, ``FACEAPI_SHARED_POOL=1``)
with every core. Both sides time the same work on bbt4.jpg: the detectors on the whole image (``detectAllFaces``:
pre-processing, graph, post-processing), the face nets on one face crop (face 0, the crop kind face-api.js
uses), and the chain tiny 416 + landmarks + expressions on all faces. We also give the face nets at batch 6
(per face). The sides take turns (``--rounds``), so a change in the machine's load hits both; each figure
is the median over rounds of the per-round medians.

Set-up, once (npm registry and Chromium needed; the folder is outside the repository)::

    cp -r ../shared/tools/faceapijs-bench /tmp/fjb && (cd /tmp/fjb && npm install)

Run: ``python benchmarks/bench_vs_faceapijs.py [--fjb /tmp/fjb] [--rounds 5] [--reps 15] [--pools own shared]
[--save out.json]``. The issue's targets: every net >= 6x at batch 1, the chain >= 9x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench_common import POOLS, bbt4, load_crops, load_net, shared_dir, timed

from faceapi import AnalyzeOptions, FaceAnalyzer, TinyFaceDetectorOptions
from faceapi.options import SsdMobilenetv1Options

#: (label, face-api.js result name, its inputSize, target speed-up)
ROWS = [
    ("SSD MobileNetV1 (512)", "ssd_mobilenetv1 detectAllFaces", 512, 6),
    ("Tiny Face Detector 416", "tiny_face_detector detectAllFaces", 416, 6),
    ("Tiny Face Detector 224", "tiny_face_detector detectAllFaces", 224, 6),
    ("68 landmarks", "face_landmark_68 detectLandmarks", 112, 6),
    ("68 landmarks (tiny)", "face_landmark_68_tiny detectLandmarks", 112, 6),
    ("expressions", "face_expression predictExpressions", 112, 6),
    ("descriptor", "face_recognition computeFaceDescriptor", 150, 6),
    ("age/gender", "age_gender predictAgeAndGender", 112, 6),
    ("chain tiny 416 + landmarks + expressions (all faces)",
     "pipeline tiny416+landmarks68+expressions (all faces)", 416, 9),
]


def our_jobs() -> dict[str, tuple[Callable[[], object], Callable[[], object] | None]]:
    """label -> (batch 1 job, batch 6 job or None); the nets are loaded here, outside the timings."""
    image = bbt4()
    det, aligned, dlib = load_crops("detection"), load_crops("aligned"), load_crops("dlib")
    nets = {n: load_net(n) for n in ("ssd_mobilenetv1", "tiny_face_detector", "face_landmark_68",
                                     "face_landmark_68_tiny", "face_expression", "age_gender", "face_recognition")}
    analyzer = FaceAnalyzer()
    analyzer.load(["tiny_face_detector", "face_landmark_68", "face_expression"])
    chain = AnalyzeOptions(detector=TinyFaceDetectorOptions(input_size=416), landmarks="full", expressions=True)
    ssd_opts = SsdMobilenetv1Options(min_confidence=0.5, max_results=100)

    def face(name: str, crops: list) -> tuple[Callable[[], object], Callable[[], object]]:
        net = nets[name]
        return (lambda: net.predict(crops[:1])), (lambda: net.predict(crops))

    return {
        ROWS[0][0]: (lambda: nets["ssd_mobilenetv1"].detect(image, ssd_opts), None),
        ROWS[1][0]: (lambda: nets["tiny_face_detector"].detect(image, TinyFaceDetectorOptions(input_size=416)), None),
        ROWS[2][0]: (lambda: nets["tiny_face_detector"].detect(image, TinyFaceDetectorOptions(input_size=224)), None),
        ROWS[3][0]: face("face_landmark_68", det),
        ROWS[4][0]: face("face_landmark_68_tiny", det),
        ROWS[5][0]: face("face_expression", aligned),
        ROWS[6][0]: face("face_recognition", dlib),
        ROWS[7][0]: face("age_gender", aligned),
        ROWS[8][0]: (lambda: analyzer.analyze(image, chain), None),
    }


def time_ours(jobs: dict, reps: int) -> dict[str, tuple[float, float | None]]:
    """Median ms per job (batch 1, and per face at batch 6), each job's calls one after another as
    face-api.js's tool times its nets (calling net after net instead measured every net 20-50 % slower on
    both pool kinds: each call then starts with another net's weights in the caches)."""
    out: dict[str, tuple[float, float | None]] = {}
    for label, (one, six) in jobs.items():
        n = max(reps // 3, 3) if label.startswith("SSD") else reps
        b1 = timed(one, n)[0]
        b6 = timed(six, max(n // 3, 3))[0] / 6 if six else None
        out[label] = (b1, b6)
    return out


def time_ours_in_child(pool: str, reps: int) -> dict[str, tuple[float, float | None]]:
    """Our timings in a fresh process (onnxruntime sizes a shared pool once per process)."""
    env = {**os.environ, **POOLS[pool][1]}
    done = subprocess.run([sys.executable, __file__, "--ours-only", "--reps", str(reps)], capture_output=True,
                          text=True, env=env, timeout=1800)
    if done.returncode != 0:
        sys.exit(f"our timing ({pool} pools) failed:\n{done.stderr[-3000:]}")
    return {k: (v[0], v[1]) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def time_faceapijs(fjb: Path, reps: int) -> dict[str, float]:
    """face-api.js's medians (ms) by ROWS label, from one run of the tool's time.mjs."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = ["node", "time.mjs", str(shared_dir() / "images"), str(out), "--config", "vladmandic:wasm",
               "--images", "bbt4.jpg", "--reps", str(reps), "--warmup", "2"]
        done = subprocess.run(cmd, cwd=fjb, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0 or not out.is_file():
            sys.exit(f"face-api.js timing failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        run = json.loads(out.read_text())["runs"][-1]
    if "error" in run:
        sys.exit(f"face-api.js timing failed: {run['error']}")
    results = {(r["net"], r["inputSize"]): r["median"] for r in run["images"][0]["results"]}
    return {label: results[(net, size)] for label, net, size, _ in ROWS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fjb", type=Path, default=Path(os.environ.get("FJB", "/tmp/fjb")),
                        help="the set-up copy of shared/tools/faceapijs-bench (npm installed)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--pools", nargs="+", choices=list(POOLS), default=["own", "shared"])
    parser.add_argument("--save", type=Path)
    parser.add_argument("--ours-only", action="store_true", help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args(argv)
    if args.ours_only:
        print(json.dumps(time_ours(our_jobs(), args.reps)))
        return
    if not (args.fjb / "node_modules" / "@vladmandic" / "face-api").is_dir():
        sys.exit(f"{args.fjb} is not set up: cp -r SHARED/tools/faceapijs-bench {args.fjb} && "
                 f"(cd {args.fjb} && npm install)")
    ours: dict[str, list[dict[str, tuple[float, float | None]]]] = {p: [] for p in args.pools}
    theirs: list[dict[str, float]] = []
    for r in range(args.rounds):
        for pool in args.pools:
            ours[pool].append(time_ours_in_child(pool, args.reps))
        theirs.append(time_faceapijs(args.fjb, args.reps))
        print(f"round {r + 1}/{args.rounds} done (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)

    print(f"bbt4.jpg, {args.rounds} rounds taking turns, medians of per-round medians (ms); "
          f"load average at the end {os.getloadavg()[0]:.1f}; speed-up = face-api.js / ours\n")
    head = "".join(f" ours ({POOLS[p][0]}), batch 1 | speed-up "
                   "| batch 6 per face | speed-up |" for p in args.pools)
    print(f"| | face-api.js wasm |{head} target |")
    print("|---|---|" + "---|---|---|---|" * len(args.pools) + "---|")
    rows = []
    for label, _, _, target in ROWS:
        fjs = statistics.median(t[label] for t in theirs)
        cells, row = "", {"label": label, "faceapijs_ms": fjs, "target": target}
        for pool in args.pools:
            b1 = statistics.median(o[label][0] for o in ours[pool])
            six = [v for o in ours[pool] if (v := o[label][1]) is not None]
            b6 = statistics.median(six) if six else None
            mark = "" if fjs / b1 >= target else " (below)"
            cells += f" {b1:.2f} | {fjs / b1:.1f}x{mark} |" + (f" {b6:.2f} | {fjs / b6:.1f}x |" if b6 else " | |")
            row[pool] = {"b1_ms": b1, "b6_per_face_ms": b6, "speedup_b1": fjs / b1}
        print(f"| {label} | {fjs:.1f} |{cells} {target}x |")
        rows.append(row)
    if args.save:
        args.save.write_text(json.dumps({"rows": rows, "ours": ours, "theirs": theirs}, indent=1))


if __name__ == "__main__":
    main()
