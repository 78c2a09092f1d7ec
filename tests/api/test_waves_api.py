"""Staged rollout over the API on SQLite and PostgreSQL: a blueprint version reaches the
staging cluster first, then a share of prod, then the rest, advancing on agent reports;
a failed wave pauses it; pause, resume and promote; inventory reports register
namespaces and drive namespace defaults."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from netwarden.api.app import create_app
from netwarden.api.auth import ControlPlaneAuthenticator
from netwarden.control.bootstrap import bootstrap
from netwarden.control.db import Database
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.service import FlowService
from tests.api.test_blueprint_api import call  # blueprint writes preview first (env=prod)
from tests.api.test_org_api import ok
from tests.control.conftest import database_url, db  # noqa: F401 (fixtures)

CLUSTERS = {
    "stage-1": "staging",
    "prod-a": "prod",
    "prod-b": "prod",
    "prod-c": "prod",
    "prod-d": "prod",
}

WAVED = """apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {{name: day0}}
spec:
  assign:
    clusterSelector: {{matchExpressions: [{{key: env, operator: Exists}}]}}
  clusterPolicies:
  - apiVersion: cilium.io/v2
    kind: CiliumClusterwideNetworkPolicy
    metadata: {{name: {policy}}}
    spec:
      endpointSelector: {{}}
      egress:
      - toEndpoints: [{{matchLabels: {{k8s:io.kubernetes.pod.namespace: kube-system}}}}]
        toPorts: [{{ports: [{{port: "53", protocol: ANY}}]}}]
  rollout:
    waves:
    - {{name: staging, clusterSelector: {{matchLabels: {{env: staging}}}}}}
    - {{name: canary, clusterSelector: {{matchLabels: {{env: prod}}}}, percent: 25}}
    - {{name: prod}}
"""


@dataclass
class Fleet:
    client: TestClient
    admin: str
    ids: dict[str, str]
    agents: dict[str, str]
    blueprint: str = ""

    def get(self, path: str, token: str | None = None) -> Any:
        return ok(call(self.client, token or self.admin, "GET", path))

    def post(self, path: str, body: Any = None, token: str | None = None) -> Any:
        return call(self.client, token or self.admin, "POST", path, json=body)

    def names(self, cluster: str) -> set[str]:
        state = self.get(f"/api/v1/clusters/{self.ids[cluster]}/desired-state")
        return {o["metadata"]["name"] for o in state["objects"]}

    def sync(self, cluster: str, fail: bool = False) -> Any:
        """The cluster's agent pulls and reports its desired state (applied, or failed)."""
        token = self.agents[cluster]
        state = self.get("/api/v1/agent/desired-state", token)
        objects = [
            {
                "kind": o["kind"],
                "namespace": o["metadata"].get("namespace", ""),
                "name": o["metadata"]["name"],
                "status": "failed" if fail else "applied",
                "error": "admission webhook denied" if fail else "",
            }
            for o in state["objects"]
        ]
        body = {"generation": state["generation"], "objects": objects}
        return ok(self.post("/api/v1/agent/status", body, token))

    def rollout(self) -> dict[str, Any]:
        return dict(self.get(f"/api/v1/blueprints/{self.blueprint}/rollout"))


