"""An original face-api.js weights/ folder (shards) is verified like the npm layout: altered content is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceapi.errors import ModelError
from faceapi.models import load_weights

NAME = "face_recognition_model"


def _shard_folder(models_dir: Path, folder: Path) -> tuple[list[Path], Path]:
    """NAME-shard1, -shard2 (4 MiB each but the last) and a manifest naming them, as face-api.js ships them."""
    data = (models_dir / f"{NAME}.bin").read_bytes()
    shards = []
    for i, start in enumerate(range(0, len(data), 4194304), start=1):
        shards.append(folder / f"{NAME}-shard{i}")
        shards[-1].write_bytes(data[start : start + 4194304])
    manifest = json.loads((models_dir / f"{NAME}-weights_manifest.json").read_text())
    manifest[0]["paths"] = [p.name for p in shards]
    manifest_path = folder / f"{NAME}-weights_manifest.json"
    manifest_path.write_text(json.dumps(manifest))  # compact, as the original repository writes it
    return shards, manifest_path


def test_shards_with_a_changed_byte_are_refused(models_dir, tmp_path):
    shards, _ = _shard_folder(models_dir, tmp_path)
    load_weights(NAME, tmp_path)  # the untouched copy loads
    data = bytearray(shards[1].read_bytes())
    data[1000] ^= 0x01
    shards[1].write_bytes(bytes(data))
    with pytest.raises(ModelError, match="pinned SHA-256"):
        load_weights(NAME, tmp_path)


def test_shards_with_a_changed_manifest_are_refused(models_dir, tmp_path):
    _, manifest_path = _shard_folder(models_dir, tmp_path)
    manifest = json.loads(manifest_path.read_text())
    entry = next(e for e in manifest[0]["weights"] if e.get("quantization"))
    entry["quantization"]["scale"] *= 1.01  # same bytes, other weights
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="pinned SHA-256"):
        load_weights(NAME, tmp_path)
