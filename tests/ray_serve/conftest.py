"""Fixtures of the Ray Serve tests: one real Ray cluster on 127.0.0.1 (token auth on), one PostgreSQL server of
the module's own (the tests stop and start it), and `faceapi serve --ray ... --replicas 2` run as a user
runs it, in a subprocess; everything stopped by pid at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import faceapi

from helpers import SHARED, missing, require, wait_for
from ray_cluster import free_port, start_cluster
from serving_helpers import REPLICAS, TOKEN, Served, replicas_seen


@pytest.fixture(scope="module")
def images() -> Path:
    folder = SHARED / "images"
    if not (folder / "happy.jpg").is_file():
        missing(f"the shared photos are needed ({folder})")
    return folder


@pytest.fixture(scope="module")
def served(models_dir, postgres, tmp_path_factory) -> Iterator[Served]:
    require("ray.serve")
    require("httpx")
    require("websockets")
    database = type(postgres)()  # a PostgreSQL server of this module's own: the tests stop and start it
    cluster = None
    driver = None
    try:
        cluster = start_cluster(REPLICAS, {"FACEAPI_MODELS": str(models_dir),
                                           "PYTHONPATH": str(Path(faceapi.__file__).parents[1])})
        port = free_port()
        log = tmp_path_factory.mktemp("driver") / "serve.log"
        with open(log, "w") as f:
            driver = subprocess.Popen(
                [sys.executable, "-m", "faceapi.cli.main", "serve", "--ray", cluster.address, "--replicas",
                 str(REPLICAS), "--port", str(port), "--gallery", database.new_url(), "--token", TOKEN,
                 "--workers-threads", "1"],
                env=cluster.env, stdout=f, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        wait_for(lambda: driver.poll() is not None or "behind Ray Serve's proxy" in log.read_text(), 300,
                 "the replicas to start")
        assert driver.poll() is None, log.read_text()[-3000:]
        served = Served(cluster, driver, f"http://127.0.0.1:{port}", port, database, log)
        with served.client() as http:
            served.replicas = replicas_seen(http)
        assert len(served.replicas) == REPLICAS, served.replicas
        yield served
    finally:
        if driver is not None and driver.poll() is None:
            os.killpg(driver.pid, signal.SIGINT)  # the driver takes its replicas down
            with contextlib.suppress(subprocess.TimeoutExpired):
                driver.wait(60)
            if driver.poll() is None:
                driver.kill()
                driver.wait()
        if cluster is not None:
            cluster.stop()
        database.stop()
