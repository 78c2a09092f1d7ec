"""Endpoint classes and the selector cache.

An endpoint class groups endpoints that no rule can tell apart: same identity
labels (pod labels, namespace and its labels, cluster, service account), same
named ports, same membership in every CIDR and FQDN peer of the policies. It
is Cilium's security identity refined by what ipBlock and named ports observe.
HOST classes come in two variants, "remote" and "local", because the
host/remote-node entities depend on whether the node is the subject's own.

The selector cache maps each distinct selector to the set of classes it
selects and is kept up to date as classes are added.
"""

from __future__ import annotations

from dataclasses import dataclass

from netwarden.engine.matching import fqdn_matches, selector_matches
from netwarden.model.endpoint import Endpoint, EndpointKind, IdentityKey
from netwarden.model.ports import NamedPort
from netwarden.model.rule import CIDRPeer, EndpointSelector, FQDNPeer


@dataclass(frozen=True, slots=True)
class ClassKey:
    identity: IdentityKey
    named_ports: tuple[NamedPort, ...]
    cidrs: frozenset[int]
    fqdns: frozenset[int]
    local: bool = False


@dataclass(frozen=True, slots=True)
class EndpointClass:
    id: int
    key: ClassKey
    representative: Endpoint

    @property
    def kind(self) -> EndpointKind:
        return self.key.identity.kind


class ClassIndex:
    """Assigns class ids; keeps the selector cache current as classes appear."""

    def __init__(self, cidrs: list[CIDRPeer], fqdns: list[FQDNPeer]) -> None:
        self.cidrs = cidrs
        self.fqdns = fqdns
        self.classes: list[EndpointClass] = []
        self._by_key: dict[ClassKey, int] = {}
        self._local_of: dict[int, int] = {}
        self._selectors: dict[EndpointSelector, set[int]] = {}
        self.generation = 0

    def __len__(self) -> int:
        return len(self.classes)

    def key_of(self, ep: Endpoint) -> ClassKey:
        cidrs: frozenset[int] = frozenset()
        if ep.ip is not None:
            cluster_ep = ep.kind is not EndpointKind.WORLD
            cidrs = frozenset(
                i
                for i, c in enumerate(self.cidrs)
                if (c.matches_cluster_endpoints or not cluster_ep) and c.contains(ep.ip)
            )
        fqdns: frozenset[int] = frozenset()
        if ep.kind is EndpointKind.WORLD and ep.dns_name:
            fqdns = frozenset(i for i, f in enumerate(self.fqdns) if fqdn_matches(f, ep.dns_name))
        return ClassKey(IdentityKey.of(ep), ep.named_ports, cidrs, fqdns)

    def class_of(self, ep: Endpoint) -> int:
        key = self.key_of(ep)
        found = self._by_key.get(key)
        if found is not None:
            return found
        cid = self._add(key, ep)
        if ep.kind is EndpointKind.HOST:
            local_key = ClassKey(key.identity, key.named_ports, key.cidrs, key.fqdns, True)
            self._local_of[cid] = self._add(local_key, ep)
        return cid

    def local_variant(self, cid: int) -> int:
        return self._local_of.get(cid, cid)

    def _add(self, key: ClassKey, ep: Endpoint) -> int:
        cid = len(self.classes)
        self.classes.append(EndpointClass(cid, key, ep))
        self._by_key[key] = cid
        for selector, members in self._selectors.items():
            if selector_matches(selector, ep):
                members.add(cid)
        self.generation += 1
        return cid

    def selected(self, selector: EndpointSelector) -> set[int]:
        """Classes the selector selects (the selector cache)."""
        members = self._selectors.get(selector)
        if members is None:
            members = {c.id for c in self.classes if selector_matches(selector, c.representative)}
            self._selectors[selector] = members
        return members

    @property
    def selector_count(self) -> int:
        return len(self._selectors)
