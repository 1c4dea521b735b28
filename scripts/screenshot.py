#!/usr/bin/env python3
"""The README's picture of the page: `faceapi serve` on loopback, Chromium (Playwright) in Image mode on a
shared photo, a screenshot saved as a small PNG (docs/img/page.png by default).

    .venv/bin/python scripts/screenshot.py [--photo ../shared/images/bbt4.jpg] [--out docs/img/page.png]
"""

from __future__ import annotations

import argparse
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", default=str(ROOT.parent / "shared" / "images" / "bbt4.jpg"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "page.png"))
    ap.add_argument("--width", type=int, default=1280, help="browser viewport width")
    ap.add_argument("--height", type=int, default=860, help="browser viewport height")
    ap.add_argument("--scale", type=float, default=0.6, help="the PNG's size relative to the viewport")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    token, port = secrets.token_urlsafe(16), free_port()
    server = subprocess.Popen([sys.executable, "-m", "faceapi.cli.main", "serve", "--port", str(port),
                               "--token", token, "--no-gallery", "--preload"], cwd=ROOT)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            deadline = time.monotonic() + 120
            while True:  # the server loads the nets first (--preload)
                try:
                    page.goto(f"http://127.0.0.1:{port}/?token={token}", timeout=5_000)
                    break
                except Exception:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(0.5)
            page.wait_for_selector("#server-state[data-state=ok]", timeout=60_000)
            page.click("#tab-image")
            page.set_input_files("#file-input", args.photo)
            page.wait_for_selector("#image-actions:not([hidden])", timeout=120_000)
            shot = Path(args.out).with_suffix(".full.png")
            page.screenshot(path=str(shot))
            browser.close()
        with Image.open(shot) as im:
            size = (round(im.width * args.scale), round(im.height * args.scale))
            small = im.convert("RGB").resize(size, Image.LANCZOS).quantize(colors=128, dither=Image.Dither.NONE)
            small.save(args.out, optimize=True)
        shot.unlink()
        print(f"{args.out}: {size[0]}x{size[1]}, {Path(args.out).stat().st_size} bytes")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
