"""First start: an empty database gets an org, an admin user bound to Org Admin, and a
one-time admin token (printed once; only its hash is stored)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from netwarden.control.models import Org, Role, RoleBinding, ScopeKind, User
from netwarden.control.tokens import issue_token


@dataclass(frozen=True, slots=True)
class Bootstrap:
    org: Org
    admin: User
    token: str


def bootstrap(
    session: Session, org_name: str = "default", admin: str = "admin"
) -> Bootstrap | None:
    """Create the first org, admin and token when the database has no org; else None."""
    if session.scalar(select(func.count()).select_from(Org)):
        return None
    org = Org(name=org_name)
    session.add(org)
    session.flush()
    user = User(org_id=org.id, name=admin)
    session.add(user)
    session.flush()
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
    _, secret = issue_token(session, org.id, user_id=user.id, name="bootstrap")
    return Bootstrap(org, user, secret)
