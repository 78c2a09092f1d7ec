"""Blueprint routes (versions, ETag, rollback, where assigned) and desired state."""

from __future__ import annotations

from time import time_ns
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from netwarden.api.agent import feeds_staged
from netwarden.api.guarded import Guarded, GuardedRoute
from netwarden.api.policies import Caller, IfMatch, PromoteBody, PromoteIn, expected_version
from netwarden.control import blueprints as service
from netwarden.control import staging
from netwarden.control.blueprint_spec import parse_blueprint
from netwarden.control.models import (
    Blueprint,
    BlueprintVersion,
    Cluster,
    ClusterStatus,
    DesiredState,
)
from netwarden.control.rbac import Action, Target
from netwarden.control.rollout import sync_state
from netwarden.flows.service import FlowService

router = APIRouter(
    prefix="/api/v1",
    tags=["blueprints"],
    route_class=GuardedRoute,
    dependencies=[Depends(feeds_staged)],  # staged changes reach the flow pipeline
)


class BlueprintIn(BaseModel):
    yaml: str = Field(description="One Blueprint manifest (YAML or JSON).")
    message: str = ""
    project: str | None = Field(None, description="Owning project id (none: org-wide).")
    staged: bool = Field(
        default=False,
        description="Deploy as staged: evaluated on the flows of the clusters it reaches, "
        "not released (the clusters keep the versions they hold until promoted).",
    )


class RollbackIn(BaseModel):
    version: int = Field(ge=1)
    message: str = ""


def _answer(response: Response, bp: Blueprint, version: BlueprintVersion | None) -> dict[str, Any]:
    response.headers["ETag"] = f'"v{bp.version}"'
    return service.blueprint_doc(bp, version)


@router.post("/blueprints", status_code=201, summary="Create a blueprint")
def create_blueprint(body: BlueprintIn, acc: Guarded, response: Response) -> dict[str, Any]:
    bp = service.create(acc, body.yaml, body.message, body.project, staged=body.staged)
    return _answer(response, bp, service.version(acc, bp, bp.version))


@router.get("/blueprints", summary="Blueprints the caller may read")
def list_blueprints(acc: Guarded, deleted: bool = False) -> dict[str, Any]:
    query = select(Blueprint).filter_by(org_id=acc.actor.org_id).order_by(Blueprint.name)
    items = [
        service.blueprint_doc(bp)
        for bp in acc.session.scalars(query)
        if (deleted or not bp.deleted)
        and acc.allowed(Action.READ_CLUSTER_POLICY, Target(acc.actor.org_id, bp.project_id))
    ]
    acc.checked = True
    return {"items": items}


@router.get("/blueprints/{blueprint_id}", summary="A blueprint and its current YAML (ETag)")
def get_blueprint(blueprint_id: str, acc: Guarded, response: Response) -> dict[str, Any]:
    bp = service.load(acc, blueprint_id)
    return _answer(response, bp, service.version(acc, bp, bp.version))


@router.put("/blueprints/{blueprint_id}", summary="Change a blueprint: a new version")
def put_blueprint(
    blueprint_id: str, body: BlueprintIn, acc: Guarded, response: Response, if_match: IfMatch = None
) -> dict[str, Any]:
    bp = service.update(
        acc, blueprint_id, body.yaml, body.message, expected_version(if_match), staged=body.staged
    )
    return _answer(response, bp, service.version(acc, bp, bp.version))


@router.delete("/blueprints/{blueprint_id}", summary="Delete a blueprint (a version)")
def delete_blueprint(
    blueprint_id: str, acc: Guarded, response: Response, if_match: IfMatch = None, message: str = ""
) -> dict[str, Any]:
    bp = service.delete(acc, blueprint_id, message, expected_version(if_match))
    return _answer(response, bp, None)


@router.post("/blueprints/{blueprint_id}/rollback", summary="A new version with an old one's YAML")
def rollback_blueprint(
    blueprint_id: str, body: RollbackIn, acc: Guarded, response: Response, if_match: IfMatch = None
) -> dict[str, Any]:
    bp = service.rollback(acc, blueprint_id, body.version, body.message, expected_version(if_match))
    return _answer(response, bp, service.version(acc, bp, bp.version))


@router.get("/blueprints/{blueprint_id}/versions", summary="Every version, newest first")
def blueprint_versions(blueprint_id: str, acc: Guarded) -> dict[str, Any]:
    bp = service.load(acc, blueprint_id)
    rows = acc.session.scalars(
        select(BlueprintVersion)
        .filter_by(blueprint_id=bp.id)
        .order_by(BlueprintVersion.version.desc())
    )
    return {
        "items": [
            {"version": v.version, "author": v.author, "message": v.message,
             "created_at": v.created_at.isoformat(), "git_commit": v.git_commit or None,
             "yaml": v.yaml}
            for v in rows
        ]
    }  # fmt: skip


