"""Groups, and changing or deleting workspaces, users and projects, on SQLite and
PostgreSQL: every role against every new route in and out of its scope, other orgs' ids
answered 404 with nothing leaked, group role bindings granting exactly their scope and
losing it on the very next request, deleted users' tokens refused, and the org never
left without an Org Admin."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI

from netwarden.control.db import Database
from netwarden.control.models import Group, GroupMember, Org, RoleBinding, User, Workspace
from tests.api.test_flow_api import api_routes
from tests.api.test_org_api import Org1, fill, ok, org1  # noqa: F401 (fixture)
from tests.api.test_policy_api import call  # policy writes preview first (env=prod)
from tests.control.conftest import database_url, db  # noqa: F401 (fixtures)

NP = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{app: db}}}}
  ingress:
  - from: [{{podSelector: {{matchLabels: {{app: web}}}}}}]
"""
ROLES = (
    "org-admin",
    "org-viewer",
    "infra-admin",
    "infra-viewer",
    "project-admin",
    "project-viewer",
    "workspace-admin",
    "workspace-viewer",
    "nobody",
    "agent",
)
HOLDERS = tuple(r for r in ROLES if r not in ("nobody", "agent"))  # hold some role


@dataclass
class Dir:
    org: Org1
    db: Database
    ids: dict[str, str]  # Org1's ids plus users, groups and this test's objects
    foreign: dict[str, str]

    def __call__(self, role: str, method: str, path: str, body: Any = None) -> Any:
        return call(self.org.client, self.org.tokens[role], method, fill(path, self.ids), json=body)

    def admin(self, method: str, path: str, body: Any = None, code: int = 200) -> Any:
        return ok(self("org-admin", method, path, body), code)


@pytest.fixture
def d(org1: Org1, db: Database) -> Iterator[Dir]:  # noqa: F811
    """Org1, plus group "team" (member: workspace-viewer), an empty workspace in each
    project, a user to delete, and another org's group, user, workspace and binding."""
    with db.session() as s:
        other = s.query(Org).filter_by(name="globex").one()
        user = User(org_id=other.id, name="globex-user")
        group = Group(org_id=other.id, name="globex-group")
        ws = Workspace(org_id=other.id, project_id=org1.foreign["project"], name="globex-ws")
        s.add_all([user, group, ws])
        s.flush()
        s.add(GroupMember(group_id=group.id, user_id=user.id))
        binding = RoleBinding(
            org_id=other.id,
            subject_kind="group",
            subject_id=group.id,
            role="workspace-admin",
            scope_kind="workspace",
            scope_id=ws.id,
        )
        s.add(binding)
        s.flush()
        foreign = {
            **org1.foreign,
            "user": user.id,
            "group": group.id,
            "workspace": ws.id,
            "binding": binding.id,
        }
    admin = org1.tokens["org-admin"]
    users = ok(call(org1.client, admin, "GET", "/api/v1/users"))["items"]
    ids = {**org1.ids, **{u["name"]: u["id"] for u in users}}
    ids["victim"] = ok(call(org1.client, admin, "POST", "/api/v1/users", json={"name": "v"}), 201)[
        "id"
    ]
    ids["team"] = ok(
        call(org1.client, admin, "POST", "/api/v1/groups", json={"name": "team"}), 201
    )["id"]
    path = f"/api/v1/groups/{ids['team']}/members/{ids['workspace-viewer']}"
    ok(call(org1.client, admin, "PUT", path))
    for name, project in (("empty1", "p1"), ("empty2", "p2")):
        body = {"name": name, "project": ids[project]}
        ids[name] = ok(call(org1.client, admin, "POST", "/api/v1/workspaces", json=body), 201)["id"]
    yield Dir(org1, db, ids, foreign)


