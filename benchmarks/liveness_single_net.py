"""Each MiniFASNet alone against upstream's pair, on a liveness set, with `faceapi eval liveness`'s own rules
(`faceapi.evaluation.liveness`: the best SSD face per image, a missed face fails the check, the shipped
threshold, the EER, leave-one-subject-out): would one net (half the cost) do?

    PYTHONPATH=src .venv/bin/python benchmarks/liveness_single_net.py [../shared/eval/liveness/nuaa-dev]

Figures in docs/liveness.md ("Cost"). Both nets are scored on the same crops; the pair's figures are those
of `faceapi eval liveness` on the same set.
"""

from __future__ import annotations

import sys
from pathlib import Path

from faceapi.engine.runtime import RuntimeConfig
from faceapi.evaluation.liveness import LivenessItem, evaluate_liveness, liveness_images, subject_of
from faceapi.image import load_image
from faceapi.liveness import LIVENESS_THRESHOLD
from faceapi.nets import minifasnet
from faceapi.pipeline import FaceAnalyzer

DEFAULT = Path(__file__).resolve().parents[2] / "shared/eval/liveness/nuaa-dev"


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    analyzer = FaceAnalyzer(runtime=RuntimeConfig(threads=1))
    nets = {s.name: analyzer.net(s.name) for s in minifasnet.SPECS}
    items: dict[str, list[LivenessItem]] = {name: [] for name in [*nets, "both"]}
    for path, attack in liveness_images(folder):
        image = load_image(str(path))
        faces = analyzer.analyze(image).faces
        scores: dict[str, float | None] = dict.fromkeys(items)
        if faces:
            box = max(faces, key=lambda f: f.detection.score).detection.box
            probs = {name: net.predict_faces(image, [box]) for name, net in nets.items()}  # type: ignore[attr-defined]
            scores = {name: float(p[0, minifasnet.LIVE_CLASS]) for name, p in probs.items()}
            scores["both"] = float(minifasnet.liveness_score(list(probs.values()))[0])
        for name in items:
            items[name].append(LivenessItem(str(path), subject_of(path), attack, scores[name]))
    print(f"{folder}: threshold {LIVENESS_THRESHOLD}")
    for name, its in items.items():
        r = evaluate_liveness(its, LIVENESS_THRESHOLD)
        held = r.held_out
        line = (f"{name:16s} EER {r.eer:.4f}  at the threshold APCER {r.at_threshold.apcer:.4f} "
                f"BPCER {r.at_threshold.bpcer:.4f}")
        if held is not None:
            line += f"  held out APCER {held.rates.apcer:.4f} BPCER {held.rates.bpcer:.4f}"
        print(line)


if __name__ == "__main__":
    main()
