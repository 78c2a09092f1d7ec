"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every error the API returns has ``type``, ``title``, ``status`` and ``detail``; errors
about submitted content add ``errors``: located messages (line, field path) such as the
decoder's and the policy loader's diagnostics. Request validation errors from FastAPI
are rewritten the same way (``errors[].field`` is the parameter or body path), and no
handler ever returns a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

_log = logging.getLogger("netwarden.api")
PROBLEM_JSON = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid content",
    428: "Precondition required",
    500: "Internal error",
    503: "Unavailable",
}


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}
        self.kind = kind

    def document(self, instance: str = "") -> dict[str, Any]:
        kind = self.kind or _TITLES.get(self.status, "Error").lower().replace(" ", "-")
        out: dict[str, Any] = {
            "type": f"https://netwarden.dev/problems/{kind}",
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            out["instance"] = instance
        if self.errors:
            out["errors"] = self.errors
        return out


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else ""
    return JSONResponse(
        problem.document(instance),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc, request)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        return problem_response(Problem(exc.status_code, str(exc.detail), headers=headers), request)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ())),
                "message": str(err.get("msg", "")),
            }
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(Problem(422, detail, errors=errors), request)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        problem = Problem(500, "the server failed to answer; the error is in its log")
        return problem_response(problem, request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)
