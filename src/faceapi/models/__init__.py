"""Locating, fetching, verifying and reading face-api.js's weights."""

from faceapi.models.download import download_models
from faceapi.models.manifest import WeightMap, read_manifest_weights
from faceapi.models.registry import MODELS, NPM_PACKAGE
from faceapi.models.store import LoadedWeights, check_model, load_weights, model_dir

__all__ = [
    "MODELS",
    "NPM_PACKAGE",
    "LoadedWeights",
    "WeightMap",
    "check_model",
    "download_models",
    "load_weights",
    "model_dir",
    "read_manifest_weights",
]