# (method, path, body, roles that may, their status): every other role gets 403. Only
# non-destructive rows here: a success must leave the next role's row meaningful.
ROUTES: list[tuple[str, str, dict[str, Any] | None, set[str], int]] = [
    ("GET", "/api/v1/groups", None, set(HOLDERS), 200),
    ("GET", "/api/v1/groups/{team}", None, set(HOLDERS), 200),
    ("POST", "/api/v1/groups", {"name": "g-{role}"}, {"org-admin"}, 201),
    ("PATCH", "/api/v1/groups/{team}", {"name": "team"}, {"org-admin"}, 200),
    ("PUT", "/api/v1/groups/{team}/members/{nobody}", None, {"org-admin"}, 200),
    ("DELETE", "/api/v1/groups/{team}/members/{workspace-viewer}", None, set(), 204),
    ("DELETE", "/api/v1/groups/{team}", None, set(), 204),
    ("PATCH", "/api/v1/projects/{p1}", {"description": "by {role}"}, {"org-admin"}, 200),
    ("DELETE", "/api/v1/projects/{p2}", None, set(), 204),
    (
        "PATCH",
        "/api/v1/workspaces/{ws1}",
        {"description": "by {role}"},
        {"org-admin", "project-admin"},
        200,
    ),
    ("PATCH", "/api/v1/workspaces/{ws2}", {"description": "x"}, {"org-admin"}, 200),
    ("DELETE", "/api/v1/workspaces/{empty2}", None, set(), 204),
    ("PATCH", "/api/v1/users/{victim}", {"email": "{role}@acme.test"}, {"org-admin"}, 200),
    ("PATCH", "/api/v1/users/{nobody}", {"disabled": False}, {"org-admin"}, 200),
    ("DELETE", "/api/v1/users/{victim}", None, set(), 204),
    (
        "POST",
        "/api/v1/role-bindings",
        {
            "subject_kind": "group",
            "subject": "{team}",
            "role": "workspace-viewer",
            "scope": "{ws2}",
        },
        {"org-admin"},
        201,
    ),
]


def test_every_role_against_every_new_route(d: Dir) -> None:
    failures = []
    for method, path, body, allowed, code in ROUTES:
        # Destructive rows (nobody allowed here): org admins' successes are tested below.
        for role in ROLES if allowed else ROLES[1:]:
            filled = fill(body, {**d.ids, "role": role})
            response = d(role, method, path, filled)
            expected = code if role in allowed else 403
            if method == "POST" and "role-bindings" in path and response.status_code == 201:
                d.admin("DELETE", f"/api/v1/role-bindings/{response.json()['id']}", code=204)
            if response.status_code != expected:
                failures.append((role, method, path, expected, response.text[:150]))
    assert failures == []
    # The refusals changed nothing and were audited.
    team = d.admin("GET", "/api/v1/groups/{team}")
    assert {m["name"] for m in team["members"]} == {"workspace-viewer", "nobody"}
    assert d.admin("GET", "/api/v1/workspaces/{empty2}")["name"] == "empty2"
    assert "v" in {u["name"] for u in d.admin("GET", "/api/v1/users")["items"]}
    denied = d.admin("GET", "/api/v1/audit", None)["items"]
    assert any(e["outcome"] == "denied" and e["name"] == "group team" for e in denied)


def test_project_admins_manage_the_workspaces_of_their_project_only(d: Dir) -> None:
    assert d("project-admin", "DELETE", "/api/v1/workspaces/{empty2}").status_code == 403
    assert d("workspace-admin", "DELETE", "/api/v1/workspaces/{ws1}").status_code == 403
    assert d("workspace-admin", "PATCH", "/api/v1/workspaces/{ws1}", {"name": "x"}).status_code == (
        403
    )
    ok(d("project-admin", "PATCH", "/api/v1/workspaces/{empty1}", {"name": "renamed"}))
    assert d.admin("GET", "/api/v1/workspaces/{empty1}")["name"] == "renamed"
    ok(d("project-admin", "DELETE", "/api/v1/workspaces/{empty1}"), 204)
    assert d("org-admin", "GET", "/api/v1/workspaces/{empty1}").status_code == 404
    # Group bindings in their project, not elsewhere, never infra roles.
    bind = {"subject_kind": "group", "subject": d.ids["team"], "role": "workspace-admin"}
    ok(d("project-admin", "POST", "/api/v1/role-bindings", {**bind, "scope": d.ids["ws1"]}), 201)
    refused = d("project-admin", "POST", "/api/v1/role-bindings", {**bind, "scope": d.ids["ws2"]})
    assert refused.status_code == 403
    infra = {**bind, "role": "infra-admin", "scope": d.ids["p1"]}
    assert d("project-admin", "POST", "/api/v1/role-bindings", infra).status_code == 403


