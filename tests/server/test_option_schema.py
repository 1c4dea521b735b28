"""The option schema (`faceapi.option_schema`) is the one source of the analysis options: walked option by
option, an out-of-range value gets the same refusal (the schema's rule, naming the option as the user wrote
it) from the CLI (`faceapi analyze`, in-process), the REST query and the WebSocket settings; /openapi.json,
the hello and the CLI's flags declare what the schema says; an option of the other detector is refused."""

from __future__ import annotations

import json
import re

import pytest

from faceapi.errors import OptionsError
from faceapi.option_schema import ANALYZE_OPTIONS, SPECS, THREADS, flag_label
from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer

JPEG = {"content-type": "image/jpeg"}
#: Needed beside an option for it to be taken at all (its detector; recognition's options need recognize).
CONTEXT = {"input_size": {"detector": "tiny"}, "max_results": {"detector": "ssd"}}


@pytest.fixture(scope="module")
def server(models_dir, create_app, live_server, gallery):
    app = create_app(FaceAnalyzer(models_dir), gallery=gallery)
    with live_server(app) as srv:
        yield srv


@pytest.fixture(scope="module")
def photo(shared_dir) -> bytes:
    return (shared_dir / "images" / "happy.jpg").read_bytes()


def _cases():
    for s in ANALYZE_OPTIONS:
        for value in s.out_of_range():
            yield pytest.param(s.name, value, id=f"{s.name}={value!r}")


def test_every_option_has_values_it_refuses():
    for s in ANALYZE_OPTIONS:
        assert s.out_of_range(), s.name
        for value in s.out_of_range():
            with pytest.raises(OptionsError, match="^" + re.escape(f"option 'x' {s.rule}, got {value!r}")):
                s.check(value, lambda _: "x")
        assert s.check(s.default) == s.default or s.default is None


@pytest.mark.parametrize("name, value", list(_cases()))
def test_out_of_range_value_same_refusal_everywhere(name, value, server, http, photo, analyze_cli, tmp_path):
    spec = SPECS[name]
    context = CONTEXT.get(name, {})
    # REST: the query
    r = http.post("/api/analyze", params={**context, name: str(value)}, content=photo, headers=JPEG)
    assert r.status_code == 400, r.text
    rest = r.json()["error"]
    # WebSocket: a settings message
    with server.stream() as ws:
        ws.send(json.dumps({"type": "settings", **context, name: value}))
        reply = ws.recv_json()
    assert reply["type"] == "error", reply
    if spec.stream:
        assert f"option '{name}' {spec.rule}" in reply["error"], reply
    else:  # crop: camera frames are not face crops
        assert f"unknown option(s) ['{name}']" in reply["error"], reply
    assert f"option '{name}' {spec.rule}" in rest, rest
    # the library, by its field names
    with pytest.raises(OptionsError, match=f"option '{name}' "):
        AnalyzeOptions.from_dict({**context, name: value})
    # CLI: the flag (a store_true flag takes no value: it cannot be out of range)
    if spec.kind == "bool":
        return
    args = ["analyze", photo_path(tmp_path, photo), *(a for k, v in context.items() for a in (flag_label(k), v)),
            spec.flag, str(value)]
    if name in ("distance_threshold", "match_strategy"):
        args.append("--recognize")
    rc, out, err = analyze_cli(args)
    assert rc == 1 and not out, (rc, out, err)
    assert f"option '{spec.flag}' {spec.rule}" in err, err


def photo_path(tmp_path, photo: bytes) -> str:
    path = tmp_path / "happy.jpg"
    path.write_bytes(photo)
    return str(path)


