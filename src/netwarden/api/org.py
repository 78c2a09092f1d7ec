"""Org structure routes: projects, workspaces, clusters (and agent tokens), namespaces,
users and their tokens, groups and their members, role bindings, the caller, the audit
log. The directory's rules (bindings, deleting users and groups, keeping an Org Admin)
are in ``control/directory.py``.

Every handler checks its action through ``Access.require`` / ``Access.allowed`` (the
route class fails closed otherwise); lists only hold what the caller may read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from netwarden.api.guarded import Guarded, GuardedRoute
from netwarden.api.paging import DEFAULT_LIMIT, After, Limit, page
from netwarden.control import desired, directory
from netwarden.control.access import Access, Conflict, Invalid, NotFound
from netwarden.control.directory import binding_doc, group_doc, user_doc
from netwarden.control.models import (
    ApiToken,
    AuditEntry,
    Cluster,
    Group,
    Namespace,
    Policy,
    Project,
    Role,
    RoleBinding,
    User,
    Workspace,
    utcnow,
)
from netwarden.control.rbac import Action, Target
from netwarden.control.tokens import issue_token

router = APIRouter(prefix="/api/v1", tags=["org"], route_class=GuardedRoute)
NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
Labels = Annotated[list[str] | None, Query(description="Label filter key=value (repeatable).")]


class ProjectIn(BaseModel):
    name: str = Field(pattern=NAME)
    description: str = ""


class ProjectPatch(BaseModel):
    name: str | None = Field(None, pattern=NAME)
    description: str | None = None


class WorkspaceIn(BaseModel):
    name: str = Field(pattern=NAME)
    project: str = Field(description="Project id.")
    description: str = ""


class WorkspacePatch(BaseModel):
    name: str | None = Field(None, pattern=NAME)
    description: str | None = None


class ClusterIn(BaseModel):
    name: str = Field(pattern=NAME)
    project: str = Field(description="Project id.")
    labels: dict[str, str] = Field(default_factory=dict)
    policy_enforcement: str = Field("default", pattern="^(default|always|never)$")
    enforcement_mode: str = Field("enforce", pattern="^(enforce|audit)$")


class ClusterPatch(BaseModel):
    labels: dict[str, str] | None = None
    policy_enforcement: str | None = Field(None, pattern="^(default|always|never)$")
    enforcement_mode: str | None = Field(None, pattern="^(enforce|audit)$")


class NamespaceIn(BaseModel):
    labels: dict[str, str] = Field(default_factory=dict)
    workspace: str | None = Field(None, description="Workspace id (none: project only).")


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=127)
    email: str = Field("", max_length=255)


class UserPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=127)
    email: str | None = Field(None, max_length=255)
    disabled: bool | None = Field(None, description="A disabled user's tokens stop working.")


class GroupIn(BaseModel):
    name: str = Field(min_length=1, max_length=127)


class TokenIn(BaseModel):
    name: str = ""
    ttl_days: int | None = Field(None, ge=1, le=3650)


class BindingIn(BaseModel):
    subject_kind: str = Field("user", pattern="^(user|group)$")
    subject: str = Field(description="User or group id (of the caller's org).")
    role: Role
    scope: str = Field(description="Org, project or workspace id, as the role requires.")


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def project_doc(p: Project) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "description": p.description}


def workspace_doc(w: Workspace) -> dict[str, Any]:
    return {"id": w.id, "name": w.name, "project": w.project_id, "description": w.description}


def cluster_doc(c: Cluster) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "project": c.project_id,
        "labels": c.labels,
        "cni_profile": c.cni_profile,
        "cilium_version": c.cilium_version,
        "policy_enforcement": c.policy_enforcement,
        "enforcement_mode": c.enforcement_mode,
        "last_heartbeat": _dt(c.last_heartbeat),
    }


def namespace_doc(n: Namespace) -> dict[str, Any]:
    return {
        "id": n.id,
        "cluster": n.cluster_id,
        "name": n.name,
        "labels": n.labels,
        "project": n.project_id,
        "workspace": n.workspace_id,
    }


def _target(acc: Access, project_id: str | None = None, workspace_id: str | None = None) -> Target:
    return Target(acc.actor.org_id, project_id=project_id, workspace_id=workspace_id)


def _project_readable(acc: Access, project: Project) -> bool:
    """Readers of the project, and members of its workspaces (they see its name)."""
    if acc.allowed(Action.READ_ORG, _target(acc, project.id)):
        return True
    workspaces = acc.session.scalars(select(Workspace.id).filter_by(project_id=project.id))
    return any(acc.allowed(Action.READ_ORG, _target(acc, project.id, w)) for w in workspaces)


def _unique(acc: Access, model: type[Any], what: str, **by: Any) -> None:
    query = select(model).filter_by(**by)
    if acc.session.scalars(query).first() is not None:
        shown = ", ".join(f"{k}={v!r}" for k, v in by.items() if k != "org_id")
        raise Conflict(f"{what} with {shown} already exists")


# --- the caller ----------------------------------------------------------------------


@router.get("/me", summary="The caller, their org and grants")
def me(acc: Guarded) -> dict[str, Any]:
    acc.allowed(Action.READ_ORG, _target(acc))
    g = acc.actor.grants
    user = acc.find(User, "user", name=acc.actor.subject)
    return {
        "id": user.id,
        "subject": acc.actor.subject,
        "org": acc.actor.org_id,
        "grants": {
            "org_admin": g.org_admin,
            "org_viewer": g.org_viewer,
            "infra_admin": sorted(g.infra_admin),
            "infra_viewer": sorted(g.infra_viewer),
            "project_admin": sorted(g.project_admin),
            "project_viewer": sorted(g.project_viewer),
            "workspace_admin": sorted(g.workspace_admin),
            "workspace_viewer": sorted(g.workspace_viewer),
        },
    }


# --- projects ------------------------------------------------------------------------


@router.get("/projects", summary="Projects the caller can read")
def list_projects(
    acc: Guarded, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> dict[str, Any]:
    query = select(Project).filter_by(org_id=acc.actor.org_id)
    items, following = page(acc, query, Project.name, limit, after, partial(_project_readable, acc))
    return {"items": [project_doc(p) for p in items], "next": following}


@router.post("/projects", status_code=status.HTTP_201_CREATED, summary="Create a project")
def create_project(body: ProjectIn, acc: Guarded) -> dict[str, Any]:
    acc.require(Action.MANAGE_ORG, _target(acc), f"project {body.name}")
    _unique(acc, Project, "project", org_id=acc.actor.org_id, name=body.name)
    project = Project(org_id=acc.actor.org_id, name=body.name, description=body.description)
    acc.session.add(project)
    acc.session.flush()
    acc.identity_changed = True
    acc.record("create", "project", project.id, project.name, after=project_doc(project))
    return project_doc(project)


@router.get("/projects/{project_id}", summary="One project")
def get_project(project_id: str, acc: Guarded) -> dict[str, Any]:
    project = acc.get(Project, project_id, "project")
    if not _project_readable(acc, project):
        acc.require(Action.READ_ORG, _target(acc, project.id), f"project {project.name}")
    return project_doc(project)


def _renamed(acc: Access, model: type[Any], what: str, obj: Any, name: str | None) -> None:
    """Refuse (409) renaming ``obj`` to a name another object of its org has."""
    if name is None or name == obj.name:
        return
    query = select(model.id).where(model.org_id == obj.org_id, model.name == name)
    if acc.session.scalars(query).first() is not None:
        raise Conflict(f"{what} with name={name!r} already exists")


@router.patch("/projects/{project_id}", summary="Rename a project or change its description")
def patch_project(project_id: str, body: ProjectPatch, acc: Guarded) -> dict[str, Any]:
    project = acc.get(Project, project_id, "project")
    acc.require(Action.MANAGE_ORG, _target(acc, project.id), f"project {project.name}")
    _renamed(acc, Project, "project", project, body.name)
    before = project_doc(project)
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(project, name, value)
    acc.session.flush()
    if project_doc(project) != before:
        after = project_doc(project)
        acc.record("update", "project", project.id, project.name, before=before, after=after)
    return project_doc(project)


@router.delete("/projects/{project_id}", status_code=204, summary="Delete a project")
def delete_project(project_id: str, acc: Guarded) -> None:
    """Deletes the project with its clusters, workspaces, namespaces and policies, and
    the role bindings over it and its workspaces."""
    project = acc.get(Project, project_id, "project")
    acc.require(Action.MANAGE_ORG, _target(acc, project.id), f"project {project.name}")
    workspaces = list(acc.session.scalars(select(Workspace.id).filter_by(project_id=project.id)))
    bindings = directory.scope_bindings(acc, [project.id, *workspaces])
    acc.identity_changed = True
    before = {**project_doc(project), "role_bindings": bindings}
    acc.record("delete", "project", project.id, project.name, before=before)
    acc.session.delete(project)


# --- workspaces ----------------------------------------------------------------------


@router.get("/workspaces", summary="Workspaces the caller can read")
def list_workspaces(
    acc: Guarded, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> dict[str, Any]:
    query = select(Workspace).filter_by(org_id=acc.actor.org_id)

    def visible(w: Workspace) -> bool:
        return acc.allowed(Action.READ_ORG, _target(acc, w.project_id, w.id))

    items, following = page(acc, query, Workspace.name, limit, after, visible)
    return {"items": [workspace_doc(w) for w in items], "next": following}


@router.post("/workspaces", status_code=201, summary="Create a workspace in a project")
def create_workspace(body: WorkspaceIn, acc: Guarded) -> dict[str, Any]:
    project = acc.get(Project, body.project, "project")
    acc.require(Action.MANAGE_WORKSPACE, _target(acc, project.id), f"workspace {body.name}")
    _unique(acc, Workspace, "workspace", org_id=acc.actor.org_id, name=body.name)
    ws = Workspace(
        org_id=acc.actor.org_id, project_id=project.id, name=body.name, description=body.description
    )
    acc.session.add(ws)
    acc.session.flush()
    acc.record("create", "workspace", ws.id, ws.name, after=workspace_doc(ws))
    return workspace_doc(ws)


@router.get("/workspaces/{workspace_id}", summary="One workspace")
def get_workspace(workspace_id: str, acc: Guarded) -> dict[str, Any]:
    ws = acc.get(Workspace, workspace_id, "workspace")
    acc.require(Action.READ_ORG, _target(acc, ws.project_id, ws.id), f"workspace {ws.name}")
    return workspace_doc(ws)


@router.patch("/workspaces/{workspace_id}", summary="Rename a workspace or change its description")
def patch_workspace(workspace_id: str, body: WorkspacePatch, acc: Guarded) -> dict[str, Any]:
    ws = acc.get(Workspace, workspace_id, "workspace")
    acc.require(Action.MANAGE_WORKSPACE, _target(acc, ws.project_id), f"workspace {ws.name}")
    _renamed(acc, Workspace, "workspace", ws, body.name)
    before = workspace_doc(ws)
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(ws, name, value)
    acc.session.flush()
    if workspace_doc(ws) != before:
        acc.record("update", "workspace", ws.id, ws.name, before=before, after=workspace_doc(ws))
    return workspace_doc(ws)


@router.delete("/workspaces/{workspace_id}", status_code=204, summary="Delete a workspace")
def delete_workspace(workspace_id: str, acc: Guarded) -> None:
    """Refused (409) while namespaces are assigned to the workspace: assign them elsewhere
    (or to the project only) first. Removes the role bindings over the workspace; policies
    that still record it (their namespace left it) are detached, never deleted."""
    ws = acc.get(Workspace, workspace_id, "workspace")
    acc.require(Action.MANAGE_WORKSPACE, _target(acc, ws.project_id), f"workspace {ws.name}")
    assigned = acc.session.execute(
        select(Cluster.name, Namespace.name)
        .join(Cluster, Cluster.id == Namespace.cluster_id)
        .where(Namespace.workspace_id == ws.id)
        .order_by(Cluster.name, Namespace.name)
    ).all()
    if assigned:
        shown = ", ".join(f"{c}/{n}" for c, n in assigned[:10])
        more = f" and {len(assigned) - 10} more" if len(assigned) > 10 else ""
        raise Conflict(
            f"workspace {ws.name} still has namespaces: {shown}{more}; assign them to "
            "another workspace (or to the project only) first"
        )
    for policy in acc.session.scalars(select(Policy).filter_by(workspace_id=ws.id)):
        ns = acc.session.scalars(
            select(Namespace).filter_by(cluster_id=policy.cluster_id, name=policy.namespace)
        ).first()
        policy.workspace_id = ns.workspace_id if ns is not None else None  # where it is now
    bindings = directory.scope_bindings(acc, [ws.id])
    acc.identity_changed = True
    before = {**workspace_doc(ws), "role_bindings": bindings}
    acc.record("delete", "workspace", ws.id, ws.name, before=before)
    acc.session.delete(ws)


# --- clusters and namespaces ---------------------------------------------------------


@router.get("/clusters", summary="Clusters the caller can read")
def list_clusters(
    acc: Guarded, label: Labels = None, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> dict[str, Any]:
    wanted = dict(item.partition("=")[::2] for item in label or [])
    query = select(Cluster).filter_by(org_id=acc.actor.org_id)

    def visible(c: Cluster) -> bool:
        labels = c.labels or {}
        return all(labels.get(k) == v for k, v in wanted.items()) and _cluster_readable(acc, c)

    items, following = page(acc, query, Cluster.name, limit, after, visible)
    return {"items": [cluster_doc(c) for c in items], "next": following}


def _cluster_readable(acc: Access, cluster: Cluster) -> bool:
    if acc.allowed(Action.READ_ORG, _target(acc, cluster.project_id)):
        return True
    workspaces = acc.session.scalars(
        select(Namespace.workspace_id).where(
            Namespace.cluster_id == cluster.id, Namespace.workspace_id.is_not(None)
        )
    )
    return any(acc.allowed(Action.READ_ORG, _target(acc, None, w)) for w in workspaces)


@router.post("/clusters", status_code=201, summary="Register a cluster in a project")
def create_cluster(body: ClusterIn, acc: Guarded) -> dict[str, Any]:
    project = acc.get(Project, body.project, "project")
    acc.require(Action.MANAGE_CLUSTER, _target(acc, project.id), f"cluster {body.name}")
    _unique(acc, Cluster, "cluster", name=body.name)
    cluster = Cluster(
        org_id=acc.actor.org_id,
        project_id=project.id,
        name=body.name,
        labels=body.labels,
        policy_enforcement=body.policy_enforcement,
        enforcement_mode=body.enforcement_mode,
    )
    acc.session.add(cluster)
    acc.session.flush()
    desired.recompute(acc.session, acc.actor.org_id, [cluster.id])
    acc.identity_changed = True
    acc.record("create", "cluster", cluster.id, cluster.name, after=cluster_doc(cluster))
    return cluster_doc(cluster)


@router.get("/clusters/{cluster_id}", summary="One cluster")
def get_cluster(cluster_id: str, acc: Guarded) -> dict[str, Any]:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    if not _cluster_readable(acc, cluster):
        acc.require(Action.READ_ORG, _target(acc, cluster.project_id), f"cluster {cluster.name}")
    return cluster_doc(cluster)


@router.patch("/clusters/{cluster_id}", summary="Change a cluster's labels or modes")
def patch_cluster(cluster_id: str, body: ClusterPatch, acc: Guarded) -> dict[str, Any]:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    what = f"cluster {cluster.name}"
    acc.require(Action.MANAGE_CLUSTER, _target(acc, cluster.project_id), what)
    before = cluster_doc(cluster)
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(cluster, name, value)
    acc.session.flush()
    desired.recompute(acc.session, acc.actor.org_id, [cluster.id])
    acc.record(
        "update", "cluster", cluster.id, cluster.name, before=before, after=cluster_doc(cluster)
    )
    return cluster_doc(cluster)


@router.delete("/clusters/{cluster_id}", status_code=204, summary="Deregister a cluster")
def delete_cluster(cluster_id: str, acc: Guarded) -> None:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    acc.require(Action.MANAGE_CLUSTER, _target(acc, cluster.project_id), f"cluster {cluster.name}")
    acc.identity_changed = True
    acc.record("delete", "cluster", cluster.id, cluster.name, before=cluster_doc(cluster))
    acc.session.delete(cluster)


@router.post("/clusters/{cluster_id}/agent-tokens", status_code=201, summary="Agent token")
def create_agent_token(cluster_id: str, body: TokenIn, acc: Guarded) -> dict[str, Any]:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    what = f"cluster {cluster.name}"
    acc.require(Action.MANAGE_CLUSTER, _target(acc, cluster.project_id), what)
    ttl = timedelta(days=body.ttl_days) if body.ttl_days else None
    token, secret = issue_token(
        acc.session, acc.actor.org_id, cluster_id=cluster.id, name=body.name, ttl=ttl
    )
    acc.identity_changed = True
    acc.record("create", "agent-token", token.id, f"{cluster.name}/{body.name}")
    return {
        "id": token.id,
        "token": secret,
        "prefix": token.prefix,
        "expires_at": _dt(token.expires_at),
    }


@router.get("/clusters/{cluster_id}/namespaces", summary="A cluster's namespaces")
def list_namespaces(cluster_id: str, acc: Guarded) -> dict[str, Any]:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    rows = acc.session.scalars(select(Namespace).filter_by(cluster_id=cluster.id))
    items = [
        n
        for n in rows
        if acc.allowed(Action.READ_ORG, _target(acc, n.project_id or cluster.project_id))
        or (n.workspace_id and acc.allowed(Action.READ_ORG, _target(acc, None, n.workspace_id)))
    ]
    acc.checked = True
    return {"items": [namespace_doc(n) for n in sorted(items, key=lambda n: n.name)]}


@router.put("/clusters/{cluster_id}/namespaces/{name}", summary="Declare or assign a namespace")
def put_namespace(cluster_id: str, name: str, body: NamespaceIn, acc: Guarded) -> dict[str, Any]:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    what = f"namespace {cluster.name}/{name}"
    acc.require(Action.MANAGE_WORKSPACE, _target(acc, cluster.project_id), what)
    workspace = acc.get(Workspace, body.workspace, "workspace") if body.workspace else None
    if workspace is not None and workspace.project_id != cluster.project_id:
        raise Invalid(
            f"workspace {workspace.name} is in another project than cluster {cluster.name}",
            [{"field": "body.workspace", "message": "not in the cluster's project"}],
        )
    ns = acc.session.scalars(select(Namespace).filter_by(cluster_id=cluster.id, name=name)).first()
    before = namespace_doc(ns) if ns is not None else None
    if ns is None:
        ns = Namespace(org_id=acc.actor.org_id, cluster_id=cluster.id, name=name)
        acc.session.add(ns)
    ns.labels = body.labels
    ns.project_id = cluster.project_id
    ns.workspace_id = workspace.id if workspace is not None else None
    acc.session.flush()
    desired.recompute(acc.session, acc.actor.org_id, [cluster.id])
    acc.record(
        "apply",
        "namespace",
        ns.id,
        f"{cluster.name}/{name}",
        before=before,
        after=namespace_doc(ns),
    )
    return namespace_doc(ns)


# --- users, tokens, role bindings ----------------------------------------------------


def _directory_reader(acc: Access, what: str) -> None:
    """The user and group directory: anyone holding a role (to bind roles by name)."""
    if not acc.actor.grants.any:
        acc.require(Action.READ_AUDIT, _target(acc), what)
    acc.allowed(Action.READ_ORG, _target(acc))


@router.get("/users", summary="The org's users (callers holding any role)")
def list_users(acc: Guarded) -> dict[str, Any]:
    """The org's user directory, for anyone holding a role (to bind roles by name)."""
    _directory_reader(acc, "the user directory")
    rows = acc.session.scalars(select(User).filter_by(org_id=acc.actor.org_id).order_by(User.name))
    return {"items": [user_doc(u) for u in rows]}