def test_other_orgs_ids_are_not_found_and_nothing_leaks(d: Dir) -> None:
    f = d.foreign
    attempts = [
        ("GET", f"/api/v1/groups/{f['group']}", None),
        ("PATCH", f"/api/v1/groups/{f['group']}", {"name": "mine"}),
        ("DELETE", f"/api/v1/groups/{f['group']}", None),
        ("PUT", f"/api/v1/groups/{f['group']}/members/{d.ids['nobody']}", None),
        ("PUT", f"/api/v1/groups/{d.ids['team']}/members/{f['user']}", None),
        ("DELETE", f"/api/v1/groups/{f['group']}/members/{f['user']}", None),
        ("DELETE", f"/api/v1/groups/{d.ids['team']}/members/{f['user']}", None),
        ("PATCH", f"/api/v1/users/{f['user']}", {"email": "x@y"}),
        ("DELETE", f"/api/v1/users/{f['user']}", None),
        ("PATCH", f"/api/v1/workspaces/{f['workspace']}", {"name": "mine"}),
        ("DELETE", f"/api/v1/workspaces/{f['workspace']}", None),
        ("PATCH", f"/api/v1/projects/{f['project']}", {"name": "mine"}),
        ("DELETE", f"/api/v1/role-bindings/{f['binding']}", None),
        (
            "POST",
            "/api/v1/role-bindings",
            {
                "subject_kind": "group",
                "subject": f["group"],
                "role": "org-viewer",
                "scope": "{org}",
            },
        ),
        (
            "POST",
            "/api/v1/role-bindings",
            {"subject_kind": "user", "subject": f["user"], "role": "org-viewer", "scope": "{org}"},
        ),
        (
            "POST",
            "/api/v1/role-bindings",
            {
                "subject_kind": "group",
                "subject": "{team}",
                "role": "workspace-admin",
                "scope": f["workspace"],
            },
        ),
    ]
    for role in ("org-admin", "project-admin"):
        for method, path, body in attempts:
            response = d(role, method, path, fill(body, d.ids))
            assert response.status_code == 404 or (
                role == "project-admin" and response.status_code == 403
            ), (role, method, path, response.status_code)
            assert "globex" not in response.text, (method, path)
    # A group id given as a user (and the reverse) is not found either.
    as_user = {"subject_kind": "user", "subject": d.ids["team"], "role": "org-viewer"}
    response = d("org-admin", "POST", "/api/v1/role-bindings", {**as_user, "scope": d.ids["org"]})
    assert response.status_code == 404
    for path in ("/api/v1/groups", "/api/v1/users", "/api/v1/role-bindings"):
        assert "globex" not in d("org-admin", "GET", path).text
        assert f["group"] not in d("org-admin", "GET", path).text
    # The other org's objects are untouched.
    with d.db.session() as s:
        assert s.get(Group, f["group"]) is not None and s.get(User, f["user"]) is not None
        assert s.get(GroupMember, (f["group"], f["user"])) is not None
        assert s.get(RoleBinding, f["binding"]) is not None


