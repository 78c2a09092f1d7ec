"""The engine's proof of a recommendation, and engine verdicts on observed edges."""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.matching import HTTPRequest, selector_matches
from netwarden.engine.recommend.values import (
    LEARNED_PROTOCOLS,
    Finding,
    KnownWorkload,
    Proof,
    Recommendation,
    RulePeer,
    WorkloadRef,
    http_request,
    is_ip,
    stable_labels,
    workload_of,
)
from netwarden.engine.world import World
from netwarden.model.diagnostics import Severity
from netwarden.model.endpoint import (
    K8S_NAMESPACE_NAME_LABEL,
    NAMESPACE_LABELS_PREFIX,
    SERVICE_ACCOUNT_LABEL,
    Endpoint,
    EndpointKind,
    IdentityKey,
)
from netwarden.model.inventory import ClusterInventory
from netwarden.model.labels import Labels
from netwarden.model.observed import EdgeEnd, ObservedEdge
from netwarden.model.ports import Protocol
from netwarden.model.rule import Direction, NormalizedPolicy
from netwarden.sources.loader import load_text

# ---- the proof -----------------------------------------------------------------------


def parse_manifest(
    manifest: Mapping[str, Any], cluster: str
) -> tuple[NormalizedPolicy | None, list[str]]:
    """The engine's loader on a rendered object: the policy, or its error messages."""
    loaded = load_text(json.dumps(manifest), file="recommendation.json", cluster=cluster)
    errors = [
        f"{d.location.path}: {d.message}"
        for d in loaded.diagnostics
        if d.severity is Severity.ERROR
    ]
    if errors or len(loaded.policies) != 1:
        return None, errors or [f"{len(loaded.policies)} policies parsed"]
    return loaded.policies[0], []


# (peer identity, external address, port, protocol) a learned edge evidences
Evidenced = tuple[IdentityKey, str, int, str]