@router.post("/users", status_code=201, summary="Create a user")
def create_user(body: UserIn, acc: Guarded) -> dict[str, Any]:
    acc.require(Action.MANAGE_ORG, _target(acc), f"user {body.name}")
    _unique(acc, User, "user", org_id=acc.actor.org_id, name=body.name)
    user = User(org_id=acc.actor.org_id, name=body.name, email=body.email, disabled=False)
    acc.session.add(user)
    acc.session.flush()
    acc.identity_changed = True
    acc.record("create", "user", user.id, user.name, after=user_doc(user))
    return user_doc(user)


@router.patch("/users/{user_id}", summary="Rename, change the email of, disable or enable a user")
def patch_user(user_id: str, body: UserPatch, acc: Guarded) -> dict[str, Any]:
    """Org Admins. Nobody disables themself, and the org keeps an enabled Org Admin
    (409 otherwise)."""
    user = acc.get(User, user_id, "user")
    acc.require(Action.MANAGE_ORG, _target(acc), f"user {user.name}")
    return directory.update_user(acc, user, body.model_dump(exclude_none=True))


@router.delete("/users/{user_id}", status_code=204, summary="Delete a user")
def delete_user(user_id: str, acc: Guarded) -> None:
    """Org Admins. Revokes the user's tokens and removes their role bindings and group
    memberships. Refused (409) for oneself and for the org's last Org Admin."""
    user = acc.get(User, user_id, "user")
    acc.require(Action.MANAGE_ORG, _target(acc), f"user {user.name}")
    directory.remove_user(acc, user)


