"""The proof of recommendations on the simulated demo application, through the API.

The storefront runs without policies; its flows (two days ago and the last hour) go
into the flow store; every workload's recommendation is accepted through the API; the
cluster's desired state is applied to the simulated cluster, whose engine then decides
each kind of traffic again: every legitimate connection stays allowed, the scanner and
catalog's connection to 203.0.113.66:4444 are denied. Traffic after the change shows as
drift for the workloads that see it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from netwarden.agent.inventory import inventory_body
from netwarden.agent.simulated import SimulatedCluster, load_simulated
from netwarden.api.app import create_app
from netwarden.api.auth import ControlPlaneAuthenticator
from netwarden.control.bootstrap import bootstrap
from netwarden.control.db import Database, open_database, sqlite_url
from netwarden.control.inventory import record_inventory
from netwarden.control.models import AuditEntry, Cluster, DesiredState
from netwarden.flows.decode import decode_lines
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.service import FlowService

TOPOLOGY = "examples/topologies/storefront.yaml"
NAMESPACES = ("ingress-nginx", "kube-system", "storefront", "tools")
HOUR_NS = 3600 * 10**9
ENFORCE = {"enforcementMode": "enforce", "policyEnforcement": "default"}


@dataclass
class Stack:
    client: TestClient
    token: str
    cluster_id: str
    db: Database
    flows: FlowService
    sim: SimulatedCluster

    def call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        response = self.client.request(method, path, headers=headers, **kw)
        assert response.status_code < 300, response.text
        return response.json()

    def base(self, namespace: str) -> str:
        return f"/api/v1/clusters/{self.cluster_id}/namespaces/{namespace}"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    db = open_database(sqlite_url(tmp_path / "control.db"))
    with db.session() as s:
        boot = bootstrap(s, "acme")
        assert boot is not None
    flows = FlowService(DuckDBFlowStore())
    app = create_app(flow_service=flows, authenticator=ControlPlaneAuthenticator(db), db=db)
    sim = load_simulated(TOPOLOGY, "c1", seed=1)
    with TestClient(app, raise_server_exceptions=False) as client:
        st = Stack(client, boot.token, "", db, flows, sim)
        project = st.call("POST", "/api/v1/projects", json={"name": "shop"})["id"]
        body = {"name": "c1", "project": project}
        st.cluster_id = st.call("POST", "/api/v1/clusters", json=body)["id"]
        with db.session() as s:
            cluster = s.get(Cluster, st.cluster_id)
            assert cluster is not None
            record_inventory(s, cluster, inventory_body(sim.inventory()))
        now = time.time_ns()
        for start in (now - 48 * HOUR_NS, now - HOUR_NS):
            ack = flows.ingest_lines(sim.generate(15_000, start_ns=start), "c1")
            assert ack.error_count == 0
        yield st
    db.close()


def desired_objects(st: Stack) -> list[dict[str, Any]]:
    with st.db.session() as s:
        state = s.get(DesiredState, st.cluster_id)
        assert state is not None
        return [dict(o) for o in state.objects]


def test_recommendations_accepted_for_every_workload_keep_legit_traffic_and_deny_the_rest(
    stack: Stack,
) -> None:
    st = stack
    accepted = []
    for namespace in NAMESPACES:
        listing = st.call("GET", st.base(namespace) + "/recommendations")
        assert listing["workloads"], namespace
        assert listing["counts"]["recommendation-available"] == len(listing["workloads"])
        for item in listing["workloads"]:
            name = item["workload"]
            detail = st.call("GET", st.base(namespace) + f"/recommendations/{name}")
            assert detail["proof"]["ok"], detail["proof"]
            assert detail["proof"]["covered_edges"] == detail["proof"]["learned_edges"]
            for rule in detail["rule_evidence"]:
                assert rule["evidence"]["flows"] > 0 and rule["evidence"]["examples"]
            policy = st.call(
                "POST", st.base(namespace) + f"/recommendations/{name}/accept", json={}
            )
            assert policy["message"] == "accepted recommendation"
            accepted.append((namespace, name))
    assert ("tools", "pods:app=scanner") in accepted
    assert len(accepted) == 10  # 8 workloads, coredns, the scanner pod

    st.sim.apply(desired_objects(st), ENFORCE)
    verdicts = st.sim.verdicts()
    unexpected = [v for v in verdicts if v.kind == "scan" or "203.0.113.66" in v.label]
    legit = [v for v in verdicts if v not in unexpected]
    assert len(unexpected) > 40 and len(legit) > 20
    assert [v.label for v in legit if not v.decision.allowed] == []
    assert [v.label for v in unexpected if v.decision.allowed] == []

    # The flows the cluster makes now: only the unexpected traffic is dropped.
    dropped = [
        f for f in decode_lines(st.sim.generate(20_000)).flows if f.verdict.name == "DROPPED"
    ]
    assert dropped
    for flow in dropped:
        src = flow.source.namespace or flow.IP.source  # type: ignore[union-attr]
        dst = flow.IP.destination  # type: ignore[union-attr]
        assert src == "tools" or dst == "203.0.113.66", flow

    with st.db.session() as s:
        audit = s.query(AuditEntry).filter_by(resource_kind="policy", action="create").all()
        assert len(audit) == 10
        assert {a.detail for a in audit} == {"accepted recommendation"}


def test_drift_shows_new_traffic_the_accepted_policy_denies(stack: Stack) -> None:
    st = stack
    st.call("POST", st.base("storefront") + "/recommendations/catalog/accept", json={})
    time.sleep(0.01)
    before = st.call("GET", st.base("storefront") + "/drift?since=1h")
    catalog = next(w for w in before["workloads"] if w["workload"] == "catalog")
    assert catalog["policies"] and not catalog["drift"]  # only earlier traffic so far

    st.sim.apply(desired_objects(st), ENFORCE)
    st.flows.ingest_lines(st.sim.generate(20_000), "c1")  # from now on, ~100 s of traffic
    later = datetime.now(UTC) + timedelta(minutes=10)
    window = {"since": "1h", "until": later.isoformat()}
    after = st.call("GET", st.base("storefront") + "/drift", params=window)
    catalog = next(w for w in after["workloads"] if w["workload"] == "catalog")
    assert catalog["drift"] and after["drift"]
    shown = {(e["from"], e["to"], e["port"]) for e in catalog["edges"]}
    assert ("storefront/catalog", "203.0.113.66", 4444) in shown
    assert all(
        e["from"].startswith("tools/") or e["to"] == "203.0.113.66" for e in catalog["edges"]
    )
    assert all(e["evidence"]["examples"] for e in catalog["edges"])
    frontend = next(w for w in after["workloads"] if w["workload"] == "frontend")
    assert not frontend["policies"] and not frontend["drift"]

    window["min_learning"] = "0s"
    listing = st.call("GET", st.base("storefront") + "/recommendations", params=window)
    row = next(w for w in listing["workloads"] if w["workload"] == "catalog")
    assert row["status"] == "policy-applied" and row["drift"]
    metrics = st.client.get("/metrics", headers={"Authorization": f"Bearer {st.token}"}).text
    assert (
        'netwarden_recommendation_drift_edges{cluster="c1",namespace="storefront",workload="catalog"}'
        in metrics
    )
