"""`faceapi analyze --ray` (the real command, in a subprocess) against a real Ray cluster the tests start on
127.0.0.1 (token authentication on, a private HOME, no model folder on the cluster's side): the same
records, CSV, annotated copies and timelines as the local run for photos, a video and broken inputs; a
worker killed mid-run leaves every input recorded once; Ctrl-C leaves valid outputs; Parquet output.

One cluster (2 CPUs) serves the whole module; every process it started is stopped by its pid at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import faceapi
from faceapi.cli.main import main

from helpers import SHARED, missing, require, wait_for
from ray_cluster import RayCluster, cmdline, descendants, start_cluster

VIDEO = SHARED / "videos" / "video.mp4"
IMAGES = SHARED / "images"
# Every net (SSD: the tiny detector finds no face in the clip, and its tracks and timelines are part of the test)
NET_ARGS = ["--all"]
class Cluster:
    def __init__(self, head: RayCluster, env: dict[str, str]):
        self.head, self.proc, self.address, self.env = head, head.proc, head.address, env

    def workers(self) -> list[int]:
        """Pids of the faceapi actors (Ray Data's map workers) while they run a batch."""
        return [p for p in descendants(self.proc.pid)
                if cmdline(p).startswith("ray::MapWorker(MapBatches(_Worker)).submit")]


@pytest.fixture(scope="module")
def cluster(models_dir) -> Iterator[Cluster]:
    require("ray.data")
    if not IMAGES.is_dir() or not VIDEO.is_file():
        missing(f"the shared photos and clip are needed ({IMAGES}, {VIDEO})")
    # the workers must get the weights from the driver: the cluster's side has no model folder
    try:
        head = start_cluster(2, {"PYTHONPATH": str(Path(faceapi.__file__).parents[1]),
                                 "FACEAPI_MODELS": "/nonexistent/no-models-here"})
    except AssertionError as exc:
        pytest.fail(str(exc))
    try:
        yield Cluster(head, dict(head.env, FACEAPI_MODELS=str(models_dir)))
    finally:
        head.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[str]:
    """The shared photos (a folder, with its README to skip), a broken image, a missing file, the clip."""
    folder = tmp_path_factory.mktemp("ray-inputs")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    return [str(IMAGES), str(folder / "broken.jpg"), str(folder / "missing.png"), str(VIDEO)]


def without_timings(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "timings_ms"} for r in records]


def plain(records: list[dict]) -> list[dict]:
    """Without timings and the annotated copies' paths (for runs that write none)."""
    return [{k: v for k, v in r.items() if k != "annotated"} for r in without_timings(records)]


def read_jsonl(path: Path) -> list[dict]:
    text = path.read_text()
    assert text == "" or text.endswith("\n")  # whole lines only
    return [json.loads(line) for line in text.splitlines()]


@dataclass(frozen=True)
class LocalRun:
    folder: Path
    records: list[dict]
    csv: str


@pytest.fixture(scope="module")
def local(inputs, tmp_path_factory, models_dir) -> LocalRun:
    folder = tmp_path_factory.mktemp("local")
    rc = main(["analyze", *inputs, *NET_ARGS, "--every", "2", "--out", str(folder / "out.jsonl"),
               "--csv", str(folder / "out.csv"), "--annotate", str(folder / "ann"), "--timeline", str(folder / "tl")])
    assert rc == 1  # the broken and the missing file failed
    records = read_jsonl(folder / "out.jsonl")
    assert {r["status"] for r in records} == {"ok", "error", "skipped"}
    assert sum("frame" in r and r["status"] == "ok" for r in records) == 3  # 5 frames, every 2nd
    return LocalRun(folder, records, (folder / "out.csv").read_text())


def cli(cluster: Cluster, *args, progress: bool = False) -> subprocess.Popen:
    """`faceapi analyze ... --ray ADDRESS` as a user runs it."""
    return subprocess.Popen([sys.executable, "-m", "faceapi.cli.main", "analyze", *map(str, args),
                             "--ray", cluster.address, *(["--progress"] if progress else [])],
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 300, rc: int = 1) -> str:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the Ray run did not finish in {timeout} s:\n{err[-3000:]}") from None
    assert proc.returncode == rc, err[-3000:]
    return err