@router.post("/users/{user_id}/tokens", status_code=201, summary="Issue a token to a user")
def create_user_token(user_id: str, body: TokenIn, acc: Guarded) -> dict[str, Any]:
    user = acc.get(User, user_id, "user")
    if user.name != acc.actor.subject:
        acc.require(Action.MANAGE_ORG, _target(acc), f"user {user.name}")
    else:
        acc.allowed(Action.READ_ORG, _target(acc))  # a user's own tokens
    ttl = timedelta(days=body.ttl_days) if body.ttl_days else None
    token, secret = issue_token(
        acc.session, acc.actor.org_id, user_id=user.id, name=body.name, ttl=ttl
    )
    acc.identity_changed = True
    acc.record("create", "token", token.id, f"{user.name}/{body.name}")
    return {
        "id": token.id,
        "token": secret,
        "prefix": token.prefix,
        "expires_at": _dt(token.expires_at),
    }


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token")
def revoke_token(token_id: str, acc: Guarded) -> None:
    token = acc.get(ApiToken, token_id, "token")
    owner = acc.session.get(User, token.user_id) if token.user_id else None
    if owner is None or owner.name != acc.actor.subject:
        cluster = acc.session.get(Cluster, token.cluster_id) if token.cluster_id else None
        if cluster is not None:
            acc.require(Action.MANAGE_CLUSTER, _target(acc, cluster.project_id), "agent token")
        else:
            acc.require(Action.MANAGE_ORG, _target(acc), "token")
    else:
        acc.allowed(Action.READ_ORG, _target(acc))
    token.revoked_at = utcnow()
    acc.identity_changed = True
    acc.record("revoke", "token", token.id, token.prefix)


