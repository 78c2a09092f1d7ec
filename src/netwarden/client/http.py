"""A small typed client for the Netwarden API over httpx.

It speaks the API's conventions in one place: bearer tokens, problem+json errors turned
into :class:`ApiError` (status, detail, located errors), Hubble flow documents decoded
with the same decoder as files, server-sent events for the live tail. The control-plane
routes (projects, clusters, policies, ...) come from :class:`ControlRoutes`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from netwarden.client.control import ControlRoutes
from netwarden.flows.decode import Skipped, decode_object
from netwarden.flows.filter_core import FlowFilter
from netwarden.flows.flowjson import FieldError
from netwarden.model.flow import Flow

DEFAULT_TIMEOUT = 30.0


@dataclass
class ApiError(Exception):
    """An error answer (or no answer) from the server, ready to show to a user."""

    status: int
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        where = "" if self.status == 0 else f" ({self.status})"
        lines = [f"{self.detail}{where}"]
        lines += [f"  {_located(e)}: {e.get('message', '')}" for e in self.errors]
        return "\n".join(lines)


def _located(error: dict[str, Any]) -> str:
    line = error.get("line")
    field_path = str(error.get("field") or "")
    if line:
        return f"line {line} {field_path}".rstrip()
    return field_path or "-"


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One server-sent event of the live tail: a flow, or how many flows were lost."""

    flow: Flow | None = None
    lost: int = 0


class NetwardenClient(ControlRoutes):
    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        headers: dict[str, str] | None = None,
    ) -> None:
        """``headers``: sent with every request (e.g. the GitOps follower's
        ``X-Netwarden-Git-Commit``)."""
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NetwardenClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def send(self, method: str, path: str, **kwargs: Any) -> None:
        self.request(method, path, **kwargs)

    # --- flows ---------------------------------------------------------------------------

    def query_flows(
        self,
        whitelist: Sequence[FlowFilter] = (),
        blacklist: Sequence[FlowFilter] = (),
        *,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
        last: bool = False,
        order: str = "asc",
    ) -> list[Flow]:
        body = {
            "whitelist": [f.to_json() for f in whitelist],
            "blacklist": [f.to_json() for f in blacklist],
            "since": since,
            "until": until,
            "limit": limit,
            "last": last,
            "order": order,
        }
        found = self.json("POST", "/api/v1/flows/query", json=body)
        return [_flow(item) for item in found["flows"]]

    def stream_flows(
        self,
        whitelist: Sequence[FlowFilter] = (),
        blacklist: Sequence[FlowFilter] = (),
    ) -> Iterator[LiveEvent]:
        """Live flows until the server closes the stream (or the caller stops reading)."""
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("filter", json.dumps(f.to_json())) for f in whitelist
        ]
        params += [("exclude", json.dumps(f.to_json())) for f in blacklist]
        timeout = httpx.Timeout(DEFAULT_TIMEOUT, read=None)
        try:
            with self._http.stream(
                "GET", "/api/v1/flows/stream", params=params, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                yield from _events(response.iter_lines())
        except httpx.HTTPError as exc:
            raise ApiError(0, f"live stream from {self.base_url} ended: {exc}") from None

    def push_flows(
        self, cluster: str, body: bytes, *, batch: str | None = None, gzipped: bool = False
    ) -> dict[str, Any]:
        headers = {"Content-Type": "application/x-ndjson"}
        if batch:
            headers["X-Netwarden-Batch"] = batch
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        ack: dict[str, Any] = self.json(
            "POST", f"/api/v1/clusters/{cluster}/flows", content=body, headers=headers
        )
        return ack


def _events(lines: Iterator[str]) -> Iterator[LiveEvent]:
    kind = ""
    for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
            if kind == "lost":
                yield LiveEvent(lost=int(data["lost"]))
            elif kind == "flow":
                yield LiveEvent(flow=_flow(data))


def _flow(document: dict[str, Any]) -> Flow:
    try:
        decoded = decode_object(document)
    except FieldError as exc:
        raise ApiError(0, f"the server sent a flow that does not decode: {exc}") from None
    if isinstance(decoded, Skipped):
        raise ApiError(0, f"the server sent a {decoded.kind} event where a flow was expected")
    return decoded


def _error(response: httpx.Response) -> ApiError:
    try:
        problem = response.json()
    except ValueError:
        return ApiError(response.status_code, response.text.strip()[:500] or response.reason_phrase)
    if not isinstance(problem, dict):
        return ApiError(response.status_code, str(problem)[:500])
    return ApiError(
        response.status_code,
        str(problem.get("detail") or problem.get("title") or response.reason_phrase),
        list(problem.get("errors") or []),
    )
