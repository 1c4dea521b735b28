"""The page at phone (portrait and landscape), tablet and desktop sizes, and with the keyboard alone:
the three switches can be tapped and the expression shows; nothing sticks out past the edges; every control
is at least 24x24 CSS px (the switches about 44); the switches come before the timeline; text is readable;
every control is reachable with Tab, toggled with Space and shows its focus. Screenshots go to
test-artifacts/page-<size>.png."""

from __future__ import annotations

import re

import pytest

from faceapi.pipeline import FaceAnalyzer

from helpers import ARTIFACTS

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True, "device_scale_factor": 2}
SIZES = {
    "phone": PHONE,
    "phone-landscape": {**PHONE, "viewport": {"width": 844, "height": 390}},
    "tablet": {"viewport": {"width": 820, "height": 1180}, "has_touch": True, "is_mobile": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}

# Every visible control with the rectangle a finger or pointer hits: a visually hidden radio's target is
# its label's visible span, the hidden file input's is the drop zone. Links inside sentences are exempt
# from the size rule (WCAG 2.2's inline exception) but not from the edges.
MEASURE = """() => {
  const out = [];
  const seen = new Set();
  for (const e of document.querySelectorAll('button, select, input, textarea, a[href], [role=switch], [tabindex]')) {
    let target = e;
    if (e.matches('.segmented input')) target = e.nextElementSibling;
    if (e.matches('.dropzone input')) target = e.closest('.dropzone');
    if (seen.has(target)) continue;
    seen.add(target);
    const r = target.getBoundingClientRect(), cs = getComputedStyle(target);
    if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden') continue;
    out.push({id: e.id || e.getAttribute('name') || e.textContent.trim().slice(0, 20), tag: e.tagName,
              inline: e.tagName === 'A', x: r.left, right: r.right, top: r.top + scrollY, width: r.width,
              height: r.height});
  }
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const n = walker.currentNode, p = n.parentElement;
    if (!n.textContent.trim() || !p.getClientRects().length) continue;
    const size = parseFloat(getComputedStyle(p).fontSize);
    if (size < 12) small.push([n.textContent.trim().slice(0, 30), size]);
  }
  const top = (id) => document.getElementById(id).getBoundingClientRect().top + scrollY;
  return {controls: out, small, scrollWidth: document.scrollingElement.scrollWidth, innerWidth,
          innerHeight, switchesTop: top('switches'), timelineTop: top('timeline-card'),
          detectBottom: document.getElementById('sw-detect').getBoundingClientRect().bottom + scrollY};
}"""


def check_layout(m: dict, name: str) -> None:
    assert m["scrollWidth"] <= m["innerWidth"], f"{name}: the page scrolls sideways ({m['scrollWidth']} px)"
    for c in m["controls"]:
        assert c["x"] >= -0.5 and c["right"] <= m["innerWidth"] + 0.5, f"{name}: {c} past the edge"
        if not c["inline"]:
            assert c["width"] >= 24 and c["height"] >= 24, f"{name}: {c} under 24x24"
    switches = [c for c in m["controls"] if c["id"].startswith("sw-")]
    assert len(switches) == 3, switches
    assert all(c["width"] >= 44 and c["height"] >= 44 for c in switches), switches
    assert m["switchesTop"] < m["timelineTop"], f"{name}: the switches come after the timeline"
    assert not m["small"], f"{name}: text under 12 px: {m['small']}"


@pytest.mark.parametrize("size", list(SIZES))
def test_page_at_every_size(size, live_server, open_page, page_state, still_frame, write_y4m, models_dir, tmp_path):
    from faceapi.server import create_app

    video = write_y4m([still_frame("happy.jpg")] * 5, tmp_path / "webcam.y4m")
    options = SIZES[size]
    with live_server(create_app(FaceAnalyzer(models_dir))) as srv, \
            open_page(srv, video, **options) as (page, outside, errors):
        before = page.evaluate(MEASURE)
        press = page.tap if options.get("has_touch") else page.click
        press("#sw-webcam")
        page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
        press("#sw-models")
        page.wait_for_selector("#state-models[data-kind=on]", timeout=60_000)
        press("#sw-detect")
        page.wait_for_selector("#face-summary[data-dominant=happy]", timeout=60_000)
        page.wait_for_function("() => window.faceapiPage.state().frames.fps_samples >= 3", timeout=60_000)
        running = page.evaluate(MEASURE)
        state = page_state(page)
        stage = page.evaluate("() => { const r = document.getElementById('overlay').getBoundingClientRect();"
                              " return {width: r.width, height: r.height}; }")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"page-{size}.png"), full_page=True)

    assert not errors, errors
    assert not outside, outside
    check_layout(before, f"{size} at load")
    check_layout(running, f"{size} running")
    if size == "phone":  # the three switches are on the first screen, without scrolling
        assert before["detectBottom"] <= before["innerHeight"], before["detectBottom"]
    # the overlay scales with the picture: the frame fills the stage's width or height (letterboxed)
    r = state["drawn"]["rect"]
    assert abs(r["width"] - stage["width"]) < 1 or abs(r["height"] - stage["height"]) < 1, (r, stage)
    assert r["x"] >= 0 and r["x"] + r["width"] <= stage["width"] + 0.5
    b = state["drawn"]["boxes"][0]
    assert r["x"] <= b["x"] and b["x"] + b["width"] <= r["x"] + r["width"] + 0.5, (b, r)
    # the expression panel sits beside the face, covering neither it nor its tag
    panel, tag = state["drawn"]["panels"][0], state["drawn"]["tags"][0]
    for other in (b, tag):
        assert (panel["x"] >= other["x"] + other["width"] or panel["x"] + panel["width"] <= other["x"]
                or panel["y"] >= other["y"] + other["height"] or panel["y"] + panel["height"] <= other["y"]), \
            (panel, other)


