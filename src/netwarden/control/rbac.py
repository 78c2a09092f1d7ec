"""Who may do what: role bindings -> :class:`Grants`, and the one authorization check.

The rules are DESIGN.md's roles table:

| capability | Org Admin | Infra Admin | Project Admin | Workspace Admin |
|---|---|---|---|---|
| cluster-wide policies, blueprints | yes | own projects | no | no |
| namespace policies | yes | no | own project | own workspace |
| flows | all | clusters of own projects | namespaces of own project | namespaces of own ws. |

(a flow is visible when its source or its destination is in scope.)

Each read-only twin (``*-viewer``) may read exactly what its admin role may write, and
write nothing. Beyond the table (choices, documented in docs/design/control-plane.md):
the org structure (projects, users, groups, tokens of others) is managed by Org Admins;
Infra Admins register and configure the clusters of their projects; Project Admins
create workspaces and assign namespaces in their project and bind project and workspace
roles there; anyone may read the org objects their grants touch.

:func:`decide` is the single decision function; ``api`` calls it through one guard that
every route must pass (a route that forgets it answers 500, never data).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from netwarden.control.models import Role, ScopeKind
from netwarden.flows.scope import FlowScope


class Action(StrEnum):
    READ_ORG = "read-org"  # projects, workspaces, clusters, namespaces in reach
    MANAGE_ORG = "manage-org"  # projects, users, groups, org-wide bindings
    MANAGE_CLUSTER = "manage-cluster"  # register/configure clusters, agent tokens
    MANAGE_WORKSPACE = "manage-workspace"  # workspaces, namespace assignment
    BIND_ROLES = "bind-roles"
    READ_CLUSTER_POLICY = "read-cluster-policy"  # cluster-wide policies and blueprints
    WRITE_CLUSTER_POLICY = "write-cluster-policy"
    READ_NAMESPACE_POLICY = "read-namespace-policy"
    WRITE_NAMESPACE_POLICY = "write-namespace-policy"
    READ_FLOWS = "read-flows"
    READ_AUDIT = "read-audit"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a resource lives; unset fields are unknown/not applicable."""

    org_id: str
    project_id: str | None = None
    workspace_id: str | None = None
    cluster_id: str | None = None


@dataclass(frozen=True, slots=True)
class Binding:
    role: Role
    scope_kind: ScopeKind
    scope_id: str


@dataclass(frozen=True, slots=True)
class Grants:
    """What one caller's bindings grant in their org (ids of projects and workspaces)."""

    org_id: str
    org_admin: bool = False
    org_viewer: bool = False
    infra_admin: frozenset[str] = frozenset()
    infra_viewer: frozenset[str] = frozenset()
    project_admin: frozenset[str] = frozenset()
    project_viewer: frozenset[str] = frozenset()
    workspace_admin: frozenset[str] = frozenset()
    workspace_viewer: frozenset[str] = frozenset()

    @classmethod
    def from_bindings(cls, org_id: str, bindings: Iterable[Binding]) -> Grants:
        sets: dict[Role, set[str]] = {role: set() for role in Role}
        for b in bindings:
            if _valid(b):
                sets[b.role].add(b.scope_id)
        return cls(
            org_id=org_id,
            org_admin=bool(sets[Role.ORG_ADMIN]),
            org_viewer=bool(sets[Role.ORG_VIEWER]),
            infra_admin=frozenset(sets[Role.INFRA_ADMIN]),
            infra_viewer=frozenset(sets[Role.INFRA_VIEWER]),
            project_admin=frozenset(sets[Role.PROJECT_ADMIN]),
            project_viewer=frozenset(sets[Role.PROJECT_VIEWER]),
            workspace_admin=frozenset(sets[Role.WORKSPACE_ADMIN]),
            workspace_viewer=frozenset(sets[Role.WORKSPACE_VIEWER]),
        )

    @property
    def any(self) -> bool:
        """Whether any binding grants anything at all."""
        return (
            self.org_admin
            or self.org_viewer
            or bool(self.projects_in_reach | self.workspaces_in_reach)
        )

    @property
    def reads_all(self) -> bool:
        return self.org_admin or self.org_viewer

    @property
    def projects_in_reach(self) -> frozenset[str]:
        """Projects some grant touches (workspaces' projects are added by the caller)."""
        return self.infra_admin | self.infra_viewer | self.project_admin | self.project_viewer

    @property
    def workspaces_in_reach(self) -> frozenset[str]:
        return self.workspace_admin | self.workspace_viewer


