"""Staged policies over HTTP (SQLite and PostgreSQL): a staged version stays out of the
agent's desired state, the flows ingested for its cluster are marked with what it would do
(filterable, counted in metrics), and promotion enforces it with the outcomes audited."""

from __future__ import annotations

from typing import Any

from netwarden.agent.inventory import inventory_body
from netwarden.agent.simulated import load_simulated
from tests.api.test_blueprint_api import blueprint, call, objects, state  # call previews
from tests.api.test_cli_control import Live, cli, live  # noqa: F401 (fixture)
from tests.api.test_org_api import Org1, ok, org1  # noqa: F401 (fixture)
from tests.control.conftest import database_url, db  # noqa: F401 (fixtures)

TOPOLOGY = "examples/topologies/storefront.yaml"
DENY = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: storefront}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""
LABEL = "NetworkPolicy/storefront/default-deny"
ALLOW_DNS = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-frontend, namespace: %s}
spec:
  podSelector: {matchLabels: {app: frontend}}
  policyTypes: [Ingress]
  ingress: [{}]
"""


def previewed(org: Org1, text: str) -> dict[str, str]:
    """The preview token production clusters want with an enforced change."""
    path = f"/api/v1/clusters/{org.ids['c1']}/preview"
    got = ok(call(org.client, org.tokens["org-admin"], "POST", path, json={"yaml": text}))
    return {"X-Netwarden-Preview": got["token"]["value"]}


def agent_pull(org: Org1) -> dict[str, Any]:
    got = call(org.client, org.tokens["agent"], "GET", "/api/v1/agent/desired-state")
    return dict(ok(got))


def sync(org: Org1) -> dict[str, Any]:
    """The agent pulls its desired state and reports it applied (as a real agent does)."""
    desired = agent_pull(org)
    applied = [
        {"kind": o["kind"], "namespace": o["metadata"].get("namespace", ""),
         "name": o["metadata"]["name"], "status": "applied"}
        for o in desired["objects"]
    ]  # fmt: skip
    body = {"generation": desired["generation"], "objects": applied}
    ok(call(org.client, org.tokens["agent"], "POST", "/api/v1/agent/status", json=body))
    return desired


def register(org: Org1) -> Any:
    """The storefront's inventory through the agent route, then a synced status."""
    sim = load_simulated(TOPOLOGY, "c1", seed=1)
    body = inventory_body(sim.inventory())
    ok(call(org.client, org.tokens["agent"], "POST", "/api/v1/agent/inventory", json=body))
    sync(org)
    return sim


def push(org: Org1, sim: Any, n: int) -> dict[str, Any]:
    lines = sim.generate(n)
    got = call(
        org.client,
        org.tokens["agent"],
        "POST",
        "/api/v1/clusters/c1/flows",
        content=b"\n".join(lines),
        headers={"Content-Type": "application/x-ndjson"},
    )
    return dict(ok(got))


def query(org: Org1, filters: list[dict[str, Any]], role: str = "org-admin") -> list[Any]:
    body = {"whitelist": filters, "limit": 10_000}
    got = ok(call(org.client, org.tokens[role], "POST", "/api/v1/flows/query", json=body))
    return list(got["flows"] if isinstance(got, dict) else got)


def stage(org: Org1, role: str, text: str, ns_cluster: str = "c1") -> Any:
    body = {"yaml": text, "staged": True}
    path = f"/api/v1/clusters/{org.ids[ns_cluster]}/policies"
    return call(org.client, org.tokens[role], "POST", path, json=body)


def promote(org: Org1, role: str, kind: str, object_id: str, **body: Any) -> Any:
    path = f"/api/v1/{kind}/{object_id}/promote"
    return call(org.client, org.tokens[role], "POST", path, json=body or None)


def managed(desired: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
        for o in desired["objects"]
    }


def staged_metric(org: Org1, policy: str, outcome: str) -> float:
    text = call(org.client, org.tokens["org-admin"], "GET", "/metrics").text
    wanted = (
        f'netwarden_staged_verdicts_total{{cluster="c1",outcome="{outcome}",policy="{policy}"}}'
    )
    for line in text.splitlines():
        if line.startswith(wanted):
            return float(line.split()[-1])
    return 0.0


def marks(flow: dict[str, Any]) -> list[dict[str, Any]]:
    body = flow.get("flow", flow)
    ext = body.get("extensions") or {}
    return list(ext.get("staged", []))


