"""Extract what the expression models are fitted and measured on: per image of a labelled ImageFolder
(``DIR/<label>/<image>``), the expression net's logits and 256-d pooled features, of the crop and of its
mirror image, and (full chain) the 68 landmarks in the crop's frame. Saved as one ``.npz`` per set, for
`fit_calibration.py` and `fit_expression_balanced.py`.

    python benchmarks/expression_features.py DIR OUT.npz [--crop] [--limit N]

``--crop``: each image is the face crop (48x48 sets); otherwise the full chain runs (SSD, 68 landmarks,
the aligned box) and the largest face counts; images without a face are recorded with ``found`` False.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from faceapi.evaluation.crops import face_crops
from faceapi.evaluation.data import image_folder
from faceapi.nets.face_expression_features import FaceExpressionFeatureNet
from faceapi.pipeline import FaceAnalyzer
from faceapi.results import EXPRESSION_LABELS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--crop", action="store_true")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)
    items = image_folder(args.dir, limit=args.limit)
    analyzer = FaceAnalyzer()
    net = FaceExpressionFeatureNet()
    n = len(items)
    logits = np.zeros((n, 2, 7), np.float32)
    feats = np.zeros((n, 2, 256), np.float32)
    landmarks = np.full((n, 68, 2), np.nan, np.float32)
    found = np.zeros(n, bool)
    t0 = time.perf_counter()
    for start in range(0, n, args.batch):
        chunk = items[start:start + args.batch]
        crops = face_crops(analyzer, [p for p, _ in chunk], crop=args.crop)
        ok = [(i, c) for i, c in enumerate(crops) if c.crop is not None]
        if ok:
            imgs = [c.crop for _, c in ok]
            assert all(im is not None for im in imgs)
            batch = net.preprocess([im for im in imgs if im is not None])
            lg, ft = net.logits_and_features(batch)
            lgf, ftf = net.logits_and_features(batch[:, :, ::-1])
            for k, (i, c) in enumerate(ok):
                j = start + i
                found[j] = True
                logits[j] = (lg[k], lgf[k])
                feats[j] = (ft[k], ftf[k])
                if c.landmarks is not None:
                    landmarks[j] = c.landmarks
        print(f"\r{min(start + args.batch, n)}/{n} {time.perf_counter() - t0:.0f}s", end="", file=sys.stderr)
    print(file=sys.stderr)
    labels = np.array([EXPRESSION_LABELS.index(lab) for _, lab in items])
    np.savez_compressed(args.out, labels=labels, logits=logits, features=feats, landmarks=landmarks, found=found,
                        paths=np.array([str(p.relative_to(args.dir)) for p, _ in items]))
    print(f"{args.out}: {n} images, {found.sum()} with a face", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
