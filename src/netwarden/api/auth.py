"""Who is calling: bearer tokens -> a :class:`Principal`, checked on every route.

The app is built with one :class:`Authenticator` (the control plane's, backed by its
users, API tokens, agent credentials and role bindings). Every router is mounted with
the :func:`principal` dependency, so no route can be reached without it; what a principal
may then see or do is carried by the principal itself (its flow scope, the cluster an
agent token speaks for) and checked by the route through the helpers below.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import Request
from sqlalchemy.exc import OperationalError

from netwarden.api.problems import Problem
from netwarden.control.db import Database
from netwarden.control.rbac import Grants, flow_scope
from netwarden.control.tokens import hash_secret, load_fleet, resolve, touch
from netwarden.flows.scope import FlowScope


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller and what its role bindings grant."""

    subject: str  # user name, or "agent:<cluster>"
    flow_scope: FlowScope = field(default_factory=FlowScope.nothing)
    agent_cluster: str | None = None  # an agent token: the one cluster it pushes for
    org: str | None = None
    fleet_reader: bool = False  # may read fleet-wide data such as /metrics
    grants: Grants | None = None  # a user's role bindings (None: an agent)

    def require_agent_for(self, cluster: str) -> None:
        """Only the cluster's own agent pushes its flows (403 otherwise)."""
        if self.agent_cluster != cluster:
            raise Problem(403, f"{self.subject} may not push flows for cluster {cluster!r}")

    def require_fleet_reader(self) -> None:
        if not self.fleet_reader:
            raise Problem(403, f"{self.subject} may not read fleet-wide metrics")


_log = logging.getLogger("netwarden.api")


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


class ControlPlaneAuthenticator:
    """Tokens from the control plane's database: users get their grants and the flow
    scope those grants give (DESIGN.md roles); agent tokens speak for their cluster.

    A principal is cached for ``ttl`` seconds (default 2) by the token's hash, so a
    burst of requests costs one lookup; a revocation, a disabled user or a changed role
    binding therefore takes effect within ``ttl`` seconds on every server (the cache
    is per process and holds at most ``max_entries`` tokens). Unknown tokens are not
    cached."""

    def __init__(self, db: Database, *, ttl: float = 2.0, max_entries: int = 10_000) -> None:
        self.db = db
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def authenticate(self, token: str) -> Principal | None:
        key = hash_secret(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self._lookup(token)
        if found is not None and self.ttl > 0:
            with self._lock:
                if len(self._cache) >= self.max_entries:
                    self._cache.clear()
                self._cache[key] = (now + self.ttl, found)
        return found

    def forget(self) -> None:
        """Drop every cached principal (tests; after bulk permission changes)."""
        with self._lock:
            self._cache.clear()

    def _lookup(self, token: str) -> Principal | None:
        with self.db.read_session() as session:
            identity = resolve(session, token, touch=False)
            if identity is None:
                return None
            if identity.stale_use:
                self._touch(identity.token_id)
            if identity.cluster is not None:
                name = identity.cluster.name
                return Principal(f"agent:{name}", agent_cluster=name, org=identity.org_id)
            assert identity.user is not None and identity.grants is not None
            grants = identity.grants
            scope = flow_scope(grants, load_fleet(session, grants))
            return Principal(
                identity.user.name,
                flow_scope=scope,
                org=identity.org_id,
                fleet_reader=grants.org_admin or grants.org_viewer,
                grants=grants,
            )

    def _touch(self, token_id: str) -> None:
        """Best effort: a busy database must not fail the request over a timestamp."""
        try:
            with self.db.session() as session:
                touch(session, token_id)
        except OperationalError:
            _log.warning("could not record the use of token %s", token_id)
