"""Where each net's time goes: onnxruntime's profiler, per op type and per node, at batch 1 and batch 6.

For every net, runs the graph (pre-processing excluded) `--runs` times with profiling on and prints a
markdown table of the op types by share of the kernel time, then the slowest single nodes. With
``--pre`` it times instead each net's whole call at batch 1 split into pre-processing, graph and post-processing.
Usage: ``python benchmarks/bench_profile.py [--nets NAME ...] [--batches 1 6] [--runs N] [--top K]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

import onnxruntime as ort
from bench_common import MODULES, NETS, bbt4, graph_input, load_crops, load_net, timed

from faceapi.engine.runtime import RuntimeConfig, session_options


def profile(model: bytes, batch: object, runs: int, threads: int | None) -> list[dict]:
    """Kernel events (name, op, µs) of `runs` runs after two unprofiled-in-spirit warm-up runs."""
    options, providers = session_options(RuntimeConfig(threads=threads))
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(model, sess_options=options, providers=providers)
        name = session.get_inputs()[0].name
        for _ in range(2 + runs):
            session.run(None, {name: batch})
        events = json.loads(Path(session.end_profiling()).read_text())
    kernels = [e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    # drop the warm-up runs: every run has the same number of kernel events
    per_run = len(kernels) // (2 + runs)
    return kernels[2 * per_run:]


def table(name: str, batch: int, kernels: list[dict], runs: int, top: int) -> str:
    by_op: dict[str, float] = collections.defaultdict(float)
    count: dict[str, int] = collections.defaultdict(int)
    by_node: dict[str, float] = collections.defaultdict(float)
    for k in kernels:
        op = k["args"].get("op_name", "?")
        by_op[op] += k["dur"]
        count[op] += 1
        by_node[f'{k["name"].removesuffix("_kernel_time")} ({op})'] += k["dur"]
    total = sum(by_op.values())
    lines = [f"### {name}, batch {batch}: {total / runs / 1000:.2f} ms of kernels per run", "",
             "| op | nodes | ms per run | share |", "|---|---|---|---|"]
    for op, us in sorted(by_op.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {op} | {count[op] // runs} | {us / runs / 1000:.3f} | {100 * us / total:.1f}% |")
    lines += ["", "slowest nodes: " + ", ".join(
        f"{n} {us / runs / 1000:.3f} ms" for n, us in sorted(by_node.items(), key=lambda kv: -kv[1])[:top]), ""]
    return "\n".join(lines)


def split_times(name: str, net: object, reps: int) -> str:
    """One table row: the whole call at batch 1 split into pre-processing, graph and the rest (post)."""
    from faceapi.options import TinyFaceDetectorOptions

    kind = NETS[name][1]
    if kind == "image":
        image = bbt4()
        if name == "ssd_mobilenetv1":
            pre = lambda: MODULES[name].preprocess(image)  # noqa: E731
            whole = lambda: net.detect(image)  # type: ignore[attr-defined]  # noqa: E731
        else:
            pre = lambda: MODULES[name].preprocess(image, 416)  # noqa: E731
            whole = lambda: net.detect(image, TinyFaceDetectorOptions(input_size=416))  # type: ignore[attr-defined]  # noqa: E731,E501
    else:
        crops = load_crops(kind)[:1]
        pre = lambda: MODULES[name].preprocess(crops)  # noqa: E731
        whole = lambda: net.predict(crops)  # type: ignore[attr-defined]  # noqa: E731
    batch = graph_input(name, 1)
    t_pre = timed(pre, reps)[0]
    t_graph = timed(lambda: net.forward(batch), reps)[0]  # type: ignore[attr-defined]
    t_whole = timed(whole, reps)[0]
    return (f"| {name} | {t_whole:.2f} | {t_pre:.2f} ({100 * t_pre / t_whole:.0f}%) | {t_graph:.2f} "
            f"| {max(t_whole - t_pre - t_graph, 0):.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=list(NETS))
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 6])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--save", type=Path, help="also write the tables to this file")
    parser.add_argument("--pre", action="store_true", help="only the pre/graph/post split at batch 1")
    args = parser.parse_args(argv)
    out = []
    if args.pre:
        out += ["| net, batch 1 | whole call ms | pre-processing ms | graph ms | post-processing ms |",
                "|---|---|---|---|---|"]
        print("\n".join(out), flush=True)
        for name in args.nets:
            out.append(split_times(name, load_net(name, RuntimeConfig(threads=args.threads)), args.runs))
            print(out[-1], flush=True)
        if args.save:
            args.save.write_text("\n".join(out))
        return
    for name in args.nets:
        net = load_net(name, RuntimeConfig(threads=args.threads))
        for batch in args.batches:
            runs = args.runs if name != "ssd_mobilenetv1" else max(args.runs // 4, 3)
            kernels = profile(net.model_bytes, graph_input(name, batch), runs, args.threads)
            out.append(table(name, batch, kernels, runs, args.top))
            print(out[-1], flush=True)
    if args.save:
        args.save.write_text("\n".join(out))


if __name__ == "__main__":
    main()