class Universe:
    """Engine endpoints standing for observed edge ends (one per identity), with
    "strangers" next to them: pods of the same namespaces with other labels, the same
    labels in an unseen namespace, external addresses never seen."""

    STRANGER_NS = "netwarden-stranger"

    def __init__(self, cluster: str, edges: Iterable[ObservedEdge]) -> None:
        self.cluster = cluster
        self._by_key: dict[tuple[object, ...], Endpoint] = {}
        self._namespaces: dict[str, dict[str, str]] = {}
        self._next = 0
        self._used_ips: set[str] = set()
        for edge in edges:
            for end in (edge.source, edge.destination):
                self._used_ips.add(end.ip)
                self.endpoint(end)

    def _ip(self) -> ipaddress.IPv4Address:
        self._next += 1
        return ipaddress.IPv4Address(int(ipaddress.IPv4Address("100.64.0.0")) + self._next)

    def endpoint(self, end: EdgeEnd, clone: bool = False) -> Endpoint:
        key = (end.kind, end.cluster, end.namespace, end.labels, end.ip, end.fqdn, clone)
        found = self._by_key.get(key)
        if found is not None:
            return found
        ep = self._make(end)
        if clone:
            ep = Endpoint(**{**_endpoint_fields(ep), "ip": self._ip(), "name": f"{ep.name}-peer"})
        self._by_key[key] = ep
        return ep

    def _make(self, end: EdgeEnd) -> Endpoint:
        cluster = end.cluster or self.cluster
        if end.kind == "pod":
            labels = dict(end.labels)
            ns_labels = {
                k.removeprefix("k8s:").removeprefix(NAMESPACE_LABELS_PREFIX): v
                for k, v in labels.items()
                if k.removeprefix("k8s:").startswith(NAMESPACE_LABELS_PREFIX)
            }
            ns_labels[K8S_NAMESPACE_NAME_LABEL] = end.namespace
            self._namespaces.setdefault(end.namespace, ns_labels)
            account = labels.get(SERVICE_ACCOUNT_LABEL) or labels.get(
                "k8s:" + SERVICE_ACCOUNT_LABEL
            )
            pod_labels = {
                k.removeprefix("k8s:"): v
                for k, v in labels.items()
                if not k.removeprefix("k8s:").startswith(("io.kubernetes.", "io.cilium."))
            }
            return Endpoint(
                EndpointKind.POD,
                cluster,
                self._ip(),
                end.namespace,
                f"{end.workload or 'pod'}-{self._next}",
                Labels(pod_labels),
                Labels(ns_labels),
                service_account=account,
            )
        ip = ipaddress.ip_address(end.ip) if is_ip(end.ip) else self._ip()
        if end.kind in ("host", "remote-node"):
            return Endpoint(
                EndpointKind.HOST, cluster, ip, name=f"node-{ip}", node_name=f"node-{ip}"
            )
        if end.kind == "kube-apiserver":
            return Endpoint(EndpointKind.KUBE_APISERVER, cluster, ip, is_apiserver=True)
        return Endpoint(EndpointKind.WORLD, cluster, ip, dns_name=end.fqdn.rstrip(".") or None)

    def strangers(self, near: Iterable[Endpoint]) -> Iterator[Endpoint]:
        """Endpoints no evidence names, next to ``near``."""
        namespaces = set()
        for ep in near:
            if ep.kind is EndpointKind.POD and ep.namespace:
                namespaces.add(ep.namespace)
                yield self._stranger(ep.namespace, {"netwarden.dev/stranger": "true"})
                yield self._stranger(self.STRANGER_NS, dict(ep.labels))
                stable = stable_labels(ep.labels.items())
                for key in stable:  # one label fewer: a wider selector would match
                    fewer = {k: v for k, v in stable.items() if k != key}
                    if fewer:
                        yield self._stranger(ep.namespace, fewer)
            elif ep.kind is EndpointKind.WORLD:
                yield Endpoint(EndpointKind.WORLD, self.cluster, self._free_ip("198.18.0.1"))
                yield Endpoint(
                    EndpointKind.WORLD,
                    self.cluster,
                    self._free_ip("198.18.0.2"),
                    dns_name="stranger.netwarden.invalid",
                )

    def _free_ip(self, ip: str) -> ipaddress.IPv4Address:
        addr = ipaddress.IPv4Address(ip)
        while str(addr) in self._used_ips:
            addr += 1
        return addr

    def _stranger(self, namespace: str, labels: dict[str, str]) -> Endpoint:
        ns_labels = dict(self._namespaces.get(namespace, {}))
        ns_labels[K8S_NAMESPACE_NAME_LABEL] = namespace
        name = f"stranger-{self._next}"
        return Endpoint(
            EndpointKind.POD,
            self.cluster,
            self._ip(),
            namespace,
            name,
            Labels(labels),
            Labels(ns_labels),
        )

    def world(self, policies: list[NormalizedPolicy]) -> World:
        inv = ClusterInventory(self.cluster, dict(self._namespaces))
        return World({self.cluster: inv}, policies)


def _endpoint_fields(ep: Endpoint) -> dict[str, Any]:
    return {name: getattr(ep, name) for name in ep.__dataclass_fields__}


def prove(
    recommendations: Sequence[Recommendation], edges: Sequence[ObservedEdge], cluster: str
) -> dict[WorkloadRef, Proof]:
    """For each available recommendation: its object parses; with every recommendation in
    force, each learned edge is allowed on the workload's side; and each probe of an
    endpoint or port beyond the evidence (other pods of the peers' namespaces, a peer's
    labels minus one, the same labels in an unseen namespace, unseen external addresses
    and names, every seen port on the other protocols, the next port up, an unseen HTTP
    request) is denied. Dropped edges the recommendation would allow are reported."""
    universe = Universe(cluster, edges)
    parsed: dict[WorkloadRef, NormalizedPolicy] = {}
    proofs: dict[WorkloadRef, Proof] = {}
    for rec in recommendations:
        if rec.manifest is None:
            continue
        policy, errors = parse_manifest(rec.manifest, cluster)
        if policy is None:
            proofs[rec.workload] = Proof(
                len(rec.learned), 0, 0, tuple(Finding("invalid", e) for e in errors)
            )
        else:
            parsed[rec.workload] = policy
    engine = CompiledEngine(universe.world(list(parsed.values())))
    for rec in recommendations:
        if rec.workload in parsed:
            proofs[rec.workload] = _prove_one(engine, universe, rec, parsed[rec.workload])
    return proofs


