"""Gallery load time: how long a server takes to load N people (one descriptor each) into its matcher, and
to pick up one change made by another connection, for the SQLite and PostgreSQL stores.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_gallery_load.py --people 10000 100000

PostgreSQL is started in a temporary folder as the tests do (tests/conftest.py's PostgresServer). Rows are
written with one multi-row INSERT per 5,000 (the load is what is timed, not enrolment).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _fill(g, n: int) -> None:
    from faceapi.gallery import name_key

    vecs = np.random.default_rng(0).normal(0, 0.14, (n, 128)).astype("<f4")
    with g._transaction() as version:
        for start in range(0, n, 5000):
            stop = min(n, start + 5000)
            for i in range(start, stop):
                name = f"person {i}"
                pid = g._q("INSERT INTO people (name, name_key, created, revision) VALUES (?, ?, 'x', ?) RETURNING id",
                           (name, name_key(name), version)).fetchone()[0]
                g._q("INSERT INTO descriptors (person_id, vector, created) VALUES (?, ?, 'x')",
                     (pid, vecs[i].tobytes()))


def _measure(kind: str, open_store, n: int) -> None:
    writer = open_store()
    _fill(writer, n)
    reader = open_store()
    t = time.perf_counter()
    m = reader.matcher()
    load = time.perf_counter() - t
    assert len(m) == n
    writer.enrol("one more", np.random.default_rng(1).normal(0, 0.14, (1, 128)))
    t = time.perf_counter()
    m = reader.matcher()
    change = time.perf_counter() - t
    assert len(m) == n + 1
    print(f"{kind:10s} {n:7d} people: full load {load * 1000:8.0f} ms, one change picked up in {change * 1000:6.1f} ms")
    writer.close()
    reader.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    args = ap.parse_args()
    from faceapi.gallery import Gallery

    pg = None
    try:
        for n in args.people:
            if "sqlite" in args.stores:
                with tempfile.TemporaryDirectory() as d:
                    _measure("sqlite", lambda d=d: Gallery(Path(d) / "g.sqlite3"), n)
            if "postgresql" in args.stores:
                from faceapi.gallery.postgres import PostgresGallery

                from conftest import PostgresServer

                pg = pg or PostgresServer()
                url = pg.new_url()
                _measure("postgresql", lambda url=url: PostgresGallery(url, poll_interval=0), n)
    finally:
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    main()
