"""Weights: the manifest reader (quantisation, shards, groups), verification, download --from, errors."""

from __future__ import annotations

import json
import shutil
import tarfile

import numpy as np
import pytest

from faceapi import nets
from faceapi.errors import ModelError, ModelNotFoundError
from faceapi.models import MODELS, check_model, download_models, load_weights, read_manifest_weights
from faceapi.models.manifest import WeightMap
from faceapi.nets import NET_SPECS


def _write_manifest(folder, groups):
    (folder / "m-weights_manifest.json").write_text(json.dumps(groups))
    return folder / "m-weights_manifest.json"


def test_reader_dequantises_like_tfjs(tmp_path):
    q8 = np.array([0, 1, 255], np.uint8)
    q16 = np.array([0, 1000, 65535], np.uint16)
    f16 = np.array([0.5, -2.25, 1e-3], np.float16)
    f32 = np.array([[1.5, -2.0]], np.float32)
    i32 = np.array([7], np.int32)
    (tmp_path / "shard1").write_bytes(q8.tobytes() + q16.tobytes()[:3])  # an entry split across two shards
    (tmp_path / "shard2").write_bytes(q16.tobytes()[3:] + f16.tobytes())
    (tmp_path / "other.bin").write_bytes(f32.tobytes() + i32.tobytes() + np.array([3], np.uint8).tobytes())
    manifest = _write_manifest(tmp_path, [
        {"paths": ["shard1", "shard2"], "weights": [
            {"name": "a", "shape": [3], "dtype": "float32",
             "quantization": {"dtype": "uint8", "scale": 0.1, "min": -1}},
            {"name": "b", "shape": [3], "dtype": "float32",
             "quantization": {"dtype": "uint16", "scale": 0.001, "min": 0.5}},
            {"name": "c", "shape": [3], "dtype": "float32", "quantization": {"dtype": "float16"}},
        ]},
        {"paths": ["other.bin"], "weights": [
            {"name": "d", "shape": [1, 2], "dtype": "float32"},
            {"name": "e", "shape": [1], "dtype": "int32"},
            {"name": "f", "shape": [], "dtype": "int32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": 0}},
        ]},
    ])
    t = read_manifest_weights(manifest)
    assert t["a"].dtype == np.float32
    np.testing.assert_array_equal(t["a"], (q8.astype(np.float64) * 0.1 - 1).astype(np.float32))
    np.testing.assert_array_equal(t["b"], (q16.astype(np.float64) * 0.001 + 0.5).astype(np.float32))
    np.testing.assert_array_equal(t["c"], f16.astype(np.float32))
    np.testing.assert_array_equal(t["d"], f32)
    assert t["e"].tolist() == [7] and t["f"].shape == () and int(t["f"]) == 2  # Math.round(1.5) = 2


def test_reader_refuses_truncated_and_unknown(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"\0" * 5)
    manifest = _write_manifest(tmp_path, [{"paths": ["w.bin"], "weights": [
        {"name": "a", "shape": [2], "dtype": "float32"}]}])
    with pytest.raises(ModelError, match="truncated"):
        read_manifest_weights(manifest)
    manifest = _write_manifest(tmp_path, [{"paths": ["w.bin"], "weights": [
        {"name": "a", "shape": [5], "dtype": "float32", "quantization": {"dtype": "int4"}}]}])
    with pytest.raises(ModelError, match="unknown storage"):
        read_manifest_weights(manifest)
    manifest = _write_manifest(tmp_path, [{"paths": ["missing.bin"], "weights": []}])
    with pytest.raises(ModelError, match="missing"):
        read_manifest_weights(manifest)
    wm = WeightMap({"x": np.zeros(1)}, "m")
    with pytest.raises(ModelError, match="no tensor named 'y'"):
        wm["y"]


def test_shipped_models_verify_and_load(models_dir):
    for name in MODELS:
        assert check_model(name, models_dir).verified, name
    loaded = load_weights("tiny_face_detector_model", models_dir)
    assert loaded.weights["conv8/filters"].shape == (1, 1, 512, 25)