def relocated(records: list[dict], old: Path, new: Path) -> list[dict]:
    """Records with the annotated copies' folder `old` named `new`."""
    return [json.loads(json.dumps(r).replace(str(old), str(new))) for r in records]


def files_below(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_ray_run_gives_the_local_outputs(cluster, inputs, local, tmp_path):
    """Same JSON records (timings aside), the same CSV, the same annotated images, a copy of the video and
    the same timeline files."""
    out = tmp_path / "ray.jsonl"
    err = finish(cli(cluster, *inputs, *NET_ARGS, "--every", "2", "--out", out, "--csv", tmp_path / "ray.csv",
                     "--annotate", tmp_path / "ann", "--timeline", tmp_path / "tl", progress=True))
    records = read_jsonl(out)
    assert without_timings(records) == without_timings(relocated(local.records, local.folder, tmp_path))
    assert (tmp_path / "ray.csv").read_text() == local.csv
    ann, local_ann = files_below(tmp_path / "ann"), files_below(local.folder / "ann")
    assert ann.keys() == local_ann.keys() and any(k.endswith(".mp4") for k in ann)
    assert {k: v for k, v in ann.items() if k.endswith(".png")} == {
        k: v for k, v in local_ann.items() if k.endswith(".png")}
    assert files_below(tmp_path / "tl").keys() == files_below(local.folder / "tl").keys() != set()
    n = len({r["source"] for r in local.records})
    assert "2 failed" in err and "1 skipped" in err
    assert f"{n}/{n} inputs" in err  # the progress bar on stderr


def test_a_killed_worker_costs_nothing(cluster, inputs, local, tmp_path):
    out = tmp_path / "ray.jsonl"
    proc = cli(cluster, *inputs, *NET_ARGS, "--every", "2", "--out", out)
    try:
        victim = wait_for(lambda: (cluster.workers() or [None])[0] or proc.poll() is not None, 240,
                          "a faceapi actor busy with a batch")
        assert victim is not True, "the run ended before any worker was seen busy"
        done_before = len(out.read_text().splitlines()) if out.exists() else 0
        os.kill(victim, signal.SIGKILL)
        finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert done_before < len(local.records)  # it was killed mid-run
    records = read_jsonl(out)
    assert plain(records) == plain(local.records)  # each input once, in order


def test_ctrl_c_leaves_valid_outputs(cluster, inputs, local, tmp_path, csv_matches_jsonl):
    """SIGINT once 3 records are on disk: exit 130, whole lines, each input at most once, the local run's
    records so far, a CSV that matches them."""
    out, table = tmp_path / "ray.jsonl", tmp_path / "ray.csv"
    proc = cli(cluster, *inputs, *NET_ARGS, "--every", "2", "--out", out, "--csv", table)
    try:
        wait_for(lambda: proc.poll() is not None or (out.exists() and out.read_text().count("\n") >= 3), 240,
                 "3 records on disk")
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        err = finish(proc, 120, rc=130)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "interrupted" in err and "Traceback" not in err
    records = read_jsonl(out)
    assert 3 <= len(records) < len(local.records)
    assert plain(records) == plain(local.records[:len(records)])  # no input twice
    csv_matches_jsonl(records, table)


def test_parquet_dataset_written_by_the_workers(cluster, inputs, local, tmp_path):
    pq = require("pyarrow.parquet")
    target = tmp_path / "parquet"
    err = finish(cli(cluster, *inputs, *NET_ARGS, "--every", "2", "--out", target, "--format", "parquet",
                     progress=True))
    files = sorted(target.iterdir())
    assert files and all(f.name.startswith("part-") and f.suffix == ".parquet" for f in files)
    # descriptors are biometric data: a private folder and files
    assert target.stat().st_mode & 0o777 == 0o700 and {f.stat().st_mode & 0o777 for f in files} == {0o600}
    table = pq.read_table(target)
    rows = sorted(zip(table.column("input").to_pylist(), table.column("record").to_pylist()), key=lambda r: r[0])
    records = [json.loads(text) for _, text in rows]
    # the same records; within an input (a video's frames) in order
    assert plain(records) == plain(local.records)
    assert table.column("status").to_pylist().count("error") == 2
    n = len({r["source"] for r in local.records})
    assert "2 failed" in err and f"{n}/{n} inputs" in err
    assert f"{sum(len(r.get('faces', [])) for r in local.records)} face(s) found" in err
    again = cli(cluster, IMAGES / "happy.jpg", "--out", target, "--format", "parquet")
    assert "not empty" in finish(again, rc=1)  # another run's files are never mixed in


def test_uri_inputs_are_listed_by_the_driver_and_read_by_the_workers(cluster, tmp_path):
    """A ``file://`` URI goes through pyarrow's filesystems as ``s3://`` does: same records as the local
    run on the same files, naming the URI; an unreadable object is an error record."""
    folder = tmp_path / "store"
    folder.mkdir()
    for name in ("happy.jpg", "angry.jpg"):
        shutil.copy(IMAGES / name, folder / name)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / "notes.txt").write_text("not an image")
    local_out = tmp_path / "local.jsonl"
    main(["analyze", str(folder), "--detector", "tiny", "--all", "--out", str(local_out)])
    lines = local_out.read_text().splitlines()
    expected = [json.loads(line.replace(str(folder), f"file://{folder}")) for line in lines]
    out = tmp_path / "ray.jsonl"
    gone = f"file://{tmp_path}/gone.jpg"
    finish(cli(cluster, f"file://{folder}", gone, "--detector", "tiny", "--all", "--out", out))
    records = read_jsonl(out)
    assert without_timings(records[:-1]) == without_timings(expected)
    assert records[-1] == {"source": gone, "status": "error", "error": f"{gone}: no such file or folder"}


