"""The documentation covers what the code has: every REST route and WebSocket message type in
docs/protocol.md, every command in the generated CLI reference, every page in mkdocs.yml's nav; the README
stays short. (`mkdocs build --strict` itself runs in scripts/test.sh.)"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from helpers import require

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_readme_is_short_and_says_how_to_start():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    for needed in ("scripts/run.sh", "scripts/test.sh", "pip install -e", "faceapi models download", "MIT",
                   "Apache-2.0", "docs/img/page.png"):
        assert needed in text, needed
    assert (ROOT / "docs" / "img" / "page.png").is_file()


def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    listed = set(re.findall(r":\s*([\w/-]+\.md)\s*$", nav, flags=re.M))
    assert pages == listed, (pages - listed, listed - pages)


def test_every_route_and_message_is_documented():
    require("fastapi")
    from faceapi.server.app import create_app

    protocol = (DOCS / "protocol.md").read_text()
    for path, operations in create_app().openapi()["paths"].items():
        for method in operations:
            assert re.search(rf"{method.upper()}[^|]*{re.escape(path)}", protocol), (method, path)
    assert "/ws/stream" in protocol
    stream_src = (ROOT / "src" / "faceapi" / "server" / "stream.py").read_text()
    types = set(re.findall(r'"type": "(\w+)"', stream_src)) | {"settings", "frame", "ping"}
    for kind in types:
        assert f'"type": "{kind}"' in protocol, kind


def test_cli_reference_lists_every_command():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
    assert spec and spec.loader
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    from faceapi.cli.main import build_parser

    reference = hooks.cli_reference()
    names = list(hooks._subparsers(build_parser()))
    assert {"analyze", "detect", "verify", "find", "people", "serve", "models", "export-onnx"} <= set(names)
    for name in names:
        assert f"### faceapi {name}\n" in reference, name
    for flag in ("--crop", "--top", "--gallery", "--threshold", "--face-crop"):
        assert flag in reference
    assert "<!-- faceapi-cli-reference -->" in (DOCS / "cli.md").read_text()
