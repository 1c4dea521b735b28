"""The one place that builds onnxruntime sessions: the runtime settings (`RuntimeConfig`), the shared pool and
the sessions. The on-disk cache of built graphs is `faceapi.engine.graph_cache`; the nets' base class,
`faceapi.nets.base.OnnxNet`, uses both (this module knows nothing of nets).

Sessions are created once per net and shared: ``InferenceSession.run`` is thread-safe. The execution
providers come from `RuntimeConfig` or ``$FACEAPI_PROVIDERS`` (comma separated), so an installed
``onnxruntime-gpu`` is used through its CUDA provider without code changes.

Threads: each session has an intra-op pool of its own (the default), whose idle threads spin for a
bounded time (`RuntimeConfig.spin_us`, 20 µs) before they sleep: long enough to bridge the gap between
one op and the next within a run (a small net at batch 1 otherwise pays the pool's wake-up on every op,
a quarter to 45 % of its time), short enough that a finished net's threads leave the cores to the next
net, to other requests and to other processes. Or every CPU session of the process shares one onnxruntime
pool (`RuntimeConfig.shared_pool`, ``FACEAPI_SHARED_POOL=1``), which always spins as long as onnxruntime's
default (docs/design-notes.md, "Thread pools", has the figures).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from faceapi.errors import OptionsError

if TYPE_CHECKING:  # onnxruntime is needed only to run a graph
    import onnxruntime as ort

log = logging.getLogger("faceapi")
log.addHandler(logging.NullHandler())

CPU = "CPUExecutionProvider"

#: "float": face-api.js's numbers; "int8": the nets of `faceapi.engine.quantize.INT8_MODELS` quantised.
Precision = Literal["float", "int8"]
PRECISIONS: tuple[Precision, ...] = ("float", "int8")

#: How long an idle thread of a session's own pool spins before sleeping, in microseconds: chosen by
#: measurement (docs/design-notes.md, "Thread pools": 14-44 % faster than never spinning on a quiet machine, as
#: fast with three streams or a loaded machine, where 100 µs was already 10-25 % slower).
DEFAULT_SPIN_US = 20
#: More than this is spinning for good: one second.
MAX_SPIN_US = 1_000_000


def _check_spin_us(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SPIN_US:
        raise OptionsError(f"{what} must be 0..{MAX_SPIN_US} microseconds, got {value!r}")
    return value


@dataclass(frozen=True)
class RuntimeConfig:
    """How sessions run.

    threads: intra-op threads; None reads ``$FACEAPI_THREADS``, and 0 (its default) lets onnxruntime use
        every physical core.
    providers: execution providers in order of preference; None reads ``$FACEAPI_PROVIDERS``, else CUDA
        when installed, then CPU.
    shared_pool: run every CPU session of the process on one onnxruntime intra-op pool; None reads
        ``$FACEAPI_SHARED_POOL`` (``1`` turns it on; off by default). The first session built with it
        (and CPU-only providers) creates the pool with its ``threads``. Once it exists, onnxruntime's
        Python binding refuses sessions with pools of their own, so every later session of the process
        (faceapi's, and anything else that builds onnxruntime sessions: see `session_options`) uses it,
        whatever its own ``threads`` or ``shared_pool`` say (logged once per differing request;
        `shared_pool_threads` reads the size back). So several analyzers in one process share the first
        one's thread count, the server's request threads share one pool, and each worker process of
        ``faceapi analyze --workers`` has its own. A first session on other providers (CUDA) does not
        create the pool.
    spin_us: how long, in microseconds, an idle thread of a session's own pool spins waiting for work
        before it sleeps (onnxruntime's ``session.intra_op.spin_duration_us``); None reads
        ``$FACEAPI_SPIN_US``, default `DEFAULT_SPIN_US`; 0 never spins. onnxruntime's own default, a far
        longer spin, let a finished net's threads take the cores from the next net's; no spinning makes
        a small net wake its pool on every op. The shared pool always spins (onnxruntime 1.32 has no
        switch for it from Python).
    precision: ``"float"`` (the default: face-api.js's numbers) or ``"int8"``: the nets in
        `faceapi.engine.quantize.INT8_MODELS` (SSD and the descriptor net) run a statically quantised
        graph, 2-4x faster with a small loss measured in docs/speed.md ("int8: the option and its measurements");
        the other nets stay float.
    """

    threads: int | None = None
    providers: tuple[str, ...] | None = None
    shared_pool: bool | None = None
    spin_us: int | None = None
    precision: Precision = "float"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise OptionsError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.spin_us is not None:
            _check_spin_us(self.spin_us, "spin_us")

    def resolved_providers(self) -> list[str]:
        if self.providers:
            return list(self.providers)
        env = os.environ.get("FACEAPI_PROVIDERS")
        if env:
            return [p.strip() for p in env.split(",") if p.strip()]
        import onnxruntime as ort

        available = ort.get_available_providers()
        preferred = [p for p in ("CUDAExecutionProvider",) if p in available]
        return preferred + [CPU]

    def resolved_threads(self) -> int:
        if self.threads is not None:
            return self.threads
        return int(os.environ.get("FACEAPI_THREADS", "0"))

    def resolved_spin_us(self) -> int:
        if self.spin_us is not None:
            return self.spin_us
        env = os.environ.get("FACEAPI_SPIN_US", "").strip()
        if not env:
            return DEFAULT_SPIN_US
        try:
            value = int(env)
        except ValueError:
            raise OptionsError(f"FACEAPI_SPIN_US must be a whole number of microseconds, got {env!r}") from None
        return _check_spin_us(value, "FACEAPI_SPIN_US")

    def resolved_shared_pool(self) -> bool:
        if self.shared_pool is not None:
            return self.shared_pool
        return os.environ.get("FACEAPI_SHARED_POOL", "0").strip().lower() in ("1", "true", "yes", "on")


class _SharedPool:
    """The process's onnxruntime global intra-op pool: whether it exists, its size, what was said about it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exists = False
        self.threads: int | None = None  # None while absent, or when something else in the process made it
        self.reported: set[tuple[int, bool]] = set()

    def use(self, config: RuntimeConfig, threads: int, providers: list[str]) -> bool:
        """Whether a session for `config` runs on the shared pool, creating the pool if this is the first."""
        with self.lock:
            shared = config.resolved_shared_pool()
            if not self.exists:
                if not shared or providers != [CPU]:
                    return False
                from onnxruntime.capi import _pybind_state

                try:
                    _pybind_state.set_global_thread_pool_sizes(threads, 1)
                    self.threads = threads
                except Exception as exc:  # onnxruntime raises its own Fail when the pools exist already
                    if "already been created" not in str(exc):
                        raise
                    log.info("onnxruntime's global thread pool was created outside faceapi; using it")
                self.exists = True
                return True
            request = (threads, shared)
            if (threads != self.threads or not shared) and request not in self.reported:
                self.reported.add(request)
                log.warning(
                    "onnxruntime thread pool: asked for %s threads%s, but this process already runs its sessions "
                    "on one shared pool of %s threads (onnxruntime sizes it once per process); using that",
                    threads or "all", "" if shared else " on a pool of its own",
                    "unknown" if self.threads is None else (self.threads or "all"),
                )
            return True


_POOL = _SharedPool()


def shared_pool_threads() -> int | None:
    """The size faceapi gave the process's shared onnxruntime pool (0: every core); None while it has none."""
    return _POOL.threads if _POOL.exists else None


def session_options(config: RuntimeConfig | None = None) -> tuple[ort.SessionOptions, list[str]]:
    """Session options and providers for `config` in this process (shared pool or a session's own).

    Anything in the process that builds an onnxruntime session once the shared pool exists must use
    options like these: onnxruntime refuses a session with a pool of its own from then on.
    """
    import onnxruntime as ort

    config = config or RuntimeConfig()
    providers = config.resolved_providers()
    threads = config.resolved_threads()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if _POOL.use(config, threads, providers):
        options.use_per_session_threads = False
    else:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        spin_us = config.resolved_spin_us()
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_us else "0")
        if spin_us:
            options.add_session_config_entry("session.intra_op.spin_duration_us", str(spin_us))
    return options, providers


def create_session(model: bytes, config: RuntimeConfig | None = None) -> ort.InferenceSession:
    import onnxruntime as ort

    options, providers = session_options(config)
    return ort.InferenceSession(model, sess_options=options, providers=providers)