def test_recognition_on_ray_names_faces_as_locally(cluster, tmp_path):
    """--recognize: the gallery's matcher travels with the job; the same names and distances as locally."""
    gallery = tmp_path / "people.sqlite3"
    for name, photos in (("amy", ["amy1.png", "amy2.png"]), ("sheldon", ["sheldon1.png"])):
        assert main(["people", "add", name, *(str(IMAGES / f) for f in photos), "--crop",
                     "--gallery", str(gallery)]) == 0
    photos = [str(IMAGES / f) for f in ("amy3.png", "sheldon2.png", "bbt1.jpg")]
    args = [*photos, "--recognize", "--gallery", gallery, "--no-descriptor-output"]
    local_out, out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert main(["analyze", *map(str, args), "--out", str(local_out)]) == 0
    finish(cli(cluster, *args, "--out", out), rc=0)
    expected = read_jsonl(local_out)
    assert {f["match"]["label"] for r in expected for f in r["faces"]} & {"amy", "sheldon"}  # someone named
    assert without_timings(read_jsonl(out)) == without_timings(expected)


def test_bad_address_format_and_missing_extra_say_what_to_do(analyze_cli, tmp_path):
    from faceapi.batch.ray_runner import check_address
    from faceapi.errors import OptionsError

    assert check_address("auto") == "auto" and check_address("127.0.0.1:6379") == "127.0.0.1:6379"
    for bad in ("", "head", "head:0", "head:99999", "http://head:6379"):
        with pytest.raises(OptionsError, match="HOST:PORT"):
            check_address(bad)
    image = str(IMAGES / "happy.jpg")
    rc, _, err = analyze_cli(["analyze", image, "--format", "parquet", "--out", tmp_path / "p"])
    assert rc == 1 and "use it with --ray" in err
    rc, _, err = analyze_cli(["analyze", image, "--ray", "head"])
    assert rc == 1 and "HOST:PORT" in err
    # without Ray installed (its import made to fail): the install hint, before any work
    code = ("import sys; sys.modules['ray'] = None; from faceapi.cli.main import main; "
            f"sys.exit(main(['analyze', {image!r}, '--ray', 'auto']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(Path(faceapi.__file__).parents[1])))
    assert proc.returncode == 1 and "pip install 'faceapi[ray]'" in proc.stderr, proc.stderr
