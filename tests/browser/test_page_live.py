"""The page in headless Chromium (Debian's, driven by Playwright) with a fake webcam that shows
``happy.jpg``: switch on Webcam, Load models, Detect faces; the overlay must show "happy" and a box
where the face is. Saves screenshots to test-artifacts/browser*.png."""

from __future__ import annotations

import re

from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer
from faceapi.results import Box

from helpers import ARTIFACTS

SETTINGS = {"detector": "tiny", "input_size": 416, "min_score": 0.5, "landmarks": "full", "expressions": True}


def test_page_with_fake_webcam(live_server, open_page, page_state, still_frame, write_y4m, models_dir, shared_dir,
                               tmp_path):
    from faceapi.server import create_app

    rgb = still_frame("happy.jpg")
    video = write_y4m([rgb] * 5, tmp_path / "webcam.y4m")
    analyzer = FaceAnalyzer(models_dir)
    expected = analyzer.analyze(rgb, AnalyzeOptions.from_dict(SETTINGS)).to_dict()
    assert len(expected["faces"]) == 1 and expected["faces"][0]["expressions"]["dominant"] == "happy"
    face = expected["faces"][0]["box"]
    h, w = rgb.shape[:2]

    app = create_app(analyzer)
    with live_server(app) as srv, open_page(srv, video) as (page, outside, errors):
        page.click("#sw-webcam")
        page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
        page.click("#sw-models")
        page.wait_for_selector("#state-models[data-kind=on]", timeout=60_000)
        assert "ready" in page.inner_text("#state-models")
        page.click("#sw-detect")
        page.wait_for_selector("#face-summary[data-dominant=happy]", timeout=60_000)
        page.wait_for_function("() => window.faceapiPage.state().frames.fps_samples >= 4", timeout=60_000)
        assert page.get_attribute("#state-detect", "data-kind") == "on"
        assert page.inner_text("#dominant-label").strip().lower() == "happy"

        state = page_state(page)
        samples = page.evaluate("""(box) => {
            const c = document.getElementById('overlay'), dpr = window.devicePixelRatio || 1;
            const ctx = c.getContext('2d');
            const px = (x, y) => Array.from(ctx.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data);
            const out = [];
            for (let k = 1; k < 10; k++) {
                out.push(px(box.x, box.y + box.height * k / 10));              // left edge
                out.push(px(box.x + box.width, box.y + box.height * k / 10));  // right edge
            }
            return out;
        }""", state["drawn"]["boxes"][0])
        status = page.inner_text("#status")
        mirrored_css = page.evaluate("() => document.getElementById('video').classList.contains('mirrored')")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser.png"), full_page=True)

        # image mode: pick a photo, see it annotated
        page.click("#tab-image")
        page.set_input_files("#file-input", str(shared_dir / "images" / "bbt4.jpg"))
        page.wait_for_selector("#image-actions:not([hidden])", timeout=60_000)
        image_status = page.inner_text("#image-status")
        photo_boxes = page_state(page)["photo"]["boxes"]
        page.screenshot(path=str(ARTIFACTS / "browser-image.png"), full_page=True)

    assert not errors, errors
    assert not outside, f"the page fetched from outside: {outside}"
    # the page takes the frame limit from the server's hello
    assert state["hello"]["max_frame_bytes"] == app.state.ctx.max_frame_bytes
    # the server found the face where the engine finds it in the webcam frame
    result = state["result"]
    assert result["image"] == {"width": w, "height": h}
    assert len(result["faces"]) == 1
    assert Box.from_dict(result["faces"][0]["box"]).iou(Box.from_dict(face)) > 0.7, (result["faces"][0]["box"], face)
    # drawn on the frame it belongs to
    assert state["drawn"]["frame"] == result["frame"]
    # the overlay's box is that face, scaled into the letterboxed picture and mirrored like the video
    assert state["drawn"]["mirrored"] and mirrored_css
    r = state["drawn"]["rect"]
    s = r["width"] / w
    assert abs(r["height"] / h - s) < 1e-6
    want = {"x": r["x"] + r["width"] - (face["x"] + face["width"]) * s, "y": r["y"] + face["y"] * s,
            "width": face["width"] * s, "height": face["height"] * s}
    assert Box.from_dict(state["drawn"]["boxes"][0]).iou(Box.from_dict(want)) > 0.7, (state["drawn"]["boxes"][0], want)
    # and it is drawn: the box edges are face-api.js blue on the canvas
    blue = [p for p in samples if p[2] > 200 and p[0] < 90 and p[1] < 90 and p[3] > 200]
    assert len(blue) >= 0.7 * len(samples), samples
    assert "fps" in status and "detect" in status
    n_faces = len(analyzer.analyze(shared_dir / "images" / "bbt4.jpg", AnalyzeOptions.from_dict(SETTINGS)).faces)
    assert f"{n_faces} faces" in image_status and len(photo_boxes) == n_faces, image_status


