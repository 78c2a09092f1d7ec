"""The agent's RBAC is what the backend uses, no less and no more.

A backend goes through its whole life against the fake API server (sync, apply that
creates every policy kind, apply that updates, pruning, live objects); every request
it sent is authorized against deploy/agent/20-rbac.yaml the way the RBAC authorizer
would (verb from method and query, API group, resource, namespace, resourceNames), and
every verb the manifest grants must have been used. The Helm chart's rules must equal
the manifest's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from netwarden.agent.kubernetes import KubernetesBackend
from tests.agent.fake_kube import (
    ADMIN,
    CILIUM,
    CLUSTER_NETWORK_POLICY,
    CORE,
    NETWORK_POLICY,
    FakeKube,
    Request,
)
from tests.agent.kube_objects import admin_policy, ccnp, cnp, network_policy, seed
from tests.agent.test_kubernetes import connect

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "agent" / "20-rbac.yaml"
CHART = ROOT / "deploy" / "helm" / "netwarden-agent" / "templates" / "rbac.yaml"
DISCOVERY = re.compile(r"/api|/apis|/api/v1|/apis/[^/]+/[^/]+")  # system:discovery


def documents(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    text = re.sub(r"^\s*\{\{-.*\}\}\s*$", "", text, flags=re.MULTILINE)  # control lines
    text = re.sub(r"\{\{.*?\}\}", "TEMPLATED", text)
    return [d for d in yaml.safe_load_all(text) if d]


def rules(path: Path) -> dict[str, list[dict[str, Any]]]:
    """kind of role ("ClusterRole" / "Role in <namespace>") -> its rules."""
    out = {}
    for doc in documents(path):
        if doc["kind"] == "ClusterRole":
            out["ClusterRole"] = doc["rules"]
        elif doc["kind"] == "Role":
            out[f"Role in {doc['metadata']['namespace']}"] = doc["rules"]
    return out


def baseline_admin_policy() -> dict[str, Any]:
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "BaselineAdminNetworkPolicy",
        "metadata": {"name": "default"},
        "spec": {"subject": {"namespaces": {}}, "ingress": []},
    }


def cluster_network_policy(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": {"tier": "Admin", "priority": 5, "subject": {"namespaces": {}}, "ingress": []},
    }


def attributes(request: Request, fake: FakeKube) -> tuple[str, str, str, str, str]:
    """(verb, apiGroup, resource, namespace, name) as the RBAC authorizer sees them."""
    resource, namespace, name = fake.route(request.path)
    if request.method == "GET":
        verb = "watch" if request.query.get("watch") == "true" else ("get" if name else "list")
        selector = request.query.get("fieldSelector", "")
        if not name and selector.startswith("metadata.name="):
            name = selector.removeprefix("metadata.name=")  # list/watch of one object
    else:
        verb = {"PATCH": "patch", "DELETE": "delete"}[request.method]
    return verb, resource.group, resource.plural, namespace, name


def allowed(
    rules: dict[str, list[dict[str, Any]]], verb: str, group: str, resource: str, ns: str, name: str
) -> set[tuple[str, str, str]]:
    """The (role, resource, verb) grants that allow the request (empty: forbidden)."""
    found = set()
    for role, role_rules in rules.items():
        if role.startswith("Role in ") and role.removeprefix("Role in ") != ns:
            continue
        for rule in role_rules:
            names = rule.get("resourceNames")
            if (group in rule["apiGroups"] and resource in rule["resources"]
                    and verb in rule["verbs"] and (not names or name in names)):  # fmt: skip
                found.add((role, resource, verb))
    return found


@pytest.fixture
def everything() -> Iterator[FakeKube]:
    fake = FakeKube([*CORE, NETWORK_POLICY, *CILIUM, *ADMIN, CLUSTER_NETWORK_POLICY]).start()
    for obj in seed():
        fake.put(obj)
    try:
        yield fake
    finally:
        fake.stop()


def test_chart_rules_equal_the_manifest() -> None:
    assert rules(CHART) == rules(MANIFEST)
    assert set(rules(MANIFEST)) == {"ClusterRole", "Role in kube-system"}


def test_every_request_is_authorized_and_every_grant_used(
    everything: FakeKube, tmp_path: Path
) -> None:
    backend: KubernetesBackend = connect(everything, tmp_path)
    try:
        desired = [
            network_policy("shop", "default-deny"),
            cnp("shop", "frontend", "frontend"),
            ccnp("allow-apiserver"),
            admin_policy("deny-all"),
            baseline_admin_policy(),
            cluster_network_policy("tenant"),
        ]
        assert {r.status for r in backend.apply(desired, {})} == {"applied"}
        desired[1] = cnp("shop", "frontend", "frontend", port="9090")
        desired[3] = admin_policy("deny-all", priority=20)
        assert {r.status for r in backend.apply(desired, {})} == {"applied"}
        assert len(backend.live_objects().managed) == 6
        assert backend.apply([], {}) == []
        assert len(backend.last_apply.pruned) == 6
    finally:
        backend.close()

    granted = rules(MANIFEST)
    used: set[tuple[str, str, str]] = set()
    for request in everything.requests:
        if request.method == "GET" and DISCOVERY.fullmatch(request.path):
            continue
        verb, group, resource, ns, name = attributes(request, everything)
        grants = allowed(granted, verb, group, resource, ns, name)
        assert grants, f"forbidden: {verb} {group}/{resource} {ns}/{name} ({request.path})"
        used |= grants
        if request.method == "PATCH" and request.status == 201:  # apply that creates
            create = allowed(granted, "create", group, resource, ns, name)
            assert create, f"forbidden: create {group}/{resource}"
            used |= create
    every_grant = {
        (role, resource, verb)
        for role, role_rules in granted.items()
        for rule in role_rules
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert used == every_grant  # least privilege: nothing granted goes unused
