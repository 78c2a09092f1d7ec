"""Which flows a caller may see: the scope every flow query goes through.

The control plane turns a caller's role bindings into a :class:`FlowScope` (DESIGN.md,
"Roles"): an Org Admin sees every flow, an Infra Admin the clusters of their projects,
Project and Workspace Admins the namespaces of their project or workspace. A flow is
visible when its **source or its destination** is in scope, so a Workspace Admin also sees
the flows from other namespaces into theirs (and from theirs to others).

An endpoint is placed by the cluster that observed the flow (the store's ``cluster``
column: the agent that pushed it, or the ``cluster/`` of the node name) and the
endpoint's namespace. A cross-cluster (Cluster Mesh) flow is therefore visible to the
namespace's admins in the cluster whose agent recorded it; its other half is recorded by
the remote cluster's agent. ``docs/design/flows.md`` ("Scope") explains why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from netwarden.flows.store import flow_cluster
from netwarden.model.flow import Flow


@dataclass(frozen=True, slots=True)
class FlowScope:
    """The clusters (every namespace) and the (cluster, namespace) pairs a caller may see.

    ``everything`` is the Org Admin's scope; :meth:`nothing` (no clusters, no
    namespaces) sees no flow at all, which is what a caller without flow rights gets.
    """

    everything: bool = False
    clusters: frozenset[str] = frozenset()
    namespaces: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def all(cls) -> FlowScope:
        return cls(everything=True)

    @classmethod
    def nothing(cls) -> FlowScope:
        return cls()

    @classmethod
    def of(
        cls,
        clusters: Iterable[str] = (),
        namespaces: Iterable[tuple[str, str]] = (),
    ) -> FlowScope:
        whole = frozenset(clusters)
        # A namespace of a cluster already in scope adds nothing; dropping it keeps the
        # SQL short and the scope canonical (equal scopes compare equal).
        pairs = frozenset((c, n) for c, n in namespaces if c not in whole)
        return cls(clusters=whole, namespaces=pairs)

    @property
    def empty(self) -> bool:
        return not self.everything and not self.clusters and not self.namespaces

    def covers_cluster(self, cluster: str) -> bool:
        """Whether every flow of ``cluster`` is in scope."""
        return self.everything or cluster in self.clusters

    def touches_cluster(self, cluster: str) -> bool:
        """Whether some flow of ``cluster`` may be in scope."""
        return self.covers_cluster(cluster) or any(c == cluster for c, _ in self.namespaces)

    def sees(self, cluster: str, src_namespace: str, dst_namespace: str) -> bool:
        """Whether a flow observed in ``cluster`` between these namespaces is in scope."""
        if self.covers_cluster(cluster):
            return True
        pairs = self.namespaces
        return (cluster, src_namespace) in pairs or (cluster, dst_namespace) in pairs

    def sees_flow(self, flow: Flow, cluster: str | None = None) -> bool:
        """Whether ``flow`` is in scope; ``cluster`` is the cluster that stored it (else
        derived from the flow like the store does)."""
        observed = cluster if cluster is not None else flow_cluster(flow)
        return self.sees(observed, flow.source.namespace, flow.destination.namespace)

    def intersect(self, other: FlowScope) -> FlowScope:
        """What both scopes allow (a narrower request inside a caller's scope)."""
        if self.everything:
            return other
        if other.everything:
            return self
        clusters = self.clusters & other.clusters
        pairs = {p for p in self.namespaces if p[0] in other.clusters or p in other.namespaces}
        pairs |= {p for p in other.namespaces if p[0] in self.clusters}
        return FlowScope.of(clusters, pairs)

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary (what the API reports as the caller's flow scope)."""
        if self.everything:
            return {"all": True}
        return {
            "all": False,
            "clusters": sorted(self.clusters),
            "namespaces": [f"{c}/{n}" for c, n in sorted(self.namespaces)],
        }
