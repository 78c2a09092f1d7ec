"""The agent's side of the agent protocol, over the API client
(:class:`netwarden.client.http.NetwardenClient`).

Routes (the cluster is always the token's):

- ``GET /api/v1/agent/desired-state?after=N&wait=S``: long-poll the desired state;
- ``POST /api/v1/agent/inventory``: what the cluster holds (registration);
- ``POST /api/v1/agent/status``: applied generation, per-object results, drift,
  unmanaged objects, the spool's counters (also the heartbeat);
- ``POST /api/v1/clusters/{cluster}/flows``: a gzip-compressed flow batch named by
  ``X-Netwarden-Batch``; the answer is the acknowledgement.

Every failure is an :class:`ApiError`; :func:`classify` says what the agent does about
it: stop (the token is revoked or the cluster deleted), retry with backoff (no answer,
the server is overloaded or failing), or give up on that one request (the server
refuses its content).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from netwarden.client.http import ApiError, NetwardenClient

Outcome = Literal["fatal", "retry", "reject"]
RETRYABLE = frozenset({0, 408, 425, 429, 500, 502, 503, 504})
EXTRA_POLL_TIMEOUT_S = 15.0


class Fatal(Exception):
    """The agent must stop: its token no longer works or its cluster is gone."""


def classify(error: ApiError) -> Outcome:
    if error.status in (401, 403, 404):
        return "fatal"
    if error.status in RETRYABLE or error.status >= 500:
        return "retry"
    return "reject"


def fatal_message(error: ApiError) -> str:
    if error.status == 401:
        return f"the server refused the cluster token ({error.detail}): revoked or expired"
    if error.status == 403:
        return f"the server refused the agent ({error.detail})"
    return f"the cluster is gone ({error.detail})"


def route_missing(error: ApiError) -> bool:
    """The server has no such route (an older server), as opposed to a 404 about the
    cluster."""
    return error.status == 405 or (error.status == 404 and error.detail == "Not Found")


@dataclass(frozen=True, slots=True)
class DesiredState:
    cluster: str
    generation: int
    objects: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    changed: bool = True

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DesiredState:
        return cls(
            cluster=str(doc["cluster"]),
            generation=int(doc["generation"]),
            objects=list(doc.get("objects") or []),
            settings={str(k): str(v) for k, v in (doc.get("settings") or {}).items()},
            changed=bool(doc.get("changed", True)),
        )


class AgentChannel:
    """One HTTP connection to the server; use one per thread."""

    def __init__(self, server: str, token: str, *, timeout: float = 30.0) -> None:
        self.server = server
        self._client = NetwardenClient(server, token, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def desired_state(self, after: int, wait: float) -> DesiredState:
        params = {"after": str(after), "wait": str(wait)}
        doc = self._client.json(
            "GET",
            "/api/v1/agent/desired-state",
            params=params,
            timeout=wait + EXTRA_POLL_TIMEOUT_S,
        )
        return DesiredState.from_json(doc)

    def report_status(self, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._client.json("POST", "/api/v1/agent/status", json=body)
        return answer

    def send_inventory(self, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._client.json("POST", "/api/v1/agent/inventory", json=body)
        return answer

    def push_flows(self, cluster: str, body: bytes, batch: str) -> dict[str, Any]:
        """Post one gzip-compressed batch; the answer is the server's acknowledgement."""
        return self._client.push_flows(cluster, body, batch=batch, gzipped=True)
