"""faceapi.draw: one expression palette, the web page's, used by annotated images and timelines."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from faceapi.draw import EXPRESSION_COLORS, annotate
from faceapi.results import EXPRESSION_LABELS, Box, Detection, Expressions, Face
from faceapi.video.timeline import TrackTimeline, chart

STATIC = Path(__file__).resolve().parents[1] / "src" / "faceapi" / "server" / "static"


def _page_palette() -> dict[str, tuple[int, int, int]]:
    """``EXPR_COLORS`` as the page's scripts define it (whichever module it lives in)."""
    for js in sorted(STATIC.rglob("*.js")):
        m = re.search(r"EXPR_COLORS\s*=\s*(?:Object\.freeze\()?\{(.*?)\}", js.read_text(), re.S)
        if m:
            pairs = re.findall(r"(\w+)\s*:\s*\"#([0-9a-fA-F]{6})\"", m.group(1))
            return {k: tuple(int(h[i : i + 2], 16) for i in (0, 2, 4)) for k, h in pairs}
    raise AssertionError(f"no EXPR_COLORS in {STATIC}")


def test_palette_is_the_pages():
    assert tuple(EXPRESSION_COLORS) == EXPRESSION_LABELS
    assert _page_palette() == EXPRESSION_COLORS


def test_annotation_and_timeline_draw_in_the_palette():
    happy = Expressions(tuple(1.0 if label == "happy" else 0.0 for label in EXPRESSION_LABELS))
    face = Face(Detection(Box(40, 20, 80, 60), 0.9, 200, 200), expressions=happy)
    image = np.asarray(annotate(np.full((200, 200, 3), 255, np.uint8), [face]))
    colours = {tuple(int(v) for v in p) for p in image.reshape(-1, 3)}
    assert EXPRESSION_COLORS["happy"] in colours  # the "happy (1.00)" line under the box
    tl = TrackTimeline(1)
    for i in range(5):
        tl.add(i, i / 10, [v for v in happy.probabilities])
    plot = np.asarray(chart(tl))
    plotted = {tuple(int(v) for v in p) for p in plot.reshape(-1, 3)}
    assert all(c in plotted for c in EXPRESSION_COLORS.values())  # each line or legend entry
