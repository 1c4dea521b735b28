"""Controls for what a server advertises, per the JSON contract: an expression-model select (each model with its
balanced accuracy), a calibrated-confidence switch and a liveness switch appear only when the WebSocket hello
announces them, and their choices go in the settings as `expression_model`, `calibrated`, `liveness`; faces'
`expressions.calibrated`, `expressions.model` and `liveness` are shown (calibrated bars, said so; live/spoof on
the tag). A server that announces none of it gets none of it. The hello and results of a newer server are
made by routing this server's WebSocket (as in test_page_motion.py), since the server's own nets differ
from these; the settings the page sends are recorded and the new keys kept from this server.
Log out: POST /api/logout where the server has it, else the page says the server has none."""

from __future__ import annotations

import json

from faceapi.pipeline import FaceAnalyzer

from helpers import ARTIFACTS

NEW_KEYS = ("expression_model", "calibrated", "liveness")
MODELS = [{"name": "faceapi", "label": "face-api.js", "balanced_accuracy": 0.52},
          {"name": "ferplus", "label": "FER+ fine-tuned", "balanced_accuracy": 0.61}]


def calibrate(probs: dict[str, float]) -> dict[str, float]:
    """A stand-in calibration (a temperature of 2 on the probabilities): numbers unlike the raw ones."""
    w = {k: v ** 0.5 for k, v in probs.items()}
    s = sum(w.values())
    return {k: v / s for k, v in w.items()}


