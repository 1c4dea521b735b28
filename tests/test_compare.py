"""`faceapi.verify`, `faceapi.find` and ``AnalyzeOptions(crop=True)`` on the shared photos.

Expected values come from face-api.js: its descriptors of the whole 150x150 character crops
(``wholeImageNetOutputs`` of ``reference/<photo>/result.json``) give the distances `verify` must report,
and its whole-image net outputs are what a crop analysed with ``crop=True`` must give.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

import faceapi
from faceapi import AnalyzeOptions, FaceAnalyzer
from faceapi.compare import FALSE_MATCH_RATES, FindResult, Found, Verification
from faceapi.errors import FaceCountError, OptionsError
from faceapi.gallery import Gallery, enrol_images
from faceapi.matching import FaceMatcher, LabeledFaceDescriptors

from helpers import missing


@pytest.fixture(scope="module")
def analyzer(models_dir) -> FaceAnalyzer:
    return FaceAnalyzer(models_dir)


def _whole(shared_dir: Path, photo: Path) -> dict:
    return json.loads((shared_dir / "reference" / photo.stem / "result.json").read_text())["wholeImageNetOutputs"]


def _reference_distance(shared_dir: Path, a: Path, b: Path) -> float:
    da = np.asarray(_whole(shared_dir, a)["faceRecognition"]["descriptor"], dtype=np.float64)
    db = np.asarray(_whole(shared_dir, b)["faceRecognition"]["descriptor"], dtype=np.float64)
    return float(np.linalg.norm(da - db))


def test_verify_same_person_crops(analyzer, character_photos, shared_dir):
    for person, photos in character_photos.items():
        for a, b in itertools.combinations(photos, 2):
            v = faceapi.verify(a, b, crop=True, analyzer=analyzer)
            assert isinstance(v, Verification)
            assert v.same, (person, a.name, b.name, v.distance)
            # face-api.js's descriptors are within 0.001 (L2) of ours, so their distance within 0.002
            assert v.distance == pytest.approx(_reference_distance(shared_dir, a, b), abs=2e-3)
            assert v.threshold == 0.6 and v.distance < 0.6


def test_verify_different_people_crops(analyzer, character_photos, shared_dir):
    firsts = {person: photos[0] for person, photos in character_photos.items()}
    for (p, a), (q, b) in itertools.combinations(firsts.items(), 2):
        v = faceapi.verify(a, b, crop=True, analyzer=analyzer)
        assert not v.same, (p, q, v.distance)
        assert v.distance == pytest.approx(_reference_distance(shared_dir, a, b), abs=2e-3)


def test_verify_reports_the_measured_false_match_rate(analyzer, character_photos, shared_dir):
    """At face-api.js's 0.6, verify states the false-match rate `faceapi eval verification` measures on LFW
    fold 1 (measured again here); at a threshold never measured it claims none."""
    from faceapi.evaluation.verification import evaluate_verification

    lfw = shared_dir / "eval" / "verification" / "lfw-fold1"
    if not (lfw / "pairs.txt").is_file():
        missing(f"no LFW pairs in {lfw}")
    measured = evaluate_verification(lfw, crop=True, threshold=0.6, analyzer=analyzer)
    amy = character_photos["amy"]
    v = faceapi.verify(amy[0], amy[1], crop=True, analyzer=analyzer)
    assert v.false_match_rate == FALSE_MATCH_RATES[0.6][0] == measured.fmr.value
    assert v.measured_on is not None and "lfw-fold1" in v.measured_on
    assert v.to_dict() == {"same": True, "distance": v.distance, "threshold": 0.6,
                           "false_match_rate": v.false_match_rate, "measured_on": v.measured_on}
    other = faceapi.verify(amy[0], amy[1], crop=True, threshold=0.55, analyzer=analyzer)
    assert other.false_match_rate is None and other.measured_on is None


def test_verify_threshold_decides(analyzer, character_photos):
    amy = character_photos["amy"]
    d = faceapi.verify(amy[0], amy[1], crop=True, analyzer=analyzer).distance
    assert not faceapi.verify(amy[0], amy[1], crop=True, threshold=d, analyzer=analyzer).same  # strictly below
    assert faceapi.verify(amy[0], amy[1], crop=True, threshold=d + 1e-6, analyzer=analyzer).same
    with pytest.raises(OptionsError, match="distance_threshold"):
        faceapi.verify(amy[0], amy[1], crop=True, threshold=0, analyzer=analyzer)


def test_verify_needs_one_face_and_says_crop(analyzer, character_photos, shared_dir):
    amy = character_photos["amy"][0]
    with pytest.raises(FaceCountError, match=r"amy1\.png: no face found; an image to verify must show exactly one "
                                             r"face \(if it is already a face crop, use --crop"):
        faceapi.verify(amy, character_photos["amy"][1], analyzer=analyzer)
    with pytest.raises(FaceCountError, match=r"bbt4\.jpg: 6 faces found"):
        faceapi.verify(shared_dir / "images" / "bbt4.jpg", amy, analyzer=analyzer)


def test_find_ranks_the_same_person_first(analyzer, character_photos):
    every = [p for photos in character_photos.values() for p in photos]
    for person, photos in character_photos.items():
        result = faceapi.find(photos[0], every, crop=True, analyzer=analyzer)
        assert isinstance(result, FindResult) and all(isinstance(m, Found) for m in result.matches)
        assert result.images == result.faces == len(every) and result.not_searched == ()
        assert result.matches[0].source == str(photos[0]) and result.matches[0].distance == 0.0
        ranked = [Path(m.source) for m in result.matches]
        assert set(ranked[1:len(photos)]) == set(photos[1:]), person  # the person's other photos come next
        distances = [m.distance for m in result.matches]
        assert distances == sorted(distances)
        assert [m.same for m in result.matches] == [d < 0.6 for d in distances]
        # the same distances as verify's
        other = result.matches[1]
        assert other.distance == faceapi.verify(photos[0], other.source, crop=True, analyzer=analyzer).distance


def test_find_crop_in_group_photos(analyzer, character_photos, group_photo_labels, shared_dir):
    """A person's crop looked for in the group photos: the faces face-api.js names as that person are the
    ones `find` says are the same person (by the one recognition rule)."""
    groups = [shared_dir / "images" / f"{name}.jpg" for name in group_photo_labels]
    for person in ("penny", "sheldon"):
        result = faceapi.find(character_photos[person][0], groups, face_crop=True, analyzer=analyzer)
        assert result.images == len(groups)
        assert result.faces == sum(len(labels) for labels in group_photo_labels.values())
        nearest = result.matches[0]
        labels = group_photo_labels[Path(nearest.source).stem]
        # the face-api.js labels are left to right: the nearest face's place among its photo's faces
        faces_here = sorted((m for m in result.matches if m.source == nearest.source), key=lambda m: m.box.x)
        assert labels[faces_here.index(nearest)] == person, (person, nearest)
        assert nearest.box is not None and nearest.face is not None and nearest.person is None


def test_find_in_gallery(analyzer, character_photos, tmp_path):
    with Gallery(tmp_path / "people.sqlite3") as gallery:
        for person, photos in character_photos.items():
            enrol_images(analyzer, gallery, person, photos[:2], crop=True)
        for person, photos in character_photos.items():
            if len(photos) < 3:
                continue
            result = faceapi.find(photos[2], gallery=gallery, crop=True, top=3, analyzer=analyzer)
            assert result.people == len(character_photos) and result.images == 0
            assert len(result.matches) == 3 and result.matches[0].person == person and result.matches[0].same
            # the distance is FaceMatcher's (mean over the person's samples), face-api.js's rule
            expected = FaceMatcher(gallery.matcher().labeled).find_best_match(
                analyzer.analyze(photos[2], AnalyzeOptions(crop=True, descriptors=True)).faces[0].descriptor)
            assert (result.matches[0].person, result.matches[0].distance) == (expected.label, expected.distance)


def test_find_reports_what_it_could_not_search(analyzer, character_photos, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    amy = character_photos["amy"]
    (folder / "a.png").write_bytes(amy[1].read_bytes())
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("hello")
    result = faceapi.find(amy[0], [folder, tmp_path / "missing"], crop=True, analyzer=analyzer)
    assert [m.source for m in result.matches] == [str(folder / "a.png")]
    assert result.images == 1 and result.failed == 2
    assert [(n.source, n.status) for n in result.not_searched] == [
        (str(folder / "broken.png"), "error"), (str(folder / "notes.txt"), "skipped"),
        (str(tmp_path / "missing"), "error")]


def test_find_checks_its_arguments(analyzer, character_photos):
    amy = character_photos["amy"]
    with pytest.raises(OptionsError, match="nothing to search"):
        faceapi.find(amy[0], [], analyzer=analyzer)
    with pytest.raises(OptionsError, match="top must be"):
        faceapi.find(amy[0], amy, crop=True, top=0, analyzer=analyzer)


def test_nearest_people_exact_and_ordered():
    rng = np.random.default_rng(0)
    refs = [LabeledFaceDescriptors(f"p{i}", rng.normal(size=(3, 128)) * 0.1) for i in range(20)]
    q = rng.normal(size=128) * 0.1
    for strategy in ("mean", "nearest"):
        m = FaceMatcher(refs, strategy=strategy)
        exact = []
        for ld in refs:
            d = [float(np.sqrt(((np.asarray(x, np.float64) - q) ** 2).sum())) for x in ld.descriptors]
            exact.append((sum(d) / len(d) if strategy == "mean" else min(d), ld.label))
        want = sorted(exact)[:5]
        got = m.nearest(q, 5)
        assert [g.label for g in got] == [w[1] for w in want]
        assert [g.distance for g in got] == pytest.approx([w[0] for w in want], abs=1e-12)
        assert m.nearest(q, 5)[0] == m.find_best_match(q) or m.find_best_match(q).label == "unknown"
        assert len(m.nearest(q)) == 20
    with pytest.raises(OptionsError):
        FaceMatcher(refs).nearest(q, 0)
    assert FaceMatcher([]).nearest(q, 3) == []


def test_crop_option_is_face_api_js_per_net_outputs(analyzer, character_photos, shared_dir):
    """``crop=True``: no detector, every net on the whole image: face-api.js's per-net outputs on the crop."""
    for photo in (character_photos["amy"][0], character_photos["raj"][1]):
        decoded = shared_dir / "reference" / photo.stem / "decoded.png"
        result = analyzer.analyze(decoded, AnalyzeOptions(crop=True, landmarks="full", expressions=True,
                                                          age_gender=True, descriptors=True))
        assert "detect" not in result.timings_ms and len(result.faces) == 1
        face = result.faces[0]
        assert face.detection.box == faceapi.Box(0.0, 0.0, result.width, result.height)
        assert face.detection.score == 1.0
        ref = _whole(shared_dir, photo)
        assert np.abs(face.landmarks.positions - np.asarray(ref["faceLandmark68"]["positions"])).max() < 0.05
        expected = ref["faceExpression"]["probabilities"]
        assert max(abs(p - expected[label]) for label, p in face.expressions.as_dict().items()) < 1e-3
        assert abs(face.age_gender.age - ref["ageGender"]["age"]) < 0.05
        assert face.age_gender.gender == ref["ageGender"]["gender"]
        assert np.linalg.norm(face.descriptor - np.asarray(ref["faceRecognition"]["descriptor"])) < 1e-3


def test_crop_descriptors_need_no_landmarks(analyzer, character_photos):
    options = AnalyzeOptions(crop=True, descriptors=True)
    assert options.effective_landmarks is None
    assert FaceAnalyzer.nets_for(options) == ["face_recognition"]
    face = analyzer.analyze(character_photos["amy"][0], options).faces[0]
    assert face.landmarks is None and face.descriptor is not None
    assert AnalyzeOptions.from_dict({"crop": True}).crop and AnalyzeOptions.from_dict({"crop": True}).to_dict()["crop"]
    assert "crop" not in AnalyzeOptions().to_dict()
    with pytest.raises(OptionsError, match="crop"):
        AnalyzeOptions.from_dict({"crop": "yes"})