def test_a_group_grants_exactly_its_binding_and_removal_takes_it_away(d: Dir) -> None:
    admin = d.org.tokens["org-admin"]
    gina = d.admin("POST", "/api/v1/users", {"name": "gina"}, 201)
    token = d.admin("POST", f"/api/v1/users/{gina['id']}/tokens", {}, 201)["token"]
    d.org.tokens["gina"] = token
    d.ids["gina"] = gina["id"]
    checkout = d.admin("POST", "/api/v1/groups", {"name": "checkout"}, 201)
    d.ids["checkout"] = checkout["id"]
    bind = {
        "subject_kind": "group",
        "subject": checkout["id"],
        "role": "workspace-admin",
        "scope": d.ids["ws1"],
    }
    binding = ok(
        call(
            d.org.client, d.org.tokens["project-admin"], "POST", "/api/v1/role-bindings", json=bind
        ),
        201,
    )
    shop = {"yaml": NP.format(name="db", ns="shop"), "message": "m"}
    web = {"yaml": NP.format(name="db", ns="web"), "message": "m"}
    policies = "/api/v1/clusters/{c1}/policies"

    def rights() -> tuple[int, int, int, int, dict[str, Any]]:
        return (
            d("gina", "GET", "/api/v1/workspaces/{ws1}").status_code,
            d("gina", "GET", "/api/v1/workspaces/{ws2}").status_code,
            d("gina", "POST", policies, web).status_code,
            d("gina", "GET", "/api/v1/clusters/{c2}").status_code,
            ok(d("gina", "GET", "/api/v1/me"))["grants"],
        )

    assert rights()[:4] == (403, 403, 403, 403)
    assert d("gina", "POST", policies, shop).status_code == 403
    # Added to the group: the very next request has the workspace's rights, nothing more.
    member = d.admin("PUT", "/api/v1/groups/{checkout}/members/{gina}")
    assert [m["name"] for m in member["members"]] == ["gina"]
    assert (
        d.admin("PUT", "/api/v1/groups/{checkout}/members/{gina}")["members"] == member["members"]
    )
    created = ok(d("gina", "POST", policies, shop), 201)
    ws1_read, ws2_read, web_write, c2_read, grants = rights()
    assert (ws1_read, ws2_read, web_write, c2_read) == (200, 403, 403, 403)
    assert grants["workspace_admin"] == [d.ids["ws1"]]
    assert not grants["org_admin"] and grants["project_admin"] == []
    # Removed from the group: the very next request has none of it.
    ok(d("org-admin", "DELETE", "/api/v1/groups/{checkout}/members/{gina}"), 204)
    assert d("gina", "GET", f"/api/v1/policies/{created['id']}").status_code == 403
    assert rights()[0] == 403 and rights()[4]["workspace_admin"] == []
    assert d("org-admin", "DELETE", "/api/v1/groups/{checkout}/members/{gina}").status_code == 404
    # Back in the group, then the binding goes: gone at once too.
    d.admin("PUT", "/api/v1/groups/{checkout}/members/{gina}")
    assert rights()[0] == 200
    ok(call(d.org.client, admin, "DELETE", f"/api/v1/role-bindings/{binding['id']}"), 204)
    assert rights()[0] == 403
    # Bound again, then the group is deleted: its members and bindings go with it.
    again = d.admin("POST", "/api/v1/role-bindings", bind, 201)
    assert rights()[0] == 200
    ok(d("org-admin", "DELETE", "/api/v1/groups/{checkout}"), 204)
    assert rights()[0] == 403
    bindings = d.admin("GET", "/api/v1/role-bindings")["items"]
    assert again["id"] not in {b["id"] for b in bindings}
    assert "checkout" not in {g["name"] for g in d.admin("GET", "/api/v1/groups")["items"]}
    entry = next(
        e
        for e in d.admin("GET", "/api/v1/audit", None)["items"]
        if e["kind"] == "group" and e["action"] == "delete"
    )
    assert entry["before"]["members"] == [{"id": gina["id"], "name": "gina"}]
    assert [b["id"] for b in entry["before"]["role_bindings"]] == [again["id"]]
    with d.db.session() as s:
        assert s.query(GroupMember).filter_by(group_id=checkout["id"]).count() == 0


