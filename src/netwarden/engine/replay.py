"""Replay observed edges through two worlds: which recorded connections change verdict.

The impact preview of a draft change (``control/preview.py``) builds the cluster's world
before and after the change and hands both, with the distinct edges of a window of
recorded traffic (``model.observed``), to :func:`replay`. Each edge end becomes an engine
endpoint the way Cilium would see it today:

- a pod by namespace and labels: the inventory pod of that namespace whose labels (and
  service account, when recorded) are the edge's, so named ports and nodes are the real
  pod's; the namespace's labels come from the inventory;
- the world by IP, with the DNS name it was reached by (FQDN rules match it);
- a node (host, remote-node) by IP in the inventory; the API server, health, ingress...
  by kind and IP.

An end that cannot be built that way (no labels, a pod or namespace the inventory does not
have, no IP, a world IP without its DNS name while FQDN rules are in force, an unknown
kind) makes the edge *uncertain*, with the reason; it is never guessed. Each distinct
(source, destination, port, protocol, L7 request) is evaluated once per world.

Verdicts are the policies' (``Verdict.allowed``): audit-mode enforcement settings do not
change them, so a preview in an audit cluster shows what enforcing would do.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.matching import HTTPRequest
from netwarden.engine.recommend.values import http_request
from netwarden.engine.verdict import DirectionVerdict, Verdict
from netwarden.engine.world import World
from netwarden.model.endpoint import (
    CLUSTER_LABEL,
    NAMESPACE_LABEL,
    NAMESPACE_LABELS_PREFIX,
    SERVICE_ACCOUNT_LABEL,
    Endpoint,
    EndpointKind,
)
from netwarden.model.labels import Labels
from netwarden.model.observed import EdgeEnd, ObservedEdge
from netwarden.model.ports import Protocol
from netwarden.model.rule import FQDNPeer

ALLOWED_TO_DENIED = "allowed->denied"
DENIED_TO_ALLOWED = "denied->allowed"
_PROTOCOLS = {
    "TCP": Protocol.TCP,
    "UDP": Protocol.UDP,
    "SCTP": Protocol.SCTP,
    "ICMPv4": Protocol.ICMP,
    "ICMPv6": Protocol.ICMPV6,
}
_OTHER_KINDS = {
    "kube-apiserver": EndpointKind.KUBE_APISERVER,
    "health": EndpointKind.HEALTH,
    "init": EndpointKind.INIT,
    "ingress": EndpointKind.INGRESS,
    "unmanaged": EndpointKind.UNMANAGED,
}
_DERIVED = (NAMESPACE_LABEL, CLUSTER_LABEL, SERVICE_ACCOUNT_LABEL)
# Pod labels Cilium leaves out of identities by default (its --label defaults): flows
# never carry them, so an inventory pod is matched on its other labels.
_NOT_IDENTITY = frozenset(
    {
        "pod-template-hash",
        "pod-template-generation",
        "controller-revision-hash",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "batch.kubernetes.io/job-completion-index",
        "etcd_node",
    }
)
_NOT_IDENTITY_PREFIXES = ("io.kubernetes", "kubernetes.io", "k8s.io", "annotation.")


def identity_labels(labels: Labels) -> Labels:
    """A pod's labels as its Cilium identity keeps them."""
    return Labels(
        {
            k: v
            for k, v in labels.items()
            if k not in _NOT_IDENTITY
            and not k.startswith(_NOT_IDENTITY_PREFIXES)
            and "beta.kubernetes.io" not in k
        }
    )


class Uncertain(Exception):
    """An edge the engine cannot evaluate without guessing; the message says why."""


@dataclass(frozen=True, slots=True)
class ChangedConnection:
    """Recorded connections (one source, destination, port and protocol) whose verdict
    changes, with the flows and L7 requests that show them and what decides after."""

    source: EdgeEnd
    destination: EdgeEnd
    port: int
    protocol: str
    change: str  # ALLOWED_TO_DENIED or DENIED_TO_ALLOWED
    flows: int
    last_seen: int
    edges: int
    l7: tuple[str, ...]
    recorded: tuple[str, ...]  # the verdicts Hubble recorded
    deciding: tuple[str, ...]  # policies deciding after the change (kind/ns/name)
    reason: str  # the engine's reason after the change (deny-rule, isolated, allow-rule...)
    examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UncertainConnection:
    source: EdgeEnd
    destination: EdgeEnd
    port: int
    protocol: str
    flows: int
    last_seen: int
    edges: int
    reason: str


@dataclass(frozen=True, slots=True)
class Replay:
    edges: int  # distinct edges replayed
    flows: int  # flows they stand for
    evaluations: int  # distinct connections evaluated (per world)
    unchanged: int  # edges whose verdict stays
    changes: tuple[ChangedConnection, ...] = ()
    uncertain: tuple[UncertainConnection, ...] = ()


