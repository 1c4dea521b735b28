"""A printed photo of an enrolled person in front of the page's webcam (Chromium's fake camera playing a
nuaa-dev print attack with camera noise; the real server, real nets, a gallery with the person enrolled from
their live photos): with Liveness on, the tag says spoof (red) and, the risk, the print is named; with
"Require live" too, it is shown as "not live", never by name, and its box is not the recognised green.
Saves test-artifacts/browser-liveness.png."""

from __future__ import annotations

import re

import numpy as np

from faceapi.pipeline import FaceAnalyzer

from helpers import ARTIFACTS, SHARED, missing

NUAA = SHARED / "eval" / "liveness" / "nuaa-dev"
SUBJECT = "0006"  # as tests/liveness/test_liveness_server.py: SSD finds one face in its photos


def _tags(page) -> list[dict]:
    return page.evaluate("() => window.faceapiPage.state().drawn.tags")


def test_the_page_shows_a_print_of_an_enrolled_person_as_not_live(live_server, open_page, write_y4m, models_dir,
                                                                   tmp_path):
    from PIL import Image

    from faceapi.gallery import Gallery, enrol_images
    from faceapi.server import create_app

    if not (NUAA / "attack").is_dir():
        missing(f"no nuaa-dev set at {NUAA}")
    analyzer = FaceAnalyzer(models_dir)

    def one_face(cls: str, n: int) -> list[str]:  # enrolment wants photos with one face; so does the print
        found = [str(p) for p in sorted((NUAA / cls).glob(f"{SUBJECT}_*"))[:4 * n]
                 if len(analyzer.analyze(str(p)).faces) == 1]
        assert len(found) >= n, (cls, found)
        return found[:n]

    still = np.asarray(Image.open(one_face("attack", 1)[0]).convert("RGB").resize((640, 480)), np.float64)
    rng = np.random.default_rng(5)
    frames = [np.clip(still + rng.normal(0, 4, still.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    video = write_y4m(frames, tmp_path / "print.y4m")
    gallery = Gallery(tmp_path / "people.sqlite3")
    enrol_images(analyzer, gallery, "p0006", one_face("real", 3))
    app = create_app(analyzer, gallery=gallery)
    with live_server(app) as srv, open_page(srv, video, viewport={"width": 1280, "height": 800}) as (page, outside,
                                                                                                     errors):
        page.wait_for_selector("#check-liveness:not([hidden])", timeout=20_000)
        page.check("input[name=detector][value=ssd]")  # the detector the threshold was chosen with
        page.check("#opt-recognize")
        page.check("#opt-liveness")
        page.click("#sw-webcam")
        page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
        page.click("#sw-models")
        page.wait_for_selector("#state-models[data-kind=on]", timeout=90_000)
        page.click("#sw-detect")
        page.wait_for_selector("#face-summary[data-liveness=spoof]", timeout=90_000)
        page.wait_for_function("() => (window.faceapiPage.state().drawn.tags || []).some("
                               "(t) => t.text.includes('p0006'))", timeout=60_000)
        named = _tags(page)

        page.check("#opt-require-live")  # applied live
        page.wait_for_selector("#face-name[data-label='not live']", timeout=60_000)
        page.wait_for_function("() => window.faceapiPage.state().frames.fps_samples >= 3", timeout=60_000)
        guarded = []
        for _ in range(5):  # a few answers in a row, each drawn on its frame
            page.wait_for_timeout(300)
            guarded.append((_tags(page), page.get_attribute("#face-name", "data-known"),
                            page.inner_text("#face-name")))
        state = page.evaluate("() => window.faceapiPage.state()")
        box = state["drawn"]["boxes"][0]
        green = page.evaluate("""(b) => {
            const c = document.getElementById('overlay'), dpr = window.devicePixelRatio || 1;
            const x = Math.round((b.x + b.width / 2) * dpr), y = Math.round((b.y + b.height) * dpr);
            const p = c.getContext('2d').getImageData(x, y, 1, 1).data;
            return p[1] > 120 && p[0] < 60 && p[2] < 60;
        }""", box)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-liveness.png"))
    gallery.close()

    assert not errors, errors
    assert not outside, outside
    # liveness on, require_live off: the print is named, and tagged spoof
    assert any("p0006" in t["text"] and t["liveness"] == "spoof" for t in named), named
    # require_live: never named, "not live" and spoof on every answer looked at
    for tags, known, name in guarded:
        assert tags and all("p0006" not in t["text"] for t in tags), tags
        assert any(re.search(r"not live · spoof$", t["text"]) and t["liveness"] == "spoof" for t in tags), tags
        assert known == "false" and "p0006" not in name, (known, name)
    assert state["settings"]["require_live"] is True, state["settings"]
    face = state["result"]["faces"][0]
    assert face["match"]["label"] == "not live" and face["liveness"]["live"] is False, face
    assert face["raw"]["match"]["label"] == "not live", face["raw"]  # the raw JSON does not name it either
    assert not green
