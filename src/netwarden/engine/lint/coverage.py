"""Syntactic proofs that one selector, peer, port or rule includes another.

Every function here answers True only when the inclusion holds for every
endpoint and connection there could ever be, whatever the inventory; False
means "not proven", never "disjoint". Checks built on them stay sound: they
report a shadowed rule only when it really can never match.
"""

from __future__ import annotations

from collections.abc import Sequence

from netwarden.engine.matching import fqdn_matches
from netwarden.model.endpoint import (
    CLUSTER_LABEL,
    K8S_NAMESPACE_NAME_LABEL,
    NAMESPACE_LABEL,
    NAMESPACE_LABELS_PREFIX,
    EndpointKind,
)
from netwarden.model.labels import LabelSelector, Operator, Requirement
from netwarden.model.ports import PortSpec, Protocol
from netwarden.model.rule import (
    AnyPeer,
    CIDRPeer,
    EndpointSelector,
    Entity,
    EntityPeer,
    FQDNPeer,
    Peer,
    Rule,
    SelectorPeer,
)

_PODS = frozenset({EndpointKind.POD})
_WORLD_ENTITIES = frozenset({Entity.WORLD, Entity.WORLD_IPV4, Entity.WORLD_IPV6})


# ---- label selectors ---------------------------------------------------------


def requirement_implies(q: Requirement, r: Requirement) -> bool:
    """Every label set that satisfies ``q`` satisfies ``r``."""
    if q.key != r.key:
        return False
    if q == r:
        return True
    if r.operator is Operator.EXISTS:
        return q.operator is Operator.IN
    if r.operator is Operator.IN:
        return q.operator is Operator.IN and q.values <= r.values
    if r.operator is Operator.NOT_IN:
        if q.operator is Operator.IN:
            return not q.values & r.values
        if q.operator is Operator.NOT_IN:
            return r.values <= q.values
        return q.operator is Operator.DOES_NOT_EXIST
    return False  # DoesNotExist is implied only by itself (the equality above)


def labels_cover(broad: LabelSelector | None, narrow: Sequence[Requirement]) -> bool:
    """Every label set meeting all of ``narrow`` is matched by ``broad`` (None: no constraint)."""
    if broad is None:
        return True
    if broad.matches_nothing:
        return False
    return all(any(requirement_implies(q, r) for q in narrow) for r in broad.requirements)


def _special(key: str) -> bool:
    """Keys of the Cilium identity view that are not pod labels."""
    return key == NAMESPACE_LABEL or key.startswith(("io.cilium.k8s.", "reserved:"))


def _reqs(sel: LabelSelector | None) -> tuple[Requirement, ...]:
    return sel.requirements if sel is not None else ()


def _single_in(reqs: Sequence[Requirement], key: str) -> str | None:
    for req in reqs:
        if req.key == key and req.operator is Operator.IN and len(req.values) == 1:
            return next(iter(req.values))
    return None


def namespace_of(sel: EndpointSelector) -> str | None:
    """The one namespace a pod selector is limited to, in whichever view it says so."""
    if sel.namespace is not None:
        return sel.namespace
    return _single_in(_reqs(sel.cilium), NAMESPACE_LABEL) or _single_in(
        _reqs(sel.namespace_labels), K8S_NAMESPACE_NAME_LABEL
    )


def cluster_of(sel: EndpointSelector) -> str | None:
    return sel.cluster or _single_in(_reqs(sel.cilium), CLUSTER_LABEL)


def _pod_view(sel: EndpointSelector) -> list[Requirement]:
    """What a pod selector requires of pod labels."""
    out = list(_reqs(sel.pod))
    out += [r for r in _reqs(sel.cilium) if not _special(r.key)]
    return out


def _namespace_view(sel: EndpointSelector) -> list[Requirement]:
    """What a pod selector requires of namespace labels."""
    out = list(_reqs(sel.namespace_labels))
    for r in _reqs(sel.cilium):
        if r.key.startswith(NAMESPACE_LABELS_PREFIX):
            key = r.key.removeprefix(NAMESPACE_LABELS_PREFIX)
            out.append(Requirement(key, r.operator, r.values))
    namespace = namespace_of(sel)
    if namespace is not None:
        out.append(Requirement(K8S_NAMESPACE_NAME_LABEL, Operator.IN, frozenset({namespace})))
    return out


def _cilium_view(sel: EndpointSelector) -> list[Requirement]:
    """What a pod selector requires of the Cilium identity labels."""
    out = list(_reqs(sel.cilium))
    out += [r for r in _reqs(sel.pod) if not _special(r.key)]
    for r in _reqs(sel.namespace_labels):
        out.append(Requirement(NAMESPACE_LABELS_PREFIX + r.key, r.operator, r.values))
    namespace, cluster = namespace_of(sel), cluster_of(sel)
    if namespace is not None:
        out.append(Requirement(NAMESPACE_LABEL, Operator.IN, frozenset({namespace})))
    if cluster is not None:
        out.append(Requirement(CLUSTER_LABEL, Operator.IN, frozenset({cluster})))
    return out