def _check(
    engine: CompiledEngine,
    direction: Direction,
    subject: Endpoint,
    peer: Endpoint,
    port: int,
    protocol: str,
    http: HTTPRequest | None = None,
) -> bool:
    destination = peer if direction is Direction.EGRESS else subject
    verdict = engine.direction(
        direction, subject, peer, destination, port, Protocol(protocol), http
    )
    return verdict.allowed


def _prove_one(
    engine: CompiledEngine, universe: Universe, rec: Recommendation, policy: NormalizedPolicy
) -> Proof:
    findings: list[Finding] = []
    covered = 0
    evidenced: dict[Direction, set[Evidenced]] = defaultdict(set)
    near: dict[Direction, list[Endpoint]] = defaultdict(list)
    subject = _any_subject(universe, rec)
    checks = list(_workload_sides(universe, rec, rec.learned))
    for direction, me, peer, edge in checks:
        if _check(engine, direction, me, peer, edge.port, edge.protocol, http_request(edge.l7)):
            covered += 1
        else:
            findings.append(Finding("not-allowed", _edge_text(edge)))
        ident, address = _identity(peer)
        evidenced[direction].add((ident, address, edge.port, edge.protocol.upper()))
        near[direction].append(peer)
    probes = 0
    written = rule_ports(policy)
    for direction in (Direction.INGRESS, Direction.EGRESS):
        if subject is None:
            break
        found, n = _probe_beyond(
            engine, universe, direction, subject, near[direction], evidenced[direction], written
        )
        findings.extend(found)
        findings.extend(_probe_http(engine, rec, direction, subject, near[direction]))
        probes += n
    for direction, me, peer, edge in _workload_sides(universe, rec, rec.denied):
        if _check(engine, direction, me, peer, edge.port, edge.protocol, http_request(edge.l7)):
            findings.append(Finding("allows-dropped", _edge_text(edge)))
    return Proof(len(checks), covered, probes, tuple(findings))


def _workload_sides(
    universe: Universe, rec: Recommendation, edges: Iterable[ObservedEdge]
) -> Iterator[tuple[Direction, Endpoint, Endpoint, ObservedEdge]]:
    """(direction, the workload's endpoint, the peer's, edge) for each side of each edge
    the workload is on (both for an edge between two of its pods)."""
    for edge in edges:
        src, dst = workload_of(edge.source), workload_of(edge.destination)
        if dst == rec.workload:
            me = universe.endpoint(edge.destination)
            yield Direction.INGRESS, me, universe.endpoint(edge.source, clone=src == dst), edge
        if src == rec.workload:
            me = universe.endpoint(edge.source)
            yield Direction.EGRESS, me, universe.endpoint(edge.destination, clone=src == dst), edge


def _identity(ep: Endpoint) -> tuple[IdentityKey, str]:
    """What a rule can tell apart: the identity, and the address of an external endpoint."""
    return IdentityKey.of(ep), str(ep.ip) if ep.kind is not EndpointKind.POD else ""


def _any_subject(universe: Universe, rec: Recommendation) -> Endpoint | None:
    if not rec.selector:
        return None
    ref = rec.workload
    return universe.endpoint(
        EdgeEnd("pod", ref.cluster, ref.namespace, ref.name, ref.kind, rec.selector)
    )


def rule_ports(policy: NormalizedPolicy) -> set[tuple[int, str]]:
    """The ends of every port range the policy's rules name, per protocol: probing them
    finds a port or range wider than the evidence."""
    out = set()
    for rule in policy.rules:
        for spec in rule.ports:
            protocols = (
                LEARNED_PROTOCOLS if spec.protocol is Protocol.ANY else (spec.protocol.value,)
            )
            for proto in protocols:
                if proto in LEARNED_PROTOCOLS and spec.name is None:
                    out |= {(max(spec.start, 1), proto), (spec.end, proto)}
    return out


