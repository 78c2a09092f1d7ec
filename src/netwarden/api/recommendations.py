"""Recommendation routes: per-namespace status, one workload's recommended policy with
its evidence, proof and side-by-side comparison, accepting it, and traffic drift. The
rules live in :mod:`netwarden.control.recommendations`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from netwarden.api.auth import Principal, principal
from netwarden.api.guarded import Guarded, GuardedRoute
from netwarden.api.policies import PreviewToken, require_preview
from netwarden.api.problems import Problem
from netwarden.control import policies
from netwarden.control import recommendations as service
from netwarden.control.models import Cluster
from netwarden.control.preview import Draft
from netwarden.flows.service import FlowService
from netwarden.flows.timeparse import duration_seconds, parse_time

router = APIRouter(prefix="/api/v1", tags=["recommendations"], route_class=GuardedRoute)
Caller = Annotated[Principal, Depends(principal)]
Since = Annotated[
    str, Query(description="Start of the learning window: RFC 3339 or a duration (7d).")
]
Until = Annotated[str | None, Query(description="End of the window (default: now).")]
MinLearning = Annotated[
    str,
    Query(description="A workload seen for less than this is not learned yet (24h)."),
]
Fmt = Annotated[
    Literal["cilium", "k8s"],
    Query(description="cilium: CiliumNetworkPolicy; k8s: NetworkPolicy."),
]
ExternalIPs = Annotated[
    bool,
    Query(description="Learn external addresses reached without a DNS name (as /32)."),
]


class AcceptIn(BaseModel):
    format: Literal["cilium", "k8s"] = "cilium"
    since: str = "7d"
    until: str | None = None
    min_learning: str = "24h"
    allow_external_ips: bool = False
    message: str = Field("", description="Added to the version message.")


def window(since: str, until: str | None, min_learning: str) -> service.Window:
    try:
        start = parse_time(since)
        end = parse_time(until) if until else parse_time("0s")
        learning = int(duration_seconds(min_learning) * 1e9)
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
    if start > end:
        raise Problem(422, "since is after until")
    return service.Window(start, end, learning)


def flows_of(request: Request) -> FlowService:
    flows: FlowService = request.app.state.flows
    return flows


@router.get(
    "/clusters/{cluster_id}/namespaces/{namespace}/recommendations",
    summary="Each workload's status (policy applied, recommendation available, not enough "
    "runtime data) with counts",
)
def list_recommendations(
    cluster_id: str,
    namespace: str,
    acc: Guarded,
    caller: Caller,
    request: Request,
    since: Since = "7d",
    until: Until = None,
    min_learning: MinLearning = "24h",
    format: Fmt = "cilium",
    allow_external_ips: ExternalIPs = False,
) -> dict[str, Any]:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    win = window(since, until, min_learning)
    options = service.options_for(format, win, allow_external_ips)
    return service.namespace_report(
        acc, flows_of(request), caller.flow_scope, cluster, namespace, win, options
    )


@router.get(
    "/clusters/{cluster_id}/namespaces/{namespace}/recommendations/{workload}",
    summary="A workload's recommended policy: YAML, evidence per rule, proof, current vs "
    "recommended (text and connection diff), drift",
)
def get_recommendation(
    cluster_id: str,
    namespace: str,
    workload: str,
    acc: Guarded,
    caller: Caller,
    request: Request,
    since: Since = "7d",
    until: Until = None,
    min_learning: MinLearning = "24h",
    format: Fmt = "cilium",
    allow_external_ips: ExternalIPs = False,
) -> dict[str, Any]:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    win = window(since, until, min_learning)
    options = service.options_for(format, win, allow_external_ips)
    return service.workload_report(
        acc, flows_of(request), caller.flow_scope, cluster, namespace, workload, win, options
    )


@router.post(
    "/clusters/{cluster_id}/namespaces/{namespace}/recommendations/{workload}/accept",
    status_code=201,
    summary="Accept a recommendation: a new version of the namespace policy (audited)",
)
def accept_recommendation(
    cluster_id: str,
    namespace: str,
    workload: str,
    body: AcceptIn,
    acc: Guarded,
    caller: Caller,
    request: Request,
    response: Response,
    preview_token: PreviewToken = None,
) -> dict[str, Any]:
    """On a production cluster, send the token of a preview of the recommended YAML
    (``POST /clusters/{id}/preview`` with the ``yaml`` of the GET), as for any policy."""
    cluster = acc.get(Cluster, cluster_id, "cluster")
    win = window(body.since, body.until, body.min_learning)
    options = service.options_for(body.format, win, body.allow_external_ips)

    def gate(text: str) -> None:
        require_preview(request, acc, cluster.id, Draft("policy", yaml=text), preview_token)

    policy = service.accept(
        acc,
        flows_of(request),
        caller.flow_scope,
        cluster,
        namespace,
        workload,
        win,
        options,
        body.message,
        check=gate,
    )
    response.headers["ETag"] = f'"v{policy.version}"'
    return policies.policy_doc(policy, policies.current(acc, policy))


@router.get(
    "/clusters/{cluster_id}/namespaces/{namespace}/drift",
    summary="Traffic drift: new traffic the workloads' current policies deny, with its flows",
)
def get_drift(
    cluster_id: str,
    namespace: str,
    acc: Guarded,
    caller: Caller,
    request: Request,
    since: Since = "7d",
    until: Until = None,
) -> dict[str, Any]:
    cluster = acc.get(Cluster, cluster_id, "cluster")
    win = window(since, until, "0s")
    return service.drift_report(acc, flows_of(request), caller.flow_scope, cluster, namespace, win)
