"""Versioned policies over the API on SQLite and PostgreSQL: who may write which kind
where, located validation errors, lost-update protection, versions, diffs, rollback."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_org_api import Org1, ok, org1  # noqa: F401 (fixture)
from tests.api.test_org_api import call as plain_call
from tests.control.conftest import database_url, db  # noqa: F401 (fixtures)

_CREATE = re.compile(r"^/api/v1/clusters/([^/]+)/policies$")
_POLICY = re.compile(r"^/api/v1/policies/([^/]+)(/rollback)?$")


def call(client: TestClient, token: str, method: str, path: str, **kw: Any) -> Any:
    """``plain_call``, but policy writes first preview their change and send the token,
    as the CLI does: the org's clusters are labelled env=prod, which needs a preview."""
    change = _change(client, token, method, path, kw.get("json") or {})
    if change is not None:
        cluster, body = change
        found = plain_call(client, token, "POST", f"/api/v1/clusters/{cluster}/preview", json=body)
        if found.status_code == 200:
            kw["headers"] = {
                **kw.get("headers", {}),
                "X-Netwarden-Preview": found.json()["token"]["value"],
            }
    return plain_call(client, token, method, path, **kw)


def _change(
    client: TestClient, token: str, method: str, path: str, body: dict[str, Any]
) -> tuple[str, dict[str, Any]] | None:
    created = _CREATE.match(path)
    if created and method == "POST":
        return created.group(1), {"yaml": body.get("yaml", "")}
    policy = _POLICY.match(path)
    if policy is None or method not in ("PUT", "DELETE", "POST"):
        return None
    found = plain_call(client, token, "GET", f"/api/v1/policies/{policy.group(1)}")
    if found.status_code != 200:
        return None
    cluster = found.json()["cluster"]
    if method == "PUT":
        return cluster, {"yaml": body.get("yaml", "")}
    if method == "DELETE":
        return cluster, {"delete_policy": policy.group(1)}
    if policy.group(2) is None:
        return None
    old = plain_call(
        client, token, "GET", f"{path[: -len('/rollback')]}/versions/{body['version']}"
    )
    text = old.json()["yaml"] if old.status_code == 200 else ""
    return cluster, {"yaml": text} if text else {"delete_policy": policy.group(1)}


NP = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{app: db}}}}
  ingress:
  - from: [{{podSelector: {{matchLabels: {{app: web}}}}}}]
    ports: [{{port: {port}}}]
"""
CCNP = """apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: default-deny}
spec:
  endpointSelector: {}
  ingress: [{}]
