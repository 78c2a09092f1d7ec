"""Agent routes: a cluster's agent pulls its desired state and reports what it applied.

Only agent tokens reach these routes, and each only for its own cluster: the cluster
is the token's, never a parameter. ``GET /api/v1/agent/desired-state?after=N&wait=S``
long-polls: it answers as soon as the generation exceeds ``N`` (or after ``S`` seconds
with ``changed: false``), so agents see changes within a second without hammering the
server.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from netwarden.api.auth import Principal, principal
from netwarden.api.problems import Problem
from netwarden.control.db import Database
from netwarden.control.models import Cluster, DesiredState
from netwarden.control.rollout import record_report

router = APIRouter(prefix="/api/v1/agent", tags=["agent"], dependencies=[Depends(principal)])
POLL_INTERVAL_S = 0.5
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


class AgentReport(BaseModel):
    generation: int = Field(ge=0)
    objects: list[ObjectResult] = Field(default_factory=list)
    drift: list[ObjectRef] = Field(default_factory=list)
    unmanaged: list[ObjectRef] = Field(default_factory=list)
    cilium_version: str = ""


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
    deadline = time.monotonic() + wait
    while True:
        state = await run_in_threadpool(_state, db, cluster)
        if state["generation"] > after:
            return {**state, "changed": True}
        if time.monotonic() >= deadline or await request.is_disconnected():
            return {"cluster": cluster, "generation": state["generation"], "changed": False}
        await asyncio.sleep(POLL_INTERVAL_S)


@router.post("/status", summary="Report the applied generation, per-object results, drift")
def report(request: Request, cluster: Agent, body: AgentReport) -> dict[str, Any]:
    with _db(request).session() as session:
        found = session.scalars(select(Cluster).filter_by(name=cluster)).first()
        if found is None:
            raise Problem(404, f"cluster {cluster!r} no longer exists")
        status = record_report(session, found, body.model_dump())
        return {"cluster": cluster, "applied_generation": status.applied_generation}
