"""Who is calling: bearer tokens -> a :class:`Principal`, checked on every route.

The app is built with one :class:`Authenticator` (the control plane's, backed by its
users, API tokens, agent credentials and role bindings). Every router is mounted with
the :func:`principal` dependency, so no route can be reached without it; what a principal
may then see or do is carried by the principal itself (its flow scope, the cluster an
agent token speaks for) and checked by the route through the helpers below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from fastapi import Request

from netwarden.api.problems import Problem
from netwarden.flows.scope import FlowScope


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller and what its role bindings grant."""

    subject: str  # user name, or "agent:<cluster>"
    flow_scope: FlowScope = field(default_factory=FlowScope.nothing)
    agent_cluster: str | None = None  # an agent token: the one cluster it pushes for
    org: str | None = None
    fleet_reader: bool = False  # may read fleet-wide data such as /metrics

    def require_agent_for(self, cluster: str) -> None:
        """Only the cluster's own agent pushes its flows (403 otherwise)."""
        if self.agent_cluster != cluster:
            raise Problem(403, f"{self.subject} may not push flows for cluster {cluster!r}")

    def require_fleet_reader(self) -> None:
        if not self.fleet_reader:
            raise Problem(403, f"{self.subject} may not read fleet-wide metrics")


class Authenticator(Protocol):
    def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid, unexpired, unrevoked token; None otherwise."""
        ...


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def principal(request: Request) -> Principal:
    """The route dependency every router is mounted with: 401 without a valid token."""
    authenticator: Authenticator = request.app.state.authenticator
    token = bearer_token(request)
    found = authenticator.authenticate(token) if token else None
    if found is None:
        detail = "a valid bearer token is required" if token is None else "invalid token"
        raise Problem(401, detail, headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = found
    return found