"""


def create(org: Org1, role: str, cluster: str, text: str) -> object:
    path = f"/api/v1/clusters/{org.ids[cluster]}/policies"
    return call(org.client, org.tokens[role], "POST", path, json={"yaml": text, "message": "m"})


@pytest.mark.parametrize(
    ("role", "cluster", "text", "expected"),
    [
        ("workspace-admin", "c1", NP.format(name="db", ns="shop", port=5432), 201),
        ("workspace-admin", "c1", NP.format(name="db", ns="web", port=5432), 403),
        ("workspace-admin", "c1", CCNP, 403),
        ("workspace-viewer", "c1", NP.format(name="db", ns="shop", port=5432), 403),
        ("project-admin", "c1", NP.format(name="db", ns="web", port=5432), 201),
        ("project-admin", "c2", NP.format(name="db", ns="pay", port=5432), 403),
        ("project-admin", "c1", CCNP, 403),
        ("infra-admin", "c1", CCNP, 201),
        ("infra-admin", "c2", CCNP, 403),
        ("infra-admin", "c1", NP.format(name="db", ns="shop", port=5432), 403),
        ("org-viewer", "c1", CCNP, 403),
        ("org-admin", "c2", CCNP, 201),
    ],
)
def test_who_may_create_which_policy_where(
    org1: Org1,  # noqa: F811
    role: str,
    cluster: str,
    text: str,
    expected: int,
) -> None:
    response = create(org1, role, cluster, text)
    assert response.status_code == expected, response.text
    if expected == 201:
        assert response.headers["etag"] == '"v1"'
        assert response.json()["version"] == 1


def test_workspace_admin_edits_its_policy_and_is_refused_cluster_wide(org1: Org1) -> None:  # noqa: F811
    ws = org1.tokens["workspace-admin"]
    mine = ok(
        create(org1, "workspace-admin", "c1", NP.format(name="db", ns="shop", port=5432)), 201
    )
    ccnp = ok(create(org1, "infra-admin", "c1", CCNP), 201)
    changed = NP.format(name="db", ns="shop", port=6432)
    body = {"yaml": changed, "message": "move to pgbouncer"}
    updated = ok(
        call(
            org1.client,
            ws,
            "PUT",
            f"/api/v1/policies/{mine['id']}",
            json=body,
            headers={"If-Match": '"v1"'},
        )
    )
    assert updated["version"] == 2 and updated["author"] == "workspace-admin"
    refused = call(org1.client, ws, "PUT", f"/api/v1/policies/{ccnp['id']}", json={"yaml": CCNP})
    assert refused.status_code == 403
    # The workspace admin does not even see cluster-wide policies in lists.
    listed = ok(call(org1.client, ws, "GET", "/api/v1/policies"))["items"]
    assert [p["name"] for p in listed] == ["db"]
    audit = ok(
        call(
            org1.client,
            org1.tokens["org-viewer"],
            "GET",
            "/api/v1/audit",
            params={"actor": "workspace-admin"},
        )
    )
    assert {(e["action"], e["outcome"]) for e in audit["items"]} >= {
        ("update", "allowed"),
        ("write-cluster-policy", "denied"),
    }


def test_invalid_yaml_gets_located_errors(org1: Org1) -> None:  # noqa: F811
    bad = NP.format(name="db", ns="shop", port="postgres-port!")
    response = create(org1, "org-admin", "c1", bad)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["line"] == 8
    assert "ports" in problem["errors"][0]["field"]
    two = create(org1, "org-admin", "c1", CCNP + "---\n" + CCNP.replace("default-deny", "x"))
    assert two.status_code == 422 and "exactly one" in two.json()["detail"]
    nons = create(
        org1,
        "org-admin",
        "c1",
        NP.format(name="db", ns="shop", port=1).replace(", namespace: shop", ""),
    )
    # Like kubectl, an object without metadata.namespace lands in "default".
    assert nons.status_code == 201 and nons.json()["namespace"] == "default"


def test_versions_diff_lost_updates_rollback_and_delete(org1: Org1) -> None:  # noqa: F811
    c, admin = org1.client, org1.tokens["org-admin"]
    policy = ok(create(org1, "org-admin", "c1", NP.format(name="db", ns="shop", port=5432)), 201)
    path = f"/api/v1/policies/{policy['id']}"
    v2 = NP.format(name="db", ns="shop", port=6432)
    ok(call(c, admin, "PUT", path, json={"yaml": v2}, headers={"If-Match": '"v1"'}))
    stale = call(c, admin, "PUT", path, json={"yaml": v2 + "# x\n"}, headers={"If-Match": '"v1"'})
    assert stale.status_code == 412 and "version 2" in stale.json()["detail"]
    same = ok(call(c, admin, "PUT", path, json={"yaml": v2}))
    assert same["version"] == 2  # an identical apply makes no version
    diff = ok(call(c, admin, "GET", f"{path}/diff"))
    assert (
        "-    ports: [{port: 5432}]" in diff["text"]
        and "+    ports: [{port: 6432}]" in diff["text"]
    )
    assert len(diff["rules"]["added"]) == 1 and "6432" in diff["rules"]["added"][0]
    assert "5432" in diff["rules"]["removed"][0]
    back = ok(
        call(
            c, admin, "POST", f"{path}/rollback", json={"version": 1}, headers={"If-Match": '"v2"'}
        )
    )
    assert back["version"] == 3 and "5432" in back["yaml"]
    gone = ok(call(c, admin, "DELETE", path, headers={"If-Match": '"v3"'}))
    assert gone["deleted"] and gone["version"] == 4
    assert ok(call(c, admin, "GET", "/api/v1/policies"))["items"] == []
    versions = ok(call(c, admin, "GET", f"{path}/versions"))["items"]
    assert [v["version"] for v in versions] == [4, 3, 2, 1] and versions[0]["yaml"] == ""
    restored = ok(call(c, admin, "POST", f"{path}/rollback", json={"version": 3}))
    assert not restored["deleted"] and restored["version"] == 5
    bad_etag = call(c, admin, "PUT", path, json={"yaml": v2}, headers={"If-Match": "abc"})
    assert bad_etag.status_code == 422
    renamed = call(c, admin, "PUT", path, json={"yaml": NP.format(name="other", ns="shop", port=1)})
    assert renamed.status_code == 422
    dup = create(org1, "org-admin", "c1", NP.format(name="db", ns="shop", port=1))
    assert dup.status_code == 409


def test_other_orgs_and_viewers(org1: Org1) -> None:  # noqa: F811
    c = org1.client
    policy = ok(create(org1, "infra-admin", "c1", CCNP), 201)
    path = f"/api/v1/policies/{policy['id']}"
    assert call(c, org1.tokens["infra-viewer"], "GET", path).status_code == 200
    assert call(c, org1.tokens["infra-viewer"], "PUT", path, json={"yaml": CCNP}).status_code == 403
    assert call(c, org1.tokens["project-admin"], "GET", path).status_code == 403
    assert (
        call(
            c,
            org1.tokens["org-admin"],
            "GET",
            "/api/v1/policies/00000000-0000-0000-0000-000000000000",
        ).status_code
        == 404
    )


def _pod(ns: str, name: str, app: str, ip: str) -> dict[str, object]:
    ports = [{"name": "pg", "containerPort": 5432}, {"name": "alt", "containerPort": 6432}]
    return {"namespace": ns, "name": name, "labels": {"app": app}, "ip": ip, "node": "n1",
            "ports": ports}  # fmt: skip


def test_diff_lists_the_connections_that_change_on_the_clusters_pods(org1: Org1) -> None:  # noqa: F811
    c, admin = org1.client, org1.tokens["org-admin"]
    policy = ok(create(org1, "org-admin", "c1", NP.format(name="db", ns="shop", port=5432)), 201)
    path = f"/api/v1/policies/{policy['id']}"
    ok(call(c, admin, "PUT", path, json={"yaml": NP.format(name="db", ns="shop", port=6432)}))
    before_inventory = ok(call(c, admin, "GET", f"{path}/diff"))["connections"]
    assert before_inventory == {
        "available": False,
        "reason": "cluster c1 has reported no inventory",
    }
    inventory = {
        "namespaces": [{"name": "shop", "labels": {"team": "shop"}},
                       {"name": "web", "labels": {"team": "web"}}],
        "pods": [_pod("shop", "db-0", "db", "10.0.0.10"),
                 _pod("shop", "web-0", "web", "10.0.0.11"),
                 _pod("web", "web-1", "web", "10.0.0.12"),
                 _pod("web", "api-0", "api", "10.0.0.13")],
        "nodes": [{"name": "n1", "ip": "192.168.0.1"}],
    }  # fmt: skip
    ok(call(c, org1.tokens["agent"], "POST", "/api/v1/agent/inventory", json=inventory))
    diff = ok(call(c, admin, "GET", f"{path}/diff"))["connections"]
    assert diff["available"] and diff["pods"] == 4
    # Only shop/web-0 matches the policy's peer (the podSelector is in shop): 5432 closes,
    # 6432 opens; other pods reaching shop/db-0 were denied before and after.
    assert diff["changes"] == [
        {"from": "shop/web-0", "to": "shop/db-0", "added": "TCP 6432", "removed": "TCP 5432"}
    ]
    ws_admin = ok(call(c, org1.tokens["workspace-admin"], "GET", f"{path}/diff"))["connections"]
    assert ws_admin["changes"] == diff["changes"]  # shop is ws1's
