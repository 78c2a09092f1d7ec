"""Agent routes: a cluster's agent pulls its desired state and reports what it applied.

Only agent tokens reach these routes, and each only for its own cluster: the cluster
is the token's, never a parameter. ``GET /api/v1/agent/desired-state?after=N&wait=S``
long-polls: it answers as soon as the generation exceeds ``N`` (or after ``S`` seconds
with ``changed: false``). A waiting poll does not re-read the database: it is woken when
a transaction of this server that changed desired states commits
(:class:`~netwarden.control.desired.GenerationWatch`), and re-checks every
``RECHECK_S`` for changes made by other server processes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from netwarden.api.auth import Principal, principal
from netwarden.api.guarded import Guarded
from netwarden.api.problems import Problem
from netwarden.control import staging, waves
from netwarden.control.db import Database
from netwarden.control.desired import GenerationWatch, staged_objects
from netwarden.control.inventory import record_inventory, world_for
from netwarden.control.models import (
    AuditEntry,
    Cluster,
    ClusterInventory,
    ClusterStatus,
    DesiredState,
    Namespace,
)
from netwarden.control.rollout import record_report
from netwarden.flows.service import FlowService
from netwarden.flows.staged import StagedSource

router = APIRouter(prefix="/api/v1/agent", tags=["agent"], dependencies=[Depends(principal)])
RECHECK_S = 2.0
MAX_WAIT_S = 60.0


class ObjectResult(BaseModel):
    kind: str
    namespace: str = ""
    name: str
    status: Literal["applied", "failed", "pending"]
    error: str = ""


class ObjectRef(BaseModel):
    kind: str
    namespace: str = ""
    name: str
    detail: str = ""


class SpoolReport(BaseModel):
    pending_batches: int = Field(default=0, ge=0)
    pending_flows: int = Field(default=0, ge=0)
    dropped_batches: int = Field(
        default=0, ge=0, description="Dropped from a full spool, oldest first."
    )
    dropped_flows: int = Field(default=0, ge=0)


class AgentReport(BaseModel):
    generation: int = Field(ge=0)
    objects: list[ObjectResult] = Field(default_factory=list)
    drift: list[ObjectRef] = Field(default_factory=list)
    unmanaged: list[ObjectRef] = Field(default_factory=list)
    cilium_version: str = ""
    spool: SpoolReport = Field(default_factory=SpoolReport)


Labels = dict[str, str]


class NamespaceIn(BaseModel):
    name: str = Field(min_length=1, max_length=63)
    labels: Labels = Field(default_factory=dict)


class PortIn(BaseModel):
    name: str = ""
    containerPort: int | None = Field(default=None, ge=1, le=65535)
    port: int | None = Field(default=None, ge=1, le=65535)
    targetPort: int | str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


class PodIn(BaseModel):
    namespace: str
    name: str
    labels: Labels = Field(default_factory=dict)
    ip: str | None = None
    node: str = ""
    workload: str = ""
    workload_kind: str = ""
    host_network: bool = False
    ports: list[PortIn] = Field(default_factory=list)


class NodeIn(BaseModel):
    name: str
    ip: str | None = None
    labels: Labels = Field(default_factory=dict)


class ServiceIn(BaseModel):
    namespace: str
    name: str
    selector: Labels = Field(default_factory=dict)
    cluster_ip: str | None = None
    ports: list[PortIn] = Field(default_factory=list)


class InventoryIn(BaseModel):
    namespaces: list[NamespaceIn] = Field(default_factory=list)
    pods: list[PodIn] = Field(default_factory=list)
    nodes: list[NodeIn] = Field(default_factory=list)
    services: list[ServiceIn] = Field(default_factory=list)
    cilium_version: str = ""
    supported_kinds: list[str] = Field(default_factory=list)


def agent(request: Request, caller: Annotated[Principal, Depends(principal)]) -> str:
    """The agent's cluster name (403 for any other caller)."""
    if caller.agent_cluster is None:
        raise Problem(403, f"{caller.subject} is not a cluster agent")
    return caller.agent_cluster


Agent = Annotated[str, Depends(agent)]


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _state(db: Database, cluster_name: str) -> dict[str, Any]:
    with db.read_session() as session:
        cluster = session.scalars(select(Cluster).filter_by(name=cluster_name)).first()
        if cluster is None:
            raise Problem(404, f"cluster {cluster_name!r} no longer exists")
        state = session.get(DesiredState, cluster.id)
        if state is None:
            return {"cluster": cluster.name, "generation": 0, "objects": [], "settings": {}}
        return {
            "cluster": cluster.name,
            "generation": state.generation,
            "objects": state.objects,
            "settings": state.settings,
        }


