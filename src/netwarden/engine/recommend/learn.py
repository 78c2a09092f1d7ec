"""Learning: observed edges -> one least-privilege recommendation per workload."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from netwarden.engine.recommend.render import render_cilium, render_k8s
from netwarden.engine.recommend.values import (
    _REGEX_SPECIAL,
    _UUID,
    DROPPED,
    LEARNED_PROTOCOLS,
    NUMBER_PATTERN,
    UUID_PATTERN,
    Evidence,
    Excluded,
    HTTPPattern,
    KnownWorkload,
    Recommendation,
    RecommendedRule,
    RecommendOptions,
    RulePeer,
    Status,
    WorkloadRef,
    _selectors,
    cidr_of,
    http_request,
    is_ip,
    stable_labels,
    workload_of,
)
from netwarden.model.observed import EdgeEnd, ObservedEdge

# ---- learning ----------------------------------------------------------------------


def scanners(edges: Sequence[ObservedEdge], threshold: int) -> dict[object, str]:
    """Sources that reached ``threshold`` or more distinct ports of one workload."""
    if threshold <= 0:
        return {}
    ports: dict[tuple[object, WorkloadRef], set[tuple[int, str]]] = defaultdict(set)
    for edge in edges:
        dst = workload_of(edge.destination)
        if dst is not None:
            ports[(_source_key(edge.source), dst)].add((edge.port, edge.protocol))
    out: dict[object, str] = {}
    for (src, dst), seen in ports.items():
        if len(seen) >= threshold and src not in out:
            out[src] = f"scan pattern: {len(seen)} ports of {dst.display()} tried"
    return out


def _source_key(end: EdgeEnd) -> object:
    return workload_of(end) or (end.kind, end.ip)


def recommend(
    edges: Iterable[ObservedEdge],
    *,
    until_ns: int,
    options: RecommendOptions | None = None,
    known: Iterable[KnownWorkload] = (),
    workloads: Iterable[WorkloadRef] | None = None,
) -> list[Recommendation]:
    """One recommendation per workload seen in ``edges`` (and per ``known`` workload),
    or only for ``workloads`` when given."""
    opts = options or RecommendOptions()
    all_edges = [
        e for e in edges if e.protocol.upper() in LEARNED_PROTOCOLS or e.verdict == DROPPED
    ]
    selectors = _selectors(all_edges)
    scan = scanners(all_edges, opts.scan_ports)
    per: dict[WorkloadRef, list[tuple[str, ObservedEdge]]] = defaultdict(list)
    for edge in all_edges:
        src, dst = workload_of(edge.source), workload_of(edge.destination)
        if src is not None:
            per[src].append(("egress", edge))
        if dst is not None:
            per[dst].append(("ingress", edge))
    refs = {ref: ref for ref in per}
    for k in known:
        per.setdefault(k.ref, [])
        refs[k.ref] = k.ref  # the inventory knows the workload's kind
        selectors.setdefault(k.ref, stable_labels(k.labels))
    wanted = set(workloads) if workloads is not None else None
    out = []
    for ref in sorted(per):
        if wanted is None or ref in wanted:
            out.append(_recommend_one(refs[ref], per[ref], selectors, scan, opts, until_ns))
    return out


def _recommend_one(
    ref: WorkloadRef,
    sides: list[tuple[str, ObservedEdge]],
    selectors: Mapping[WorkloadRef, dict[str, str]],
    scan: Mapping[object, str],
    opts: RecommendOptions,
    until_ns: int,
) -> Recommendation:
    selector = tuple(sorted(selectors.get(ref, {}).items()))
    if not sides:
        return Recommendation(ref, Status.NOT_ENOUGH_DATA, "no flows recorded", selector)
    evidence = Evidence.of([e for _, e in sides])
    if until_ns - evidence.first_seen < opts.min_learning_ns:
        hours = opts.min_learning_ns / 3.6e12
        return Recommendation(
            ref,
            Status.NOT_ENOUGH_DATA,
            f"too new: first flow {(until_ns - evidence.first_seen) / 3.6e12:.1f} h ago, "
            f"learning needs {hours:g} h",
            selector,
            evidence=evidence,
        )
    if not selector:
        return Recommendation(
            ref, Status.NOT_ENOUGH_DATA, "its pods share no stable label to select them", selector
        )
    learned: dict[str, list[ObservedEdge]] = {"ingress": [], "egress": []}
    excluded: list[Excluded] = []
    denied: list[ObservedEdge] = []
    for direction, edge in sides:
        if edge.verdict == DROPPED:
            denied.append(edge)
            continue
        reason = _exclusion(direction, edge, selectors, scan, opts)
        if reason:
            excluded.append(Excluded(edge, reason))
        else:
            learned[direction].append(edge)
    rules = [r for d in ("ingress", "egress") for r in _rules(ref, d, learned[d], selectors, opts)]
    rec = Recommendation(
        ref,
        Status.AVAILABLE,
        f"learned from {evidence.flows} flows",
        selector,
        tuple(rules),
        tuple(excluded),
        tuple(denied),
        tuple(learned["ingress"] + learned["egress"]),
        evidence,
        format=opts.format,
    )
    manifest = render_cilium(rec) if opts.format == "cilium" else render_k8s(rec)
    return Recommendation(**{**_fields(rec), "manifest": manifest})


def _fields(rec: Recommendation) -> dict[str, Any]:
    return {name: getattr(rec, name) for name in rec.__dataclass_fields__}


def _exclusion(
    direction: str,
    edge: ObservedEdge,
    selectors: Mapping[WorkloadRef, dict[str, str]],
    scan: Mapping[object, str],
    opts: RecommendOptions,
) -> str:
    source_reason = scan.get(_source_key(edge.source))
    if source_reason:
        ref = workload_of(edge.source)
        return f"{ref.display() if ref else edge.source.display()}: {source_reason}"
    peer = edge.destination if direction == "egress" else edge.source
    if edge.protocol.upper() not in LEARNED_PROTOCOLS or not 0 < edge.port <= 65535:
        return f"protocol {edge.protocol} is not learned (TCP, UDP and SCTP ports only)"
    if peer.kind == "pod":
        ref = workload_of(peer)
        if ref is None or not selectors.get(ref):
            return "the peer pods carry no stable label to select them by"
        if opts.format == "k8s" and peer.cluster and peer.cluster != edge_cluster(edge, direction):
            return "a peer in another cluster cannot be selected by a NetworkPolicy"
        return ""
    if peer.kind == "world":
        if direction == "egress" and not peer.fqdn and not opts.allow_external_ips:
            return (
                f"external address {peer.ip} reached without a DNS name: review it "
                "(allow_external_ips learns it as a /32)"
            )
        return "" if (peer.fqdn or is_ip(peer.ip)) else "external peer without an address"
    if peer.kind in ("host", "remote-node", "kube-apiserver"):
        if opts.format == "k8s" and not is_ip(peer.ip):
            return f"{peer.kind} without an address: a NetworkPolicy needs an ipBlock"
        return ""
    return f"peer kind {peer.kind} is not learned"


def edge_cluster(edge: ObservedEdge, direction: str) -> str:
    return (edge.source if direction == "egress" else edge.destination).cluster


def _rule_peer(
    direction: str, edge: ObservedEdge, selectors: Mapping[WorkloadRef, dict[str, str]]
) -> RulePeer:
    end = edge.destination if direction == "egress" else edge.source
    if end.kind == "pod":
        ref = workload_of(end)
        assert ref is not None
        labels = tuple(sorted(selectors[ref].items()))
        return RulePeer("pod", end.namespace, labels, ref.name)
    if end.kind == "world" and end.fqdn and direction == "egress":
        return RulePeer("fqdn", fqdn=end.fqdn.rstrip("."))
    if end.kind == "world":
        return RulePeer("cidr", cidr=cidr_of(end.ip))
    return RulePeer("entity", entity=end.kind, cidr=cidr_of(end.ip) if is_ip(end.ip) else "")


def _rules(
    ref: WorkloadRef,
    direction: str,
    edges: list[ObservedEdge],
    selectors: Mapping[WorkloadRef, dict[str, str]],
    opts: RecommendOptions,
) -> list[RecommendedRule]:
    groups: dict[RulePeer, list[ObservedEdge]] = defaultdict(list)
    for edge in edges:
        groups[_rule_peer(direction, edge, selectors)].append(edge)
    out = []
    for peer, group in sorted(groups.items()):
        if peer.kind == "fqdn":
            addresses = sorted({e.destination.ip for e in group if is_ip(e.destination.ip)})
            peer = RulePeer("fqdn", fqdn=peer.fqdn, addresses=tuple(addresses))
        ports = tuple(sorted({(e.port, e.protocol.upper()) for e in group}))
        dns = direction == "egress" and _is_dns_peer(peer, ports, opts)
        http = _http_patterns(group) if opts.l7 and opts.format == "cilium" else ()
        note = ""
        if peer.kind == "fqdn" and opts.format == "k8s":
            note = (
                "ipBlock fallback: NetworkPolicy has no FQDN rules; the addresses seen for "
                + peer.fqdn
            )
        elif peer.kind == "cidr" and direction == "ingress":
            note = "the client addresses seen; widen it if the workload serves the internet"
        out.append(RecommendedRule(direction, peer, ports, Evidence.of(group), http, dns, note))
    return out


def _is_dns_peer(
    peer: RulePeer, ports: tuple[tuple[int, str], ...], opts: RecommendOptions
) -> bool:
    if peer.kind != "pod" or peer.namespace != opts.dns_namespace:
        return False
    labels = dict(peer.labels)
    return all(labels.get(k) == v for k, v in opts.dns_labels) and any(p == 53 for p, _ in ports)


def _http_patterns(edges: Sequence[ObservedEdge]) -> tuple[HTTPPattern, ...]:
    out = set()
    for edge in edges:
        request = http_request(edge.l7)
        if request is not None:
            out.add(HTTPPattern(request.method, path_pattern(request.path)))
    return tuple(sorted(out, key=lambda h: (h.path, h.method)))


def path_pattern(path: str) -> str:
    """An anchored path regex: numeric and UUID segments generalized, the rest literal."""
    segments = []
    for seg in path.split("/"):
        if seg.isdigit():
            segments.append(NUMBER_PATTERN)
        elif _UUID.match(seg):
            segments.append(UUID_PATTERN)
        else:
            segments.append(_REGEX_SPECIAL.sub(r"\\\1", seg))
    return "/".join(segments)