def test_options_of_the_other_detector_are_refused(server, http, photo, analyze_cli, tmp_path):
    cases = [({"detector": "ssd", "input_size": 320}, "input_size", "'tiny'"),
             ({"detector": "tiny", "max_results": 5}, "max_results", "'ssd'")]
    for given, name, only in cases:
        r = http.post("/api/analyze", params={k: str(v) for k, v in given.items()}, content=photo, headers=JPEG)
        assert r.status_code == 400 and f"option '{name}' applies only with detector {only}" in r.json()["error"]
        with server.stream() as ws:
            ws.send(json.dumps({"type": "settings", **given}))
            reply = ws.recv_json()
        assert reply["type"] == "error" and f"option '{name}' applies only" in reply["error"], reply
        args = [a for k, v in given.items() for a in (flag_label(k), str(v))]
        rc, _, err = analyze_cli(["analyze", photo_path(tmp_path, photo), *args])
        assert rc == 1 and f"option '{flag_label(name)}' applies only with --detector {only}" in err, err
    # a full settings object keeping the other detector's default (a saved one) is taken
    with server.stream() as ws:
        ws.send(json.dumps({"type": "settings", "detector": "ssd", "input_size": SPECS["input_size"].default}))
        reply = ws.recv_json()
    assert reply["type"] == "settings" and reply["ok"] and reply["settings"]["detector"] == "ssd", reply


def test_openapi_and_hello_declare_the_schema(server, http):
    doc = http.get("/openapi.json").json()
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/analyze"]["post"]["parameters"]}
    for s in ANALYZE_OPTIONS:
        got = params[s.name]
        if s.minimum is not None:
            assert got["exclusiveMinimum" if s.open_min else "minimum"] == s.minimum, s.name
        if s.maximum is not None:
            assert got["exclusiveMaximum" if s.open_max else "maximum"] == s.maximum, s.name
        if s.multiple_of is not None:
            assert got["multipleOf"] == s.multiple_of
        if s.kind == "choice":
            assert set(s.choices) <= set(got["enum"]), s.name
        assert got["default"] == ("off" if s.name == "landmarks" else s.default), s.name
    with server.stream() as ws:
        hello = ws.hello
    assert [o["name"] for o in hello["options"]] == [s.name for s in ANALYZE_OPTIONS]
    assert {o["name"]: o.get("detectors") for o in hello["options"]}["input_size"] == ["tiny"]


#: Flags whose help says it the CLI's way (their limits and default still come from the schema).
OWN_HELP = {"distance_threshold", "match_strategy", "liveness", "require_live", "expression_model", "crop"}


def test_query_and_settings_models_are_the_schema():
    from faceapi.server.params import AnalyzeParams, StreamSettings

    names = {s.name for s in ANALYZE_OPTIONS}
    assert set(AnalyzeParams.model_fields) - names == {"strategy", "annotate", "format"}
    assert names <= set(AnalyzeParams.model_fields)
    assert set(StreamSettings.model_fields) == {s.name for s in ANALYZE_OPTIONS if s.stream} | {"strategy"}
    types = {"bool": bool, "int": int, "float": float, "name": str}
    for s in ANALYZE_OPTIONS:
        for model in (AnalyzeParams, StreamSettings):
            field = model.model_fields.get(s.name)
            if field is not None and s.kind in types:
                assert field.annotation is types[s.kind], (model.__name__, s.name)


def test_cli_flags_come_from_the_schema():
    from faceapi.cli.common import CLI_OPTIONS
    from faceapi.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["analyze"]
    flags = {a.option_strings[0]: a for a in sub._actions if a.option_strings}
    for name in (*CLI_OPTIONS, "distance_threshold", "match_strategy"):
        s = SPECS[name]
        action = flags[s.flag]
        assert action.dest == name and action.default in (None, False), name  # crop: store_true
        if name not in OWN_HELP:
            assert s.help.replace("`", "") in action.help, name


def test_threads_and_stdout_outputs(analyze_cli, tmp_path, monkeypatch, photo):
    rc, _, err = analyze_cli(["analyze", photo_path(tmp_path, photo), "--threads", "-1"])
    assert rc == 1 and f"option '--threads' {THREADS.rule}, got -1" in err, err
    monkeypatch.chdir(tmp_path)
    rc, out, err = analyze_cli(["analyze", "happy.jpg", "--csv", "-"])
    assert rc == 0, err
    assert out.splitlines()[0].startswith("source,") and len(out.splitlines()) == 2, out
    assert not (tmp_path / "-").exists()
    rc, _, err = analyze_cli(["analyze", "happy.jpg", "--csv", "-", "--out", "-"])
    assert rc == 1 and "both name stdout" in err
