"""The engine sits below the nets: `faceapi.engine` imports nothing of `faceapi.nets` (nor anything above
it), so engine/runtime.py, engine/quantize.py, engine/graph_cache.py and nets/base.py are in no import cycle,
counting every import (at the top, in functions, under TYPE_CHECKING); and each imports on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import faceapi

SRC = Path(faceapi.__file__).resolve().parent
MODULES = ("faceapi.engine.runtime", "faceapi.engine.quantize", "faceapi.engine.graph_cache", "faceapi.nets.base")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every faceapi module `path` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("faceapi"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("faceapi"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from faceapi.engine import quantize`
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    return seen


def test_engine_imports_nothing_above_it():
    below = ("faceapi.engine", "faceapi.errors", "faceapi.fileio", "faceapi.models")
    upward = {(name, m) for name, deps in _graph().items() if name.startswith("faceapi.engine")
              for m in deps if not m.startswith(below) and m != "faceapi"}
    assert not upward, sorted(upward)


def test_no_import_cycle_through_the_runtime_the_cache_quantize_and_the_nets_base():
    graph = _graph()
    for name in MODULES:
        assert name in graph, name
        assert name not in _reachable(graph, name), f"{name} imports itself through {sorted(_reachable(graph, name))}"


def test_each_module_imports_alone():
    for name in MODULES:
        proc = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (name, proc.stderr)
