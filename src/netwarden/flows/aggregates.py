"""Aggregations over stored flows, each within the caller's scope.

- :func:`service_map` and :func:`top_talkers` read the per-minute (or, for windows over
  a day, per-hour) rollups: workload -> workload edges with counts by verdict and port,
  fast over long windows and kept longer than raw flows.
- :func:`drops_by_reason`, :func:`drops_by_policy`, :func:`world_by_fqdn` and
  :func:`policy_hits` read raw flows through :meth:`FlowService.iter_query`, the scoped
  query, so they see exactly what the caller may see.

A rollup row is in scope like a flow (``FlowScope.sees``: its cluster and either
namespace). Rollup windows are whole minutes (hours): ``since``/``until`` are rounded
down to their minute (hour).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from time import time_ns

from netwarden.flows.filter_core import FlowFilter
from netwarden.flows.scope import FlowScope
from netwarden.flows.service import FlowService
from netwarden.flows.store import NANOS_PER_HOUR, ROLLUP_DIMENSIONS, GroupCount, Resolution
from netwarden.model.flow import Flow, Policy, Verdict, enum_name

EDGE_GROUP = ROLLUP_DIMENSIONS[1:]  # every rollup dimension but the minute
HOUR_ROLLUP_AFTER = 24 * NANOS_PER_HOUR
WORLD_LABEL = "reserved:world"
DEFAULT_DENY = "(default deny: no rule allows)"


@dataclass(frozen=True, slots=True, order=True)
class Node:
    """A service-map node: a workload in a namespace of a cluster ("" when unknown)."""

    cluster: str
    namespace: str
    workload: str

    def to_dict(self) -> dict[str, str]:
        return {"cluster": self.cluster, "namespace": self.namespace, "workload": self.workload}


@dataclass(slots=True)
class Edge:
    """Flows from one workload to another: totals and per port/protocol, by verdict."""

    source: Node
    destination: Node
    flows: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    ports: dict[tuple[int, str], Counter[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source.to_dict(),
            "destination": self.destination.to_dict(),
            "flows": self.flows,
            "verdicts": dict(self.verdicts),
            "ports": [
                {"port": port, "protocol": protocol, "verdicts": dict(counts)}
                for (port, protocol), counts in sorted(self.ports.items())
            ],
        }


def resolution_for(since: int | None, until: int | None) -> Resolution:
    """Per-minute rollups for windows up to a day, per-hour beyond (or unbounded)."""
    if since is None:
        return "hour"
    end = until if until is not None else time_ns()
    return "minute" if end - since <= HOUR_ROLLUP_AFTER else "hour"


def _rollup_rows(
    service: FlowService,
    scope: FlowScope,
    group: Sequence[str],
    since: int | None,
    until: int | None,
    resolution: Resolution | None,
) -> list[GroupCount]:
    if scope.empty:
        return []
    clusters: Sequence[str] = ()
    if not scope.everything:
        clusters = sorted(scope.clusters | {c for c, _ in scope.namespaces})
    rows = service.store.count_by(
        group,
        since=since,
        until=until,
        clusters=clusters,
        resolution=resolution or resolution_for(since, until),
    )
    return [
        row
        for row in rows
        if scope.sees(
            str(row.key["cluster"]), _s(row.key, "src_namespace"), _s(row.key, "dst_namespace")
        )
    ]


def _s(key: Mapping[str, str | int | None], name: str) -> str:
    value = key.get(name)
    return "" if value is None else str(value)


def service_map(
    service: FlowService,
    scope: FlowScope,
    *,
    since: int | None = None,
    until: int | None = None,
    namespaces: Sequence[str] = (),
    verdicts: Sequence[str] = (),
    resolution: Resolution | None = None,
) -> list[Edge]:
    """Workload -> workload edges, largest first; ``namespaces`` keeps edges with either
    end in one of them, ``verdicts`` keeps those counts only."""
    edges: dict[tuple[Node, Node], Edge] = {}
    for row in _rollup_rows(service, scope, EDGE_GROUP, since, until, resolution):
        k = row.key
        cluster = _s(k, "cluster")
        src = Node(cluster, _s(k, "src_namespace"), _s(k, "src_workload"))
        dst = Node(cluster, _s(k, "dst_namespace"), _s(k, "dst_workload"))
        if namespaces and src.namespace not in namespaces and dst.namespace not in namespaces:
            continue
        verdict = _s(k, "verdict")
        if verdicts and verdict not in verdicts:
            continue
        edge = edges.setdefault((src, dst), Edge(src, dst))
        edge.flows += row.flows
        edge.verdicts[verdict] += row.flows
        port = (int(k.get("dst_port") or 0), _s(k, "protocol"))
        edge.ports.setdefault(port, Counter())[verdict] += row.flows
    return sorted(edges.values(), key=lambda e: (-e.flows, e.source, e.destination))


def top_talkers(
    service: FlowService,
    scope: FlowScope,
    *,
    since: int | None = None,
    until: int | None = None,
    limit: int = 10,
    resolution: Resolution | None = None,
) -> list[tuple[Node, int, dict[str, int]]]:
    """The source workloads with the most flows: (node, flows, flows by verdict)."""
    group = ("cluster", "src_namespace", "src_workload", "dst_namespace", "verdict")
    totals: Counter[Node] = Counter()
    by_verdict: dict[Node, Counter[str]] = defaultdict(Counter)
    for row in _rollup_rows(service, scope, group, since, until, resolution):
        k = row.key
        node = Node(_s(k, "cluster"), _s(k, "src_namespace"), _s(k, "src_workload"))
        totals[node] += row.flows
        by_verdict[node][_s(k, "verdict")] += row.flows
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [(node, n, dict(by_verdict[node])) for node, n in ranked]


def _flows(
    service: FlowService,
    scope: FlowScope,
    whitelist: Sequence[FlowFilter],
    since: int | None,
    until: int | None,
) -> Iterable[Flow]:
    return service.iter_query(scope, whitelist, since=since, until=until)


def drops_by_reason(
    service: FlowService, scope: FlowScope, *, since: int | None = None, until: int | None = None
) -> list[tuple[str, int]]:
    """Dropped flows counted by Hubble drop reason, largest first."""
    counts: Counter[str] = Counter()
    dropped = (FlowFilter(verdict=(Verdict.DROPPED,)),)
    for flow in _flows(service, scope, dropped, since, until):
        counts[enum_name(flow.drop_reason_desc)] += 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def drops_by_policy(
    service: FlowService, scope: FlowScope, *, since: int | None = None, until: int | None = None
) -> list[tuple[str, int]]:
    """Dropped flows counted by the policy whose deny rule dropped them; drops with no
    deny rule (the endpoint is isolated and nothing allows) count as ``DEFAULT_DENY``."""
    counts: Counter[str] = Counter()
    dropped = (FlowFilter(verdict=(Verdict.DROPPED,)),)
    for flow in _flows(service, scope, dropped, since, until):
        policies = {_name(p) for p in (*flow.egress_denied_by, *flow.ingress_denied_by)}
        for name in policies or {DEFAULT_DENY}:
            counts[name] += 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def world_by_fqdn(
    service: FlowService, scope: FlowScope, *, since: int | None = None, until: int | None = None
) -> list[tuple[str, dict[str, int]]]:
    """Flows to ``reserved:world`` by destination name (DNS), with counts by verdict;
    flows to a world IP Hubble had no name for count under the IP."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    world = (FlowFilter(destination_label=(WORLD_LABEL,)),)
    for flow in _flows(service, scope, world, since, until):
        if flow.is_reply:
            continue
        names = flow.destination_names or ((flow.IP.destination,) if flow.IP else ("",))
        for name in names:
            counts[name][enum_name(flow.verdict)] += 1
    ranked = sorted(counts.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    return [(name, dict(c)) for name, c in ranked]


def policy_hits(
    service: FlowService,
    scope: FlowScope,
    *,
    since: int | None = None,
    until: int | None = None,
    known: Iterable[str] = (),
) -> list[dict[str, object]]:
    """Per policy, how many flows it allowed and denied (from the flows' ``*_allowed_by``
    and ``*_denied_by``); ``known`` policies (``kind/namespace/name``) that no flow
    names are listed with zero hits: rules that are never used."""
    allowed: Counter[str] = Counter()
    denied: Counter[str] = Counter()
    for flow in _flows(service, scope, (), since, until):
        for name in {_name(p) for p in (*flow.egress_allowed_by, *flow.ingress_allowed_by)}:
            allowed[name] += 1
        for name in {_name(p) for p in (*flow.egress_denied_by, *flow.ingress_denied_by)}:
            denied[name] += 1
    names = set(allowed) | set(denied) | set(known)
    ranked = sorted(names, key=lambda n: (-(allowed[n] + denied[n]), n))
    return [{"policy": n, "allowed": allowed[n], "denied": denied[n]} for n in ranked]


def _name(policy: Policy) -> str:
    kind = policy.kind or "Policy"
    if policy.namespace:
        return f"{kind}/{policy.namespace}/{policy.name}"
    return f"{kind}/{policy.name}"
