"""`faceapi analyze ... --ray ADDRESS`: the same analysis on a Ray cluster, through Ray Data.

The driver (the machine running `faceapi analyze`) lists the inputs, reads and verifies the model weights
once and puts them in Ray's object store. Every input becomes one row of a Ray Data dataset; the rows go
through ``map_batches`` to a pool of actors, each holding one `FaceAnalyzer` built from the shipped
weights (so worker nodes need only the installed package), with as many onnxruntime threads as CPUs it
reserves. A worker reads and decodes its inputs itself (local paths every node can read, or object-store
URIs through pyarrow's filesystems), and turns each into records with the same functions as a local run:
an image is one record, a video is one unit of work (its frames in order, tracked as locally).

Outputs: records in the local run's order to the driver (JSON lines / CSV, written as locally), or, for
collections too large for the driver, a Parquet dataset written by the workers (one row per record).

Faults: actors are restarted (`RayConfig.max_restarts`) and their batches retried
(`RayConfig.max_task_retries`); a batch's rows leave a worker only when the whole batch is done, so a
retried batch is never recorded twice. Ray Data's streaming executor holds back inputs when the outputs
are not consumed (backpressure), so memory stays bounded however many inputs there are.

Ray is the ``faceapi[ray]`` extra; this module imports it only when a run starts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceapi.errors import FaceApiError, ModelError, OptionsError
from faceapi.image import DEFAULT_MAX_PIXELS
from faceapi.options import AnalyzeOptions

if TYPE_CHECKING:
    from faceapi.matching import FaceMatcher
    from faceapi.pipeline import FaceAnalyzer

__all__ = ["INSTALL_HINT", "RayConfig", "RayJob", "RaySummary", "Settings", "analyze_on_ray", "check_address"]

INSTALL_HINT = "--ray needs Ray Data: pip install 'faceapi[ray]'"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ADDRESS = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})$")


def is_uri(path: str) -> bool:
    """An object-store (or any pyarrow filesystem) URI such as ``s3://bucket/key``, not a local path."""
    return bool(_URI.match(path))


def check_address(address: str) -> str:
    """``auto`` (a running cluster or $RAY_ADDRESS) or ``host:port``; anything else is an OptionsError."""
    if address == "auto":
        return address
    m = _ADDRESS.match(address)
    if not m or not 0 < int(m["port"]) < 65536:
        raise OptionsError(f"--ray: expected 'auto' or HOST:PORT (the head's GCS port, e.g. head:6379), "
                           f"got {address!r}")
    return address


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the pipeline needs Ray Data, not just Ray core
    except ImportError as exc:
        raise OptionsError(INSTALL_HINT) from exc
    return ray


# -- what the job is -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RayConfig:
    """How the work is spread. `actors`: None = the cluster's CPUs // `cpus_per_actor`; each actor runs
    onnxruntime with `cpus_per_actor` threads. `batch_size`: inputs per `map_batches` call (a retry
    repeats a whole batch). `max_restarts` / `max_task_retries`: how often Ray restarts a lost actor and
    re-runs its batch before the run fails."""

    address: str = "auto"
    cpus_per_actor: int = 1
    actors: int | None = None
    batch_size: int = 4
    max_restarts: int = 3
    max_task_retries: int = 3

    def __post_init__(self) -> None:
        check_address(self.address)
        for name in ("cpus_per_actor", "batch_size"):
            if getattr(self, name) < 1:
                raise OptionsError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.actors is not None and self.actors < 1:
            raise OptionsError(f"actors must be >= 1, got {self.actors}")
        if self.max_restarts < 0 or self.max_task_retries < 0:
            raise OptionsError("max_restarts and max_task_retries must be >= 0")


