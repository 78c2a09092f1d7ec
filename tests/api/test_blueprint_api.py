"""Blueprints and desired state over the API on SQLite and PostgreSQL: who may write
them, assignment by label and name within the owner's clusters, namespace defaults
stamped with exclusions, golden blueprints, conflicts, generations, located errors."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_org_api import Org1, ok, org1  # noqa: F401 (fixture)
from tests.api.test_org_api import call as plain_call
from tests.api.test_policy_api import NP  # policy writes preview first (env=prod)
from tests.api.test_policy_api import call as policy_call
from tests.control.conftest import database_url, db  # noqa: F401 (fixtures)

_BLUEPRINT = re.compile(r"^/api/v1/blueprints/([^/]+)(/rollback|/promote)?$")


def call(client: TestClient, token: str, method: str, path: str, **kw: Any) -> Any:
    """``test_policy_api.call`` (policy writes preview first), and blueprint writes
    first preview their change (``POST /api/v1/blueprints/preview``) and send its token,
    as the CLI does: the org's clusters are labelled env=prod, which needs a preview."""
    change = _blueprint_change(client, token, method, path, kw.get("json") or {})
    if change is not None:
        found = plain_call(client, token, "POST", "/api/v1/blueprints/preview", json=change)
        if found.status_code == 200:
            kw["headers"] = {
                **kw.get("headers", {}),
                "X-Netwarden-Preview": found.json()["token"]["value"],
            }
    return policy_call(client, token, method, path, **kw)


def _blueprint_change(
    client: TestClient, token: str, method: str, path: str, body: dict[str, Any]
) -> dict[str, Any] | None:
    """The preview body of a blueprint write (None: not one, or a staged one)."""
    if body.get("staged"):
        return None
    if path == "/api/v1/blueprints" and method == "POST":
        return {"blueprint_yaml": body.get("yaml", ""), "project": body.get("project")}
    found = _BLUEPRINT.match(path)
    if found is None or found.group(1) == "preview":
        return None
    blueprint, verb = found.group(1), found.group(2)
    if verb is None and method == "PUT":
        return {"blueprint_yaml": body.get("yaml", "")}
    if verb is None and method == "DELETE":
        return {"delete_blueprint": blueprint}
    if verb is None or method != "POST":
        return None
    if verb == "/promote":
        current = plain_call(client, token, "GET", f"/api/v1/blueprints/{blueprint}")
        text = current.json().get("yaml") if current.status_code == 200 else None
    else:
        versions = plain_call(client, token, "GET", f"/api/v1/blueprints/{blueprint}/versions")
        items = versions.json()["items"] if versions.status_code == 200 else []
        text = next((v["yaml"] for v in items if v["version"] == body.get("version")), None)
    return {"blueprint_yaml": text} if text else {"delete_blueprint": blueprint}


DAY0 = """apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {{name: {name}}}
spec:
{extends}  assign:
    clusterSelector: {{matchLabels: {{env: prod}}}}
  settings: {{enforcementMode: {mode}}}
  clusterPolicies:
  - apiVersion: cilium.io/v2
    kind: CiliumClusterwideNetworkPolicy
    metadata: {{name: {name}-allow-dns}}
    spec:
      endpointSelector: {{}}
      egress:
      - toEndpoints: [{{matchLabels: {{k8s:io.kubernetes.pod.namespace: kube-system}}}}]
        toPorts: [{{ports: [{{port: "53", protocol: ANY}}]}}]
  namespaceDefaults:
  - name: deny
    exclude: [{exclude}]
    policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {{name: {name}-default-deny}}
      spec: {{podSelector: {{}}, policyTypes: [Ingress, Egress]}}
"""


def blueprint(name: str, *, mode: str = "enforce", exclude: str = "", extends: str = "") -> str:
    parent = f"  extends: {extends}\n" if extends else ""
    return DAY0.format(name=name, mode=mode, exclude=exclude, extends=parent)


def state(org: Org1, cluster: str) -> dict[str, Any]:
    path = f"/api/v1/clusters/{org.ids[cluster]}/desired-state"
    return ok(call(org.client, org.tokens["org-admin"], "GET", path))


def objects(org: Org1, cluster: str) -> set[tuple[str, str, str]]:
    return {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
        for o in state(org, cluster)["objects"]
    }


def post(org: Org1, role: str, text: str, project: str | None = None) -> Any:
    body = {"yaml": text, "project": org.ids[project] if project else None}
    return call(org.client, org.tokens[role], "POST", "/api/v1/blueprints", json=body)


def test_project_blueprint_reaches_its_project_clusters_only(org1: Org1) -> None:  # noqa: F811
    assert state(org1, "c1")["generation"] == 1  # registered, empty
    created = ok(post(org1, "infra-admin", blueprint("p1-day0", exclude="web"), "p1"), 201)
    assert created["version"] == 1
    assert objects(org1, "c1") == {
        ("CiliumClusterwideNetworkPolicy", "", "p1-day0-allow-dns"),
        ("NetworkPolicy", "shop", "p1-day0-default-deny"),  # web is excluded
    }
    c1 = state(org1, "c1")
    assert c1["generation"] == 2 and c1["settings"] == {"enforcementMode": "enforce"}
    stamped = c1["objects"][0]["metadata"]
    assert stamped["labels"]["app.kubernetes.io/managed-by"] == "netwarden"
    assert stamped["annotations"]["netwarden.dev/source"] == "blueprint/p1-day0@v1"
    assert objects(org1, "c2") == set()  # env=prod too, but in project p2
    where = ok(
        call(
            org1.client,
            org1.tokens["infra-viewer"],
            "GET",
            f"/api/v1/blueprints/{created['id']}/clusters",
        )
    )
    assert [c["name"] for c in where["items"]] == ["c1"]


