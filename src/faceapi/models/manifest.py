"""Reads a tfjs weights manifest and its binary files into named float32/int32 numpy arrays.

Format (spec section 1): the manifest is a list of groups; each group's ``paths`` concatenated form one
buffer in which the ``weights`` entries are packed back to back, in manifest order, little-endian, with
no padding. Quantised entries (uint8/uint16 with scale and min, or float16) are dequantised as tfjs does:
in float64, then stored as float32 (or rounded for int32).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from faceapi.errors import ModelError

_STORAGE = {"float32": "<f4", "int32": "<i4", "uint8": "u1", "uint16": "<u2", "float16": "<f2"}


def _decode_entry(raw: bytes, entry: dict[str, Any], where: str) -> np.ndarray:
    shape = tuple(int(s) for s in entry["shape"])
    dtype = entry["dtype"]
    quant = entry.get("quantization")
    storage = quant["dtype"] if quant else dtype
    values = np.frombuffer(raw, dtype=_STORAGE[storage]).reshape(shape)
    if quant is None:
        copied: np.ndarray = values.copy()
        return copied
    if storage == "float16":
        return values.astype(np.float32)
    real = values.astype(np.float64) * float(quant["scale"]) + float(quant["min"])
    if dtype == "int32":
        return np.floor(real + 0.5).astype(np.int32)  # JS Math.round
    if dtype != "float32":
        raise ModelError(f"{where}: entry {entry['name']!r} has unsupported dtype {dtype!r}")
    return real.astype(np.float32)


def read_manifest_weights(manifest_path: str | Path) -> dict[str, np.ndarray]:
    """Load every tensor a tfjs weights manifest describes.

    Works for the npm layout (one ``NAME.bin``) and for the original face-api.js ``weights/`` layout
    (``NAME-shard1``, ``NAME-shard2``, ...), and for manifests with several groups.

    Raises:
        ModelError: a file is missing, or the byte counts do not add up, or a dtype is unknown.
    """
    manifest_path = Path(manifest_path)
    try:
        groups = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{manifest_path}: cannot read the weights manifest ({exc})") from exc
    if not isinstance(groups, list):
        raise ModelError(f"{manifest_path}: expected a list of weight groups, got {type(groups).__name__}")
    try:
        return _read_groups(manifest_path, groups)
    except (KeyError, TypeError, ValueError) as exc:  # a field missing or of the wrong type
        raise ModelError(f"{manifest_path}: not a tfjs weights manifest (expected groups with 'paths' and "
                         f"'weights', each weight with 'name', 'shape' and 'dtype'): {exc!r}") from exc


def _read_groups(manifest_path: Path, groups: list[Any]) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for g, group in enumerate(groups):
        parts = []
        for rel in group["paths"]:
            path = manifest_path.parent / rel
            try:
                parts.append(path.read_bytes())
            except OSError as exc:
                raise ModelError(f"{manifest_path}: weights file {rel!r} of group {g} is missing ({exc})") from exc
        buffer = b"".join(parts)
        offset = 0
        for entry in group["weights"]:
            storage = entry["quantization"]["dtype"] if entry.get("quantization") else entry["dtype"]
            if storage not in _STORAGE:
                raise ModelError(f"{manifest_path}: entry {entry['name']!r} has unknown storage {storage!r}")
            size = int(np.prod(entry["shape"], dtype=np.int64)) * np.dtype(_STORAGE[storage]).itemsize
            if offset + size > len(buffer):
                raise ModelError(
                    f"{manifest_path}: group {g} needs more bytes than its files hold "
                    f"(entry {entry['name']!r} ends at {offset + size}, files have {len(buffer)}): truncated?"
                )
            tensors[entry["name"]] = _decode_entry(buffer[offset : offset + size], entry, str(manifest_path))
            offset += size
        if offset != len(buffer):
            raise ModelError(
                f"{manifest_path}: group {g} describes {offset} bytes but its files hold {len(buffer)}"
            )
    return tensors


class WeightMap:
    """Named tensors of one model; asking for a name the model does not have raises ModelError."""

    def __init__(self, tensors: dict[str, np.ndarray], model: str):
        self._tensors = tensors
        self.model = model
        self._used: set[str] = set()

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            value = self._tensors[name]
        except KeyError:
            raise ModelError(f"{self.model}: the weights have no tensor named {name!r}") from None
        self._used.add(name)
        return value

    def __contains__(self, name: str) -> bool:
        return name in self._tensors

    def names(self) -> list[str]:
        return list(self._tensors)

    def unused(self, ignore_prefixes: tuple[str, ...] = ()) -> list[str]:
        """Tensors never asked for (a graph that leaves weights unused is built wrong)."""
        return [n for n in self._tensors if n not in self._used and not n.startswith(ignore_prefixes)]