def test_staged_policy_marks_flows_and_promotes(org1: Org1) -> None:  # noqa: F811
    sim = register(org1)
    created = ok(stage(org1, "org-admin", DENY), 201)
    assert created["staged"] is True and created["enforced_version"] is None
    # Not enforced: the agent's desired state lacks it; the desired state lists it staged.
    assert ("NetworkPolicy", "storefront", "default-deny") not in managed(agent_pull(org1))
    listed = state(org1, "c1")["staged"]
    assert [(e["policy"], e["version"], e["kind"]) for e in listed] == [(LABEL, 1, "policy")]
    assert [o["metadata"]["name"] for o in listed[0]["add"]] == ["default-deny"]

    ack = push(org1, sim, 600)
    assert ack["stored"] > 500
    denied = query(org1, [{"netwarden": {"staged_denied": ["default-deny"]}}])
    assert denied, "flows into the storefront should be marked would-be-denied"
    for flow in denied:
        body = flow.get("flow", flow)
        assert marks(flow) == [{"policy": LABEL, "version": 1, "outcome": "deny"}]
        # Hubble's own fields are untouched: enforced, the flow was forwarded.
        assert body.get("verdict") != "DROPPED" or body.get("drop_reason_desc") != "POLICY_DENIED"
        server = body["source"] if body.get("is_reply") else body["destination"]
        assert server.get("namespace") == "storefront"
    everything = query(org1, [])
    unmarked = [f for f in everything if not marks(f)]
    assert unmarked and all(
        (f.get("flow", f)["destination"].get("namespace") != "storefront")
        or f.get("flow", f).get("is_reply")
        or f.get("flow", f).get("l4", {}).get("ICMPv4") is not None
        or f.get("flow", f).get("l4") is None
        for f in unmarked
    )
    any_staged = query(org1, [{"netwarden": {"staged_denied": ["*"]}}])
    assert len(any_staged) == len(denied)
    assert query(org1, [{"netwarden": {"staged_denied": ["other-policy"]}}]) == []
    assert staged_metric(org1, LABEL, "deny") == len(denied)

    # Promote: enforced in one step, with the staged outcomes in the audit entry.
    promoted = ok(promote(org1, "org-admin", "policies", created["id"], hours=1))
    assert promoted["version"] == 2 and promoted["staged"] is False
    assert promoted["enforced_version"] == 2
    assert ("NetworkPolicy", "storefront", "default-deny") in managed(agent_pull(org1))
    assert state(org1, "c1")["staged"] == []
    audit = ok(call(org1.client, org1.tokens["org-admin"], "GET", "/api/v1/audit?action=promote"))
    entry = audit["items"][0]
    assert entry["kind"] == "policy" and entry["id"] == created["id"]
    preview = entry["after"]["staged_preview"]
    assert entry["after"]["promoted_version"] == 1
    assert preview["policy"] == LABEL and preview["flows"]["deny"] == len(denied)
    connections = preview["connections"]
    assert connections and sum(c["flows"] for c in connections) == len(denied)
    assert all(c["destination"].startswith("storefront/") for c in connections)
    assert all(c["last_seen"] and c["port"] for c in connections)
    # Not staged any more: promoting again is a conflict.
    assert promote(org1, "org-admin", "policies", created["id"]).status_code == 409