def _probe_beyond(
    engine: CompiledEngine,
    universe: Universe,
    direction: Direction,
    subject: Endpoint,
    near: list[Endpoint],
    evidenced: set[Evidenced],
    written: set[tuple[int, str]],
) -> tuple[list[Finding], int]:
    """Every peer near the evidence and every stranger, on every seen port with every
    protocol and the next port up: allowed only where evidenced."""
    peers = {_identity(p): p for p in [*near, *universe.strangers([subject, *near])]}
    seen = {(key[2], key[3]) for key in evidenced} or {(80, "TCP"), (53, "UDP")}
    ports = {(port, proto) for port, _ in seen for proto in LEARNED_PROTOCOLS}
    ports |= {(port + 1, proto) for port, proto in seen if port < 65535}
    ports |= written | {(1, "TCP"), (65535, "UDP")}
    findings: list[Finding] = []
    probes = 0
    for ident, peer in peers.items():
        for port, proto in sorted(ports):
            if (ident[0], ident[1], port, proto) in evidenced:
                continue
            probes += 1
            if _check(engine, direction, subject, peer, port, proto):
                text = f"{direction.value} {_peer_text(peer)} on {port}/{proto}"
                findings.append(Finding("broader", f"{text} is allowed without evidence"))
    return findings, probes


def _probe_http(
    engine: CompiledEngine,
    rec: Recommendation,
    direction: Direction,
    subject: Endpoint,
    near: list[Endpoint],
) -> list[Finding]:
    """A request never seen, on each port with HTTP rules, must be denied."""
    out = []
    unseen = HTTPRequest("PATCH", "/netwarden-unseen-path")
    for rule in rec.rules:
        if not rule.http or rule.direction != direction.value:
            continue
        peer = next((p for p in near if _selects(rule.peer, p)), None)
        for port, proto in rule.ports:
            if peer is not None and _check(engine, direction, subject, peer, port, proto, unseen):
                out.append(Finding("broader", f"{rule.describe()}: an unseen request is allowed"))
    return out


def _selects(peer: RulePeer, ep: Endpoint) -> bool:
    return (
        peer.kind == "pod"
        and ep.namespace == peer.namespace
        and all(ep.labels.get(k) == v for k, v in peer.labels)
    )


def _peer_text(ep: Endpoint) -> str:
    if ep.kind is EndpointKind.POD:
        labels = ",".join(f"{k}={v}" for k, v in ep.labels.sorted_items())
        return f"pods {ep.namespace}/[{labels}]"
    return f"{ep.kind.value} {ep.ip}" + (f" ({ep.dns_name})" if ep.dns_name else "")


def _edge_text(edge: ObservedEdge) -> str:
    text = f"{edge.source.display()} -> {edge.destination.display()} {edge.port}/{edge.protocol}"
    return f"{text} {edge.l7}" if edge.l7 else text


# ---- verdicts on observed edges (traffic drift) ------------------------------------


def edge_verdicts(
    edges: Sequence[ObservedEdge], policies: list[NormalizedPolicy], cluster: str
) -> list[tuple[ObservedEdge, bool]]:
    """Whether the engine allows each edge (both directions) with ``policies`` in force;
    edges of other protocols than TCP/UDP/SCTP are skipped."""
    universe = Universe(cluster, edges)
    engine = CompiledEngine(universe.world(policies))
    out = []
    for edge in edges:
        if edge.protocol.upper() not in LEARNED_PROTOCOLS:
            continue
        same = workload_of(edge.source) is not None and workload_of(edge.source) == workload_of(
            edge.destination
        )
        src = universe.endpoint(edge.source)
        dst = universe.endpoint(edge.destination, clone=same)
        verdict = engine.verdict(
            src, dst, edge.port, Protocol(edge.protocol.upper()), http_request(edge.l7)
        )
        out.append((edge, verdict.allowed))
    return out


def selected_by(policies: Iterable[NormalizedPolicy], end: EdgeEnd, cluster: str) -> list[str]:
    """The policies (``kind/namespace/name``) whose rules or default deny select the pods
    ``end`` describes."""
    ep = Universe(cluster, ()).endpoint(end)
    out = []
    for policy in policies:
        subjects = [r.subject for r in policy.rules] + [i.subject for i in policy.isolations]
        if any(selector_matches(sel, ep) for sel in subjects):
            out.append(str(policy.ref))
    return out


def known_from_labels(
    cluster: str, namespace: str, name: str, kind: str, labels: Mapping[str, str]
) -> KnownWorkload:
    return KnownWorkload(WorkloadRef(cluster, namespace, name, kind), tuple(sorted(labels.items())))
