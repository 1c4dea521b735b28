"""Shared test fixtures: where the reference data (face-api.js outputs) and the model weights are.

The reference data lives in ``../shared`` next to the repository (override with ``$FACEAPI_SHARED``).
When data or weights are missing, tests that need them are skipped -- or fail when ``$CI`` is set, so a CI
run cannot pass by silently skipping the parity tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faceapi.models import MODELS, model_dir

from helpers import GALLERY_KINDS, missing, reference_dirs, require, shared_path  # noqa: F401


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder, checked to hold reference outputs and the source images."""
    shared = shared_path()
    if not reference_dirs(shared):
        missing(f"no reference data in {shared / 'reference'} (set FACEAPI_SHARED to the shared folder)")
    if not (shared / "images").is_dir():
        missing(f"no source images in {shared / 'images'}")
    return shared


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The model folder (``faceapi.models.model_dir()``), checked to hold every model's manifest and bin."""
    folder = model_dir()
    absent = [f for spec in MODELS.values() for f in spec.files if not (folder / f).is_file()]
    if absent:
        missing(f"model weights missing in {folder}: {', '.join(absent)} (run `faceapi models download`)")
    return folder


# server fixtures ----------------------------------------------------------------------------------------
# The web app started for real on 127.0.0.1: in this process (LiveServer, uvicorn in a thread, configured by
# faceapi.server.serving as `faceapi serve` is) or as `faceapi serve` (ServeProcess). Both get a socket bound
# here and handed over (a Python socket or an inherited file descriptor), so no port is picked, released and
# re-bound in between. Both know the server's token: `client()` is an authenticated httpx client, `page_url`
# the address a person opens (with ?token=), `stream()` opens the WebSocket with the token.
class StreamConnection:
    """A `/ws/stream` client connection (websockets' sync client) that reads JSON answers."""

    def __init__(self, ws) -> None:
        self.ws = ws

    def send(self, message) -> None:
        self.ws.send(message)

    def recv_json(self, timeout: float = 60) -> dict:
        import json

        msg = self.ws.recv(timeout=timeout)
        assert isinstance(msg, str), "the server answers with JSON text messages"
        return json.loads(msg)


class Authenticated:
    """What a test needs to talk to a server with its token (`url`, `port` and `token` set by the class)."""

    url: str
    port: int
    token: str | None

    @property
    def auth(self) -> dict:
        """The Authorization header of an API client (empty for a server without a token)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def page_url(self) -> str:
        """The page's address with the token, as `faceapi serve` prints it."""
        return f"{self.url}/?token={self.token}" if self.token else f"{self.url}/"

    def client(self, **kw):
        """An httpx client sending the token (``with srv.client(timeout=60) as http``)."""
        import httpx

        return httpx.Client(base_url=self.url, headers=self.auth, **kw)

    @property
    def ws(self) -> str:
        scheme = "wss" if self.url.startswith("https") else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/ws/stream"

    @property
    def ws_with_token(self) -> str:
        return f"{self.ws}?token={self.token}" if self.token else self.ws

    def stream(self, settings: dict | None = None, **kw):
        """A stream connection (with the token) past the server's hello (and, given `settings`, their
        acknowledgement)."""
        import contextlib
        import json

        connect = require("websockets.sync.client").connect
        if self.ws.startswith("wss:") and "ssl" not in kw:  # the tests' own self-signed certificates
            import ssl

            kw["ssl"] = ssl.create_default_context()
            kw["ssl"].check_hostname = False
            kw["ssl"].verify_mode = ssl.CERT_NONE

        @contextlib.contextmanager
        def opened():
            with connect(self.ws_with_token, max_size=None, **kw) as ws:
                conn = StreamConnection(ws)
                hello = conn.recv_json()
                assert hello["type"] == "hello"
                conn.hello = hello
                if settings is not None:
                    ws.send(json.dumps({"type": "settings", **settings}))
                    reply = conn.recv_json()
                    assert reply["type"] == "settings" and reply["ok"], reply
                yield conn

        return opened()


