"""API tokens: issued once, stored hashed, expiring and revocable; who a token is.

A token is ``nw_`` + 43 URL-safe random characters (256 bits). Only its SHA-256 is
stored (a database leak yields no usable token; the secret is high-entropy, so a fast
hash is enough, unlike passwords). :func:`resolve` turns a presented secret into an
:class:`Identity`: the user with their role bindings (direct and through groups), or
the cluster an agent token speaks for.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from netwarden.control.models import (
    ApiToken,
    Cluster,
    GroupMember,
    Namespace,
    Role,
    RoleBinding,
    ScopeKind,
    User,
    as_utc,
    utcnow,
)
from netwarden.control.rbac import Binding, Fleet, Grants

TOKEN_PREFIX = "nw_"
LAST_USED_EVERY = timedelta(minutes=1)  # how often last_used_at is written


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def issue_token(
    session: Session,
    org_id: str,
    *,
    user_id: str | None = None,
    cluster_id: str | None = None,
    name: str = "",
    ttl: timedelta | None = None,
) -> tuple[ApiToken, str]:
    """A new token for a user or a cluster agent; the secret is returned only here."""
    if (user_id is None) == (cluster_id is None):
        raise ValueError("a token belongs to exactly one user or one cluster")
    secret = new_secret()
    token = ApiToken(
        org_id=org_id,
        user_id=user_id,
        cluster_id=cluster_id,
        name=name,
        prefix=secret[:10],
        secret_hash=hash_secret(secret),
        expires_at=utcnow() + ttl if ttl is not None else None,
    )
    session.add(token)
    session.flush()
    return token, secret


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a valid token is: a user (with grants) or a cluster's agent."""

    org_id: str
    token_id: str
    user: User | None = None
    stale_use: bool = False  # last_used_at is older than LAST_USED_EVERY
    cluster: Cluster | None = None
    grants: Grants | None = None


def resolve(
    session: Session, secret: str, now: datetime | None = None, *, touch: bool = True
) -> Identity | None:
    """The identity of a valid token: known, not revoked, not expired, its user enabled."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.secret_hash == hash_secret(secret)))
    now = now or utcnow()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and as_utc(token.expires_at) <= now:
        return None
    stale = token.last_used_at is None or as_utc(token.last_used_at) + LAST_USED_EVERY < now
    if stale and touch:
        token.last_used_at = now
    if token.cluster_id is not None:
        cluster = session.get(Cluster, token.cluster_id)
        if cluster is None:
            return None
        return Identity(token.org_id, token.id, cluster=cluster, stale_use=stale)
    user = session.get(User, token.user_id) if token.user_id else None
    if user is None or user.disabled:
        return None
    grants = user_grants(session, user)
    return Identity(token.org_id, token.id, user=user, grants=grants, stale_use=stale)


def touch(session: Session, token_id: str, now: datetime | None = None) -> None:
    """Record that a token was used (``last_used_at``)."""
    token = session.get(ApiToken, token_id)
    if token is not None:
        token.last_used_at = now or utcnow()


def user_grants(session: Session, user: User) -> Grants:
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user.id)
    rows = session.scalars(
        select(RoleBinding).where(
            RoleBinding.org_id == user.org_id,
            or_(
                (RoleBinding.subject_kind == "user") & (RoleBinding.subject_id == user.id),
                (RoleBinding.subject_kind == "group") & (RoleBinding.subject_id.in_(groups)),
            ),
        )
    )
    bindings = [Binding(Role(b.role), ScopeKind(b.scope_kind), b.scope_id) for b in rows]
    return Grants.from_bindings(user.org_id, bindings)


def load_fleet(session: Session, grants: Grants) -> Fleet:
    """The part of the org's fleet ``grants`` reach: clusters of infra projects, and the
    namespaces of project and workspace grants (nothing for org roles, which see all,
    or for callers without grants). Two indexed queries, whatever the fleet's size."""
    infra = grants.infra_admin | grants.infra_viewer
    projects = grants.project_admin | grants.project_viewer
    workspaces = grants.workspace_admin | grants.workspace_viewer
    if grants.reads_all or grants.org_admin or not (infra or projects or workspaces):
        return Fleet({}, {}, ())
    names: dict[str, str] = {}
    owner: dict[str, str] = {}
    if infra:
        rows = session.execute(
            select(Cluster.id, Cluster.name, Cluster.project_id).where(
                Cluster.org_id == grants.org_id, Cluster.project_id.in_(infra)
            )
        )
        for cid, name, project in rows:
            names[cid], owner[cid] = name, project
    namespaces: list[tuple[str, str, str | None, str | None]] = []
    if projects or workspaces:
        ns_rows = session.execute(
            select(
                Namespace.cluster_id,
                Namespace.name,
                Namespace.project_id,
                Namespace.workspace_id,
                Cluster.name,
            )
            .join(Cluster, Cluster.id == Namespace.cluster_id)
            .where(
                Namespace.org_id == grants.org_id,
                or_(Namespace.project_id.in_(projects), Namespace.workspace_id.in_(workspaces)),
            )
        )
        for cid, ns, ns_project, ns_workspace, cluster_name in ns_rows:
            names.setdefault(cid, cluster_name)
            namespaces.append((cid, ns, ns_project, ns_workspace))
    return Fleet(names, owner, tuple(namespaces))