def test_original_shard_layout_loads(models_dir, tmp_path):
    """An original face-api.js weights/ folder: 4 MiB shards NAME-shard1, -shard2, ... instead of NAME.bin."""
    name = "face_recognition_model"
    data = (models_dir / f"{name}.bin").read_bytes()
    shards = [data[i : i + 4194304] for i in range(0, len(data), 4194304)]
    paths = []
    for i, chunk in enumerate(shards, start=1):
        (tmp_path / f"{name}-shard{i}").write_bytes(chunk)
        paths.append(f"{name}-shard{i}")
    manifest = json.loads((models_dir / f"{name}-weights_manifest.json").read_text())
    manifest[0]["paths"] = paths
    (tmp_path / f"{name}-weights_manifest.json").write_text(json.dumps(manifest))
    from_shards = load_weights(name, tmp_path)
    from_bin = load_weights(name, models_dir)
    assert len(shards) == 2
    assert from_shards.key.startswith("shards-")
    for k in from_bin.weights.names():
        np.testing.assert_array_equal(from_shards.weights[k], from_bin.weights[k])


def test_missing_and_corrupt_models_say_what_to_do(models_dir, tmp_path):
    with pytest.raises(ModelNotFoundError, match="faceapi models download"):
        load_weights("age_gender_model", tmp_path)
    for f in MODELS["age_gender_model"].files:
        shutil.copy(models_dir / f, tmp_path / f)
    with open(tmp_path / "age_gender_model.bin", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\xff\xfe")
    with pytest.raises(ModelError, match="SHA-256"):
        load_weights("age_gender_model", tmp_path)


def test_download_from_folder_and_tgz_is_idempotent(models_dir, tmp_path):
    target = tmp_path / "models"
    messages: list[str] = []
    download_models(target, source=models_dir, log=messages.append)
    assert all(check_model(n, target).verified for n in MODELS)
    assert sum("installed" in m for m in messages) == 14
    messages.clear()
    download_models(target, source=models_dir, log=messages.append)
    assert messages == [f"all models present and verified in {target}"]
    # an npm tarball: package/model/...
    tgz = tmp_path / "pkg.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for spec in MODELS.values():
            for f in spec.files:
                tar.add(models_dir / f, arcname=f"package/model/{f}")
    target2 = tmp_path / "models2"
    download_models(target2, source=tgz)
    assert all(check_model(n, target2).verified for n in MODELS)
    assert not list(target2.glob("*.part"))


def test_download_refuses_files_that_do_not_match(models_dir, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for spec in MODELS.values():
        for f in spec.files:
            shutil.copy(models_dir / f, src / f)
    (src / "tiny_face_detector_model.bin").write_bytes(b"not the weights")
    target = tmp_path / "models"
    with pytest.raises(ModelError, match="does not match the pinned"):
        download_models(target, source=src)
    assert not (target / "tiny_face_detector_model.bin").exists()


@pytest.mark.parametrize("groups, problem", [
    ([{"weights": []}], "'paths'"),  # a group without its files
    ([{"paths": [], "weights": [{"name": "a", "dtype": "float32"}]}], "'shape'"),
    ({"not": "a list"}, "expected a list"),
])
def test_malformed_manifest_is_a_model_error(tmp_path, groups, problem):
    """Bad weights are a ModelError naming the file and what was expected, never a KeyError/AssertionError."""
    manifest = _write_manifest(tmp_path, groups)
    with pytest.raises(ModelError, match=problem) as info:
        read_manifest_weights(manifest)
    assert str(manifest) in str(info.value)


def test_weights_of_another_net_are_a_model_error(models_dir):
    """A graph built from the wrong weights says so (ModelError), instead of an AssertionError."""


    wrong = load_weights("face_expression_model", models_dir).weights
    with pytest.raises(ModelError, match="no tensor named"):
        nets.spec("age_gender").build_graph(wrong)
    with pytest.raises(ModelError, match="unknown model 'nope_model'"):
        check_model("nope_model", models_dir)


def test_models_list_takes_models_dir(models_dir, capsys):
    from faceapi.cli.main import main

    assert main(["models", "list", "--models-dir", str(models_dir), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["name"] for r in rows] == [s.model for s in NET_SPECS]
    assert all(r["verified"] for r in rows)
    assert main(["models", "list", "--dir", str(models_dir)]) == 0  # the old spelling still works
