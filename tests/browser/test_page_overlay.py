"""The overlay never hides a face: expression panels lie in free space (outside every face box, tag and other
panel), tags cover no other face, and where there is no room a panel collapses to a chip beside its tag, with
the full bars in the side card of the face chosen by a tap, a click or the arrow keys. Checked on what the
page says it drew (window.faceapiPage.state(): rectangles in canvas pixels) at phone, tablet and desktop sizes,
in Image mode (the six-face bbt4.jpg, one face filling the photo) and in Live mode (a fake webcam cycling
between a face filling the frame and the six faces). Also: the options sit beside the video on a desktop and
changing them leaves the video in view. Screenshots go to test-artifacts/overlay-*.png."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer

from helpers import ARTIFACTS

SIZES = {
    "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
              "device_scale_factor": 2},
    "tablet": {"viewport": {"width": 820, "height": 1180}, "has_touch": True, "is_mobile": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
SETTINGS = {"detector": "tiny", "input_size": 416, "min_score": 0.5, "landmarks": "full", "expressions": True}
HAPPY_BOX = (232, 66, 202, 179)  # the face in happy.jpg (x, y, width, height), from the engine


def overlaps(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] - 0.01 and b["x"] < a["x"] + a["width"] - 0.01
            and a["y"] < b["y"] + b["height"] - 0.01 and b["y"] < a["y"] + a["height"] - 0.01)


def inside(r: dict, canvas: dict) -> bool:
    return (r["x"] >= -0.5 and r["y"] >= -0.5 and r["x"] + r["width"] <= canvas["width"] + 0.5
            and r["y"] + r["height"] <= canvas["height"] + 0.5)


def check_overlay(drawn: dict, where: str) -> None:
    """The overlay's rules on what was drawn: no panel over any face box, tag, chip or other panel; no tag or
    chip over another face's box or tag; every face with expressions has its panel or its chip."""
    boxes, tags, panels, chips = drawn["boxes"], drawn["tags"], drawn["panels"], drawn["chips"]
    n = len(boxes)
    assert n and len(tags) == len(panels) == len(chips) == n, (where, drawn)
    labels = [("panel", k, p) for k, p in enumerate(panels) if p] + [("chip", k, c) for k, c in enumerate(chips) if c]
    for kind, k, r in labels:
        assert inside(r, drawn["canvas"]), (where, kind, k, r)
    for k, p in enumerate(panels):
        if p is None:
            continue
        for j in range(n):
            assert not overlaps(p, boxes[j]), (where, f"panel {k} over the box of face {j}", p, boxes[j])
            assert not overlaps(p, tags[j]), (where, f"panel {k} over the tag of face {j}", p, tags[j])
    for a in range(len(labels)):
        for b in range(a + 1, len(labels)):
            assert not overlaps(labels[a][2], labels[b][2]), (where, labels[a], labels[b])
    for k in range(n):
        # nothing dropped: a panel, a chip, or (no clean place even for a chip) the side card
        assert panels[k] or chips[k] or drawn["carded"][k], (where, f"face {k} has no panel, chip or card")
        assert not (panels[k] and chips[k]), (where, k)
        for j in range(n):
            if j == k:
                continue
            assert not overlaps(tags[k], boxes[j]), (where, f"tag {k} over the box of face {j}", tags[k], boxes[j])
            assert not overlaps(tags[k], tags[j]), (where, f"tags {k} and {j} overlap", tags[k], tags[j])
            if chips[k]:
                assert not overlaps(chips[k], boxes[j]), (where, f"chip {k} over the box of face {j}")
                assert not overlaps(chips[k], tags[j]), (where, f"chip {k} over the tag of face {j}")
        # a chip sits right beside its own tag (after it, else before, below or above it)
        if chips[k]:
            c, t = chips[k], tags[k]
            near = {"x": t["x"] - 6, "y": t["y"] - 6, "width": t["width"] + 12, "height": t["height"] + 12}
            assert overlaps(c, near) and not overlaps(c, t), (where, k, c, t)
        # labelled numbers: no bare score on a tag
        assert "score " in tags[k]["text"] or "distance " in tags[k]["text"], tags[k]["text"]


