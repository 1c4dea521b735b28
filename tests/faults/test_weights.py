"""Weights that go away under a running `faceapi serve`: the model folder removed, a weight file truncated,
emptied or removed. Every request that needs a missing net answers 503 naming the file and the command that
fetches it (never 500, never a hang); nets loaded before keep working (they are in memory, verified when
they were loaded); once the files are back the next load works, without a restart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from faulting import SMALL_NETS

DOWNLOAD = "faceapi models download"
#: What `POST /api/analyze` is asked for: every small net (tiny detector, tiny landmarks, age and gender).
SMALL_ANALYSIS = {"detector": "tiny", "landmarks": "tiny", "age_gender": "true"}


def _analyze(http, photo: bytes):
    return http.post("/api/analyze", params=SMALL_ANALYSIS, content=photo, headers={"Content-Type": "image/jpeg"})


def _load(http, nets: list[str]):
    return http.post("/api/models/load", params={"wait": "true"}, json={"nets": nets})


def _refused_naming(r, file: str) -> None:
    """A 503 whose message names `file` and the download command, with the command apart for the page."""
    assert r.status_code == 503, (r.status_code, r.text)
    body = r.json()
    assert file in body["error"] and DOWNLOAD in body["error"], body
    assert body["command"] == DOWNLOAD, body


def test_weights_folder_removed_before_any_load_then_restored(serve, weights_copy: Path, face_photo: bytes):
    away = weights_copy.with_name("models-away")
    with serve(["--models-dir", weights_copy, "--no-gallery"]) as srv, srv.client(timeout=60) as http:
        assert http.get("/api/health").status_code == 200
        weights_copy.rename(away)

        _refused_naming(_analyze(http, face_photo), "tiny_face_detector_model-weights_manifest.json")
        with srv.stream({"detector": "tiny", "landmarks": None, "expressions": False}) as ws:
            ws.send(face_photo)  # the WebSocket: an error message for the frame, and the stream goes on
            answer = ws.recv_json()
            assert answer["type"] == "error" and answer["command"] == DOWNLOAD, answer
            assert "tiny_face_detector_model-weights_manifest.json" in answer["error"], answer
            ws.send(json.dumps({"type": "ping"}))
            assert ws.recv_json() == {"type": "pong"}
        r = _load(http, list(SMALL_NETS))
        _refused_naming(r, "tiny_face_detector_model-weights_manifest.json")
        assert r.json()["state"] == "error" and r.json()["status"]["tiny_face_detector"] == "error"
        models = http.get("/api/models").json()
        assert set(SMALL_NETS) <= set(models["missing"]) and models["download_command"] == DOWNLOAD
        assert not models["loaded"]

        away.rename(weights_copy)  # restored: the next request loads, no restart
        r = _analyze(http, face_photo)
        assert r.status_code == 200, r.text
        faces = r.json()["faces"]
        assert len(faces) == 1 and "age" in faces[0] and len(faces[0]["landmarks"]) == 68
        assert _load(http, list(SMALL_NETS)).json()["state"] == "done"
        assert set(SMALL_NETS) <= set(http.get("/api/models").json()["loaded"])
    assert "Traceback" not in srv.stderr, srv.stderr


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


#: (net, its file, what happens to the file): each on a net not loaded yet, so that the fault is met.
DAMAGES = [
    ("tiny_face_detector", "tiny_face_detector_model.bin", "truncated", _truncate),
    ("face_landmark_68_tiny", "face_landmark_68_tiny_model.bin", "removed", Path.unlink),
    ("age_gender", "age_gender_model-weights_manifest.json", "truncated", _truncate),
    ("face_expression", "face_expression_model-weights_manifest.json", "removed", Path.unlink),
    ("face_landmark_68", "face_landmark_68_model.bin", "emptied", lambda p: p.write_bytes(b"")),
]


def test_a_damaged_weight_file_is_named_and_the_restored_one_loads(serve, weights_copy: Path, tmp_path: Path):
    backup = tmp_path / "backup"
    shutil.copytree(weights_copy, backup)
    with serve(["--models-dir", weights_copy, "--no-gallery"]) as srv, srv.client(timeout=60) as http:
        for net, file, what, damage in DAMAGES:
            damage(weights_copy / file)
            r = _load(http, [net])
            assert r.status_code == 503, f"{file} {what}: {r.status_code} {r.text}"
            _refused_naming(r, file)
            entry = next(n for n in http.get("/api/models").json()["nets"] if n["name"] == net)
            assert entry["verified"] is False and file in entry["problem"], (what, entry)

            shutil.copy2(backup / file, weights_copy / file)
            r = _load(http, [net])
            assert r.status_code == 200 and r.json()["status"][net] == "loaded", f"{file} restored: {r.text}"
    assert "Traceback" not in srv.stderr, srv.stderr


def test_loaded_nets_keep_answering_when_the_folder_goes(serve, weights_copy: Path, face_photo: bytes):
    away = weights_copy.with_name("models-away")
    with serve(["--models-dir", weights_copy, "--no-gallery"]) as srv, srv.client(timeout=60) as http:
        assert _load(http, list(SMALL_NETS)).status_code == 200
        before = _analyze(http, face_photo).json()["faces"]
        weights_copy.rename(away)

        r = _analyze(http, face_photo)  # nets in memory, checked when they were loaded: same answer
        assert r.status_code == 200 and r.json()["faces"] == before
        nets = {n["name"]: n for n in http.get("/api/models").json()["nets"]}
        assert all(nets[n]["loaded"] and not nets[n]["available"] for n in SMALL_NETS)
        _refused_naming(_load(http, ["face_expression"]), "face_expression_model-weights_manifest.json")

        away.rename(weights_copy)
        assert _load(http, ["face_expression"]).json()["status"]["face_expression"] == "loaded"
    assert "Traceback" not in srv.stderr, srv.stderr