class LiveServer(Authenticated):
    """uvicorn serving `app` on a free 127.0.0.1 port, in a background thread: ``with LiveServer(app) as srv``
    (`config`: more arguments of `faceapi.server.serving.uvicorn_config`). The app's token is ``srv.token``
    (`create_app` makes one unless given an access policy). `listening`: serve on a duplicate of this bound
    socket, which the caller keeps open, so that another server can follow on the same port (a restart)
    with no unbind in between: connections made meanwhile wait in its backlog."""

    def __init__(self, app, listening=None, **config) -> None:
        import socket
        import threading

        require("uvicorn")
        from faceapi.server.serving import GuardedServer, uvicorn_config

        if listening is not None:
            listening.listen(64)
            self.sock = listening.dup()
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.token = app.state.ctx.access.token
        self.server = GuardedServer(uvicorn_config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    **config))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self._started = threading.Event()

    def __enter__(self) -> LiveServer:
        # uvicorn sets `started` at the end of its startup; wrap startup to signal an Event (no polling)
        startup = self.server.startup

        async def signalling_startup(sockets=None) -> None:
            try:
                await startup(sockets=sockets)
            finally:
                self._started.set()

        self.server.startup = signalling_startup  # type: ignore[method-assign]
        self.thread.start()
        if not self._started.wait(30) or not self.server.started:
            self.server.should_exit = True
            raise RuntimeError("uvicorn did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class ServeProcess(Authenticated):
    """`faceapi serve ARGS` in a subprocess, on a listening 127.0.0.1 socket bound here and inherited through
    ``--fd``: requests sent before the server is up wait in the socket's backlog, not refused.
    ``with ServeProcess([...], env) as proc``; `proc.stderr` holds its stderr after the block. Unless ARGS
    give ``--token`` or ``--no-token``, the server gets a fresh token through $FACEAPI_TOKEN (`proc.token`);
    with ``--https`` or ``--lan``, `proc.url` is https:// (clients must then ignore certificate errors).
    `wrap`: a command the server runs under (e.g. ``nsenter`` into a mount namespace: tests/faults)."""

    def __init__(self, args: list[str], env: dict | None = None, wrap: tuple[str, ...] | list[str] = ()) -> None:
        import os
        import secrets
        import socket

        self.args = args
        self.wrap = list(wrap)
        env = dict(os.environ if env is None else env)
        if "--no-token" in args:
            self.token = None
        elif "--token" in args:
            self.token = args[args.index("--token") + 1]
        else:
            self.token = env["FACEAPI_TOKEN"] = secrets.token_urlsafe(16)
        self.env = env
        https = any(a in args for a in ("--https", "--lan", "--ssl-certfile"))
        self.scheme = "https" if https else "http"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.proc = None
        self.stderr = ""

    def __enter__(self) -> ServeProcess:
        import subprocess
        import sys

        fd = self.sock.fileno()
        self.proc = subprocess.Popen([*self.wrap, sys.executable, "-m", "faceapi.cli.main", "serve", "--fd", str(fd),
                                      *self.args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=self.env, pass_fds=(fd,))
        self.sock.close()  # the child holds the socket now: if it dies, connections are refused, not left waiting
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=15)
        except Exception:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.stderr = err.decode("utf-8", "replace")

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def client(self, **kw):
        return super().client(**({"verify": False} if self.scheme == "https" else {}) | kw)


@pytest.fixture(scope="session")
def live_server():
    """The `LiveServer` class: ``with live_server(create_app(...)) as srv`` (srv.url, srv.client(), srv.page_url,
    srv.stream())."""
    require("fastapi")
    require("websockets")
    return LiveServer


@pytest.fixture(scope="session")
def serve_process():
    """The `ServeProcess` class: ``with serve_process(["--log-level", "warning"], env) as proc``."""
    require("uvicorn")
    return ServeProcess


# browser fixtures ---------------------------------------------------------------------------------
# Debian's Chromium driven by Playwright (tests/browser/), against a `live_server`.
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium (Playwright drives it; its own browser download is not used)."""
    require("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        missing(f"Debian's chromium is not installed at {CHROMIUM} (scripts/setup.sh --dev installs it)")
    return CHROMIUM


# batch fixtures -------------------------------------------------------------------------------------------
# Shared by tests/gallery, tests/batch, tests/video, tests/cli (and the server's people tests).

@pytest.fixture(scope="session")
def character_photos(shared_dir: Path) -> dict[str, list[Path]]:
    """person -> their 150x150 face-crop photos (``shared/images/<person><n>.png``), in order."""
    import re

    out: dict[str, list[Path]] = {}
    for p in sorted((shared_dir / "images").glob("*.png")):
        m = re.fullmatch(r"([a-z]+)(\d)", p.stem)
        if m:
            out.setdefault(m.group(1), []).append(p)
    assert len(out) == 8, sorted(out)
    return out


#: The group photos whose faces the recognition tests name.
GROUP_PHOTOS = ("bbt1", "bbt4", "bbt5")


@pytest.fixture(scope="session")
def group_photo_labels(shared_dir: Path, character_photos: dict[str, list[Path]]) -> dict[str, list[str]]:
    """Who is in each group photo, left to right, according to face-api.js: its descriptors of the photo's
    faces (SSD, 68 landmarks, descriptor: ``faces[i].pipeline.descriptor`` of the reference) matched by
    `FaceMatcher` (threshold 0.6, mean) against its descriptors of the first two photos of each person
    (``wholeImageNetOutputs``: the whole 150x150 crop, as enrolment with ``crop=True`` describes it)."""
    import json

    from faceapi.matching import FaceMatcher, LabeledFaceDescriptors

    def reference(stem: str) -> dict:
        path = shared_dir / "reference" / stem / "result.json"
        if not path.is_file():
            missing(f"no reference output {path}")
        return json.loads(path.read_text())

    matcher = FaceMatcher([
        LabeledFaceDescriptors(person, [reference(p.stem)["wholeImageNetOutputs"]["faceRecognition"]["descriptor"]
                                        for p in photos[:2]])
        for person, photos in character_photos.items()])
    labels = {}
    for name in GROUP_PHOTOS:
        faces = sorted(reference(name)["faces"], key=lambda f: f["detection"]["box"]["x"])
        labels[name] = [matcher.find_best_match(f["pipeline"]["descriptor"]).label for f in faces]
    return labels


@pytest.fixture(scope="session")
def make_pan_video(shared_dir: Path, av):
    """``make(path, frames, fps=10, step=(4, 2))``: write an H.264 video of a 640x400 window over bbt4.jpg
    (six faces) moving `step` pixels per frame (wrapping within 60 px), with PyAV."""
    import numpy as np
    from PIL import Image

    image = np.asarray(Image.open(shared_dir / "images" / "bbt4.jpg").convert("RGB"))

    def make(path: Path, frames: int, fps: int = 10, step: tuple[int, int] = (4, 2)) -> Path:
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = 640, 400, "yuv420p"
            for i in range(frames):
                x, y = (i * step[0]) % 60, (i * step[1]) % 60
                crop = np.ascontiguousarray(image[y : y + 400, x : x + 640])
                for packet in stream.encode(av.VideoFrame.from_ndarray(crop, "rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return path

    return make


@pytest.fixture
def analyze_cli(capsys):
    """``run(args) -> (exit code, stdout, stderr)``: `faceapi analyze ...` (or any subcommand) in-process."""
    from faceapi.cli.main import main

    def run(args: list) -> tuple[int, str, str]:
        rc = main([str(a) for a in args])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return run


def _check_csv_matches_jsonl(records: list[dict], csv_path: Path) -> list[dict]:
    import csv

    from faceapi.batch import CSV_COLUMNS
    from faceapi.results import EXPRESSION_LABELS

    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == CSV_COLUMNS
        rows = list(reader)
    expected = []
    for r in records:
        frame = str(r.get("frame", ""))
        if r["status"] != "ok":
            expected.append((r["source"], r["status"], frame, None, r.get("error") or r["reason"]))
        elif not r["faces"]:
            expected.append((r["source"], "ok", frame, None, None))  # analysed, no face: one row all the same
        else:
            expected += [(r["source"], "ok", frame, i, f) for i, f in enumerate(r["faces"])]
    assert len(rows) == len(expected)
    for row, (source, status, frame, i, face) in zip(rows, expected):
        assert None not in row.values()  # whole rows only
        assert (row["source"], row["status"], row["frame"]) == (source, status, frame)
        if status != "ok":
            assert row["error"] == face and row["x"] == ""
            continue
        if face is None:
            assert row["face"] == row["x"] == row["error"] == ""
            continue
        assert int(row["face"]) == i
        for k in ("x", "y", "width", "height"):
            assert float(row[k]) == face["box"][k]
        assert float(row["score"]) == face["score"]
        assert row["track"] == str(face.get("track", ""))
        if "expressions" in face:
            assert row["dominant"] == face["expressions"]["dominant"]
            for label in EXPRESSION_LABELS:
                assert float(row[label]) == face["expressions"]["probabilities"][label]
        if "age" in face:
            assert float(row["age"]) == face["age"] and row["gender"] == face["gender"]
            assert float(row["gender_probability"]) == face["gender_probability"]
    return rows


@pytest.fixture
def csv_matches_jsonl():
    """``check(records, csv_path) -> rows``: the CSV has exactly the rows the JSON records imply (a row per
    face, one per ok record without faces, one per failed or skipped input), with the same numbers."""
    return _check_csv_matches_jsonl


@pytest.fixture
def messy_folder(tmp_path: Path, shared_dir: Path) -> Path:
    """A folder of photos (one without a face) with broken and unrelated files, and a subfolder::

        angry.jpg happy.jpg white.png (no face) broken.jpg (truncated) text.png (text) notes.txt
        sub/surprised.jpg sub/clip.mp4 (not a video)
    """
    import shutil

    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for name in ("happy.jpg", "angry.jpg", "white.png"):
        shutil.copy(shared_dir / "images" / name, root / name)
    shutil.copy(shared_dir / "images" / "surprised.jpg", root / "sub" / "surprised.jpg")
    data = (shared_dir / "images" / "neutral.jpg").read_bytes()
    (root / "broken.jpg").write_bytes(data[: len(data) // 3])
    (root / "text.png").write_text("not a picture\n")
    (root / "notes.txt").write_text("shot on holiday\n")
    (root / "sub" / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    return root


def _run_until_interrupted(args: list, records_before: int, timeout: float = 120) -> tuple[list[dict], str, int]:
    """Start `faceapi ARGS --out -`, read `records_before` JSON lines from its stdout (blocking: no sleep),
    send SIGINT, and return (all records, stderr, exit code). The run cannot finish first when it has more
    to write than a pipe holds (64 KiB): it blocks on its stdout until this reads."""
    import json
    import signal
    import subprocess
    import sys
    import threading

    env = dict(os.environ, FACEAPI_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "faceapi.cli.main", *map(str, args), "--out", "-"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out: dict[str, str] = {}
    # the rest is read through the same buffered streams (communicate() would bypass what readline buffered)
    readers = [threading.Thread(target=lambda name=name: out.__setitem__(name, getattr(proc, name).read()))
               for name in ("stdout", "stderr")]
    try:
        lines = [proc.stdout.readline() for _ in range(records_before)]
        assert all(line.endswith("\n") for line in lines), f"ended before {records_before} records: {lines}"
        assert proc.poll() is None, "finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        for t in readers:
            t.start()
        proc.wait(timeout=timeout)
        for t in readers:
            t.join(timeout)
    finally:
        proc.kill()
        proc.wait()
    rest = out["stdout"]
    assert rest == "" or rest.endswith("\n")
    records = [json.loads(line) for line in "".join(lines).splitlines() + rest.splitlines()]
    return records, out["stderr"], proc.returncode


@pytest.fixture
def run_until_interrupted():
    """``run(args, records_before) -> (records, stderr, exit code)``: `faceapi` interrupted by SIGINT once it
    has written `records_before` records (see `_run_until_interrupted`)."""
    return _run_until_interrupted


@pytest.fixture(scope="session")
def av():
    """PyAV (the video extra): skipped without it, a failure under CI."""
    return require("av")


# gallery stores ---------------------------------------------------------------------------------------------
# The people tests run against both stores: SQLite (a file) and PostgreSQL (Debian's server, started here).

class PostgresServer:
    """A PostgreSQL server of Debian's packages in a temporary folder, on a free loopback port, trusting the
    user ``faceapi``. PostgreSQL refuses to run as root, so as root (CI, these machines) initdb and pg_ctl run
    in a user namespace mapping root to the package's ``postgres`` user (works even where /dev/null is
    root-only); as anyone else they run directly. `new_url` gives each caller a database of its own."""

    def __init__(self) -> None:
        import glob
        import pwd
        import shutil
        import socket
        import subprocess
        import tempfile

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
        if not bins:
            missing("PostgreSQL is not installed (Debian's 'postgresql'; scripts/setup.sh --dev installs it)")
        self.bin = Path(bins[-1])
        wrap: list[str] = []
        if os.geteuid() == 0:
            if not shutil.which("unshare"):
                missing("unshare (util-linux) is needed to run PostgreSQL as root")
            pg = pwd.getpwnam("postgres")
            wrap = ["unshare", "--user", f"--map-user={pg.pw_uid}", f"--map-group={pg.pw_gid}", "--"]
        self.wrap = wrap
        self.folder = Path(tempfile.mkdtemp(prefix="faceapi-pg-"))
        os.chmod(self.folder, 0o700)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        data = self.folder / "data"
        self._run = subprocess.run
        subprocess.run([*wrap, str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "faceapi",
                        "--no-sync"], check=True, capture_output=True, timeout=120, cwd=self.folder)
        self._databases = 0
        self.resume()

    def resume(self) -> None:
        """Start the server (again, after `halt`) on its port, on its data."""
        data = self.folder / "data"
        self._run([*self.wrap, str(self.bin / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l",
                   str(self.folder / "log"), "-o", f"-p {self.port} -k {self.folder} "
                   "-c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                  check=True, capture_output=True, timeout=120, cwd=self.folder)
        self.pid = int((data / "postmaster.pid").read_text().split()[0])

    def halt(self) -> None:
        """Stop the server (fast shutdown: its clients' connections are cut), keeping its data for `resume`."""
        import signal
        import time

        os.kill(self.pid, signal.SIGINT)  # the postmaster's "fast" shutdown
        deadline = time.monotonic() + 60
        while (self.folder / "data" / "postmaster.pid").exists():
            if time.monotonic() > deadline:
                raise AssertionError("PostgreSQL did not stop in 60 s")
            time.sleep(0.05)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://faceapi@127.0.0.1:{self.port}/{database}"

    def new_url(self) -> str:
        """A new empty database on this server."""
        import psycopg

        self._databases += 1
        name = f"gallery{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """SIGTERM to the postmaster by pid, then wait (bounded) for it to go."""
        import shutil
        import signal
        import time

        try:
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                os.kill(self.pid, 0)
                time.sleep(0.05)
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    require("psycopg")
    server = PostgresServer()
    yield server
    server.stop()





@pytest.fixture(scope="session")
def make_gallery(request):
    """``make_gallery(kind, folder)``: a new empty gallery of that store (a file in `folder`, or a new database
    of the session's PostgreSQL server)."""
    from faceapi.gallery import Gallery

    def make(kind: str, folder: Path, **kwargs):
        if kind == "sqlite":
            return Gallery(folder / "gallery.sqlite3", **kwargs)
        from faceapi.gallery.postgres import PostgresGallery

        server = request.getfixturevalue("postgres")
        return PostgresGallery(server.new_url(), poll_interval=0, **kwargs)

    return make