def filling_crop(shared_dir) -> Image.Image:
    """happy.jpg cropped to its face with a 5 % margin: the face fills the photo (box about 86 % x 77 %)."""
    x, y, w, h = HAPPY_BOX
    m = 0.05
    return Image.open(shared_dir / "images" / "happy.jpg").convert("RGB").crop(
        (int(x - m * w), int(y - m * h), int(x + w + m * w), int(y + h + m * h)))


def filling_frame(shared_dir) -> np.ndarray:
    """A 640x480 webcam frame that the face of happy.jpg fills (box about 85 % x 81 %)."""
    x, y, w, h = HAPPY_BOX
    m = 0.05
    cw = w * (1 + 2 * m)
    ch = cw * 3 / 4
    im = Image.open(shared_dir / "images" / "happy.jpg").convert("RGB")
    return np.asarray(im.crop((int(x - m * w), int(y + h / 2 - ch / 2), int(x + w + m * w), int(y + h / 2 + ch / 2)))
                      .resize((640, 480), Image.BICUBIC))


def test_layout_rules_on_many_scenes(live_server, open_page, tmp_path):
    """layout.js itself, in the browser, on 400 random scenes (1-8 faces, some filling the canvas, some
    overlapping): a panel is never over a face, tag, chip or other panel and stays inside the canvas; a face
    whose panel finds no room gets a chip beside its tag; nothing is dropped."""
    from faceapi.server import create_app

    script = """async () => {
      const L = await import('/static/layout.js');
      let seed = 12345;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
      const out = [];
      for (let s = 0; s < 400; s++) {
        const W = 300 + rnd() * 1000, H = 250 + rnd() * 700, u = Math.max(1, Math.min(W, H) / 360);
        const n = 1 + Math.floor(rnd() * 8), faces = [];
        for (let k = 0; k < n; k++) {
          const side = (n === 1 && rnd() < 0.4 ? 0.7 + rnd() * 0.3 : 0.08 + rnd() * 0.3) * Math.min(W, H);
          const box = {x: rnd() * (W - side), y: rnd() * (H - side), width: side, height: side * (0.8 + rnd() * 0.4)};
          const hull = {x: box.x - 3, y: box.y, width: box.width + 6, height: box.height + 5};
          const compact = {kind: 'compact', width: 80 * u, height: 57 * u};
          faces.push({box, hull, tag: {width: (60 + rnd() * 80) * u, height: 17 * u},
                      chip: {width: 60 * u, height: 17 * u},
                      panels: n === 1 ? [{kind: 'full', width: 160 * u, height: 123 * u}, compact] : [compact]});
        }
        const lay = L.layoutLabels(faces, W, H, u);
        out.push({W, H, faces, lay});
      }
      return out;
    }"""
    with live_server(create_app(FaceAnalyzer(tmp_path / "no-models"))) as srv, \
            open_page(srv, None) as (page, outside, errors):
        scenes = page.evaluate(script)
    assert not errors, errors
    assert not outside, outside
    chipped = panelled = 0
    for i, sc in enumerate(scenes):
        lay, faces = sc["lay"], sc["faces"]
        canvas = {"width": sc["W"], "height": sc["H"]}
        labels = [r for r in lay["panels"] + lay["chips"] if r]
        for k, f in enumerate(faces):
            p = lay["panels"][k]
            assert p or lay["chips"][k] or lay["carded"][k], (i, k)
            if p:
                panelled += 1
                assert inside(p, canvas), (i, k, p)
                for j, g in enumerate(faces):
                    assert not overlaps(p, g["hull"]) and not overlaps(p, lay["tags"][j]), (i, k, j)
                if lay["leaders"][k]:  # set apart: a leader line joins it to its face
                    ln = lay["leaders"][k]
                    b = f["box"]
                    assert (p["x"] - 0.01 <= ln["x1"] <= p["x"] + p["width"] + 0.01
                            and b["x"] - 0.01 <= ln["x2"] <= b["x"] + b["width"] + 0.01), (i, k, ln)
            else:
                chipped += 1
            assert inside(lay["tags"][k], canvas), (i, k)
        for a in range(len(labels)):
            for b in range(a + 1, len(labels)):
                assert not overlaps(labels[a], labels[b]), (i, labels[a], labels[b])
    assert panelled > 100 and chipped > 20, (panelled, chipped)  # both ways were exercised


