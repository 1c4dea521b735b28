"""Fixtures of the tracking tests: the analyzer, the synthetic noisy clips (a still then panning photo with
webcam-like noise, sigma 6 and JPEG 80 per frame) and the stream settings of the issue's targets."""

from __future__ import annotations

import pytest

from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer
from faceapi.tracking.clip import Clip, noisy_clip

#: tiny detector 416 + full landmarks + expressions: the live page's defaults
STREAM = {"detector": "tiny", "input_size": 416, "min_score": 0.5, "landmarks": "full", "expressions": True}


@pytest.fixture(scope="module")
def analyzer(models_dir) -> FaceAnalyzer:
    return FaceAnalyzer(models_dir)


@pytest.fixture(scope="session")
def stream_settings() -> dict:
    return dict(STREAM)


@pytest.fixture(scope="session")
def stream_options() -> AnalyzeOptions:
    return AnalyzeOptions.from_dict(STREAM)


@pytest.fixture(scope="session")
def happy_clip(shared_dir) -> Clip:
    """One clearly happy face: 30 still frames, then 60 frames panning right by 3 px."""
    return noisy_clip(shared_dir / "images" / "happy.jpg", width=400, still=30, pan=60, step=3)


@pytest.fixture(scope="session")
def faces_clip(shared_dir) -> Clip:
    """Six faces (bbt4.jpg): 10 still frames, then 20 frames panning right by 3 px."""
    return noisy_clip(shared_dir / "images" / "bbt4.jpg", width=560, still=10, pan=20, step=3)
