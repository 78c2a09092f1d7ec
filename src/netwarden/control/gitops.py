"""The GitOps follower's identity: user ``gitops`` of the followed org, bound Org Admin
by the server at each start, with a token issued at each start and kept in memory (never
printed). The tokens of earlier starts are revoked, so only the running follower's
works: configure GitOps on one server of a fleet of replicas."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from netwarden.control.access import NotFound
from netwarden.control.models import ApiToken, Org, Role, RoleBinding, ScopeKind, User, utcnow
from netwarden.control.tokens import issue_token

GITOPS_USER = "gitops"
TOKEN_NAME = "gitops follower"


def gitops_identity(session: Session, org_name: str) -> tuple[str, str]:
    """(org id, a new token secret) for user ``gitops`` of org ``org_name``: the user and
    its Org Admin binding are created when missing, older follower tokens revoked."""
    org = session.scalars(select(Org).filter_by(name=org_name)).first()
    if org is None:
        raise NotFound(f"gitops: org {org_name!r} not found")
    user = session.scalars(select(User).filter_by(org_id=org.id, name=GITOPS_USER)).first()
    if user is None:
        user = User(org_id=org.id, name=GITOPS_USER, email="")
        session.add(user)
        session.flush()
    bound = session.scalars(
        select(RoleBinding).filter_by(
            org_id=org.id, subject_kind="user", subject_id=user.id, role=Role.ORG_ADMIN.value
        )
    ).first()
    if bound is None:
        session.add(
            RoleBinding(
                org_id=org.id,
                subject_kind="user",
                subject_id=user.id,
                role=Role.ORG_ADMIN.value,
                scope_kind=ScopeKind.ORG.value,
                scope_id=org.id,
            )
        )
    now = utcnow()
    for token in session.scalars(
        select(ApiToken).filter_by(user_id=user.id, name=TOKEN_NAME, revoked_at=None)
    ):
        token.revoked_at = now
    _, secret = issue_token(session, org.id, user_id=user.id, name=TOKEN_NAME)
    return org.id, secret
