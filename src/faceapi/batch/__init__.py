"""Collections of inputs analysed in bulk: locally or on a Ray cluster (`analyze_on_ray`)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazily, so that importing faceapi.batch never imports Ray (an optional extra).
    if name == "analyze_on_ray":
        from faceapi.batch.ray_runner import analyze_on_ray

        return analyze_on_ray
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
