"""FaceMatcher semantics (face-api.js 5.10) and recognition quality on the 150x150 character photos."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

import faceapi
from faceapi import FaceMatcher, LabeledFaceDescriptors, euclidean_distance
from faceapi.errors import OptionsError

from helpers import write_artifact


def test_euclidean_distance():
    assert euclidean_distance([0, 0], [3, 4]) == 5.0
    with pytest.raises(OptionsError, match="different lengths"):
        euclidean_distance([1, 2], [1, 2, 3])


def test_matcher_refuses_bad_input_with_project_errors():
    """Project errors (FaceApiError, and ValueError for callers that catch that), so the CLI prints a message."""
    ref = LabeledFaceDescriptors("a", [[0.0, 0.0]])
    with pytest.raises(OptionsError, match="strategy"):
        FaceMatcher([ref], strategy="closest")
    with pytest.raises(OptionsError, match="shape"):
        FaceMatcher([ref]).match_descriptors(np.zeros((1, 3)))
    with pytest.raises(OptionsError, match="at least one"):
        LabeledFaceDescriptors("b", [])
    with pytest.raises(OptionsError, match="string"):
        LabeledFaceDescriptors(3, [[0.0]])  # type: ignore[arg-type]
    with pytest.raises(OptionsError, match="counts"):
        FaceMatcher.from_arrays(["a", "b"], np.zeros((3, 2)), [1, 1])
    assert issubclass(OptionsError, faceapi.FaceApiError) and issubclass(OptionsError, ValueError)


def test_face_matcher_mean_threshold_ties_and_labels():
    a = LabeledFaceDescriptors("a", [[0.0, 0.0], [0.0, 0.2]])
    b = LabeledFaceDescriptors("b", [[1.0, 0.0]])
    m = FaceMatcher([a, b], distance_threshold=0.6)
    best = m.find_best_match([0.0, 0.1])
    assert best.label == "a" and best.distance == pytest.approx(0.1)
    assert m.find_best_match([5.0, 5.0]).label == "unknown"
    assert m.find_best_match([0.5, 0.0]).label == "b"  # 0.5 to b, mean 0.519 to a
    tie = FaceMatcher([LabeledFaceDescriptors("x", [[0.0]]), LabeledFaceDescriptors("y", [[1.0]])], 0.6)
    assert tie.find_best_match([0.5]).label == "y"  # face-api.js: on ties the later label wins
    bare = FaceMatcher([[0.0, 0.0], [1.0, 1.0]])
    assert bare.find_best_match([0.9, 1.0]).label == "person 2"
    assert str(m.find_best_match([0.0, 0.1])) == "a (0.1)"
    assert m.find_best_match([0.0, 0.69]).label == "a"  # mean distance 0.59
    assert m.find_best_match([0.0, 0.71]).label == "unknown"  # mean distance 0.61
    nearest = FaceMatcher([a, b], strategy="nearest")
    assert nearest.find_best_match([0.0, 0.75]).label == "a"  # 0.55 to the nearest sample
    round_trip = FaceMatcher.from_dict(m.to_dict())
    assert round_trip.find_best_match([0.0, 0.1]).label == "a"


@pytest.fixture(scope="module")
def photo_descriptors(models_dir, shared_dir) -> dict[str, np.ndarray]:
    analyzer = faceapi.FaceAnalyzer(models_dir)
    paths = sorted(p for p in (shared_dir / "images").glob("*.png") if re.fullmatch(r"[a-z]+\d", p.stem))
    descs = faceapi.compute_face_descriptor([str(p) for p in paths], analyzer=analyzer)
    return {p.stem: d for p, d in zip(paths, descs)}


def test_same_person_matches_far_more_often(photo_descriptors):
    """The 150x150 photos are already face crops: described whole, as face-api.js's recognition example."""
    person = {name: re.sub(r"\d+$", "", name) for name in photo_descriptors}
    same, other = [], []
    for x, y in itertools.combinations(sorted(photo_descriptors), 2):
        d = euclidean_distance(photo_descriptors[x], photo_descriptors[y])
        (same if person[x] == person[y] else other).append(d)
    same_rate = float(np.mean(np.array(same) < 0.6))
    other_rate = float(np.mean(np.array(other) < 0.6))
    people = sorted(set(person.values()))
    table = {a: {b: float(np.mean([euclidean_distance(photo_descriptors[x], photo_descriptors[y])
                                   for x in photo_descriptors for y in photo_descriptors
                                   if person[x] == a and person[y] == b and x != y]))
                 for b in people} for a in people}
    write_artifact("matching-confusion", {"same_under_0.6": same_rate, "other_under_0.6": other_rate,
                                          "mean_distance": table})
    assert same_rate >= 0.8, f"only {same_rate:.0%} of same-person pairs are under 0.6"
    assert other_rate <= 0.1, f"{other_rate:.0%} of different-person pairs are under 0.6"
    for a in people:  # each person is closest to themselves on average
        assert min(table[a], key=table[a].get) == a, table[a]
