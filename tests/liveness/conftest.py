"""Fixtures of the liveness tests: the nuaa-dev set (print attacks) and an analyzer."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceapi.pipeline import FaceAnalyzer

from helpers import SHARED, missing

NUAA = SHARED / "eval" / "liveness" / "nuaa-dev"


@pytest.fixture(scope="session")
def nuaa() -> Path:
    """``../shared/eval/liveness/nuaa-dev`` (real/ and attack/), checked."""
    if not (NUAA / "real").is_dir() or not (NUAA / "attack").is_dir():
        missing(f"no liveness set at {NUAA}")
    return NUAA


@pytest.fixture(scope="session")
def liveness_analyzer(models_dir) -> FaceAnalyzer:
    return FaceAnalyzer(models_dir)