def test_deleting_a_user_revokes_their_tokens_bindings_and_memberships(d: Dir) -> None:
    victim = d.ids["victim"]
    tokens = [
        d.admin("POST", f"/api/v1/users/{victim}/tokens", {"name": n}, 201)["token"]
        for n in ("a", "b")
    ]
    bind = {"subject": victim, "role": "project-viewer", "scope": d.ids["p1"]}
    binding = d.admin("POST", "/api/v1/role-bindings", bind, 201)
    d.admin("PUT", f"/api/v1/groups/{{team}}/members/{victim}")
    for token in tokens:
        assert (
            call(d.org.client, token, "GET", "/api/v1/projects/" + d.ids["p1"]).status_code == 200
        )
    ok(d("org-admin", "DELETE", "/api/v1/users/{victim}"), 204)
    for token in tokens:
        assert call(d.org.client, token, "GET", "/api/v1/me").status_code == 401
    assert "v" not in {u["name"] for u in d.admin("GET", "/api/v1/users")["items"]}
    assert binding["id"] not in {b["id"] for b in d.admin("GET", "/api/v1/role-bindings")["items"]}
    members = d.admin("GET", "/api/v1/groups/{team}")["members"]
    assert victim not in {m["id"] for m in members}
    assert d("org-admin", "DELETE", "/api/v1/users/{victim}").status_code == 404
    entry = next(
        e
        for e in d.admin("GET", "/api/v1/audit", None)["items"]
        if e["kind"] == "user" and e["action"] == "delete"
    )
    assert entry["before"]["name"] == "v" and entry["before"]["groups"] == ["team"]
    assert len(entry["before"]["tokens"]) == 2
    assert [b["id"] for b in entry["before"]["role_bindings"]] == [binding["id"]]
    # A new user of the same name inherits nothing.
    again = d.admin("POST", "/api/v1/users", {"name": "v"}, 201)
    token = d.admin("POST", f"/api/v1/users/{again['id']}/tokens", {}, 201)["token"]
    grants = ok(call(d.org.client, token, "GET", "/api/v1/me"))["grants"]
    assert grants["project_viewer"] == []


def test_the_org_keeps_an_org_admin(d: Dir) -> None:
    me = ok(d("org-admin", "GET", "/api/v1/me"))
    d.ids["admin"] = me["id"]
    assert d("org-admin", "DELETE", "/api/v1/users/{admin}").status_code == 409
    assert d("org-admin", "PATCH", "/api/v1/users/{admin}", {"disabled": True}).status_code == 409
    own = next(
        b
        for b in d.admin("GET", "/api/v1/role-bindings")["items"]
        if b["subject"] == me["id"] and b["role"] == "org-admin"
    )
    last = d("org-admin", "DELETE", f"/api/v1/role-bindings/{own['id']}")
    assert last.status_code == 409 and "without an Org Admin" in last.json()["detail"]
    assert ok(d("org-admin", "GET", "/api/v1/me"))["grants"]["org_admin"]
    # A second Org Admin through group "admins".
    second = d.admin("POST", "/api/v1/users", {"name": "second"}, 201)
    d.ids["second"] = second["id"]
    d.org.tokens["second"] = d.admin("POST", f"/api/v1/users/{second['id']}/tokens", {}, 201)[
        "token"
    ]
    admins = d.admin("POST", "/api/v1/groups", {"name": "admins"}, 201)
    d.ids["admins"] = admins["id"]
    group_binding = d.admin(
        "POST",
        "/api/v1/role-bindings",
        {
            "subject_kind": "group",
            "subject": admins["id"],
            "role": "org-admin",
            "scope": d.ids["org"],
        },
        201,
    )
    d.admin("PUT", "/api/v1/groups/{admins}/members/{second}")
    # Now the first admin may go, removed by the second.
    ok(d("second", "DELETE", "/api/v1/users/{admin}"), 204)
    assert d("org-admin", "GET", "/api/v1/me").status_code == 401
    # The second is the last one, whichever way their rights would go.
    assert d("second", "DELETE", "/api/v1/groups/{admins}/members/{second}").status_code == 409
    assert d("second", "DELETE", "/api/v1/groups/{admins}").status_code == 409
    gone = d("second", "DELETE", f"/api/v1/role-bindings/{group_binding['id']}")
    assert gone.status_code == 409
    assert d("second", "DELETE", "/api/v1/users/{second}").status_code == 409
    # A disabled Org Admin does not count.
    third = d("second", "POST", "/api/v1/users", {"name": "third"})
    d.ids["third"] = ok(third, 201)["id"]
    bind = {"subject": d.ids["third"], "role": "org-admin", "scope": d.ids["org"]}
    ok(d("second", "POST", "/api/v1/role-bindings", bind), 201)
    disabled = ok(d("second", "PATCH", "/api/v1/users/{third}", {"disabled": True}))
    assert disabled["disabled"] is True
    assert d("second", "DELETE", "/api/v1/groups/{admins}/members/{second}").status_code == 409
    # Enabled, it does: then the second may leave the group.
    ok(d("second", "PATCH", "/api/v1/users/{third}", {"disabled": False}))
    ok(d("second", "DELETE", "/api/v1/groups/{admins}/members/{second}"), 204)
    assert d("second", "GET", "/api/v1/audit").status_code == 403
    assert ok(d("second", "GET", "/api/v1/me"))["grants"]["org_admin"] is False


