"""Authenticated /api/health says whether the gallery's database answers (``database``) and which replica
answered (``replica``: null for a lone server); without the token it says neither."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", None])
def test_health_names_the_database_state(kind, create_app, live_server, make_gallery, tmp_path):
    gallery = make_gallery(kind, tmp_path) if kind else None
    try:
        app = create_app(gallery=gallery)
        with live_server(app) as srv, srv.client(timeout=60) as http:
            h = http.get("/api/health").json()
            assert h["database"] == ("ok" if kind else None) and h["replica"] is None
            assert httpx.get(f"{srv.url}/api/health", timeout=60).json() == {"status": "ok"}
    finally:
        if gallery is not None:
            gallery.close()


def test_health_says_unreachable_while_postgresql_is_down(create_app, live_server, postgres):
    from faceapi.gallery.postgres import PostgresGallery

    database = type(postgres)()  # of this test's own: it is stopped and started
    gallery = PostgresGallery(database.new_url())
    try:
        with live_server(create_app(gallery=gallery)) as srv, srv.client(timeout=60) as http:
            assert http.get("/api/health").json()["database"] == "ok"
            database.halt()
            assert http.get("/api/health").json()["database"] == "unreachable"
            database.resume()
            assert http.get("/api/health").json()["database"] == "ok"
    finally:
        gallery.close()
        database.stop()
