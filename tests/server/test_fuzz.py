"""A property-based fuzz run over the server's own OpenAPI document (schemathesis + hypothesis): every
operation gets generated queries, paths and bodies (valid and not) from a real server on loopback, with the
token; none may answer 5xx. Bounded so CI stays short: `EXAMPLES` cases per operation, no shrinking
database, one throwaway gallery."""

from __future__ import annotations

import pytest

from faceapi.pipeline import FaceAnalyzer

from helpers import require

#: Generated cases per operation (about 15 operations): a few seconds each.
EXAMPLES = 30


@pytest.fixture(scope="module")
def server(models_dir, tmp_path_factory, live_server):
    require("fastapi")
    from faceapi.gallery import Gallery
    from faceapi.server import create_app

    gallery = Gallery(tmp_path_factory.mktemp("fuzz") / "gallery.sqlite3")
    app = create_app(FaceAnalyzer(models_dir, max_pixels=1_000_000), max_frame_bytes=300_000, gallery=gallery)
    with live_server(app) as srv:
        yield srv
    gallery.close()


def test_no_operation_answers_5xx(server):
    schemathesis = require("schemathesis")
    hypothesis = require("hypothesis")
    with server.client(timeout=120) as http:
        document = http.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(hypothesis.HealthCheck),
                             phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
        @hypothesis.given(case=operation.as_strategy())
        def check(case) -> None:
            nonlocal tried
            tried += 1
            response = case.call(base_url=server.url, headers=server.auth, timeout=120)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} -> {response.status_code} "
                                f"{response.text[:200]}")

        check()
    assert tried >= 10 * EXAMPLES // 2, tried
    assert not failures, "\n".join(failures[:20])
