"""The one normalized rule type every policy kind compiles into."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum

from netwarden.model.diagnostics import Location, SourceMap
from netwarden.model.endpoint import EndpointKind
from netwarden.model.labels import LabelSelector
from netwarden.model.ports import ALL_PORTS, PortSpec

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Tier(Enum):
    ADMIN = "admin"
    NAMESPACED = "namespaced"
    BASELINE = "baseline"


class Action(Enum):
    ALLOW = "allow"
    DENY = "deny"
    PASS = "pass"


class Direction(Enum):
    INGRESS = "ingress"
    EGRESS = "egress"


class Entity(Enum):
    """Cilium entities (docs.cilium.io, policy language, "Entities based")."""

    WORLD = "world"
    WORLD_IPV4 = "world-ipv4"
    WORLD_IPV6 = "world-ipv6"
    CLUSTER = "cluster"
    HOST = "host"
    REMOTE_NODE = "remote-node"
    KUBE_APISERVER = "kube-apiserver"
    INGRESS = "ingress"
    HEALTH = "health"
    INIT = "init"
    UNMANAGED = "unmanaged"
    ALL = "all"
    NONE = "none"  # a valid entity that selects nothing (pkg/policy/api/entity.go)


@dataclass(frozen=True, slots=True)
class PolicyRef:
    kind: str
    name: str
    namespace: str | None = None
    cluster: str = "default"

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "cluster": self.cluster,
        }


@dataclass(frozen=True, slots=True)
class EndpointSelector:
    """Selects endpoints: every constraint that is set must hold (AND).

    ``pod`` and ``namespace_labels`` match the Kubernetes views (pod labels,
    namespace labels); ``cilium`` matches the Cilium identity label view (pod
    labels plus namespace, namespace labels and cluster as labels); ``node``
    matches node labels.
    """

    kinds: frozenset[EndpointKind] = frozenset({EndpointKind.POD})
    cluster: str | None = None
    namespace: str | None = None
    pod: LabelSelector | None = None
    namespace_labels: LabelSelector | None = None
    cilium: LabelSelector | None = None
    node: LabelSelector | None = None

    def __str__(self) -> str:
        parts = []
        if self.kinds != frozenset({EndpointKind.POD}):
            parts.append("kinds=" + "|".join(sorted(k.value for k in self.kinds)))
        if self.cluster is not None:
            parts.append(f"cluster={self.cluster}")
        if self.namespace is not None:
            parts.append(f"namespace={self.namespace}")
        for name in ("pod", "namespace_labels", "cilium", "node"):
            sel = getattr(self, name)
            if sel is not None:
                parts.append(f"{name}[{sel}]")
        return " ".join(parts) or "all pods"


# ---- peers -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnyPeer:
    """Every endpoint, in the cluster or not (a rule without peers)."""

    def __str__(self) -> str:
        return "any"


@dataclass(frozen=True, slots=True)
class SelectorPeer:
    selector: EndpointSelector

    def __str__(self) -> str:
        return str(self.selector)


@dataclass(frozen=True, slots=True)
class EntityPeer:
    entity: Entity

    def __str__(self) -> str:
        return f"entity:{self.entity.value}"


@dataclass(frozen=True, slots=True)
class CIDRPeer:
    """An IP block. ``matches_cluster_endpoints``: whether pods/nodes whose IP
    falls in the block match (Kubernetes ipBlock, admin networks) or only
    cluster-external addresses (Cilium CIDR rules, which select by identity)."""

    network: IPNetwork
    excepts: tuple[IPNetwork, ...] = ()
    matches_cluster_endpoints: bool = True

    def contains(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if ip.version != self.network.version or ip not in self.network:
            return False
        return not any(ip in ex for ex in self.excepts if ex.version == ip.version)

    def __str__(self) -> str:
        text = str(self.network)
        if self.excepts:
            text += " except " + ",".join(str(e) for e in self.excepts)
        return text


@dataclass(frozen=True, slots=True)
class FQDNPeer:
    """Destinations whose IP was learned from a DNS answer for a matching name."""

    match_name: str | None = None
    match_pattern: str | None = None

    def __str__(self) -> str:
        return f"fqdn:{self.match_name or self.match_pattern}"


Peer = AnyPeer | SelectorPeer | EntityPeer | CIDRPeer | FQDNPeer


# ---- L7 --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HTTPRule:
    """Cilium PortRuleHTTP: method, path and host are extended POSIX regexes."""

    method: str | None = None
    path: str | None = None
    host: str | None = None
    headers: tuple[str, ...] = ()

    def __str__(self) -> str:
        return " ".join(x for x in (self.method, self.path, self.host) if x) or "any request"


@dataclass(frozen=True, slots=True)
class DNSRule:
    match_name: str | None = None
    match_pattern: str | None = None

    def __str__(self) -> str:
        return f"dns:{self.match_name or self.match_pattern}"


@dataclass(frozen=True, slots=True)
class KafkaRule:
    role: str | None = None
    api_key: str | None = None
    api_version: str | None = None
    client_id: str | None = None
    topic: str | None = None

    def __str__(self) -> str:
        return f"kafka:{self.role or self.api_key or '*'}:{self.topic or '*'}"


@dataclass(frozen=True, slots=True)
class L7Rules:
    http: tuple[HTTPRule, ...] = ()
    dns: tuple[DNSRule, ...] = ()
    kafka: tuple[KafkaRule, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.http or self.dns or self.kafka)


# ---- rules -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of one policy, for one direction, in one tier.

    A connection matches the rule when the peer matches one of ``peers`` and
    the port matches one of ``ports``. ``l7`` (allow rules only) narrows an
    allowed connection to the listed requests.
    """

    policy: PolicyRef
    tier: Tier
    direction: Direction
    action: Action
    subject: EndpointSelector
    peers: tuple[Peer, ...] = (AnyPeer(),)
    ports: tuple[PortSpec, ...] = (ALL_PORTS,)
    l7: L7Rules | None = None
    priority: int = 0
    index: int = 0
    name: str | None = None
    location: Location = field(default_factory=Location)

    @property
    def order_key(self) -> tuple[int, str, int]:
        return (self.priority, str(self.policy), self.index)

    def ref(self) -> RuleRef:
        return RuleRef(self.policy, self.direction, self.index, self.name, self.action)

    def describe(self) -> str:
        peers = " or ".join(str(p) for p in self.peers)
        ports = ",".join(str(p) for p in self.ports)
        text = f"{self.action.value} {self.direction.value} peers [{peers}] ports [{ports}]"
        if self.l7 is not None and not self.l7.empty:
            rules = [str(r) for r in (*self.l7.http, *self.l7.dns, *self.l7.kafka)]
            text += " l7 [" + "; ".join(rules) + "]"
        return text


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A reference to a rule for explanations: policy, direction, index."""

    policy: PolicyRef
    direction: Direction
    index: int
    name: str | None
    action: Action

    def to_dict(self) -> dict[str, object]:
        out = self.policy.to_dict()
        out["direction"] = self.direction.value
        if self.is_isolation:
            # The policy selects the endpoint (default deny) but no rule of it matched.
            out["rule"] = None
            out["action"] = "default-deny"
        else:
            out["rule"] = self.index
            out["action"] = self.action.value
        if self.name:
            out["rule_name"] = self.name
        return out

    @property
    def is_isolation(self) -> bool:
        return self.index < 0

    def __str__(self) -> str:
        if self.is_isolation:
            return f"{self.policy} (default deny for {self.direction.value})"
        name = f" ({self.name})" if self.name else ""
        return f"{self.policy} {self.direction.value}[{self.index}]{name}"


@dataclass(frozen=True, slots=True)
class Isolation:
    """A policy that puts the endpoints it selects into default-deny for a direction."""

    policy: PolicyRef
    direction: Direction
    subject: EndpointSelector
    location: Location = field(default_factory=Location)


@dataclass(frozen=True, slots=True)
class NormalizedPolicy:
    """One policy object after parsing: its rules and the isolation it causes."""

    ref: PolicyRef
    rules: tuple[Rule, ...]
    isolations: tuple[Isolation, ...]
    location: Location
    raw: object = None
    # The line of every field of ``raw`` (set by the loader), for located lint findings.
    source: SourceMap | None = field(default=None, compare=False, repr=False)
