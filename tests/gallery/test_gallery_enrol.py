"""Enrolment from images (`describe_face`, `enrol_images`) and recognition with the gallery: the
character photos, people left out, the faces of the group photos (against face-api.js's own labels), and
clear errors for unusable enrolment images."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from faceapi import AnalyzeOptions, FaceAnalyzer, FaceMatcher, LabeledFaceDescriptors
from faceapi.errors import FaceApiError, FaceCountError, GalleryError
from faceapi.gallery import Gallery, describe_face, enrol_images
from faceapi.options import MatchOptions

from helpers import write_artifact

PHOTO = re.compile(r"([a-z]+)(\d)")


@pytest.fixture(scope="module")
def analyzer(models_dir) -> FaceAnalyzer:
    return FaceAnalyzer(models_dir)


@pytest.fixture(scope="module")
def described(analyzer, character_photos) -> dict[str, np.ndarray]:
    """photo stem -> descriptor of the whole 150x150 photo (it is a face crop already)."""
    return {p.stem: describe_face(analyzer, p, crop=True).descriptor
            for ps in character_photos.values() for p in ps}


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory, analyzer, character_photos) -> Gallery:
    """The first two photos of each person enrolled with crop=True, through `enrol_images`."""
    g = Gallery(tmp_path_factory.mktemp("gallery") / "people.sqlite3")
    for person, ps in character_photos.items():
        r = enrol_images(analyzer, g, person, ps[:2], crop=True)
        assert r.added == 2
    return g


def test_enrolled_people_recognise_their_other_photos(enrolled, character_photos, described):
    queries = [p.stem for ps in character_photos.values() for p in ps[2:]]
    q = np.stack([described[s] for s in queries])
    people = sorted(character_photos)
    mean_matcher = enrolled.matcher()
    dist = mean_matcher.distances(q)  # (query, person) mean distances
    table = {person: {other: float(np.mean([dist[i, mean_matcher.labels.index(other)]
                                            for i, s in enumerate(queries) if PHOTO.fullmatch(s).group(1) == person]))
                      for other in people} for person in people}
    results = {}
    for strategy in ("mean", "nearest"):
        matches = enrolled.matcher(strategy=strategy).match_descriptors(q)
        results[strategy] = {s: (m.label, round(m.distance, 4)) for s, m in zip(queries, matches)}
    write_artifact("gallery-recognition", {"queries": results, "mean_distance_query_person_x_enrolled": table})
    print("\nmean distance, held-out photos of (row) to enrolled (column):")
    print("".join(f"{p[:6]:>8s}" for p in ["", *people]))
    for a in people:
        print(f"{a[:6]:>8s}" + "".join(f"{table[a][b]:8.3f}" for b in people))
    for strategy, res in results.items():
        wrong = {s: lab for s, (lab, _) in res.items() if lab != PHOTO.fullmatch(s).group(1)}
        assert not wrong, f"{strategy}: misrecognised {wrong}"
    for a in people:
        assert min(table[a], key=table[a].get) == a


def test_a_person_not_enrolled_is_unknown(analyzer, character_photos, described):
    """Leave each person out in turn: their photos must not be given someone else's name."""
    confusions = {}
    for left_out in character_photos:
        refs = [LabeledFaceDescriptors(p, [described[x.stem] for x in ps[:2]])
                for p, ps in character_photos.items() if p != left_out]
        m = FaceMatcher(refs)
        for photo in character_photos[left_out]:
            match = m.find_best_match(described[photo.stem])
            if match.label != "unknown":
                confusions[photo.stem] = (match.label, round(match.distance, 4))
    write_artifact("gallery-left-out", confusions)
    print("\nleft-out photos given a name:", confusions or "none")
    assert not confusions, f"photos of a person who was not enrolled got a name: {confusions}"


def test_label_the_faces_in_the_group_photos(enrolled, analyzer, shared_dir, group_photo_labels):
    """SSD + 68 landmarks + descriptors on the group photos, matched against the 16 enrolled photos, name
    the faces as face-api.js's own descriptors do (`group_photo_labels`: its reference outputs through
    FaceMatcher)."""
    options = AnalyzeOptions(landmarks="full", descriptors=True, recognize=MatchOptions())
    labels = {}
    for name, expected in group_photo_labels.items():
        result = analyzer.analyze(shared_dir / "images" / f"{name}.jpg", options, matcher=enrolled.matcher())
        assert len(result.faces) == len(expected), name
        labels[name] = [(f.match.label, round(f.match.distance, 3))
                        for f in sorted(result.faces, key=lambda f: f.detection.box.x)]
    print("\nlabels, left to right:", json.dumps(labels))
    write_artifact("gallery-group-labels", {"ours": labels, "face-api.js": group_photo_labels})
    assert {k: [lab for lab, _ in v] for k, v in labels.items()} == group_photo_labels
    assert all(lab != "unknown" for v in group_photo_labels.values() for lab in v)  # the check has teeth


def test_bad_enrolment_images_get_clear_errors_and_write_nothing(tmp_path, analyzer, shared_dir):
    images = shared_dir / "images"
    g = Gallery(tmp_path / "g.sqlite3")
    with pytest.raises(FaceCountError, match=r"white\.png: no face found") as info:
        enrol_images(analyzer, g, "nobody", [images / "white.png"])
    assert info.value.faces == 0 and isinstance(info.value, GalleryError)
    with pytest.raises(GalleryError, match=r"bbt4\.jpg: 6 faces found; an enrolment image must show exactly one"):
        enrol_images(analyzer, g, "crowd", [images / "happy.jpg", images / "bbt4.jpg"], crop=False)
    with pytest.raises(FaceApiError, match="missing.png"):
        enrol_images(analyzer, g, "ghost", [images / "amy1.png", images / "missing.png"], crop=True)
    assert len(g) == 0 and g.num_descriptors == 0  # nothing written by a failed enrolment
    with pytest.raises(GalleryError, match="no person called 'nobody'"):
        g.remove("nobody")
    r = enrol_images(analyzer, g, "happy", [images / "happy.jpg"])  # one face, detected
    assert r.added == 1
