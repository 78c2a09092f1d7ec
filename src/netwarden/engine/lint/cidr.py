"""CIDR peers that contain pod or node IPs: on Cilium they never match those endpoints.

Cilium first sorts traffic into cluster endpoints (matched by identity) and
the outside world (matched by CIDR); an ipBlock or toCIDR therefore never
selects a pod or a node, whatever its IP (cilium/cilium#19601, #35212).
Kubernetes' own reading of ipBlock does match them, and so do Netwarden's
verdicts for NetworkPolicy, so a cluster on Cilium behaves differently.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from netwarden.engine.lint.base import EXAMPLES, Finding, LintContext, plural
from netwarden.engine.lint.locate import CILIUM_KINDS, NETWORK_POLICY, peer_locations
from netwarden.model.diagnostics import Location
from netwarden.model.endpoint import Endpoint
from netwarden.model.rule import CIDRPeer, IPNetwork, NormalizedPolicy, Rule

BoolArray = npt.NDArray[np.bool_]


def _covered(ctx: LintContext, peer: CIDRPeer, cluster: str) -> list[Endpoint]:
    endpoints, addresses = _addresses(ctx, cluster, peer.network.version)
    if not endpoints:
        return []
    inside = _in_network(addresses, peer.network)
    for ex in peer.excepts:
        if ex.version == peer.network.version:
            inside &= ~_in_network(addresses, ex)
    return [endpoints[i] for i in np.flatnonzero(inside).tolist()]


def _in_network(addresses: npt.NDArray[np.uint64] | list[int], network: IPNetwork) -> BoolArray:
    mask, base = int(network.netmask), int(network.network_address)
    if isinstance(addresses, np.ndarray):  # IPv4: vectorized
        inside: BoolArray = (addresses & np.uint64(mask)) == np.uint64(base)
        return inside
    return np.array([(a & mask) == base for a in addresses], dtype=bool)


def _addresses(
    ctx: LintContext, cluster: str, version: int
) -> tuple[list[Endpoint], npt.NDArray[np.uint64] | list[int]]:
    """Endpoints with an IP of this version and their addresses as integers (cached)."""
    key = ("cidr-addresses", cluster, version)
    found = ctx.cache.get(key)
    if found is None:
        inv = ctx.world.clusters.get(cluster)
        endpoints = [
            ep
            for ep in ctx.pods(cluster) + (inv.nodes if inv is not None else [])
            if ep.ip is not None and ep.ip.version == version
        ]
        ints = [int(ep.ip) for ep in endpoints if ep.ip is not None]
        found = (endpoints, np.array(ints, dtype=np.uint64) if version == 4 else ints)
        ctx.cache[key] = found
    endpoints_found: list[Endpoint] = found[0]
    return endpoints_found, found[1]


def _cidr_peers(
    ctx: LintContext, kinds: frozenset[str]
) -> Iterator[tuple[NormalizedPolicy, Rule, CIDRPeer, Location]]:
    seen: set[tuple[Location, CIDRPeer]] = set()
    for policy, rule in ctx.rules():
        if policy.ref.kind not in kinds:
            continue
        locations = peer_locations(policy, rule)
        for i, peer in enumerate(rule.peers):
            if not isinstance(peer, CIDRPeer):
                continue
            location = locations[i] if locations is not None else rule.location
            if (location, peer) not in seen:
                seen.add((location, peer))
                yield policy, rule, peer, location


def _who(endpoints: list[Endpoint]) -> str:
    shown = sorted(endpoints, key=lambda ep: ep.display())[:EXAMPLES]
    names = ", ".join(f"{ep.display()} {ep.ip}" for ep in shown)
    more = len(endpoints) - len(shown)
    return names + (f" and {more} more" if more > 0 else "")


def ipblock_covers_pods(ctx: LintContext) -> Iterator[Finding]:
    """NW601: a NetworkPolicy ipBlock containing IPs of pods or nodes in the inputs."""
    for policy, _rule, peer, location in _cidr_peers(ctx, frozenset({NETWORK_POLICY})):
        covered = _covered(ctx, peer, policy.ref.cluster)
        if not covered:
            continue
        yield Finding(
            f"ipBlock {peer} contains the IPs of {_count(covered)} ({_who(covered)}): on "
            "Cilium an ipBlock only matches traffic from outside the cluster, so these are "
            "not matched there (Kubernetes' reading, and Netwarden's verdicts, match them); "
            "select pods with podSelector/namespaceSelector instead",
            location,
            policy.ref,
        )


def cidr_rule_covers_pods(ctx: LintContext) -> Iterator[Finding]:
    """NW602: a Cilium toCIDR/fromCIDR/CIDRSet containing IPs of pods or nodes in the inputs."""
    for policy, _rule, peer, location in _cidr_peers(ctx, CILIUM_KINDS):
        if peer.network.prefixlen == 0:
            continue  # 0.0.0.0/0 and ::/0 say "the outside world" on purpose
        covered = _covered(ctx, peer, policy.ref.cluster)
        if not covered:
            continue
        yield Finding(
            f"CIDR {peer} contains the IPs of {_count(covered)} ({_who(covered)}), but "
            "Cilium CIDR rules match only addresses outside the cluster: this rule does "
            "not match them; use toEndpoints/fromEndpoints (or toEntities: host / "
            "remote-node for nodes)",
            location,
            policy.ref,
        )


def _count(endpoints: list[Endpoint]) -> str:
    pods = sum(1 for ep in endpoints if ep.namespace is not None)
    nodes = len(endpoints) - pods
    parts = [plural(pods, "pod")] if pods else []
    if nodes:
        parts.append(plural(nodes, "node"))
    return " and ".join(parts)
