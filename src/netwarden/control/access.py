"""The authorization guard every control-plane operation goes through, and the audit log.

An :class:`Access` is one caller's view of the database for one request: it loads
objects *of the caller's org only* (another org's object is :class:`NotFound`, never
:class:`Forbidden`: nothing leaks about it), checks :func:`rbac.decide` with
:meth:`require`, and records every change and every denial in the audit log. The API
builds one per request and fails the request closed when a handler returned without
calling :meth:`require` (``Access.checked``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from netwarden.control.models import AuditEntry, Base
from netwarden.control.rbac import Action, Grants, Target, decide

M = TypeVar("M", bound=Base)


class ControlError(Exception):
    """A refusal the API turns into a problem document."""

    status = 400

    def __init__(self, detail: str, errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)


class NotFound(ControlError):
    status = 404


class Forbidden(ControlError):
    status = 403


class Conflict(ControlError):
    status = 409


class PreconditionFailed(ControlError):
    status = 412


class Invalid(ControlError):
    status = 422


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a user with grants, or the server itself (GitOps, bootstrap)."""

    subject: str
    org_id: str
    grants: Grants


@dataclass
class Access:
    session: Session
    actor: Actor
    checked: bool = False
    database: Any = None  # the Database, to record denials in their own transaction
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # Set by changes to who may see what (tokens, users, bindings, namespaces, clusters):
    # cached principals are dropped after the commit.
    identity_changed: bool = False
    audit: list[AuditEntry] = field(default_factory=list)
    # The git commit the request applies (GitOps): recorded on versions and audit entries.
    git_commit: str = ""

    def require(
        self, action: Action, target: Target, what: str = "", resource_id: str = ""
    ) -> None:
        """Allow or refuse (403, audited) ``action`` on ``target``."""
        self.checked = True
        if decide(self.actor.grants, action, target):
            return
        kind = what.split(" ", 1)[0]
        self.record(action.value, kind, resource_id, what, "denied")
        raise Forbidden(f"{self.actor.subject} may not {action.value}: {what}")

    def allowed(self, action: Action, target: Target) -> bool:
        """A check without refusal (to filter lists); counts as the request's check."""
        self.checked = True
        return decide(self.actor.grants, action, target)

    def get(self, model: type[M], object_id: str, what: str) -> M:
        """An object of the caller's org by id; NotFound for a missing or foreign one."""
        found = self.session.get(model, object_id)
        if found is None or getattr(found, "org_id", None) != self.actor.org_id:
            raise NotFound(f"{what} {object_id!r} not found")
        return found

    def find(self, model: type[M], what: str, **by: Any) -> M:
        """An object of the caller's org by unique fields (e.g. ``name=``)."""
        query = select(model).filter_by(org_id=self.actor.org_id, **by)
        found = self.session.scalars(query).first()
        if found is None:
            shown = ", ".join(f"{k}={v!r}" for k, v in by.items())
            raise NotFound(f"{what} with {shown} not found")
        return found

    def record(
        self,
        action: str,
        kind: str,
        resource_id: str,
        name: str,
        outcome: str = "allowed",
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        detail: str = "",
    ) -> AuditEntry:
        """Add an audit entry (written with the request's transaction; denials in their
        own, so that a refused request still leaves its trace)."""
        if self.git_commit:
            after = {**(after or {}), "git_commit": self.git_commit}
        entry = AuditEntry(
            org_id=self.actor.org_id,
            actor=self.actor.subject,
            action=action,
            resource_kind=kind,
            resource_id=resource_id,
            resource_name=name,
            outcome=outcome,
            detail=detail,
            before=before,
            after=after,
        )
        self.audit.append(entry)
        if outcome == "allowed":
            self.session.add(entry)
        return entry