# --- groups --------------------------------------------------------------------------


def _group_out(acc: Access, group: Group) -> dict[str, Any]:
    return group_doc(group, directory.members_of(acc, [group.id])[group.id])


@router.get("/groups", summary="The org's groups and their members (callers holding any role)")
def list_groups(acc: Guarded) -> dict[str, Any]:
    _directory_reader(acc, "the group directory")
    rows = list(
        acc.session.scalars(select(Group).filter_by(org_id=acc.actor.org_id).order_by(Group.name))
    )
    members = directory.members_of(acc, [g.id for g in rows])
    return {"items": [group_doc(g, members[g.id]) for g in rows]}


@router.post("/groups", status_code=201, summary="Create a group")
def create_group(body: GroupIn, acc: Guarded) -> dict[str, Any]:
    acc.require(Action.MANAGE_ORG, _target(acc), f"group {body.name}")
    _unique(acc, Group, "group", org_id=acc.actor.org_id, name=body.name)
    group = Group(org_id=acc.actor.org_id, name=body.name)
    acc.session.add(group)
    acc.session.flush()
    acc.record("create", "group", group.id, group.name, after=group_doc(group, []))
    return group_doc(group, [])


@router.get("/groups/{group_id}", summary="One group with its members")
def get_group(group_id: str, acc: Guarded) -> dict[str, Any]:
    group = acc.get(Group, group_id, "group")
    _directory_reader(acc, f"group {group.name}")
    return _group_out(acc, group)


