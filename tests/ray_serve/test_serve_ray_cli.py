"""`faceapi serve --ray` refuses what cannot work before it connects to anything: a SQLite gallery for
several replicas, flags the proxy cannot honour (TLS, --lan, --no-token, --fd), replica flags without --ray,
bad counts. No cluster is needed: every refusal comes first."""

from __future__ import annotations

import pytest

from faceapi.cli.main import main

from helpers import require

UNREACHABLE = "127.0.0.1:9"  # nothing listens there: a refusal that came after connecting would say so


def serve(args: list[str], tmp_path, monkeypatch, capsys) -> tuple[int, str]:
    """`faceapi serve ARGS` in this process: (exit status, stderr)."""
    monkeypatch.setenv("FACEAPI_TLS_DIR", str(tmp_path / "tls"))
    monkeypatch.setenv("FACEAPI_GALLERY", str(tmp_path / "default.sqlite3"))
    rc = main(["serve", *args])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("args,words", [
    (["--ray", UNREACHABLE, "--replicas", "2"], "needs a PostgreSQL gallery"),
    (["--ray", UNREACHABLE, "--replicas", "2", "--gallery", "people.sqlite3"], "needs a PostgreSQL gallery"),
    (["--ray", UNREACHABLE, "--lan"], "--lan does not go with --ray"),
    (["--ray", UNREACHABLE, "--https"], "--https does not go with --ray"),
    (["--ray", UNREACHABLE, "--no-token"], "--no-token does not go with --ray"),
    (["--ray", UNREACHABLE, "--replicas", "0", "--no-gallery"], "--replicas must be >= 1"),
    (["--ray", UNREACHABLE, "--replica-cpus", "0", "--no-gallery"], "--replica-cpus must be positive"),
    (["--ray", UNREACHABLE, "--replica-cpus", "nan", "--no-gallery"], "--replica-cpus must be positive"),
    (["--replicas", "2", "--no-gallery"], "--replicas goes with --ray"),
    (["--replica-cpus", "0.5", "--no-gallery"], "--replica-cpus goes with --ray"),
])
def test_refused_before_connecting(args, words, tmp_path, monkeypatch, capsys):
    rc, err = serve(args, tmp_path, monkeypatch, capsys)
    assert rc != 0 and words in err, err[-2000:]
    assert "Traceback" not in err and "cannot connect" not in err
    assert not (tmp_path / "default.sqlite3").exists()  # nothing was made


def test_an_unreachable_cluster_is_a_clear_error(tmp_path, monkeypatch, capsys):
    require("ray.serve")
    rc, err = serve(["--ray", UNREACHABLE, "--no-gallery", "--token", "a-token-for-the-test"], tmp_path, monkeypatch,
                    capsys)
    assert rc != 0 and f"--ray {UNREACHABLE}: cannot connect to the Ray cluster" in err, err[-2000:]
    assert "Traceback" not in err and "a-token-for-the-test" not in err
