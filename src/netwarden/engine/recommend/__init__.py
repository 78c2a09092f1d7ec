"""Least-privilege policies learned from observed traffic, and the engine's proof.

Input: the distinct edges recorded flows make (:class:`~netwarden.model.observed.ObservedEdge`).
For every workload (Deployment, StatefulSet, DaemonSet, or a set of pods with the same
stable labels) :func:`recommend` builds one policy that allows exactly the traffic it was
seen to send and receive: peers selected by their stable workload labels (never pod
names, ``pod-template-hash`` or IPs) and their namespace, only the ports and protocols
seen, DNS to the cluster DNS service, external destinations by the name they were looked
up by (``toFQDNs``; for NetworkPolicy a marked ``ipBlock`` fallback of the addresses
seen), and HTTP methods and path patterns where L7 flows were recorded (Cilium output).
Every rule carries its evidence. Dropped edges are negative evidence only: listed, never
learned. Edges that look like an attack are set aside with the reason (a source probing
many ports of one workload; an external address reached without a DNS name).

:func:`prove` checks the result with the engine: the policies parse with the engine's
loader, every learned edge is allowed, and no probe of an endpoint or port beyond the
evidence is (see ``docs/design/recommendations.md``). Pure: no I/O, no rendering.
"""

from __future__ import annotations

from netwarden.engine.recommend.learn import path_pattern, recommend, scanners
from netwarden.engine.recommend.proof import (
    Universe,
    edge_verdicts,
    known_from_labels,
    parse_manifest,
    prove,
    selected_by,
)
from netwarden.engine.recommend.render import render_cilium, render_k8s
from netwarden.engine.recommend.values import (
    DAY_NS,
    Evidence,
    Excluded,
    Finding,
    HTTPPattern,
    KnownWorkload,
    Proof,
    Recommendation,
    RecommendedRule,
    RecommendOptions,
    RulePeer,
    Status,
    WorkloadRef,
    http_request,
    policy_name,
    stable_labels,
    workload_of,
)

__all__ = [
    "DAY_NS",
    "Evidence",
    "Excluded",
    "Finding",
    "HTTPPattern",
    "KnownWorkload",
    "Proof",
    "RecommendOptions",
    "Recommendation",
    "RecommendedRule",
    "RulePeer",
    "Status",
    "Universe",
    "WorkloadRef",
    "edge_verdicts",
    "http_request",
    "known_from_labels",
    "parse_manifest",
    "path_pattern",
    "policy_name",
    "prove",
    "recommend",
    "render_cilium",
    "render_k8s",
    "scanners",
    "selected_by",
    "stable_labels",
    "workload_of",
]
