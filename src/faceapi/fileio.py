"""File writes: atomic ones (the one way faceapi writes a file that must be either complete or absent),
and `create_text` for files written as they go (JSON lines) with chosen permissions.

A file is written under a temporary name in its own folder (``.<name>.<random>.part<suffix>``, so a
reader never mistakes it for the real thing and a writer that keeps the suffix, such as a video muxer,
still sees it), flushed to disk and renamed over the target. A crash or kill leaves the old file (or
none) and at most a stray ``.part`` file, never a truncated target.

`mode` is the target's permission bits, applied exactly (the umask is not consulted): ``PRIVATE``
(0600) for biometric data (gallery exports, descriptors), ``PUBLIC`` (0644) for the rest.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload

PRIVATE = 0o600
PUBLIC = 0o644

StrPath = str | os.PathLike[str]


def _commit(tmp: Path, target: Path, mode: int) -> None:
    os.chmod(tmp, mode)
    with open(tmp, "rb") as f:  # the data reaches the disk before the name does
        os.fsync(f.fileno())
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_path(path: StrPath, mode: int = PUBLIC) -> Iterator[Path]:
    """A temporary path next to `path` (same suffix) for a writer that wants a file name; renamed over
    `path` when the block ends, removed when it raises. The folder is created when missing."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".part{target.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        _commit(tmp, target, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@overload
def atomic_open(path: StrPath, mode: int = ..., *, text: Literal[False] = ...) -> contextlib.AbstractContextManager[
    IO[bytes]]: ...
@overload
def atomic_open(path: StrPath, mode: int = ..., *, text: Literal[True]) -> contextlib.AbstractContextManager[
    IO[str]]: ...
def atomic_open(path: StrPath, mode: int = PUBLIC, *, text: bool = False
                ) -> contextlib.AbstractContextManager[IO[bytes]] | contextlib.AbstractContextManager[IO[str]]:
    """A stream to write `path` through: binary, or text (UTF-8, newlines as written, as the csv module
    wants) with ``text=True``. The target appears, complete, when the block ends without an exception."""
    return _atomic_stream(path, mode, text)


@contextlib.contextmanager
def _atomic_stream(path: StrPath, mode: int, text: bool) -> Iterator[IO[Any]]:
    with atomic_path(path, mode) as tmp:
        if text:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                yield f
        else:
            with open(tmp, "wb") as fb:
                yield fb


def atomic_write_bytes(path: StrPath, data: bytes, mode: int = PUBLIC) -> None:
    """Write `data` to `path` atomically (see the module docstring)."""
    with atomic_open(path, mode) as f:
        f.write(data)


def atomic_write_text(path: StrPath, text: str, mode: int = PUBLIC) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_open(path, mode, text=True) as f:
        f.write(text)


def create_text(path: StrPath, mode: int = PUBLIC) -> IO[str]:
    """A new (or emptied) UTF-8 text file, line-buffered, with permissions `mode`, for output written as it
    comes (JSON lines, CSV rows) rather than atomically. The folder is created when missing."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # an existing file keeps its old mode through O_CREAT
        return open(fd, "w", encoding="utf-8", newline="", buffering=1)
    except BaseException:
        os.close(fd)
        raise


__all__ = ["PRIVATE", "PUBLIC", "atomic_open", "atomic_path", "atomic_write_bytes", "atomic_write_text",
           "create_text"]
