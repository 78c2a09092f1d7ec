"""The FastAPI application: routers, error handlers, shared services.

``create_app`` takes what the routes need (the flow service, the authenticator, the
control-plane database) rather than building it, so the server command, the tests and
the demo wire the same app to their own storage.
"""

from __future__ import annotations

import secrets

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from netwarden import __version__
from netwarden.api import (
    agent,
    blueprints,
    console,
    flows,
    gitops,
    org,
    policies,
    preview,
    problems,
    recommendations,
    validate,
)
from netwarden.api.auth import Authenticator
from netwarden.api.guarded import control_error_problem
from netwarden.control.access import ControlError
from netwarden.control.db import Database
from netwarden.control.desired import GenerationWatch
from netwarden.control.preview import PreviewGate
from netwarden.flows.service import FlowService


def create_app(
    *,
    flow_service: FlowService,
    authenticator: Authenticator,
    db: Database | None = None,
    preview_gate: PreviewGate | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Netwarden",
        version=__version__,
        summary="Zero-trust network policy and flow visibility for Kubernetes fleets on Cilium",
    )
    app.state.flows = flow_service
    app.state.authenticator = authenticator
    app.state.db = db
    app.state.generations = GenerationWatch()  # wakes agents' long polls
    app.router.add_event_handler("startup", _more_worker_threads)
    # Without a configured gate: a secret of this process, production = env=prod.
    app.state.preview = preview_gate or PreviewGate(secrets.token_bytes(32))
    problems.install(app)

    async def on_control_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ControlError)
        return problems.problem_response(control_error_problem(exc), request)

    app.add_exception_handler(ControlError, on_control_error)
    app.include_router(flows.router)
    app.include_router(flows.metrics_router)
    if db is not None:
        app.include_router(org.router)
        app.include_router(validate.router)  # before policies: /policies/validate
        app.include_router(policies.router)
        app.include_router(recommendations.router)
        app.include_router(blueprints.router)
        app.include_router(preview.router)
        app.include_router(agent.router)
        app.include_router(gitops.router)

    @app.get("/healthz", tags=["health"], summary="Liveness (no authentication)")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    console.install(app)  # last: the console's fallback answers any other path
    return app


WORKER_THREADS = 200


def _more_worker_threads() -> None:
    """Sync routes run on AnyIO's worker threads (40 by default). A fleet's agents report
    at once after a change, and their writes queue for SQLite's single writer: with only
    40 threads, reads (other agents' long polls, people's requests) waited behind them
    for a thread. Threads waiting on the writer queue or I/O cost little."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
