"""The runtime's parts without a server: backoff, error classification, the mailbox, and
the sync thread (apply, resume from the saved generation, drift notify/restore,
inventory digests, report retries) over a recording channel."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import pytest

from netwarden.agent.backend import ObjectRef
from netwarden.agent.backoff import Backoff, backoff_delay
from netwarden.agent.channel import (
    AgentChannel,
    DesiredState,
    classify,
    fatal_message,
    route_missing,
)
from netwarden.agent.spool import Spool
from netwarden.agent.state import load_state
from netwarden.agent.sync import Mailbox, Syncer
from netwarden.client.http import ApiError
from tests.agent.conftest import FAST, TestBackend, wait_for
from tests.agent.test_drift import cnp, netpol

# --- backoff -----------------------------------------------------------------------------


def test_backoff_grows_exponentially_within_jitter_and_stops_at_the_cap() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(10.0, 0.5 * 2**attempt)
        for _ in range(50):
            delay = backoff_delay(attempt, base=0.5, cap=10.0, rng=rng)
            assert ceiling / 2 <= delay <= ceiling
    assert backoff_delay(10_000, base=0.5, cap=10.0, rng=rng) <= 10.0
    with pytest.raises(ValueError):
        backoff_delay(-1, base=1, cap=1, rng=rng)


def test_backoff_jitter_spreads_agents_and_reset_starts_over() -> None:
    delays = {round(Backoff(1.0, 60.0, rng=random.Random(seed)).failed(), 6) for seed in range(20)}
    assert len(delays) == 20 and all(0.5 <= d <= 1.0 for d in delays)
    backoff = Backoff(1.0, 60.0, rng=random.Random(1))
    grown = [backoff.failed() for _ in range(4)]
    assert grown[-1] >= 4.0
    backoff.reset()
    assert backoff.failed() <= 1.0


def test_backoff_wait_returns_at_once_when_stopped() -> None:
    stop = threading.Event()
    stop.set()
    assert Backoff(100.0, 100.0).wait(stop) is True
    assert Backoff(0.001, 0.001).wait(threading.Event()) is False


# --- errors ------------------------------------------------------------------------------


def test_errors_are_classified() -> None:
    assert [classify(ApiError(s, "x")) for s in (401, 403, 404)] == ["fatal"] * 3
    assert [classify(ApiError(s, "x")) for s in (0, 429, 500, 502, 503, 504, 507)] == ["retry"] * 7
    assert [classify(ApiError(s, "x")) for s in (400, 409, 413, 415, 422)] == ["reject"] * 5
    assert "revoked" in fatal_message(ApiError(401, "invalid token"))
    assert "cluster is gone" in fatal_message(ApiError(404, "cluster 'c' no longer exists"))
    assert route_missing(ApiError(404, "Not Found")) and route_missing(ApiError(405, "x"))
    assert not route_missing(ApiError(404, "cluster 'c' no longer exists"))


def test_the_mailbox_keeps_the_newest_state() -> None:
    box = Mailbox()
    assert box.take(0) is None
    box.put(DesiredState("c", 1))
    box.put(DesiredState("c", 2))
    taken = box.take(0)
    assert taken is not None and taken.generation == 2 and box.take(0) is None
    box.wake()
    assert box.take(30) is None  # returns at once after a wake


# --- the sync thread ---------------------------------------------------------------------


class RecordingChannel(AgentChannel):
    """The agent protocol recorded in memory; ``errors`` are raised (once each) first."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        self.inventories: list[dict[str, Any]] = []
        self.inventory_calls = 0
        self.report_errors: list[ApiError] = []
        self.inventory_error: ApiError | None = None
        self.lock = threading.Lock()

    def close(self) -> None:
        pass

    def report_status(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if self.report_errors:
                raise self.report_errors.pop(0)
            self.reports.append(body)
        return {"applied_generation": body["generation"]}

    def send_inventory(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.inventory_calls += 1
            if self.inventory_error is not None:
                raise self.inventory_error
            self.inventories.append(body)
        return {"namespaces": len(body["namespaces"])}


class Harness:
    def __init__(self, tmp: Path, backend: TestBackend | None = None) -> None:
        self.backend = backend or TestBackend("c1")
        self.channel = RecordingChannel()
        self.stop = threading.Event()
        self.failures: list[tuple[str, ApiError | None]] = []
        self.syncer = Syncer(
            self.backend,
            self.channel,
            Spool(tmp / "spool", 1 << 20),
            tmp / "spool",
            FAST,
            self.stop,
            lambda where, err: (self.failures.append((where, err)), self.stop.set()),
        )
        self.mailbox = Mailbox()
        self.thread: threading.Thread | None = None

    def run(self, first: DesiredState) -> None:
        self.thread = threading.Thread(target=self.syncer.run, args=(first, self.mailbox))
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.mailbox.wake()
        if self.thread is not None:
            self.thread.join(10)
            assert not self.thread.is_alive()


def desired(generation: int, *objects: dict[str, Any], drift: str = "") -> DesiredState:
    settings = {"drift": drift} if drift else {}
    return DesiredState("c1", generation, list(objects), settings)


def test_start_applies_saves_the_generation_and_reports(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.syncer.start(desired(3, netpol(), cnp()))
    assert len(h.backend.applies) == 1
    saved = load_state(tmp_path / "spool")
    assert saved is not None and (saved.cluster, saved.generation) == ("c1", 3)
    report = h.channel.reports[-1]
    assert report["generation"] == 3 and report["drift"] == []
    assert [o["status"] for o in report["objects"]] == ["applied", "applied"]
    assert report["cilium_version"] == "1.19.4"
    assert report["spool"] == {
        "pending_batches": 0, "pending_flows": 0, "dropped_batches": 0, "dropped_flows": 0,
    }  # fmt: skip
    inventory = h.channel.inventories[-1]
    assert [n["name"] for n in inventory["namespaces"]] == ["kube-system", "shop"]
    assert inventory["pods"][0]["workload"] == "web" and inventory["supported_kinds"] == [
        "CiliumNetworkPolicy", "NetworkPolicy",
    ]  # fmt: skip


def test_a_restarted_agent_does_not_reapply_but_checks_drift(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    first.syncer.start(desired(3, netpol(), cnp()))
    backend = first.backend
    del backend.managed[ObjectRef("CiliumNetworkPolicy", "shop", "dns")]  # while it was down
    again = Harness(tmp_path, backend)
    again.syncer.start(desired(3, netpol(), cnp()))
    assert len(backend.applies) == 1  # not applied again
    report = again.channel.reports[-1]
    assert report["generation"] == 3 and len(report["objects"]) == 2
    assert [(d["name"], d["detail"]) for d in report["drift"]] == [
        ("dns", "missing: not in the cluster")
    ]
    newer = Harness(tmp_path, backend)
    newer.syncer.start(desired(4, netpol()))
    assert len(backend.applies) == 2


def test_a_state_file_of_another_cluster_is_not_trusted(tmp_path: Path) -> None:
    Harness(tmp_path).syncer.start(desired(3, netpol()))
    other = Harness(tmp_path, TestBackend("c2"))
    other.syncer.start(DesiredState("c2", 3, [netpol()], {}))
    assert len(other.backend.applies) == 1


def test_drift_notify_reports_without_touching_the_cluster(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.backend.unmanaged = [ObjectRef("NetworkPolicy", "shop", "hand-made")]
    h.run(desired(1, netpol()))
    try:
        wait_for(lambda: h.channel.reports, what="the first report")
        with h.backend.lock:
            live = h.backend.managed[ObjectRef("NetworkPolicy", "shop", "allow-web")]
            live["spec"]["podSelector"] = {}
        report = wait_for(
            lambda: next((r for r in reversed(h.channel.reports) if r["drift"]), None),
            what="a drift report",
        )
        assert report["drift"][0]["detail"].startswith("changed: spec.podSelector.matchLabels")
        assert report["unmanaged"] == [
            {"kind": "NetworkPolicy", "namespace": "shop", "name": "hand-made"}
        ]
        assert len(h.backend.applies) == 1
    finally:
        h.close()


def test_drift_restore_reapplies_and_reports_the_restored_objects(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.run(desired(1, netpol(), cnp(), drift="restore"))
    try:
        wait_for(lambda: h.channel.reports, what="the first report")
        with h.backend.lock:
            del h.backend.managed[ObjectRef("CiliumNetworkPolicy", "shop", "dns")]
            h.backend.managed[ObjectRef("NetworkPolicy", "shop", "stray")] = netpol("stray")
        report = wait_for(
            lambda: next((r for r in reversed(h.channel.reports) if r["drift"]), None),
            what="a report of the restore",
        )
        assert sorted(d["detail"] for d in report["drift"]) == [
            "restored, extra: managed by netwarden but not desired",
            "restored, missing: not in the cluster",
        ]
        assert len(h.backend.applies) == 2
        assert set(h.backend.managed) == {
            ObjectRef("NetworkPolicy", "shop", "allow-web"),
            ObjectRef("CiliumNetworkPolicy", "shop", "dns"),
        }
        count = len(h.channel.reports)
        wait_for(lambda: len(h.channel.reports) > count, what="the next heartbeat")
        assert h.channel.reports[-1]["drift"] == []  # reported once
    finally:
        h.close()


def test_a_failed_apply_is_retried_and_saved_only_when_complete(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.backend.fail_names = {"dns"}
    h.run(desired(5, netpol(), cnp()))
    try:
        wait_for(lambda: len(h.backend.applies) >= 2, what="a retry of the failed apply")
        assert load_state(tmp_path / "spool") is None
        assert any(o["status"] == "failed" for o in h.channel.reports[0]["objects"])
        h.backend.fail_names = set()
        saved = wait_for(lambda: load_state(tmp_path / "spool"), what="the saved state")
        assert saved.generation == 5
        applies = len(h.backend.applies)
        wait_for(lambda: len(h.channel.reports) >= 3, what="more reports")
        assert len(h.backend.applies) == applies  # no more retries once applied
    finally:
        h.close()


def test_new_generations_from_the_mailbox_are_applied_and_reported(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.run(desired(1, netpol()))
    try:
        wait_for(lambda: h.channel.reports, what="the first report")
        h.mailbox.put(desired(2, netpol(), cnp()))
        wait_for(lambda: any(r["generation"] == 2 for r in h.channel.reports), what="generation 2")
        assert [len(objects) for objects, _ in h.backend.applies] == [1, 2]
    finally:
        h.close()


def test_the_inventory_is_resent_only_when_it_changes(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.run(desired(1))
    try:
        wait_for(lambda: h.channel.inventories, what="the first inventory")
        reports = len(h.channel.reports)
        wait_for(lambda: len(h.channel.reports) >= reports + 2, what="two heartbeats")
        assert len(h.channel.inventories) == 1  # unchanged: not sent again
        with h.backend.lock:
            h.backend.namespaces["payments"] = {"team": "pay"}
        wait_for(lambda: len(h.channel.inventories) == 2, what="the changed inventory")
        assert "payments" in [n["name"] for n in h.channel.inventories[-1]["namespaces"]]
    finally:
        h.close()


def test_a_server_without_the_inventory_route_is_tolerated(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.channel.inventory_error = ApiError(404, "Not Found")
    h.syncer.start(desired(1))
    h.syncer._check_inventory()
    assert h.channel.inventory_calls == 1 and h.failures == []
    assert h.channel.reports  # the agent still reports


def test_report_failures_retry_and_fatal_errors_stop(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.channel.report_errors = [ApiError(0, "cannot reach"), ApiError(503, "busy")]
    h.run(desired(1))
    try:
        wait_for(lambda: h.channel.reports, what="a report after two failures")
        assert h.failures == []
        h.channel.report_errors = [ApiError(401, "invalid token")]
        wait_for(lambda: h.failures, what="the fatal error")
        assert h.failures[0][0] == "status" and h.stop.is_set()
    finally:
        h.close()
