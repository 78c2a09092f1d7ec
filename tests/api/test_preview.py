"""Impact preview over the API: a storefront cluster (env=prod) with its simulated inventory
and traffic; previews of policy versions, deletions and blueprints with hand-checked
changes, uncertain edges, authorization, and the 428 gate on production writes."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from netwarden.agent.inventory import inventory_body
from netwarden.agent.simulated import load_simulated
from netwarden.control.models import Cluster
from netwarden.control.preview import Draft, PreviewGate, load_secret
from tests.api.test_org_api import Org1, call, ok, org1  # noqa: F401 (fixture)
from tests.control.conftest import database_url, db  # noqa: F401 (fixtures)

POSTGRES_FROM_CATALOG = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: postgres-from-catalog, namespace: storefront}
spec:
  podSelector: {matchLabels: {app: postgres}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: catalog}}}]
    ports: [{port: 5432}]
"""
PAYMENTS_EGRESS = """apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: payments-egress, namespace: storefront}
spec:
  endpointSelector: {matchLabels: {app: payments}}
  egress:
  - toFQDNs: [{matchName: api.stripe.com}]
    toPorts: [{ports: [{port: "443", protocol: TCP}]}]
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system}}]
    toPorts: [{ports: [{port: "53", protocol: UDP}]}]
"""
DENY_ALL_BLUEPRINT = """apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {name: lockdown}
spec:
  assign: {clusterSelector: {matchLabels: {env: prod}}}
  clusterPolicies:
  - apiVersion: cilium.io/v2
    kind: CiliumClusterwideNetworkPolicy
    metadata: {name: tools-isolated}
    spec:
      endpointSelector: {matchLabels: {k8s:io.kubernetes.pod.namespace: tools}}
      egress: [{}]
      egressDeny: [{toEntities: [cluster]}]
"""


@pytest.fixture
def shop(org1: Org1) -> Org1:  # noqa: F811
    """c1 (env=prod) reports the storefront's inventory and ships its traffic; the
    storefront namespace belongs to workspace ws1."""
    sim = load_simulated("examples/topologies/storefront.yaml", "c1", seed=1)
    body = inventory_body(sim.inventory())
    ok(call(org1.client, org1.tokens["agent"], "POST", "/api/v1/agent/inventory", json=body))
    ws1 = {"workspace": org1.ids["ws1"]}
    path = f"/api/v1/clusters/{org1.ids['c1']}/namespaces/storefront"
    ok(call(org1.client, org1.tokens["org-admin"], "PUT", path, json=ws1))
    flows = org1.client.app.state.flows  # type: ignore[attr-defined]
    hour_ago = time.time_ns() - 3_600 * 10**9  # the simulator's clock runs ahead of now
    ack = flows.ingest_lines(sim.generate(3_000, start_ns=hour_ago), "c1")
    assert ack.stored == 3_000
    return org1


def preview(org: Org1, role: str, body: dict[str, Any], cluster: str = "c1") -> Any:
    path = f"/api/v1/clusters/{org.ids[cluster]}/preview"
    return call(org.client, org.tokens[role], "POST", path, json=body)


def _conn(c: dict[str, Any]) -> tuple[str, str, int, str]:
    return (c["source"]["display"], c["destination"]["display"], c["port"], c["change"])


def test_policy_preview_lists_the_connections_it_denies(shop: Org1) -> None:
    doc = ok(preview(shop, "org-admin", {"yaml": POSTGRES_FROM_CATALOG}))
    changes = {_conn(c) for c in doc["changes"]}
    # checkout also talks to postgres (storefront.yaml): the policy would cut it off.
    assert ("storefront/checkout", "storefront/postgres", 5432, "allowed->denied") in changes
    # The scanner's probes of postgres are denied too; catalog keeps its access.
    scans = {c for c in changes if c[0].startswith("tools/")}
    assert scans and all(c[1] == "storefront/postgres" for c in scans)
    assert not [c for c in changes if c[0] == "storefront/catalog"]
    assert all(c[3] == "allowed->denied" for c in changes)
    assert {c[1] for c in changes} == {"storefront/postgres"}
    checkout = next(c for c in doc["changes"] if c["source"]["display"] == "storefront/checkout")
    assert checkout["deciding"] == ["NetworkPolicy/storefront/postgres-from-catalog"]
    assert checkout["reason"] == "isolated" and checkout["flows"] > 0
    assert checkout["recorded"] == ["FORWARDED"] and checkout["examples"]
    assert doc["summary"]["allowed_to_denied"] == len(doc["changes"])
    assert doc["summary"]["denied_to_allowed"] == 0 and doc["uncertain"] == []
    assert doc["token"]["required"] is True and doc["token"]["header"] == "X-Netwarden-Preview"
    assert doc["edges"] > 20 and doc["evaluations"] <= doc["edges"]


