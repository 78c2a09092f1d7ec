"""GitOps routes: the follower's status, and a sync on demand.

The follower (:class:`netwarden.client.gitops.GitFollower`) runs in the server when
``gitops_repo`` is set (``app.state.gitops``); it follows one org's repository, so callers
of other orgs see it disabled. Org Admins and org viewers read the status; only Org
Admins ask for a sync.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from netwarden.api.guarded import Guarded, GuardedRoute
from netwarden.client.gitops import GitFollower
from netwarden.control.access import Access, Conflict
from netwarden.control.rbac import Action, Target

router = APIRouter(prefix="/api/v1", tags=["gitops"], route_class=GuardedRoute)


def _follower(request: Request, acc: Access) -> GitFollower | None:
    found: GitFollower | None = getattr(request.app.state, "gitops", None)
    if found is None or found.org_id != acc.actor.org_id:
        return None
    return found


@router.get("/gitops", summary="GitOps: the followed repository, last synced commit, errors")
def gitops_status(request: Request, acc: Guarded) -> dict[str, Any]:
    """State (synced, failed, pending before the first sync, disabled), the last synced
    commit, the last attempt, its located errors (file, line, field) and its plan
    summary."""
    acc.require(Action.READ_CLUSTER_POLICY, Target(acc.actor.org_id), "gitops status")
    follower = _follower(request, acc)
    if follower is None:
        return {"state": "disabled"}
    return follower.status()


@router.post("/gitops/sync", status_code=202, summary="GitOps: fetch and apply the head now")
def gitops_sync(request: Request, acc: Guarded) -> dict[str, Any]:
    """Wake the follower: it fetches the branch and applies its head, even when that
    commit was synced already (restoring changes made since by other means). Answers at
    once; the status's ``attempts`` grows when the sync is done."""
    acc.require(Action.MANAGE_ORG, Target(acc.actor.org_id), "gitops sync")
    follower = _follower(request, acc)
    if follower is None:
        raise Conflict("GitOps is not configured on this server (setting gitops_repo)")
    status = follower.status()
    follower.request_sync()
    return {"requested": True, "attempts": status["attempts"]}