def test_new_staged_version_keeps_the_enforced_one(org1: Org1) -> None:  # noqa: F811
    register(org1)
    first = ok(stage(org1, "org-admin", ALLOW_DNS % "storefront"), 201)
    path = f"/api/v1/policies/{first['id']}"
    text = DENY.replace("default-deny", "allow-frontend")
    headers = previewed(org1, text)
    enforced = ok(
        call(
            org1.client, org1.tokens["org-admin"], "PUT", path, json={"yaml": text}, headers=headers
        )
    )
    assert enforced["staged"] is False and enforced["enforced_version"] == 2
    body = {
        "yaml": (ALLOW_DNS % "storefront").replace("ingress: [{}]", "ingress: []"),
        "staged": True,
    }
    again = ok(call(org1.client, org1.tokens["org-admin"], "PUT", path, json=body))
    assert again["version"] == 3 and again["staged"] and again["enforced_version"] == 2
    in_force = [o for o in agent_pull(org1)["objects"] if o["metadata"]["name"] == "allow-frontend"]
    assert len(in_force) == 1 and in_force[0]["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in in_force[0]["spec"]  # version 2's content, not the staged 3
    # The same YAML and flag again: no new version.
    same = ok(call(org1.client, org1.tokens["org-admin"], "PUT", path, json=body))
    assert same["version"] == 3


def test_staged_blueprint_is_not_released_until_promoted(org1: Org1) -> None:  # noqa: F811
    register(org1)
    body = {"yaml": blueprint("day0"), "project": org1.ids["p1"], "staged": True}
    created = ok(
        call(org1.client, org1.tokens["infra-admin"], "POST", "/api/v1/blueprints", json=body), 201
    )
    assert created["staged"] is True
    assert not any(name.startswith("day0-") for _, _, name in objects(org1, "c1"))
    staged = state(org1, "c1")["staged"]
    assert [(e["policy"], e["kind"]) for e in staged] == [("Blueprint//day0", "blueprint")]
    added = {o["metadata"]["name"] for o in staged[0]["add"]}
    assert {"day0-allow-dns", "day0-default-deny"} <= added
    assert state(org1, "c2")["staged"] == []  # p1's blueprint never reaches p2's cluster
    viewer = promote(org1, "infra-viewer", "blueprints", created["id"])
    assert viewer.status_code == 403
    promoted = ok(promote(org1, "infra-admin", "blueprints", created["id"]))
    assert promoted["staged"] is False and promoted["version"] == 2
    assert {"day0-allow-dns", "day0-default-deny"} <= {n for _, _, n in objects(org1, "c1")}
    assert state(org1, "c1")["staged"] == []


def test_who_may_stage_and_promote(org1: Org1) -> None:  # noqa: F811
    register(org1)
    admin, c = org1.tokens["org-admin"], org1.client
    # The storefront namespace (registered by the agent) joins workspace ws1.
    path = f"/api/v1/clusters/{org1.ids['c1']}/namespaces/storefront"
    ok(call(c, admin, "PUT", path, json={"labels": {}, "workspace": org1.ids["ws1"]}))
    for viewer in ("workspace-viewer", "project-viewer", "org-viewer"):
        assert stage(org1, viewer, DENY).status_code == 403
    mine = ok(stage(org1, "workspace-admin", DENY), 201)
    assert stage(org1, "workspace-admin", ALLOW_DNS % "web").status_code == 403
    other = ok(stage(org1, "org-admin", ALLOW_DNS % "web"), 201)
    for viewer in ("workspace-viewer", "org-viewer"):
        assert promote(org1, viewer, "policies", mine["id"]).status_code == 403
    assert promote(org1, "workspace-admin", "policies", other["id"]).status_code == 403
    done = ok(promote(org1, "workspace-admin", "policies", mine["id"]))
    assert done["staged"] is False
    refused = ok(call(c, admin, "GET", "/api/v1/audit?outcome=denied"))["items"]
    assert any(e["id"] == other["id"] and e["actor"] == "workspace-admin" for e in refused)
    audit = ok(call(c, admin, "GET", "/api/v1/audit?action=promote"))["items"]
    assert [(e["actor"], e["id"]) for e in audit] == [("workspace-admin", mine["id"])]


STAGED_MANIFESTS = """\
apiVersion: netwarden.dev/v1
kind: Project
metadata: {name: shop}
---
apiVersion: netwarden.dev/v1
kind: Cluster
metadata: {name: dev, labels: {env: dev}}
spec: {project: shop}
---
apiVersion: netwarden.dev/v1
kind: Namespace
metadata: {name: payments}
spec: {cluster: dev}
---
apiVersion: netwarden.dev/v1
kind: Policy
metadata: {name: payments-deny}
spec:
  cluster: dev
  staged: true
  manifest:
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: payments-deny, namespace: payments}
    spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {name: base}
spec:
  staged: true
  assign: {clusters: [dev]}
  clusterPolicies:
  - apiVersion: cilium.io/v2
    kind: CiliumClusterwideNetworkPolicy
    metadata: {name: base-deny}
    spec: {endpointSelector: {}, ingress: [{}]}
"""


def test_cli_stages_with_spec_staged_and_promotes(live: Live, tmp_path: Any) -> None:  # noqa: F811
    path = tmp_path / "staged.yaml"
    path.write_text(STAGED_MANIFESTS, encoding="utf-8")
    where = ["--server", live.url, "--token", live.admin_token]
    cli("apply", "-f", str(path), *where)
    assert "unchanged" in cli("apply", "-f", str(path), "--dry-run", *where).output
    out = cli("policy", "promote", "payments-deny", "--cluster", "dev", *where).output
    assert "promoted: now version 2" in out and "0 flows would have been denied" in out
    assert "promoted: now version 2" in cli("blueprint", "promote", "base", *where).output
    again = cli("blueprint", "promote", "base", *where, code=2)
    assert "not staged" in again.output + again.stderr
    # The manifests still say staged: apply stages a new version again.
    assert "(staged)" in cli("apply", "-f", str(path), "--dry-run", *where).output
