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

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from netwarden.engine.matching import cilium_labels, fqdn_matches, selector_matches
from netwarden.model.endpoint import Endpoint, EndpointKind, IdentityKey
from netwarden.model.labels import LabelSelector, Operator
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


class _LabelIndex:
    """Inverted index of one label view: (key, value) -> class ids, key -> class ids."""

    def __init__(self) -> None:
        self.pairs: dict[tuple[str, str], set[int]] = {}
        self.keys: dict[str, set[int]] = {}

    def add(self, cid: int, labels: Mapping[str, str]) -> None:
        for k, v in labels.items():
            self.pairs.setdefault((k, v), set()).add(cid)
            self.keys.setdefault(k, set()).add(cid)

    def select(self, selector: LabelSelector, candidates: set[int]) -> set[int]:
        if selector.matches_nothing:
            return set()
        out = candidates
        for req in selector.requirements:
            if req.operator is Operator.EXISTS:
                out = out & self.keys.get(req.key, set())
            elif req.operator is Operator.DOES_NOT_EXIST:
                out = out - self.keys.get(req.key, set())
            else:
                hit: set[int] = set()
                for value in req.values:
                    hit |= self.pairs.get((req.key, value), set())
                out = out & hit if req.operator is Operator.IN else out - hit
            if not out:
                break
        return out


class ClassIndex:
    """Assigns class ids; keeps the selector cache current as classes appear."""

    def __init__(self, cidrs: list[CIDRPeer], fqdns: list[FQDNPeer]) -> None:
        self.cidrs = cidrs
        self.fqdns = fqdns
        self.classes: list[EndpointClass] = []
        self._by_key: dict[ClassKey, int] = {}
        self._local_of: dict[int, int] = {}
        self._selectors: dict[EndpointSelector, set[int]] = {}
        self._masks: dict[object, npt.NDArray[np.bool_]] = {}
        self._by_kind: dict[EndpointKind, set[int]] = {}
        self._by_cluster: dict[str, set[int]] = {}
        self._by_namespace: dict[str | None, set[int]] = {}
        self._views = {name: _LabelIndex() for name in ("pod", "ns", "cilium", "node")}
        self._named_ports: dict[str, set[int]] = {}
        self._of_endpoint: dict[Endpoint, int] = {}
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
        cached = self._of_endpoint.get(ep)
        if cached is not None:
            return cached
        key = self.key_of(ep)
        found = self._by_key.get(key)
        if found is not None:
            self._of_endpoint[ep] = found
            return found
        cid = self._add(key, ep)
        if ep.kind is EndpointKind.HOST:
            local_key = ClassKey(key.identity, key.named_ports, key.cidrs, key.fqdns, True)
            self._local_of[cid] = self._add(local_key, ep)
        self._of_endpoint[ep] = cid
        return cid

    def local_variant(self, cid: int) -> int:
        return self._local_of.get(cid, cid)

    def _add(self, key: ClassKey, ep: Endpoint) -> int:
        cid = len(self.classes)
        self.classes.append(EndpointClass(cid, key, ep))
        self._by_key[key] = cid
        self._by_kind.setdefault(ep.kind, set()).add(cid)
        self._by_cluster.setdefault(ep.cluster, set()).add(cid)
        self._by_namespace.setdefault(ep.namespace, set()).add(cid)
        if ep.kind is EndpointKind.HOST:
            self._views["node"].add(cid, ep.labels)
        else:
            self._views["pod"].add(cid, ep.labels)
        self._views["ns"].add(cid, ep.namespace_labels)
        self._views["cilium"].add(cid, cilium_labels(key.identity))
        for named in ep.named_ports:
            self._named_ports.setdefault(named.name.lower(), set()).add(named.port)
        for selector, members in self._selectors.items():
            if selector_matches(selector, ep):
                members.add(cid)
        self.generation += 1
        return cid

    def selected(self, selector: EndpointSelector) -> set[int]:
        """Classes the selector selects (the selector cache)."""
        members = self._selectors.get(selector)
        if members is None:
            members = self._evaluate(selector)
            self._selectors[selector] = members
        return members

    def _evaluate(self, sel: EndpointSelector) -> set[int]:
        out: set[int] = set()
        for kind in sel.kinds:
            out |= self._by_kind.get(kind, set())
        if sel.cluster is not None:
            out &= self._by_cluster.get(sel.cluster, set())
        if sel.namespace is not None:
            out &= self._by_namespace.get(sel.namespace, set())
        for view, label_sel in (
            ("pod", sel.pod),
            ("ns", sel.namespace_labels),
            ("cilium", sel.cilium),
            ("node", sel.node),
        ):
            if label_sel is not None and out:
                out = self._views[view].select(label_sel, out)
        return out

    def mask(self, key: object, members: Callable[[], set[int]]) -> npt.NDArray[np.bool_]:
        """A boolean array over all classes for a cached member set, grown as classes appear."""
        found = self._masks.get(key)
        n = len(self.classes)
        if found is not None and len(found) == n:
            return found
        ids = members()
        mask = np.zeros(n, dtype=bool)
        if ids:
            mask[np.fromiter(ids, dtype=np.int64, count=len(ids))] = True
        self._masks[key] = mask
        return mask

    def named_port_numbers(self, name: str) -> frozenset[int]:
        """Every port number a container port of this name has in any class."""
        return frozenset(self._named_ports.get(name.lower(), ()))

    @property
    def selector_count(self) -> int:
        return len(self._selectors)
