"""Rollout: what agents report, and each cluster's sync state.

An agent pulls its cluster's desired state (a generation and the objects), applies it,
and reports: the generation it applied, per-object results (``applied`` / ``failed``
with the error), drift (managed objects someone changed in the cluster) and unmanaged
policies it found. From the last report and the current desired generation a cluster
is:

- ``synced``: the desired generation is applied, every object applied, no drift;
- ``pending``: the agent has not applied the desired generation yet;
- ``failed``: some object of the applied generation failed (errors listed);
- ``drifted``: applied, but managed objects differ in the cluster;
- ``unknown``: no report yet, or no heartbeat for ``STALE_AFTER`` (agent offline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from netwarden.control.models import Cluster, ClusterStatus, DesiredState, as_utc, utcnow

STALE_AFTER = timedelta(minutes=5)
OBJECT_STATES = frozenset({"applied", "failed", "pending"})


@dataclass(frozen=True, slots=True)
class SyncState:
    cluster: str
    state: str
    desired_generation: int
    applied_generation: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    unmanaged: list[dict[str, Any]] = field(default_factory=list)
    last_heartbeat: datetime | None = None
    spool: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "state": self.state,
            "desired_generation": self.desired_generation,
            "applied_generation": self.applied_generation,
            "errors": self.errors,
            "drift": self.drift,
            "unmanaged": self.unmanaged,
            "last_heartbeat": self.last_heartbeat.isoformat() if self.last_heartbeat else None,
            "spool": self.spool,
        }


def sync_state(
    cluster: Cluster,
    desired: DesiredState | None,
    status: ClusterStatus | None,
    now: datetime | None = None,
) -> SyncState:
    want = desired.generation if desired is not None else 0
    heartbeat = as_utc(cluster.last_heartbeat) if cluster.last_heartbeat else None
    if status is None:
        return SyncState(cluster.name, "unknown", want, 0, last_heartbeat=heartbeat)
    applied = status.applied_generation
    errors = [o for o in status.objects if o.get("status") == "failed"]
    now = now or utcnow()
    if heartbeat is None or heartbeat + STALE_AFTER < now:
        state = "unknown"
    elif applied < want:
        state = "pending"
    elif errors:
        state = "failed"
    elif status.drift:
        state = "drifted"
    else:
        state = "synced"
    return SyncState(
        cluster.name,
        state,
        want,
        applied,
        errors=errors,
        drift=list(status.drift),
        unmanaged=list(status.unmanaged),
        last_heartbeat=heartbeat,
        spool=dict(status.spool or {}),
    )


def record_report(session: Session, cluster: Cluster, report: dict[str, Any]) -> ClusterStatus:
    """Store an agent's report (validated by the API) and its heartbeat."""
    status = session.get(ClusterStatus, cluster.id)
    if status is None:
        status = ClusterStatus(cluster_id=cluster.id, org_id=cluster.org_id)
        session.add(status)
    status.applied_generation = int(report.get("generation", 0))
    status.objects = list(report.get("objects", []))
    status.drift = list(report.get("drift", []))
    status.unmanaged = list(report.get("unmanaged", []))
    status.spool = dict(report.get("spool") or {})
    status.reported_at = utcnow()
    cluster.last_heartbeat = status.reported_at
    if report.get("cilium_version"):
        cluster.cilium_version = str(report["cilium_version"])
    session.flush()
    return status