@pytest.mark.parametrize("size", list(SIZES))
def test_image_mode_overlay(size, live_server, open_page, page_state, models_dir, shared_dir, tmp_path):
    """bbt4.jpg (six faces) and a face filling the photo, at each size: the overlay's rules hold; a click on a
    face shows that face in the side card; the arrow keys go from face to face and Escape back."""
    from faceapi.server import create_app

    crop = tmp_path / "filling.jpg"
    filling_crop(shared_dir).save(crop, quality=95)
    analyzer = FaceAnalyzer(models_dir)
    expected = {p.name: analyzer.analyze(p, AnalyzeOptions.from_dict(SETTINGS)).to_dict()["faces"]
                for p in (shared_dir / "images" / "bbt4.jpg", crop)}
    assert len(expected["bbt4.jpg"]) == 6 and len(expected["filling.jpg"]) == 1
    drawn, picks = {}, {}
    with live_server(create_app(analyzer)) as srv, open_page(srv, None, **SIZES[size]) as (page, outside, errors):
        page.click("#tab-image")
        for name, path in (("filling.jpg", crop), ("bbt4.jpg", shared_dir / "images" / "bbt4.jpg")):
            page.evaluate("() => { document.getElementById('image-actions').hidden = true; }")
            page.set_input_files("#file-input", str(path))
            page.wait_for_selector("#image-actions:not([hidden])", timeout=60_000)
            drawn[name] = page_state(page)["photo"]["drawn"]
            page.screenshot(path=str(ARTIFACTS / f"overlay-image-{size}-{name.split('.')[0]}.png"), full_page=True)
        # bbt4 on screen: click the smallest face's box centre
        d = drawn["bbt4.jpg"]
        k = min(range(6), key=lambda i: d["boxes"][i]["width"] * d["boxes"][i]["height"])
        b = d["boxes"][k]
        page.click("#image-stage", position={"x": b["x"] + b["width"] / 2, "y": b["y"] + b["height"] / 2})
        page.wait_for_selector("#face-summary[data-selected=true]")
        picks["click"] = (page_state(page)["photo"]["drawn"]["selected"], page.text_content("#face-title"),
                          page.get_attribute("#face-summary", "data-dominant"))
        page.focus("#image-stage")
        page.keyboard.press("Escape")
        page.wait_for_selector("#face-summary[data-selected=false]")
        picks["escape"] = page.text_content("#face-title")
        page.keyboard.press("ArrowRight")
        page.wait_for_selector("#face-summary[data-selected=true]")
        picks["arrow"] = page_state(page)["photo"]["drawn"]["selected"]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"overlay-image-{size}-selected.png"), full_page=True)
    assert not errors, errors
    assert not outside, outside
    for name, dr in drawn.items():
        assert len(dr["boxes"]) == len(expected[name]), name
        check_overlay(dr, f"{size} image {name}")
    assert picks["click"][0] == k and picks["click"][1] == f"Selected face ({k + 1} of 6)", picks
    assert picks["click"][2] == expected["bbt4.jpg"][k]["expressions"]["dominant"], picks
    assert picks["escape"] == "Largest face"
    leftmost = min(range(6), key=lambda i: drawn["bbt4.jpg"]["boxes"][i]["x"])
    assert picks["arrow"] == leftmost, picks


