"""Agents pull desired state (long-poll) and report; clusters show synced / pending /
failed / drifted / unknown; only a cluster's agent reaches its agent routes."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.api.test_blueprint_api import blueprint, post
from tests.api.test_org_api import Org1, call, ok, org1  # noqa: F401 (fixture)
from tests.control.conftest import database_url, db  # noqa: F401 (fixtures)


def pull(org: Org1, **params: Any) -> dict[str, Any]:
    return ok(
        call(org.client, org.tokens["agent"], "GET", "/api/v1/agent/desired-state", params=params)
    )


def status(org: Org1, cluster: str = "c1") -> dict[str, Any]:
    path = f"/api/v1/clusters/{org.ids[cluster]}/status"
    return ok(call(org.client, org.tokens["org-admin"], "GET", path))


def report(org: Org1, body: dict[str, Any]) -> Any:
    return call(org.client, org.tokens["agent"], "POST", "/api/v1/agent/status", json=body)


def test_agent_pulls_its_own_desired_state(org1: Org1) -> None:  # noqa: F811
    first = pull(org1)
    assert first["changed"] and first["cluster"] == "c1" and first["generation"] == 1
    started = time.monotonic()
    idle = pull(org1, after=first["generation"], wait=1)
    assert not idle["changed"] and 0.9 <= time.monotonic() - started < 5
    for token in ("org-admin", "infra-admin"):
        refused = call(org1.client, org1.tokens[token], "GET", "/api/v1/agent/desired-state")
        assert refused.status_code == 403


def test_long_poll_returns_when_a_blueprint_changes_the_cluster(org1: Org1) -> None:  # noqa: F811
    generation = pull(org1)["generation"]
    got: list[dict[str, Any]] = []
    waiter = threading.Thread(target=lambda: got.append(pull(org1, after=generation, wait=20)))
    waiter.start()
    time.sleep(0.3)
    started = time.monotonic()
    ok(post(org1, "infra-admin", blueprint("day0"), "p1"), 201)
    waiter.join(20)
    assert got and got[0]["changed"] and got[0]["generation"] == generation + 1
    assert time.monotonic() - started < 5
    names = {o["metadata"]["name"] for o in got[0]["objects"]}
    assert {"day0-allow-dns", "day0-default-deny"} <= names


def test_sync_states(org1: Org1) -> None:  # noqa: F811
    assert status(org1)["state"] == "unknown"
    ok(post(org1, "infra-admin", blueprint("day0"), "p1"), 201)
    desired = pull(org1)
    gen = desired["generation"]
    objects = [
        {"kind": o["kind"], "namespace": o["metadata"].get("namespace", ""),
         "name": o["metadata"]["name"], "status": "applied"}
        for o in desired["objects"]
    ]  # fmt: skip
    ok(report(org1, {"generation": gen - 1, "objects": objects}))
    assert status(org1)["state"] == "pending"
    ok(report(org1, {"generation": gen, "objects": objects, "cilium_version": "1.19.4"}))
    synced = status(org1)
    assert synced["state"] == "synced" and synced["applied_generation"] == gen
    failed = [{**objects[0], "status": "failed", "error": "admission webhook denied"}, *objects[1:]]
    ok(report(org1, {"generation": gen, "objects": failed}))
    assert status(org1)["state"] == "failed"
    assert status(org1)["errors"][0]["error"] == "admission webhook denied"
    drift = [
        {
            "kind": "NetworkPolicy",
            "namespace": "shop",
            "name": "day0-default-deny",
            "detail": "spec changed",
        }
    ]
    ok(report(org1, {"generation": gen, "objects": objects, "drift": drift}))
    assert status(org1)["state"] == "drifted"
    bad = report(
        org1, {"generation": -1, "objects": [{"kind": "x", "name": "y", "status": "maybe"}]}
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"body.generation", "body.objects.0.status"} <= fields


def test_rollout_list_is_scoped(org1: Org1) -> None:  # noqa: F811
    c = org1.client
    everything = ok(call(c, org1.tokens["org-admin"], "GET", "/api/v1/rollout"))["items"]
    assert [i["cluster"] for i in everything] == ["c1", "c2"]
    infra = ok(call(c, org1.tokens["infra-admin"], "GET", "/api/v1/rollout"))["items"]
    assert [i["cluster"] for i in infra] == ["c1"]
    assert ok(call(c, org1.tokens["workspace-admin"], "GET", "/api/v1/rollout"))["items"] == []
    path = f"/api/v1/clusters/{org1.ids['c2']}/status"
    assert call(c, org1.tokens["infra-admin"], "GET", path).status_code == 403
