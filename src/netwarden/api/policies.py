"""Policy routes: create, read, list, change (with ``If-Match``), versions, diff,
rollback, delete. The rules live in :mod:`netwarden.control.policies`."""

from __future__ import annotations

from time import time_ns
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from netwarden.api.agent import feeds_staged
from netwarden.api.auth import Principal, principal
from netwarden.api.guarded import Guarded, GuardedRoute
from netwarden.api.paging import DEFAULT_LIMIT, After, Limit, page
from netwarden.control import policies as service
from netwarden.control import staging
from netwarden.control.access import Invalid
from netwarden.control.models import Cluster, Policy, PolicyVersion
from netwarden.control.preview import PREVIEW_HEADER, Draft, PreviewGate
from netwarden.control.rbac import Action, Target
from netwarden.control.semantic import connection_diff
from netwarden.flows.service import FlowService

router = APIRouter(
    prefix="/api/v1",
    tags=["policies"],
    route_class=GuardedRoute,
    dependencies=[Depends(feeds_staged)],  # staged changes reach the flow pipeline
)
IfMatch = Annotated[
    str | None,
    Header(description='The ETag read with the policy ("v3"): refuse if it changed since.'),
]

PreviewToken = Annotated[
    str | None,
    Header(
        alias=PREVIEW_HEADER,
        description="The token of a preview of exactly this change (production clusters).",
    ),
]


def require_preview(
    request: Request, acc: Guarded, cluster_id: str, draft: Draft, token: str | None
) -> None:
    """A change to a production cluster carries the token of its preview (428 without)."""
    gate: PreviewGate = request.app.state.preview
    gate.check(token, acc.get(Cluster, cluster_id, "cluster"), draft)


def _version_of(acc: Guarded, policy_id: str) -> int | None:
    found = acc.session.get(Policy, policy_id)
    return found.version if found is not None else None


class PolicyIn(BaseModel):
    yaml: str = Field(description="One policy object (YAML or JSON).")
    message: str = ""
    staged: bool = Field(
        default=False,
        description="Deploy as staged: evaluated on the cluster's flows, not enforced "
        "(the enforced version stays in force until promoted).",
    )


class RollbackIn(BaseModel):
    version: int = Field(ge=1)
    message: str = ""


def etag(policy: Policy) -> str:
    return f'"v{policy.version}"'


def expected_version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.startswith("v") or not value[1:].isdigit():
        raise Invalid(
            f'If-Match {if_match!r} is not a policy ETag such as "v3"',
            [{"field": "header.if-match", "message": 'expected "v<version>"'}],
        )
    return int(value[1:])


def _answer(response: Response, policy: Policy, version: PolicyVersion | None) -> dict[str, Any]:
    response.headers["ETag"] = etag(policy)
    return service.policy_doc(policy, version)


@router.post("/clusters/{cluster_id}/policies", status_code=201, summary="Create a policy")
def create_policy(
    cluster_id: str,
    body: PolicyIn,
    acc: Guarded,
    response: Response,
    request: Request,
    preview_token: PreviewToken = None,
) -> Any:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    policy = service.create(acc, cluster, body.yaml, body.message, staged=body.staged)
    if not body.staged:  # a staged version changes no enforcement: nothing to preview
        require_preview(request, acc, cluster.id, Draft("policy", yaml=body.yaml), preview_token)
    return _answer(response, policy, service.current(acc, policy))


