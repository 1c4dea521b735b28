"""The page under the server's rules, against real servers on loopback: uploads carry a Content-Type the
server takes (also for a file whose type the browser does not know); enrolling under a name that exists
asks first, and a face unlike that person's is added only when the person insists; the QR code for a phone
is asked for only where the server serves phones; a page refused for want of its token (cookie gone,
server restarted with another token) says how to get it back."""

from __future__ import annotations

import base64
import io
import socket
import urllib.parse

import numpy as np
from PIL import Image

from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer

from helpers import ARTIFACTS

SETTINGS = {"detector": "tiny", "input_size": 416, "min_score": 0.5, "landmarks": "full", "expressions": True}
TOKEN_NEEDED = "The server needs its token: open the address faceapi serve printed."
PHONE_URL = "https://192.0.2.7:8443/?token=abc"

# A photo dropped on the drop zone as a File whose type is "" (what a browser gives for a file it cannot
# type, e.g. one without an extension).
DROP_UNTYPED = """(b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], "photo", { type: "" }));
  const f = dt.files[0];
  document.getElementById("dropzone").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true,
                                                                           cancelable: true }));
  return f.type;
}"""


def jpeg(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=92)
    return out.getvalue()


def uploads(page) -> list[dict]:
    """Every POST the page sends from now on: url, Content-Type, and the status it got."""
    sent: list[dict] = []

    def on_response(resp) -> None:
        req = resp.request
        if req.method == "POST":
            sent.append({"url": req.url, "type": req.headers.get("content-type"), "status": resp.status})

    page.on("response", on_response)
    return sent


def test_image_mode_sends_every_photo_with_a_type(live_server, open_page, page_state, models_dir, shared_dir,
                                                 tmp_path):
    """A dropped file of unknown type (as application/octet-stream), a picked PNG and a picked JPEG are each
    analysed, and the annotated image downloads (a PNG of the photo's size) for the untyped one too."""
    from faceapi.server import create_app

    analyzer = FaceAnalyzer(models_dir)
    photos = {"untyped": shared_dir / "images" / "happy.jpg", "png": shared_dir / "images" / "face_rectangular.png",
              "jpeg": shared_dir / "images" / "bbt4.jpg"}
    expected = {k: len(analyzer.analyze(p, AnalyzeOptions.from_dict(SETTINGS)).faces) for k, p in photos.items()}
    seen: dict[str, dict] = {}
    with live_server(create_app(analyzer)) as srv, open_page(srv, None) as (page, outside, errors):
        sent = uploads(page)
        page.click("#tab-image")
        for kind, path in photos.items():
            page.evaluate("() => { document.getElementById('image-actions').hidden = true; }")
            if kind == "untyped":
                file_type = page.evaluate(DROP_UNTYPED, base64.b64encode(path.read_bytes()).decode())
                assert file_type == "", "the browser keeps the file's type empty"
            else:
                page.set_input_files("#file-input", str(path))
            page.wait_for_selector("#image-actions:not([hidden])", timeout=60_000)
            seen[kind] = {"status": page.inner_text("#image-status"),
                          "boxes": len(page_state(page)["photo"]["boxes"])}
            if kind == "untyped":
                with page.expect_download(timeout=60_000) as download:
                    page.click("#btn-download")
                download.value.save_as(tmp_path / "annotated.png")
    annotated = (tmp_path / "annotated.png").read_bytes()
    assert not errors, errors
    assert not outside, outside
    for kind, n in expected.items():
        assert f"{n} face{'' if n == 1 else 's'}" in seen[kind]["status"] and seen[kind]["boxes"] == n, (kind, seen)
    assert [s["status"] for s in sent] == [200] * 4, sent
    analysed = [s for s in sent if "annotate=true" not in s["url"]]
    assert [s["type"] for s in analysed] == ["application/octet-stream", "image/png", "image/jpeg"], analysed
    download_req = next(s for s in sent if "annotate=true" in s["url"])
    assert download_req["type"] == "application/octet-stream", download_req
    with Image.open(io.BytesIO(annotated)) as im, Image.open(photos["untyped"]) as src:
        assert im.format == "PNG" and im.size == src.size