@dataclass(frozen=True)
class Settings:
    """What every worker needs to turn an input into records, as the local run's options say."""

    options: AnalyzeOptions = field(default_factory=AnalyzeOptions)
    descriptors: bool = True  # keep descriptors in the records
    every: int = 1
    smooth: int = 5
    iou: float = 0.3
    reid_seconds: float = 2.0
    reid_distance: float = 0.6
    timeline: str | None = None  # folder for the videos' timelines (a path every node can write)
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class Item:
    """One input in the local order, with where its annotated copy goes (if anywhere)."""

    index: int
    path: str
    kind: str  # "image", "video", "auto", "skip", "error" (as faceapi.collect.InputItem)
    reason: str | None = None
    root: str | None = None
    annotate_image: str | None = None
    annotate_video: str | None = None

    @property
    def relative(self) -> Path:
        if self.root is None:
            return Path(_name(self.path))
        return Path(_strip(self.path)).relative_to(_strip(self.root))


def _strip(path: str) -> str:
    return _URI.sub("", path) if is_uri(path) else path


def _name(path: str) -> str:
    return Path(_strip(path)).name


# -- the seam to the local run's code (one place to re-point when faceapi.batch's jobs land) ----------
def expand(paths: Sequence[str], annotate: str | None = None) -> list[Item]:
    """The inputs in the local run's order: local paths as `faceapi analyze` expands them; URIs listed
    through pyarrow's filesystems (a prefix recursively, sorted), kept and skipped by the same extensions."""
    from faceapi.cli.analyze_cmd import _targets
    from faceapi.collect import IMAGE_SUFFIXES, InputItem, expand_inputs
    from faceapi.video import VIDEO_SUFFIXES

    found: list[InputItem] = []
    empty: list[InputItem] = []
    for raw in map(str, paths):
        listed = _list_uri(raw) if is_uri(raw) else expand_inputs([raw])
        if not listed and (is_uri(raw) or Path(raw).is_dir()):  # a folder that gave nothing: said at the end
            empty.append(InputItem(raw, "error", "folder contains no files"))
        found += listed
    found += empty
    single = sum(it.kind in ("image", "video", "auto") for it in found) == 1
    images = _targets([it for it in found if it.kind in ("image", "auto")], annotate, ".png", IMAGE_SUFFIXES, single)
    videos = _targets([it for it in found if it.kind in ("video", "auto")], annotate, ".mp4", VIDEO_SUFFIXES, single)
    return [Item(i, it.path, it.kind, it.reason, it.root, _opt(images.get(it.path)), _opt(videos.get(it.path)))
            for i, it in enumerate(found)]


def _opt(p: Path | None) -> str | None:
    return None if p is None else str(p)


def _list_uri(uri: str) -> list[Any]:
    """A URI's files as InputItems (the driver lists; the workers read)."""
    from pyarrow import fs as pafs

    from faceapi.collect import InputItem, kind_of

    try:
        filesystem, root = pafs.FileSystem.from_uri(uri)
        info = filesystem.get_file_info(root)
    except (OSError, ValueError) as exc:
        return [InputItem(uri, "error", f"cannot list ({type(exc).__name__}: {exc})")]
    scheme = uri.split("://", 1)[0]

    def to_uri(path: str) -> str:
        return f"{scheme}://{path}" if scheme != "file" or not path.startswith("/") else f"file://{path}"

    if info.type == pafs.FileType.File:
        return [InputItem(uri, kind_of(Path(root)) or "auto")]
    if info.type != pafs.FileType.Directory:
        return [InputItem(uri, "error", "no such file or folder")]
    try:
        entries = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
    except OSError as exc:
        return [InputItem(uri, "error", f"cannot list ({type(exc).__name__}: {exc})")]
    items = []
    for entry in sorted((e for e in entries if e.type == pafs.FileType.File), key=lambda e: e.path):
        kind = kind_of(Path(entry.path))
        path = to_uri(entry.path)
        if kind is None:
            items.append(InputItem(path, "skip", "not an image or video extension", uri))
        else:
            items.append(InputItem(path, kind, root=uri))
    return items