@router.get("/policies", summary="Policies the caller may read")
def list_policies(
    acc: Guarded,
    cluster: str | None = None,
    namespace: str | None = None,
    kind: str | None = None,
    scope: Annotated[str | None, Query(pattern="^(cluster-wide|namespace)$")] = None,
    deleted: bool = False,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> dict[str, Any]:
    query = select(Policy).filter_by(org_id=acc.actor.org_id)
    given = {"cluster_id": cluster, "namespace": namespace, "kind": kind, "scope": scope}
    query = query.filter_by(**{k: v for k, v in given.items() if v is not None})
    if not deleted:
        query = query.filter_by(deleted=False)

    def visible(policy: Policy) -> bool:
        read = (
            Action.READ_CLUSTER_POLICY
            if policy.scope == "cluster-wide"
            else Action.READ_NAMESPACE_POLICY
        )
        return acc.allowed(read, Target(acc.actor.org_id, policy.project_id, policy.workspace_id))

    items, following = page(acc, query, Policy.id, limit, after, visible)
    return {"items": [service.policy_doc(p) for p in items], "next": following}


@router.get("/policies/{policy_id}", summary="A policy and its current YAML (ETag)")
def get_policy(policy_id: str, acc: Guarded, response: Response) -> dict[str, Any]:
    policy, _ = service.load(acc, policy_id)
    return _answer(response, policy, service.current(acc, policy))


@router.put("/policies/{policy_id}", summary="Change a policy: a new version")
def put_policy(
    policy_id: str,
    body: PolicyIn,
    acc: Guarded,
    response: Response,
    request: Request,
    if_match: IfMatch = None,
    preview_token: PreviewToken = None,
) -> dict[str, Any]:
    was = _version_of(acc, policy_id)
    policy = service.update(
        acc, policy_id, body.yaml, body.message, expected_version(if_match), staged=body.staged
    )
    # An identical re-apply changes nothing, a staged version no enforcement: no preview.
    if policy.version != was and not body.staged:
        draft = Draft("policy", yaml=body.yaml)
        require_preview(request, acc, policy.cluster_id, draft, preview_token)
    return _answer(response, policy, service.current(acc, policy))


@router.delete("/policies/{policy_id}", summary="Delete a policy (a version with no YAML)")
def delete_policy(
    policy_id: str,
    acc: Guarded,
    response: Response,
    request: Request,
    if_match: IfMatch = None,
    message: str = "",
    preview_token: PreviewToken = None,
) -> dict[str, Any]:
    was = _version_of(acc, policy_id)
    policy = service.delete(acc, policy_id, message, expected_version(if_match))
    if policy.version != was:
        draft = Draft("delete", policy_id=policy.id)
        require_preview(request, acc, policy.cluster_id, draft, preview_token)
    return _answer(response, policy, None)


@router.get("/policies/{policy_id}/versions", summary="Every version, newest first")
def list_versions(policy_id: str, acc: Guarded) -> dict[str, Any]:
    policy, _ = service.load(acc, policy_id)
    rows = acc.session.scalars(
        select(PolicyVersion).filter_by(policy_id=policy.id).order_by(PolicyVersion.version.desc())
    )
    return {"items": [service.version_doc(v) for v in rows]}


@router.get("/policies/{policy_id}/versions/{number}", summary="One version")
def get_version(policy_id: str, number: int, acc: Guarded) -> dict[str, Any]:
    policy, _ = service.load(acc, policy_id)
    return service.version_doc(service.version(acc, policy, number))


@router.get(
    "/policies/{policy_id}/diff",
    summary="Text, rule and connection diff of two versions (connections on the cluster's pods)",
)
def diff(
    policy_id: str,
    acc: Guarded,
    from_: Annotated[int | None, Query(alias="from", ge=1)] = None,
    to: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    policy, cluster = service.load(acc, policy_id)
    new_number = to or policy.version
    old_number = from_ or max(new_number - 1, 1)
    old = service.version(acc, policy, old_number)
    new = service.version(acc, policy, new_number)
    return {
        "from": old_number,
        "to": new_number,
        "text": service.text_diff(old, new),
        "rules": service.rule_diff(old, new),
        "connections": connection_diff(acc, policy, cluster, old, new),
    }


@router.post("/policies/{policy_id}/rollback", summary="A new version with an old one's YAML")
def rollback(
    policy_id: str,
    body: RollbackIn,
    acc: Guarded,
    response: Response,
    request: Request,
    if_match: IfMatch = None,
    preview_token: PreviewToken = None,
) -> dict[str, Any]:
    policy = service.rollback(
        acc, policy_id, body.version, body.message, expected_version(if_match)
    )
    restored = service.current(acc, policy).yaml
    draft = Draft("policy", yaml=restored) if restored else Draft("delete", policy_id=policy.id)
    require_preview(request, acc, policy.cluster_id, draft, preview_token)
    return _answer(response, policy, service.current(acc, policy))


class PromoteIn(BaseModel):
    message: str = ""
    hours: float = Field(
        default=staging.DEFAULT_PREVIEW_HOURS,
        gt=0,
        le=24 * 31,
        description="The window of stored flows whose staged outcomes the audit entry gets.",
    )


PromoteBody = Annotated[PromoteIn | None, Body()]
Caller = Annotated[Principal, Depends(principal)]


@router.post(
    "/policies/{policy_id}/promote",
    summary="Promote the staged version: enforced (a new version), the staged outcomes of "
    "the last hours in the audit entry",
)
def promote_policy(
    policy_id: str,
    acc: Guarded,
    request: Request,
    response: Response,
    caller: Caller,
    body: PromoteBody = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    given = body or PromoteIn()
    flows: FlowService = request.app.state.flows

    def outcomes(policy: Policy, cluster: Cluster) -> dict[str, Any]:
        found = staging.preview(
            flows,
            caller.flow_scope,
            [cluster.name],
            service.staged_label(policy),
            policy.version,
            hours=given.hours,
            now=time_ns(),
        )
        return found.to_dict()

    policy = service.promote(acc, policy_id, outcomes, given.message, expected_version(if_match))
    return _answer(response, policy, service.current(acc, policy))
