"""What versioned objects (policies, blueprints) share: fetching a version, and the
ETag check that refuses a change made against an older version (lost updates)."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import select

from netwarden.control.access import Access, NotFound, PreconditionFailed
from netwarden.control.models import Base


class Versioned(Protocol):
    id: Any
    name: Any
    version: Any


V = TypeVar("V", bound=Base)


def fetch_version(
    acc: Access, model: type[V], owner: str, parent: Versioned, number: int, what: str
) -> V:
    """Version ``number`` of ``parent`` (rows of ``model`` keyed by ``owner``)."""
    query = select(model).filter_by(**{owner: parent.id, "version": number})
    found = acc.session.scalars(query).first()
    if found is None:
        raise NotFound(f"version {number} of {what} {parent.name} not found")
    return found


def check_version(parent: Versioned, expected: int | None, what: str) -> None:
    """412 when the caller's ETag (``expected``) is not the current version."""
    if expected is not None and expected != parent.version:
        raise PreconditionFailed(
            f"{what} {parent.name} is at version {parent.version}, not {expected}: "
            "someone changed it since you read it; reload and reapply"
        )
