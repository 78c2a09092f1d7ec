"""Staged policies: the promotion preview, and telling the flow pipeline what is staged.

A policy or blueprint version written with ``staged`` is not enforced (``desired.py``
leaves it out of the objects and lists it in the desired state's ``staged``); the flow
pipeline marks each flow of its clusters with what it would do (``flows/staged.py``).
Promoting it makes a new, enforced version in one step; the audit entry's ``after``
carries :func:`preview`: the staged outcomes recorded in the last hours, from the stored
flows, grouped by connection (source and destination workload, port, protocol).

Writes that change what is staged on a cluster call :func:`changed`: after the commit,
the hook the API put on the session (:data:`HOOK`) hands the clusters to the flow
pipeline (``api/agent.py``), so new flows are evaluated with the new staged set at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from netwarden.control.access import Access
from netwarden.flows.filter_core import FlowFilter
from netwarden.flows.scope import FlowScope
from netwarden.flows.service import FlowService
from netwarden.flows.store import flow_cluster
from netwarden.model.flow import Flow, FlowEndpoint

DEFAULT_PREVIEW_HOURS = 24
MAX_CONNECTIONS = 200  # listed in the audit entry, most flows first; the rest are counted
HOOK = "netwarden.staged-clusters"  # Session.info key: Callable[[Iterable[str]], None]
NANOS_PER_HOUR = 3_600 * 1_000_000_000


def changed(acc: Access, cluster_ids: Iterable[str]) -> None:
    """After the commit, give the flow pipeline the staged set of these clusters."""
    hook: Callable[[Iterable[str]], None] | None = acc.session.info.get(HOOK)
    ids = sorted(set(cluster_ids))
    if hook is not None and ids:
        acc.after_commit.append(lambda: hook(ids))


@dataclass(slots=True)
class _Connection:
    flows: int = 0
    last_seen: int | None = None


@dataclass(slots=True)
class Preview:
    """What a staged version did to the stored flows of a window: counts per outcome and
    per connection (cluster, outcome, source, destination, port, protocol)."""

    policy: str
    version: int
    clusters: tuple[str, ...]
    since: int
    until: int
    totals: dict[str, int] = field(default_factory=lambda: {"deny": 0, "allow": 0})
    connections: dict[tuple[str, str, str, str, int | None, str], _Connection] = field(
        default_factory=dict
    )

    def add(self, flow: Flow, outcome: str) -> None:
        self.totals[outcome] += 1
        l4 = flow.l4
        ports = l4.ports if l4 is not None else None
        reply = bool(flow.is_reply) or (flow.is_reply is None and flow.reply)
        port = (ports[0] if reply else ports[1]) if ports is not None else None
        protocol = _protocol(flow)
        src, dst = _endpoint(flow.source, flow, True), _endpoint(flow.destination, flow, False)
        if reply:  # a reply belongs to its connection: client -> server
            src, dst = dst, src
        key = (flow_cluster(flow), outcome, src, dst, port, protocol)
        found = self.connections.setdefault(key, _Connection())
        found.flows += 1
        if flow.time is not None and (found.last_seen is None or flow.time > found.last_seen):
            found.last_seen = flow.time

    def to_dict(self) -> dict[str, object]:
        ranked = sorted(self.connections.items(), key=lambda kv: (-kv[1].flows, kv[0][:4]))
        return {
            "policy": self.policy,
            "version": self.version,
            "clusters": list(self.clusters),
            "since": _iso(self.since),
            "until": _iso(self.until),
            "hours": round((self.until - self.since) / NANOS_PER_HOUR, 3),
            "flows": dict(self.totals),
            "connections": [
                {
                    "cluster": cluster,
                    "outcome": outcome,
                    "source": src,
                    "destination": dst,
                    "port": port,
                    "protocol": protocol,
                    "flows": conn.flows,
                    "last_seen": _iso(conn.last_seen) if conn.last_seen is not None else None,
                }
                for (cluster, outcome, src, dst, port, protocol), conn in ranked[:MAX_CONNECTIONS]
            ],
            "connections_total": len(ranked),
        }


def preview(
    flows: FlowService,
    scope: FlowScope,
    clusters: Iterable[str],
    policy: str,
    version: int,
    *,
    hours: float = DEFAULT_PREVIEW_HOURS,
    now: int,
) -> Preview:
    """The staged outcomes of ``policy`` at ``version`` on ``clusters`` over the last
    ``hours``, from the stored flows the caller may see (``scope``)."""
    since = now - int(hours * NANOS_PER_HOUR)
    wanted = tuple(sorted(set(clusters)))
    out = Preview(policy, version, wanted, since, now)
    if not wanted:
        return out
    filters = [FlowFilter(staged_denied=(policy,)), FlowFilter(staged_allowed=(policy,))]
    # No upper bound: flows stamped after ``now`` (agents' clocks run ahead) count too.
    for flow in flows.iter_query(scope, filters, since=since):
        if flow_cluster(flow) not in wanted:
            continue
        for mark in flow.staged:
            if mark.policy == policy and mark.version == version:
                out.add(flow, mark.outcome)
    return out


def _endpoint(endpoint: FlowEndpoint, flow: Flow, source: bool) -> str:
    """``namespace/workload`` (the pod when no workload is known), else the IP or name."""
    if endpoint.namespace:
        name = endpoint.workloads[0].name if endpoint.workloads else endpoint.pod_name
        return f"{endpoint.namespace}/{name}"
    names = flow.source_names if source else flow.destination_names
    if names:
        return names[0]
    ip = flow.IP
    if ip is not None:
        return ip.source if source else ip.destination
    return "unknown"


def _protocol(flow: Flow) -> str:
    l4 = flow.l4
    if l4 is None:
        return ""
    for name in ("TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6"):
        if getattr(l4, name) is not None:
            return name
    return ""


def _iso(nanoseconds: int) -> str:
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC).isoformat()
