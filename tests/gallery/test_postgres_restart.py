"""PostgreSQL restarted under a `PostgresGallery` (a server of the test's own, stopped and started by pid):
while it is down, writes fail with GalleryUnreachableError and write nothing, `reachable()` says False, and
matching goes on with the people loaded; once it is back, the very next operation succeeds (a dead
connection is replaced at BEGIN) and another connection's writes are picked up again."""

from __future__ import annotations

import time

import numpy as np
import pytest

from faceapi.gallery import GalleryUnreachableError
from faceapi.gallery.postgres import RETRY_AFTER_S, PostgresGallery


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def database(postgres):
    server = type(postgres)()  # of this test's own: it is stopped and started
    yield server
    server.stop()


def test_a_restart_is_survived(database):
    url = database.new_url()
    reader, writer = PostgresGallery(url, poll_interval=0), PostgresGallery(url, poll_interval=0)
    idle = PostgresGallery(url)  # not used while the database is down: its connection dies unnoticed
    try:
        writer.enrol("amy", [unit(1)])
        assert reader.matcher().find_best_match(unit(1)).label == "amy"
        assert reader.reachable()

        database.halt()
        assert not reader.reachable()
        with pytest.raises(GalleryUnreachableError, match="gallery database"):
            writer.enrol("bob", [unit(2)])
        assert reader.matcher().find_best_match(unit(1)).label == "amy"  # the loaded people keep matching

        database.resume()
        assert idle.enrol("cy", [unit(3)]).created_person  # its dead connection is replaced, not an error
        assert writer.enrol("bob", [unit(2)]).created_person  # the retry: no error left over from the outage
        assert [p.name for p in writer.people()] == ["amy", "bob", "cy"]  # the failed attempt wrote nothing
        assert reader.reachable()
        # another connection's write is seen again once the outage's back-off (RETRY_AFTER_S) is over
        deadline = time.monotonic() + RETRY_AFTER_S + 5
        while reader.matcher().find_best_match(unit(2)).label != "bob":
            assert time.monotonic() < deadline, "the reader did not pick up the write after the restart"
            time.sleep(0.05)
    finally:
        for g in (reader, writer, idle):
            g.close()
