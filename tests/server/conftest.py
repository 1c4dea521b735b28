"""Fixtures of the server tests (tests/server/)."""

from __future__ import annotations

import pytest

from helpers import require


@pytest.fixture(scope="module")
def create_app():
    """`faceapi.server.create_app` (fastapi is an optional dependency: required, failing under CI)."""
    require("fastapi")
    from faceapi.server import create_app

    return create_app


@pytest.fixture(scope="module")
def http(server):
    """An authenticated HTTP client (the token as a Bearer header) of the module's `server` fixture."""
    with server.client(timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """A SQLite gallery of the module's own (test_server_people.py has its own, over both stores)."""
    from faceapi.gallery import Gallery

    g = Gallery(tmp_path_factory.mktemp("people") / "gallery.sqlite3")
    yield g
    g.close()