_ROLE_SCOPE = {
    Role.ORG_ADMIN: ScopeKind.ORG,
    Role.ORG_VIEWER: ScopeKind.ORG,
    Role.INFRA_ADMIN: ScopeKind.PROJECT,
    Role.INFRA_VIEWER: ScopeKind.PROJECT,
    Role.PROJECT_ADMIN: ScopeKind.PROJECT,
    Role.PROJECT_VIEWER: ScopeKind.PROJECT,
    Role.WORKSPACE_ADMIN: ScopeKind.WORKSPACE,
    Role.WORKSPACE_VIEWER: ScopeKind.WORKSPACE,
}


def role_scope(role: Role) -> ScopeKind:
    """The kind of scope a role is bound over (org roles over the org, ...)."""
    return _ROLE_SCOPE[role]


def _valid(binding: Binding) -> bool:
    return _ROLE_SCOPE[binding.role] is binding.scope_kind


def decide(grants: Grants, action: Action, target: Target) -> bool:
    """Whether ``grants`` allow ``action`` on a resource at ``target``. Objects of
    another org are never allowed (the caller answers 404, not 403, for those)."""
    if target.org_id != grants.org_id:
        return False
    if grants.org_admin:
        return True
    check = _CHECKS[action]
    return check(grants, target)


def _in(project_ids: frozenset[str], target: Target) -> bool:
    return target.project_id is not None and target.project_id in project_ids


def _ws(workspace_ids: frozenset[str], target: Target) -> bool:
    return target.workspace_id is not None and target.workspace_id in workspace_ids


def _read_org(g: Grants, t: Target) -> bool:
    if g.org_viewer:
        return True
    if t.project_id is None and t.workspace_id is None:
        return True  # the org itself: every member may read its name
    return _in(g.projects_in_reach, t) or _ws(g.workspaces_in_reach, t)


def _read_cluster_policy(g: Grants, t: Target) -> bool:
    return g.org_viewer or _in(g.infra_admin | g.infra_viewer, t)


def _write_cluster_policy(g: Grants, t: Target) -> bool:
    return _in(g.infra_admin, t)


def _read_namespace_policy(g: Grants, t: Target) -> bool:
    if g.org_viewer or _in(g.project_admin | g.project_viewer, t):
        return True
    return _ws(g.workspace_admin | g.workspace_viewer, t)


def _write_namespace_policy(g: Grants, t: Target) -> bool:
    return _in(g.project_admin, t) or _ws(g.workspace_admin, t)


def _manage_workspace(g: Grants, t: Target) -> bool:
    return _in(g.project_admin, t)


def _read_audit(g: Grants, t: Target) -> bool:
    return g.org_viewer


def _never(g: Grants, t: Target) -> bool:
    return False


_CHECKS = {
    Action.READ_ORG: _read_org,
    Action.MANAGE_ORG: _never,  # Org Admins only (handled before the table)
    Action.MANAGE_CLUSTER: _write_cluster_policy,  # Infra Admins of the cluster's project
    Action.MANAGE_WORKSPACE: _manage_workspace,
    Action.BIND_ROLES: _manage_workspace,  # Project Admins, within their project
    Action.READ_CLUSTER_POLICY: _read_cluster_policy,
    Action.WRITE_CLUSTER_POLICY: _write_cluster_policy,
    Action.READ_NAMESPACE_POLICY: _read_namespace_policy,
    Action.WRITE_NAMESPACE_POLICY: _write_namespace_policy,
    Action.READ_FLOWS: lambda g, t: True,  # everyone reads flows, within flow_scope()
    Action.READ_AUDIT: _read_audit,
}


@dataclass(frozen=True, slots=True)
class Fleet:
    """Where the org's clusters and namespaces are: what a flow scope is computed from."""

    cluster_names: dict[str, str]  # cluster id -> name
    cluster_project: dict[str, str]  # cluster id -> project id
    namespaces: tuple[tuple[str, str, str | None, str | None], ...]
    # (cluster id, namespace, project id, workspace id)


def flow_scope(grants: Grants, fleet: Fleet) -> FlowScope:
    """The flows ``grants`` may see (DESIGN.md): all for org roles, whole clusters of the
    projects of infra roles, namespaces of the projects of project roles and of the
    workspaces of workspace roles."""
    if grants.reads_all or grants.org_admin:
        return FlowScope.all()
    infra = grants.infra_admin | grants.infra_viewer
    clusters = {
        name for cid, name in fleet.cluster_names.items() if fleet.cluster_project.get(cid) in infra
    }
    projects = grants.project_admin | grants.project_viewer
    workspaces = grants.workspace_admin | grants.workspace_viewer
    pairs = {
        (fleet.cluster_names[cid], ns)
        for cid, ns, project, workspace in fleet.namespaces
        if cid in fleet.cluster_names
        and ((project is not None and project in projects) or workspace in workspaces)
    }
    return FlowScope.of(clusters, pairs)
