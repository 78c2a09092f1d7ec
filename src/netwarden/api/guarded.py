"""Control-plane routes: one database session and one :class:`Access` per request, and a
route class that commits only checked requests.

- :func:`access` (a dependency) authenticates the caller (``principal``), refuses agent
  tokens, opens a session and yields the caller's :class:`Access`. A request may name
  the git commit it applies (``X-Netwarden-Git-Commit``, sent by the GitOps follower):
  the versions it creates and its audit entries record it.
- :class:`GuardedRoute` is the route class of every control-plane router. It wraps
  each endpoint: when the handler returns, the request's changes are committed, but
  only if it made an authorization check (``Access.checked``); a handler that forgot
  answers 500 and its changes are rolled back, so a missing check can never leak or
  change data. A refusal (:class:`ControlError`) rolls back and records the request's
  audit denials in a transaction of their own. Committing here, before the response is
  sent, means an acknowledged write is durable (FastAPI runs dependency teardown after
  the response).
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from netwarden.api.auth import Principal, principal
from netwarden.api.problems import Problem
from netwarden.control.access import Access, Actor, Conflict, ControlError
from netwarden.control.db import Database

_log = logging.getLogger("netwarden.api")
GIT_COMMIT_HEADER = "X-Netwarden-Git-Commit"
_GIT_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def git_commit(request: Request) -> str:
    """The commit the request says it applies ("" when none), checked: a hex object id."""
    value = request.headers.get(GIT_COMMIT_HEADER, "").strip().lower()
    if value and not _GIT_SHA.match(value):
        raise Problem(422, f"{GIT_COMMIT_HEADER} is not a git object id: {value[:80]!r}")
    return value


def access(request: Request, caller: Annotated[Principal, Depends(principal)]) -> Iterator[Access]:
    """The caller's :class:`Access` over a new session; committed by the route class."""
    if caller.grants is None or caller.org is None:
        raise Problem(403, f"{caller.subject} has no access to the control-plane API")
    commit = git_commit(request)
    db: Database = request.app.state.db
    reads_only = request.method in ("GET", "HEAD") and db.readers is not None
    session = db.readers() if reads_only and db.readers is not None else db.sessions()
    actor = Actor(caller.subject, caller.org, caller.grants)
    acc = Access(session, actor, database=db, git_commit=commit)
    forget = getattr(request.app.state.authenticator, "forget", None)
    if forget is not None:
        acc.after_commit.append(lambda: forget() if acc.identity_changed else None)
    try:
        yield acc
    finally:  # runs after the route class committed (or refused): drop what is left
        session.rollback()
        session.close()


Guarded = Annotated[Access, Depends(access)]


class Unchecked(ControlError):
    """A handler returned without an authorization check: refused, rolled back."""

    status = 500


class GuardedRoute(APIRoute):
    """Wraps each endpoint so that, in the thread that ran it, the request's changes are
    committed only when the handler made an authorization check; otherwise rolled back
    and answered 500. A refusal (:class:`ControlError`) rolls back and records the
    request's audit denials in a transaction of their own.

    Committing inside the endpoint's own worker thread matters: committing later from
    another pool thread can deadlock when every pool thread waits for the SQLite write
    lock the committing request holds."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _guarded(endpoint), **kwargs)


def _guarded(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await endpoint(*args, **kwargs)
            except ControlError:
                await run_in_threadpool(_refused, kwargs)
                raise
            await run_in_threadpool(_finish, kwargs)
            return result

        return run_async

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            result = endpoint(*args, **kwargs)
        except ControlError:
            _refused(kwargs)
            raise
        _finish(kwargs)
        return result

    return run


def _access_of(kwargs: dict[str, Any]) -> Access | None:
    return next((v for v in kwargs.values() if isinstance(v, Access)), None)


def _finish(kwargs: dict[str, Any]) -> None:
    acc = _access_of(kwargs)
    if acc is None:
        return
    if not acc.checked:
        acc.session.rollback()
        _log.error("a %s handler made no authorization check", acc.actor.subject)
        raise Unchecked("the server refused to answer an unchecked request")
    try:
        acc.session.commit()
    except IntegrityError:
        acc.session.rollback()
        raise Conflict("the change conflicts with another one; retry") from None
    for hook in acc.after_commit:
        hook()


def _refused(kwargs: dict[str, Any]) -> None:
    acc = _access_of(kwargs)
    if acc is None:
        return
    acc.session.rollback()
    denied = [entry for entry in acc.audit if entry.outcome == "denied"]
    if denied and acc.database is not None:
        with acc.database.session() as session:
            session.add_all(denied)


def control_error_problem(exc: ControlError) -> Problem:
    return Problem(exc.status, exc.detail, errors=exc.errors)
