"""Fixtures of the browser tests: fake-webcam clips (YUV4MPEG2 files Chromium plays as its camera) and
Chromium opened on the server's page, with lists of outside requests and page errors to assert on."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

W, H = 640, 480
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

def _frame_with(photo: Image.Image, x: int, y: int) -> np.ndarray:
    frame = Image.new("RGB", (W, H), (24, 28, 34))
    frame.paste(photo, (x, y))
    return np.asarray(frame)


@pytest.fixture(scope="session")
def still_frame(shared_dir) -> Callable[[str], np.ndarray]:
    """`still_frame("happy.jpg")`: the photo scaled to the frame's width, centred on a dark 640x480 frame."""
    def make(name: str) -> np.ndarray:
        im = Image.open(shared_dir / "images" / name).convert("RGB")
        im = im.resize((W, round(im.height * W / im.width)), Image.BICUBIC)
        return _frame_with(im, 0, (H - im.height) // 2)
    return make


@pytest.fixture(scope="session")
def crop_frame(shared_dir) -> Callable[[str, int], np.ndarray]:
    """`crop_frame("amy1.png", side)`: a 150x150 face crop scaled to `side` px, centred on a dark 640x480
    frame (the detector needs some picture around a face)."""
    def make(name: str, side: int = 300) -> np.ndarray:
        im = Image.open(shared_dir / "images" / name).convert("RGB").resize((side, side), Image.BICUBIC)
        return _frame_with(im, (W - side) // 2, (H - side) // 2)
    return make


@pytest.fixture(scope="session")
def panning_frames(shared_dir) -> Callable[[str, int, int], list[np.ndarray]]:
    """`panning_frames("happy.jpg", width, step)`: the photo at `width` px sliding left to right and back
    across a dark 640x480 frame, `step` px per frame (a face that moves, for the stale-overlay test)."""
    def make(name: str, width: int, step: int) -> list[np.ndarray]:
        im = Image.open(shared_dir / "images" / name).convert("RGB")
        im = im.resize((width, round(im.height * width / im.width)), Image.BICUBIC)
        xs = list(range(0, W - width + 1, step))
        return [_frame_with(im, x, (H - im.height) // 2) for x in xs + xs[-2:0:-1]]
    return make


@pytest.fixture(scope="session")
def write_y4m() -> Callable[[Sequence[np.ndarray], Path, int], Path]:
    """`write_y4m(frames, path, fps)`: a YUV4MPEG2 (4:2:0, BT.601 limited range) clip; Chromium loops it."""
    def write(frames: Sequence[np.ndarray], path: Path, fps: int = 15) -> Path:
        with open(path, "wb") as out:
            out.write(f"YUV4MPEG2 W{W} H{H} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
            for rgb in frames:
                f = rgb.astype(np.float32)
                r, g, b = f[..., 0], f[..., 1], f[..., 2]
                y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
                u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
                v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
                out.write(b"FRAME\n")
                for p in (y, u.reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3)),
                          v.reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3))):
                    out.write(np.clip(np.round(p), 0, 255).astype(np.uint8).tobytes())
        return path
    return write


@pytest.fixture(scope="session")
def open_page(chromium_path) -> Callable[..., contextlib.AbstractContextManager]:
    """`with open_page(srv, video=clip, **context_options) as (page, outside, errors):` Chromium with `clip`
    as its webcam (no camera when None; `args` adds flags), on the server's page once the server answers.
    `outside` fills with requests to anywhere but the server, `errors` with uncaught page errors; a list
    given as `requests` with the URL of every request, from the first page load on."""
    import playwright.sync_api as sync_api  # importable: chromium_path required it

    @contextlib.contextmanager
    def open_(srv, video: Path | None = None, args: Sequence[str] = (), wait_ok: bool = True,
              requests: list[str] | None = None, **context) -> Iterator[tuple]:
        camera = [*FAKE_CAMERA, f"--use-file-for-fake-video-capture={video}"] if video else []
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path, headless=True,
                                         args=[*FLAGS, *camera, *args])
            try:
                ctx = browser.new_context(**({"viewport": {"width": 1360, "height": 1040}} | context))
                page = ctx.new_page()
                outside: list[str] = []
                page.on("request", lambda req: None if req.url.startswith((srv.url, srv.ws, "data:", "blob:"))
                        else outside.append(req.url))
                if requests is not None:
                    page.on("request", lambda req: requests.append(req.url))
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(srv.page_url)  # the token URL `faceapi serve` prints: sets the cookie, then redirects
                assert page.url == srv.url + "/", "the token is removed from the address bar"
                if wait_ok:
                    page.wait_for_selector("#server-state[data-state=ok]")
                yield page, outside, errors
            finally:
                browser.close()
    return open_


@pytest.fixture(scope="session")
def page_state() -> Callable[[object], dict]:
    """`page_state(page)`: the page's read-only snapshot (window.faceapiPage.state())."""
    return lambda page: page.evaluate("() => window.faceapiPage.state()")
