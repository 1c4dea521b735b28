"""Where the model files live, and checking them against the pinned hashes.

The model folder is, in order: an explicit argument, the environment variable ``FACEAPI_MODELS``, or a
per-user cache folder. Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from faceapi.errors import ModelError, ModelNotFoundError
from faceapi.models.manifest import WeightMap, read_manifest_weights
from faceapi.models.registry import DECODED_SHA256, MODELS, ModelFiles

ENV_VAR = "FACEAPI_MODELS"
DOWNLOAD_HINT = "run `faceapi models download` (or `faceapi models download --from PATH` with a copy you have)"


def default_model_dir() -> Path:
    return Path(platformdirs.user_cache_dir("faceapi")) / "models"


def model_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The folder the models are read from: argument, then $FACEAPI_MODELS, then the user cache."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return default_model_dir()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tensors_sha256(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 of decoded tensors: each name, dtype, shape and value bytes, in order (what `DECODED_SHA256` pins)."""
    h = hashlib.sha256()
    for name, value in tensors.items():
        h.update(f"{name}|{value.dtype.str}|{list(value.shape)}\n".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class ModelStatus:
    """What `faceapi models list` shows for one model."""

    name: str
    files: dict[str, int | None]  # file name -> size in bytes, None when missing
    verified: bool
    problem: str | None

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "files": self.files, "verified": self.verified, "problem": self.problem}


def _files(name: str) -> ModelFiles:
    found = MODELS.get(name)
    if found is None:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return found


def check_model(name: str, folder: Path) -> ModelStatus:
    """Check one model's files in `folder` against the pinned SHA-256 sums (reads the files)."""
    spec = _files(name)
    sizes: dict[str, int | None] = {}
    problem = None
    for fname, digest in spec.files.items():
        path = folder / fname
        if not path.is_file():
            sizes[fname] = None
            problem = problem or f"{fname} is missing"
            continue
        try:
            sizes[fname] = path.stat().st_size
            matches = problem is not None or sha256_file(path) == digest
        except OSError as exc:  # removed or unreadable since is_file(): the folder is changing under us
            sizes[fname] = None
            problem = problem or f"{fname} cannot be read ({exc.strerror or exc})"
            continue
        if not matches:
            problem = f"{fname} does not match its pinned SHA-256 (corrupt or a different version)"
    return ModelStatus(name, sizes, problem is None, problem)


@dataclass(frozen=True)
class LoadedWeights:
    """A model's tensors and a key that identifies them (used to cache built graphs)."""

    weights: WeightMap
    key: str
    folder: Path


def load_weights(name: str, folder: str | os.PathLike[str] | None = None) -> LoadedWeights:
    """Read and check one model's weights.

    The npm layout (``NAME.bin``) is verified against the pinned SHA-256 of its files; an original
    face-api.js ``weights/`` folder (shards, another manifest format) against the pinned SHA-256 of the
    decoded tensors. Either way, weights that differ from the pinned ones are refused.

    Raises:
        ModelNotFoundError: the manifest is not in the folder (the message says how to get it).
        ModelError: the files are corrupt or do not match the pinned sums.
    """
    spec = _files(name)
    root = model_dir(folder)
    try:
        return _load_weights(name, spec, root)
    except OSError as exc:  # a file removed or unreadable between the checks and the reads
        raise ModelNotFoundError(f"model {name!r} in {root}: cannot read its files ({exc}): {DOWNLOAD_HINT}") from exc


def _load_weights(name: str, spec: ModelFiles, root: Path) -> LoadedWeights:
    manifest = root / spec.manifest
    if not manifest.is_file():
        raise ModelNotFoundError(f"model {name!r} not found in {root} ({spec.manifest} missing): {DOWNLOAD_HINT}")
    bin_path = root / spec.bin
    if not bin_path.is_file() and sha256_file(manifest) == spec.files[spec.manifest]:
        # the npm manifest, whose one weights file is gone: say so (not a missing shard of "group 0")
        raise ModelNotFoundError(f"model {name!r} in {root}: {spec.bin} is missing: {DOWNLOAD_HINT}")
    if bin_path.is_file():
        status = check_model(name, root)
        if not status.verified:
            raise ModelError(f"model {name!r} in {root}: {status.problem}; {DOWNLOAD_HINT}")
        key = spec.bin_sha256[:16]
    tensors = read_manifest_weights(manifest)
    if not bin_path.is_file():
        # Original face-api.js shards: their files differ from the pinned ones, their content must not.
        digest = tensors_sha256(tensors)
        if digest != DECODED_SHA256[name]:
            raise ModelError(
                f"model {name!r} in {root}: the weights its manifest and shards describe do not match the pinned "
                f"SHA-256 (corrupt, tampered with or a different version); {DOWNLOAD_HINT}"
            )
        key = "shards-" + digest[:16]
    return LoadedWeights(WeightMap(tensors, name), key, root)
