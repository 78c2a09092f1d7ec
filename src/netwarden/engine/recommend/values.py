"""The values of recommendations: workloads, rules with their evidence, proofs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from netwarden.engine.matching import HTTPRequest
from netwarden.model.observed import EdgeEnd, ObservedEdge

DAY_NS = 86_400 * 10**9
DROPPED = "DROPPED"
LEARNED_PROTOCOLS = ("TCP", "UDP", "SCTP")
MANAGED_BY = "netwarden.dev/recommended"
FALLBACK_ANNOTATION = "netwarden.dev/ipblock-fallback"
# Labels that name one pod or one revision: never used to select (Cilium's identity
# filter drops most; a label source may still carry them).
UNSTABLE_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "batch.kubernetes.io/controller-uid",
        "controller-uid",
        "batch.kubernetes.io/job-completion-index",
    }
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
NUMBER_PATTERN = "[0-9]+"
_REGEX_SPECIAL = re.compile(r"([.^$*+?()\[\]{}|\\])")


class Status(Enum):
    APPLIED = "policy-applied"  # set by the control plane: a policy selects the workload
    AVAILABLE = "recommendation-available"
    NOT_ENOUGH_DATA = "not-enough-runtime-data"


@dataclass(frozen=True, slots=True)
class RecommendOptions:
    """``format``: ``cilium`` (CiliumNetworkPolicy) or ``k8s`` (NetworkPolicy).
    ``min_learning_ns``: a workload whose first flow is younger than this (before
    ``until_ns``) is not learned yet. ``scan_ports``: a source reaching this many distinct
    ports of one workload is treated as a scanner (0: never). ``allow_external_ips``:
    learn external addresses reached without a DNS name (as /32 blocks) instead of
    setting them aside. ``dns_labels``: how the cluster DNS pods are labelled."""

    format: str = "cilium"
    min_learning_ns: int = DAY_NS
    scan_ports: int = 5
    allow_external_ips: bool = False
    dns_namespace: str = "kube-system"
    dns_labels: tuple[tuple[str, str], ...] = (("k8s-app", "kube-dns"),)
    l7: bool = True


@dataclass(frozen=True, slots=True, order=True)
class WorkloadRef:
    """A workload: ``kind`` Deployment/StatefulSet/DaemonSet/..., or ``Pods`` for a set of
    pods with the same stable labels (then ``name`` is ``pods:key=value,...``)."""

    cluster: str
    namespace: str
    name: str
    kind: str = field(default="Workload", compare=False)

    def display(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class KnownWorkload:
    """A workload the inventory reports (to say "no flows" for one never seen)."""

    ref: WorkloadRef
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Evidence:
    flows: int
    first_seen: int
    last_seen: int
    examples: tuple[str, ...]
    edges: int

    @staticmethod
    def of(edges: Sequence[ObservedEdge], limit: int = 3) -> Evidence:
        examples: list[str] = []
        for e in sorted(edges, key=lambda e: -e.last_seen):
            examples.extend(x for x in e.examples if x not in examples)
        return Evidence(
            sum(e.flows for e in edges),
            min((e.first_seen for e in edges), default=0),
            max((e.last_seen for e in edges), default=0),
            tuple(examples[:limit]),
            len(edges),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "flows": self.flows,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "examples": list(self.examples),
            "edges": self.edges,
        }


@dataclass(frozen=True, slots=True, order=True)
class RulePeer:
    """Who a rule allows: ``pod`` (namespace + stable labels), ``cidr``, ``fqdn`` (with the
    addresses seen, for the NetworkPolicy fallback) or ``entity`` (host, remote-node,
    kube-apiserver)."""

    kind: str
    namespace: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    workload: str = ""
    cidr: str = ""
    fqdn: str = ""
    addresses: tuple[str, ...] = ()
    entity: str = ""

    def display(self) -> str:
        if self.kind == "pod":
            return f"{self.namespace}/{self.workload}"
        return self.fqdn or self.cidr or self.entity


@dataclass(frozen=True, slots=True)
class HTTPPattern:
    method: str
    path: str  # an anchored extended regex, as Cilium's HTTP rules read it


@dataclass(frozen=True, slots=True)
class RecommendedRule:
    direction: str  # "ingress" | "egress"
    peer: RulePeer
    ports: tuple[tuple[int, str], ...]
    evidence: Evidence
    http: tuple[HTTPPattern, ...] = ()
    dns: bool = False  # the cluster DNS service: Cilium's DNS proxy sees every lookup
    note: str = ""

    def describe(self) -> str:
        ports = ",".join(f"{p}/{proto}" for p, proto in self.ports)
        word = "from" if self.direction == "ingress" else "to"
        text = f"{self.direction} {word} {self.peer.display()} on {ports}"
        if self.http:
            text += " HTTP " + "; ".join(f"{h.method} {h.path}" for h in self.http)
        return text


@dataclass(frozen=True, slots=True)
class Excluded:
    edge: ObservedEdge
    reason: str


@dataclass(frozen=True)
class Recommendation:
    workload: WorkloadRef
    status: Status
    reason: str
    selector: tuple[tuple[str, str], ...] = ()
    rules: tuple[RecommendedRule, ...] = ()
    excluded: tuple[Excluded, ...] = ()
    denied: tuple[ObservedEdge, ...] = ()  # dropped: negative evidence, never a rule
    learned: tuple[ObservedEdge, ...] = ()  # the allowed edges the rules come from
    evidence: Evidence | None = None
    manifest: dict[str, Any] | None = None
    format: str = "cilium"

    @property
    def name(self) -> str:
        return policy_name(self.workload)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # "invalid" | "not-allowed" | "broader" | "allows-dropped"
    detail: str


@dataclass(frozen=True)
class Proof:
    """``covered`` of ``learned`` edges are allowed; ``probes`` connections beyond the
    evidence were tried and every one must be denied."""

    learned: int
    covered: int
    probes: int
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(f.kind in ("invalid", "not-allowed", "broader") for f in self.findings)

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "learned_edges": self.learned,
            "covered_edges": self.covered,
            "probes_beyond_evidence": self.probes,
            "findings": [{"kind": f.kind, "detail": f.detail} for f in self.findings],
        }


# ---- workloads and labels ----------------------------------------------------------


def stable_labels(labels: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Pod labels a selector may use: not Cilium's own (namespace, cluster, service
    account, namespace labels), not per-pod or per-revision ones."""
    out = {}
    for key, value in labels:
        key = key.removeprefix("k8s:")
        if key in UNSTABLE_LABELS or key.startswith(("io.kubernetes.", "io.cilium.")):
            continue
        if ":" in key:  # another label source (reserved:, container:, ...)
            continue
        out[key] = value
    return out


