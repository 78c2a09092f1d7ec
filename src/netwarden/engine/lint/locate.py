"""Where a normalized rule's subject, peers and ports were written in its manifest.

Rules carry the location of the rule itself; findings about one peer or one
port point at that field instead. These functions walk the policy's raw object
in the order its parser reads it and return ``None`` whenever the walk does not
line up one-to-one with the normalized values, so callers fall back to the
rule's own location rather than point at the wrong field.
"""

from __future__ import annotations

from collections.abc import Iterator

from netwarden.model.diagnostics import Location, PathKey
from netwarden.model.rule import (
    Direction,
    EndpointSelector,
    NormalizedPolicy,
    Rule,
)

NETWORK_POLICY = "NetworkPolicy"
CILIUM_KINDS = frozenset({"CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"})
ADMIN_KINDS = frozenset(
    {"AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy"}
)


def raw_at(raw: object, path: PathKey) -> object:
    """The value at ``path`` in a decoded YAML object, or None."""
    value = raw
    for part in path:
        if isinstance(part, int):
            if not isinstance(value, list) or not 0 <= part < len(value):
                return None
            value = value[part]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
    return value


def _items(raw: object, path: PathKey) -> list[object]:
    value = raw_at(raw, path)
    return value if isinstance(value, list) else []


def rule_path(policy: NormalizedPolicy, rule: Rule) -> PathKey | None:
    """The object-relative path of the rule (for Cilium: of the rule, not its toPorts item)."""
    if policy.source is None:
        return None
    path = policy.source.relative(rule.location)
    if path is None:
        return None
    if len(path) >= 2 and path[-2] == "toPorts":
        return path[:-2]
    return path


def _locations(policy: NormalizedPolicy, paths: list[PathKey]) -> list[Location]:
    assert policy.source is not None
    return [policy.source.location(p) for p in paths]


def peer_locations(policy: NormalizedPolicy, rule: Rule) -> list[Location] | None:
    """One location per ``rule.peers`` entry, or None when they cannot be matched up."""
    base = rule_path(policy, rule)
    if base is None:
        return None
    kind = policy.ref.kind
    if kind == NETWORK_POLICY:
        key = "from" if rule.direction is Direction.INGRESS else "to"
        paths = [(*base, key, j) for j in range(len(_items(policy.raw, (*base, key))))]
    elif kind in CILIUM_KINDS:
        paths = list(_cilium_peer_paths(policy.raw, base, rule.direction))
    elif kind in ADMIN_KINDS:
        paths = list(_admin_peer_paths(policy.raw, base, rule.direction))
    else:
        return None
    if len(paths) != len(rule.peers):
        return None
    return _locations(policy, paths)


def _cilium_peer_paths(raw: object, base: PathKey, direction: Direction) -> Iterator[PathKey]:
    prefix = "from" if direction is Direction.INGRESS else "to"
    fields = [prefix + s for s in ("Endpoints", "Nodes", "Entities", "CIDR", "CIDRSet")]
    if direction is Direction.EGRESS:
        fields.append("toFQDNs")
    for name in fields:
        for j, item in enumerate(_items(raw, (*base, name))):
            if isinstance(item, dict) and ("cidrGroupRef" in item or "cidrGroupSelector" in item):
                continue  # not evaluated: the parser makes no peer of it
            yield (*base, name, j)


def _admin_peer_paths(raw: object, base: PathKey, direction: Direction) -> Iterator[PathKey]:
    key = "from" if direction is Direction.INGRESS else "to"
    for j, item in enumerate(_items(raw, (*base, key))):
        if not isinstance(item, dict):
            continue
        if not item:
            yield (*base, key, j)  # an empty peer: nothing (Allow) or everything (Deny/Pass)
        for peer_type, value in item.items():
            if peer_type in ("networks", "domainNames") and isinstance(value, list):
                for m, entry in enumerate(value):
                    if entry:
                        yield (*base, key, j, peer_type, m)
            else:
                yield (*base, key, j, peer_type)


def port_locations(policy: NormalizedPolicy, rule: Rule) -> list[Location] | None:
    """One location per ``rule.ports`` entry, or None when they cannot be matched up."""
    if policy.source is None:
        return None
    path = policy.source.relative(rule.location)
    if path is None:
        return None
    kind = policy.ref.kind
    if kind in CILIUM_KINDS:
        if len(path) < 2 or path[-2] != "toPorts":
            return None
        ports_path: PathKey = (*path, "ports")
    elif kind == "ClusterNetworkPolicy":
        ports_path = (*path, "protocols")
    else:
        ports_path = (*path, "ports")
    paths = [(*ports_path, j) for j in range(len(_items(policy.raw, ports_path)))]
    if len(paths) != len(rule.ports):
        return None
    return _locations(policy, paths)


def subject_sites(policy: NormalizedPolicy) -> list[tuple[EndpointSelector, Location]]:
    """Each distinct subject selector of a policy and where it is written."""
    out: dict[EndpointSelector, Location] = {}
    sites = [(r.subject, r.location) for r in policy.rules]
    sites += [(i.subject, i.location) for i in policy.isolations]
    for subject, location in sites:
        if subject not in out:
            out[subject] = _subject_location(policy, location)
    return list(out.items())


def _subject_location(policy: NormalizedPolicy, inside: Location) -> Location:
    if policy.source is None:
        return inside
    kind = policy.ref.kind
    if kind == NETWORK_POLICY:
        return policy.source.location(("spec", "podSelector"))
    if kind in ADMIN_KINDS:
        return policy.source.location(("spec", "subject"))
    path = policy.source.relative(inside)
    if not path:
        return inside
    spec: PathKey = path[:2] if path[0] == "specs" else path[:1]
    has_nodes = isinstance(raw_at(policy.raw, (*spec, "nodeSelector")), dict)
    return policy.source.location((*spec, "nodeSelector" if has_nodes else "endpointSelector"))