def records_of(analyzer: FaceAnalyzer, item: Item, settings: Settings) -> tuple[str, list[dict[str, Any]]]:
    """The records of one input and what it turned out to be ("image", "video", "skip", "error"), exactly
    as the local run makes them (same functions, same order)."""
    from faceapi.collect import analyze_image

    if item.kind == "skip":
        return "skip", [{"source": item.path, "status": "skipped", "reason": item.reason}]
    if item.kind == "error":
        return "error", [{"source": item.path, "status": "error", "error": f"{item.path}: {item.reason}"}]
    with _local_copy(item.path) as (local, fix):
        if isinstance(local, dict):  # the object could not be read: the same error record as a bad file
            return ("image" if item.kind != "video" else "video"), [local]
        if item.kind == "image":
            return "image", [fix(analyze_image(analyzer, local, settings.options, item.annotate_image,
                                               settings.descriptors))]
        if item.kind == "video":
            return "video", [fix(r) for r in _video_records(analyzer, item, local, settings)]
        record = analyze_image(analyzer, local, settings.options, item.annotate_image, settings.descriptors)
        if record["status"] == "error" and _is_video(local):
            return "video", [fix(r) for r in _video_records(analyzer, item, local, settings)]
        if record["status"] == "error":
            record["error"] += " (and not a video either)"
        return "image", [fix(record)]


def _is_video(path: str) -> bool:
    from faceapi.cli.analyze_cmd import _is_video as local_is_video

    return local_is_video(path)


def _video_records(analyzer: FaceAnalyzer, item: Item, local: str, settings: Settings) -> list[dict[str, Any]]:
    from faceapi.batch.jobs import JobSettings
    from faceapi.timeline import Timeline
    from faceapi.video import VideoError, analyze_video

    tracker = JobSettings(settings.options, every=settings.every, smooth=settings.smooth, iou=settings.iou,
                          reid_seconds=settings.reid_seconds,
                          reid_distance=settings.reid_distance).tracker(analyzer)
    timeline = Timeline(item.path) if settings.timeline else None
    records: list[dict[str, Any]] = []
    try:
        records += analyze_video(analyzer, local, settings.options, every=settings.every, tracker=tracker,
                                 annotate_to=item.annotate_video, timeline=timeline,
                                 descriptors=settings.descriptors)
    except VideoError as exc:
        records.append({"source": local, "status": "error", "error": str(exc)})
    finally:
        if timeline is not None and timeline.tracks and settings.timeline:
            stem = str(item.relative.with_suffix("")).replace(os.sep, "_")
            timeline.write(settings.timeline, stem)
    return records


