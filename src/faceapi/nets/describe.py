"""The words the nets' export descriptions share (`NetSpec.export`): input layout, padding and resize rules,
normalisation. ``faceapi export-onnx`` writes them into each net's JSON so the graph can be fed without
faceapi; the export test decodes the graphs' outputs from these descriptions alone.
"""

from __future__ import annotations

from typing import Any

RESIZE: dict[str, Any] = {
    "op": "tf.image.resizeBilinear (tfjs)",
    "align_corners": False,
    "half_pixel_centers": False,
    "formula": "for output row r: src = r * in / S, y0 = floor(src), y1 = min(in - 1, ceil(src)), "
               "fy = src - y0 (same for columns); no anti-aliasing when downscaling",
    "equivalents": "ONNX Resize(mode='linear', coordinate_transformation_mode='asymmetric'); TF1 "
                   "resize_bilinear(align_corners=False). NOT PIL / OpenCV INTER_LINEAR / PyTorch "
                   "(half-pixel centres); those give slightly different numbers",
    "skip": "no resize when the padded side already equals S",
}

PAD_BOTTOM_RIGHT: dict[str, Any] = {
    "rule": "bottom_right",
    "value": 0,
    "description": "zero-pad the short side to a square of side max(H, W); all padding at the bottom (H < W) "
                   "or right (W < H); the image stays at the top-left",
}

PAD_CENTRED: dict[str, Any] = {
    "rule": "centred",
    "value": 0,
    "description": "zero-pad the short side to a square of side max(H, W): after = round_half_up(diff / 2) "
                   "rows/columns at the bottom/right, before = diff - after at the top/left (an odd "
                   "difference puts the extra pixel at the end)",
}

FACE_CROP_NOTE = ("face-api.js crops with integer slices: box clipped to the image, then x, y, width, height "
                  "each floored (no resampling)")


def net_input(size: int | str) -> dict[str, Any]:
    """The graph input: NHWC float32 raw RGB pixels of side `size`."""
    return {
        "name": "input",
        "shape": ["N", size, size, 3],
        "dtype": "float32",
        "layout": "NHWC",
        "color": "RGB",
        "range": "raw pixel values 0..255 (not normalised: the graph normalises)",
    }


def normalisation(formula: str, **consts: Any) -> dict[str, Any]:
    """The normalisation the graph's first nodes apply (so the caller must not)."""
    return {"inside_graph": True, "formula": formula, **consts,
            "note": "already applied by the graph's first nodes; do not normalise before feeding"}


def face_preprocessing(size: int, mean_rgb: tuple[float, float, float], divisor: float) -> dict[str, Any]:
    """The face nets' preprocessing: centred padding, resize to `size`, ``(x - mean) / divisor`` in the graph."""
    return {"input_size": size, "padding": PAD_CENTRED, "resize": RESIZE,
            "normalisation": normalisation(f"(x - mean) / {divisor:g}", mean_rgb=list(mean_rgb), divisor=divisor)}
