"""API test fixtures: an app over an in-memory flow store, principals of every kind, and a
real uvicorn server in a thread for streaming tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from netwarden.api.app import create_app
from netwarden.api.auth import Principal
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.scope import FlowScope
from netwarden.flows.service import FlowService


@dataclass
class TokenTable:
    """Tokens -> principals: the Authenticator protocol over a fixed table (the control
    plane's authenticator reads users, tokens and role bindings from its database)."""

    tokens: Mapping[str, Principal]

    def authenticate(self, token: str) -> Principal | None:
        return self.tokens.get(token)


PRINCIPALS = {
    "org-admin": Principal("alice", FlowScope.all(), fleet_reader=True),
    "infra-c1": Principal("ivan", FlowScope.of(clusters=["c1"])),
    "ws-shop": Principal("wendy", FlowScope.of(namespaces=[("c1", "shop")])),
    "no-flows": Principal("nobody"),
    "agent-c1": Principal("agent:c1", agent_cluster="c1"),
    "agent-c2": Principal("agent:c2", agent_cluster="c2"),
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def flow_service() -> FlowService:
    return FlowService(DuckDBFlowStore())


@pytest.fixture
def app(flow_service: FlowService) -> FastAPI:
    return create_app(flow_service=flow_service, authenticator=TokenTable(PRINCIPALS))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free local port (for server-sent events)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