def test_live_mode_overlay(live_server, open_page, page_state, write_y4m, still_frame, models_dir, shared_dir,
                           tmp_path):
    """A fake webcam showing a face filling the frame, then the six faces of bbt4.jpg, in turn: at each size,
    every drawn answer keeps the overlay's rules."""
    from faceapi.server import create_app

    fill = filling_frame(shared_dir)
    crowd = still_frame("bbt4.jpg")
    video = write_y4m([fill] * 15 + [crowd] * 15, tmp_path / "webcam.y4m", 15)
    analyzer = FaceAnalyzer(models_dir)
    seen: dict[str, set[int]] = {}
    with live_server(create_app(analyzer)) as srv:
        for size, options in SIZES.items():
            with open_page(srv, video, **options) as (page, outside, errors):
                press = page.tap if options.get("has_touch") else page.click
                press("#sw-webcam")
                page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
                press("#sw-models")
                page.wait_for_selector("#state-models[data-kind=on]", timeout=60_000)
                press("#sw-detect")
                counts: set[int] = set()
                last = -1
                for _ in range(60):  # bounded: answers until both scenes were drawn a few times
                    page.wait_for_function("(last) => (window.faceapiPage.state().drawn.frame || -1) > last",
                                           arg=last, timeout=60_000)
                    st = page_state(page)
                    last = st["drawn"]["frame"] if st["drawn"]["frame"] is not None else last
                    if st["drawn"]["boxes"]:
                        check_overlay(st["drawn"], f"{size} live frame {last}")
                        counts.add(len(st["drawn"]["boxes"]))
                    if 1 in counts and max(counts) >= 5 and len(counts) >= 2:
                        break
                page.screenshot(path=str(ARTIFACTS / f"overlay-live-{size}.png"), full_page=True)
            assert not errors, errors
            assert not outside, outside
            seen[size] = counts
    for size, counts in seen.items():
        assert 1 in counts and max(counts) >= 5, (size, counts)


def test_options_beside_the_video_on_a_desktop(live_server, open_page, tmp_path):
    """At 1280x800 the options are to the right of the picture, and using them (which scrolls them into view)
    leaves the whole picture in view; on a phone the picture comes first and the options below it."""
    from faceapi.server import create_app

    rect = "(id) => { const r = document.getElementById(id).getBoundingClientRect();" \
           " return {x: r.left, y: r.top, right: r.right, bottom: r.bottom, vh: innerHeight}; }"
    with live_server(create_app(FaceAnalyzer(tmp_path / "no-models"))) as srv:
        with open_page(srv, None, **SIZES["desktop"]) as (page, outside, errors):
            stage, options = page.evaluate(rect, "stage"), page.evaluate(rect, "options")
            views = []
            for target in ("#opt-age-gender", "text=SSD MobileNetV1", "#opt-mirror",
                           "input[name=landmarks][value=tiny] + span"):
                page.click(target)
                views.append((target, page.evaluate(rect, "stage"), page.evaluate(rect, "options")))
            page.screenshot(path=str(ARTIFACTS / "overlay-options-desktop.png"))
        assert not errors, errors
        with open_page(srv, None, **SIZES["phone"]) as (page, outside, errors):
            phone_stage, phone_options = page.evaluate(rect, "stage"), page.evaluate(rect, "options")
        assert not errors, errors
    assert options["x"] >= stage["right"], (stage, options)
    assert options["y"] < stage["bottom"], "the options start beside the picture, not below it"
    for target, st, _options in views:
        assert st["y"] >= 0 and st["bottom"] <= st["vh"], (target, st)  # the whole picture stays in view
        assert abs(st["y"] - stage["y"]) < 1, (target, st, stage)          # and did not move
    assert phone_options["y"] >= phone_stage["bottom"], (phone_stage, phone_options)
