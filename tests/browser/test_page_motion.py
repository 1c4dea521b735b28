"""The live picture never shows a stale overlay: with a fake webcam whose face pans across the frame, the
box drawn is the engine's answer for the very frame on screen, with tracking on (the page's default: the
server announces it; the tag shows the track id) and off. Figures clear when the stream stops, after an
error and when switching modes; Image mode and back resumes detection. Features the server announces in
its hello (tracking) appear only then (the WebSocket is routed to change what the server says)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer

from helpers import ARTIFACTS

PAN_STEP = 16  # px the face moves per frame of the fake webcam

SETTINGS = {"detector": "tiny", "input_size": 416, "min_score": 0.5, "landmarks": "full", "expressions": True}

SAMPLE = """() => {
  const c = document.getElementById('frame-view'), v = document.getElementById('video');
  return {state: window.faceapiPage.state(), png: c.toDataURL('image/png'), dpr: window.devicePixelRatio || 1,
          video: getComputedStyle(v).visibility, shown: !c.hidden};
}"""

CLEARED = """() => ['st-fps', 'st-rtt', 'st-faces'].every((id) => document.getElementById(id).textContent === '–')
  && document.getElementById('dominant-label').textContent === 'no face yet'
  && document.getElementById('face-summary').dataset.dominant === ''"""


def start(page) -> None:
    page.click("#sw-webcam")
    page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
    page.click("#sw-models")
    page.wait_for_selector("#state-models[data-kind=on]", timeout=60_000)
    page.click("#sw-detect")


def answered(page) -> int:
    return page.evaluate("() => window.faceapiPage.state().frames.answered")


@pytest.mark.parametrize("tracking", [True, False])
def test_overlay_is_drawn_on_the_frame_it_belongs_to(live_server, open_page, panning_frames, write_y4m, models_dir,
                                                     tmp_path, tracking):
    from faceapi.server import create_app

    video = write_y4m(panning_frames("happy.jpg", 280, PAN_STEP), tmp_path / "panning.y4m", 15)
    analyzer = FaceAnalyzer(models_dir)
    samples = []
    with live_server(create_app(analyzer)) as srv, \
            open_page(srv, video, viewport={"width": 1280, "height": 800}) as (page, outside, errors):
        page.wait_for_selector("#check-tracking:not([hidden])")  # the server announces tracking
        if not tracking:
            page.click("#opt-tracking")  # on by default: off
        start(page)
        page.wait_for_function("() => window.faceapiPage.state().frames.answered >= 3", timeout=60_000)
        for _ in range(4):
            n = answered(page)
            page.wait_for_function(f"() => window.faceapiPage.state().frames.answered >= {n + 4}", timeout=60_000)
            samples.append(page.evaluate(SAMPLE))
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-panning.png"))
        features = page.evaluate("""() => ({phone: !document.getElementById('phone-card').hidden,
            settings: window.faceapiPage.state().settings})""")

        page.click("#sw-webcam")  # off: the figures of the stream go, the live video comes back
        page.wait_for_function(CLEARED, timeout=10_000)
        after = page.evaluate(SAMPLE)
        blank = page.evaluate("""() => { const c = document.getElementById('overlay');
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            return px.every((v, i) => i % 4 !== 3 || v === 0); }""")
    assert not errors, errors
    assert not outside, outside

    xs = []
    for s in samples:
        st = s["state"]
        assert s["shown"] and s["video"] == "hidden", "while detecting, the analysed frame is what is shown"
        assert st["drawn"]["frame"] == st["result"]["frame"]
        # the picture on screen, taken back to the frame's pixels (un-letterboxed, un-mirrored, resized)
        png = base64.b64decode(s["png"].split(",", 1)[1])
        r, d, size = st["drawn"]["rect"], s["dpr"], st["result"]["image"]
        shown = Image.open(io.BytesIO(png)).convert("RGB").crop(
            (round(r["x"] * d), round(r["y"] * d), round((r["x"] + r["width"]) * d), round((r["y"] + r["height"]) * d)))
        if st["drawn"]["mirrored"]:
            shown = shown.transpose(Image.FLIP_LEFT_RIGHT)
        shown = np.asarray(shown.resize((size["width"], size["height"]), Image.BILINEAR))
        faces = analyzer.analyze(shown, AnalyzeOptions.from_dict(SETTINGS)).to_dict()["faces"]
        assert len(faces) == 1, len(faces)
        face = st["result"]["faces"][0]
        # the answer drawn belongs to the picture on screen: the face pans horizontally, so a stale answer (the
        # frame before) sits a whole pan step off; the detector on a screenshot (rescaled, re-encoded) differs in
        # size by several px, so centres are compared, not IoU, with half a step as the bound. With tracking,
        # between detections the box is the region the landmarks were found in, so the landmarks' centres are
        # compared (the raw ones: the engine's answer for the frame)
        if tracking:
            centre = float(np.mean(np.asarray(faces[0]["landmarks"])[:, 0]))
            off = abs(float(np.mean(np.asarray(face["raw"]["landmarks"])[:, 0])) - centre)
            assert off < PAN_STEP / 2, (off, face["raw"]["box"], faces[0]["box"])
            # the smoothed landmarks drawn trail this fast face (240 px/s) by less than one webcam frame
            off = abs(float(np.mean(np.asarray(face["landmarks"])[:, 0])) - centre)
            assert off < PAN_STEP, (off, face["box"], faces[0]["box"])
        else:
            answer, found = face["box"], faces[0]["box"]
            off = abs((answer["x"] + answer["width"] / 2) - (found["x"] + found["width"] / 2))
            assert off < PAN_STEP / 2, (off, answer, found)
        drawn = st["drawn"]["boxes"][0]
        xs.append(drawn["x"])
        tag = st["drawn"]["tags"][0]["text"]
        if tracking:  # the track id on the tag, and the one id of the one face
            assert tag.startswith("#1 ") and st["result"]["faces"][0]["track"] == 1, tag
        else:
            assert not tag.startswith("#") and "track" not in st["result"]["faces"][0], tag
    assert max(xs) - min(xs) > 20, f"the face did not move between samples: {xs}"

    assert not after["shown"] and after["video"] == "visible" and after["state"]["drawn"]["frame"] is None
    assert blank
    # tracking is a setting the page sends (on by default); this server announces no phone URL: no QR code
    assert features["settings"]["tracking"] is tracking and not features["phone"]


def test_page_follows_the_servers_features(live_server, open_page, still_frame, write_y4m, models_dir, tmp_path):
    """The hello says tracking: the Tracking switch shows, the settings carry `tracking`, each face's track id
    is on its tag; an error clears the figures; Image mode and back resumes."""
    from faceapi.server import create_app

    video = write_y4m([still_frame("happy.jpg")] * 5, tmp_path / "webcam.y4m")
    sent: list[dict] = []
    fail_next = [False]

    def route(ws) -> None:
        server = ws.connect_to_server()

        def to_server(message) -> None:
            if isinstance(message, str):
                sent.append(json.loads(message))
            server.send(message)

        def to_page(message) -> None:
            msg = json.loads(message)
            if msg["type"] == "hello":
                msg |= {"tracking": True}
            elif msg["type"] == "result" and fail_next[0]:
                fail_next[0] = False
                msg = {"type": "error", "frame": msg["frame"], "error": "injected failure"}
            elif msg["type"] == "result":
                for f in msg["faces"]:
                    f["track"] = 7
            ws.send(json.dumps(msg))

        ws.on_message(to_server)
        server.on_message(to_page)

    with live_server(create_app(FaceAnalyzer(models_dir))) as srv, \
            open_page(srv, video, viewport={"width": 1280, "height": 800}, wait_ok=False) as (page, outside, errors):
        page.route_web_socket("**/ws/stream", route)
        page.reload()
        page.wait_for_selector("#server-state[data-state=ok]")
        page.wait_for_selector("#check-tracking:not([hidden])")
        start(page)
        page.wait_for_function("() => (window.faceapiPage.state().drawn.tags[0] || {text: ''}).text.startsWith('#7 ')",
                               timeout=60_000)
        meta = page.inner_text("#face-meta")
        page.click("#opt-tracking")  # off
        page.wait_for_function("() => window.faceapiPage.state().settings.tracking === false")

        fail_next[0] = True
        page.wait_for_selector("#state-detect[data-kind=error]", timeout=30_000)
        cleared_after_error = page.evaluate(CLEARED)
        error_text = page.inner_text("#state-detect")
        page.wait_for_selector("#state-detect[data-kind=on]", timeout=30_000)  # the next frame goes on

        page.click("#tab-image")
        page.wait_for_function(CLEARED, timeout=10_000)
        paused = page.evaluate("() => window.faceapiPage.state().detecting")
        page.click("#tab-live")
        n = answered(page)
        page.wait_for_function(f"() => window.faceapiPage.state().frames.answered >= {n + 2}", timeout=60_000)
        resumed = page.evaluate("() => window.faceapiPage.state().detecting")
        page.screenshot(path=str(ARTIFACTS / "browser-features.png"), full_page=True)
    assert not errors, errors
    assert not outside, outside
    assert "#7" in meta
    settings = [m for m in sent if m.get("type") == "settings"]
    assert settings and settings[0]["tracking"] is True and settings[-1]["tracking"] is False, settings
    assert cleared_after_error and "injected failure" in error_text
    assert paused is False and resumed is True
