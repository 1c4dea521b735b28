"""Shared test fixtures: where the reference data (face-api.js outputs) and the model weights are.

The reference data lives in ``../shared`` next to the repository (override with ``$FACEAPI_SHARED``).
When data or weights are missing, tests that need them are skipped -- or fail when ``$CI`` is set, so a CI
run cannot pass by silently skipping the parity tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faceapi.models import MODELS, model_dir

from helpers import reference_dirs, shared_path


def missing(reason: str) -> None:
    """Skip the test (or fail it when ``$CI`` is set) because data it needs is not there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so missing data is an error)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder, checked to hold reference outputs and the source images."""
    shared = shared_path()
    if not reference_dirs(shared):
        missing(f"no reference data in {shared / 'reference'} (set FACEAPI_SHARED to the shared folder)")
    if not (shared / "images").is_dir():
        missing(f"no source images in {shared / 'images'}")
    return shared


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The model folder (``faceapi.models.model_dir()``), checked to hold every model's manifest and bin."""
    folder = model_dir()
    absent = [f for spec in MODELS.values() for f in spec.files if not (folder / f).is_file()]
    if absent:
        missing(f"model weights missing in {folder}: {', '.join(absent)} (run `faceapi models download`)")
    return folder


def require(module: str):
    """Import an optional dependency a test needs: skip without it, but fail under ``$CI``, where every
    dependency is installed by the set-up and a missing one is breakage to see, not to hide."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing(f"{module} is not importable ({exc}); `scripts/setup.sh --dev` installs it")
        raise  # not reached: missing() skips or fails


# browser fixtures ---------------------------------------------------------------------------------
# A real server on loopback and Debian's Chromium driven by Playwright (tests/browser/).

CHROMIUM = "/usr/bin/chromium"


class LiveServer:
    """uvicorn serving `app` on a pre-bound free 127.0.0.1 port, in a background thread."""

    def __init__(self, app):
        import socket
        import threading

        uvicorn = require("uvicorn")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                ws_max_size=16 * 1024 * 1024)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:  # uvicorn offers no event: poll its flag, bounded
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/stream"


@pytest.fixture(scope="session")
def live_server():
    """`with live_server(app) as srv:` serves `app` on 127.0.0.1 (srv.url, srv.ws)."""
    require("fastapi")
    return LiveServer


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium (Playwright drives it; its own browser download is not used)."""
    require("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        missing(f"Debian's chromium is not installed at {CHROMIUM} (scripts/setup.sh --dev installs it)")
    return CHROMIUM
