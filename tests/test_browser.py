"""The page in headless Chromium (Debian's, driven by Playwright) with a fake webcam that shows
``happy.jpg``: switch on Webcam, Load models, Detect faces; the overlay must show "happy" and a box
where the face is. Saves a screenshot to test-artifacts/browser.png."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from faceapi.options import AnalyzeOptions  # noqa: E402
from faceapi.pipeline import FaceAnalyzer  # noqa: E402
from faceapi.server import create_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
W, H = 640, 480
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def webcam_frame(photo: Path) -> np.ndarray:
    """The photo scaled to the frame's width, centred on a dark 640x480 frame (RGB)."""
    im = Image.open(photo).convert("RGB")
    scale = W / im.width
    im = im.resize((W, round(im.height * scale)), Image.BICUBIC)
    frame = Image.new("RGB", (W, H), (24, 28, 34))
    frame.paste(im, (0, (H - im.height) // 2))
    return np.asarray(frame)


def write_y4m(rgb: np.ndarray, path: Path, frames: int = 5) -> None:
    """A YUV4MPEG2 (4:2:0, BT.601 limited range) file of `frames` copies of `rgb`."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b

    def sub(c):  # 2x2 average
        return c.reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3))

    planes = [np.clip(np.round(p), 0, 255).astype(np.uint8).tobytes() for p in (y, sub(u), sub(v))]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{W} H{H} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n")
            for p in planes:
                out.write(p)


def iou(a: dict, b: dict) -> float:
    x0, y0 = max(a["x"], b["x"]), max(a["y"], b["y"])
    x1 = min(a["x"] + a["width"], b["x"] + b["width"])
    y1 = min(a["y"] + a["height"], b["y"] + b["height"])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a["width"] * a["height"] + b["width"] * b["height"] - inter)


@contextlib.contextmanager
def webcam_page(chromium_path: str, srv, video: Path):
    """Chromium with `video` as its webcam, on the server's page once the server answers. Yields the page
    and two lists that fill while it runs: requests to anywhere but the server, and page errors."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True,
                                     args=[*FLAGS, f"--use-file-for-fake-video-capture={video}"])
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 1040})
            outside: list[str] = []
            page.on("request", lambda req: None if req.url.startswith((srv.url, "data:", "blob:"))
                    else outside.append(req.url))
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(srv.page_url)  # the token URL `faceapi serve` prints: sets the cookie, then redirects
            assert page.url == srv.url + "/", "the token is removed from the address bar"
            page.wait_for_selector("#server-state[data-state=ok]")
            yield page, outside, errors
        finally:
            browser.close()


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (scripts/setup.sh --dev installs it)")
        pytest.skip("Debian's chromium is not installed")
    return CHROMIUM


def test_page_with_fake_webcam(chromium_path, models_dir, shared_dir, tmp_path, live_server):
    rgb = webcam_frame(shared_dir / "images" / "happy.jpg")
    video = tmp_path / "webcam.y4m"
    write_y4m(rgb, video)
    analyzer = FaceAnalyzer(models_dir)
    settings = {"detector": "tiny", "input_size": 416, "min_score": 0.5, "landmarks": "full", "expressions": True}
    expected = analyzer.analyze(rgb, AnalyzeOptions.from_dict(settings)).to_dict()
    assert len(expected["faces"]) == 1 and expected["faces"][0]["expressions"]["dominant"] == "happy"
    face = expected["faces"][0]["box"]

    app = create_app(analyzer)
    with live_server(app) as srv, webcam_page(chromium_path, srv, video) as (page, outside, errors):
        page.click("#sw-webcam")
        page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
        page.click("#sw-models")
        page.wait_for_selector("#state-models[data-kind=on]", timeout=60_000)
        assert "ready" in page.inner_text("#state-models")
        page.click("#sw-detect")
        page.wait_for_selector("#face-summary[data-dominant=happy]", timeout=60_000)
        page.wait_for_function("() => window.faceapiApp.fpsTimes.length >= 4", timeout=60_000)
        assert page.get_attribute("#state-detect", "data-kind") == "on"
        assert page.inner_text("#dominant-label").strip().lower() == "happy"

        state = page.evaluate("""() => {
            const app = window.faceapiApp, c = document.getElementById('overlay');
            const dpr = window.devicePixelRatio || 1, ctx = c.getContext('2d');
            const box = app.drawnBoxes[0];
            const px = (x, y) => Array.from(ctx.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data);
            const samples = [];
            for (let k = 1; k < 10; k++) {
                samples.push(px(box.x, box.y + box.height * k / 10));          // left edge
                samples.push(px(box.x + box.width, box.y + box.height * k / 10)); // right edge
            }
            return {result: app.lastResult, box, samples, width: c.clientWidth, height: c.clientHeight,
                    mirrored: document.getElementById('video').classList.contains('mirrored'),
                    status: document.getElementById('status').innerText};
        }""")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser.png"), full_page=True)

        # image mode: pick a photo, see it annotated
        page.click("#tab-image")
        page.set_input_files("#file-input", str(shared_dir / "images" / "bbt4.jpg"))
        page.wait_for_selector("#image-actions:not([hidden])", timeout=60_000)
        image_status = page.inner_text("#image-status")
        photo_boxes = page.evaluate("() => window.faceapiApp.photoBoxes.length")
        page.screenshot(path=str(ARTIFACTS / "browser-image.png"), full_page=True)

    assert not errors, errors
    assert not outside, f"the page fetched from outside: {outside}"
    # the server found the face where the engine finds it in the webcam frame
    result = state["result"]
    assert result["image"] == {"width": W, "height": H}
    assert len(result["faces"]) == 1
    assert iou(result["faces"][0]["box"], face) > 0.7, (result["faces"][0]["box"], face)
    # the overlay's box is that face, scaled to the displayed size and mirrored like the video
    assert state["mirrored"]
    sx, sy = state["width"] / W, state["height"] / H
    want = {"x": state["width"] - (face["x"] + face["width"]) * sx, "y": face["y"] * sy,
            "width": face["width"] * sx, "height": face["height"] * sy}
    assert iou(state["box"], want) > 0.7, (state["box"], want)
    # and it is drawn: the box edges are face-api.js blue on the canvas
    blue = [p for p in state["samples"] if p[2] > 200 and p[0] < 90 and p[1] < 90 and p[3] > 200]
    assert len(blue) >= 0.7 * len(state["samples"]), state["samples"]
    assert "fps" in state["status"] and "detect" in state["status"]
    n_faces = len(analyzer.analyze(shared_dir / "images" / "bbt4.jpg", AnalyzeOptions.from_dict(settings)).faces)
    assert f"{n_faces} faces" in image_status and photo_boxes == n_faces, image_status


