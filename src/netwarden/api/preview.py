"""Impact preview routes: ``POST /api/v1/clusters/{cluster_id}/preview`` and
``POST /api/v1/blueprints/preview``.

The first's body names one draft change (``yaml``: a policy version; ``delete_policy``: a
policy id; ``blueprint_yaml``: a blueprint version) and optionally the window; the second's
a blueprint change (``blueprint_yaml`` or ``delete_blueprint``), previewed on every
production cluster it reaches. The caller must be allowed to make the change; the
connections shown are limited to the caller's flow scope. The answer carries a token
(``X-Netwarden-Preview``) that a write of exactly this change to production clusters
must send. The work is :mod:`netwarden.control.preview`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from netwarden.api.auth import Principal, principal
from netwarden.api.flows import parse_when
from netwarden.api.guarded import Guarded, GuardedRoute
from netwarden.control.models import Cluster
from netwarden.control.preview import (
    PREVIEW_HEADER,
    PreviewGate,
    blueprint_draft,
    draft_of,
    preview,
    preview_blueprint,
)
from netwarden.flows.service import FlowService

router = APIRouter(prefix="/api/v1", tags=["preview"], route_class=GuardedRoute)
Caller = Annotated[Principal, Depends(principal)]


class PreviewIn(BaseModel):
    yaml: str | None = Field(None, description="A new policy version (one policy object).")
    delete_policy: str | None = Field(None, description="The id of a policy to delete.")
    blueprint_yaml: str | None = Field(None, description="A new blueprint version.")
    since: str | None = Field(
        None, description="RFC 3339 time or a duration before now (7d); default 7 days."
    )
    until: str | None = Field(None, description="RFC 3339 time or a duration before now.")


def gate(request: Request) -> PreviewGate:
    found: PreviewGate = request.app.state.preview
    return found


@router.post(
    "/clusters/{cluster_id}/preview",
    summary="Impact preview of a draft change on the cluster's recorded traffic",
)
def preview_change(
    cluster_id: str, body: PreviewIn, acc: Guarded, caller: Caller, request: Request
) -> dict[str, Any]:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    draft = draft_of(body.yaml, body.delete_policy, body.blueprint_yaml)
    flows: FlowService = request.app.state.flows
    since, until = parse_when(body.since, "since"), parse_when(body.until, "until")
    out = preview(acc, flows, caller.flow_scope, cluster, draft, since=since, until=until)
    preview_gate = gate(request)
    token, expiry = preview_gate.issue(cluster.id, draft)
    out["token"] = {
        "header": PREVIEW_HEADER,
        "value": token,
        "expires": expiry,
        "required": preview_gate.required(cluster),
    }
    return out


class BlueprintPreviewIn(BaseModel):
    blueprint_yaml: str | None = Field(
        None, description="A new blueprint version (created or changed; a rollback's YAML)."
    )
    delete_blueprint: str | None = Field(None, description="The id of a blueprint to delete.")
    project: str | None = Field(
        None, description="Owning project id of a blueprint that does not exist yet."
    )
    since: str | None = Field(
        None, description="RFC 3339 time or a duration before now (7d); default 7 days."
    )
    until: str | None = Field(None, description="RFC 3339 time or a duration before now.")


@router.post(
    "/blueprints/preview",
    summary="Impact preview of a blueprint change on every production cluster it reaches",
)
def preview_blueprint_change(
    body: BlueprintPreviewIn, acc: Guarded, caller: Caller, request: Request
) -> dict[str, Any]:
    draft, _, reached = blueprint_draft(
        acc, body.blueprint_yaml, body.delete_blueprint, body.project
    )
    flows: FlowService = request.app.state.flows
    since, until = parse_when(body.since, "since"), parse_when(body.until, "until")
    return preview_blueprint(
        acc, flows, caller.flow_scope, gate(request), draft, reached, since=since, until=until
    )
