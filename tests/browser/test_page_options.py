"""The page's options follow the server's option schema (the hello's `options`): its sliders keep within the
schema's limits (a hello routed to say a smaller maximum gets a smaller slider), and the settings it sends
have only the options of the detector chosen (no `input_size` with SSD, which the server refuses unless it
is the default); the server takes every settings message the page sends."""

from __future__ import annotations

import json

from faceapi.option_schema import SPECS
from faceapi.pipeline import FaceAnalyzer


def test_controls_follow_the_schema_and_send_what_applies(live_server, open_page, page_state, models_dir):
    from faceapi.server import create_app

    replies: list[dict] = []

    def route(ws) -> None:
        server = ws.connect_to_server()
        ws.on_message(lambda message: server.send(message))

        def to_page(message) -> None:
            msg = json.loads(message) if isinstance(message, str) else None
            if msg is not None and msg.get("type") == "hello":  # a server whose input_size stops at 320
                for o in msg["options"]:
                    if o["name"] == "input_size":
                        o["maximum"] = 320
                message = json.dumps(msg)
            elif msg is not None:
                replies.append(msg)
            ws.send(message)

        server.on_message(to_page)

    app = create_app(FaceAnalyzer(models_dir))
    with live_server(app) as srv, open_page(srv, wait_ok=False) as (page, outside, errors):
        page.route_web_socket("**/ws/stream", route)
        page.reload()
        page.wait_for_selector("#server-state[data-state=ok]")
        page.wait_for_function("() => window.faceapiPage.state().hello !== null", timeout=20_000)
        slider = page.evaluate("() => { const i = document.getElementById('opt-input-size');"
                               " return [Number(i.min), Number(i.max), Number(i.step), Number(i.value)]; }")
        tiny = page_state(page)["settings"]
        page.check("input[name=detector][value=ssd]")
        page.wait_for_function("() => window.faceapiPage.state().settings.detector === 'ssd'")
        ssd = page_state(page)["settings"]
        page.check("input[name=detector][value=tiny]")
        page.wait_for_function("() => window.faceapiPage.state().settings.detector === 'tiny'")
    assert not errors, errors
    assert not outside, outside
    spec = SPECS["input_size"]
    assert slider[0] == spec.minimum and slider[1] == 320 and slider[2] == spec.multiple_of, slider
    assert slider[3] <= 320, slider  # 416 is out of this server's range: the schema's default would be too
    assert tiny["detector"] == "tiny" and "input_size" in tiny, tiny
    assert ssd["detector"] == "ssd" and "input_size" not in ssd, ssd
    refused = [r for r in replies if r.get("type") == "error"]
    assert not refused, refused