def test_page_says_what_is_wrong(chromium_path, tmp_path, live_server):
    """No camera, camera permission denied, weights missing: each switch says so in words."""
    app = create_app(FaceAnalyzer(tmp_path / "no-models"))
    base = [f for f in FLAGS if "fake" not in f]
    runs = [(base, "no camera found"),
            ([*base, "--use-fake-device-for-media-stream", "--deny-permission-prompts"], "permission denied")]
    with live_server(app) as srv, sync_api.sync_playwright() as pw:
        for args, webcam_words in runs:
            browser = pw.chromium.launch(executable_path=chromium_path, headless=True, args=args)
            try:
                page = browser.new_page()
                page.goto(srv.page_url)
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
            finally:
                browser.close()


def test_page_enrols_recognises_and_removes_people(chromium_path, models_dir, shared_dir, tmp_path, live_server):
    """Enrol the face in view by name, see the person in the list, switch Recognition on and see the name on
    the overlay, then remove the person from the list. Saves test-artifacts/browser-people.png."""
    from faceapi.gallery import Gallery

    video = tmp_path / "webcam.y4m"
    write_y4m(webcam_frame(shared_dir / "images" / "happy.jpg"), video)
    gallery = Gallery(tmp_path / "people.sqlite3")
    app = create_app(FaceAnalyzer(models_dir), gallery=gallery)
    with live_server(app) as srv, webcam_page(chromium_path, srv, video) as (page, outside, errors):
        page.wait_for_selector("#people-list li.empty")
        assert page.is_enabled("#opt-recognize")

        page.click("#btn-enrol")  # no name yet
        page.wait_for_selector("#enrol-msg[data-kind=error]")
        assert "Type the name" in page.inner_text("#enrol-msg")
        page.fill("#enrol-name", "Amy")
        page.click("#btn-enrol")  # no webcam yet
        assert "webcam first" in page.inner_text("#enrol-msg")

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
        page.wait_for_function("() => window.faceapiApp.fpsTimes.length >= 3", timeout=60_000)
        match = page.evaluate("() => window.faceapiApp.lastResult.faces[0].match")
        name_shown = page.inner_text("#face-name")
        overlay_green = page.evaluate("""() => {
            const app = window.faceapiApp, c = document.getElementById('overlay');
            const dpr = window.devicePixelRatio || 1, ctx = c.getContext('2d'), b = app.drawnBoxes[0];
            const p = ctx.getImageData(Math.round((b.x + b.width / 2) * dpr), Math.round(b.y * dpr), 1, 1).data;
            return p[1] > 120 && p[0] < 60 && p[2] < 60;  // the recognised face's box is green
        }""")
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
    assert match["label"] == "Amy" and 0 <= match["distance"] < 0.6, match
    assert name_shown == "Amy" and overlay_green
    assert removed_msg == "Removed Amy"