@router.patch("/groups/{group_id}", summary="Rename a group")
def patch_group(group_id: str, body: GroupIn, acc: Guarded) -> dict[str, Any]:
    group = acc.get(Group, group_id, "group")
    acc.require(Action.MANAGE_ORG, _target(acc), f"group {group.name}")
    directory.unique_name(acc, Group, "group", body.name, group.id)
    before = _group_out(acc, group)
    group.name = body.name
    acc.session.flush()
    after = _group_out(acc, group)
    if after != before:
        acc.record("update", "group", group.id, group.name, before=before, after=after)
    return after


@router.delete("/groups/{group_id}", status_code=204, summary="Delete a group")
def delete_group(group_id: str, acc: Guarded) -> None:
    """Org Admins. Removes its memberships and its role bindings (its members lose what
    the group granted them); refused (409) when that would leave no Org Admin."""
    group = acc.get(Group, group_id, "group")
    acc.require(Action.MANAGE_ORG, _target(acc), f"group {group.name}")
    directory.remove_group(acc, group)


@router.put("/groups/{group_id}/members/{user_id}", summary="Add a user to a group")
def put_group_member(group_id: str, user_id: str, acc: Guarded) -> dict[str, Any]:
    """Org Admins; idempotent. The user gains the group's role bindings at once."""
    group = acc.get(Group, group_id, "group")
    acc.require(Action.MANAGE_ORG, _target(acc), f"group {group.name}")
    directory.add_member(acc, group, acc.get(User, user_id, "user"))
    return _group_out(acc, group)


