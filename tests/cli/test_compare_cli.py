"""`faceapi verify`, `faceapi find` and `faceapi analyze --crop` on the shared photos, in-process."""

from __future__ import annotations

import csv
import io
import json
import os
import stat

from faceapi.batch.records import SMALL_IMAGE_SIDE
from faceapi.compare import FALSE_MATCH_RATES


def test_verify_same_and_different_both_exit_0(analyze_cli, character_photos):
    amy, penny = character_photos["amy"], character_photos["penny"]
    rc, out, err = analyze_cli(["verify", amy[0], amy[1], "--crop"])
    assert rc == 0, err
    same = json.loads(out)
    assert same["same"] is True and same["distance"] < same["threshold"] == 0.6
    assert same["a"] == str(amy[0]) and same["b"] == str(amy[1])
    assert same["false_match_rate"] == FALSE_MATCH_RATES[0.6][0] and "lfw-fold1" in same["measured_on"]
    rc, out, err = analyze_cli(["verify", amy[0], penny[0], "--crop"])
    assert rc == 0, err
    different = json.loads(out)
    assert different["same"] is False and different["distance"] >= 0.6


def test_verify_threshold_flag(analyze_cli, character_photos):
    amy = character_photos["amy"]
    rc, out, _ = analyze_cli(["verify", amy[0], amy[1], "--crop", "--threshold", "0.1"])
    assert rc == 0 and json.loads(out)["same"] is False and json.loads(out)["threshold"] == 0.1


def test_verify_without_crop_on_a_crop_says_use_crop(analyze_cli, character_photos):
    amy = character_photos["amy"]
    rc, out, err = analyze_cli(["verify", amy[0], amy[1]])
    assert rc == 1 and out == ""
    assert "amy1.png: no face found; an image to verify must show exactly one face" in err and "--crop" in err


def test_find_json_and_csv(analyze_cli, character_photos, shared_dir, tmp_path):
    query = character_photos["howard"][0]
    rc, out, err = analyze_cli(["find", query, shared_dir / "images", "--crop", "--top", "4", "--csv", "-",
                                "--json", tmp_path / "found.json"])
    assert rc == 0, err
    answer = json.loads((tmp_path / "found.json").read_text())
    assert answer["query"] == str(query) and answer["threshold"] == 0.6
    ranked = [m["source"] for m in answer["matches"]]
    assert len(ranked) == 4 and [m["rank"] for m in answer["matches"]] == [1, 2, 3, 4]
    assert set(ranked) == {str(p) for p in character_photos["howard"]}  # howard's four photos first
    assert answer["searched"]["images"] == answer["searched"]["faces"] == 37
    assert [n["source"] for n in answer["not_searched"]] == [str(shared_dir / "images" / "README.md")]
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["source"] for r in rows[:4]] == ranked and rows[4]["status"] == "skipped"
    assert [float(r["distance"]) for r in rows[:4]] == [m["distance"] for m in answer["matches"]]
    assert "37 image(s), 37 face(s), 0 people searched" in err


def test_find_in_gallery(analyze_cli, character_photos, tmp_path):
    g = tmp_path / "people.sqlite3"
    for person in ("amy", "penny", "raj"):
        rc, _, err = analyze_cli(["people", "add", person, *character_photos[person][:2], "--crop", "--gallery", g])
        assert rc == 0, err
    rc, out, err = analyze_cli(["find", character_photos["penny"][2], "--crop", f"--gallery={g}"])
    assert rc == 0, err
    answer = json.loads(out)
    assert [m["person"] for m in answer["matches"]][0] == "penny" and answer["matches"][0]["same"] is True
    assert answer["searched"]["people"] == 3 and len(answer["matches"]) == 3
    rc, out, err = analyze_cli(["find", character_photos["penny"][2], "--crop", "--gallery", g, "--csv",
                                tmp_path / "people.csv"])
    assert rc == 0 and out == ""
    assert stat.S_IMODE(os.stat(tmp_path / "people.csv").st_mode) == 0o600  # people's names: private


def test_find_refuses_bad_input(analyze_cli, character_photos, tmp_path):
    amy = character_photos["amy"]
    rc, _, err = analyze_cli(["find", amy[0], "--crop"])
    assert rc == 1 and "nothing to search" in err
    rc, _, err = analyze_cli(["find", amy[0], "--crop", "--gallery", tmp_path])
    assert rc == 1 and "that is a folder, not a gallery file" in err
    rc, _, err = analyze_cli(["find", amy[0], amy[1], "--crop", "--top", "-1"])
    assert rc == 1 and "--top must be >= 0" in err
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    rc, out, err = analyze_cli(["find", amy[0], amy[1], broken, "--crop"])
    assert rc == 1  # an input that could not be read: listed, counted, and the exit status says so
    answer = json.loads(out)
    assert [m["source"] for m in answer["matches"]] == [str(amy[1])]
    assert answer["not_searched"][0]["source"] == str(broken) and answer["not_searched"][0]["status"] == "error"


def test_analyze_crop_and_the_hint(analyze_cli, character_photos, shared_dir):
    amy = character_photos["amy"][0]
    rc, out, err = analyze_cli(["analyze", amy, "--expressions"])
    assert rc == 0, err
    record = json.loads(out)
    assert record["faces"] == [] and max(record["image"]["width"], record["image"]["height"]) <= SMALL_IMAGE_SIDE
    assert "no face found in this 150x150 image" in record["hint"] and "--crop" in record["hint"]
    rc, out, err = analyze_cli(["analyze", amy, "--expressions", "--crop"])
    assert rc == 0, err
    record = json.loads(out)
    assert "hint" not in record and "detect" not in record["timings_ms"]
    (face,) = record["faces"]
    assert face["box"] == {"x": 0.0, "y": 0.0, "width": 150.0, "height": 150.0} and face["score"] == 1.0
    assert face["expressions"]["dominant"] == "happy"
    # a large photo without faces is not taken for a crop
    rc, out, _ = analyze_cli(["analyze", shared_dir / "images" / "bbt1.jpg", "--min-score", "0.99"])
    assert rc == 0 and "hint" not in json.loads(out)


def test_analyze_crop_refuses_videos(analyze_cli, shared_dir):
    video = shared_dir / "videos" / "video.mp4"
    rc, out, err = analyze_cli(["analyze", video, "--crop"])
    assert rc == 1 and out == "" and "--crop" in err and "a video is not" in err