def test_advertised_controls_and_their_fields(live_server, open_page, page_state, still_frame, write_y4m, models_dir,
                                              tmp_path):
    from faceapi.server import create_app

    video = write_y4m([still_frame("happy.jpg")] * 5, tmp_path / "webcam.y4m")
    sent: list[dict] = []
    loads: list[dict] = []

    def route(ws) -> None:
        server = ws.connect_to_server()

        def to_server(message) -> None:
            if isinstance(message, str):
                msg = json.loads(message)
                sent.append(dict(msg))
                message = json.dumps({k: v for k, v in msg.items() if k not in NEW_KEYS})
            server.send(message)

        def to_page(message) -> None:
            msg = json.loads(message)
            if msg["type"] == "hello":
                msg |= {"expression_models": MODELS, "liveness": True}
            elif msg["type"] == "result":
                for f in msg["faces"]:
                    if f.get("expressions"):
                        f["expressions"]["calibrated"] = calibrate(f["expressions"]["probabilities"])
                        f["expressions"]["model"] = "ferplus"
                    f["liveness"] = {"score": 0.12, "live": False, "threshold": 0.5}
            ws.send(json.dumps(msg))

        ws.on_message(to_server)
        server.on_message(to_page)

    def load(route_) -> None:  # the nets' load request: the new keys recorded, kept from this server
        body = json.loads(route_.request.post_data)
        loads.append(dict(body["settings"]))
        body["settings"] = {k: v for k, v in body["settings"].items() if k not in NEW_KEYS}
        route_.continue_(post_data=json.dumps(body))

    def plain_route(ws) -> None:  # a server that advertises none of it (this one's hello, less those keys)
        server = ws.connect_to_server()
        ws.on_message(lambda message: server.send(message))

        def to_page(message) -> None:
            msg = json.loads(message) if isinstance(message, str) else None
            if msg is not None and msg.get("type") == "hello":
                msg.pop("expression_models", None)
                msg.pop("liveness", None)
                message = json.dumps(msg)
            ws.send(message)

        server.on_message(to_page)

    app = create_app(FaceAnalyzer(models_dir))
    with live_server(app) as srv:
        with open_page(srv, video, wait_ok=False) as (page, outside, errors):  # no such controls, no such keys
            page.route_web_socket("**/ws/stream", plain_route)
            page.reload()
            page.wait_for_selector("#server-state[data-state=ok]")
            page.wait_for_function("() => window.faceapiPage.state().hello !== null", timeout=20_000)
            plain = {"hidden": [page.is_hidden(s) for s in ("#field-expression-model", "#check-calibrated",
                                                            "#check-liveness")],
                     "settings": page_state(page)["settings"]}
        assert not errors, errors

        with open_page(srv, video, viewport={"width": 1280, "height": 800}, wait_ok=False) as (page, outside, errors):
            page.route_web_socket("**/ws/stream", route)
            page.route("**/api/models/load", load)
            page.reload()
            page.wait_for_selector("#server-state[data-state=ok]")
            page.wait_for_selector("#field-expression-model:not([hidden])", timeout=20_000)
            options = page.eval_on_selector_all("#opt-expression-model option",
                                                "os => os.map((o) => [o.value, o.textContent])")
            shown = [page.is_visible(s) for s in ("#check-calibrated", "#check-liveness")]
            page.select_option("#opt-expression-model", "ferplus")
            page.check("#opt-calibrated")
            page.check("#opt-liveness")
            page.click("#sw-webcam")
            page.wait_for_selector("#state-webcam[data-kind=on]", timeout=20_000)
            page.click("#sw-models")
            page.wait_for_selector("#state-models[data-kind=on]", timeout=60_000)
            page.click("#sw-detect")
            page.wait_for_selector("#face-summary[data-calibrated=true][data-liveness=spoof]", timeout=60_000)
            state = page_state(page)
            notes = page.text_content("#face-notes")
            dom = page.get_attribute("#face-summary", "data-dominant")
            pct = page.text_content("#dominant-prob")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "browser-features-advertised.png"))
        assert not errors, errors
        assert not outside, outside

    assert plain["hidden"] == [True, True, True], plain
    assert not set(NEW_KEYS) & set(plain["settings"]), plain["settings"]
    assert options == [["faceapi", "face-api.js · balanced accuracy 0.52"],
                       ["ferplus", "FER+ fine-tuned · balanced accuracy 0.61"]], options
    assert shown == [True, True]
    last = [m for m in sent if m.get("type") == "settings"][-1]
    assert last["expression_model"] == "ferplus" and last["calibrated"] is True and last["liveness"] is True, last
    assert loads and loads[-1]["expression_model"] == "ferplus", loads
    face = state["result"]["faces"][0]
    assert face["expressions"]["model"] == "ferplus"
    assert pct == f"{round(face['expressions']['calibrated'][dom] * 100)}%", (pct, face["expressions"])
    assert "calibrated confidence" in notes and "model ferplus" in notes, notes
    assert "spoof (liveness 0.12, threshold 0.50)" in notes, notes
    tag = state["drawn"]["tags"][0]
    assert tag["text"].endswith(" · spoof") and tag["liveness"] == "spoof", tag
    assert "score " in tag["text"], tag


def test_log_out(live_server, open_page, page_state, tmp_path):
    """Log out ends the session where the server has POST /api/logout (the page then says how to come back);
    a server without it: the page says so and the item goes."""
    from faceapi.server import create_app

    app = create_app(FaceAnalyzer(tmp_path / "no-models"))
    has_route = "/api/logout" in app.openapi()["paths"]  # (app.routes does not list routers' routes)
    with live_server(app) as srv, open_page(srv, None) as (page, outside, errors):
        page.wait_for_selector("#btn-logout:not([hidden])")
        page.click("#btn-logout")
        if has_route:
            page.wait_for_selector("#server-state[data-state=token]", timeout=20_000)
            banner = page.text_content("#token-banner")
            health = page.evaluate("async () => (await fetch('/api/health')).json()")
        else:
            page.wait_for_selector("#btn-logout[hidden]", state="attached", timeout=20_000)
            said = page.text_content("#server-text")
        st = page_state(page)
    assert not errors, errors
    assert not outside, outside
    if has_route:
        assert st["logged_out"] and "Logged out" in banner, banner
        assert "version" not in health, "the session is gone: the health check answers without details"
    else:
        assert said == "this server has no log out" and not st["logged_out"], said
