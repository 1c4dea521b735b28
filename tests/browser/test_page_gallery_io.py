"""The page's gallery export and import (issue 19): the session cookie alone may not take the descriptors
or replace everyone, so the page asks for the token for those two, sends it with that one request, and says
what the server answered; a merge needs no token. Real server, real Chromium, the file really downloaded
and really uploaded."""

from __future__ import annotations

import json
from pathlib import Path

from faceapi.pipeline import FaceAnalyzer

from helpers import reference_descriptors


def test_export_and_import_through_the_token_question(live_server, open_page, shared_dir, tmp_path):
    from faceapi.gallery import Gallery
    from faceapi.server import create_app

    found = reference_descriptors(json.loads((shared_dir / "reference" / "amy1" / "result.json").read_text()))
    assert found
    vector = found[0]
    gallery = Gallery(tmp_path / "gallery.sqlite3")
    gallery.import_json({"people": [{"name": "Amy", "descriptors": [vector]}]})
    bob, carol = tmp_path / "bob.json", tmp_path / "carol.json"
    bob.write_text(json.dumps({"people": [{"name": "Bob", "descriptors": [vector]}]}))
    carol.write_text(json.dumps({"people": [{"name": "Carol", "descriptors": [vector]}]}))
    app = create_app(FaceAnalyzer(tmp_path / "no-models"), gallery=gallery)
    try:
        with live_server(app) as srv, open_page(srv, None) as (page, outside, errors):
            page.wait_for_selector("#people-list li[data-name=Amy]")
            # the cookie alone: refused
            status = page.evaluate("async () => (await fetch('/api/people/export')).status")
            # export: asked for the token; a wrong one is refused and said so
            page.click("#btn-export")
            page.wait_for_selector("#token-ask:not([hidden])")
            asked = page.text_content("#enrol-msg")
            page.fill("#token-input", "not-the-token")
            page.click("#btn-token-ok")
            page.wait_for_function("() => document.querySelector('#enrol-msg').textContent.startsWith('Export failed')")
            refused = page.text_content("#enrol-msg")
            # the right one: the file downloads
            page.click("#btn-export")
            page.fill("#token-input", srv.token)
            with page.expect_download() as download:
                page.click("#btn-token-ok")
            exported = json.loads(Path(download.value.path()).read_text())
            assert page.input_value("#token-input") == ""  # not kept
            # import replacing everyone: asked for the token too
            page.check("#import-replace")
            page.set_input_files("#import-file", str(bob))
            page.wait_for_selector("#token-ask:not([hidden])")
            page.fill("#token-input", srv.token)
            page.click("#btn-token-ok")
            page.wait_for_selector("#people-list li[data-name=Bob]")
            names = "() => [...document.querySelectorAll('#people-list li[data-name]')].map(li => li.dataset.name)"
            after_replace = page.evaluate(names)
            # a merge: no question
            page.uncheck("#import-replace")
            page.set_input_files("#import-file", str(carol))
            page.wait_for_selector("#people-list li[data-name=Carol]")
            merged_asked = page.is_visible("#token-ask")
            after_merge = page.evaluate(names)
    finally:
        gallery.close()
    assert not errors, errors
    assert not outside, outside
    assert status == 403
    assert "token" in asked and "descriptor" in asked, asked
    assert "needs the token itself" in refused, refused
    assert [p["name"] for p in exported["people"]] == ["Amy"] and len(exported["people"][0]["descriptors"]) == 1
    assert after_replace == ["Bob"], after_replace
    assert not merged_asked and sorted(after_merge) == ["Bob", "Carol"], after_merge
