"""What the Ray Serve tests share: the token, the deployment under test, authenticated health."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ray_cluster import RayCluster

TOKEN = "ray-serve-test-token-5f0c2a"  # what the tests look for in Ray's logs: must never be there
REPLICAS = 2


@dataclass
class Served:
    """The deployment under test: the cluster, the driver process, the proxy's base URL, the database."""

    cluster: RayCluster
    driver: subprocess.Popen[str]
    base: str
    port: int
    database: object  # tests/conftest.py's PostgresServer
    log: Path
    replicas: set[str] = field(default_factory=set)

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws/stream"

    def client(self, **kw):
        import httpx

        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60, **kw)


def health(client) -> dict:
    r = client.get("/api/health")
    assert r.status_code == 200, r.text
    return json.loads(r.text)


def replicas_seen(client, tries: int = 60) -> set[str]:
    """The replica ids authenticated /api/health names over at most `tries` requests (each routed anew)."""
    seen: set[str] = set()
    for _ in range(tries):
        seen.add(health(client)["replica"])
        if len(seen) == REPLICAS:
            break
    return seen
