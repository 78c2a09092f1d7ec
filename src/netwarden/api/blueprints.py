"""Blueprint routes (versions, ETag, rollback, where assigned) and desired state.

A write that changes what production clusters enforce (create, change, delete, rollback,
promote of a staged version) carries the token of a preview of that change over exactly
the production clusters it reaches (``POST /api/v1/blueprints/preview``): 428 otherwise.
The clusters are computed before the write; the token is checked after the write's own
checks (403, 409, 412 first) and before the commit (a refused write leaves nothing)."""

from __future__ import annotations

from time import time_ns
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from netwarden.api.agent import feeds_staged
from netwarden.api.guarded import Guarded, GuardedRoute
from netwarden.api.policies import (
    Caller,
    IfMatch,
    PreviewToken,
    PromoteBody,
    PromoteIn,
    expected_version,
)
from netwarden.control import blueprints as service
from netwarden.control import staging
from netwarden.control.access import ControlError
from netwarden.control.blueprint_spec import parse_blueprint
from netwarden.control.models import (
    Blueprint,
    BlueprintVersion,
    Cluster,
    ClusterStatus,
    DesiredState,
)
from netwarden.control.preview import Draft, PreviewGate, blueprint_reach
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


def _reach(
    acc: Guarded, name: str | None, project: str | None, text: str | None
) -> list[Cluster] | None:
    """The clusters a change of blueprint ``name`` to ``text`` ("" or None: a deletion)
    reaches, read before the write; None when the write itself will refuse it (no such
    blueprint, bad YAML: its own error answers)."""
    if name is None:
        return None
    try:
        spec = parse_blueprint(text) if text else None
    except ControlError:
        return None
    return blueprint_reach(acc, name, project, spec)


def _require_preview(
    request: Request, reached: list[Cluster] | None, draft: Draft, token: str | None
) -> None:
    """A change reaching production clusters carries the token of its preview (428)."""
    gate: PreviewGate = request.app.state.preview
    gate.check_clusters(token, reached or [], draft)


def _existing(acc: Guarded, blueprint_id: str) -> Blueprint | None:
    found = acc.session.get(Blueprint, blueprint_id)
    return found if found is not None and found.org_id == acc.actor.org_id else None


def _version_text(acc: Guarded, bp: Blueprint, number: int) -> str | None:
    found = acc.session.scalars(
        select(BlueprintVersion.yaml).filter_by(blueprint_id=bp.id, version=number)
    ).first()
    return found


def _answer(response: Response, bp: Blueprint, version: BlueprintVersion | None) -> dict[str, Any]:
    response.headers["ETag"] = f'"v{bp.version}"'
    return service.blueprint_doc(bp, version)


@router.post("/blueprints", status_code=201, summary="Create a blueprint")
def create_blueprint(
    body: BlueprintIn,
    acc: Guarded,
    response: Response,
    request: Request,
    preview_token: PreviewToken = None,
) -> dict[str, Any]:
    reached = None
    if not body.staged:  # a staged version changes no enforcement: nothing to preview
        try:
            name: str | None = parse_blueprint(body.yaml).name
        except ControlError:
            name = None  # the write answers it
        reached = _reach(acc, name, body.project, body.yaml)
    bp = service.create(acc, body.yaml, body.message, body.project, staged=body.staged)
    if not body.staged:
        _require_preview(request, reached, Draft("blueprint", yaml=body.yaml), preview_token)
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
    blueprint_id: str,
    body: BlueprintIn,
    acc: Guarded,
    response: Response,
    request: Request,
    if_match: IfMatch = None,
    preview_token: PreviewToken = None,
) -> dict[str, Any]:
    existing = _existing(acc, blueprint_id)
    was = existing.version if existing is not None else None
    reached = None
    if existing is not None and not body.staged:
        reached = _reach(acc, existing.name, existing.project_id, body.yaml)
    bp = service.update(
        acc, blueprint_id, body.yaml, body.message, expected_version(if_match), staged=body.staged
    )
    # An identical re-apply changes nothing, a staged version no enforcement: no preview.
    if bp.version != was and not body.staged:
        _require_preview(request, reached, Draft("blueprint", yaml=body.yaml), preview_token)
    return _answer(response, bp, service.version(acc, bp, bp.version))


@router.delete("/blueprints/{blueprint_id}", summary="Delete a blueprint (a version)")
def delete_blueprint(
    blueprint_id: str,
    acc: Guarded,
    response: Response,
    request: Request,
    if_match: IfMatch = None,
    message: str = "",
    preview_token: PreviewToken = None,
) -> dict[str, Any]:
    existing = _existing(acc, blueprint_id)
    was = existing.version if existing is not None else None
    reached = _reach(acc, existing.name, existing.project_id, None) if existing else None
    bp = service.delete(acc, blueprint_id, message, expected_version(if_match))
    if bp.version != was:
        draft = Draft("delete-blueprint", blueprint_id=bp.id)
        _require_preview(request, reached, draft, preview_token)
    return _answer(response, bp, None)


@router.post("/blueprints/{blueprint_id}/rollback", summary="A new version with an old one's YAML")
def rollback_blueprint(
    blueprint_id: str,
    body: RollbackIn,
    acc: Guarded,
    response: Response,
    request: Request,
    if_match: IfMatch = None,
    preview_token: PreviewToken = None,
) -> dict[str, Any]:
    existing = _existing(acc, blueprint_id)
    reached = None
    if existing is not None:
        restores = _version_text(acc, existing, body.version)
        reached = _reach(acc, existing.name, existing.project_id, restores)
    bp = service.rollback(acc, blueprint_id, body.version, body.message, expected_version(if_match))
    # Previewed as the YAML it restores (a deletion when it restores a deleted version).
    restored = service.version(acc, bp, bp.version).yaml
    draft = (
        Draft("blueprint", yaml=restored)
        if restored
        else Draft("delete-blueprint", blueprint_id=bp.id)
    )
    _require_preview(request, reached, draft, preview_token)
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
    preview_token: PreviewToken = None,
) -> dict[str, Any]:
    given = body or PromoteIn()
    existing = _existing(acc, blueprint_id)
    reached = None
    if existing is not None and existing.staged and not existing.deleted:
        staged_text = _version_text(acc, existing, existing.version)
        reached = _reach(acc, existing.name, existing.project_id, staged_text)
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
    # Promoting releases the staged YAML: previewed as that version.
    draft = Draft("blueprint", yaml=service.version(acc, bp, bp.version).yaml)
    _require_preview(request, reached, draft, preview_token)
    return _answer(response, bp, service.version(acc, bp, bp.version))
