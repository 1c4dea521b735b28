"""Annotating images with results, in face-api.js's look (its `draw` module), with Pillow.

The web page's overlay uses the same colours and layout: a box with the score (and the person's name
when recognised), landmark contours per region with points, and a text field under the box with the
expressions above 0.1 (most probable first, each in its `EXPRESSION_COLORS` colour) and age/gender.

This module is the one place for drawing choices shared by the annotated images and videos and the
expression timelines: the label font (`label_font`, `scaled_font`) and the expression palette.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from faceapi.image import ImageInput, load_image
from faceapi.results import LANDMARK_REGIONS, Face, FrameResult

Font = ImageFont.ImageFont | ImageFont.FreeTypeFont
RGB = tuple[int, int, int]

BOX_COLOR = (0, 0, 255)  # face-api.js DrawBox default 'rgba(0, 0, 255, 1)'
MATCH_COLOR = (0, 160, 0)  # a recognised person's box
LINE_COLOR = (0, 255, 255)  # DrawFaceLandmarks lineColor
POINT_COLOR = (255, 0, 255)  # DrawFaceLandmarks pointColor
TEXT_BG = (0, 0, 0, 128)  # DrawTextField 'rgba(0, 0, 0, 0.5)'
TEXT_COLOR = (255, 255, 255, 255)
CLOSED_REGIONS = {"left_eye", "right_eye", "mouth"}


def _hex(color: str) -> RGB:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


#: One colour per expression: the web page's palette (``EXPR_COLORS`` in server/static/app.js), so that an
#: annotated image, a timeline chart and the page show "happy" in the same yellow.
EXPRESSION_COLORS: dict[str, RGB] = {
    "neutral": _hex("#9aa5b1"),
    "happy": _hex("#f5c518"),
    "sad": _hex("#4a90e2"),
    "angry": _hex("#e5484d"),
    "fearful": _hex("#a06cd5"),
    "disgusted": _hex("#30a46c"),
    "surprised": _hex("#f76b15"),
}


def floor2(x: float) -> str:
    """face-api.js ``utils.round``: floor to 2 decimals."""
    return f"{math.floor(x * 100) / 100:.2f}"


def label_font(size: int) -> Font:
    """Pillow's default font at `size` pixels (its fixed bitmap font where Pillow has no FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType support
        return ImageFont.load_default()


def drawing_scale(size: tuple[int, int]) -> float:
    """How much to thicken lines and enlarge text on an image of `size`, so labels stay readable on
    large photos (1 up to 800 px on the longer side)."""
    return max(1.0, max(size) / 800)


def scaled_font(size: tuple[int, int]) -> Font:
    """The label font for an image of `size` (14 px at 800 px, at least 12)."""
    return label_font(max(12, round(14 * drawing_scale(size))))


def _text_field(overlay: ImageDraw.ImageDraw, lines: list[tuple[str, tuple[int, ...]]], x: float, y: float,
                size: tuple[int, int], font: Font, bg: tuple[int, ...] = TEXT_BG, anchor_bottom: bool = False,
                padding: int = 4) -> None:
    """A text box of (text, colour) lines at (x, y) (its top-left, or bottom-left when anchor_bottom), kept
    inside the image."""
    if not lines:
        return
    line_h = int(getattr(font, "size", 11)) + 2
    width = max(overlay.textlength(t, font=font) for t, _ in lines) + 2 * padding
    height = line_h * len(lines) + 2 * padding
    if anchor_bottom:
        y -= height
    x = min(max(x, 0), max(size[0] - width, 0))
    y = min(max(y, 0), max(size[1] - height, 0))
    overlay.rectangle([x, y, x + width, y + height], fill=bg)
    for i, (t, color) in enumerate(lines):
        overlay.text((x + padding, y + padding + i * line_h), t, font=font, fill=color)


def face_label(face: Face) -> str:
    """The label on the box: the name when recognised, then the detection score."""
    score = floor2(face.detection.score)
    if face.match is not None:
        if not math.isfinite(face.match.distance):  # an empty gallery: nobody to compare with
            return f"{face.match.label} {score}"
        return f"{face.match.label} ({floor2(face.match.distance)}) {score}"
    return score


def _colored_lines(face: Face, min_expression: float) -> list[tuple[str, tuple[int, ...]]]:
    """The text under the box, with its colours: expressions above `min_expression`, then age and gender."""
    lines: list[tuple[str, tuple[int, ...]]] = []
    if face.expressions is not None:
        lines += [(f"{label} ({floor2(p)})", EXPRESSION_COLORS[label] + (255,))
                  for label, p in face.expressions.sorted() if p > min_expression]
    if face.age_gender is not None:
        ag = face.age_gender
        lines.append((f"{round(ag.age)} years, {ag.gender} ({floor2(ag.gender_probability)})", TEXT_COLOR))
    return lines


def draw_faces(image: Image.Image, faces: Iterable[Face], landmarks: bool = True,
               min_expression: float = 0.1) -> Image.Image:
    """Draw faces onto a copy of `image` (RGB) and return it."""
    base = image.convert("RGBA")
    overlay_img = Image.new("RGBA", base.size, (0, 0, 0, 0))
    overlay = ImageDraw.Draw(overlay_img)
    scale = drawing_scale(base.size)
    line_w = max(2, round(2 * scale))
    font = scaled_font(base.size)
    for face in faces:
        b = face.detection.box
        color = MATCH_COLOR if face.match is not None and face.match.label != "unknown" else BOX_COLOR
        if landmarks and face.landmarks is not None:
            for name, (start, end) in LANDMARK_REGIONS.items():
                pts = [tuple(p) for p in face.landmarks.positions[start:end].tolist()]
                if name in CLOSED_REGIONS:
                    pts.append(pts[0])
                overlay.line(pts, fill=LINE_COLOR + (255,), width=max(1, round(scale)))
            r = max(1.5, 1.5 * scale)
            for px, py in face.landmarks.positions.tolist():
                overlay.ellipse([px - r, py - r, px + r, py + r], fill=POINT_COLOR + (255,))
        overlay.rectangle([b.x, b.y, b.right, b.bottom], outline=color + (255,), width=line_w)
        _text_field(overlay, [(face_label(face), TEXT_COLOR)], b.x - line_w / 2, b.y, base.size, font,
                    bg=color + (255,), anchor_bottom=True)
        _text_field(overlay, _colored_lines(face, min_expression), b.x, b.bottom + line_w, base.size, font)
    return Image.alpha_composite(base, overlay_img).convert("RGB")


def annotate(image: ImageInput | np.ndarray, result: FrameResult | Iterable[Face], landmarks: bool = True,
             min_expression: float = 0.1) -> Image.Image:
    """The image with every face of `result` drawn on it (face-api.js's look)."""
    arr = load_image(image)
    faces = result.faces if isinstance(result, FrameResult) else list(result)
    return draw_faces(Image.fromarray(arr), faces, landmarks=landmarks, min_expression=min_expression)
