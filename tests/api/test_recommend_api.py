"""Recommendation routes: who may read and accept where, evidence limited to the caller's
flow scope, accept as a policy version (create, then update) with its audit entry, and
the side-by-side data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from netwarden.agent.simulated import load_simulated
from netwarden.flows.service import FlowService
from tests.api.test_org_api import Org1, call, ok, org1  # noqa: F401 (fixture)
from tests.control.conftest import database_url, db  # noqa: F401 (fixtures)

TOPOLOGY = """apiVersion: netwarden.dev/v1
kind: Topology
metadata: {name: tiny}
spec:
  nodes: 1
  namespaces: [{name: shop}, {name: web}]
  workloads:
  - {namespace: web, name: front, labels: {app: front}, ports: [{name: http, port: 8080}]}
  - {namespace: shop, name: db, kind: StatefulSet, labels: {app: db},
     ports: [{name: pg, port: 5432}]}
  calls:
  - {from: 192.0.2.10, to: web/front, port: 8080, rate: 5}
  - {from: web/front, to: shop/db, port: 5432, rate: 5}
"""
HOUR_NS = 3600 * 10**9


@pytest.fixture
def org(org1: Org1, tmp_path: Path) -> Org1:  # noqa: F811
    path = tmp_path / "tiny.yaml"
    path.write_text(TOPOLOGY)
    sim = load_simulated(str(path), "c1", seed=3)
    flows: FlowService = org1.client.app.state.flows  # type: ignore[attr-defined]
    flows.ingest_lines(sim.generate(3000, start_ns=time.time_ns() - 30 * HOUR_NS), "c1")
    return org1


def base(org: Org1, ns: str) -> str:
    return f"/api/v1/clusters/{org.ids['c1']}/namespaces/{ns}/recommendations"


def accept(org: Org1, role: str, path: str, body: dict[str, Any]) -> Any:
    """POST .../accept as a client does on a production cluster (c1 is env=prod): the
    recommendation's YAML is previewed first and the preview's token sent."""
    token = org.tokens[role]
    shown = call(org.client, token, "GET", path.removesuffix("/accept"), params=body)
    headers = {}
    if shown.status_code == 200 and shown.json().get("yaml"):
        preview = call(
            org.client, token, "POST", f"/api/v1/clusters/{org.ids['c1']}/preview",
            json={"yaml": shown.json()["yaml"]},
        )  # fmt: skip
        if preview.status_code == 200:
            headers = {"X-Netwarden-Preview": preview.json()["token"]["value"]}
    return call(org.client, token, "POST", path, json=body, headers=headers)


def get(org: Org1, role: str, path: str, **kw: Any) -> Any:
    return call(org.client, org.tokens[role], "GET", path, **kw)


@pytest.mark.parametrize(
    ("role", "ns", "expected"),
    [
        ("workspace-admin", "shop", 200),
        ("workspace-viewer", "shop", 200),
        ("workspace-admin", "web", 403),
        ("project-viewer", "web", 200),
        ("infra-admin", "shop", 403),
        ("nobody", "shop", 403),
    ],
)
def test_who_may_read_recommendations(org: Org1, role: str, ns: str, expected: int) -> None:
    assert get(org, role, base(org, ns)).status_code == expected


def test_listing_statuses_and_evidence_in_scope(org: Org1) -> None:
    listing = ok(get(org, "workspace-admin", base(org, "shop")))
    assert listing["counts"]["recommendation-available"] == 1
    [row] = listing["workloads"]
    assert (row["workload"], row["status"], row["drift"]) == (
        "db",
        "recommendation-available",
        False,
    )
    detail = ok(get(org, "workspace-admin", base(org, "shop") + "/db"))
    [rule] = detail["rule_evidence"]
    assert rule["description"] == "ingress from web/front on 5432/TCP"
    assert rule["evidence"]["flows"] > 0 and rule["evidence"]["examples"]
    assert detail["proof"]["ok"]
    compare = detail["compare"]
    assert compare["current"] == [] and "+kind: CiliumNetworkPolicy" in compare["text_diff"]
    assert compare["connections"]["available"] is False  # no inventory reported
    young = ok(get(org, "workspace-admin", base(org, "shop"), params={"min_learning": "48h"}))
    assert young["workloads"][0]["status"] == "not-enough-runtime-data"
    assert young["workloads"][0]["reason"].startswith("too new")
    k8s = ok(get(org, "workspace-admin", base(org, "shop") + "/db", params={"format": "k8s"}))
    assert "kind: NetworkPolicy" in k8s["yaml"]
    assert "namespaceSelector" in k8s["yaml"] and "kubernetes.io/metadata.name: web" in k8s["yaml"]


def test_evidence_is_the_workloads_own_traffic(org: Org1) -> None:
    front = ok(get(org, "project-viewer", base(org, "web") + "/front"))
    assert {r["description"] for r in front["rule_evidence"]} == {
        "ingress from 192.0.2.10/32 on 8080/TCP",
        "egress to kube-system/coredns on 53/UDP",
        "egress to shop/db on 5432/TCP",
    }
    shop = ok(get(org, "workspace-admin", base(org, "shop") + "/db"))
    shown = [r["peer"]["namespace"] for r in shop["rule_evidence"]]
    assert shown == ["web"]  # the peer of shop's own edge, no other edge of the cluster


def test_accept_creates_then_updates_the_namespace_policy_with_audit(
    org: Org1, tmp_path: Path
) -> None:
    path = base(org, "shop") + "/db/accept"
    refused = call(org.client, org.tokens["workspace-viewer"], "POST", path, json={})
    assert refused.status_code == 403
    unpreviewed = call(org.client, org.tokens["workspace-admin"], "POST", path, json={})
    assert unpreviewed.status_code == 428  # c1 is env=prod: preview first
    first = ok(accept(org, "workspace-admin", path, {}), 201)
    assert (first["version"], first["message"]) == (1, "accepted recommendation")
    again = ok(accept(org, "workspace-admin", path, {"format": "cilium"}), 201)
    assert again["id"] == first["id"] and again["version"] == 1  # unchanged: no new version
    # New traffic (front -> db on 6432): the recommendation changes, accepting updates it.
    more = TOPOLOGY.replace(
        "port: 5432, rate: 5}",
        "port: 5432, rate: 5}\n  - {from: web/front, to: shop/db, port: 6432, rate: 5}",
    )
    path_more = tmp_path / "more.yaml"
    path_more.write_text(more)
    sim = load_simulated(str(path_more), "c1", seed=4)
    flows: FlowService = org.client.app.state.flows  # type: ignore[attr-defined]
    flows.ingest_lines(sim.generate(3000, start_ns=time.time_ns() - 29 * HOUR_NS), "c1")
    body = {"format": "cilium", "message": "tighter"}
    second = ok(accept(org, "workspace-admin", path, body), 201)
    assert second["version"] == 2 and "6432" in second["yaml"]
    audit = ok(call(org.client, org.tokens["org-admin"], "GET", "/api/v1/audit"))["items"]
    mine = [(a["action"], a["actor"]) for a in audit if a["id"] == first["id"]]
    assert mine == [("update", "workspace-admin"), ("create", "workspace-admin")]
    versions = ok(get(org, "workspace-admin", f"/api/v1/policies/{first['id']}/versions"))
    messages = [v["message"] for v in versions["items"]]
    assert messages == ["accepted recommendation: tighter", "accepted recommendation"]
    listing = ok(get(org, "workspace-admin", base(org, "shop")))
    assert listing["workloads"][0]["status"] == "policy-applied"
    assert listing["counts"]["policy-applied"] == 1
    detail = ok(get(org, "workspace-admin", base(org, "shop") + "/db"))
    assert detail["compare"]["policy_id"] == first["id"]
    assert detail["compare"]["text_diff"] == ""  # current == recommended
    denied = call(
        org.client,
        org.tokens["workspace-admin"],
        "POST",
        base(org, "web") + "/front/accept",
        json={},
    )
    assert denied.status_code == 403


def test_unknown_workload_and_bad_window(org: Org1) -> None:
    assert get(org, "org-admin", base(org, "shop") + "/nope").status_code == 404
    assert (
        get(org, "org-admin", base(org, "shop"), params={"since": "yesterday"}).status_code == 422
    )
    assert get(org, "org-admin", base(org, "shop"), params={"format": "yaml"}).status_code == 422