def workload_of(end: EdgeEnd) -> WorkloadRef | None:
    if end.kind != "pod" or not end.namespace:
        return None
    if end.workload:
        return WorkloadRef(
            end.cluster, end.namespace, end.workload, end.workload_kind or "Workload"
        )
    stable = stable_labels(end.labels)
    if not stable:
        return None
    name = "pods:" + ",".join(f"{k}={v}" for k, v in sorted(stable.items()))
    return WorkloadRef(end.cluster, end.namespace, name, "Pods")


def policy_name(ref: WorkloadRef) -> str:
    """A DNS-1123 name for the workload's recommended policy."""
    base = ref.name.removeprefix("pods:")
    text = re.sub(r"[^a-z0-9.-]+", "-", base.lower()).strip("-.") or "pods"
    return ("netwarden-rec-" + text)[:253].rstrip("-.")


def _selectors(edges: Sequence[ObservedEdge]) -> dict[WorkloadRef, dict[str, str]]:
    """Each workload's selector: the stable labels all its pods share."""
    out: dict[WorkloadRef, dict[str, str]] = {}
    for edge in edges:
        for end in (edge.source, edge.destination):
            ref = workload_of(end)
            if ref is None:
                continue
            stable = stable_labels(end.labels)
            seen = out.get(ref)
            out[ref] = (
                stable if seen is None else {k: v for k, v in seen.items() if stable.get(k) == v}
            )
    return out


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def cidr_of(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    return f"{addr}/{addr.max_prefixlen}"


def http_request(l7: str) -> HTTPRequest | None:
    """``"HTTP GET /api/cart?x=1"`` -> the request (None for other L7 summaries)."""
    parts = l7.split(" ", 2)
    if len(parts) < 3 or parts[0] != "HTTP" or not parts[2].startswith("/"):
        return None
    return HTTPRequest(parts[1].upper(), parts[2].split("?", 1)[0].split("#", 1)[0])