def test_enrolling_a_name_that_exists_asks_first(live_server, open_page, crop_frame, write_y4m, models_dir,
                                                 tmp_path):
    """Amy is enrolled; "Amy" again asks whether to add the face to her (Escape: nothing added; Enter: added
    with append=true); a face of someone else under "Amy" shows the server's reason and is added only with
    "Add anyway" (append=true&force=true). The keyboard alone answers; the focus goes to the question.
    Saves test-artifacts/browser-enrol-ask.png."""
    from faceapi.gallery import Gallery, describe_face
    from faceapi.server import create_app

    video = write_y4m([crop_frame("amy1.png")] * 5, tmp_path / "webcam.y4m")
    second_amy, sheldon = jpeg(crop_frame("amy2.png")), jpeg(crop_frame("sheldon1.png"))
    analyzer = FaceAnalyzer(models_dir)
    gallery = Gallery(tmp_path / "people.sqlite3")
    body = [None]  # what the camera "shows" for the next enrolment (None: the webcam's own frame)

    def swap(route) -> None:
        if body[0] is None:
            route.continue_()
        else:
            route.continue_(post_data=body[0])

    def focused(page) -> str:
        return page.evaluate("() => document.activeElement.id")

    with live_server(create_app(analyzer, gallery=gallery)) as srv, \
            open_page(srv, video) as (page, outside, errors):
        sent = uploads(page)
        page.route(lambda url: "/api/people?" in url, swap)
        page.click("#sw-webcam")
        page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
        page.fill("#enrol-name", "Amy")
        page.click("#btn-enrol")
        page.wait_for_selector("#enrol-msg[data-kind=ok]", timeout=60_000)
        first = page.inner_text("#enrol-msg")

        # the same name again: asked, Escape says no
        body[0] = second_amy
        page.click("#btn-enrol")
        page.wait_for_selector("#enrol-ask:not([hidden])", timeout=60_000)
        question = page.inner_text("#enrol-msg")
        yes_label, yes_focused = page.inner_text("#btn-ask-yes"), focused(page) == "btn-ask-yes"
        group = page.get_by_role("group", name=question).count()
        sizes = [page.locator(s).bounding_box() for s in ("#btn-ask-yes", "#btn-ask-no")]
        page.keyboard.press("Escape")
        page.wait_for_selector("#enrol-ask", state="hidden")
        declined, focus_after_no = page.inner_text("#enrol-msg"), focused(page)
        samples_after_no = gallery.person("Amy").descriptors

        # asked again, Enter says yes
        page.click("#btn-enrol")
        page.wait_for_selector("#enrol-ask:not([hidden])", timeout=60_000)
        page.keyboard.press("Enter")
        page.wait_for_selector("#enrol-msg[data-kind=ok]", timeout=60_000)
        appended = page.inner_text("#enrol-msg")
        page.wait_for_function("() => (document.querySelector('#people-list li[data-name=Amy]') || {})"
                               ".textContent?.includes('2 samples')")

        # somebody else under Amy's name: asked whether to add, then told why not, then added anyway
        body[0] = sheldon
        page.click("#btn-enrol")
        page.wait_for_selector("#enrol-ask:not([hidden])", timeout=60_000)
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.getElementById('btn-ask-yes').textContent === 'Add anyway'"
                               " && !document.getElementById('enrol-ask').hidden", timeout=60_000)
        mismatch, anyway_focused = page.inner_text("#enrol-msg"), focused(page) == "btn-ask-yes"
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#people-card").screenshot(path=str(ARTIFACTS / "browser-enrol-ask.png"))
        samples_before_force = gallery.person("Amy").descriptors
        known = gallery.descriptors("Amy")
        page.keyboard.press("Enter")
        page.wait_for_selector("#enrol-msg[data-kind=ok]", timeout=60_000)
        forced = page.inner_text("#enrol-msg")
    samples_after_force = gallery.person("Amy").descriptors
    gallery.close()

    assert not errors, errors
    assert not outside, outside
    assert first.startswith("Added Amy (1 sample)"), first
    assert question == "Amy exists: add this face as another sample of Amy?", question
    assert yes_label == "Add as another sample" and yes_focused and group == 1
    assert all(b["width"] >= 44 and b["height"] >= 44 for b in sizes), sizes
    assert declined == "Nothing added to Amy." and focus_after_no == "enrol-name" and samples_after_no == 1
    assert appended.startswith("Added Amy (2 samples)"), appended
    nearest = float(np.sqrt(((known - describe_face(analyzer, sheldon).descriptor) ** 2).sum(axis=1)).min())
    assert nearest > 0.6, nearest  # the premise: Sheldon is not Amy
    assert f"is {nearest:.2f} from the nearest of the 2 sample(s) of 'Amy'" in mismatch, mismatch
    assert "somebody else" in mismatch, mismatch
    assert anyway_focused and samples_before_force == 2
    assert forced.startswith("Added Amy (3 samples)") and samples_after_force == 3, forced
    queries = [dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(s["url"]).query)) for s in sent]
    statuses = [s["status"] for s in sent]
    assert queries == [{"name": "Amy"}, {"name": "Amy"}, {"name": "Amy"}, {"name": "Amy", "append": "true"},
                       {"name": "Amy"}, {"name": "Amy", "append": "true"},
                       {"name": "Amy", "append": "true", "force": "true"}], queries
    assert statuses == [201, 409, 409, 201, 409, 409, 201], statuses
    assert {s["type"] for s in sent} == {"image/jpeg"}


