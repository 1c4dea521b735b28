"""How many times each net runs per tracked frame: the tracker's passes counted at the nets' `forward`.

Two clips of 640x480 noisy JPEG frames (sigma 6, quality 80 via `faceapi.tracking.clip.noisy_clip`):
five people in turn with hard cuts (4 frames each, then the first one again; `noisy_clip` puts them at the
frame's left edge), and a face
panning 20 px a frame (faster than the motion prediction expects: regions are re-centred). Tiny 416 +
68 landmarks + expressions + age/gender. Prints a markdown table: frames, detector runs, and net runs.

    .venv/bin/python benchmarks/bench_tracker_passes.py
    PYTHONPATH=/path/to/other/src .venv/bin/python benchmarks/bench_tracker_passes.py   # another version
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer
from faceapi.tracking import FaceTracker
from faceapi.tracking.clip import noisy_clip

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "images"
PEOPLE = ("howard1.png", "raj1.png", "angry_cropped.jpg", "sheldon1.png", "penny2.png", "howard1.png")
NETS = ("tiny_face_detector", "face_landmark_68", "face_expression", "age_gender")


def main() -> int:
    analyzer = FaceAnalyzer()
    options = AnalyzeOptions.from_dict({"detector": "tiny", "input_size": 416, "min_score": 0.5, "landmarks": "full",
                                        "expressions": True, "age_gender": True})
    calls: Counter[str] = Counter()
    for name in NETS:
        net = analyzer.net(name)
        forward = net.forward

        def counted(batch: np.ndarray, forward=forward, name=name) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
            calls[name] += 1
            out: list[np.ndarray] = forward(batch)
            return out

        net.forward = counted  # type: ignore[method-assign]
    people = [f for p in PEOPLE for f in noisy_clip(SHARED / p, width=340, still=4, pan=0, seed=len(p)).frames]
    fast = list(noisy_clip(SHARED / "happy.jpg", width=300, still=2, pan=16, step=20).frames)
    print("| clip | frames | " + " | ".join(f"{n} runs" for n in NETS) + " |")
    print("|:---|---:|" + "---:|" * len(NETS))
    for label, frames in (("five people, hard cuts", people), ("one face panning 20 px/frame", fast)):
        calls.clear()
        tracker = FaceTracker(analyzer, options)
        for k, frame in enumerate(frames):
            tracker.update(frame, k / 30)
        print(f"| {label} | {len(frames)} | " + " | ".join(str(calls[n]) for n in NETS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
