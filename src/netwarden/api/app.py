"""The FastAPI application: routers, error handlers, shared services.

``create_app`` takes what the routes need (the flow service, the authenticator) rather
than building it, so the server command, the tests and the demo wire the same app to
their own storage.
"""

from __future__ import annotations

from fastapi import FastAPI

from netwarden import __version__
from netwarden.api import flows, problems
from netwarden.api.auth import Authenticator
from netwarden.flows.service import FlowService


def create_app(*, flow_service: FlowService, authenticator: Authenticator) -> FastAPI:
    app = FastAPI(
        title="Netwarden",
        version=__version__,
        summary="Zero-trust network policy and flow visibility for Kubernetes fleets on Cilium",
    )
    app.state.flows = flow_service
    app.state.authenticator = authenticator
    problems.install(app)
    app.include_router(flows.router)
    app.include_router(flows.metrics_router)

    @app.get("/healthz", tags=["health"], summary="Liveness (no authentication)")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
