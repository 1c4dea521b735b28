"""Fixtures of the fault tests (tests/faults/): real `faceapi serve` and CLI processes meeting real faults --
weights that go away, a full disk (`faulting.SmallDisk`), SIGKILL, damaged gallery files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from faulting import SmallDisk, faceapi_env
from helpers import require


@pytest.fixture
def small_disk(tmp_path: Path):
    """``small_disk(size)``: a `SmallDisk` of `size` bytes, removed after the test."""
    disks: list[SmallDisk] = []

    def make(size: int = 4 << 20) -> SmallDisk:
        disk = SmallDisk(tmp_path / f"disk{len(disks)}", size)
        disks.append(disk)
        return disk

    yield make
    for d in disks:
        d.close()


@pytest.fixture
def serve(serve_process):
    """``serve(args, wrap=())``: `faceapi serve ARGS` (a `ServeProcess`, this checkout's package, one thread)."""
    require("httpx")
    return lambda args, wrap=(): serve_process([*args, "--log-level", "warning"], faceapi_env(), wrap)


@pytest.fixture
def weights_copy(tmp_path: Path, models_dir: Path) -> Path:
    """A copy of the model folder the test may break (the weights, and the cached graphs of the small nets)."""
    folder = tmp_path / "models"
    folder.mkdir()
    for f in models_dir.iterdir():
        if f.is_file():
            shutil.copy2(f, folder / f.name)
    (folder / "onnx").mkdir()
    for f in (models_dir / "onnx").glob("*"):
        if f.is_file() and f.name.startswith(("tiny_face_detector_model-", "face_landmark_68_tiny_model-",
                                              "age_gender_model-")):
            shutil.copy2(f, folder / "onnx" / f.name)
    return folder


@pytest.fixture
def face_photo(shared_dir: Path) -> bytes:
    """A photo with one face (the enrolment and analysis tests' image)."""
    return (shared_dir / "images" / "happy.jpg").read_bytes()


@pytest.fixture
def face_crops(character_photos) -> dict[str, bytes]:
    """person -> one 150x150 face crop (enrolled with crop=true: the descriptor net only, fast)."""
    return {person: photos[0].read_bytes() for person, photos in character_photos.items()}
