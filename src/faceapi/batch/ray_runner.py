"""`faceapi analyze ... --ray ADDRESS`: the same jobs as a local run, run on a Ray cluster through Ray Data.

The driver (the machine running `faceapi analyze`) lists the inputs (`expand_inputs`; object-store URIs
through pyarrow's filesystems) and plans them into jobs with `plan_jobs`, exactly as a local run does. It
reads and verifies the model weights once and puts them in Ray's object store. Every job (a small frozen
value, pickled) becomes one row of a Ray Data dataset; the rows go through ``map_batches`` to a pool of
actors, each holding one `FaceAnalyzer` built from the shipped weights (so worker nodes need only the
installed package), with as many onnxruntime threads as CPUs it reserves. A worker runs the jobs' own
code: ``ImageJob.analyse`` (its annotated copy comes back as bytes and is written by the driver with
``ImageJob.commit``, as the local pool does) and ``job.records(JobContext(...))`` for the others; a video is
one unit of work (its frames in order, tracked as locally). The driver feeds the results, in the local
order, to the local run's one loop (`faceapi.batch.runner.write_scheduled`): same writer, tally, progress
bar and Ctrl-C handling.

With ``--format parquet`` the workers run every job whole (annotated copies written there) and write the
records into a Parquet dataset themselves (for collections too large for the driver); the driver gets only
what it counts (status, frame, number of faces per record).

Faults: actors are restarted (`RayConfig.max_restarts`) and their batches retried
(`RayConfig.max_task_retries`); a batch's rows leave a worker only when the whole batch is done, and its
Parquet file is named after its inputs, so a retried batch is never recorded twice. Ray Data's streaming
executor holds back inputs when the outputs are not consumed (backpressure), so memory stays bounded.

Ray is the ``faceapi[ray]`` extra; this module imports it only when a run starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pickle
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceapi.batch.inputs import InputItem, expand_inputs, kind_of
from faceapi.batch.jobs import (
    ErrorJob,
    ImageJob,
    ImageOutcome,
    Job,
    JobContext,
    JobSettings,
    SkipJob,
    VideoJob,
    plan_jobs,
)
from faceapi.batch.records import Record, error_record
from faceapi.batch.runner import Scheduled
from faceapi.engine.runtime import Precision, RuntimeConfig
from faceapi.errors import FaceApiError, ModelError, OptionsError
from faceapi.fileio import PRIVATE, PUBLIC, atomic_write_bytes
from faceapi.image import DEFAULT_MAX_PIXELS
from faceapi.options import AnalyzeOptions

if TYPE_CHECKING:
    from faceapi.matching import FaceMatcher

__all__ = ["INSTALL_HINT", "PARQUET_COLUMNS", "RayConfig", "RayJob", "analyze_on_ray", "check_address", "is_uri",
           "list_inputs"]

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


@dataclass(frozen=True)
class RayConfig:
    """How the work is spread. `actors`: at most this many (None: the cluster's CPUs // `cpus_per_actor`);
    each actor runs onnxruntime with `cpus_per_actor` threads. `batch_size`: jobs per `map_batches` call
    (a retry repeats a whole batch). `max_restarts` / `max_task_retries`: how often Ray restarts a lost
    actor and re-runs its batch before the run fails."""

    address: str = "auto"
    cpus_per_actor: int = 1
    actors: int | None = None
    batch_size: int = 4
    max_restarts: int = 3
    max_task_retries: int = 3
    precision: Precision = "float"

    def __post_init__(self) -> None:
        check_address(self.address)
        for name in ("cpus_per_actor", "batch_size"):
            if getattr(self, name) < 1:
                raise OptionsError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.actors is not None and self.actors < 1:
            raise OptionsError(f"actors must be >= 1, got {self.actors}")
        if self.max_restarts < 0 or self.max_task_retries < 0:
            raise OptionsError("max_restarts and max_task_retries must be >= 0")


# -- inputs: listed on the driver ----------------------------------------------------------------------------
def _filesystem(path: str) -> tuple[Any, str]:
    from pyarrow import fs as pafs

    if is_uri(path):
        filesystem, root = pafs.FileSystem.from_uri(path)
        return filesystem, str(root)
    return pafs.LocalFileSystem(), str(Path(path).resolve())


def _list_uri(uri: str) -> list[InputItem]:
    """A URI's files as `expand_inputs` gives a local path's: a prefix recursively (sorted), kept or
    skipped by extension; a missing or empty one as an error item."""
    from pyarrow import fs as pafs

    try:
        filesystem, root = pafs.FileSystem.from_uri(uri)
        info = filesystem.get_file_info(root)
        if info.type == pafs.FileType.File:
            return [InputItem(uri, kind_of(Path(root)) or "auto")]
        if info.type != pafs.FileType.Directory:
            return [InputItem(uri, "error", "no such file or folder")]
        entries = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
    except (OSError, ValueError) as exc:
        return [InputItem(uri, "error", f"cannot list ({type(exc).__name__}: {exc})")]
    scheme = uri.split("://", 1)[0]
    files = sorted(e.path for e in entries if e.type == pafs.FileType.File)
    if not files:
        return [InputItem(uri, "error", "folder contains no files")]
    items = []
    for path in files:
        kind = kind_of(Path(path))
        full = f"{scheme}://{path}"
        if kind is None:
            items.append(InputItem(full, "skip", "not an image or video extension", uri))
        else:
            items.append(InputItem(full, kind, root=uri))
    return items


def _resolve_uri(item: InputItem) -> InputItem:
    """A URI of a file with neither an image nor a video extension, decided by content as locally (by
    `plan_jobs` on a private copy); one that is neither stays "auto" (an image that fails, "and not a
    video either")."""
    with _readable(item.path, os.getcwd()) as (local, _):
        if local is None:
            return item
        job = plan_jobs([InputItem(local, "auto")])[0]
    if isinstance(job, VideoJob):
        return dataclasses.replace(item, kind="video")
    if isinstance(job, ImageJob) and not job.not_video:
        return dataclasses.replace(item, kind="image")
    return item


def list_inputs(paths: Sequence[str | os.PathLike[str]]) -> list[InputItem]:
    """The inputs in the local run's order: local paths as `expand_inputs` gives them, URIs listed
    through pyarrow's filesystems."""
    items: list[InputItem] = []
    for raw in map(str, paths):
        if not is_uri(raw):
            items += expand_inputs([raw])
            continue
        items += [_resolve_uri(it) if it.kind == "auto" else it for it in _list_uri(raw)]
    return items


@contextlib.contextmanager
def _readable(source: str, cwd: str) -> Iterator[tuple[str | None, str]]:
    """A path this process can read `source` at, and an error message when it cannot: a relative path
    against the driver's working folder, a URI copied into a private temporary folder (named as the object,
    so messages and charts show its name)."""
    if not is_uri(source):
        yield os.path.join(cwd, source), ""
        return
    folder = tempfile.mkdtemp(prefix="faceapi-input-")  # 0700
    try:
        local = os.path.join(folder, Path(_URI.sub("", source)).name or "input")
        try:
            filesystem, key = _filesystem(source)
            with filesystem.open_input_stream(key) as src, open(local, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (OSError, ValueError) as exc:
            yield None, f"{source}: {type(exc).__name__}: {exc}"
            return
        yield local, ""
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _as_given(record: Record, read_as: str, source: str) -> Record:
    """A record made from the path a worker read, naming the input as the user gave it."""
    if read_as == source:
        return record
    fixed = {**record, "source": source}
    if isinstance(fixed.get("error"), str):
        fixed["error"] = fixed["error"].replace(read_as, source)
    return fixed


# -- weights: read and verified once on the driver, shipped through the object store ----------------------
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
        fd = os.open(os.path.join(folder, fname), os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return folder


# -- the workers ----------------------------------------------------------------------------------------------
PARQUET_COLUMNS = ("input", "source", "status", "frame", "time", "error", "record")


@dataclass(frozen=True)
class _Parquet:
    """Where the workers write the Parquet dataset (a folder or URI), and whether its files are private."""

    root: str
    private: bool


def _schemas() -> tuple[Any, Any]:
    """The rows a worker returns (one per job) and the Parquet rows it writes (one per record)."""
    import pyarrow as pa

    per_job = pa.schema([("index", pa.int64()), ("records", pa.string()), ("annotated", pa.binary())])
    per_record = pa.schema([("input", pa.int64()), ("source", pa.string()), ("status", pa.string()),
                            ("frame", pa.int64()), ("time", pa.float64()), ("error", pa.string()),
                            ("record", pa.string())])
    return per_job, per_record


def _counted(record: Record) -> Record:
    """What the driver's Tally needs of a record the workers wrote to Parquet: status, source, frame and
    the number of faces (as empty placeholders)."""
    keep: Record = {k: record[k] for k in ("source", "status", "frame") if k in record}
    if record.get("status") == "ok":
        keep["faces"] = [{}] * len(record.get("faces", ()))
    return keep


class _Worker:
    """One actor of the pool: a FaceAnalyzer on the shipped weights; a batch of jobs in, one row per job out
    (its records as JSON lines, and an image's annotated copy as bytes). With `parquet`, every job is run
    whole here and its records go into one Parquet file per batch (named after the batch's inputs, so a
    retried batch replaces its file); the rows then carry only what the driver counts."""

    def __init__(self, weights: Any, matcher: FaceMatcher | None, settings: JobSettings, runtime: RuntimeConfig,
                 max_pixels: int, cwd: str, parquet: _Parquet | None):
        import ray

        from faceapi.pipeline import FaceAnalyzer

        # `weights` is the driver's ObjectRef (Ray Data hands constructor arguments over unresolved):
        # read from the object store, from this node's copy when there is one.
        files: dict[str, bytes] = ray.get(weights) if isinstance(weights, ray.ObjectRef) else weights
        folder = _private_model_folder(files)
        try:
            analyzer = FaceAnalyzer(folder, runtime, max_pixels=max_pixels, matcher=matcher)
            analyzer.load(FaceAnalyzer.nets_for(settings.options))  # everything in memory now
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # the nets hold what they need; leave no copy behind
        self.analyzer = analyzer
        self.ctx = JobContext(settings, lambda: analyzer)
        self.cwd = cwd
        self.parquet = parquet

    def _run(self, job: Job) -> tuple[list[Record], bytes | None]:
        """The job's records (and an image's annotated bytes), made from a readable copy of its input."""
        if isinstance(job, (SkipJob, ErrorJob)):
            return list(job.records(self.ctx)), None
        with _readable(job.source, self.cwd) as (path, error):
            if path is None:
                return [error_record(job.source, error)], None
            local = dataclasses.replace(job, source=path)
            if isinstance(local, ImageJob) and self.parquet is None:
                outcome = local.analyse(self.analyzer, self.ctx.settings)  # committed by the driver
                return [_as_given(outcome.record, path, job.source)], outcome.annotated
            return [_as_given(r, path, job.source) for r in local.records(self.ctx)], None

    def __call__(self, batch: dict[str, Any]) -> Any:
        import pyarrow as pa

        per_job, per_record = _schemas()
        rows: dict[str, list[Any]] = {name: [] for name in per_job.names}
        out: dict[str, list[Any]] = {name: [] for name in per_record.names}
        for index, blob in zip(batch["index"], batch["job"]):
            job: Job = pickle.loads(blob)  # noqa: S301 - pickled by this run's driver
            records, annotated = self._run(job)
            rows["index"].append(int(index))
            rows["annotated"].append(annotated)
            if self.parquet is None:
                rows["records"].append("".join(json.dumps(r) + "\n" for r in records))
                continue
            rows["records"].append("".join(json.dumps(_counted(r)) + "\n" for r in records))
            for r in records:
                out["input"].append(int(index))
                for key in ("source", "status", "frame", "time"):
                    out[key].append(r.get(key))
                out["error"].append(r.get("error") or r.get("reason"))
                out["record"].append(json.dumps(r))
        if self.parquet is not None and rows["index"]:
            self._write(pa.table(out, schema=per_record), rows["index"][0], rows["index"][-1])
        return pa.table(rows, schema=per_job)

    def _write(self, table: Any, first: int, last: int) -> None:
        """One file per batch, whole or not at all: written atomically on a local (or mounted) folder;
        an object store publishes an object only once it is closed."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        from pyarrow import fs as pafs

        assert self.parquet is not None
        filesystem, root = _filesystem(self.parquet.root)
        name = f"part-{first:09d}-{last:09d}.parquet"
        if isinstance(filesystem, pafs.LocalFileSystem):
            buf = pa.BufferOutputStream()
            pq.write_table(table, buf)
            atomic_write_bytes(f"{root}/{name}", buf.getvalue().to_pybytes(),
                               PRIVATE if self.parquet.private else PUBLIC)
        else:
            pq.write_table(table, f"{root}/{name}", filesystem=filesystem)


# -- the driver -------------------------------------------------------------------------------------------------
class RayJob:
    """One analysis of `inputs` on a Ray cluster: the inputs listed and planned into `jobs` here (as a
    local run does), the weights read and verified; `scheduled()` connects and runs them."""

    def __init__(self, inputs: Sequence[str | os.PathLike[str]], settings: JobSettings,
                 config: RayConfig | None = None, *, models_dir: str | os.PathLike[str] | None = None,
                 matcher: FaceMatcher | None = None, annotate: str | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS):
        self.config = config or RayConfig()
        _ray()  # the install hint before any work
        if settings.options.recognize is not None and matcher is None:
            raise OptionsError("recognition needs a gallery or a FaceMatcher: none was given")
        self.matcher = matcher
        self.max_pixels = max_pixels
        # Workers write videos' annotated copies and timelines: give them absolute paths (of a folder every
        # node can write); images' annotated copies are written here, by the driver, as the records say.
        timeline = settings.timeline_dir
        self.settings = dataclasses.replace(settings, timeline_dir=os.path.abspath(timeline) if timeline else None)
        self.jobs: list[Job] = plan_jobs(list_inputs(inputs), annotate)
        self.weights = read_weights(models_dir, settings.options)  # before connecting: fail fast
        self.actors = 0

    @contextlib.contextmanager
    def _connected(self) -> Iterator[Any]:
        """Ray, connected; a connection this opened is closed at the end (the job's actors go with it)."""
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
                ray.shutdown()

    def _shipped(self, job: Job, parquet: _Parquet | None) -> bytes:
        """The job as a worker gets it: paths the worker writes made absolute (it runs elsewhere)."""
        written_there = isinstance(job, VideoJob) or (isinstance(job, ImageJob) and parquet is not None)
        if isinstance(job, (ImageJob, VideoJob)) and job.annotate_to is not None and written_there:
            job = dataclasses.replace(job, annotate_to=os.path.abspath(job.annotate_to))
        return pickle.dumps(job)

    def _dataset(self, ray: Any, parquet: _Parquet | None) -> Any:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < self.config.cpus_per_actor:
            raise FaceApiError(f"the Ray cluster has {cpus} CPU(s), fewer than the {self.config.cpus_per_actor} "
                               "one actor needs")
        self.actors = min(self.config.actors or cpus, cpus // self.config.cpus_per_actor)
        self._weights_ref = ray.put(self.weights)  # once into the object store; held for the whole run, so a
        # restarted actor can read it again
        rows = [{"index": i, "job": self._shipped(job, parquet)} for i, job in enumerate(self.jobs)]
        # One block per batch: a Ray Data task is then exactly one batch, so a retry repeats just that batch
        # (whose rows never left the lost worker) and results stream back batch by batch.
        blocks = max(1, -(-len(rows) // self.config.batch_size))
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        with warnings.catch_warnings():  # max_restarts / max_task_retries only go through ray_remote_args
            warnings.simplefilter("ignore")
            ds = ds.map_batches(
                _Worker, batch_size=self.config.batch_size, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=self.actors),
                fn_constructor_kwargs={"weights": self._weights_ref, "matcher": self.matcher,
                                       "settings": self.settings,
                                       "runtime": RuntimeConfig(threads=self.config.cpus_per_actor,
                                                                precision=self.config.precision),
                                       "max_pixels": self.max_pixels, "cwd": os.getcwd(), "parquet": parquet},
                num_cpus=self.config.cpus_per_actor, max_restarts=self.config.max_restarts,
                max_task_retries=self.config.max_task_retries)
        ctx = ds.context
        ctx.execution_options.preserve_order = True  # the local order, without a reorder buffer here
        ctx.enable_progress_bars = False  # the run's own progress bar on stderr
        ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        return ds

    def scheduled(self, parquet: str | None = None, *, private: bool = False) -> Scheduled:
        """Each job with its records, in the local order, as they finish: what the local run's loop
        (`faceapi.batch.runner.write_scheduled`) writes and counts. An image's annotated copy is written
        here just before its record is handed over. With `parquet` (a new or empty folder, or a URI), the
        workers write the records there (one row per record: `PARQUET_COLUMNS`, the whole record as JSON in
        ``record``; files 0600 when `private`) and the records given here hold only what a Tally counts."""
        target = _Parquet(parquet, private) if parquet is not None else None
        if target is not None:
            _prepare_folder(target)
        with self._connected() as ray:
            expected = 0
            try:
                for row in self._dataset(ray, target).iter_rows():
                    index = int(row["index"])
                    if index != expected:  # preserve_order and one row per job make this impossible
                        raise FaceApiError(f"Ray returned input {index} where {expected} was due")
                    expected += 1
                    job = self.jobs[index]
                    records = [json.loads(line) for line in str(row["records"]).splitlines()]
                    if isinstance(job, ImageJob) and target is None:
                        records = [job.commit(ImageOutcome(records[0], row["annotated"]))]
                    yield job, (r for r in records)
            except ray.exceptions.RayTaskError as exc:
                raise _unwrap(exc) from None
            if expected != len(self.jobs):
                raise FaceApiError(f"Ray returned {expected} of {len(self.jobs)} inputs")

    def records(self) -> Iterator[Record]:
        """Every record, in the local run's order (annotated copies written as they come)."""
        for _, records in self.scheduled():
            yield from records


def _prepare_folder(target: _Parquet) -> None:
    """The dataset's folder: created (0700 for private data), or an existing empty one; a folder that holds
    files already is refused (another run's files would mix with this one's)."""
    from pyarrow import fs as pafs

    filesystem, root = _filesystem(target.root)
    info = filesystem.get_file_info(root)
    if info.type == pafs.FileType.File:
        raise OptionsError(f"--format parquet: {target.root} is a file; --out takes a folder for a dataset")
    if info.type == pafs.FileType.Directory:
        if filesystem.get_file_info(pafs.FileSelector(root, recursive=False)):
            raise OptionsError(f"--format parquet: {target.root} is not empty; give a new or empty folder")
        return
    if isinstance(filesystem, pafs.LocalFileSystem):
        Path(root).parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(root, 0o700 if target.private else 0o755)
    else:
        filesystem.create_dir(root, recursive=True)


def _unwrap(exc: BaseException) -> BaseException:
    """A worker's project error (missing weights, ...) as itself, not wrapped in Ray's exception."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, FaceApiError):
        return cause
    return FaceApiError(f"the Ray job failed: {exc}")


def analyze_on_ray(inputs: Sequence[str | os.PathLike[str]], options: AnalyzeOptions | None = None, *,
                   address: str = "auto", models_dir: str | os.PathLike[str] | None = None,
                   matcher: FaceMatcher | None = None, settings: JobSettings | None = None,
                   config: RayConfig | None = None) -> Iterator[Record]:
    """Analyse images, videos, folders and object-store URIs on a Ray cluster; yields the same records as
    `faceapi analyze` gives locally, in the same order.

    Args:
        inputs: local paths every node can read, or URIs pyarrow can open (``s3://``, ``gs://``, ...).
        options: what to compute (default: `AnalyzeOptions()`); `settings`, when given, wins (videos'
            ``every``, tracking, descriptors in the records).
        address: ``auto`` (a running cluster or $RAY_ADDRESS) or ``host:port`` of the head.
        config: actors, CPUs per actor, batch size, retries (`address` wins over ``config.address``).
    """
    cfg = dataclasses.replace(config or RayConfig(), address=address)
    job = RayJob(inputs, settings or JobSettings(options or AnalyzeOptions()), cfg, models_dir=models_dir,
                 matcher=matcher)
    return job.records()

