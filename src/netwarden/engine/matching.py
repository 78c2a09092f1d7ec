"""The match predicates both evaluators share: selectors, peers, ports, L7 requests.

Everything here is a pure function of model values, written for clarity; the
compiled evaluator (compiled.py) computes the same answers in bulk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from netwarden.model.endpoint import Endpoint, EndpointKind, Identity, IdentityKey
from netwarden.model.labels import Labels
from netwarden.model.ports import PortSpec, Protocol
from netwarden.model.rule import (
    AnyPeer,
    CIDRPeer,
    EndpointSelector,
    Entity,
    EntityPeer,
    FQDNPeer,
    HTTPRule,
    L7Rules,
    Peer,
    SelectorPeer,
)

# Kinds that count as "in the cluster" for the cluster entity.
_CLUSTER_KINDS = frozenset(EndpointKind) - {EndpointKind.WORLD}


@dataclass(frozen=True, slots=True)
class HTTPRequest:
    method: str
    path: str
    host: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@lru_cache(maxsize=65536)
def cilium_labels(key: IdentityKey) -> Labels:
    return Identity(key).cilium_labels


def selector_matches(sel: EndpointSelector, ep: Endpoint) -> bool:
    if ep.kind not in sel.kinds:
        return False
    if sel.cluster is not None and ep.cluster != sel.cluster:
        return False
    if sel.namespace is not None and ep.namespace != sel.namespace:
        return False
    if sel.pod is not None and not sel.pod.matches(ep.labels):
        return False
    if sel.namespace_labels is not None and not sel.namespace_labels.matches(ep.namespace_labels):
        return False
    if sel.node is not None and not sel.node.matches(ep.labels):
        return False
    return sel.cilium is None or sel.cilium.matches(cilium_labels(IdentityKey.of(ep)))


def same_node(a: Endpoint, b: Endpoint) -> bool:
    return a.node_name is not None and a.node_name == b.node_name


def entity_matches(entity: Entity, peer: Endpoint, subject: Endpoint) -> bool:
    kind = peer.kind
    if entity is Entity.ALL:
        return True
    if entity in (Entity.WORLD, Entity.WORLD_IPV4, Entity.WORLD_IPV6):
        if kind is not EndpointKind.WORLD:
            return False
        if entity is Entity.WORLD or peer.ip is None:
            return True
        return peer.ip.version == (4 if entity is Entity.WORLD_IPV4 else 6)
    if entity is Entity.CLUSTER:
        return kind in _CLUSTER_KINDS and peer.cluster == subject.cluster
    if entity is Entity.HOST:
        return kind is EndpointKind.HOST and same_node(peer, subject)
    if entity is Entity.REMOTE_NODE:
        return kind is EndpointKind.HOST and not same_node(peer, subject)
    if entity is Entity.KUBE_APISERVER:
        return bool(peer.is_apiserver)
    return bool(kind.value == entity.value)


def fqdn_regex(pattern: str) -> re.Pattern[str]:
    """Cilium matchPattern: '*' alone is every name; '*' is one label's characters;
    a leading '**.' is one or more labels."""
    return _fqdn_regex(pattern.lower().rstrip("."))


@lru_cache(maxsize=4096)
def _fqdn_regex(pattern: str) -> re.Pattern[str]:
    if pattern == "*":
        return re.compile(r"[-a-z0-9_.]+")
    prefix = ""
    if pattern.startswith("**."):
        prefix = r"(?:[-a-z0-9_]+\.)+"
        pattern = pattern[3:]
    body = r"\.".join(
        "[-a-z0-9_]*".join(re.escape(part) for part in label.split("*"))
        for label in pattern.split(".")
    )
    return re.compile(prefix + body)


def fqdn_matches(peer: FQDNPeer, name: str | None) -> bool:
    if name is None:
        return False
    name = name.lower().rstrip(".")
    if peer.match_name is not None:
        return name == peer.match_name
    assert peer.match_pattern is not None
    return fqdn_regex(peer.match_pattern).fullmatch(name) is not None


def peer_matches(peer: Peer, ep: Endpoint, subject: Endpoint) -> bool:
    if isinstance(peer, AnyPeer):
        return True
    if isinstance(peer, SelectorPeer):
        return selector_matches(peer.selector, ep)
    if isinstance(peer, EntityPeer):
        return entity_matches(peer.entity, ep, subject)
    if isinstance(peer, CIDRPeer):
        if ep.ip is None:
            return False
        if not peer.matches_cluster_endpoints and ep.kind is not EndpointKind.WORLD:
            return False
        return peer.contains(ep.ip)
    return ep.kind is EndpointKind.WORLD and fqdn_matches(peer, ep.dns_name)


def resolve_named_port(spec: PortSpec, destination: Endpoint) -> list[tuple[Protocol, int]]:
    """The (protocol, number) pairs a named port means on the destination."""
    out = []
    for named in destination.named_ports:
        if named.name.lower() == (spec.name or "").lower() and spec.matches_protocol(
            named.protocol
        ):
            out.append((named.protocol, named.port))
    return out


def port_matches(spec: PortSpec, port: int, protocol: Protocol, destination: Endpoint) -> bool:
    if not spec.matches_protocol(protocol):
        return False
    if spec.name is not None:
        return (protocol, port) in resolve_named_port(spec, destination)
    return spec.start <= port <= spec.end


def _regex_full(pattern: str | None, value: str | None) -> bool:
    if pattern is None:
        return True
    if value is None:
        return False
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return False


def http_rule_matches(rule: HTTPRule, req: HTTPRequest) -> bool:
    if not (_regex_full(rule.method, req.method) and _regex_full(rule.path, req.path)):
        return False
    if not _regex_full(rule.host, req.host):
        return False
    headers = {k.lower(): v for k, v in req.headers}
    for header in rule.headers:
        # Cilium (pkg/envoy/server.go): split on the first space; the name may end
        # with ':' ("X-Key: value"); a single word only requires the header.
        key, sep, value = header.partition(" ")
        got = headers.get(key.rstrip(":").lower())
        if got is None or (sep and got != value):
            return False
    return True


def l7_allows(rules: list[L7Rules], req: HTTPRequest) -> bool:
    return any(http_rule_matches(h, req) for r in rules for h in r.http)