@router.get("/desired-state", summary="The agent's desired state (long-poll with after/wait)")
async def desired_state(
    request: Request,
    cluster: Agent,
    after: Annotated[int, Query(ge=0)] = 0,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0,
) -> dict[str, Any]:
    db = _db(request)
    watch: GenerationWatch = request.app.state.generations
    deadline = time.monotonic() + wait
    while True:
        state = await run_in_threadpool(_state, db, cluster)
        if state["generation"] > after:
            return {**state, "changed": True}
        left = deadline - time.monotonic()
        if left <= 0 or watch.closed or await request.is_disconnected():
            return {"cluster": cluster, "generation": state["generation"], "changed": False}
        # Woken by a change committed in this process; the periodic re-check sees changes
        # other server processes made, and a client that went away.
        await watch.wait(min(left, RECHECK_S))


def _cluster(session: Session, name: str) -> Cluster:
    found = session.scalars(select(Cluster).filter_by(name=name)).first()
    if found is None:
        raise Problem(404, f"cluster {name!r} no longer exists")
    return found


@router.post("/status", summary="Report the applied generation, per-object results, drift")
def report(request: Request, cluster: Agent, body: AgentReport) -> dict[str, Any]:
    """Also the agent's heartbeat; staged rollouts advance on it."""
    with _db(request).session() as session:
        found = _cluster(session, cluster)
        previous = session.get(ClusterStatus, found.id)
        before = previous.applied_generation if previous is not None else None
        status = record_report(session, found, body.model_dump())
        applied = status.applied_generation
        steps = waves.advance(session, found.org_id)
        for step in steps:
            session.add(
                AuditEntry(
                    org_id=found.org_id,
                    actor=f"agent:{cluster}",
                    action="rollout-advance",
                    resource_kind="blueprint",
                    outcome="allowed",
                    detail=step,
                )
            )
    if applied != before:
        _record_policies(request, cluster)
    return {"cluster": cluster, "applied_generation": applied, "rollout": steps}


@router.post("/inventory", summary="Report the cluster's namespaces, pods, nodes, services")
def inventory(request: Request, cluster: Agent, body: InventoryIn) -> dict[str, Any]:
    """Also the agent's registration: namespaces become the cluster's namespaces (their
    labels drive the blueprints' namespace defaults); pods, nodes and services serve flow
    enrichment and attribution."""
    with _db(request).session() as session:
        found = _cluster(session, cluster)
        result = record_inventory(session, found, body.model_dump())
    if result.changed:
        _record_policies(request, cluster)
    return {
        "cluster": cluster,
        "namespaces": result.namespaces,
        "changed": result.changed,
        "generation_changed": result.generation_changed,
    }


def _record_policies(request: Request, cluster: str) -> None:
    with _db(request).read_session() as session:
        cluster_id = _cluster(session, cluster).id
    record_policies(_db(request), request.app.state.flows, cluster_id)


def record_policies(db: Database, flows: FlowService, cluster_id: str) -> None:
    """Give the flow pipeline the cluster's inventory and the policies its agent applied,
    in force from now (flows are attributed to the policies of their time), and the
    versions staged on it (each flow is also evaluated with each of them)."""
    with db.read_session() as session:
        found = session.get(Cluster, cluster_id)
        if found is None:
            return
        state = session.get(DesiredState, found.id)
        status = session.get(ClusterStatus, found.id)
        objects: list[Any] = []
        settings: dict[str, Any] = {}
        entries: list[Any] = []
        label = "nothing applied yet"
        if state is not None and status is not None:
            if status.applied_generation != state.generation:
                return  # an older generation is applied, and only the current one is kept
            objects, settings = list(state.objects), dict(state.settings)
            entries = list(state.staged or [])
            label = f"generation {state.generation}"
        namespaces = {
            ns.name: dict(ns.labels or {})
            for ns in session.scalars(select(Namespace).filter_by(cluster_id=found.id))
        }
        inventory = session.get(ClusterInventory, found.id)
        name = found.name
        world = world_for(name, namespaces, inventory, objects, settings)
        staged = [
            StagedSource(
                entry["policy"],
                int(entry["version"]),
                world_for(name, namespaces, inventory, staged_objects(objects, entry), settings),
                frozenset(_object_id(obj) for obj in entry["add"]),
            )
            for entry in entries
            if entry.get("add") or entry.get("remove")
        ]
    flows.timeline(name).record(time.time_ns(), world, label, staged)


def _object_id(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name", "")))


def feeds_staged(request: Request, acc: Guarded) -> None:
    """A router dependency: writes that change what is staged on clusters hand them to
    the flow pipeline after their commit (``control.staging.changed``)."""
    db, flows = _db(request), request.app.state.flows

    def feed(cluster_ids: Iterable[str]) -> None:
        for cluster_id in cluster_ids:
            record_policies(db, flows, cluster_id)

    acc.session.info[staging.HOOK] = feed
