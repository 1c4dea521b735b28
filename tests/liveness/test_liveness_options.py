"""`AnalyzeOptions(liveness=True)` and `require_live` through the library and the CLI, on nuaa-dev photos:
a live face is judged live, a photo of a print is not, and with require_live a print of an enrolled person
is not named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceapi.cli.main import main
from faceapi.errors import NotLiveError, OptionsError
from faceapi.liveness import LIVENESS_THRESHOLD, NOT_LIVE
from faceapi.matching import FaceMatcher, LabeledFaceDescriptors
from faceapi.nets import minifasnet
from faceapi.options import AnalyzeOptions
from faceapi.results import Box


def _photos(nuaa, cls: str, subject: str, n: int):
    return sorted((nuaa / cls).glob(f"{subject}_*"))[:n]


def _one_face(analyzer, nuaa, cls: str, subject: str, n: int):
    """The first `n` photos of a subject in which SSD finds exactly one face (enrolment wants one)."""
    found = [p for p in sorted((nuaa / cls).glob(f"{subject}_*"))[: 4 * n] if len(analyzer.analyze(str(p)).faces) == 1]
    assert len(found) >= n
    return [str(p) for p in found[:n]]


def test_crop_rule_is_upstreams():
    # upstream's _get_new_box by hand: box 100x120 at (200, 150) in 640x480, scale 2.7 -> 270x324 around
    # the centre (250, 210): left 115, top 48, right 385, bottom 372
    assert minifasnet.scaled_box(640, 480, (200, 150, 100, 120), 2.7) == (115, 48, 385, 372)
    # 4.0x does not fit 480 rows: the scale is capped at 479 / 120, then the box is moved inside the image
    left, top, right, bottom = minifasnet.scaled_box(640, 480, (200, 150, 100, 120), 4.0)
    assert (top, bottom) == (0, 479) and right - left == int(100 * 479 / 120) or right - left == 399
    # upstream's detector box is in whole pixels, one more than the difference of its corners
    assert minifasnet.upstream_bbox(Box(10.7, 20.2, 50.5, 60.1)) == (10, 20, 51, 61)


def test_resize_is_cv2s_linear_rule():
    # 4 -> 2 with half-pixel centres reads source 0.5 and 2.5: the mean of pixels 0, 1 and of 2, 3
    row = np.array([[0, 100, 200, 250]], np.uint8)[..., None].repeat(3, axis=2)
    image = row.repeat(4, axis=0)
    out = minifasnet.resize_linear(image, 2, 2)
    assert out[0, :, 0].tolist() == [50, 225]


def test_liveness_on_live_and_printed_faces(liveness_analyzer, nuaa):
    options = AnalyzeOptions(liveness=True, single=True)
    assert set(liveness_analyzer.nets_for(options)) >= {"minifasnet_v2", "minifasnet_v1se"}
    live = [liveness_analyzer.analyze(str(p), options).faces[0].liveness for p in _photos(nuaa, "real", "0003", 3)]
    spoof = [liveness_analyzer.analyze(str(p), options).faces[0].liveness for p in _photos(nuaa, "attack", "0003", 3)]
    assert all(v is not None and v.live and v.threshold == LIVENESS_THRESHOLD for v in live)
    assert all(v is not None and not v.live and v.score < LIVENESS_THRESHOLD for v in spoof)
    d = liveness_analyzer.analyze(str(_photos(nuaa, "real", "0003", 1)[0]), options).to_dict()
    assert set(d["faces"][0]["liveness"]) == {"score", "live", "threshold"}
    # off by default: no liveness key, no liveness net
    plain = liveness_analyzer.analyze(str(_photos(nuaa, "real", "0003", 1)[0]))
    assert plain.faces[0].liveness is None and "liveness" not in plain.to_dict()["faces"][0]


def test_options_from_settings():
    o = AnalyzeOptions.from_dict({"liveness": True, "require_live": True})
    assert o.liveness and o.require_live and o.to_dict()["require_live"] is True
    assert AnalyzeOptions(require_live=True).needs_liveness
    with pytest.raises(OptionsError):
        AnalyzeOptions.from_dict({"liveness": "yes"})
    with pytest.raises(OptionsError):
        AnalyzeOptions(liveness_threshold=2.0)


def test_a_printed_photo_of_an_enrolled_person_is_not_named(liveness_analyzer, nuaa):
    enrol_opts = AnalyzeOptions(landmarks="full", descriptors=True, single=True)
    descriptors = [liveness_analyzer.analyze(str(p), enrol_opts).faces[0].descriptor
                   for p in _photos(nuaa, "real", "0001", 3)]
    matcher = FaceMatcher([LabeledFaceDescriptors("0001", descriptors)])
    attack = str(_photos(nuaa, "attack", "0001", 1)[0])
    from faceapi.options import MatchOptions

    recognise = AnalyzeOptions(recognize=MatchOptions(), single=True)
    named = liveness_analyzer.analyze(attack, recognise, matcher=matcher).faces[0]
    assert named.match is not None and named.match.label == "0001"  # the problem: a print is recognised
    guarded = liveness_analyzer.analyze(attack, AnalyzeOptions(recognize=MatchOptions(), single=True,
                                                               require_live=True), matcher=matcher).faces[0]
    assert guarded.match is not None and guarded.match.label == NOT_LIVE
    assert guarded.liveness is not None and not guarded.liveness.live
    assert guarded.to_dict()["match"] == {"label": NOT_LIVE, "distance": None}
    # the live person is still named with require_live
    live = str(_photos(nuaa, "real", "0001", 5)[4])
    face = liveness_analyzer.analyze(live, AnalyzeOptions(recognize=MatchOptions(), single=True, require_live=True),
                                     matcher=matcher).faces[0]
    assert face.match is not None and face.match.label == "0001"


def test_cli_enrolment_and_recognition_require_live(nuaa, tmp_path, models_dir, liveness_analyzer, capsys):
    gallery = str(tmp_path / "g.sqlite3")
    real = _one_face(liveness_analyzer, nuaa, "real", "0003", 2)
    attack = _one_face(liveness_analyzer, nuaa, "attack", "0003", 1)[0]
    assert main(["people", "add", "someone", attack, "--require-live", "--gallery", gallery]) == 1
    err = capsys.readouterr().err
    assert "not live" in err and "liveness score" in err
    assert main(["people", "add", "p0003", *real, "--require-live", "--gallery", gallery]) == 0
    capsys.readouterr()
    assert main(["analyze", attack, "--recognize", "--require-live", "--gallery", gallery]) == 0
    face = json.loads(capsys.readouterr().out.splitlines()[0])["faces"][0]
    assert face["match"]["label"] == NOT_LIVE and face["liveness"]["live"] is False
    with pytest.raises(NotLiveError):
        from faceapi.gallery import Gallery, enrol_images
        from faceapi.pipeline import FaceAnalyzer

        with Gallery(gallery) as g:
            enrol_images(FaceAnalyzer(models_dir), g, "p0003", [attack], require_live=True)
