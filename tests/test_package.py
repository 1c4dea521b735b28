"""The package surface: every public name resolves, and importing faceapi stays light."""

from __future__ import annotations

import subprocess
import sys

import faceapi


def test_every_public_name_resolves():
    assert set(faceapi.__all__) == set(faceapi._EXPORTS) | faceapi._SUBMODULES | {"__version__"}
    for name in faceapi.__all__:
        assert getattr(faceapi, name) is not None, name


def test_import_and_version_do_not_load_onnxruntime():
    code = "import sys, faceapi; print('onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    version = subprocess.run([sys.executable, "-m", "faceapi.cli.main", "--version"], capture_output=True,
                             text=True, check=True).stdout
    assert version.strip() == f"faceapi {faceapi.__version__}"
