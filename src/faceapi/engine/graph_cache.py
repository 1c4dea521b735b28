"""The on-disk cache of built graphs: ``<model folder>/onnx/``, each graph beside the record of its SHA-256,
both written through `faceapi.fileio`'s atomic writer (a crash leaves the old file or none, never half a
graph)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from faceapi.fileio import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:  # onnx (0.7 s to import) is needed only to build a graph
    import onnx

    from faceapi.models.manifest import WeightMap
    from faceapi.models.store import LoadedWeights

#: Changes whenever the graph builder (`faceapi.engine.graph`) makes different graphs; part of the cached
#: graphs' file names. Here, not in graph.py, so that a cached graph loads without importing onnx.
BUILDER_VERSION = "2"

log = logging.getLogger("faceapi")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cached_graph(name: str, loaded: LoadedWeights, version: str,
                 build: Callable[[WeightMap], onnx.ModelProto]) -> bytes:
    """The serialised graph for these weights, from ``<model folder>/onnx/`` or built and stored there.

    The file name carries the weights' hash and the graph builder's version, so new weights or a
    changed builder never reuse a stale graph. Next to each graph, ``NAME.onnx.sha256`` records the
    graph's SHA-256 when it is built; a cached graph is used only when its bytes match that record,
    otherwise (changed, truncated, or no record) it is rebuilt and stored again, so a graph edited on
    disk never produces results. A read-only model folder just means no caching.
    """
    path = loaded.folder / "onnx" / f"{name}-{loaded.key}-v{version}-b{BUILDER_VERSION}.onnx"
    record = path.with_name(path.name + ".sha256")
    if path.is_file():
        data = path.read_bytes()
        try:
            recorded = record.read_text().strip()
        except OSError:
            recorded = ""
        if recorded and hmac.compare_digest(recorded, _sha256(data)):
            return data
        if recorded:
            log.warning("cached %s graph %s does not match its recorded SHA-256: rebuilding it", name, path)
        else:
            log.info("cached %s graph %s has no SHA-256 record: rebuilding it", name, path)
    data = bytes(build(loaded.weights).SerializeToString())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        atomic_write_text(record, _sha256(data) + "\n")
    except OSError as exc:
        log.info("not caching %s graph in %s: %s", name, path.parent, exc)
    return data


__all__ = ["BUILDER_VERSION", "cached_graph"]