@router.get("/blueprints/{blueprint_id}/clusters", summary="The clusters it is assigned to")
def blueprint_clusters(blueprint_id: str, acc: Guarded) -> dict[str, Any]:
    bp = service.load(acc, blueprint_id)
    text = service.version(acc, bp, bp.version).yaml
    spec = parse_blueprint(text) if text and not bp.deleted else None
    return {"items": [{"id": c.id, "name": c.name} for c in service.reach(acc, bp, spec)]}


@router.get("/clusters/{cluster_id}/desired-state", summary="The objects a cluster should hold")
def desired_state(cluster_id: str, acc: Guarded) -> dict[str, Any]:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    target = Target(acc.actor.org_id, project_id=cluster.project_id)
    acc.require(Action.READ_CLUSTER_POLICY, target, f"desired state of cluster {cluster.name}")
    state = acc.session.get(DesiredState, cluster.id)
    if state is None:
        return {
            "cluster": cluster.name,
            "generation": 0,
            "objects": [],
            "settings": {},
            "conflicts": [],
            "staged": [],
        }
    return {
        "cluster": cluster.name,
        "generation": state.generation,
        "digest": state.digest,
        "objects": state.objects,
        "settings": state.settings,
        "conflicts": state.conflicts,
        "staged": state.staged,  # evaluated on flows, never sent to the agent
        "computed_at": state.computed_at.isoformat(),
    }


@router.get("/clusters/{cluster_id}/status", summary="Sync state: synced/pending/failed/drifted")
def cluster_status(cluster_id: str, acc: Guarded) -> dict[str, Any]:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    target = Target(acc.actor.org_id, project_id=cluster.project_id)
    acc.require(Action.READ_CLUSTER_POLICY, target, f"status of cluster {cluster.name}")
    desired = acc.session.get(DesiredState, cluster.id)
    return sync_state(cluster, desired, acc.session.get(ClusterStatus, cluster.id)).to_dict()


@router.get("/rollout", summary="Sync state of every cluster the caller may see")
def rollout_status(acc: Guarded) -> dict[str, Any]:
    clusters = acc.session.scalars(
        select(Cluster).filter_by(org_id=acc.actor.org_id).order_by(Cluster.name)
    )
    items = []
    for cluster in clusters:
        target = Target(acc.actor.org_id, project_id=cluster.project_id)
        if not acc.allowed(Action.READ_CLUSTER_POLICY, target):
            continue
        desired = acc.session.get(DesiredState, cluster.id)
        status = acc.session.get(ClusterStatus, cluster.id)
        items.append(sync_state(cluster, desired, status).to_dict())
    acc.checked = True
    return {"items": items}


@router.get(
    "/blueprints/{blueprint_id}/rollout",
    summary="The latest staged rollout: waves, the clusters in each and their state",
)
def blueprint_rollout(blueprint_id: str, acc: Guarded) -> dict[str, Any]:
    return service.rollout(acc, blueprint_id)


@router.post(
    "/blueprints/{blueprint_id}/rollout/{verb}",
    summary="Pause, resume or promote (release the next wave now) the rollout in progress",
)
def control_rollout(
    blueprint_id: str, verb: Literal["pause", "resume", "promote"], acc: Guarded
) -> dict[str, Any]:
    return service.control_rollout(acc, blueprint_id, verb)


@router.post(
    "/blueprints/{blueprint_id}/promote",
    summary="Promote the staged version: released (a new version, in waves when it has "
    "them), the staged outcomes of the last hours in the audit entry",
)
def promote_blueprint(
    blueprint_id: str,
    acc: Guarded,
    request: Request,
    response: Response,
    caller: Caller,
    body: PromoteBody = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    given = body or PromoteIn()
    flows: FlowService = request.app.state.flows

    def outcomes(bp: Blueprint, clusters: list[Cluster]) -> dict[str, Any]:
        found = staging.preview(
            flows,
            caller.flow_scope,
            [c.name for c in clusters],
            service.staged_label(bp),
            bp.version,
            hours=given.hours,
            now=time_ns(),
        )
        return found.to_dict()

    bp = service.promote(acc, blueprint_id, outcomes, given.message, expected_version(if_match))
    return _answer(response, bp, service.version(acc, bp, bp.version))