def test_page_with_the_keyboard_alone(live_server, open_page, still_frame, write_y4m, models_dir, tmp_path):
    """Tab to each switch, toggle it with Space, see the focus; screen-reader names; reduced motion."""
    from faceapi.server import create_app

    video = write_y4m([still_frame("happy.jpg")] * 5, tmp_path / "webcam.y4m")
    with live_server(create_app(FaceAnalyzer(models_dir))) as srv, \
            open_page(srv, video, viewport={"width": 1280, "height": 800}, reduced_motion="reduce") \
            as (page, outside, errors):
        # names for screen readers
        for name in ("Webcam", "Load models", "Detect faces"):
            assert page.get_by_role("switch", name=name, exact=True).count() == 1, name
        assert page.get_by_role("slider", name=re.compile("Tiny input size")).count() == 1
        assert page.get_by_role("slider", name=re.compile("Minimum score")).count() == 1
        assert page.get_by_role("radiogroup", name="Detector").get_by_role("radio").count() == 2
        assert page.get_by_role("radiogroup", name="Landmarks").get_by_role("radio").count() == 3
        assert page.get_by_role("radiogroup", name="Camera").get_by_role("radio").count() == 2
        assert page.get_by_role("checkbox", name="Expressions").count() == 1
        # reduced motion: no transitions or animations
        motion = page.evaluate("() => getComputedStyle(document.getElementById('sw-webcam'), '::after')"
                               ".transitionDuration")
        assert motion == "0s", motion

        focus = {}
        for sw, done in (("sw-webcam", "#state-webcam[data-kind=on]"), ("sw-models", "#state-models[data-kind=on]"),
                         ("sw-detect", "#face-summary[data-dominant=happy]")):
            for _ in range(60):  # Tab until the switch has the focus (the page has far fewer stops)
                page.keyboard.press("Tab")
                if page.evaluate("() => document.activeElement.id") == sw:
                    break
            else:
                pytest.fail(f"Tab never reached #{sw}")
            focus[sw] = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
                return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor}; }""")
            page.keyboard.press("Space")
            page.wait_for_selector(done, timeout=60_000)
            assert page.get_attribute(f"#{sw}", "aria-checked") == "true"
        # Space turns a switch off again
        page.keyboard.press("Space")
        page.wait_for_selector("#sw-detect[aria-checked=false]")
        # the mode tabs: arrow keys move between Live and Image
        page.focus("#tab-live")
        page.keyboard.press("ArrowRight")
        tab_focus = page.evaluate("() => document.activeElement.id")
        image_shown = page.is_visible("#image-view")
    assert not errors, errors
    assert not outside, outside
    for sw, f in focus.items():
        assert f["style"] != "none" and f["width"] >= 2, (sw, f)
    assert tab_focus == "tab-image" and image_shown


def test_camera_choice(live_server, open_page, page_state, tmp_path):
    """Several cameras: a device picker appears and switches the camera; Back turns the mirror off, Front on."""
    from faceapi.server import create_app

    args = ["--use-fake-device-for-media-stream=device-count=2", "--use-fake-ui-for-media-stream"]
    with live_server(create_app(FaceAnalyzer(tmp_path / "no-models"))) as srv, \
            open_page(srv, None, args=args, **SIZES["phone"]) as (page, outside, errors):
        assert page.is_hidden("#camera-select")
        page.tap("#sw-webcam")
        page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
        page.wait_for_selector("#camera-select:not([hidden])")
        options = page.eval_on_selector_all("#camera-select option", "os => os.map((o) => [o.value, o.textContent])")
        first = page.inner_text("#state-webcam")
        page.select_option("#camera-select", options[1][0])
        page.wait_for_function("(first) => { const s = document.getElementById('state-webcam');"
                               " return s.dataset.kind === 'on' && s.textContent !== first; }", arg=first,
                               timeout=20_000)
        second = page.inner_text("#state-webcam")
        page.tap("text=Back")
        page.wait_for_function("() => !document.getElementById('opt-mirror').checked")
        page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
        back = page_state(page)
        page.tap("text=Front")
        page.wait_for_function("() => document.getElementById('opt-mirror').checked")
        page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
        front = page_state(page)
    assert not errors, errors
    assert not outside, outside
    assert len(options) == 2 and options[1][1] in second, (options, second)
    assert back["camera"]["facing"] == "environment" and not back["video"]["mirrored"]
    assert front["camera"]["facing"] == "user" and front["video"]["mirrored"]
