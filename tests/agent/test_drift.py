"""Drift comparison: what counts as drift and what is a harmless server-side default."""

from __future__ import annotations

import copy
from typing import Any

from netwarden.agent.backend import ObjectRef
from netwarden.agent.drift import Drift, compare, object_difference

MANAGED = {"app.kubernetes.io/managed-by": "netwarden"}
SOURCE = {"netwarden.dev/source": "blueprint/day0@v3"}


def netpol(name: str = "allow-web", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "shop", "labels": dict(MANAGED),
                     "annotations": dict(SOURCE)},
        "spec": spec or {
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "lb"}}}],
                         "ports": [{"port": 8080}]}],
        },
    }  # fmt: skip


def cnp(name: str = "dns") -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": "shop", "labels": dict(MANAGED),
                     "annotations": dict(SOURCE)},
        "spec": {"endpointSelector": {}, "egress": [{"toEndpoints": [{}]}]},
    }  # fmt: skip


def as_live(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the API server returns it: server metadata, defaults, status."""
    live = copy.deepcopy(obj)
    meta = live["metadata"]
    meta.update(resourceVersion="42", uid="abc", generation=2, creationTimestamp="2024-01-01")
    meta["managedFields"] = [{"manager": "netwarden-agent"}]
    meta["labels"]["team"] = "shop"  # someone else's label
    meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    if live["kind"] == "NetworkPolicy":
        live["spec"].setdefault("policyTypes", ["Ingress"])
        for rule in live["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                port.setdefault("protocol", "TCP")
    live["status"] = {"conditions": []}
    return live


def live_of(*objs: dict[str, Any]) -> dict[ObjectRef, dict[str, Any]]:
    return {ObjectRef.of(o): o for o in objs}


def test_no_drift_when_the_cluster_holds_what_was_applied_plus_defaults() -> None:
    desired = [netpol(), cnp()]
    assert compare(desired, live_of(*(as_live(o) for o in desired))) == []


def test_missing_changed_and_extra_objects() -> None:
    desired = [netpol("a"), netpol("b"), cnp()]
    changed = as_live(netpol("b"))
    changed["spec"]["ingress"][0]["ports"][0]["port"] = 9090
    extra = as_live(netpol("leftover"))
    found = compare(desired, live_of(as_live(netpol("a")), changed, extra))
    assert found == sorted(found)
    assert [(d.ref.kind, d.ref.name, d.kind) for d in found] == [
        ("CiliumNetworkPolicy", "dns", "missing"),
        ("NetworkPolicy", "b", "changed"),
        ("NetworkPolicy", "leftover", "extra"),
    ]
    assert found[1].detail == "spec.ingress[0].ports[0].port is 9090, want 8080"


def test_a_rule_added_or_removed_is_drift() -> None:
    added = as_live(netpol())
    added["spec"]["ingress"].append({})
    assert object_difference(netpol(), added) == "spec.ingress has 2 items, want 1"
    removed = as_live(netpol())
    removed["spec"]["ingress"][0]["from"] = []
    assert object_difference(netpol(), removed) == "spec.ingress[0].from has 0 items, want 1"


def test_a_section_added_at_the_top_of_the_spec_is_drift_but_defaults_are_not() -> None:
    opened = as_live(cnp())
    opened["spec"]["ingress"] = [{"fromEntities": ["world"]}]
    assert object_difference(cnp(), opened) == "spec.ingress was added"
    defaulted = as_live(netpol())
    assert "policyTypes" in defaulted["spec"]
    assert object_difference(netpol(), defaulted) is None
    empty = as_live(cnp())
    empty["spec"]["ingressDeny"] = []
    assert object_difference(cnp(), empty) is None
    specs = as_live(cnp())
    specs["specs"] = [{"endpointSelector": {}}]
    assert object_difference(cnp(), specs) == "specs was added"


def test_our_labels_and_annotations_must_hold_their_values() -> None:
    relabelled = as_live(netpol())
    relabelled["metadata"]["annotations"]["netwarden.dev/source"] = "policy/x@v1"
    assert object_difference(netpol(), relabelled) == (
        "metadata.annotations.netwarden.dev/source is 'policy/x@v1', want 'blueprint/day0@v3'"
    )
    unlabelled = as_live(netpol())
    del unlabelled["metadata"]["labels"]["app.kubernetes.io/managed-by"]
    assert object_difference(netpol(), unlabelled) == (
        "metadata.labels.app.kubernetes.io/managed-by is None, want 'netwarden'"
    )


def test_types_matter() -> None:
    want = netpol(podSelector={}, ingress=[{"ports": [{"port": 1}]}])
    have = as_live(want)
    have["spec"]["ingress"][0]["ports"][0]["port"] = True
    assert object_difference(want, have) == "spec.ingress[0].ports[0].port is True, want 1"
    have["spec"]["ingress"][0]["ports"][0]["port"] = "1"
    assert object_difference(want, have) is not None
    have["spec"]["ingress"] = {"ports": []}
    assert object_difference(want, have) == "spec.ingress is {'ports': []}, want a list"
    have["spec"] = []
    assert object_difference(want, have) == "spec is [], want an object"
    missing = as_live(want)
    del missing["spec"]
    assert object_difference(want, missing) == "spec is missing"


def test_report_entries() -> None:
    drift = Drift(ObjectRef("NetworkPolicy", "shop", "a"), "changed", "spec.x is 1, want 2")
    assert drift.to_dict() == {
        "kind": "NetworkPolicy", "namespace": "shop", "name": "a",
        "detail": "changed: spec.x is 1, want 2",
    }  # fmt: skip
    assert drift.to_dict(restored=True)["detail"] == "restored, changed: spec.x is 1, want 2"