def test_production_writes_need_the_token_of_that_change(shop: Org1) -> None:
    c, admin = shop.client, shop.tokens["org-admin"]
    path = f"/api/v1/clusters/{shop.ids['c1']}/policies"
    body = {"yaml": POSTGRES_FROM_CATALOG}
    missing = call(c, admin, "POST", path, json=body)
    assert missing.status_code == 428, missing.text
    problem = missing.json()
    assert problem["errors"][0]["field"] == "header.x-netwarden-preview"
    assert f"/api/v1/clusters/{shop.ids['c1']}/preview" in problem["detail"]
    other = ok(preview(shop, "org-admin", {"yaml": PAYMENTS_EGRESS}))["token"]["value"]
    wrong = call(c, admin, "POST", path, json=body, headers={"X-Netwarden-Preview": other})
    assert wrong.status_code == 428 and "another change" in wrong.json()["detail"]
    token = ok(preview(shop, "org-admin", body))["token"]["value"]
    created = ok(
        call(c, admin, "POST", path, json=body, headers={"X-Netwarden-Preview": token}), 201
    )
    # Nothing was written by the refused attempts: this is version 1.
    assert created["version"] == 1
    # Deleting it: the preview shows the connections it gives back.
    undo = ok(preview(shop, "org-admin", {"delete_policy": created["id"]}))
    assert undo["change"]["kind"] == "delete"
    assert {c["change"] for c in undo["changes"]} == {"denied->allowed"}
    assert ("storefront/checkout", "storefront/postgres", 5432, "denied->allowed") in {
        _conn(x) for x in undo["changes"]
    }
    policy = f"/api/v1/policies/{created['id']}"
    assert call(c, admin, "DELETE", policy).status_code == 428
    header = {"X-Netwarden-Preview": undo["token"]["value"]}
    ok(call(c, admin, "DELETE", policy, headers=header))


def test_non_production_clusters_need_no_token(shop: Org1) -> None:
    c, admin = shop.client, shop.tokens["org-admin"]
    ok(
        call(
            c, admin, "PATCH", f"/api/v1/clusters/{shop.ids['c1']}", json={"labels": {"env": "dev"}}
        )
    )
    path = f"/api/v1/clusters/{shop.ids['c1']}/policies"
    ok(call(c, admin, "POST", path, json={"yaml": POSTGRES_FROM_CATALOG}), 201)
    assert ok(preview(shop, "org-admin", {"yaml": PAYMENTS_EGRESS}))["token"]["required"] is False


def test_world_destinations_are_judged_by_their_dns_name_under_fqdn_rules(shop: Org1) -> None:
    doc = ok(preview(shop, "org-admin", {"yaml": PAYMENTS_EGRESS}))
    # payments -> api.stripe.com:443: the edge carries the name Hubble recorded, so the
    # toFQDNs rule decides it (allowed before and after: not a change, not uncertain).
    touching_stripe = [
        x
        for x in (*doc["changes"], *doc["uncertain"])
        if x["destination"].get("fqdn") == "api.stripe.com"
    ]
    assert touching_stripe == []
    assert doc["edges"] > 0 and doc["summary"]["allowed_to_denied"] == 0
    # A world address reached without a DNS name stays uncertain under FQDN rules.
    uncertain = doc["uncertain"]
    assert uncertain and all(u["destination"]["kind"] == "world" for u in uncertain)
    assert all(not u["destination"]["fqdn"] for u in uncertain)
    assert {u["destination"]["ip"] for u in uncertain} == {"203.0.113.66"}
    assert all("DNS name" in u["reason"] and "FQDN" in u["reason"] for u in uncertain)
    assert not [c for c in doc["changes"] if c["change"] == "denied->allowed"]
    assert doc["summary"]["uncertain"] == len(uncertain)
    # Narrowing payments' egress to another name cuts api.stripe.com off, by name.
    other = PAYMENTS_EGRESS.replace("api.stripe.com", "api.example.com")
    cut = ok(preview(shop, "org-admin", {"yaml": other}))["changes"]
    stripe = [c for c in cut if c["destination"].get("fqdn") == "api.stripe.com"]
    assert [(c["source"]["display"], c["port"], c["change"]) for c in stripe] == [
        ("storefront/payments", 443, "allowed->denied")
    ]
    assert stripe[0]["destination"]["display"] == "api.stripe.com"