def test_who_may_write_and_read_blueprints(org1: Org1) -> None:  # noqa: F811
    assert post(org1, "infra-admin", blueprint("x"), "p2").status_code == 403
    assert post(org1, "infra-admin", blueprint("x"), None).status_code == 403  # org-wide
    assert post(org1, "project-admin", blueprint("x"), "p1").status_code == 403
    assert post(org1, "infra-viewer", blueprint("x"), "p1").status_code == 403
    assert post(org1, "workspace-admin", blueprint("x"), "p1").status_code == 403
    bp = ok(post(org1, "org-admin", blueprint("golden")), 201)
    path = f"/api/v1/blueprints/{bp['id']}"
    assert call(org1.client, org1.tokens["org-viewer"], "GET", path).status_code == 200
    assert call(org1.client, org1.tokens["infra-admin"], "GET", path).status_code == 403
    assert call(org1.client, org1.tokens["project-admin"], "GET", "/api/v1/blueprints").json() == {
        "items": []
    }
    desired = f"/api/v1/clusters/{org1.ids['c1']}/desired-state"
    assert call(org1.client, org1.tokens["workspace-admin"], "GET", desired).status_code == 403
    assert call(org1.client, org1.tokens["infra-viewer"], "GET", desired).status_code == 200


def test_golden_blueprint_changes_reach_children_and_generations_move_only_on_change(
    org1: Org1,  # noqa: F811
) -> None:
    c, admin = org1.client, org1.tokens["org-admin"]
    golden = ok(post(org1, "org-admin", blueprint("golden")), 201)
    child_text = blueprint("edge", extends="golden").replace("env: prod", "env: none")
    child_text = child_text.replace(
        "assign:\n    clusterSelector: {matchLabels: {env: none}}", "assign:\n    clusters: [c2]"
    )
    ok(post(org1, "org-admin", child_text), 201)
    assert ("NetworkPolicy", "pay", "golden-default-deny") in objects(org1, "c2")
    assert ("NetworkPolicy", "pay", "edge-default-deny") in objects(org1, "c2")
    before = state(org1, "c2")["generation"]
    same = ok(
        call(
            c,
            admin,
            "PUT",
            f"/api/v1/blueprints/{golden['id']}",
            json={"yaml": blueprint("golden")},
        )
    )
    assert same["version"] == 1 and state(org1, "c2")["generation"] == before
    audit_mode = blueprint("golden", mode="audit")
    ok(
        call(
            c,
            admin,
            "PUT",
            f"/api/v1/blueprints/{golden['id']}",
            json={"yaml": audit_mode},
            headers={"If-Match": '"v1"'},
        )
    )
    after = state(org1, "c2")
    assert after["generation"] == before + 1 and after["settings"]["enforcementMode"] == "audit"
    refused = call(c, admin, "DELETE", f"/api/v1/blueprints/{golden['id']}")
    assert refused.status_code == 409 and "edge" in refused.json()["detail"]


def test_conflicts_are_reported_and_own_policies_join(org1: Org1) -> None:  # noqa: F811
    c, admin = org1.client, org1.tokens["org-admin"]
    ok(post(org1, "org-admin", blueprint("a")), 201)
    clash = blueprint("b").replace("b-default-deny", "a-default-deny")
    ok(post(org1, "org-admin", clash), 201)
    conflicts = state(org1, "c1")["conflicts"]
    assert any("a-default-deny from blueprint/b@v1" in text for text in conflicts)
    own = NP.format(name="db", ns="shop", port=5432)
    ok(
        call(c, admin, "POST", f"/api/v1/clusters/{org1.ids['c1']}/policies", json={"yaml": own}),
        201,
    )
    sources = {
        o["metadata"]["name"]: o["metadata"]["annotations"]["netwarden.dev/source"]
        for o in state(org1, "c1")["objects"]
    }
    assert sources["db"].startswith("policy/") and sources["db"].endswith("@v1")
    # A new namespace gets the defaults stamped in.
    generation = state(org1, "c1")["generation"]
    ok(call(c, admin, "PUT", f"/api/v1/clusters/{org1.ids['c1']}/namespaces/billing", json={}))
    assert ("NetworkPolicy", "billing", "a-default-deny") in objects(org1, "c1")
    assert state(org1, "c1")["generation"] == generation + 1


def test_invalid_blueprints_are_located(org1: Org1) -> None:  # noqa: F811
    bad = (
        blueprint("bad")
        .replace('port: "53"', 'port: "dns!!"')
        .replace("enforcementMode: enforce", "enforcementMode: maybe")
    )
    response = post(org1, "org-admin", bad)
    assert response.status_code == 422
    errors = {(e["field"], e["line"]) for e in response.json()["errors"]}
    assert ("spec.settings.enforcementMode", 7) in errors
    assert ("spec.clusterPolicies[0].spec.egress[0].toPorts[0].ports[0].port", 16) in errors
    missing = blueprint("orphan", extends="nope")
    assert post(org1, "org-admin", missing).status_code == 422