def test_page_says_what_is_wrong(live_server, open_page, tmp_path):
    """No camera, camera permission denied, weights missing: each switch says so in words."""
    from faceapi.server import create_app

    app = create_app(FaceAnalyzer(tmp_path / "no-models"))
    runs = [([], "no camera found"),
            (["--use-fake-device-for-media-stream", "--deny-permission-prompts"], "permission denied")]
    with live_server(app) as srv:
        for args, webcam_words in runs:
            with open_page(srv, None, args=args) as (page, outside, errors):
                page.wait_for_selector("#state-models[data-kind=error]")  # weights missing, said at once
                assert "faceapi models download" in page.inner_text("#state-models")
                page.click("#sw-webcam")
                page.wait_for_selector("#state-webcam[data-kind=error]", timeout=20_000)
                assert webcam_words in page.inner_text("#state-webcam")
                assert page.get_attribute("#sw-webcam", "aria-checked") == "false"
                page.click("#sw-models")
                page.wait_for_selector("#net-list li[data-status=error]", timeout=20_000)
                page.wait_for_selector("#state-models[data-kind=error]")
                assert "faceapi models download" in page.inner_text("#state-models")
                assert page.get_attribute("#sw-models", "aria-checked") == "false"
                page.click("#sw-detect")
                assert "turn on the webcam first" in page.inner_text("#state-detect")
            assert not errors, errors
            assert not outside, outside


def test_page_enrols_recognises_and_removes_people(live_server, open_page, page_state, still_frame, write_y4m,
                                                   models_dir, shared_dir, tmp_path):
    """Enrol the face in view by name, see the person in the list, switch Recognition on and see the name on
    the overlay, then remove the person from the list. Saves test-artifacts/browser-people.png."""
    from faceapi.gallery import Gallery
    from faceapi.server import create_app

    video = write_y4m([still_frame("happy.jpg")] * 5, tmp_path / "webcam.y4m")
    gallery = Gallery(tmp_path / "people.sqlite3")
    app = create_app(FaceAnalyzer(models_dir), gallery=gallery)
    with live_server(app) as srv, open_page(srv, video) as (page, outside, errors):
        page.wait_for_selector("#people-list li.empty")
        assert page.is_enabled("#opt-recognize")

        page.click("#btn-enrol")  # no name yet
        page.wait_for_selector("#enrol-msg[data-kind=error]")
        assert "Type the name" in page.inner_text("#enrol-msg")
        page.fill("#enrol-name", "Amy")
        page.click("#btn-enrol")  # no webcam yet
        page.wait_for_function("() => document.getElementById('enrol-msg').textContent.includes('webcam first')")

        page.click("#sw-webcam")
        page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
        # a crowd in view: the frame the page sends is swapped for bbt4.jpg on its way to the server
        crowd = (shared_dir / "images" / "bbt4.jpg").read_bytes()
        page.route("**/api/people?name=*", lambda route: route.continue_(post_data=crowd))
        page.click("#btn-enrol")
        page.wait_for_function("() => document.getElementById('enrol-msg').textContent.includes('faces found')",
                               timeout=60_000)
        crowd_msg = page.inner_text("#enrol-msg")
        page.unroute("**/api/people?name=*")
        assert len(gallery) == 0
        page.click("#btn-enrol")
        page.wait_for_selector("#enrol-msg[data-kind=ok]", timeout=60_000)
        enrolled_msg = page.inner_text("#enrol-msg")
        page.wait_for_selector("#people-list li[data-name=Amy]")
        row = page.inner_text("#people-list li[data-name=Amy]")
        assert [p.name for p in gallery.people()] == ["Amy"]

        page.check("#opt-recognize")
        page.click("#sw-models")
        page.wait_for_selector("#state-models[data-kind=on]", timeout=60_000)
        page.click("#sw-detect")
        page.wait_for_selector("#face-name[data-label=Amy]", timeout=60_000)
        page.wait_for_function("() => window.faceapiPage.state().frames.fps_samples >= 3", timeout=60_000)
        state = page_state(page)
        overlay_green = page.evaluate("""(b) => {
            const c = document.getElementById('overlay'), dpr = window.devicePixelRatio || 1;
            const x = Math.round((b.x + b.width / 2) * dpr), y = Math.round((b.y + b.height) * dpr);
            const p = c.getContext('2d').getImageData(x, y, 1, 1).data;
            return p[1] > 120 && p[0] < 60 && p[2] < 60;  // the recognised face's box is green
        }""", state["drawn"]["boxes"][0])
        name_shown = page.inner_text("#face-name")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-people.png"), full_page=True)

        page.click("#people-list li[data-name=Amy] button.remove")
        page.wait_for_selector("#people-list li.empty")
        removed_msg = page.inner_text("#enrol-msg")
        page.wait_for_selector("#face-name[data-label=unknown]", timeout=30_000)
    gallery.close()

    assert not errors, errors
    assert not outside, f"the page fetched from outside: {outside}"
    assert crowd_msg == "6 faces found — only one person should be in view", crowd_msg
    assert enrolled_msg.startswith("Added Amy (1 sample)"), enrolled_msg
    assert "Amy" in row and "1 sample" in row, row
    match = state["result"]["faces"][0]["match"]
    assert match["label"] == "Amy" and 0 <= match["distance"] < 0.6, match
    assert name_shown == "Amy" and overlay_green
    # the tag: the name and its labelled distance, after the track id when tracking (the page's default) is on
    assert any(re.fullmatch(r"(#\d+ · )?Amy · distance \d\.\d\d", t["text"]) for t in state["drawn"]["tags"]), \
        state["drawn"]["tags"]
    assert removed_msg == "Removed Amy"
