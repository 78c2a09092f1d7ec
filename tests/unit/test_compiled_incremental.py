"""The compiled engine after changes answers like a fresh reference evaluation."""

from __future__ import annotations

import dataclasses
import ipaddress

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.reference import ReferenceEvaluator
from netwarden.engine.world import World
from netwarden.model.endpoint import Endpoint, EndpointKind
from netwarden.model.labels import Labels
from netwarden.model.ports import Protocol
from netwarden.sources.loader import load_text

CLUSTER = """
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {team: red}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
status: {podIP: 10.0.1.2}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: a-out, namespace: x}
spec:
  endpointSelector: {matchLabels: {app: a}}
  egress:
  - toCIDRSet: [{cidr: 203.0.113.0/24}]
    toPorts: [{ports: [{port: "443", protocol: TCP}]}]
  - toEndpoints: [{matchLabels: {app: c}}]
"""


def world() -> World:
    inp = load_text(CLUSTER)
    assert not inp.errors
    return World(inp.clusters, inp.policies)


def test_tables_grow_for_endpoints_seen_after_compile() -> None:
    w = world()
    engine = CompiledEngine(w)
    assert engine.compile_all() > 0
    src = w.resolve("x/a")
    external = w.resolve("203.0.113.9")
    other = w.resolve("198.51.100.1")
    assert engine.verdict(src, external, 443, Protocol.TCP).allowed
    assert not engine.verdict(src, external, 80, Protocol.TCP).allowed
    assert not engine.verdict(src, other, 443, Protocol.TCP).allowed


def test_new_pod_with_new_labels_matches_existing_rules() -> None:
    w = world()
    engine = CompiledEngine(w)
    engine.compile_all()
    src = w.resolve("x/a")
    c = Endpoint(
        EndpointKind.POD,
        ip=ipaddress.ip_address("10.0.1.3"),
        namespace="x",
        name="c",
        labels=Labels({"app": "c"}),
        namespace_labels=Labels({"team": "red", "kubernetes.io/metadata.name": "x"}),
    )
    before = len(engine.classes)
    engine.add_endpoint(c)
    assert len(engine.classes) == before + 1
    verdict = engine.verdict(src, c, 8080, Protocol.TCP)
    assert verdict.allowed
    assert verdict.egress == ReferenceEvaluator(w).verdict(src, c, 8080, Protocol.TCP).egress
    # Relabelled pod: new identity, the rule no longer matches.
    relabelled = dataclasses.replace(c, labels=Labels({"app": "d"}))
    assert not engine.verdict(src, relabelled, 8080, Protocol.TCP).allowed


def test_policy_update_drops_only_tables_of_selected_subjects() -> None:
    w = world()
    engine = CompiledEngine(w)
    total = engine.compile_all()
    extra = load_text(
        """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-in, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress: [{from: [{podSelector: {matchLabels: {app: a}}}]}]
"""
    ).policies
    dropped = engine.update_policies(add=extra)
    assert 0 < dropped < total
    a, b = w.resolve("x/a"), w.resolve("x/b")
    outside = w.resolve("198.51.100.1")
    assert engine.verdict(a, b, 80, Protocol.TCP).ingress.allowed
    assert not engine.verdict(outside, b, 80, Protocol.TCP).allowed
    engine.update_policies(remove=[p.ref for p in extra])
    assert engine.verdict(outside, b, 80, Protocol.TCP).allowed
