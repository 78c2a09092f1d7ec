"""The agent runtime against a real ``netwarden serve``: registration, sync of new
generations, status and drift as the server sees them, flows shipped and acknowledged,
and stopping when the token is revoked or the cluster deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netwarden.agent.backend import ObjectRef
from netwarden.flows.filter_core import FlowFilter
from tests.agent.conftest import (
    FAST,
    ServerProcess,
    TestBackend,
    make_cluster,
    running_agent,
    wait_for,
)

NP = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: 8080}]}]
"""


def cluster_status(server: ServerProcess, cluster_id: str) -> dict[str, Any]:
    with server.admin() as admin:
        found: dict[str, Any] = admin.json("GET", f"/api/v1/clusters/{cluster_id}/status")
        return found


def stored_uuids(server: ServerProcess, cluster: str) -> list[str]:
    with server.admin() as admin:
        flows = admin.query_flows([FlowFilter(source_pod=("shop/",))], limit=10_000)
    return [f.uuid for f in flows if f.uuid.startswith(f"{cluster}-")]


def test_the_agent_registers_syncs_reports_and_ships_flows(
    server: ServerProcess, tmp_path: Path
) -> None:
    fleet = make_cluster(server)
    backend = TestBackend(fleet.cluster)
    acks: list[dict[str, Any]] = []
    with running_agent(
        server.url, fleet.token, backend, tmp_path / "spool", on_ack=lambda s, a: acks.append(a)
    ) as running:
        with server.admin() as admin:
            wait_for(
                lambda: (
                    {n["name"] for n in admin.list_namespaces(fleet.cluster_id)}
                    >= {"shop", "kube-system"}
                ),
                what="the registered namespaces",
            )
            admin.create_policy(fleet.cluster_id, NP, "allow web")
        status = wait_for(
            lambda: (
                (s := cluster_status(server, fleet.cluster_id))["state"] == "synced"
                and s["applied_generation"] >= 1
                and s
            ),
            what="the cluster synced",
        )
        assert status["applied_generation"] == status["desired_generation"]
        objects, _ = backend.applies[-1]
        assert ObjectRef("NetworkPolicy", "shop", "allow-web") in {ObjectRef.of(o) for o in objects}
        assert objects[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "netwarden"

        backend.producing.set()
        wait_for(lambda: len(backend.generated) >= 100, what="100 flows")
        backend.pause()
        wait_for(
            lambda: (
                running.agent.spool.stats().pending_batches == 0
                and set(stored_uuids(server, fleet.cluster)) >= set(backend.generated)
            ),
            what="every flow stored",
        )
        stored = stored_uuids(server, fleet.cluster)
        assert sorted(stored) == sorted(backend.generated)
        assert sum(int(a["stored"]) for a in acks) == len(backend.generated)
        assert all(a["cluster"] == fleet.cluster for a in acks)

        with backend.lock:
            backend.managed[ObjectRef("NetworkPolicy", "shop", "allow-web")]["spec"] = {}
        drifted = wait_for(
            lambda: (s := cluster_status(server, fleet.cluster_id))["state"] == "drifted" and s,
            what="the drift on the server",
        )
        assert drifted["drift"][0]["name"] == "allow-web"
        assert drifted["spool"]["dropped_batches"] == 0
        assert running.stop() is None
    assert backend.closed is False  # the runtime leaves the backend to its owner


def test_a_revoked_token_stops_the_agent_and_keeps_the_spool(
    server: ServerProcess, tmp_path: Path
) -> None:
    fleet = make_cluster(server)
    backend = TestBackend(fleet.cluster)
    with running_agent(server.url, fleet.token, backend, tmp_path / "spool") as running:
        wait_for(
            lambda: cluster_status(server, fleet.cluster_id)["last_heartbeat"],
            what="a heartbeat",
        )
        with server.admin() as admin:
            admin.revoke_token(fleet.token_id)
        running.thread.join(FAST.poll_wait_s + 10)
        assert not running.thread.is_alive()
        assert running.result[0] is not None and "revoked" in running.result[0]
    assert (tmp_path / "spool" / "agent-state.json").exists()


def test_a_deleted_cluster_stops_the_agent(server: ServerProcess, tmp_path: Path) -> None:
    fleet = make_cluster(server)
    backend = TestBackend(fleet.cluster)
    with running_agent(server.url, fleet.token, backend, tmp_path / "spool") as running:
        wait_for(
            lambda: cluster_status(server, fleet.cluster_id)["last_heartbeat"],
            what="a heartbeat",
        )
        with server.admin() as admin:
            admin.delete_cluster(fleet.cluster_id)
        running.thread.join(FAST.poll_wait_s + 10)
        assert not running.thread.is_alive()
        message = running.result[0]
        assert message is not None and ("gone" in message or "revoked" in message)
