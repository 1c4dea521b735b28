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


# server fixtures ----------------------------------------------------------------------------------------
# The web app started for real on 127.0.0.1: in this process (LiveServer, uvicorn in a thread) or as
# `faceapi serve` (ServeProcess). Both get a socket bound here and handed over (a Python socket or an
# inherited file descriptor), so no port is picked, released and re-bound in between.
class StreamConnection:
    """A `/ws/stream` client connection (websockets' sync client) that reads JSON answers."""

    def __init__(self, ws) -> None:
        self.ws = ws

    def send(self, message) -> None:
        self.ws.send(message)

    def recv_json(self, timeout: float = 60) -> dict:
        import json

        msg = self.ws.recv(timeout=timeout)
        assert isinstance(msg, str), "the server answers with JSON text messages"
        return json.loads(msg)


class LiveServer:
    """uvicorn serving `app` on a free 127.0.0.1 port, in a background thread: ``with LiveServer(app) as srv``."""

    def __init__(self, app) -> None:
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
        self._started = threading.Event()

    def __enter__(self) -> LiveServer:
        # uvicorn sets `started` at the end of its startup; wrap startup to signal an Event (no polling)
        startup = self.server.startup

        async def signalling_startup(sockets=None) -> None:
            try:
                await startup(sockets=sockets)
            finally:
                self._started.set()

        self.server.startup = signalling_startup  # type: ignore[method-assign]
        self.thread.start()
        if not self._started.wait(30) or not self.server.started:
            self.server.should_exit = True
            raise RuntimeError("uvicorn did not start")
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

    def stream(self, settings: dict | None = None, **kw):
        """A stream connection past the server's hello (and, given `settings`, their acknowledgement)."""
        import contextlib
        import json

        connect = require("websockets.sync.client").connect

        @contextlib.contextmanager
        def opened():
            with connect(self.ws, max_size=None, **kw) as ws:
                conn = StreamConnection(ws)
                hello = conn.recv_json()
                assert hello["type"] == "hello"
                conn.hello = hello
                if settings is not None:
                    ws.send(json.dumps({"type": "settings", **settings}))
                    reply = conn.recv_json()
                    assert reply["type"] == "settings" and reply["ok"], reply
                yield conn

        return opened()


class ServeProcess:
    """`faceapi serve ARGS` in a subprocess, on a listening 127.0.0.1 socket bound here and inherited through
    ``--fd``: requests sent before the server is up wait in the socket's backlog, not refused.
    ``with ServeProcess([...], env) as proc``; `proc.stderr` holds its stderr after the block."""

    def __init__(self, args: list[str], env: dict | None = None) -> None:
        import socket

        self.args = args
        self.env = env
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.proc = None
        self.stderr = ""

    def __enter__(self) -> ServeProcess:
        import subprocess
        import sys

        fd = self.sock.fileno()
        self.proc = subprocess.Popen([sys.executable, "-m", "faceapi.cli.main", "serve", "--fd", str(fd), *self.args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=self.env, pass_fds=(fd,))
        self.sock.close()  # the child holds the socket now: if it dies, connections are refused, not left waiting
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=15)
        except Exception:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.stderr = err.decode("utf-8", "replace")

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def live_server():
    """The `LiveServer` class: ``with live_server(create_app(...)) as srv`` (srv.url, srv.ws, srv.stream())."""
    require("fastapi")
    require("websockets")
    return LiveServer


@pytest.fixture(scope="session")
def serve_process():
    """The `ServeProcess` class: ``with serve_process(["--log-level", "warning"], env) as proc``."""
    require("uvicorn")
    return ServeProcess


# browser fixtures ---------------------------------------------------------------------------------
# Debian's Chromium driven by Playwright (tests/browser/), against a `live_server`.
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium (Playwright drives it; its own browser download is not used)."""
    require("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        missing(f"Debian's chromium is not installed at {CHROMIUM} (scripts/setup.sh --dev installs it)")
    return CHROMIUM