def selector_covers(broad: EndpointSelector, narrow: EndpointSelector) -> bool:
    """Every endpoint ``narrow`` selects, ``broad`` selects too."""
    if broad == narrow:
        return True
    if any(s is not None and s.matches_nothing for s in _views(narrow)):
        return False  # vacuous: not worth a finding
    if not narrow.kinds <= broad.kinds:
        return False
    if broad.cluster is not None and broad.cluster != cluster_of(narrow):
        return False
    if broad.namespace is not None and broad.namespace != namespace_of(narrow):
        return False
    if narrow.kinds != _PODS:
        # Hosts and reserved identities: only the same view compares.
        return all(
            labels_cover(b, _reqs(n)) for b, n in zip(_views(broad), _views(narrow), strict=True)
        )
    return (
        labels_cover(broad.pod, _pod_view(narrow))
        and labels_cover(broad.namespace_labels, _namespace_view(narrow))
        and labels_cover(broad.cilium, _cilium_view(narrow))
        and broad.node is None
    )


def _views(sel: EndpointSelector) -> tuple[LabelSelector | None, ...]:
    return (sel.pod, sel.namespace_labels, sel.cilium, sel.node)


# ---- peers and ports ---------------------------------------------------------


def peer_covers(broad: Peer, narrow: Peer, cluster: str | None) -> bool:
    """Every endpoint ``narrow`` matches, ``broad`` matches too (for a subject in ``cluster``)."""
    if broad == narrow or isinstance(broad, AnyPeer):
        return True
    if isinstance(broad, EntityPeer):
        return _entity_covers(broad.entity, narrow, cluster)
    if isinstance(broad, SelectorPeer) and isinstance(narrow, SelectorPeer):
        return selector_covers(broad.selector, narrow.selector)
    if isinstance(broad, CIDRPeer) and isinstance(narrow, CIDRPeer):
        return _cidr_covers(broad, narrow)
    if isinstance(broad, FQDNPeer) and isinstance(narrow, FQDNPeer):
        return narrow.match_name is not None and fqdn_matches(broad, narrow.match_name)
    return False


def _entity_covers(entity: Entity, narrow: Peer, cluster: str | None) -> bool:
    if entity is Entity.ALL:
        return True
    if entity is Entity.WORLD:
        if isinstance(narrow, EntityPeer):
            return narrow.entity in _WORLD_ENTITIES
        return isinstance(narrow, FQDNPeer) or (
            isinstance(narrow, CIDRPeer) and not narrow.matches_cluster_endpoints
        )
    if entity in (Entity.WORLD_IPV4, Entity.WORLD_IPV6):
        version = 4 if entity is Entity.WORLD_IPV4 else 6
        return (
            isinstance(narrow, CIDRPeer)
            and not narrow.matches_cluster_endpoints
            and narrow.network.version == version
        )
    if entity is Entity.CLUSTER and isinstance(narrow, SelectorPeer):
        sel = narrow.selector
        return (
            cluster is not None
            and EndpointKind.WORLD not in sel.kinds
            and cluster_of(sel) == cluster
        )
    return False


def _cidr_covers(broad: CIDRPeer, narrow: CIDRPeer) -> bool:
    if narrow.matches_cluster_endpoints and not broad.matches_cluster_endpoints:
        return False
    b_net, n_net = broad.network, narrow.network
    if b_net.version != n_net.version or not n_net.subnet_of(b_net):  # type: ignore[arg-type]
        return False
    for ex in broad.excepts:
        if not ex.overlaps(n_net):
            continue
        # Nested CIDRs: the except lies inside the narrow block; the narrow
        # block must except all of it too.
        same_version = (x for x in narrow.excepts if x.version == ex.version)
        if not any(ex.subnet_of(x) for x in same_version):  # type: ignore[arg-type]
            return False
    return True


def port_covers(broad: PortSpec, narrow: PortSpec) -> bool:
    """Every (protocol, port) ``narrow`` matches, ``broad`` matches too."""
    if broad.protocol is not Protocol.ANY and broad.protocol is not narrow.protocol:
        return False
    if narrow.name is not None:
        return broad.all_ports or (
            broad.name is not None and broad.name.lower() == narrow.name.lower()
        )
    if broad.name is not None:
        return False
    return broad.start <= narrow.start and narrow.end <= broad.end


def rule_covers(broad: Rule, narrow: Rule) -> bool:
    """Every connection (peer, port) ``narrow`` matches, ``broad`` matches too.

    Subjects and directions are the caller's business.
    """
    cluster = narrow.subject.cluster
    peers = all(any(peer_covers(b, n, cluster) for b in broad.peers) for n in narrow.peers)
    return peers and all(any(port_covers(b, n) for b in broad.ports) for n in narrow.ports)
