"""Parity of our MiniFASNet graphs with upstream's own PyTorch definition (../shared/models/minifasnet/
reference/MiniFASNet.py, run as it is, never copied), and the state-dict reader against torch.load."""

from __future__ import annotations

import importlib.util
import pickle

import numpy as np
import pytest

from faceapi.errors import ModelError
from faceapi.image import load_image
from faceapi.models.pth import read_state_dict
from faceapi.nets import minifasnet
from faceapi.pipeline import FaceAnalyzer

from helpers import SHARED, missing, require

REFERENCE = SHARED / "models" / "minifasnet" / "reference" / "MiniFASNet.py"
#: upstream's model name -> (its constructor, our net)
NETS = {"minifasnet_v2": "MiniFASNetV2", "minifasnet_v1se": "MiniFASNetV1SE"}


@pytest.fixture(scope="module")
def torch():
    return require("torch")


@pytest.fixture(scope="module")
def reference(torch):
    if not REFERENCE.is_file():
        missing(f"upstream's reference definition is not at {REFERENCE}")
    spec = importlib.util.spec_from_file_location("minifasnet_reference", REFERENCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference_model(torch, reference, net: str):
    spec = minifasnet.V2_SPEC if net == "minifasnet_v2" else minifasnet.V1SE_SPEC
    path = minifasnet.weights_file(spec.model)
    # upstream: conv6_kernel = ((80 + 15) // 16, (80 + 15) // 16), and the state dict's "module." prefix dropped
    model = getattr(reference, NETS[net])(conv6_kernel=(5, 5))
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    return model.eval()


@pytest.mark.parametrize("net", list(NETS))
def test_state_dict_reader_equals_torch_load(torch, net):
    spec = minifasnet.V2_SPEC if net == "minifasnet_v2" else minifasnet.V1SE_SPEC
    path = minifasnet.weights_file(spec.model)
    ours = read_state_dict(path)
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    assert list(ours) == list(theirs)
    for name, value in theirs.items():
        assert ours[name].dtype == value.numpy().dtype and np.array_equal(ours[name], value.numpy()), name


@pytest.mark.parametrize("net", list(NETS))
def test_logits_equal_upstreams_definition(torch, reference, models_dir, net, nuaa):
    """Fixed inputs: 6 seeded random images and the two nets' real patches of a live and an attack photo."""
    analyzer = FaceAnalyzer(models_dir)
    ours = analyzer.net(net)
    assert isinstance(ours, minifasnet.MiniFASNet)
    rng = np.random.default_rng(23)
    batch = [rng.integers(0, 256, (80, 80, 3)).astype(np.float32) for _ in range(6)]
    for path in (sorted((nuaa / "real").iterdir())[0], sorted((nuaa / "attack").iterdir())[0]):
        image = load_image(str(path))
        box = analyzer.analyze(image).faces[0].detection.box
        batch.append(ours.preprocess_faces(image, [box])[0])
    rgb = np.stack(batch)
    bgr = rgb[..., ::-1].transpose(0, 3, 1, 2).copy()  # upstream's input: BGR, NCHW, 0..255
    with torch.no_grad():
        want = _reference_model(torch, reference, net)(torch.from_numpy(bgr)).numpy()
    got = ours.forward(rgb)[0]
    assert got.shape == want.shape == (8, 3)
    assert np.abs(got - want).max() <= 1e-4
    # and upstream's softmax
    want_p = torch.softmax(torch.from_numpy(want), dim=1).numpy()
    assert np.abs(minifasnet.softmax(got) - want_p).max() <= 1e-5


def test_reader_refuses_anything_but_tensors(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("ran",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
                     + pickle.dumps({"little_endian": True}, protocol=2) + pickle.dumps(Boom(), protocol=2))
    with pytest.raises(ModelError, match="refusing to load .*print"):
        read_state_dict(path)
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(ModelError):
        read_state_dict(path)


def test_weights_are_verified(tmp_path):
    spec = minifasnet.V2_SPEC
    good = minifasnet.weights_file(spec.model)
    bad = tmp_path / good.name
    data = bytearray(good.read_bytes())
    data[-1] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        minifasnet.weights_file(spec.model, tmp_path)
