"""faceapi.fileio: a target is complete or absent, with the permissions asked for."""

from __future__ import annotations

import stat

import pytest

from faceapi.fileio import PRIVATE, atomic_open, atomic_path, atomic_write_bytes, atomic_write_text, create_text


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_writes(tmp_path):
    target = tmp_path / "sub" / "a.json"
    atomic_write_text(target, "{}")
    assert target.read_text() == "{}" and _mode(target) == 0o644
    atomic_write_bytes(target, b"[1]", mode=PRIVATE)
    assert target.read_bytes() == b"[1]" and _mode(target) == 0o600
    with pytest.raises(RuntimeError), atomic_open(target, text=True) as f:
        f.write("half")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"[1]"  # the old content, untouched
    with atomic_path(tmp_path / "v.mp4") as tmp:
        assert tmp.suffix == ".mp4" and tmp.name.startswith(".v.mp4.") and tmp.parent == tmp_path
        tmp.write_bytes(b"video")
    assert (tmp_path / "v.mp4").read_bytes() == b"video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub", "v.mp4"]  # no temporary file left


def test_create_text_sets_the_mode_of_an_existing_file(tmp_path):
    target = tmp_path / "o.jsonl"
    target.write_text("old\n")
    target.chmod(0o644)
    with create_text(target, PRIVATE) as f:
        f.write("new\n")
    assert target.read_text() == "new\n" and _mode(target) == 0o600