def test_disabling_a_user_stops_their_tokens_until_enabled(d: Dir) -> None:
    token = d.org.tokens["project-admin"]
    assert call(d.org.client, token, "GET", "/api/v1/me").status_code == 200
    d.admin("PATCH", "/api/v1/users/{project-admin}", {"disabled": True})
    assert call(d.org.client, token, "GET", "/api/v1/me").status_code == 401
    d.admin("PATCH", "/api/v1/users/{project-admin}", {"disabled": False})
    assert call(d.org.client, token, "GET", "/api/v1/me").status_code == 200


def test_a_workspace_with_namespaces_is_not_deleted(d: Dir) -> None:
    created = ok(
        d(
            "workspace-admin",
            "POST",
            "/api/v1/clusters/{c1}/policies",
            {"yaml": NP.format(name="db", ns="shop")},
        ),
        201,
    )
    refused = d("org-admin", "DELETE", "/api/v1/workspaces/{ws1}")
    assert refused.status_code == 409 and "c1/shop" in refused.json()["detail"]
    assert ok(d("workspace-admin", "GET", "/api/v1/me"))["grants"]["workspace_admin"] == [
        d.ids["ws1"]
    ]
    # Unassigned (the namespace stays in the project), the workspace can go; its
    # bindings go with it, the namespace's policies stay (detached from it).
    d.admin("PUT", "/api/v1/clusters/{c1}/namespaces/shop", {"labels": {"team": "shop"}})
    ok(d("project-admin", "DELETE", "/api/v1/workspaces/{ws1}"), 204)
    assert ok(d("workspace-admin", "GET", "/api/v1/me"))["grants"]["workspace_admin"] == []
    policy = d.admin("GET", f"/api/v1/policies/{created['id']}")
    assert policy["name"] == "db" and policy["workspace"] is None
    entry = next(
        e
        for e in d.admin("GET", "/api/v1/audit", None)["items"]
        if e["kind"] == "workspace" and e["action"] == "delete"
    )
    assert entry["actor"] == "project-admin" and entry["before"]["name"] == "ws1"
    assert {b["role"] for b in entry["before"]["role_bindings"]} == {
        "workspace-admin",
        "workspace-viewer",
    }


