"""Thread pools: FACEAPI_THREADS sizes them; the shared pool (opt-in) is one for all nets, sized by the first session.

onnxruntime creates its global pool once per process, so each case runs in a fresh Python process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import missing

SRC = Path(__file__).resolve().parents[2] / "src"

#: threads of this process, a pool of N intra-op threads adds N - 1 (the caller is the N-th)
COUNT_THREADS = "len(os.listdir('/proc/self/task'))"


def _run(code: str, env: dict[str, str] | None = None) -> dict:
    full_env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **(env or {})}
    full_env.pop("FACEAPI_PROVIDERS", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


LOAD_ALL = f"""
import json, os
import numpy as np
import onnxruntime
from faceapi import AnalyzeOptions, FaceAnalyzer, load_image
from faceapi.engine.preprocess import compile_resize
from faceapi.engine.runtime import shared_pool_threads
compile_resize()  # numba's own threads (its threading layer, e.g. OpenMP's when torch is installed) are not pools
before = {COUNT_THREADS}
analyzer = FaceAnalyzer(runtime=None)
analyzer.load()
image = load_image(os.environ["IMAGE"])
faces = analyzer.analyze(image, AnalyzeOptions(landmarks="full", expressions=True)).faces
print(json.dumps({{"added": {COUNT_THREADS} - before, "pool": shared_pool_threads(), "faces": len(faces)}}))
"""


@pytest.mark.parametrize(("threads", "shared"), [(1, "1"), (3, "1"), (1, "0"), (3, "0")])
def test_faceapi_threads_sizes_the_pools(models_dir, shared_dir, threads, shared):
    """FACEAPI_THREADS=N: seven nets on the shared pool add N - 1 threads to the process, on pools of their
    own 7 * (N - 1) (an N-thread pool runs on the caller and N - 1 threads of its own)."""
    if not Path("/proc/self/task").is_dir():
        missing("counting a process's threads needs /proc (Linux)")
    out = _run(LOAD_ALL, {"FACEAPI_THREADS": str(threads), "FACEAPI_SHARED_POOL": shared,
                          "IMAGE": str(shared_dir / "images" / "bbt4.jpg")})
    assert out["faces"] == 6
    assert out["pool"] == (threads if shared == "1" else None)
    assert out["added"] == (threads - 1) * (1 if shared == "1" else 7)


TWO_ANALYZERS = """
import json, logging, os
import numpy as np
from faceapi import AnalyzeOptions, FaceAnalyzer, RuntimeConfig, load_image
from faceapi.engine.runtime import shared_pool_threads
records = []
handler = logging.Handler(); handler.emit = records.append
logging.getLogger("faceapi").addHandler(handler)
image = load_image(os.environ["IMAGE"])
options = AnalyzeOptions(landmarks="full", expressions=True, age_gender=True, descriptors=True)
own = FaceAnalyzer(runtime=RuntimeConfig(threads=1, shared_pool=False))   # a pool of its own, made first
first = FaceAnalyzer(runtime=RuntimeConfig(threads=2, shared_pool=True))   # makes the shared pool: 2 threads
second = FaceAnalyzer(runtime=RuntimeConfig(threads=1, shared_pool=True))  # asks for 1: shares the 2
results = [a.analyze(image, options).to_dict() for a in (own, first, second, own)]
for r in results:
    r.pop("timings_ms", None)
warnings = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
print(json.dumps({"same": all(r == results[0] for r in results), "faces": len(results[0]["faces"]),
                  "pool": shared_pool_threads(), "warnings": warnings}))
"""


def test_analyzers_with_different_threads_share_the_pool_and_agree(models_dir, shared_dir):
    out = _run(TWO_ANALYZERS, {"IMAGE": str(shared_dir / "images" / "bbt4.jpg")})
    assert out["faces"] == 6
    assert out["same"], "analyzers on different pools gave different results"
    assert out["pool"] == 2
    # the second analyzer's 7 sessions asked for 1 thread: said once, not once per net
    assert len(out["warnings"]) == 1 and "shared pool of 2 threads" in out["warnings"][0]


SPIN = """
import json
from faceapi.engine.runtime import RuntimeConfig, session_options
from faceapi.errors import OptionsError
def entry(options, key):
    try:
        return options.get_session_config_entry(key)
    except Exception:  # onnxruntime raises when the key was never set
        return None
def entries(config):
    options, _ = session_options(config)
    return [entry(options, k) for k in ("session.intra_op.allow_spinning", "session.intra_op.spin_duration_us")]
refused = []
for bad in (-1, 10**7, 2.5, True):
    try:
        RuntimeConfig(spin_us=bad)
    except OptionsError as exc:
        refused.append(str(exc))
print(json.dumps({"default": entries(RuntimeConfig()), "zero": entries(RuntimeConfig(spin_us=0)),
                  "given": entries(RuntimeConfig(spin_us=75)), "refused": refused}))
"""


def test_own_pools_spin_for_a_bounded_time():
    """Own pools spin DEFAULT_SPIN_US by default (onnxruntime's spin_duration_us), FACEAPI_SPIN_US or
    RuntimeConfig(spin_us=) change it, 0 turns spinning off, and nonsense is refused with OptionsError."""
    from faceapi.engine.runtime import DEFAULT_SPIN_US

    out = _run(SPIN, {"FACEAPI_SHARED_POOL": "0"})
    assert out["default"] == ["1", str(DEFAULT_SPIN_US)]
    assert out["zero"] == ["0", None]
    assert out["given"] == ["1", "75"]
    assert len(out["refused"]) == 4 and all("spin_us" in r for r in out["refused"])
    env = _run(SPIN, {"FACEAPI_SHARED_POOL": "0", "FACEAPI_SPIN_US": "300"})
    assert env["default"] == ["1", "300"]
    done = subprocess.run([sys.executable, "-c", SPIN], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(SRC), "FACEAPI_SHARED_POOL": "0",
                               "FACEAPI_SPIN_US": "fast"})
    assert done.returncode != 0 and "FACEAPI_SPIN_US must be a whole number" in done.stderr
