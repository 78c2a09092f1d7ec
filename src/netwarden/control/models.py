"""The control plane's tables (SQLAlchemy 2 declarative, portable SQLite / PostgreSQL).

Identifiers are random UUID strings: an id says nothing about its org or its neighbours,
so guessing one from another org's object gets the same 404 as a missing one. Names are
unique within their parent. Times are timezone-aware UTC. Labels and other small
structured values are JSON. History is append-only: a policy change adds a
:class:`PolicyVersion`, never edits one; every change and every denied request adds an
:class:`AuditEntry`.

The migrations in ``control/migrations`` create exactly these tables; a test compares
the migrated schema with this metadata on both databases.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _id() -> Mapped[str]:
    return mapped_column(String(36), primary_key=True, default=new_id)


def _fk(target: str, *, nullable: bool = False, index: bool = True) -> Mapped[Any]:
    return mapped_column(
        String(36), ForeignKey(target, ondelete="CASCADE"), nullable=nullable, index=index
    )


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class Role(StrEnum):
    """The roles of DESIGN.md, each with a read-only twin (``*-viewer``)."""

    ORG_ADMIN = "org-admin"
    INFRA_ADMIN = "infra-admin"
    PROJECT_ADMIN = "project-admin"
    WORKSPACE_ADMIN = "workspace-admin"
    ORG_VIEWER = "org-viewer"
    INFRA_VIEWER = "infra-viewer"
    PROJECT_VIEWER = "project-viewer"
    WORKSPACE_VIEWER = "workspace-viewer"


class ScopeKind(StrEnum):
    ORG = "org"
    PROJECT = "project"
    WORKSPACE = "workspace"


class PolicyScope(StrEnum):
    CLUSTER_WIDE = "cluster-wide"
    NAMESPACE = "namespace"


class Org(Base):
    __tablename__ = "orgs"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(63), unique=True)
    created_at: Mapped[datetime] = _created()


class Project(Base):
    """A group of clusters (Infra Admins) and namespaces (Project Admins)."""

    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _fk("orgs.id")
    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()


class Workspace(Base):
    """Namespaces owned by one application team, possibly across clusters."""

    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _fk("orgs.id")
    project_id: Mapped[str] = _fk("projects.id")
    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()


class Cluster(Base):
    """A cluster. Its name is unique on the server, not just in its org: flows, agents
    and Hubble's ``cluster/node`` names key on it."""

    __tablename__ = "clusters"
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _fk("orgs.id")
    project_id: Mapped[str] = _fk("projects.id")
    name: Mapped[str] = mapped_column(String(63), unique=True)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cni_profile: Mapped[str] = mapped_column(String(63), default="cilium")
    cilium_version: Mapped[str] = mapped_column(String(31), default="")
    # Cilium's policy enforcement mode (default / always / never) and Netwarden's
    # enforcement (enforce / audit) as the cluster's blueprints set them.
    policy_enforcement: Mapped[str] = mapped_column(String(15), default="default")
    enforcement_mode: Mapped[str] = mapped_column(String(15), default="enforce")
    last_heartbeat: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class Namespace(Base):
    """A namespace of a cluster; in at most one project and one workspace."""

    __tablename__ = "namespaces"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _fk("orgs.id")
    cluster_id: Mapped[str] = _fk("clusters.id")
    name: Mapped[str] = mapped_column(String(63))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    project_id: Mapped[str | None] = _fk("projects.id", nullable=True)
    workspace_id: Mapped[str | None] = _fk("workspaces.id", nullable=True)
    created_at: Mapped[datetime] = _created()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _fk("orgs.id")
    name: Mapped[str] = mapped_column(String(127))
    email: Mapped[str] = mapped_column(String(255), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _fk("orgs.id")
    name: Mapped[str] = mapped_column(String(127))
    created_at: Mapped[datetime] = _created()


class GroupMember(Base):
    __tablename__ = "group_members"
    group_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ApiToken(Base):
    """A bearer token: a user's, or a cluster agent's (``cluster_id``). Only a SHA-256
    of the secret is stored; ``prefix`` (the first characters) identifies it in lists."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _fk("orgs.id")
    user_id: Mapped[str | None] = _fk("users.id", nullable=True)
    cluster_id: Mapped[str | None] = _fk("clusters.id", nullable=True)
    name: Mapped[str] = mapped_column(String(127), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RoleBinding(Base):
    """``role`` for a user or group over an org, project or workspace."""

    __tablename__ = "role_bindings"
    __table_args__ = (
        UniqueConstraint("subject_kind", "subject_id", "role", "scope_kind", "scope_id"),
    )
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _fk("orgs.id")
    subject_kind: Mapped[str] = mapped_column(String(8))  # user | group
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    role: Mapped[str] = mapped_column(String(31))
    scope_kind: Mapped[str] = mapped_column(String(15))
    scope_id: Mapped[str] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = _created()


class Policy(Base):
    """A policy under version control. Cluster-wide policies (CCNP, ANP, BANP,
    ClusterNetworkPolicy) belong to a project and target one of its clusters; namespace
    policies (NetworkPolicy, CNP) target a namespace of a cluster."""

    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("cluster_id", "namespace", "kind", "name"),)
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _fk("orgs.id")
    project_id: Mapped[str] = _fk("projects.id")
    cluster_id: Mapped[str] = _fk("clusters.id")
    workspace_id: Mapped[str | None] = _fk("workspaces.id", nullable=True)
    scope: Mapped[str] = mapped_column(String(15))  # PolicyScope
    kind: Mapped[str] = mapped_column(String(63))
    namespace: Mapped[str] = mapped_column(String(63), default="")  # "" for cluster-wide
    name: Mapped[str] = mapped_column(String(253))
    version: Mapped[int] = mapped_column(Integer, default=0)  # the current version number
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Staged policies: the current version is ``staged`` (evaluated on flows, not
    # enforced) and the cluster holds ``enforced_version`` (0: none), the latest version
    # that was not staged.
    staged: Mapped[bool] = mapped_column(Boolean, default=False)
    enforced_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class PolicyVersion(Base):
    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("policy_id", "version"),)
    id: Mapped[str] = _id()
    policy_id: Mapped[str] = _fk("policies.id")
    version: Mapped[int] = mapped_column(Integer)
    yaml: Mapped[str] = mapped_column(Text)  # "" for a deletion
    author: Mapped[str] = mapped_column(String(127))
    message: Mapped[str] = mapped_column(Text, default="")
    git_commit: Mapped[str] = mapped_column(String(64), default="")
    staged: Mapped[bool] = mapped_column(Boolean, default=False)  # deployed as staged
    created_at: Mapped[datetime] = _created()


class AuditEntry(Base):
    """Who did (or was refused) what, when, with the resource before and after."""

    __tablename__ = "audit_log"
    id: Mapped[str] = _id()
    org_id: Mapped[str | None] = _fk("orgs.id", nullable=True)
    at: Mapped[datetime] = _created()
    actor: Mapped[str] = mapped_column(String(127))
    action: Mapped[str] = mapped_column(String(63))
    resource_kind: Mapped[str] = mapped_column(String(63))
    resource_id: Mapped[str] = mapped_column(String(36), default="")
    resource_name: Mapped[str] = mapped_column(String(255), default="")
    outcome: Mapped[str] = mapped_column(String(15))  # allowed | denied
    detail: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Blueprint(Base):
    """A versioned bundle of cluster-wide policies, namespace defaults and settings, owned
    by a project (its Infra Admins) or by the org (``project_id`` None: Org Admins)."""

    __tablename__ = "blueprints"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _fk("orgs.id")
    project_id: Mapped[str | None] = _fk("projects.id", nullable=True)
    name: Mapped[str] = mapped_column(String(63))
    version: Mapped[int] = mapped_column(Integer, default=0)
    # The version every cluster holds unless a rollout in progress released it another
    # (a BlueprintRelease row): the latest version once its waves completed.
    released_version: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # The current version is staged: evaluated on the flows of the clusters it reaches,
    # never released (clusters keep ``released_version`` and the releases of a rollout).
    staged: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class BlueprintVersion(Base):
    __tablename__ = "blueprint_versions"
    __table_args__ = (UniqueConstraint("blueprint_id", "version"),)
    id: Mapped[str] = _id()
    blueprint_id: Mapped[str] = _fk("blueprints.id")
    version: Mapped[int] = mapped_column(Integer)
    yaml: Mapped[str] = mapped_column(Text)  # "" for a deletion
    author: Mapped[str] = mapped_column(String(127))
    message: Mapped[str] = mapped_column(Text, default="")
    git_commit: Mapped[str] = mapped_column(String(64), default="")
    staged: Mapped[bool] = mapped_column(Boolean, default=False)  # deployed as staged
    created_at: Mapped[datetime] = _created()


class DesiredState(Base):
    """The exact Kubernetes objects a cluster should hold, and its generation (bumped
    only when the set of objects or settings changes)."""

    __tablename__ = "desired_states"
    cluster_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = _fk("orgs.id")
    generation: Mapped[int] = mapped_column(Integer, default=0)
    digest: Mapped[str] = mapped_column(String(64), default="")
    objects: Mapped[list[Any]] = mapped_column(JSON, default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    conflicts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Staged versions reaching the cluster (never sent to the agent): per version, the
    # objects that would change if it were promoted (``desired.staged_for``).
    staged: Mapped[list[Any]] = mapped_column(JSON, default=list)
    computed_at: Mapped[datetime] = _created()


class ClusterStatus(Base):
    """What a cluster's agent last reported: the generation it applied, per-object
    results, drift (managed objects changed in the cluster) and unmanaged policies."""

    __tablename__ = "cluster_status"
    cluster_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = _fk("orgs.id")
    applied_generation: Mapped[int] = mapped_column(Integer, default=0)
    objects: Mapped[list[Any]] = mapped_column(JSON, default=list)
    drift: Mapped[list[Any]] = mapped_column(JSON, default=list)
    unmanaged: Mapped[list[Any]] = mapped_column(JSON, default=list)
    spool: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reported_at: Mapped[datetime] = _created()


class ClusterInventory(Base):
    """What a cluster's agent last reported it holds: pods, nodes, services (the
    namespaces go to :class:`Namespace`), for flow enrichment and attribution."""

    __tablename__ = "cluster_inventory"
    cluster_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = _fk("orgs.id")
    digest: Mapped[str] = mapped_column(String(64), default="")
    pods: Mapped[list[Any]] = mapped_column(JSON, default=list)
    nodes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    services: Mapped[list[Any]] = mapped_column(JSON, default=list)
    supported_kinds: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reported_at: Mapped[datetime] = _created()


class BlueprintRollout(Base):
    """A blueprint version making its way through the fleet in waves (one row per
    version that has waves). ``waves`` is the plan fixed when it started:
    ``[{"name": ..., "clusters": [cluster ids]}]``; ``wave`` is the index released last."""

    __tablename__ = "blueprint_rollouts"
    __table_args__ = (UniqueConstraint("blueprint_id", "version"),)
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _fk("orgs.id")
    blueprint_id: Mapped[str] = _fk("blueprints.id")
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(15))  # progressing|paused|completed|superseded
    wave: Mapped[int] = mapped_column(Integer, default=0)
    waves: Mapped[list[Any]] = mapped_column(JSON, default=list)
    pause_on_failure: Mapped[bool] = mapped_column(Boolean, default=True)
    soak_seconds: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    wave_started_at: Mapped[datetime] = _created()
    wave_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class BlueprintRelease(Base):
    """A cluster that holds a blueprint version other than its ``released_version``,
    because a rollout in progress reached it."""

    __tablename__ = "blueprint_releases"
    blueprint_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("blueprints.id", ondelete="CASCADE"), primary_key=True
    )
    cluster_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)
    released_at: Mapped[datetime] = _created()