@router.delete(
    "/groups/{group_id}/members/{user_id}", status_code=204, summary="Remove a user from a group"
)
def delete_group_member(group_id: str, user_id: str, acc: Guarded) -> None:
    """Org Admins. The user loses the group's role bindings at once (404 when not a
    member; 409 when the org would be left without an Org Admin)."""
    group = acc.get(Group, group_id, "group")
    acc.require(Action.MANAGE_ORG, _target(acc), f"group {group.name}")
    directory.remove_member(acc, group, acc.get(User, user_id, "user"))


# --- role bindings -------------------------------------------------------------------


@router.get("/role-bindings", summary="Role bindings the caller may see")
def list_bindings(acc: Guarded) -> dict[str, Any]:
    rows = acc.session.scalars(select(RoleBinding).filter_by(org_id=acc.actor.org_id))
    items = []
    for b in rows:
        try:
            target, _ = directory.binding_target(acc, Role(b.role), b.scope_id)
        except NotFound:  # over a scope deleted before its bindings were cleaned up
            continue
        if acc.allowed(Action.READ_ORG, target) and (
            b.scope_kind != "org" or acc.actor.grants.reads_all
        ):
            items.append(binding_doc(b))
    acc.checked = True
    return {"items": items}


@router.post("/role-bindings", status_code=201, summary="Bind a role to a user or a group")
def create_binding(body: BindingIn, acc: Guarded) -> dict[str, Any]:
    """Org Admins bind any role; Project Admins bind project and workspace roles (not
    infra roles) in their project. The user or group must be of the caller's org."""
    binding = directory.bind(acc, body.subject_kind, body.subject, body.role, body.scope)
    return binding_doc(binding)


