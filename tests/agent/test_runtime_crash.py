"""The server dies (SIGKILL) mid-stream and comes back on the same data directory and
port: the agent keeps spooling, reconnects, resends what was not acknowledged, and every
flow ends up stored exactly once. With a small spool, the oldest batches are dropped
during the outage, counted, and reported once the server is back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netwarden.agent.spool import Segment
from tests.agent.conftest import (
    ServerProcess,
    TestBackend,
    make_cluster,
    running_agent,
    wait_for,
)
from tests.agent.test_runtime_server import cluster_status, stored_uuids


@pytest.fixture(scope="module")
def crash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("crash") / "data")
    proc.start()
    yield proc
    proc.stop()


class Acks:
    def __init__(self) -> None:
        self.items: list[tuple[Segment, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def __call__(self, segment: Segment, ack: dict[str, Any]) -> None:
        with self.lock:
            self.items.append((segment, ack))

    def stored(self) -> int:
        with self.lock:
            return sum(int(ack["stored"]) for _, ack in self.items)

    def __len__(self) -> int:
        with self.lock:
            return len(self.items)


def test_a_server_crash_loses_no_acknowledged_flow_and_stores_none_twice(
    crash_server: ServerProcess, tmp_path: Path
) -> None:
    fleet = make_cluster(crash_server)
    backend = TestBackend(fleet.cluster, every=0.02, batch=10)
    acks = Acks()
    with running_agent(
        crash_server.url, fleet.token, backend, tmp_path / "spool", on_ack=acks
    ) as running:
        backend.producing.set()
        wait_for(lambda: len(acks) >= 5, what="acknowledged batches")
        crash_server.kill()
        killed_at = len(backend.generated)
        wait_for(lambda: running.agent.sender.failures > 0, what="the agent noticing")
        wait_for(lambda: len(backend.generated) >= killed_at + 300, what="flows during the outage")
        assert running.agent.spool.stats().pending_batches > 0  # spooled, not lost
        crash_server.start()
        resumed = len(acks)
        wait_for(lambda: len(acks) >= resumed + 5, timeout=30, what="acks after the restart")
        backend.pause()
        wait_for(
            lambda: running.agent.sender.acked_flows >= len(backend.generated),
            timeout=30,
            what="every flow acknowledged",
        )
        stored = stored_uuids(crash_server, fleet.cluster)
        assert len(stored) == len(set(stored)), "a flow was stored twice"
        assert set(stored) == set(backend.generated)
        # Nothing counted twice: the acknowledgements add up to the flows generated, a
        # resent batch (acknowledgement lost in the crash) stores nothing.
        assert acks.stored() == len(backend.generated)
        status = wait_for(
            lambda: (
                (s := cluster_status(crash_server, fleet.cluster_id))["last_heartbeat"]
                and s["spool"]["dropped_batches"] == 0
                and s
            ),
            what="a heartbeat after the restart",
        )
        assert status["state"] == "synced"
        assert running.stop() is None


def test_a_full_spool_drops_the_oldest_batches_and_reports_them(
    crash_server: ServerProcess, tmp_path: Path
) -> None:
    fleet = make_cluster(crash_server)
    backend = TestBackend(fleet.cluster, every=0.01, batch=20)
    acks = Acks()
    with running_agent(
        crash_server.url,
        fleet.token,
        backend,
        tmp_path / "spool",
        max_bytes=16 * 1024,
        on_ack=acks,
    ) as running:
        backend.producing.set()
        wait_for(lambda: len(acks) >= 3, what="acknowledged batches")
        crash_server.kill()
        wait_for(lambda: running.agent.spool.stats().dropped_batches >= 3, what="dropped batches")
        backend.pause()
        spool = running.agent.spool
        assert spool.stats().pending_bytes <= spool.max_bytes + max(
            (s.size for s in spool.segments()), default=0
        )
        crash_server.start()
        wait_for(lambda: spool.stats().pending_batches == 0, timeout=30, what="the spool drained")
        dropped = spool.stats()
        status = wait_for(
            lambda: (
                (s := cluster_status(crash_server, fleet.cluster_id))["spool"]["dropped_batches"]
                == dropped.dropped_batches
                and s
            ),
            what="the drops reported",
        )
        assert status["spool"]["dropped_flows"] == dropped.dropped_flows
        stored = stored_uuids(crash_server, fleet.cluster)
        assert len(stored) == len(set(stored)) and set(stored) <= set(backend.generated)
        assert len(stored) == len(backend.generated) - dropped.dropped_flows
        kept = set(stored)
        missing = [i for i, uuid in enumerate(backend.generated) if uuid not in kept]
        assert missing == list(range(missing[0], missing[0] + len(missing)))  # one run
        assert missing[0] > 0 and missing[-1] < len(backend.generated) - 1  # of the oldest
        assert acks.stored() == len(stored)
        running.stop()