@dataclass(slots=True)
class _Group:
    source: EdgeEnd
    destination: EdgeEnd
    port: int
    protocol: str
    flows: int = 0
    last_seen: int = 0
    edges: int = 0
    l7: set[str] = field(default_factory=set)
    recorded: set[str] = field(default_factory=set)
    deciding: set[str] = field(default_factory=set)
    reason: str = ""
    examples: list[str] = field(default_factory=list)

    def add(self, edge: ObservedEdge) -> None:
        self.flows += edge.flows
        self.last_seen = max(self.last_seen, edge.last_seen)
        self.edges += 1
        if edge.l7:
            self.l7.add(edge.l7)
        self.recorded.add(edge.verdict)
        self.examples += [u for u in edge.examples if u not in self.examples][:3]


def replay(edges: Iterable[ObservedEdge], before: World, after: World, cluster: str) -> Replay:
    """The connections of ``edges`` (observed in ``cluster``) whose verdict differs
    between ``before`` and ``after`` (same inventory, different policies)."""
    resolver = EdgeResolver(before, cluster, fqdn_rules=has_fqdn_rules(before, after))
    engines = (CompiledEngine(before), CompiledEngine(after))
    cache: dict[tuple[object, ...], tuple[Verdict, Verdict]] = {}
    changed: dict[tuple[object, ...], _Group] = {}
    uncertain: dict[tuple[object, ...], tuple[_Group, str]] = {}
    count = flows = unchanged = 0
    for edge in edges:
        count += 1
        flows += edge.flows
        key = (edge.source, edge.destination, edge.port, edge.protocol)
        try:
            src, dst, proto, http = resolver.connection(edge)
            lookup = (src, dst, edge.port, proto, http)
            verdicts = cache.get(lookup)
            if verdicts is None:
                verdicts = (
                    engines[0].verdict(src, dst, edge.port, proto, http),
                    engines[1].verdict(src, dst, edge.port, proto, http),
                )
                cache[lookup] = verdicts
            old, new = verdicts
            _check_l7(edge, old, new)
        except Uncertain as why:
            group, _ = uncertain.setdefault(key, (_Group(*key), str(why)))
            group.add(edge)
            continue
        if old.allowed == new.allowed:
            unchanged += 1
            continue
        change = ALLOWED_TO_DENIED if old.allowed else DENIED_TO_ALLOWED
        group = changed.setdefault((*key, change), _Group(*key))
        group.add(edge)
        group.deciding |= set(deciding_policies(new))
        group.reason = deciding_reason(new)
    return Replay(
        edges=count,
        flows=flows,
        evaluations=len(cache),
        unchanged=unchanged,
        changes=tuple(
            sorted(
                (_changed(g, str(k[-1])) for k, g in changed.items()),
                key=lambda c: (-c.flows, c.source, c.destination, c.port, c.protocol),
            )
        ),
        uncertain=tuple(
            sorted(
                (_uncertain(g, reason) for g, reason in uncertain.values()),
                key=lambda u: (-u.flows, u.source, u.destination, u.port, u.protocol),
            )
        ),
    )


def _changed(g: _Group, change: str) -> ChangedConnection:
    return ChangedConnection(
        source=g.source,
        destination=g.destination,
        port=g.port,
        protocol=g.protocol,
        change=change,
        flows=g.flows,
        last_seen=g.last_seen,
        edges=g.edges,
        l7=tuple(sorted(g.l7)),
        recorded=tuple(sorted(g.recorded)),
        deciding=tuple(sorted(g.deciding)),
        reason=g.reason,
        examples=tuple(g.examples[:3]),
    )


def _uncertain(g: _Group, reason: str) -> UncertainConnection:
    return UncertainConnection(
        g.source, g.destination, g.port, g.protocol, g.flows, g.last_seen, g.edges, reason
    )


def deciding_direction(verdict: Verdict) -> Sequence[DirectionVerdict]:
    """The directions that decide: the one that denies (egress first), else both."""
    for direction in (verdict.egress, verdict.ingress):
        if not direction.allowed:
            return (direction,)
    return (verdict.egress, verdict.ingress)


def deciding_policies(verdict: Verdict) -> list[str]:
    return sorted({str(r.policy) for d in deciding_direction(verdict) for r in d.rules})


def deciding_reason(verdict: Verdict) -> str:
    return "+".join(sorted({d.reason.value for d in deciding_direction(verdict)}))


def _check_l7(edge: ObservedEdge, old: Verdict, new: Verdict) -> None:
    """DNS and Kafka requests are not evaluated by the engine: when rules of those kinds
    narrow the port in either world, the request's fate is unknown."""
    kind = edge.l7.split(" ", 1)[0]
    if kind not in ("DNS", "Kafka"):
        return
    for verdict in (old, new):
        for d in (verdict.egress, verdict.ingress):
            rules = [r for l7 in d.l7 for r in (l7.dns if kind == "DNS" else l7.kafka)]
            if rules:
                raise Uncertain(
                    f"{kind} rules narrow this port; the engine does not evaluate {kind} requests"
                )


