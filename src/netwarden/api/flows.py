"""Flow routes: agent ingestion, scoped queries and aggregations, live tail (SSE), metrics.

- ``POST /api/v1/clusters/{cluster}/flows``: an agent pushes a batch of Hubble JSON lines
  (``Content-Encoding: gzip`` accepted; ``X-Netwarden-Batch`` names the batch). The
  response is the acknowledgement, sent only after the batch is committed; sending the
  same batch again stores nothing twice.
- ``GET /api/v1/flows`` and ``POST /api/v1/flows/query``: stored flows, Hubble
  ``FlowFilter`` JSON for the whitelist (``filter``) and blacklist (``exclude``), exactly
  as ``hubble observe --print-raw-filters`` prints them.
- ``GET /api/v1/flows/stream``: server-sent events of flows as they are ingested
  (``event: flow``), ``event: lost`` when this reader was too slow and lost flows.
- ``GET /api/v1/flows/{service-map,top-talkers,drops,world,policy-hits}``: aggregations.

Every route reads flows through the caller's :class:`FlowScope` (``FlowService.query``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from netwarden.api.auth import Principal, principal
from netwarden.api.problems import Problem
from netwarden.flows import aggregates
from netwarden.flows.filter_core import FlowFilter
from netwarden.flows.filter_types import FilterError
from netwarden.flows.flowencode import flow_to_json, format_time
from netwarden.flows.service import FlowService, IngestAck
from netwarden.flows.timeparse import parse_time
from netwarden.model.flow import Flow

MAX_BATCH_BYTES = 64 * 1024 * 1024
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
KEEPALIVE_S = 15.0

router = APIRouter(prefix="/api/v1", tags=["flows"], dependencies=[Depends(principal)])
metrics_router = APIRouter(tags=["metrics"], dependencies=[Depends(principal)])
Caller = Annotated[Principal, Depends(principal)]
Filters = Annotated[
    list[str] | None,
    Query(description="A Hubble FlowFilter as JSON (repeatable: any of them matches)."),
]
Excludes = Annotated[
    list[str] | None,
    Query(description="A Hubble FlowFilter as JSON that removes flows (repeatable)."),
]
When = Annotated[
    str | None, Query(description="RFC 3339 time, or a duration before now (5m, 1h, 7d).")
]


def service(request: Request) -> FlowService:
    flows: FlowService = request.app.state.flows
    return flows


Service = Annotated[FlowService, Depends(service)]


class FlowQuery(BaseModel):
    """``POST /api/v1/flows/query``: the body form of ``GET /api/v1/flows``."""

    whitelist: list[dict[str, Any]] = Field(default_factory=list)
    blacklist: list[dict[str, Any]] = Field(default_factory=list)
    since: str | None = None
    until: str | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    order: Literal["asc", "desc"] = "asc"
    last: bool = False  # the last ``limit`` flows (in time order), like hubble --last


def parse_filters(values: Sequence[str | dict[str, Any]], name: str) -> list[FlowFilter]:
    """FlowFilter JSON -> filters, or a 400 problem naming the bad one."""
    out: list[FlowFilter] = []
    for i, value in enumerate(values):
        try:
            obj = json.loads(value) if isinstance(value, str) else value
            if not isinstance(obj, dict):
                raise FilterError("a FlowFilter is a JSON object")
            out.append(FlowFilter.from_json(obj))
        except (ValueError, FilterError) as exc:
            raise Problem(
                400, f"{name}[{i}]: {exc}", errors=[{"field": f"{name}[{i}]", "message": str(exc)}]
            ) from None
    return out


def parse_when(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise Problem(
            400, f"{name}: {exc}", errors=[{"field": name, "message": str(exc)}]
        ) from None


def flow_document(flow: Flow) -> dict[str, Any]:
    """A flow as ``hubble observe -o jsonpb`` prints it: the GetFlowsResponse envelope."""
    out: dict[str, Any] = {"flow": flow_to_json(flow), "node_name": flow.node_name}
    if flow.time is not None:
        out["time"] = format_time(flow.time)
    return out


# --- ingestion ---------------------------------------------------------------------------


@router.post("/clusters/{cluster}/flows", summary="Push a batch of flows (agents)")
async def ingest(cluster: str, request: Request, caller: Caller, flows: Service) -> Any:
    caller.require_agent_for(cluster)
    body = await _read_body(request)
    encoding = request.headers.get("content-encoding", "identity").lower()
    batch = request.headers.get("x-netwarden-batch") or None
    # Decompressing is CPU work: in the worker thread, not on the event loop.
    ack = await run_in_threadpool(_ingest, flows, body, encoding, cluster, batch)
    return ack.to_dict()


def _ingest(
    flows: FlowService, body: bytes, encoding: str, cluster: str, batch: str | None
) -> IngestAck:
    if encoding == "gzip":
        try:
            body = _gunzip(body)
        except OSError as exc:
            raise Problem(400, f"the gzip body does not decompress: {exc}") from None
    return flows.ingest_body(body, cluster, batch=batch)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
        raise Problem(413, f"a batch is at most {MAX_BATCH_BYTES} bytes")
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding not in ("gzip", "identity"):
        raise Problem(415, f"Content-Encoding {encoding!r}: only gzip is accepted")
    return await request.body()


def _gunzip(body: bytes) -> bytes:
    """The decompressed body (every gzip member of it), at most ``MAX_BATCH_BYTES``.

    Arrow's gzip stream, not ``zlib``: it inflates without holding the GIL (CPython's
    ``zlib`` holds it, about 4 µs a flow of the server's one interpreter at the agents'
    batches), reads concatenated members as one body, and fails on a truncated or
    corrupt stream (``OSError``)."""
    stream = pa.CompressedInputStream(pa.BufferReader(body), "gzip")
    out = stream.read(MAX_BATCH_BYTES + 1)
    if len(out) > MAX_BATCH_BYTES:
        raise Problem(413, f"a batch is at most {MAX_BATCH_BYTES} bytes decompressed")
    return bytes(out)


# --- queries -----------------------------------------------------------------------------


@router.get("/flows", summary="Stored flows in the caller's scope")
def list_flows(
    caller: Caller,
    flows: Service,
    filter: Filters = None,
    exclude: Excludes = None,
    since: When = None,
    until: When = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    order: Literal["asc", "desc"] = "asc",
    last: bool = False,
) -> dict[str, Any]:
    query = FlowQuery(
        whitelist=[], blacklist=[], since=since, until=until, limit=limit, order=order, last=last
    )
    white = parse_filters(filter or [], "filter")
    black = parse_filters(exclude or [], "exclude")
    return _run_query(caller, flows, query, white, black)


@router.post("/flows/query", summary="Stored flows in the caller's scope (filters in the body)")
def query_flows(caller: Caller, flows: Service, query: FlowQuery) -> dict[str, Any]:
    white = parse_filters(query.whitelist, "whitelist")
    black = parse_filters(query.blacklist, "blacklist")
    return _run_query(caller, flows, query, white, black)


def _run_query(
    caller: Principal,
    flows: FlowService,
    query: FlowQuery,
    white: list[FlowFilter],
    black: list[FlowFilter],
) -> dict[str, Any]:
    since, until = parse_when(query.since, "since"), parse_when(query.until, "until")
    order: Literal["asc", "desc"] = "desc" if query.last else query.order
    found = flows.query(
        caller.flow_scope, white, black, since=since, until=until, limit=query.limit, order=order
    )
    if query.last:
        found.reverse()
    return {"flows": [flow_document(f) for f in found], "count": len(found)}


@router.get("/flows/scope", summary="The flows the caller may see")
def flow_scope(caller: Caller) -> dict[str, object]:
    return caller.flow_scope.describe()


# --- aggregations ------------------------------------------------------------------------


@router.get("/flows/service-map", summary="Workload-to-workload edges with counts")
def service_map(
    caller: Caller,
    flows: Service,
    since: When = "1h",
    until: When = None,
    namespace: Annotated[list[str] | None, Query()] = None,
    verdict: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    edges = aggregates.service_map(
        flows,
        caller.flow_scope,
        since=parse_when(since, "since"),
        until=parse_when(until, "until"),
        namespaces=namespace or (),
        verdicts=verdict or (),
    )
    return {"edges": [e.to_dict() for e in edges]}


@router.get("/flows/top-talkers", summary="Source workloads with the most flows")
def top_talkers(
    caller: Caller,
    flows: Service,
    since: When = "1h",
    until: When = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> dict[str, Any]:
    rows = aggregates.top_talkers(
        flows,
        caller.flow_scope,
        since=parse_when(since, "since"),
        until=parse_when(until, "until"),
        limit=limit,
    )
    return {
        "talkers": [{**n.to_dict(), "flows": c, "verdicts": v} for n, c, v in rows],
    }


@router.get("/flows/drops", summary="Dropped flows by reason and by policy")
def drops(caller: Caller, flows: Service, since: When = "1h", until: When = None) -> Any:
    window = {"since": parse_when(since, "since"), "until": parse_when(until, "until")}
    by_reason = aggregates.drops_by_reason(flows, caller.flow_scope, **window)
    by_policy = aggregates.drops_by_policy(flows, caller.flow_scope, **window)
    return {
        "by_reason": [{"reason": r, "flows": n} for r, n in by_reason],
        "by_policy": [{"policy": p, "flows": n} for p, n in by_policy],
    }


@router.get("/flows/world", summary="Flows to the world (outside the cluster) by FQDN")
def world(caller: Caller, flows: Service, since: When = "1h", until: When = None) -> Any:
    rows = aggregates.world_by_fqdn(
        flows, caller.flow_scope, since=parse_when(since, "since"), until=parse_when(until, "until")
    )
    return {"destinations": [{"name": n, "verdicts": v} for n, v in rows]}


@router.get("/flows/policy-hits", summary="Flows allowed and denied per policy")
def policy_hits(caller: Caller, flows: Service, since: When = "24h", until: When = None) -> Any:
    rows = aggregates.policy_hits(
        flows, caller.flow_scope, since=parse_when(since, "since"), until=parse_when(until, "until")
    )
    return {"policies": rows}


# --- live tail ---------------------------------------------------------------------------


@router.get("/flows/stream", summary="Live flows as server-sent events")
async def stream(
    request: Request,
    caller: Caller,
    flows: Service,
    filter: Filters = None,
    exclude: Excludes = None,
    buffer: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> StreamingResponse:
    white = parse_filters(filter or [], "filter")
    black = parse_filters(exclude or [], "exclude")
    sub = flows.subscribe(caller.flow_scope, white, black, buffer=buffer)
    return StreamingResponse(
        _events(request, sub),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(request: Request, sub: Any) -> AsyncIterator[bytes]:
    try:
        yield b": netwarden live flows\n\n"
        while not sub.closed:
            batch = await sub.aget(timeout=KEEPALIVE_S)
            if batch.lost:
                yield _event("lost", {"lost": batch.lost})
            if batch.flows:
                yield b"".join(_event("flow", flow_document(f)) for _, f in batch.flows)
            elif not batch.lost:
                if await request.is_disconnected():
                    break
                yield b": keepalive\n\n"
    finally:
        sub.close()


def _event(kind: str, data: object) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


# --- metrics -----------------------------------------------------------------------------


@metrics_router.get("/metrics", summary="Prometheus metrics (fleet-wide readers only)")
def metrics(caller: Caller, flows: Service) -> Response:
    caller.require_fleet_reader()
    return Response(flows.metrics.exposition(), media_type="text/plain; version=0.0.4")
