"""The org-structure API on SQLite and PostgreSQL: every route authenticated, every role
tried inside and outside its scope, other orgs' ids answered 404, denials audited, and a
route that forgets its authorization check failing closed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from netwarden.api.app import create_app
from netwarden.api.auth import ControlPlaneAuthenticator
from netwarden.api.guarded import Guarded, GuardedRoute
from netwarden.control.bootstrap import bootstrap
from netwarden.control.db import Database
from netwarden.control.models import Cluster, Org, Project
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.service import FlowService
from tests.api.conftest import auth
from tests.api.test_flow_api import OPEN_ROUTES, api_routes
from tests.control.conftest import database_url, db  # noqa: F401 (fixtures)


@dataclass
class Org1:
    client: TestClient
    tokens: dict[str, str]
    ids: dict[str, str]
    foreign: dict[str, str]  # ids of another org's objects


def call(client: TestClient, token: str, method: str, path: str, **kw: Any) -> Any:
    headers = {**auth(token), **kw.pop("headers", {})}
    return client.request(method, path, headers=headers, **kw)


def ok(response: Any, code: int = 200) -> Any:
    assert response.status_code == code, response.text
    return response.json() if response.content else None


@pytest.fixture
def org1(db: Database) -> Iterator[Org1]:  # noqa: F811
    with db.session() as s:
        boot = bootstrap(s, "acme")
        assert boot is not None
        other = Org(name="globex")
        s.add(other)
        s.flush()
        project = Project(org_id=other.id, name="secret")
        s.add(project)
        s.flush()
        cluster = Cluster(org_id=other.id, project_id=project.id, name="globex-prod")
        s.add(cluster)
        s.flush()
        foreign = {"project": project.id, "cluster": cluster.id}
    app = create_app(
        flow_service=FlowService(DuckDBFlowStore()),
        authenticator=ControlPlaneAuthenticator(db),
        db=db,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        admin = boot.token
        ids: dict[str, str] = {"org": boot.org.id}
        for name in ("p1", "p2"):
            ids[name] = ok(
                call(client, admin, "POST", "/api/v1/projects", json={"name": name}), 201
            )["id"]
        for name, project in (("c1", "p1"), ("c2", "p2")):
            body = {"name": name, "project": ids[project], "labels": {"env": "prod"}}
            ids[name] = ok(call(client, admin, "POST", "/api/v1/clusters", json=body), 201)["id"]
        for name, project in (("ws1", "p1"), ("ws2", "p2")):
            body = {"name": name, "project": ids[project]}
            ids[name] = ok(call(client, admin, "POST", "/api/v1/workspaces", json=body), 201)["id"]
        for cluster, ns, ws in (("c1", "shop", "ws1"), ("c1", "web", None), ("c2", "pay", "ws2")):
            body = {"labels": {"team": ns}, "workspace": ids[ws] if ws else None}
            ok(
                call(
                    client,
                    admin,
                    "PUT",
                    f"/api/v1/clusters/{ids[cluster]}/namespaces/{ns}",
                    json=body,
                )
            )
        tokens = {"org-admin": admin}
        roles = {
            "org-viewer": ids["org"],
            "infra-admin": ids["p1"],
            "infra-viewer": ids["p1"],
            "project-admin": ids["p1"],
            "project-viewer": ids["p1"],
            "workspace-admin": ids["ws1"],
            "workspace-viewer": ids["ws1"],
        }
        for role, scope in roles.items():
            user = ok(call(client, admin, "POST", "/api/v1/users", json={"name": role}), 201)
            binding = {"subject": user["id"], "role": role, "scope": scope}
            ok(call(client, admin, "POST", "/api/v1/role-bindings", json=binding), 201)
            tokens[role] = ok(
                call(client, admin, "POST", f"/api/v1/users/{user['id']}/tokens", json={}), 201
            )["token"]
        nobody = ok(call(client, admin, "POST", "/api/v1/users", json={"name": "nobody"}), 201)
        tokens["nobody"] = ok(
            call(client, admin, "POST", f"/api/v1/users/{nobody['id']}/tokens", json={}), 201
        )["token"]
        tokens["agent"] = ok(
            call(client, admin, "POST", f"/api/v1/clusters/{ids['c1']}/agent-tokens", json={}), 201
        )["token"]
        yield Org1(client, tokens, ids, foreign)


def names(response: Any) -> set[str]:
    return {item["name"] for item in ok(response)["items"]}


# (role, method, path template, body, expected status) -- ids are filled from Org1.ids
MATRIX: list[tuple[str, str, str, dict[str, Any] | None, int]] = [
    # create a cluster in p1 (infra roles of p1) and in p2
    ("org-admin", "POST", "/api/v1/clusters", {"name": "n1", "project": "{p1}"}, 201),
    ("infra-admin", "POST", "/api/v1/clusters", {"name": "n2", "project": "{p1}"}, 201),
    ("infra-admin", "POST", "/api/v1/clusters", {"name": "n3", "project": "{p2}"}, 403),
    ("infra-viewer", "POST", "/api/v1/clusters", {"name": "n4", "project": "{p1}"}, 403),
    ("project-admin", "POST", "/api/v1/clusters", {"name": "n5", "project": "{p1}"}, 403),
    ("workspace-admin", "POST", "/api/v1/clusters", {"name": "n6", "project": "{p1}"}, 403),
    ("org-viewer", "POST", "/api/v1/clusters", {"name": "n7", "project": "{p1}"}, 403),
    # change a cluster
    ("infra-admin", "PATCH", "/api/v1/clusters/{c1}", {"labels": {"env": "dev"}}, 200),
    ("infra-admin", "PATCH", "/api/v1/clusters/{c2}", {"labels": {"env": "dev"}}, 403),
    ("project-admin", "PATCH", "/api/v1/clusters/{c1}", {"labels": {"env": "dev"}}, 403),
    # workspaces and namespaces in p1
    ("project-admin", "POST", "/api/v1/workspaces", {"name": "w9", "project": "{p1}"}, 201),
    ("project-admin", "POST", "/api/v1/workspaces", {"name": "w8", "project": "{p2}"}, 403),
    ("project-viewer", "POST", "/api/v1/workspaces", {"name": "w7", "project": "{p1}"}, 403),
    ("workspace-admin", "POST", "/api/v1/workspaces", {"name": "w6", "project": "{p1}"}, 403),
    ("project-admin", "PUT", "/api/v1/clusters/{c1}/namespaces/new", {"workspace": "{ws1}"}, 200),
    ("project-admin", "PUT", "/api/v1/clusters/{c2}/namespaces/new", {}, 403),
    ("workspace-admin", "PUT", "/api/v1/clusters/{c1}/namespaces/x", {"workspace": "{ws1}"}, 403),
    # projects and users: org admins only
    ("infra-admin", "POST", "/api/v1/projects", {"name": "p9"}, 403),
    ("org-viewer", "POST", "/api/v1/projects", {"name": "p9"}, 403),
    ("project-admin", "DELETE", "/api/v1/projects/{p1}", None, 403),
    ("project-admin", "POST", "/api/v1/users", {"name": "eve"}, 403),
    # reads
    ("workspace-admin", "GET", "/api/v1/projects/{p1}", None, 200),
    ("workspace-admin", "GET", "/api/v1/projects/{p2}", None, 403),
    ("infra-viewer", "GET", "/api/v1/clusters/{c2}", None, 403),
    ("workspace-viewer", "GET", "/api/v1/workspaces/{ws2}", None, 403),
    ("project-admin", "GET", "/api/v1/audit", None, 403),
    ("org-viewer", "GET", "/api/v1/audit", None, 200),
    ("nobody", "GET", "/api/v1/clusters/{c1}", None, 403),
    ("nobody", "GET", "/api/v1/users", None, 403),
    # role bindings: project admins bind project/workspace roles in their project only
    (
        "project-admin",
        "POST",
        "/api/v1/role-bindings",
        {"subject": "{nobody}", "role": "workspace-viewer", "scope": "{ws1}"},
        201,
    ),
    (
        "project-admin",
        "POST",
        "/api/v1/role-bindings",
        {"subject": "{nobody}", "role": "workspace-viewer", "scope": "{ws2}"},
        403,
    ),
    (
        "project-admin",
        "POST",
        "/api/v1/role-bindings",
        {"subject": "{nobody}", "role": "infra-admin", "scope": "{p1}"},
        403,
    ),
    (
        "project-admin",
        "POST",
        "/api/v1/role-bindings",
        {"subject": "{nobody}", "role": "org-admin", "scope": "{org}"},
        403,
    ),
    (
        "workspace-admin",
        "POST",
        "/api/v1/role-bindings",
        {"subject": "{nobody}", "role": "workspace-admin", "scope": "{ws1}"},
        403,
    ),
    # agents have no control-plane access
    ("agent", "GET", "/api/v1/projects", None, 403),
]


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids) if "{" in value else value
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


def test_role_matrix(org1: Org1) -> None:
    users = ok(call(org1.client, org1.tokens["org-admin"], "GET", "/api/v1/users"))["items"]
    ids = {**org1.ids, "nobody": next(u["id"] for u in users if u["name"] == "nobody")}
    failures = []
    for role, method, path, body, expected in MATRIX:
        response = call(
            org1.client, org1.tokens[role], method, fill(path, ids), json=fill(body, ids)
        )
        if response.status_code != expected:
            failures.append(
                (role, method, path, expected, response.status_code, response.text[:200])
            )
    assert failures == []


def test_lists_show_only_what_each_role_may_read(org1: Org1) -> None:
    c, t = org1.client, org1.tokens
    assert names(call(c, t["org-admin"], "GET", "/api/v1/clusters")) == {"c1", "c2"}
    assert names(call(c, t["infra-admin"], "GET", "/api/v1/clusters")) == {"c1"}
    assert names(call(c, t["workspace-viewer"], "GET", "/api/v1/clusters")) == {"c1"}
    assert names(call(c, t["nobody"], "GET", "/api/v1/clusters")) == set()
    assert names(call(c, t["project-admin"], "GET", "/api/v1/workspaces")) == {"ws1"}
    assert names(call(c, t["workspace-admin"], "GET", "/api/v1/projects")) == {"p1"}
    namespaces = call(
        c, t["workspace-admin"], "GET", f"/api/v1/clusters/{org1.ids['c1']}/namespaces"
    )
    assert names(namespaces) == {"shop"}
    filtered = call(c, t["org-admin"], "GET", "/api/v1/clusters", params={"label": "env=prod"})
    assert names(filtered) == {"c1", "c2"}


def test_other_orgs_ids_are_not_found_and_never_listed(org1: Org1) -> None:
    c, admin = org1.client, org1.tokens["org-admin"]
    for path in (
        f"/api/v1/projects/{org1.foreign['project']}",
        f"/api/v1/clusters/{org1.foreign['cluster']}",
        f"/api/v1/clusters/{org1.foreign['cluster']}/namespaces",
    ):
        response = call(c, admin, "GET", path)
        assert response.status_code == 404
        assert "globex" not in response.text and "secret" not in response.text
    body = {"name": "x", "project": org1.foreign["project"]}
    assert call(c, admin, "POST", "/api/v1/clusters", json=body).status_code == 404
    assert "globex-prod" not in call(c, admin, "GET", "/api/v1/clusters").text
    # A name taken in another org is a conflict (cluster names are server-wide) but
    # the answer says nothing about whose it is.
    taken = call(
        c,
        admin,
        "POST",
        "/api/v1/clusters",
        json={"name": "globex-prod", "project": org1.ids["p1"]},
    )
    assert taken.status_code == 409 and "globex" not in taken.json()["detail"].replace(
        "globex-prod", ""
    )


def test_denials_and_changes_are_audited(org1: Org1) -> None:
    c, t = org1.client, org1.tokens
    assert (
        call(c, t["infra-admin"], "POST", "/api/v1/projects", json={"name": "p9"}).status_code
        == 403
    )
    entries = ok(call(c, t["org-viewer"], "GET", "/api/v1/audit", params={"outcome": "denied"}))
    (denial,) = [e for e in entries["items"] if e["actor"] == "infra-admin"]
    assert denial["action"] == "manage-org" and denial["name"] == "project p9"
    changes = ok(
        call(c, t["org-admin"], "GET", "/api/v1/audit", params={"actor": "admin", "limit": 500})
    )
    kinds = {(e["action"], e["kind"]) for e in changes["items"]}
    assert {("create", "project"), ("create", "cluster"), ("create", "role-binding")} <= kinds
    created = next(e for e in changes["items"] if e["kind"] == "cluster" and e["name"] == "c1")
    assert created["after"]["labels"] == {"env": "prod"} and created["before"] is None


def test_bad_input_is_located(org1: Org1) -> None:
    c, admin = org1.client, org1.tokens["org-admin"]
    response = call(
        c, admin, "POST", "/api/v1/clusters", json={"name": "Bad_Name", "project": org1.ids["p1"]}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.name"
    dup = call(c, admin, "POST", "/api/v1/projects", json={"name": "p1"})
    assert dup.status_code == 409


def test_tokens_can_be_revoked(org1: Org1) -> None:
    c, t = org1.client, org1.tokens
    me = ok(call(c, t["nobody"], "GET", "/api/v1/me"))
    users = ok(call(c, t["org-admin"], "GET", "/api/v1/users"))["items"]
    nobody = next(u for u in users if u["name"] == me["subject"])
    extra = ok(
        call(c, t["nobody"], "POST", f"/api/v1/users/{nobody['id']}/tokens", json={"name": "ci"}),
        201,
    )
    assert call(c, extra["token"], "GET", "/api/v1/me").status_code == 200
    ok(call(c, t["nobody"], "DELETE", f"/api/v1/tokens/{extra['id']}"), 204)
    assert call(c, extra["token"], "GET", "/api/v1/me").status_code == 401
    # Someone else's token: only org admins may revoke it.
    assert call(c, t["project-admin"], "DELETE", f"/api/v1/tokens/{extra['id']}").status_code == 403


def test_every_route_of_the_full_api_refuses_anonymous_callers(org1: Org1) -> None:
    app: FastAPI = org1.client.app  # type: ignore[assignment]
    routes = api_routes(app)
    assert len(routes) >= 30
    for method, template in routes:
        path = template.replace("{", "").replace("}", "")
        response = org1.client.request(method, path)
        assert response.status_code == 401, (method, template)
    assert "/api/v1/projects" not in OPEN_ROUTES


def test_a_route_that_forgets_its_check_fails_closed(db: Database) -> None:  # noqa: F811
    with db.session() as s:
        boot = bootstrap(s)
        assert boot is not None
    app = create_app(
        flow_service=FlowService(DuckDBFlowStore()),
        authenticator=ControlPlaneAuthenticator(db),
        db=db,
    )
    from fastapi import APIRouter

    careless = APIRouter(route_class=GuardedRoute)

    @careless.post("/careless")
    def forgot(acc: Guarded) -> dict[str, str]:
        acc.session.add(Project(org_id=acc.actor.org_id, name="sneaky"))
        return {"status": "done"}

    app.include_router(careless)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/careless", headers=auth(boot.token))
    assert response.status_code == 500 and "unchecked" in response.json()["detail"]
    with db.session() as s:
        from sqlalchemy import select

        assert s.scalars(select(Project).filter_by(name="sneaky")).first() is None


def test_lists_are_paginated_by_key(org1: Org1) -> None:
    c, admin = org1.client, org1.tokens["org-admin"]
    for name in ("p3", "p4", "p5"):
        ok(call(c, admin, "POST", "/api/v1/projects", json={"name": name}), 201)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        found = ok(call(c, admin, "GET", "/api/v1/projects", params=params))
        seen += [p["name"] for p in found["items"]]
        pages += 1
        after = found["next"]
        if after is None:
            break
    assert seen == ["p1", "p2", "p3", "p4", "p5"] and pages == 3
    # Filtering by visibility happens before the page is cut.
    only = ok(
        call(c, org1.tokens["workspace-admin"], "GET", "/api/v1/projects", params={"limit": 1})
    )
    assert [p["name"] for p in only["items"]] == ["p1"] and only["next"] is None
    assert call(c, admin, "GET", "/api/v1/clusters", params={"limit": 0}).status_code == 422