@router.delete("/role-bindings/{binding_id}", status_code=204, summary="Remove a role binding")
def delete_binding(binding_id: str, acc: Guarded) -> None:
    """Who may create the binding may remove it; the org's last Org Admin binding stays
    (409)."""
    directory.unbind(acc, acc.get(RoleBinding, binding_id, "role binding"))


# --- audit ---------------------------------------------------------------------------


@router.get("/audit", summary="The audit log, newest first")
def audit(
    acc: Guarded,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    outcome: Annotated[str | None, Query(pattern="^(allowed|denied)$")] = None,
    actor: str | None = None,
    action: str | None = None,
) -> dict[str, Any]:
    acc.require(Action.READ_AUDIT, _target(acc), "the audit log")
    query = select(AuditEntry).filter_by(org_id=acc.actor.org_id)
    if outcome:
        query = query.filter_by(outcome=outcome)
    if actor:
        query = query.filter_by(actor=actor)
    if action:
        query = query.filter_by(action=action)
    rows = acc.session.scalars(query.order_by(AuditEntry.at.desc()).limit(limit))
    return {
        "items": [
            {
                "at": _dt(e.at),
                "actor": e.actor,
                "action": e.action,
                "kind": e.resource_kind,
                "id": e.resource_id,
                "name": e.resource_name,
                "outcome": e.outcome,
                "before": e.before,
                "after": e.after,
            }
            for e in rows
        ]
    }