def test_phone_qr_code_only_where_the_server_serves_phones(live_server, open_page, page_state, tmp_path):
    """A server with a phone URL (as `serve --lan` makes one): the page shows its QR code and address. A
    server without: the page never asks for one (no request that could only answer 404)."""
    from faceapi.server import create_app

    asked: dict[str, list[str]] = {}
    for name, phone_url in (("lan", PHONE_URL), ("local", None)):
        app = create_app(FaceAnalyzer(tmp_path / "no-models"), phone_url=phone_url)
        requests: list[str] = []
        with live_server(app) as srv, open_page(srv, None, requests=requests) as (page, outside, errors):
            if phone_url:
                page.wait_for_selector("#phone-card:not([hidden])")
                qr = urllib.parse.unquote(page.get_attribute("#phone-qr", "src").split(",", 1)[1])
                link = (page.inner_text("#phone-url"), page.get_attribute("#phone-url", "href"))
                with srv.client() as client:
                    served = client.get("/api/phone").json()
            else:
                page.wait_for_function("() => window.faceapiPage.state().phone === false")
                card_hidden = page.is_hidden("#phone-card")
            asked[name] = [u for u in requests if urllib.parse.urlsplit(u).path == "/api/phone"]
        assert not errors, errors
        assert not outside, outside
    assert qr == served["qr_svg"] and qr.startswith("<") and "svg" in qr[:200]
    assert link == (PHONE_URL, PHONE_URL)
    assert [urllib.parse.urlsplit(u).path for u in asked["lan"]] == ["/api/phone"] and asked["local"] == [], asked
    assert card_hidden


def test_page_without_its_cookie_says_how_to_get_the_token(live_server, open_page, tmp_path):
    """The session cookie is gone (cleared, expired): the next REST call answers 401 and the page says, once
    and at the top, to open the address `faceapi serve` printed. Saves test-artifacts/browser-token-needed.png."""
    from faceapi.server import create_app

    with live_server(create_app(FaceAnalyzer(tmp_path / "no-models"))) as srv, \
            open_page(srv, None) as (page, outside, errors):
        sent = uploads(page)
        banner_at_start = page.is_hidden("#token-banner")
        page.context.clear_cookies()
        page.click("#sw-models")
        page.wait_for_selector("#token-banner:not([hidden])")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-token-needed.png"))
        banner = page.inner_text("#token-banner")
        alerts = page.get_by_role("alert").filter(has_text="needs its token").count()
        server_state = page.get_attribute("#server-state", "data-state")
        models_state = page.inner_text("#state-models")
    assert not errors, errors
    assert not outside, outside
    assert banner_at_start
    assert [s["status"] for s in sent] == [401], sent
    assert banner == TOKEN_NEEDED and alerts == 1 and server_state == "token"
    assert models_state == TOKEN_NEEDED


def test_page_after_a_restart_with_another_token(live_server, open_page, still_frame, write_y4m, models_dir,
                                                  tmp_path):
    """Detecting, the server restarts on the same port with a new token: the page's WebSocket is refused on
    reconnecting, and the page says to open the address `faceapi serve` printed."""
    from faceapi.server import create_app

    video = write_y4m([still_frame("happy.jpg")] * 5, tmp_path / "webcam.y4m")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        first = live_server(create_app(FaceAnalyzer(models_dir)), listening=sock).__enter__()
        try:
            with open_page(first, video) as (page, outside, errors):
                page.click("#sw-webcam")
                page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
                page.click("#sw-models")
                page.wait_for_selector("#state-models[data-kind=on]", timeout=60_000)
                page.click("#sw-detect")
                page.wait_for_selector("#face-summary[data-dominant=happy]", timeout=60_000)
                banner_before = page.is_hidden("#token-banner")
                sockets: list = []
                page.on("websocket", lambda ws: sockets.append(ws.url))
                first.__exit__(None, None, None)
                second = create_app(FaceAnalyzer(models_dir))
                assert second.state.ctx.access.token != first.token
                with live_server(second, listening=sock):
                    page.wait_for_selector("#token-banner:not([hidden])", timeout=30_000)
                    page.wait_for_function("(t) => document.getElementById('state-detect').textContent === t",
                                           arg=TOKEN_NEEDED, timeout=30_000)
                    banner = page.inner_text("#token-banner")
                    detect_state = page.inner_text("#state-detect")
                    hello_after = page.evaluate("() => window.faceapiPage.state().hello")
        finally:
            first.__exit__(None, None, None)
    assert not errors, errors
    assert not outside, outside
    assert banner_before and banner == TOKEN_NEEDED
    assert sockets, "the page tried the stream again"
    assert hello_after is None
    assert detect_state == TOKEN_NEEDED, detect_state
