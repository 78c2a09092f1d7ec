"""Policy routes: create, read, list, change (with ``If-Match``), versions, diff,
rollback, delete. The rules live in :mod:`netwarden.control.policies`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from netwarden.api.guarded import Guarded, GuardedRoute
from netwarden.api.paging import DEFAULT_LIMIT, After, Limit, page
from netwarden.control import policies as service
from netwarden.control.access import Invalid
from netwarden.control.models import Cluster, Policy, PolicyVersion
from netwarden.control.rbac import Action, Target
from netwarden.control.semantic import connection_diff

router = APIRouter(prefix="/api/v1", tags=["policies"], route_class=GuardedRoute)
IfMatch = Annotated[
    str | None,
    Header(description='The ETag read with the policy ("v3"): refuse if it changed since.'),
]


class PolicyIn(BaseModel):
    yaml: str = Field(description="One policy object (YAML or JSON).")
    message: str = ""


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
def create_policy(cluster_id: str, body: PolicyIn, acc: Guarded, response: Response) -> Any:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    policy = service.create(acc, cluster, body.yaml, body.message)
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
    policy_id: str, body: PolicyIn, acc: Guarded, response: Response, if_match: IfMatch = None
) -> dict[str, Any]:
    policy = service.update(acc, policy_id, body.yaml, body.message, expected_version(if_match))
    return _answer(response, policy, service.current(acc, policy))


@router.delete("/policies/{policy_id}", summary="Delete a policy (a version with no YAML)")
def delete_policy(
    policy_id: str, acc: Guarded, response: Response, if_match: IfMatch = None, message: str = ""
) -> dict[str, Any]:
    policy = service.delete(acc, policy_id, message, expected_version(if_match))
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
    policy_id: str, body: RollbackIn, acc: Guarded, response: Response, if_match: IfMatch = None
) -> dict[str, Any]:
    policy = service.rollback(
        acc, policy_id, body.version, body.message, expected_version(if_match)
    )
    return _answer(response, policy, service.current(acc, policy))