def test_changes_are_audited_with_before_and_after(d: Dir) -> None:
    d.admin("PATCH", "/api/v1/projects/{p1}", {"name": "shop", "description": "the shop"})
    d.admin("PATCH", "/api/v1/workspaces/{ws1}", {"name": "checkout"})
    d.admin("PATCH", "/api/v1/users/{nobody}", {"name": "nobody2", "email": "n@acme.test"})
    d.admin("PATCH", "/api/v1/groups/{team}", {"name": "squad"})
    entries = d.admin("GET", "/api/v1/audit", None)["items"]
    updates = {e["kind"]: e for e in entries if e["action"] == "update"}
    assert (updates["project"]["before"]["name"], updates["project"]["after"]["name"]) == (
        "p1",
        "shop",
    )
    assert updates["project"]["after"]["description"] == "the shop"
    assert updates["workspace"]["before"]["name"] == "ws1"
    assert updates["workspace"]["after"]["name"] == "checkout"
    assert updates["user"]["before"] == {
        "id": d.ids["nobody"],
        "name": "nobody",
        "email": "",
        "disabled": False,
    }
    assert updates["user"]["after"]["email"] == "n@acme.test"
    assert (updates["group"]["before"]["name"], updates["group"]["after"]["name"]) == (
        "team",
        "squad",
    )
    # The renamed user is still themself (their token, their name in /me).
    assert ok(d("nobody", "GET", "/api/v1/me"))["subject"] == "nobody2"
    # Names stay unique, and valid.
    assert d("org-admin", "PATCH", "/api/v1/projects/{p1}", {"name": "p2"}).status_code == 409
    assert d("org-admin", "PATCH", "/api/v1/workspaces/{ws1}", {"name": "ws2"}).status_code == 409
    assert d(
        "org-admin", "PATCH", "/api/v1/users/{nobody}", {"name": "org-viewer"}
    ).status_code == (409)
    assert d("org-admin", "POST", "/api/v1/groups", {"name": "squad"}).status_code == 409
    bad = d("org-admin", "PATCH", "/api/v1/workspaces/{ws1}", {"name": "Bad_Name"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.name"
    # Deleting a project removes the bindings over it and its workspaces.
    team = {"subject_kind": "group", "subject": d.ids["team"]}
    doomed = [
        d.admin("POST", "/api/v1/role-bindings", {**team, "role": role, "scope": d.ids[s]}, 201)
        for role, s in (("project-viewer", "p2"), ("workspace-admin", "ws2"))
    ]
    ok(d("org-admin", "DELETE", "/api/v1/projects/{p2}"), 204)
    left = {b["id"] for b in d.admin("GET", "/api/v1/role-bindings")["items"]}
    assert left and not left & {b["id"] for b in doomed}
    with d.db.session() as s:
        assert (
            s.query(RoleBinding).filter(RoleBinding.id.in_([b["id"] for b in doomed])).count() == 0
        )


def test_the_new_routes_are_in_the_enumerated_api(d: Dir) -> None:
    app: FastAPI = d.org.client.app  # type: ignore[assignment]
    routes = set(api_routes(app))
    for route in (
        ("GET", "/api/v1/groups"),
        ("POST", "/api/v1/groups"),
        ("GET", "/api/v1/groups/{group_id}"),
        ("PATCH", "/api/v1/groups/{group_id}"),
        ("DELETE", "/api/v1/groups/{group_id}"),
        ("PUT", "/api/v1/groups/{group_id}/members/{user_id}"),
        ("DELETE", "/api/v1/groups/{group_id}/members/{user_id}"),
        ("PATCH", "/api/v1/projects/{project_id}"),
        ("PATCH", "/api/v1/workspaces/{workspace_id}"),
        ("DELETE", "/api/v1/workspaces/{workspace_id}"),
        ("PATCH", "/api/v1/users/{user_id}"),
        ("DELETE", "/api/v1/users/{user_id}"),
    ):
        assert route in routes, route
        path = route[1].replace("{", "").replace("}", "")
        assert d.org.client.request(route[0], path).status_code == 401
        forged = d.org.client.request(route[0], path, headers={"Authorization": "Bearer nw_x"})
        assert forged.status_code == 401
