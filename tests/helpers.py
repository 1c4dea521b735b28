"""Small helpers shared by the tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def shared_path() -> Path:
    """The shared data folder: ``$FACEAPI_SHARED``, else ``../shared`` next to the repository."""
    env = os.environ.get("FACEAPI_SHARED")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "shared"


#: the shared data folder, for parametrising at collection time (tests get it checked via `shared_dir`)
SHARED = shared_path()


def reference_dirs(shared: Path) -> list[Path]:
    """The image folders under ``shared/reference`` that have a ``result.json``, sorted by name."""
    root = shared / "reference"
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir() if (d / "result.json").is_file())


def reference_names() -> list[str]:
    """Names of the reference folders (empty without the data)."""
    return [d.name for d in reference_dirs(SHARED)]


def read_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def write_artifact(name: str, data: dict) -> Path:
    """Write actual-vs-expected values of a failing comparison, so that a failure is easy to read."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    return path


def missing(reason: str) -> None:
    """Skip the test (or fail it when ``$CI`` is set) because data it needs is not there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so missing data is an error)")
    pytest.skip(reason)


def require(module: str):
    """Import an optional dependency a test needs: skip without it, but fail under ``$CI``, where every
    dependency is installed by the set-up and a missing one is breakage to see, not to hide."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing(f"{module} is not importable ({exc}); `scripts/setup.sh --dev` installs it")
        raise  # not reached: missing() skips or fails


def reference_descriptors(result: object) -> list[list[float]]:
    """Every 128-d descriptor in a face-api.js reference output (``result.json``), wherever it is nested."""
    found: list[list[float]] = []

    def walk(o: object) -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "descriptor" and isinstance(v, list) and len(v) == 128:
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(result)
    return found


#: The gallery stores the people tests run against (fixture `make_gallery` in conftest.py).
GALLERY_KINDS = ("sqlite", "postgresql")


def rss_mb(pid: int) -> float:
    """A process's resident memory (MB), from /proc (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def wait_for(condition, timeout: float, what: str, interval: float = 0.1):
    """Poll `condition` until it returns something true (returned), bounded by `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
