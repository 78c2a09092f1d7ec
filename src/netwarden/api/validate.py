"""``POST /api/v1/policies/validate``: a dry run of a policy draft, for editors.

The console's YAML editor posts the draft on every pause in typing. The answer is what
creating or changing the policy would say about its content, without storing anything:
a problem document (422) with the engine loader's located errors (``errors[]`` of
``{field, line, message, code}``), or the policy's identity when it parses, with
whether the caller may write it on that cluster.

Authorization: the cluster must be one the caller can see (an Infra/Project role over
its project, or a workspace with a namespace on it; Org roles everywhere), otherwise
403; other orgs' clusters answer 404. Validation reads nothing else and writes nothing,
so the check is a read check plus, for a parsed draft, the write decision the real
change would meet (reported, not enforced: the editor shows it before publishing).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from netwarden.api.guarded import Guarded, GuardedRoute
from netwarden.control import policies as service
from netwarden.control.access import Access, Forbidden
from netwarden.control.models import Cluster, Namespace, PolicyScope
from netwarden.control.rbac import Action, Target

router = APIRouter(prefix="/api/v1", tags=["policies"], route_class=GuardedRoute)


class ValidateIn(BaseModel):
    yaml: str = Field(description="The draft: one policy object (YAML or JSON).")
    cluster: str = Field(description="The id of the cluster the policy is for.")


def _may_see(acc: Access, cluster: Cluster) -> bool:
    """The cluster is in the caller's reach: its project, or a workspace on it."""
    org = acc.actor.org_id
    if acc.allowed(Action.READ_ORG, Target(org, project_id=cluster.project_id)):
        return True
    workspaces = acc.session.scalars(
        select(Namespace.workspace_id).where(
            Namespace.cluster_id == cluster.id, Namespace.workspace_id.is_not(None)
        )
    )
    return any(acc.allowed(Action.READ_ORG, Target(org, workspace_id=w)) for w in workspaces)


@router.post(
    "/policies/validate",
    summary="Validate a policy draft (dry run): located errors, or what it is and who may write it",
)
def validate_policy(body: ValidateIn, acc: Guarded) -> dict[str, Any]:
    cluster = acc.get(Cluster, body.cluster, "cluster")
    if not _may_see(acc, cluster):
        raise Forbidden(f"{acc.actor.subject} may not read cluster {cluster.name}")
    parsed = service.parse(body.yaml)  # Invalid (422) with located errors
    write = (
        Action.WRITE_CLUSTER_POLICY
        if parsed.scope is PolicyScope.CLUSTER_WIDE
        else Action.WRITE_NAMESPACE_POLICY
    )
    target = service.target_of(acc, cluster, parsed.namespace)
    return {
        "valid": True,
        "kind": parsed.kind,
        "name": parsed.name,
        "namespace": parsed.namespace or None,
        "scope": parsed.scope.value,
        "cluster": cluster.id,
        "rules": len(parsed.policy.rules),
        "may_write": acc.allowed(write, target),
    }
