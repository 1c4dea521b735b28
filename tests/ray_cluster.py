"""A real Ray cluster on 127.0.0.1 for tests and benchmarks: ``ray start --head`` with token authentication,
a private HOME (Ray's sockets and token below it), every port chosen free, stopped by pid with everything
it started. tests/batch/test_ray_runner.py and tests/ray_serve use it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from helpers import wait_for

BIN = Path(sys.executable).parent


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        tree.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Ray's workers run in sessions of their own, so not its process group)."""
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_tree(pid: int) -> None:
    """Stop `pid` and everything below it, by pid: gracefully, then SIGKILL what is left."""
    pids = [pid, *descendants(pid)]
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGTERM)
    try:
        wait_for(lambda: not any(alive(p) for p in pids + descendants(pid)), 10, "processes to stop", 0.2)
    except AssertionError:
        for p in [*pids, *descendants(pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


@dataclass
class RayCluster:
    """A running head node: its process, ``host:port``, the environment a driver needs (token included),
    its HOME (Ray's logs are below it)."""

    proc: subprocess.Popen[bytes]
    address: str
    env: dict[str, str]
    home: Path

    def stop(self) -> None:
        stop_tree(self.proc.pid)
        shutil.rmtree(self.home, ignore_errors=True)


def start_cluster(cpus: int, env_extra: dict[str, str] | None = None) -> RayCluster:
    """A head node with `cpus` CPUs on 127.0.0.1 (token auth on); AssertionError when it does not start."""
    home = Path(tempfile.mkdtemp(prefix="frs"))  # short: Ray's socket paths live below it
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), RAY_AUTH_MODE="token", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
               RAY_USAGE_STATS_ENABLED="0", **(env_extra or {}))
    subprocess.run([str(BIN / "ray"), "get-auth-token", "--generate"], env=env, check=True, capture_output=True)
    token = home / ".ray" / "auth_token"
    token.chmod(0o600)
    env["RAY_AUTH_TOKEN_PATH"] = str(token)
    log = home / "head.log"
    for attempt in range(3):  # a port taken in between: start again on others
        port = free_port()
        log = home / f"head-{attempt}.log"
        with open(log, "wb") as f:
            proc = subprocess.Popen(
                [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
                 f"--num-cpus={cpus}", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={home}/r",
                 f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
                 f"--dashboard-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
                 f"--dashboard-agent-grpc-port={free_port()}",
                 f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"],
                env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda p=proc, log=log: p.poll() is not None or b"Ray runtime started" in log.read_bytes(),
                     120, "the Ray head to start")
        except AssertionError:
            proc.poll()
        if proc.returncode is None and b"Ray runtime started" in log.read_bytes():
            return RayCluster(proc, f"127.0.0.1:{port}", env, home)
        stop_tree(proc.pid)
    text = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
    shutil.rmtree(home, ignore_errors=True)
    raise AssertionError(f"the Ray head did not start:\n{text}")
