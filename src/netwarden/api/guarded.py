"""Control-plane routes: one database session and one :class:`Access` per request, and a
route class that commits only checked requests.

- :func:`access` (a dependency) authenticates the caller (``principal``), refuses agent
  tokens, opens a session and yields the caller's :class:`Access`.
- :class:`GuardedRoute` is the route class of every control-plane router. After the
  handler returns it commits, but only when the handler made an authorization check
  (``Access.checked``); a handler that forgot answers 500 and its changes are rolled
  back, so a missing check can never leak or change data. A refusal
  (:class:`ControlError`) rolls back and records the request's audit denials in a
  transaction of their own. Committing here, before the response is sent, means an
  acknowledged write is durable (FastAPI runs dependency teardown after the response).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from netwarden.api.auth import Principal, principal
from netwarden.api.problems import Problem, problem_response
from netwarden.control.access import Access, Actor, ControlError
from netwarden.control.db import Database

_log = logging.getLogger("netwarden.api")


def access(request: Request, caller: Annotated[Principal, Depends(principal)]) -> Iterator[Access]:
    """The caller's :class:`Access` over a new session; committed by the route class."""
    if caller.grants is None or caller.org is None:
        raise Problem(403, f"{caller.subject} has no access to the control-plane API")
    db: Database = request.app.state.db
    session = db.sessions()
    acc = Access(session, Actor(caller.subject, caller.org, caller.grants))
    request.state.access = acc
    try:
        yield acc
    finally:  # runs after the route class committed (or refused): drop what is left
        session.rollback()
        session.close()


def _write_denials(db: Database, acc: Access) -> None:
    denied = [entry for entry in acc.audit if entry.outcome == "denied"]
    if denied:
        with db.session() as session:
            session.add_all(denied)


Guarded = Annotated[Access, Depends(access)]


class GuardedRoute(APIRoute):
    """Commits a request's changes only after its handler returned having made an
    authorization check; otherwise rolls back and answers 500. A refusal
    (:class:`ControlError`) rolls back and records the request's audit denials."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except ControlError:
                acc = getattr(request.state, "access", None)
                if acc is not None:
                    await run_in_threadpool(_refused, request.app.state.db, acc)
                raise
            acc = getattr(request.state, "access", None)
            if acc is None:
                return response
            if not acc.checked:
                await run_in_threadpool(acc.session.rollback)
                _log.error("%s %s made no authorization check", request.method, request.url.path)
                problem = Problem(500, "the server refused to answer an unchecked request")
                return problem_response(problem, request)
            try:
                await run_in_threadpool(acc.session.commit)
            except IntegrityError:
                await run_in_threadpool(acc.session.rollback)
                problem = Problem(409, "the change conflicts with another one; retry")
                return problem_response(problem, request)
            return response

        return guarded


def _refused(db: Database, acc: Access) -> None:
    acc.session.rollback()
    _write_denials(db, acc)


def control_error_problem(exc: ControlError) -> Problem:
    return Problem(exc.status, exc.detail, errors=exc.errors)