@pytest.fixture
def fleet(db: Database) -> Iterator[Fleet]:  # noqa: F811
    with db.session() as s:
        boot = bootstrap(s, "acme")
        assert boot is not None
    app = create_app(
        flow_service=FlowService(DuckDBFlowStore()),
        authenticator=ControlPlaneAuthenticator(db),
        db=db,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        admin = boot.token
        f = Fleet(client, admin, {}, {})
        f.ids["p"] = ok(f.post("/api/v1/projects", {"name": "p"}), 201)["id"]
        for name, env in CLUSTERS.items():
            body = {"name": name, "project": f.ids["p"], "labels": {"env": env}}
            f.ids[name] = ok(f.post("/api/v1/clusters", body), 201)["id"]
            path = f"/api/v1/clusters/{f.ids[name]}/agent-tokens"
            f.agents[name] = ok(f.post(path, {}), 201)["token"]
        for name in CLUSTERS:
            f.sync(name)  # every agent reports the empty state: all synced
        yield f


def publish(f: Fleet, policy: str) -> None:
    text = WAVED.format(policy=policy)
    if not f.blueprint:
        body = {"yaml": text, "project": f.ids["p"]}
        f.blueprint = ok(f.post("/api/v1/blueprints", body), 201)["id"]
    else:
        body = {"yaml": text}
        ok(call(f.client, f.admin, "PUT", f"/api/v1/blueprints/{f.blueprint}", json=body))


def holding(f: Fleet, policy: str) -> set[str]:
    return {c for c in CLUSTERS if policy in f.names(c)}


def test_waves_advance_as_each_wave_syncs(fleet: Fleet) -> None:
    publish(fleet, "dns-v1")
    r = fleet.rollout()
    assert r["state"] == "progressing" and r["wave"] == "staging"
    assert [(w["name"], len(w["clusters"])) for w in r["waves"]] == [
        ("staging", 1),
        ("canary", 1),  # 25% of four prod clusters
        ("prod", 3),
    ]
    assert holding(fleet, "dns-v1") == {"stage-1"}
    canary = r["waves"][1]["clusters"][0]["cluster"]
    fleet.sync("prod-a")  # a report from outside the wave changes nothing
    assert holding(fleet, "dns-v1") == {"stage-1"}
    answer = fleet.sync("stage-1")
    assert "wave staging done" in answer["rollout"][0]
    assert holding(fleet, "dns-v1") == {"stage-1", canary}
    assert fleet.rollout()["wave"] == "canary"
    fleet.sync(canary)
    assert holding(fleet, "dns-v1") == set(CLUSTERS)
    for name in CLUSTERS:
        if name not in ("stage-1", canary):
            fleet.sync(name)
    done = fleet.rollout()
    assert done["state"] == "completed" and done["released_version"] == 1
    assert all(w["phase"] == "done" for w in done["waves"])
    audit = fleet.get("/api/v1/audit?action=rollout-advance")["items"]
    assert len(audit) == 3 and audit[0]["actor"].startswith("agent:")


def test_the_next_version_keeps_the_old_one_where_it_has_not_arrived(fleet: Fleet) -> None:
    publish(fleet, "dns-v1")
    for _ in range(3):  # each round of reports releases the next wave
        for name in CLUSTERS:
            fleet.sync(name)
    assert fleet.rollout()["state"] == "completed"
    publish(fleet, "dns-v2")
    assert holding(fleet, "dns-v2") == {"stage-1"}
    assert holding(fleet, "dns-v1") == set(CLUSTERS) - {"stage-1"}


def test_a_failed_wave_pauses_until_resumed_or_promoted(fleet: Fleet) -> None:
    publish(fleet, "dns-v1")
    fleet.sync("stage-1", fail=True)
    paused = fleet.rollout()
    assert paused["state"] == "paused" and paused["wave"] == "staging"
    assert "stage-1" in paused["message"] and "admission webhook denied" in paused["message"]
    assert holding(fleet, "dns-v1") == {"stage-1"}
    path = f"/api/v1/blueprints/{fleet.blueprint}/rollout"
    still = ok(fleet.post(f"{path}/resume"))  # the failure is still there
    assert still["state"] == "paused"
    fleet.sync("stage-1")  # fixed in the cluster
    assert fleet.rollout()["state"] == "paused"  # a paused rollout waits for the operator
    resumed = ok(fleet.post(f"{path}/resume"))
    assert resumed["state"] == "progressing" and resumed["wave"] == "canary"
    ok(fleet.post(f"{path}/pause"))
    assert fleet.rollout()["state"] == "paused"
    promoted = ok(fleet.post(f"{path}/promote"))
    assert promoted["wave"] == "prod"
    assert holding(fleet, "dns-v1") == set(CLUSTERS)
    finished = ok(fleet.post(f"{path}/promote"))
    assert finished["state"] == "completed"
    refused = fleet.post(f"{path}/pause")
    assert refused.status_code == 409


def test_rollout_controls_need_a_writer(fleet: Fleet) -> None:
    publish(fleet, "dns-v1")
    user = ok(fleet.post("/api/v1/users", {"name": "viewer"}), 201)
    binding = {"subject": user["id"], "role": "infra-viewer", "scope": fleet.ids["p"]}
    ok(fleet.post("/api/v1/role-bindings", binding), 201)
    token = ok(fleet.post(f"/api/v1/users/{user['id']}/tokens", {}), 201)["token"]
    path = f"/api/v1/blueprints/{fleet.blueprint}/rollout"
    assert fleet.get(path, token)["state"] == "progressing"
    for verb in ("pause", "resume", "promote"):
        assert fleet.post(f"{path}/{verb}", token=token).status_code == 403
    assert fleet.post(f"{path}/pause", token=fleet.agents["stage-1"]).status_code == 403
    assert fleet.rollout()["state"] == "progressing"


def test_inventory_registers_namespaces_and_drives_namespace_defaults(fleet: Fleet) -> None:
    token = fleet.agents["prod-a"]
    inventory = {
        "namespaces": [
            {"name": "shop", "labels": {"team": "shop"}},
            {"name": "kube-system", "labels": {}},
        ],
        "pods": [
            {
                "namespace": "shop",
                "name": "web-1",
                "labels": {"app": "web"},
                "ip": "10.0.0.5",
                "node": "n1",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            }
        ],
        "nodes": [{"name": "n1", "ip": "192.168.0.1"}],
        "cilium_version": "1.19.4",
        "supported_kinds": ["NetworkPolicy", "CiliumNetworkPolicy"],
    }
    first = ok(fleet.post("/api/v1/agent/inventory", inventory, token))
    assert first == {
        "cluster": "prod-a",
        "namespaces": 2,
        "changed": True,
        "generation_changed": False,
    }
    again = ok(fleet.post("/api/v1/agent/inventory", inventory, token))
    assert not again["changed"]
    listed = fleet.get(f"/api/v1/clusters/{fleet.ids['prod-a']}/namespaces")["items"]
    assert {(n["name"], n["labels"].get("team")) for n in listed} == {
        ("shop", "shop"),
        ("kube-system", None),
    }
    text = WAVED.format(policy="dns").split("  rollout:")[0] + (
        "  namespaceDefaults:\n"
        "  - name: deny\n"
        "    namespaceSelector: {matchLabels: {team: shop}}\n"
        "    policies:\n"
        "    - apiVersion: networking.k8s.io/v1\n"
        "      kind: NetworkPolicy\n"
        "      metadata: {name: default-deny}\n"
        "      spec: {podSelector: {}, policyTypes: [Ingress]}\n"
    )
    ok(fleet.post("/api/v1/blueprints", {"yaml": text}), 201)
    assert "default-deny" in fleet.names("prod-a")
    inventory["namespaces"][0]["labels"] = {"team": "other"}
    relabelled = ok(fleet.post("/api/v1/agent/inventory", inventory, token))
    assert relabelled["generation_changed"]
    assert "default-deny" not in fleet.names("prod-a")
    bad = fleet.post("/api/v1/agent/inventory", {"namespaces": [{"name": ""}]}, token)
    assert bad.status_code == 422 and "namespaces" in bad.text
    refused = fleet.post("/api/v1/agent/inventory", inventory)  # an admin is not an agent
    assert refused.status_code == 403
