"""Box overlap and the two non-maximum suppressions of face-api.js (spec sections 5.1 and 5.2).

Everything here is plain float64 arithmetic on the values the nets produced, in the same order as the
JavaScript code, so that ties and near-threshold cases are decided exactly as face-api.js decides them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: IoU above which SSD MobileNetV1's NMS suppresses a box (`SsdMobilenetv1.locateFaces`).
SSD_IOU_THRESHOLD = 0.5
#: IoU above which the Tiny Face Detector's NMS suppresses a box (`TinyFaceDetector` config).
TINY_IOU_THRESHOLD = 0.4


def iou_ssd(box_i: Sequence[float], box_j: Sequence[float]) -> float:
    """IoU of two SSD boxes ``[ymin, xmin, ymax, xmax]`` (normalised, unclipped), as face-api.js's SSD NMS.

    Each box is first re-ordered with min/max (so swapped corners still give a proper box); if either
    area is ``<= 0`` the IoU is 0.
    """
    yi0, yi1 = float(min(box_i[0], box_i[2])), float(max(box_i[0], box_i[2]))
    xi0, xi1 = float(min(box_i[1], box_i[3])), float(max(box_i[1], box_i[3]))
    yj0, yj1 = float(min(box_j[0], box_j[2])), float(max(box_j[0], box_j[2]))
    xj0, xj1 = float(min(box_j[1], box_j[3])), float(max(box_j[1], box_j[3]))
    area_i = (yi1 - yi0) * (xi1 - xi0)
    area_j = (yj1 - yj0) * (xj1 - xj0)
    if area_i <= 0 or area_j <= 0:
        return 0.0
    inter = max(min(yi1, yj1) - max(yi0, yj0), 0.0) * max(min(xi1, xj1) - max(xi0, xj0), 0.0)
    return inter / (area_i + area_j - inter)


def nms_ssd(boxes: np.ndarray, scores: Sequence[float] | np.ndarray, max_results: int, min_confidence: float,
            iou_threshold: float = SSD_IOU_THRESHOLD) -> list[int]:
    """SSD MobileNetV1's greedy NMS (``ssdMobilenetv1/nonMaxSuppression.ts``).

    Args:
        boxes: ``[N, 4]`` boxes ``[ymin, xmin, ymax, xmax]`` (normalised, unclipped).
        scores: ``N`` scores.
        max_results: stop once ``min(max_results, N)`` boxes are selected.
        min_confidence: candidates are the boxes with ``score > min_confidence`` (applied before NMS).
        iou_threshold: a candidate is dropped when its IoU with a selected box is ``> iou_threshold``.

    Returns:
        Indices of the selected boxes in selection order (descending score; ties keep index order).
    """
    box_rows = np.asarray(boxes, dtype=np.float64)
    score_arr = np.asarray(scores, dtype=np.float64)
    output_size = min(max_results, len(score_arr))
    above = np.nonzero(score_arr > min_confidence)[0]
    # descending score; a stable sort of the negated scores keeps equal scores in index order
    candidates: list[int] = above[np.argsort(-score_arr[above], kind="stable")].tolist()
    rows = {c: box_rows[c].tolist() for c in candidates}
    selected: list[int] = []
    for c in candidates:
        if len(selected) >= output_size:
            break
        # compare with the selected boxes from the most recently selected backwards
        if all(iou_ssd(rows[c], rows[s]) <= iou_threshold for s in reversed(selected)):
            selected.append(c)
    return selected


def iou_xywh(box1: Sequence[float], box2: Sequence[float]) -> float:
    """IoU of two ``(x, y, width, height)`` boxes as face-api.js's ``ops/iou.ts`` computes it."""
    x1, y1, w1, h1 = (float(v) for v in box1)
    x2, y2, w2, h2 = (float(v) for v in box2)
    width = max(0.0, min(x1 + w1, x2 + w2) - max(x1, x2))
    height = max(0.0, min(y1 + h1, y2 + h2) - max(y1, y2))
    inter = width * height
    union = w1 * h1 + w2 * h2 - inter
    if union == 0:
        return float("nan")  # JavaScript's 0 / 0; NaN <= threshold is false, so such a box is removed
    return inter / union


def nms_tiny(boxes: Sequence[Sequence[float]], scores: Sequence[float],
             iou_threshold: float = TINY_IOU_THRESHOLD) -> list[int]:
    """The Tiny Face Detector's NMS (``ops/nonMaxSuppression.ts``, IoU mode).

    Indices are sorted by score ascending (stable); the last one (highest score, among equal scores the
    later candidate) is popped and kept, and every remaining box with IoU ``> iou_threshold`` against it
    is removed; repeat until none are left. No maximum count.

    Args:
        boxes: ``(x, y, width, height)`` boxes; face-api.js passes relative boxes times the input size.
        scores: one score per box.

    Returns:
        Indices of the kept boxes in pop order.
    """
    rects = [tuple(float(v) for v in b) for b in boxes]
    values = [float(s) for s in scores]
    order = sorted(range(len(values)), key=lambda i: values[i])  # stable ascending
    pick: list[int] = []
    while order:
        current = order.pop()
        pick.append(current)
        order = [i for i in order if iou_xywh(rects[current], rects[i]) <= iou_threshold]
    return pick
