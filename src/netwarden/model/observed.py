"""Observed traffic, summarized: the distinct edges recorded flows make.

Recommendations and impact previews never look at raw flows: a month of traffic is a
few thousand distinct edges (source, destination, port, protocol, L7 summary, verdict),
each with its count, first and last time, and a few example flow uuids as evidence.
``flows/edges.py`` computes them from a store (within a caller's scope); the engine
(``engine/recommend.py``, impact preview) consumes them.
"""

from __future__ import annotations

from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]  # sorted (key, value) pairs


@dataclass(frozen=True, slots=True, order=True)
class EdgeEnd:
    """One side of an edge as the flows recorded it. ``kind`` is an EndpointKind value
    (``pod``, ``world``, ``host``, ``remote-node``, ...). Pods are described by what
    selects them (namespace, labels without Hubble's ``k8s:`` prefix) and their workload
    (deployment/statefulset/daemonset name), never by pod name or IP; the world by IP and,
    when DNS was observed, the name it was reached by."""

    kind: str
    cluster: str = ""
    namespace: str = ""
    workload: str = ""
    workload_kind: str = ""
    labels: Labels = ()
    identity: int | None = None
    ip: str = ""  # world (and host) endpoints only
    fqdn: str = ""  # world endpoints reached by name (the flow's destination_names)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def display(self) -> str:
        if self.kind == "pod":
            return (
                f"{self.namespace}/{self.workload or ','.join(f'{k}={v}' for k, v in self.labels)}"
            )
        return self.fqdn or self.ip or self.kind


@dataclass(frozen=True, slots=True, order=True)
class ObservedEdge:
    """Flows from ``source`` to ``destination`` on one port and protocol (and L7 summary:
    ``""``, ``"HTTP GET /api/cart"``, ``"DNS example.com"``), with one verdict as recorded
    (FORWARDED, DROPPED, AUDIT, ...). Replies (is_reply) are never edges: the connection's
    initiator is the source."""

    source: EdgeEnd
    destination: EdgeEnd
    port: int
    protocol: str
    l7: str = ""
    verdict: str = "FORWARDED"
    flows: int = 0
    first_seen: int = 0  # ns since the epoch
    last_seen: int = 0
    examples: tuple[str, ...] = ()  # flow uuids (up to a few)
