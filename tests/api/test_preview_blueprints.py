"""The production gate on blueprint writes: a blueprint change that reaches clusters
matching ``preview_required_selector`` (env=prod here) carries the token of a preview of
that change over exactly those clusters (``POST /api/v1/blueprints/preview``); create,
change, delete, rollback and promote of a staged version, and the client that previews
them itself."""

from __future__ import annotations

from typing import Any

from netwarden.client.control import ControlRoutes
from tests.api.test_org_api import Org1, call, ok, org1  # noqa: F401 (fixture)
from tests.api.test_preview import DENY_ALL_BLUEPRINT, shop  # noqa: F401 (fixture)
from tests.control.conftest import database_url, db  # noqa: F401 (fixtures)

HEADER = "X-Netwarden-Preview"
DEV_ONLY = DENY_ALL_BLUEPRINT.replace("{env: prod}", "{env: dev}").replace(
    "name: lockdown", "name: dev-lockdown"
)


def bp_preview(org: Org1, body: dict[str, Any], role: str = "org-admin") -> Any:
    return call(org.client, org.tokens[role], "POST", "/api/v1/blueprints/preview", json=body)


def write(org: Org1, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    headers = {HEADER: token} if token else {}
    return call(org.client, org.tokens["org-admin"], method, path, headers=headers, **kw)


def _conn(c: dict[str, Any]) -> tuple[str, str, int, str]:
    return (c["source"]["display"], c["destination"]["display"], c["port"], c["change"])


def test_a_blueprint_reaching_production_needs_the_preview_of_that_change(shop: Org1) -> None:  # noqa: F811
    created_path = "/api/v1/blueprints"
    body = {"yaml": DENY_ALL_BLUEPRINT}
    missing = write(shop, "POST", created_path, json=body)
    assert missing.status_code == 428, missing.text
    problem = missing.json()
    assert "POST /api/v1/blueprints/preview" in problem["detail"]
    assert "c1" in problem["detail"] and "c2" in problem["detail"]
    assert problem["errors"][0]["field"] == "header.x-netwarden-preview"

    doc = ok(bp_preview(shop, {"blueprint_yaml": DENY_ALL_BLUEPRINT}))
    assert doc["change"] == {"kind": "blueprint", "blueprint": "lockdown", "version": 1}
    assert {r["name"] for r in doc["reached"]} == {"c1", "c2"}
    assert all(r["previewed"] for r in doc["reached"])
    assert [d["cluster"]["name"] for d in doc["clusters"]] == ["c1", "c2"]
    assert doc["token"]["required"] is True
    assert sorted(doc["token"]["clusters"]) == sorted([shop.ids["c1"], shop.ids["c2"]])
    # c1 carries the storefront's traffic: the tools namespace is cut off from it.
    c1 = doc["clusters"][0]
    changes = {_conn(c) for c in c1["changes"]}
    assert changes and all(c[0].startswith("tools/") and c[3] == "allowed->denied" for c in changes)
    assert doc["summary"]["allowed_to_denied"] == c1["summary"]["allowed_to_denied"] > 0
    assert doc["clusters"][1]["edges"] == 0  # c2 recorded no traffic

    # A token of another change, or of one cluster's preview, does not do.
    other = ok(bp_preview(shop, {"blueprint_yaml": DENY_ALL_BLUEPRINT + "\n# v2\n"}))
    assert write(shop, "POST", created_path, other["token"]["value"], json=body).status_code == 428
    single = call(
        shop.client,
        shop.tokens["org-admin"],
        "POST",
        f"/api/v1/clusters/{shop.ids['c1']}/preview",
        json={"blueprint_yaml": DENY_ALL_BLUEPRINT},
    )
    one = ok(single)["token"]["value"]
    assert write(shop, "POST", created_path, one, json=body).status_code == 428
    created = ok(write(shop, "POST", created_path, doc["token"]["value"], json=body), 201)
    assert created["version"] == 1  # the refused attempts wrote nothing
    audit = ok(call(shop.client, shop.tokens["org-admin"], "GET", "/api/v1/audit"))["items"]
    assert [a["action"] for a in audit if a["name"] == "lockdown"] == ["create"]

    # An identical re-apply changes nothing and needs no token; a change does.
    bp_path = f"/api/v1/blueprints/{created['id']}"
    assert ok(write(shop, "PUT", bp_path, json=body))["version"] == 1
    changed = {"yaml": DENY_ALL_BLUEPRINT.replace("egress: [{}]", "egress: []")}
    assert write(shop, "PUT", bp_path, json=changed).status_code == 428
    token = ok(bp_preview(shop, {"blueprint_yaml": changed["yaml"]}))["token"]["value"]
    assert ok(write(shop, "PUT", bp_path, token, json=changed))["version"] == 2

    # Rolling back is previewed as the YAML it restores.
    back = {"version": 1}
    assert write(shop, "POST", f"{bp_path}/rollback", json=back).status_code == 428
    token = ok(bp_preview(shop, {"blueprint_yaml": DENY_ALL_BLUEPRINT}))["token"]["value"]
    assert ok(write(shop, "POST", f"{bp_path}/rollback", token, json=back))["version"] == 3

    # Deleting it gives the connections back.
    assert write(shop, "DELETE", bp_path).status_code == 428
    undo = ok(bp_preview(shop, {"delete_blueprint": created["id"]}))
    assert undo["change"] == {"kind": "delete-blueprint", "blueprint": "lockdown", "version": 4}
    back_again = {_conn(c) for c in undo["clusters"][0]["changes"]}
    assert back_again == {(s, d, p, "denied->allowed") for s, d, p, _ in changes}
    gone = ok(write(shop, "DELETE", bp_path, undo["token"]["value"]))
    assert gone["deleted"] and gone["version"] == 4


def test_the_token_binds_the_set_of_production_clusters(shop: Org1) -> None:  # noqa: F811
    doc = ok(bp_preview(shop, {"blueprint_yaml": DENY_ALL_BLUEPRINT}))
    # c2 leaves production: the blueprint no longer reaches it, the set changed.
    patch = {"labels": {"env": "dev"}}
    ok(write(shop, "PATCH", f"/api/v1/clusters/{shop.ids['c2']}", json=patch))
    stale = write(
        shop, "POST", "/api/v1/blueprints", doc["token"]["value"], json={"yaml": DENY_ALL_BLUEPRINT}
    )
    assert stale.status_code == 428 and "another set of clusters" in stale.json()["detail"]
    fresh = ok(bp_preview(shop, {"blueprint_yaml": DENY_ALL_BLUEPRINT}))
    assert [r["name"] for r in fresh["reached"]] == ["c1"]
    body = {"yaml": DENY_ALL_BLUEPRINT}
    ok(write(shop, "POST", "/api/v1/blueprints", fresh["token"]["value"], json=body), 201)


def test_non_production_and_staged_writes_need_no_token(shop: Org1) -> None:  # noqa: F811
    # Assigned to env=dev clusters only: nothing to preview, nothing required.
    doc = ok(bp_preview(shop, {"blueprint_yaml": DEV_ONLY}))
    assert doc["reached"] == [] and doc["clusters"] == [] and doc["token"]["required"] is False
    ok(write(shop, "POST", "/api/v1/blueprints", json={"yaml": DEV_ONLY}), 201)
    # Staged: not enforced, no token; promoting it releases it: previewed.
    staged = ok(
        write(
            shop, "POST", "/api/v1/blueprints", json={"yaml": DENY_ALL_BLUEPRINT, "staged": True}
        ),
        201,
    )
    promote = f"/api/v1/blueprints/{staged['id']}/promote"
    assert write(shop, "POST", promote).status_code == 428
    token = ok(bp_preview(shop, {"blueprint_yaml": DENY_ALL_BLUEPRINT}))["token"]["value"]
    promoted = ok(write(shop, "POST", promote, token))
    assert promoted["version"] == 2 and not promoted["staged"]


def test_who_may_preview_a_blueprint_and_bad_requests(shop: Org1) -> None:  # noqa: F811
    body = {"blueprint_yaml": DENY_ALL_BLUEPRINT}
    # An org-wide blueprint is the Org Admins'; a project's, its Infra Admins'.
    assert bp_preview(shop, body, "infra-admin").status_code == 403
    assert bp_preview(shop, body, "workspace-admin").status_code == 403
    mine = ok(bp_preview(shop, {**body, "project": shop.ids["p1"]}, "infra-admin"))
    assert [r["name"] for r in mine["reached"]] == ["c1"]  # its project's clusters only
    bad = bp_preview(shop, {"blueprint_yaml": "kind: Blueprint\nmetadata: {}\n"})
    assert bad.status_code == 422
    both = bp_preview(shop, {**body, "delete_blueprint": "x"})
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    assert bp_preview(shop, {"delete_blueprint": "nope"}).status_code == 404
    assert bp_preview(shop, {**body, "since": "yesterday-ish"}).status_code == 400


class _Client(ControlRoutes):
    """The client's blueprint methods over the test app."""

    def __init__(self, org: Org1) -> None:
        self.org = org
        self.previews: list[dict[str, Any]] = []
        self.on_preview = self.previews.append

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return ok(
            call(self.org.client, self.org.tokens["org-admin"], method, path, **kwargs),
            201 if method == "POST" and path == "/api/v1/blueprints" else 200,
        )


def test_the_client_previews_blueprint_writes_itself(shop: Org1) -> None:  # noqa: F811
    client = _Client(shop)
    created = client.create_blueprint(DENY_ALL_BLUEPRINT, "lock", None)
    assert created["version"] == 1
    assert [p["cluster"]["name"] for p in client.previews] == ["c1", "c2"]
    changed = DENY_ALL_BLUEPRINT.replace("egress: [{}]", "egress: []")
    assert client.update_blueprint(created["id"], changed, "v2", 1)["version"] == 2
    assert client.rollback_blueprint(created["id"], 1, "back", 2)["version"] == 3
    staged = client.update_blueprint(created["id"], changed, "staged", 3, staged=True)
    assert staged["staged"] and staged["version"] == 4
    assert client.promote("blueprints", created["id"], 1.0)["version"] == 5
    assert client.delete_blueprint(created["id"], "gone", 5)["deleted"]
    kinds = {p["change"]["kind"] for p in client.previews}
    assert kinds == {"blueprint", "delete-blueprint"}