@contextlib.contextmanager
def _local_copy(path: str) -> Iterator[tuple[Any, Any]]:
    """A local path for an input: itself, or for a URI a private temporary copy (records then name the
    URI, not the copy). Yields (path or an error record when the URI cannot be read, record fixer)."""
    if not is_uri(path):
        yield path, lambda r: r
        return
    from pyarrow import fs as pafs

    folder = tempfile.mkdtemp(prefix="faceapi-input-")  # 0700
    try:
        local = os.path.join(folder, "input" + Path(_strip(path)).suffix)
        try:
            filesystem, key = pafs.FileSystem.from_uri(path)
            with filesystem.open_input_stream(key) as src, open(local, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (OSError, ValueError) as exc:
            yield {"source": path, "status": "error", "error": f"{path}: {type(exc).__name__}: {exc}"}, None
            return

        def fix(record: dict[str, Any]) -> dict[str, Any]:
            record["source"] = path
            if "error" in record:
                record["error"] = record["error"].replace(local, path)
            return record

        yield local, fix
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- weights: read and verified once on the driver, shipped through the object store --------------------
def read_weights(models_dir: str | os.PathLike[str] | None, options: AnalyzeOptions) -> dict[str, bytes]:
    """File name -> bytes of every weight file the options need, from the model folder, verified."""
    import hashlib

    from faceapi.models import MODELS, load_weights, model_dir
    from faceapi.nets import spec as net_spec
    from faceapi.pipeline import FaceAnalyzer

    folder = model_dir(models_dir)
    files: dict[str, bytes] = {}
    for net in FaceAnalyzer.nets_for(options):
        name = net_spec(net).model
        load_weights(name, folder)  # the one check of a model folder (pinned sums, byte counts)
        spec = MODELS[name]
        manifest = folder / spec.manifest
        names = [spec.manifest] + [p for group in json.loads(manifest.read_bytes()) for p in group["paths"]]
        for fname in names:
            data = (folder / fname).read_bytes()
            pinned = spec.files.get(fname)
            if pinned is not None and hashlib.sha256(data).hexdigest() != pinned:  # changed since the check
                raise ModelError(f"model {name!r} in {folder}: {fname} changed while it was read")
            files[fname] = data
    return files


def _private_model_folder(files: dict[str, bytes]) -> str:
    folder = tempfile.mkdtemp(prefix="faceapi-models-")  # 0700, this process's user only
    for fname, data in files.items():
        fd = os.open(os.path.join(folder, fname), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return folder


# -- the workers ----------------------------------------------------------------------------------------
PARQUET_COLUMNS = ("input", "source", "status", "frame", "time", "error", "record")


def _schemas() -> tuple[Any, Any]:
    """The rows a worker returns (one per input) and the Parquet rows it writes (one per record)."""
    import pyarrow as pa

    per_input = pa.schema([("index", pa.int64()), ("kind", pa.string()), ("records", pa.string())])
    per_record = pa.schema([("input", pa.int64()), ("source", pa.string()), ("status", pa.string()),
                            ("frame", pa.int64()), ("time", pa.float64()), ("error", pa.string()),
                            ("record", pa.string())])
    return per_input, per_record


def _filesystem(path: str) -> tuple[Any, str]:
    from pyarrow import fs as pafs

    if is_uri(path):
        filesystem, root = pafs.FileSystem.from_uri(path)
        return filesystem, str(root)
    return pafs.LocalFileSystem(), str(Path(path).resolve())


class _Worker:
    """One actor of the pool: a FaceAnalyzer on the shipped weights; a batch of inputs in, one row per
    input out (with its records as JSON lines). With `parquet`, the records go into one Parquet file per
    batch in that folder instead (named after the batch's inputs, so a retried batch replaces its file),
    and the rows carry only each record's source and status."""

    def __init__(self, weights: Any, matcher: FaceMatcher | None, settings: Settings, threads: int,
                 parquet: str | None):
        import ray

        from faceapi.engine.runtime import RuntimeConfig
        from faceapi.pipeline import FaceAnalyzer

        # `weights` is the driver's ObjectRef (Ray Data hands constructor arguments over unresolved):
        # read from the object store, from this node's copy when there is one.
        files: dict[str, bytes] = ray.get(weights) if isinstance(weights, ray.ObjectRef) else weights
        folder = _private_model_folder(files)
        try:
            self.analyzer = FaceAnalyzer(folder, RuntimeConfig(threads=threads), max_pixels=settings.max_pixels,
                                         matcher=matcher)
            self.analyzer.load(FaceAnalyzer.nets_for(settings.options))  # everything in memory now
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # the nets hold what they need; leave no copy behind
        self.settings = settings
        self.parquet = parquet

    def __call__(self, batch: dict[str, Any]) -> Any:
        import pyarrow as pa

        per_input, per_record = _schemas()
        rows: dict[str, list[Any]] = {name: [] for name in per_input.names}
        out: dict[str, list[Any]] = {name: [] for name in per_record.names}
        for text in batch["item"]:
            item = Item(**json.loads(str(text)))
            kind, records = records_of(self.analyzer, item, self.settings)
            rows["index"].append(item.index)
            rows["kind"].append(kind)
            if self.parquet is None:
                rows["records"].append("".join(json.dumps(r) + "\n" for r in records))
                continue
            rows["records"].append("".join(json.dumps({"source": r.get("source"), "status": r.get("status")})
                                           + "\n" for r in records))
            for r in records:
                out["input"].append(item.index)
                for key in ("source", "status", "frame", "time"):
                    out[key].append(r.get(key))
                out["error"].append(r.get("error") or r.get("reason"))
                out["record"].append(json.dumps(r))
        if self.parquet is not None and rows["index"]:
            self._write(pa.table(out, schema=per_record), rows["index"][0], rows["index"][-1])
        return pa.table(rows, schema=per_input)

    def _write(self, table: Any, first: int, last: int) -> None:
        """One file per batch, whole or not at all: written under a hidden name, then renamed (object
        stores publish an object only once it is closed, so there it is written in place)."""
        import pyarrow.parquet as pq
        from pyarrow import fs as pafs

        assert self.parquet is not None
        filesystem, root = _filesystem(self.parquet)
        name = f"part-{first:09d}-{last:09d}.parquet"
        if isinstance(filesystem, pafs.LocalFileSystem):
            tmp = f"{root}/.{name}.{os.getpid()}.part"
            pq.write_table(table, tmp, filesystem=filesystem)
            os.replace(tmp, f"{root}/{name}")
        else:
            pq.write_table(table, f"{root}/{name}", filesystem=filesystem)


# -- the driver -----------------------------------------------------------------------------------------
@dataclass
class RaySummary:
    """Counts of a run, as the local run's summary line has them."""

    images: int = 0
    videos: int = 0
    frames: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    failed_sources: list[str] = field(default_factory=list)

    def add(self, kind: str, records: Iterable[dict[str, Any]]) -> None:
        failed = False
        for r in records:
            if r.get("status") == "error":
                failed = True
                self.failed += 1
                self.failed_sources.append(str(r.get("source", "?")))
            elif r.get("status") == "skipped":
                self.skipped += 1
            elif kind == "video":
                self.frames += 1
        if kind == "image":
            self.images += 1
        elif kind == "video":
            self.videos += 1
        if kind in ("image", "video") and not failed:
            self.ok += 1

    def text(self, seconds: float, stopped: str | None) -> str:
        parts = [f"{self.images} image(s)", f"{self.videos} video(s) ({self.frames} frame(s) analysed)"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (not an image or video extension)")
        text = (f"faceapi: {stopped + '; ' if stopped else ''}{', '.join(parts)}: {self.ok} ok, "
                f"{self.failed} failed in {seconds:.1f} s on Ray")
        if self.failed_sources:
            shown = ", ".join(self.failed_sources[:5])
            more = len(self.failed_sources) - 5
            text += f"; failed: {shown}" + (f" and {more} more" if more > 0 else "")
        return text


class RayJob:
    """One analysis of `inputs` on a Ray cluster. Connects on `records()` / `write_parquet()`; leaves a
    connection it did not open alone, and closes its own when done (or interrupted)."""

    def __init__(self, inputs: Sequence[str], settings: Settings | None = None, config: RayConfig | None = None,
                 *, models_dir: str | os.PathLike[str] | None = None, matcher: FaceMatcher | None = None,
                 annotate: str | None = None):
        self.settings = settings or Settings()
        self.config = config or RayConfig()
        if self.settings.options.recognize is not None and matcher is None:
            raise OptionsError("recognition needs a gallery or a FaceMatcher: none was given")
        self.matcher = matcher
        self.items = expand(inputs, annotate)
        self.weights = read_weights(models_dir, self.settings.options)  # before connecting: fail fast
        self.summary = RaySummary()
        self.actors = 0

    # one connection per job
    @contextlib.contextmanager
    def _connected(self) -> Iterator[Any]:
        ray = _ray()
        opened = not ray.is_initialized()
        if opened:
            try:
                ray.init(address=self.config.address, logging_level=logging.WARNING, log_to_driver=False,
                         configure_logging=True)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise FaceApiError(f"--ray {self.config.address}: cannot connect to the Ray cluster ({exc})") from exc
        try:
            yield ray
        finally:
            if opened:
                ray.shutdown()  # the job's actors go with the driver's connection

    def _dataset(self, ray: Any, parquet: str | None) -> Any:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < self.config.cpus_per_actor:
            raise FaceApiError(f"the Ray cluster has {cpus} CPU(s), fewer than the {self.config.cpus_per_actor} "
                               "one actor needs")
        self.actors = self.config.actors or max(1, cpus // self.config.cpus_per_actor)
        self._weights_ref = ray.put(self.weights)  # once into the object store; held for the whole run, so a
        # restarted actor can read it again
        rows = [{"item": json.dumps(asdict(it))} for it in self.items]
        # One block per batch: a Ray Data task is then exactly one batch, so a retry repeats just that batch
        # (whose rows never left the lost worker) and records stream back batch by batch.
        blocks = max(1, -(-len(rows) // self.config.batch_size))
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        with warnings.catch_warnings():  # max_restarts / max_task_retries only go through ray_remote_args
            warnings.simplefilter("ignore")
            ds = ds.map_batches(
                _Worker, batch_size=self.config.batch_size, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=self.actors),
                fn_constructor_kwargs={"weights": self._weights_ref, "matcher": self.matcher,
                                       "settings": self.settings, "threads": self.config.cpus_per_actor,
                                       "parquet": parquet},
                num_cpus=self.config.cpus_per_actor, max_restarts=self.config.max_restarts,
                max_task_retries=self.config.max_task_retries)
        ctx = ds.context
        ctx.execution_options.preserve_order = True  # the local order, without a reorder buffer here
        ctx.enable_progress_bars = False  # our own progress line on stderr
        ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        return ds

    def results(self, parquet: str | None = None) -> Iterator[tuple[Item, str, list[dict[str, Any]]]]:
        """(input, what it turned out to be, its records) for every input, in the local order, as they
        finish. With `parquet` (a folder or URI), the workers write the records there as Parquet (one row
        per record: input index, source, status, frame, time, error, and the whole record as JSON) and
        the records given here hold only each record's source and status."""
        if parquet is not None:
            filesystem, root = _filesystem(parquet)
            filesystem.create_dir(root, recursive=True)
        with self._connected() as ray:
            ds = self._dataset(ray, parquet)
            expected = 0
            try:
                for row in ds.iter_rows():
                    index = int(row["index"])
                    if index != expected:  # preserve_order and one row per input make this impossible
                        raise FaceApiError(f"Ray returned input {index} where {expected} was due")
                    records = [json.loads(line) for line in str(row["records"]).splitlines()]
                    self.summary.add(str(row["kind"]), records)
                    expected += 1
                    yield self.items[index], str(row["kind"]), records
            except ray.exceptions.RayTaskError as exc:
                raise _unwrap(exc) from None
            if expected != len(self.items):
                raise FaceApiError(f"Ray returned {expected} of {len(self.items)} inputs")

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, in the local run's order."""
        for _, _, records in self.results():
            yield from records

    def write_parquet(self, out: str) -> RaySummary:
        """Run the job with the workers writing a Parquet dataset into the folder or URI `out`."""
        for _ in self.results(parquet=out):
            pass
        return self.summary


def _unwrap(exc: BaseException) -> BaseException:
    """A worker's project error (missing weights, ...) as itself, not wrapped in Ray's exception."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, FaceApiError):
        return cause
    return FaceApiError(f"the Ray job failed: {exc}")


def analyze_on_ray(inputs: Sequence[str], options: AnalyzeOptions | None = None, *, address: str = "auto",
                   models_dir: str | os.PathLike[str] | None = None, matcher: FaceMatcher | None = None,
                   every: int = 1, descriptors: bool = True, config: RayConfig | None = None
                   ) -> Iterator[dict[str, Any]]:
    """Analyse images, videos, folders and object-store URIs on a Ray cluster; yields the same records as
    `faceapi analyze` gives locally, in the same order.

    Args:
        inputs: local paths every node can read, or URIs pyarrow can open (``s3://``, ``gs://``, ...).
        address: ``auto`` (a running cluster or $RAY_ADDRESS) or ``host:port`` of the head.
        config: actors, CPUs per actor, batch size, retries (`address` wins over ``config.address``).
    """
    cfg = config or RayConfig()
    cfg = RayConfig(address, cfg.cpus_per_actor, cfg.actors, cfg.batch_size, cfg.max_restarts, cfg.max_task_retries)
    settings = Settings(options or AnalyzeOptions(), descriptors=descriptors, every=every)
    return RayJob(inputs, settings, cfg, models_dir=models_dir, matcher=matcher).records()




# -- the command line -------------------------------------------------------------------------------------
def run_command(args: Any) -> int:
    """`faceapi analyze ... --ray ADDRESS` with the local command's parsed arguments: writes what the local
    run writes (JSON lines / CSV through the same writer, or a Parquet folder with ``--format parquet``),
    a progress line and the summary on stderr. Exit status as locally: 1 when any input failed."""
    from dataclasses import replace

    from faceapi.cli.analyze_cmd import _gallery_matcher
    from faceapi.cli.common import analyze_options
    from faceapi.collect import ProgressBar, RecordWriter
    from faceapi.options import MatchOptions

    for name, minimum in (("every", 1), ("smooth", 1)):
        if getattr(args, name) < minimum:
            raise OptionsError(f"--{name} must be >= {minimum}, got {getattr(args, name)}")
    if not 0 < args.iou <= 1:
        raise OptionsError(f"--iou must be in (0, 1], got {args.iou}")
    parquet = getattr(args, "format", "jsonl") == "parquet"
    if parquet and (not args.out or args.out == "-" or args.csv):
        raise OptionsError("--format parquet writes a folder: give it as --out DIR (and no --csv)")
    _ray()  # the install hint before any work
    options = analyze_options(args, **({"expressions": True} if args.timeline else {}))
    matcher = _gallery_matcher(args) if args.recognize else None
    if matcher is not None:
        options = replace(options, recognize=MatchOptions(matcher.distance_threshold, matcher.strategy))
    settings = Settings(options, descriptors=not args.no_descriptor_output, every=args.every, smooth=args.smooth,
                        iou=args.iou, reid_seconds=args.reid_seconds, reid_distance=args.reid_distance,
                        timeline=args.timeline)
    config = RayConfig(check_address(args.ray), cpus_per_actor=args.threads or 1)
    t0 = time.perf_counter()
    job = RayJob(args.images, settings, config, models_dir=args.models_dir, matcher=matcher, annotate=args.annotate)
    progress = ProgressBar(len(job.items), enabled=args.progress)
    writer = None if parquet else RecordWriter.open(args.out, args.csv)
    stopped: str | None = None
    try:
        for _, _, records in job.results(parquet=args.out if parquet else None):
            if writer is not None:
                for record in records:
                    writer.write(record)
            progress.advance()
    except KeyboardInterrupt:
        stopped = "interrupted"
        raise
    except BaseException:
        stopped = "stopped"
        raise
    finally:
        progress.close()
        if writer is not None:
            writer.close()
        if stopped != "stopped":  # an error that stops the run is reported on its own (main prints it)
            print(job.summary.text(time.perf_counter() - t0, stopped), file=sys.stderr, flush=True)
    return 1 if job.summary.failed else 0