def test_blueprint_preview_and_who_may_preview(shop: Org1) -> None:
    doc = ok(preview(shop, "infra-admin", {"blueprint_yaml": DENY_ALL_BLUEPRINT}))
    assert doc["change"] == {"kind": "blueprint", "blueprint": "lockdown", "version": 1}
    changes = {_conn(c) for c in doc["changes"]}
    assert changes and all(c[0].startswith("tools/") for c in changes)
    assert all(c[3] == "allowed->denied" for c in changes)
    deciding = {p for c in doc["changes"] for p in c["deciding"]}
    assert deciding == {"CiliumClusterwideNetworkPolicy/tools-isolated"}
    # Those who may not make the change may not preview it.
    assert (
        preview(shop, "workspace-admin", {"blueprint_yaml": DENY_ALL_BLUEPRINT}).status_code == 403
    )
    assert preview(shop, "infra-viewer", {"yaml": POSTGRES_FROM_CATALOG}).status_code == 403
    assert preview(shop, "project-admin", {"yaml": POSTGRES_FROM_CATALOG}, "c2").status_code == 403
    # The workspace admin of storefront may, and sees only edges touching its namespaces.
    mine = ok(preview(shop, "workspace-admin", {"yaml": POSTGRES_FROM_CATALOG}))
    assert mine["changes"] and all(
        "storefront" in (c["source"].get("namespace"), c["destination"].get("namespace"))
        for c in mine["changes"]
    )


def test_bad_requests_are_located(shop: Org1) -> None:
    bad = POSTGRES_FROM_CATALOG.replace("port: 5432", "port: not-a-port!")
    refused = preview(shop, "org-admin", {"yaml": bad})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["line"] == 8
    both = preview(shop, "org-admin", {"yaml": POSTGRES_FROM_CATALOG, "delete_policy": "x"})
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    assert preview(shop, "org-admin", {"delete_policy": "nope"}).status_code == 404
    window = preview(shop, "org-admin", {"yaml": POSTGRES_FROM_CATALOG, "since": "yesterday-ish"})
    assert window.status_code == 400


def test_tokens_expire_and_bind_cluster_and_change(tmp_path: Path) -> None:
    secret = load_secret(tmp_path)
    assert load_secret(tmp_path) == secret
    assert stat.S_IMODE(os.stat(tmp_path / "preview.key").st_mode) == 0o600
    gate = PreviewGate(secret)
    draft = Draft("policy", yaml="a")
    token, expiry = gate.issue("c1", draft, now=1_000)
    assert expiry == 1_000 + 30 * 60
    assert gate.valid(token, "c1", draft, now=1_000 + 60)
    assert not gate.valid(token, "c1", draft, now=expiry + 1)
    assert not gate.valid(token, "c2", draft, now=1_000)
    assert not gate.valid(token, "c1", Draft("policy", yaml="b"), now=1_000)
    assert not gate.valid(token, "c1", Draft("delete", policy_id="a"), now=1_000)
    assert not PreviewGate(b"other").valid(token, "c1", draft, now=1_000)
    assert not gate.valid("garbage", "c1", draft)
    prod = Cluster(name="x", labels={"env": "prod", "tier": "1"})
    assert gate.required(prod)
    assert not gate.required(Cluster(name="y", labels={"env": "dev"}))
    assert not PreviewGate(secret, "").required(prod)
    assert PreviewGate(secret, "env in (prod,staging)").required(prod)
