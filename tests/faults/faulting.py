"""What the fault tests (tests/faults/) share: faceapi subprocesses, gallery checks, bounded waits, and a
small disk that really fills up (`SmallDisk`).

A full disk is a real one: a small tmpfs mounted in a private mount namespace (``unshare --mount``, so the
machine's mounts are untouched and the mount goes when its namespace does), kept alive by a holder process.
faceapi processes run inside it through ``nsenter`` and meet a real ENOSPC; the test reads and writes the
tmpfs's files through ``/proc/<holder>/root`` (the kernel resolves that path in the holder's namespace).
SQLite is the one exception: it resolves symbolic links in database paths (``/proc/PID/root`` is one), which
would silently land its files on the host's disk, so every SQLite access to that gallery runs inside too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from helpers import missing

#: Small nets, so that a test loads them in a fraction of a second.
SMALL_NETS = ("tiny_face_detector", "face_landmark_68_tiny", "age_gender")


def faceapi_env(**extra: str) -> dict[str, str]:
    """The environment of a faceapi subprocess: this checkout's package, one inference thread."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{path}" if path else src, "FACEAPI_THREADS": "1",
            **extra}


def run_cli(args: list, wrap: list[str] = (), input: str | None = None, timeout: float = 60,
            **env: str) -> subprocess.CompletedProcess[str]:
    """`faceapi ARGS` in a subprocess (under `wrap`), bounded in time; its exit code, stdout and stderr."""
    return subprocess.run([*wrap, sys.executable, "-m", "faceapi.cli.main", *map(str, args)], input=input,
                          capture_output=True, text=True, env=faceapi_env(**env), timeout=timeout)


def integrity(path: Path, wrap: list[str] = ()) -> str:
    """``PRAGMA integrity_check`` of a gallery file (run under `wrap` when given: see the module docstring)."""
    if not wrap:
        db = sqlite3.connect(path)
        try:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            db.close()
    code = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])"
    out = subprocess.run([*wrap, sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def people_in(path: Path, wrap: list[str] = ()) -> dict[str, int]:
    """name -> number of descriptors of everyone in a gallery: read by SQLite here, or under `wrap` by
    `faceapi people list --json`."""
    if not wrap:
        db = sqlite3.connect(path)
        try:
            return {str(n): int(c) for n, c in db.execute(
                "SELECT p.name, count(d.id) FROM people p LEFT JOIN descriptors d ON d.person_id = p.id GROUP BY p.id")}
        finally:
            db.close()
    out = run_cli(["people", "list", "--json", "--gallery", path], wrap)
    assert out.returncode == 0, out.stderr
    return {p["name"]: p["descriptors"] for p in map(json.loads, out.stdout.splitlines())}


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL one process we started, by its pid, and reap it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


class SmallDisk:
    """A tmpfs of `size` bytes in a private mount namespace, mounted on an empty folder (`path`, the same
    name inside the namespace). `wrap` runs a command inside; `view` is the tmpfs seen from here (plain
    file reads and writes only: not SQLite, see the module docstring). `fill()` takes every free byte with a
    filler file and `free()` removes it."""

    def __init__(self, folder: Path, size: int) -> None:
        for tool in ("unshare", "nsenter", "mount"):
            if not shutil.which(tool):
                missing(f"{tool} (util-linux) is needed for the full-disk tests")
        self.path = folder
        folder.mkdir(mode=0o700)
        script = 'mount -t tmpfs -o size="$2",mode=0700 faceapi-faults "$1" && echo mounted && exec sleep 600'
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
                                        "sh", str(folder), str(size)],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.holder.stdout.readline().strip()
        if line != "mounted":
            err = self.holder.stderr.read() if self.holder.poll() is not None else ""
            kill(self.holder)
            missing(f"cannot mount a tmpfs in a private mount namespace (root is needed): {err.strip()}")
        self.wrap = ["nsenter", f"--target={self.holder.pid}", "--mount", "--"]
        self.view = Path(f"/proc/{self.holder.pid}/root") / str(folder).lstrip("/")
        assert self.view.is_dir() and not any(self.view.iterdir())

    def fill(self) -> int:
        """Write a filler file until the tmpfs refuses with ENOSPC; returns its size."""
        import errno

        with open(self.view / "filler", "wb", buffering=0) as f:
            block = bytes(64 * 1024)
            for _ in range(100_000):  # bounded: far more blocks than the tmpfs holds
                try:
                    f.write(block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
            else:
                raise AssertionError("the tmpfs never filled up")
            # the last partial block: single bytes until no page is left
            for _ in range(64 * 1024):
                try:
                    f.write(b"\0")
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
        return (self.view / "filler").stat().st_size

    def free(self) -> None:
        (self.view / "filler").unlink()

    def files(self) -> set[str]:
        return {p.name for p in self.view.iterdir()}

    def close(self) -> None:
        kill(self.holder)  # its namespace and the tmpfs go with it
        self.holder.stdout.close()
        self.holder.stderr.close()



def sqlite_state(path: Path) -> tuple:
    """Everything in a gallery (on this machine's disk), for before/after comparisons."""
    db = sqlite3.connect(path)
    try:
        return (db.execute("SELECT id, name, created FROM people ORDER BY id").fetchall(),
                db.execute("SELECT id, person_id, vector, created FROM descriptors ORDER BY id").fetchall())
    finally:
        db.close()