def has_fqdn_rules(*worlds: World) -> bool:
    return any(
        isinstance(peer, FQDNPeer)
        for world in worlds
        for policy in world.policies
        for rule in policy.rules
        for peer in rule.peers
    )


class EdgeResolver:
    """Edge ends to engine endpoints, against one cluster's inventory (cached)."""

    def __init__(self, world: World, cluster: str, *, fqdn_rules: bool) -> None:
        self.world = world
        self.cluster = cluster
        self.fqdn_rules = fqdn_rules
        inventory = world.clusters.get(cluster)
        self.namespaces = inventory.namespaces if inventory is not None else {}
        self.has_inventory = inventory is not None and bool(inventory.pods or inventory.nodes)
        self._pods: dict[tuple[str, Labels], list[Endpoint]] = {}
        for pod in world.pods():
            if pod.cluster == cluster and pod.kind is EndpointKind.POD:
                key = (pod.namespace or "", identity_labels(pod.labels))
                self._pods.setdefault(key, []).append(pod)
        self._cache: dict[tuple[EdgeEnd, bool], Endpoint | str] = {}

    def connection(
        self, edge: ObservedEdge
    ) -> tuple[Endpoint, Endpoint, Protocol, HTTPRequest | None]:
        proto = _PROTOCOLS.get(edge.protocol)
        if proto is None:
            raise Uncertain(f"protocol {edge.protocol or 'unknown'!r} is not evaluated")
        src = self.endpoint(edge.source)
        return src, self.endpoint(edge.destination, destination=True), proto, http_request(edge.l7)

    def endpoint(self, end: EdgeEnd, *, destination: bool = False) -> Endpoint:
        """The engine's endpoint for one end. FQDN rules match destinations only: a
        world source needs no DNS name."""
        found = self._cache.get((end, destination))
        if found is None:
            try:
                found = self._build(end, destination)
            except Uncertain as why:
                found = str(why)
            self._cache[(end, destination)] = found
        if isinstance(found, str):
            raise Uncertain(found)
        return found

    def _build(self, end: EdgeEnd, destination: bool) -> Endpoint:
        if end.kind == "pod":
            return self._pod(end)
        ip = _ip(end)
        if end.kind == "world":
            if destination and not end.fqdn and self.fqdn_rules:
                raise Uncertain(
                    f"world {ip}: the DNS name it was reached by is not recorded, "
                    "and FQDN rules are in force"
                )
            return Endpoint(EndpointKind.WORLD, self.cluster, ip, dns_name=end.fqdn or None)
        if end.kind in ("host", "remote-node"):
            node = self.world.by_ip(ip)
            if node.kind is not EndpointKind.HOST:
                raise Uncertain(f"{end.kind} {ip} is not a node address in the inventory")
            return node
        kind = _OTHER_KINDS.get(end.kind)
        if kind is None:
            raise Uncertain(f"endpoint {ip} has no identity the engine models ({end.kind})")
        return Endpoint(kind, self.cluster, ip, is_apiserver=kind is EndpointKind.KUBE_APISERVER)

    def _pod(self, end: EdgeEnd) -> Endpoint:
        where = f"{end.namespace}/{end.workload or '?'}"
        if end.cluster and end.cluster != self.cluster:
            raise Uncertain(f"pod {where} is in cluster {end.cluster}, not {self.cluster}")
        if not self.has_inventory:
            raise Uncertain(f"cluster {self.cluster} has reported no inventory")
        if end.namespace not in self.namespaces:
            raise Uncertain(f"namespace {end.namespace} is not in the inventory")
        own, account = pod_labels(end)
        if not own:
            raise Uncertain(f"pod {where}: no labels recorded")
        candidates = self._pods.get((end.namespace, Labels(own)), [])
        if not candidates:
            shown = ",".join(f"{k}={v}" for k, v in sorted(own.items()))
            raise Uncertain(
                f"no pod of namespace {end.namespace} with labels {shown} in the inventory"
            )
        for pod in candidates:
            if account is None or pod.service_account in (None, account):
                return pod
        raise Uncertain(f"pod {where}: no pod with service account {account} in the inventory")


def pod_labels(end: EdgeEnd) -> tuple[dict[str, str], str | None]:
    """The pod's own labels (Cilium's derived ones removed) and its service account."""
    own: dict[str, str] = {}
    account = None
    for key, value in end.labels:
        if key == SERVICE_ACCOUNT_LABEL:
            account = value
        elif key not in _DERIVED and not key.startswith(NAMESPACE_LABELS_PREFIX):
            own[key] = value
    return own, account


def _ip(end: EdgeEnd) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not end.ip:
        raise Uncertain(f"{end.kind} endpoint without an IP address")
    try:
        return ipaddress.ip_address(end.ip)
    except ValueError:
        raise Uncertain(f"{end.kind} endpoint with an unparsable IP {end.ip!r}") from None
