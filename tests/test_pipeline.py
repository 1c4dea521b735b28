"""The whole task chain against face-api.js 0.22.2's own outputs (reference/<image>/result.json).

detectAllFaces(t).withFaceLandmarks().withFaceExpressions().withAgeAndGender().withFaceDescriptors() on the
pixels face-api.js saw (decoded.png): same faces; landmarks and aligned boxes within 0.5 px; expressions
within 0.01; age within 0.5 years; gender probability within 0.01; descriptor L2 within 0.02.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import faceapi
from faceapi import AnalyzeOptions, FaceAnalyzer
from faceapi.pipeline import dlib_aligned_box

from helpers import SHARED, read_rgb, reference_names, write_artifact

WITH_FACES = [n for n in reference_names()
              if json.loads((SHARED / "reference" / n / "result.json").read_text())["faces"]]


@pytest.fixture(scope="module")
def analyzer(models_dir) -> FaceAnalyzer:
    return FaceAnalyzer(models_dir)


def _max_point_error(a, b) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


def _box_error(box, ref: dict) -> float:
    return max(abs(box.x - ref["x"]), abs(box.y - ref["y"]), abs(box.width - ref["width"]),
               abs(box.height - ref["height"]))


@pytest.mark.parametrize("name", WITH_FACES)
def test_full_chain_matches_faceapi_js(name, analyzer, shared_dir):
    ref = json.loads((shared_dir / "reference" / name / "result.json").read_text())
    image = read_rgb(shared_dir / "reference" / name / "decoded.png")
    options = AnalyzeOptions(landmarks="full", expressions=True, age_gender=True, descriptors=True)
    faces = analyzer.analyze(image, options).faces
    errors: dict[str, float] = {}
    report = {"image": name, "faces": []}
    assert len(faces) == len(ref["faces"]), f"{name}: {len(faces)} faces, face-api.js found {len(ref['faces'])}"
    for face, rf in zip(faces, ref["faces"]):
        p = rf["pipeline"]
        lm = p["faceLandmark68"]
        e = {
            "box": _box_error(face.detection.box, rf["detection"]["box"]),
            "landmarks": _max_point_error(face.landmarks.positions, lm["positions"]),
            "aligned_box": _box_error(face.aligned_box, lm["alignedRect"]["box"]),
            "dlib_box": _box_error(dlib_aligned_box(face.landmarks), lm["dlibAlignedRect"]),
            "expressions": max(abs(face.expressions[k] - v) for k, v in p["expressions"]["probabilities"].items()),
            "age": abs(face.age_gender.age - p["ageGender"]["age"]),
            "gender_probability": abs(face.age_gender.gender_probability - p["ageGender"]["genderProbability"]),
            "descriptor_l2": faceapi.euclidean_distance(face.descriptor, p["descriptor"]),
        }
        assert face.age_gender.gender == p["ageGender"]["gender"]
        report["faces"].append({"errors": e, "actual": face.to_dict(), "expected": p})
        for k, v in e.items():
            errors[k] = max(errors.get(k, 0.0), v)
    limits = {"box": 0.5, "landmarks": 0.5, "aligned_box": 0.5, "dlib_box": 1.0, "expressions": 0.01, "age": 0.5,
              "gender_probability": 0.01, "descriptor_l2": 0.02}
    bad = {k: v for k, v in errors.items() if v > limits[k]}
    if bad:
        path = write_artifact(f"chain-{name}", report)
        pytest.fail(f"{name}: over tolerance {bad} (limits {limits}); details in {path}")


@pytest.mark.parametrize("name", WITH_FACES)
def test_tiny_landmarks_chain(name, analyzer, shared_dir):
    ref = json.loads((shared_dir / "reference" / name / "result.json").read_text())
    image = read_rgb(shared_dir / "reference" / name / "decoded.png")
    faces = analyzer.analyze(image, AnalyzeOptions(landmarks="tiny")).faces
    assert len(faces) == len(ref["faces"])
    for face, rf in zip(faces, ref["faces"]):
        tiny = rf["pipeline"]["faceLandmark68Tiny"]
        err = _max_point_error(face.landmarks.positions, tiny["positions"])
        aligned = _box_error(face.aligned_box, tiny["alignedRect"]["box"])
        if err > 0.5 or aligned > 0.5:
            path = write_artifact(f"chain-tiny-{name}", {"actual": face.to_dict(), "expected": tiny})
            pytest.fail(f"{name}: tiny landmarks off by {err:.4f} px, aligned box {aligned:.4f} px; see {path}")


def test_chain_api_equals_facade(analyzer, shared_dir):
    path = shared_dir / "images" / "bbt4.jpg"
    chained = (faceapi.detect_all_faces(path, analyzer=analyzer).with_face_landmarks()
               .with_face_expressions().with_age_and_gender().with_face_descriptors())
    direct = analyzer.analyze(path, AnalyzeOptions(landmarks="full", expressions=True, age_gender=True,
                                                   descriptors=True))
    assert len(chained) == len(direct.faces) == 6
    for a, b in zip(chained, direct.faces):
        assert a.to_dict() == b.to_dict()
    single = faceapi.detect_single_face(path, analyzer=analyzer).with_face_landmarks().run()
    assert single is not None
    assert single.detection.score == max(f.detection.score for f in direct.faces)
    with pytest.raises(faceapi.FaceApiError, match="with_face_landmarks"):
        faceapi.detect_all_faces(path, analyzer=analyzer).with_face_descriptors()


def test_tiny_detector_chain_and_resized(analyzer, shared_dir):
    path = shared_dir / "images" / "bbt4.jpg"
    result = analyzer.analyze(path, AnalyzeOptions(detector=faceapi.TinyFaceDetectorOptions(input_size=416),
                                                   landmarks="tiny", expressions=True))
    assert len(result.faces) == 6
    assert set(result.timings_ms) >= {"decode", "detect", "landmarks", "expressions", "total"}
    face = result.faces[0]
    half = face.resized(result.width // 2, result.height // 2)
    ratio = (result.width // 2) / result.width
    assert half.detection.box.x == pytest.approx(face.detection.box.x * ratio, rel=1e-3)
    # landmarks scale with the box: relative positions inside the box stay the same
    def rel_nose(f):
        return (f.landmarks.positions[30] - [f.detection.box.x, f.detection.box.y]) / f.detection.box.width

    rel_before, rel_after = rel_nose(face), rel_nose(half)
    assert np.allclose(rel_before, rel_after, atol=0.02)
    assert half.expressions == face.expressions
    with pytest.raises(ValueError):
        face.resized(0, 10)


def _same_face(a: faceapi.Face, b: faceapi.Face) -> None:
    """Equal up to float rounding (1e-9 relative)."""
    box = [a.detection.box.x, a.detection.box.y, a.detection.box.width, a.detection.box.height]
    np.testing.assert_allclose(box, [b.detection.box.x, b.detection.box.y, b.detection.box.width,
                                     b.detection.box.height], rtol=1e-9)
    assert (a.detection.image_width, a.detection.image_height) == (b.detection.image_width, b.detection.image_height)
    np.testing.assert_allclose(a.landmarks.positions, b.landmarks.positions, rtol=1e-9)
    np.testing.assert_allclose([a.landmarks.crop_width, a.landmarks.crop_height],
                               [b.landmarks.crop_width, b.landmarks.crop_height], rtol=1e-9)
    np.testing.assert_allclose(list(a.aligned_box.to_dict().values()), list(b.aligned_box.to_dict().values()),
                               rtol=1e-9)


@pytest.mark.parametrize("name", ["bbt4", "bbt1"])
def test_resizing_composes(name, analyzer, shared_dir):
    """resized(a).resized(b) == resized(b): each resize starts from where the last one ended (it used to
    keep the first crop size, and landmarks drifted by over 100 px on the second resize)."""
    ref = shared_dir / "reference" / name
    result = analyzer.analyze(read_rgb(ref / "decoded.png"), AnalyzeOptions(landmarks="full"))
    assert result.faces
    w, h = result.width, result.height
    for face in result.faces:
        for a, b in [((w // 3, h // 2), (2 * w, 3 * h)), ((1000, 100), (w // 2, h // 2)), ((2 * w, 2 * h), (w, h))]:
            _same_face(face.resized(*a).resized(*b), face.resized(*b))
        # (not the identity: like face-api.js's resizeResults, the first resize scales the landmarks from the
        # floored crop the net saw to the unfloored detection box)


def test_no_faces_and_extract_faces(analyzer, shared_dir):
    white = shared_dir / "images" / "white.png"
    result = analyzer.analyze(white, AnalyzeOptions(landmarks="full", expressions=True))
    assert result.faces == ()
    crops = faceapi.extract_faces(shared_dir / "images" / "bbt4.jpg",
                                  [faceapi.Box(-10.5, 20.7, 50.9, 40.2), faceapi.Box(700, 460, 30, 30)])
    # clipped at the image borders, then each of x, y, w, h floored (extractFaceTensors)
    assert crops[0].shape == (40, 40, 3)
    assert crops[1].shape == (13, 10, 3)
