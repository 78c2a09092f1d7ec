"""The flow service: acknowledged ingestion, dedup, the scope guarantee, live tail, metrics,
aggregations and attribution with the policies in force at the flow's time."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netwarden.engine.world import World
from netwarden.flows import aggregates
from netwarden.flows.decode import decode_lines
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.filter_core import FlowFilter
from netwarden.flows.live import LiveHub
from netwarden.flows.metrics import FlowMetrics, flow_protocol, flow_type
from netwarden.flows.pushed import stamp_cluster
from netwarden.flows.scope import FlowScope
from netwarden.flows.service import FlowService
from netwarden.flows.store import flow_cluster
from netwarden.flows.timeline import NO_SNAPSHOT, PolicyTimeline, with_attribution
from netwarden.model.flow import (
    IP,
    TCP,
    CiliumEventType,
    DropReason,
    Flow,
    FlowEndpoint,
    IPVersion,
    Layer4,
    TrafficDirection,
    Verdict,
    Workload,
)
from netwarden.sources.loader import load_text
from tests.flows.samples import sample_lines

TCP_SAMPLE = "hubble-otel-basic-sample-400-tcp-flows.jsonl"
T0 = 1_700_000_000_000_000_000
MINUTE = 60 * 1_000_000_000


def flow(
    i: int,
    src_ns: str,
    dst_ns: str,
    *,
    verdict: Verdict = Verdict.FORWARDED,
    port: int = 8080,
    src_wl: str = "client",
    dst_wl: str = "server",
    node: str = "node-1",
    time: int | None = None,
) -> Flow:
    return Flow(
        time=T0 + i * 1_000_000 if time is None else time,
        uuid=f"uuid-{i}",
        verdict=verdict,
        drop_reason_desc=DropReason.POLICY_DENIED if verdict is Verdict.DROPPED else (
            DropReason.DROP_REASON_UNKNOWN
        ),
        IP=IP("10.0.0.1", "10.0.0.2", IPVersion.IPv4),
        l4=Layer4(TCP=TCP(40000 + i % 1000, port)),
        source=FlowEndpoint(
            identity=1000, namespace=src_ns, pod_name=f"{src_wl}-0",
            workloads=(Workload(src_wl, "Deployment"),) if src_wl else (),
        ),
        destination=FlowEndpoint(
            identity=2000, namespace=dst_ns, pod_name=f"{dst_wl}-0",
            workloads=(Workload(dst_wl, "Deployment"),) if dst_wl else (),
        ),
        node_name=node,
        event_type=CiliumEventType(1 if verdict is Verdict.DROPPED else 4),
        traffic_direction=TrafficDirection.INGRESS,
    )  # fmt: skip


@pytest.fixture
def service() -> FlowService:
    return FlowService(DuckDBFlowStore())


# --- scope -------------------------------------------------------------------------------


def test_scope_sees_a_flow_when_either_end_is_in_scope() -> None:
    scope = FlowScope.of(namespaces=[("c1", "shop")])
    assert scope.sees("c1", "shop", "db")
    assert scope.sees("c1", "web", "shop")
    assert not scope.sees("c1", "web", "db")
    assert not scope.sees("c2", "shop", "shop")  # same namespace name, other cluster
    assert FlowScope.of(clusters=["c2"]).sees("c2", "x", "y")
    assert FlowScope.all().sees("any", "", "")
    assert not FlowScope.nothing().sees("c1", "shop", "shop")
    assert FlowScope.nothing().empty and not scope.empty


def test_scope_intersection_and_canonical_form() -> None:
    infra = FlowScope.of(clusters=["c1", "c2"])
    ws = FlowScope.of(namespaces=[("c1", "shop"), ("c3", "shop")])
    assert infra.intersect(ws) == FlowScope.of(namespaces=[("c1", "shop")])
    assert ws.intersect(infra) == FlowScope.of(namespaces=[("c1", "shop")])
    assert FlowScope.all().intersect(ws) == ws
    # A namespace of a cluster already in scope is redundant.
    assert FlowScope.of(["c1"], [("c1", "shop")]) == FlowScope.of(["c1"])
    assert ws.describe() == {"all": False, "clusters": [], "namespaces": ["c1/shop", "c3/shop"]}


# --- ingestion ---------------------------------------------------------------------------


def test_ingest_acknowledges_real_sample_and_dedups_a_resend(service: FlowService) -> None:
    lines = sample_lines(TCP_SAMPLE)
    ack = service.ingest_lines(lines, "kind")
    assert (ack.lines, ack.offered, ack.stored, ack.duplicates) == (400, 400, 400, 0)
    assert ack.batch.startswith("sha256:") and ack.error_count == 0
    again = service.ingest_lines(lines, "kind")
    assert (again.stored, again.duplicates, again.batch) == (0, 400, ack.batch)
    assert service.store.count() == 400
    # Flows are stamped with the cluster that pushed them, so queries and scope agree.
    stored = service.query(FlowScope.all(), limit=5)
    assert {f.node_name for f in stored} == {"kind/kind-control-plane"}
    assert {flow_cluster(f) for f in stored} == {"kind"}


def test_ingest_reports_malformed_lines_with_their_number(service: FlowService) -> None:
    lines = [*sample_lines(TCP_SAMPLE)[:3], "{not json", '{"node_status": {}}', ""]
    ack = service.ingest_lines(lines, "kind", batch="b-1")
    assert (ack.batch, ack.lines, ack.stored, ack.error_count) == ("b-1", 6, 3, 1)
    assert ack.skipped == {"node_status": 1, "empty": 1}
    (error,) = ack.errors
    assert error["line"] == 4 and error["file"] == "batch b-1" and error["code"] == "json-syntax"
    assert service.metrics.rejected.labels("kind")._value.get() == 1


def test_partially_duplicated_batch_counts_metrics_once(service: FlowService) -> None:
    first = [flow(i, "shop", "db") for i in range(10)]
    service.ingest(first, "c1")
    mixed = first[5:] + [flow(i, "shop", "db") for i in range(10, 15)]
    result = service.ingest(mixed, "c1")
    assert (result.stored, result.duplicates) == (5, 5)
    assert service.metrics.ingested.labels("c1")._value.get() == 15
    assert service.metrics.duplicates.labels("c1")._value.get() == 5


def test_stamp_cluster_keeps_the_node_and_is_idempotent() -> None:
    f = flow(1, "a", "b", node="node-7")
    stamped = stamp_cluster(f, "prod")
    assert stamped.node_name == "prod/node-7"
    assert stamp_cluster(stamped, "prod") is stamped
    assert stamp_cluster(replace(f, node_name="other/node-7"), "prod").node_name == "prod/node-7"


# --- the scope guarantee -----------------------------------------------------------------

NAMESPACES = ["shop", "db", "web", "kube-system", ""]
CLUSTERS = ["c1", "c2"]


@st.composite
def scopes(draw: st.DrawFn) -> FlowScope:
    if draw(st.booleans()) and draw(st.booleans()):
        return FlowScope.all()
    clusters = draw(st.sets(st.sampled_from(CLUSTERS), max_size=1))
    pairs = draw(st.sets(st.tuples(st.sampled_from(CLUSTERS), st.sampled_from(NAMESPACES))))
    return FlowScope.of(clusters, pairs)


@pytest.fixture(scope="module")
def fleet_service() -> FlowService:
    svc = FlowService(DuckDBFlowStore())

    for c, cluster in enumerate(CLUSTERS):
        batch = []
        for i in range(200):
            src, dst = NAMESPACES[i % 5], NAMESPACES[(i // 5) % 5]
            verdict = Verdict.DROPPED if i % 7 == 0 else Verdict.FORWARDED
            batch.append(flow(c * 1000 + i, src, dst, verdict=verdict, port=80 + i % 3))

        svc.ingest(batch, cluster)
    return svc


@settings(max_examples=60, deadline=None)
@given(scope=scopes(), verdict=st.sampled_from([None, Verdict.DROPPED]))
def test_no_query_returns_a_flow_outside_the_scope(
    fleet_service: FlowService, scope: FlowScope, verdict: Verdict | None
) -> None:
    white = [FlowFilter(verdict=(verdict,))] if verdict else []
    everything = fleet_service.query(FlowScope.all(), white)
    seen = fleet_service.query(scope, white)
    expected = [f for f in everything if scope.sees_flow(f)]
    assert seen == expected  # exactly the flows in scope, none outside it
    for f in seen:
        cluster = flow_cluster(f)
        assert (
            scope.covers_cluster(cluster)
            or {
                (cluster, f.source.namespace),
                (cluster, f.destination.namespace),
            }
            & scope.namespaces
        )


def test_service_map_rows_respect_the_scope(fleet_service: FlowService) -> None:
    scope = FlowScope.of(namespaces=[("c1", "shop")])
    edges = aggregates.service_map(fleet_service, scope, since=T0 - MINUTE, until=T0 + MINUTE)
    assert edges
    for edge in edges:
        assert edge.source.cluster == "c1"
        assert "shop" in (edge.source.namespace, edge.destination.namespace)
    total = sum(e.flows for e in edges)
    assert total == len(fleet_service.query(scope))
    nothing = aggregates.service_map(fleet_service, FlowScope.nothing(), since=T0 - MINUTE)
    assert nothing == []


# --- aggregations ------------------------------------------------------------------------


def test_service_map_counts_by_verdict_and_port(service: FlowService) -> None:
    batch = [flow(i, "shop", "db", port=5432) for i in range(6)]
    batch += [flow(10 + i, "shop", "db", port=5432, verdict=Verdict.DROPPED) for i in range(2)]
    batch += [flow(20, "shop", "db", port=6379)]
    service.ingest(batch, "c1")
    (edge,) = aggregates.service_map(service, FlowScope.all(), since=T0 - MINUTE, until=T0)
    assert edge.flows == 9
    assert edge.verdicts == {"FORWARDED": 7, "DROPPED": 2}
    assert edge.ports == {
        (5432, "TCP"): {"FORWARDED": 6, "DROPPED": 2},
        (6379, "TCP"): {"FORWARDED": 1},
    }
    assert edge.source.workload == "client" and edge.destination.workload == "server"
    dropped = aggregates.service_map(
        service, FlowScope.all(), since=T0 - MINUTE, until=T0, verdicts=["DROPPED"]
    )
    assert [e.flows for e in dropped] == [2]
    talkers = aggregates.top_talkers(service, FlowScope.all(), since=T0 - MINUTE, until=T0)
    assert [(n.workload, count) for n, count, _ in talkers] == [("client", 9)]


def test_drops_by_reason_and_policy(service: FlowService) -> None:
    from netwarden.model.flow import Policy

    deny = Policy(name="deny-db", namespace="shop", kind="CiliumNetworkPolicy")
    batch = [
        replace(flow(1, "shop", "db", verdict=Verdict.DROPPED), ingress_denied_by=(deny,)),
        flow(2, "shop", "db", verdict=Verdict.DROPPED),
        flow(3, "shop", "db"),
    ]
    service.ingest(batch, "c1")
    assert aggregates.drops_by_reason(service, FlowScope.all()) == [("POLICY_DENIED", 2)]
    assert aggregates.drops_by_policy(service, FlowScope.all()) == [
        (aggregates.DEFAULT_DENY, 1),
        ("CiliumNetworkPolicy/shop/deny-db", 1),
    ]
    hits = aggregates.policy_hits(service, FlowScope.all(), known=["NetworkPolicy/shop/unused"])
    assert hits == [
        {"policy": "CiliumNetworkPolicy/shop/deny-db", "allowed": 0, "denied": 1},
        {"policy": "NetworkPolicy/shop/unused", "allowed": 0, "denied": 0},
    ]


def test_world_by_fqdn_on_real_dns_flows(service: FlowService) -> None:
    world = replace(
        flow(1, "shop", ""),
        destination=FlowEndpoint(identity=2, labels=("reserved:world",)),
        destination_names=("api.github.com",),
    )
    service.ingest([world, replace(world, uuid="u2", time=T0 + 5)], "c1")
    assert aggregates.world_by_fqdn(service, FlowScope.all()) == [
        ("api.github.com", {"FORWARDED": 2})
    ]
    assert aggregates.world_by_fqdn(service, FlowScope.of(namespaces=[("c1", "web")])) == []


# --- live tail ---------------------------------------------------------------------------


def test_live_tail_gets_new_flows_in_scope_only(service: FlowService) -> None:
    sub = service.subscribe(FlowScope.of(namespaces=[("c1", "shop")]))
    service.ingest([flow(1, "shop", "db"), flow(2, "web", "db")], "c1")
    service.ingest([flow(1, "shop", "db")], "c1")  # a resend is not new
    batch = sub.get(timeout=1)
    assert [f.uuid for _, f in batch.flows] == ["uuid-1"] and batch.lost == 0
    assert sub.drain().flows == ()
    sub.close()
    assert service.hub.subscribers == 0


def test_slow_reader_is_told_what_it_lost_and_never_blocks_ingestion() -> None:
    hub = LiveHub(buffer=10)
    metrics = FlowMetrics()
    svc = FlowService(DuckDBFlowStore(), hub=hub, metrics=metrics)
    slow = svc.subscribe(FlowScope.all())
    fast = svc.subscribe(FlowScope.all(), buffer=1000)
    svc.ingest([flow(i, "a", "b") for i in range(25)], "c1")
    batch = slow.get(timeout=1)
    assert batch.lost == 15 and batch.flows[0][1].uuid == "uuid-15"
    assert len(fast.get(timeout=1).flows) == 25
    assert metrics.live_lost._value.get() == 15


def test_live_filters_apply_and_readers_wake_up() -> None:
    hub = LiveHub()
    sub = hub.subscribe(FlowScope.all(), [FlowFilter(verdict=(Verdict.DROPPED,))])
    got: list[int] = []
    reader = threading.Thread(target=lambda: got.append(len(sub.get(timeout=5).flows)))
    reader.start()
    hub.publish("c1", [flow(1, "a", "b"), flow(2, "a", "b", verdict=Verdict.DROPPED)])
    reader.join(5)
    assert got == [1]


# --- metrics -----------------------------------------------------------------------------


def test_metrics_follow_hubble_names_and_labels(service: FlowService) -> None:
    service.ingest_lines(sample_lines(TCP_SAMPLE), "kind")
    text = service.metrics.exposition().decode()
    assert "_created" not in text
    assert 'hubble_flows_processed_total{cluster="kind"' in text
    processed = [line for line in text.splitlines() if line.startswith("hubble_flows_processed")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in processed) == 400
    policy = [line for line in text.splitlines() if line.startswith("hubble_policy_verdicts")]
    # 27 policy-verdict events plus 65 L7 events, as Hubble's policy handler counts them.
    assert sum(float(line.rsplit(" ", 1)[1]) for line in policy) == 92
    assert 'match="l7/http"' in text or 'match="l7/dns"' in text


def test_flow_type_and_protocol_labels() -> None:
    lines = sample_lines(TCP_SAMPLE)
    flows = decode_lines(lines).flows
    types = Counter(flow_type(f)[0] for f in flows)
    assert types == {"Trace": 308, "L7": 65, "PolicyVerdict": 27}
    assert {flow_protocol(f) for f in flows if flow_type(f)[0] == "PolicyVerdict"} == {"TCP"}
    trace = next(f for f in flows if flow_type(f)[0] == "Trace")
    assert flow_type(trace)[1] in {"to-endpoint", "to-stack", "to-proxy", "from-endpoint"}


# --- policies in force at the flow's time ------------------------------------------------

CLUSTER = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {kubernetes.io/metadata.name: shop}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: shop, labels: {app: db}}
status: {podIP: 10.0.0.2}
"""
DENY_DB = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 5432}]
"""


def world_of(text: str) -> World:
    loaded = load_text(text, cluster="c1")
    assert not loaded.errors
    return World(loaded.clusters, loaded.policies)


def shop_flow(time: int, port: int) -> Flow:
    return Flow(
        time=time,
        uuid=f"t{time}-{port}",
        verdict=Verdict.FORWARDED,
        IP=IP("10.0.0.1", "10.0.0.2", IPVersion.IPv4),
        l4=Layer4(TCP=TCP(40000, port)),
        source=FlowEndpoint(namespace="shop", pod_name="web-0"),
        destination=FlowEndpoint(namespace="shop", pod_name="db-0"),
        node_name="c1/node-1",
        event_type=CiliumEventType(4),
    )


def test_attribution_uses_the_policies_in_force_at_the_flows_time() -> None:
    before = world_of(CLUSTER)
    after = world_of(CLUSTER + DENY_DB)
    timeline = PolicyTimeline()
    timeline.record(T0, before, "generation 1")
    timeline.record(T0 + 10 * MINUTE, after, "generation 2")
    flows = [
        shop_flow(T0 - MINUTE, 6379),  # before any snapshot: not guessed
        shop_flow(T0 + MINUTE, 6379),  # no policy yet: allowed by default
        shop_flow(T0 + 11 * MINUTE, 6379),  # db isolated, 6379 not allowed
        shop_flow(T0 + 12 * MINUTE, 5432),  # allowed by db-ingress
    ]
    early, open_, isolated, allowed = timeline.enrich(flows)
    assert early.uncertain_reason == NO_SNAPSHOT
    assert open_.ingress is not None and open_.ingress.allowed and not open_.ingress.rules
    assert isolated.ingress is not None and not isolated.ingress.allowed
    assert allowed.ingress is not None and allowed.ingress.allowed
    stored = with_attribution(allowed)
    assert [p.name for p in stored.ingress_allowed_by] == ["db-ingress"]
    # The workload is derived like the enricher does (db-0: the StatefulSet's ordinal).
    assert stored.destination.workloads == (Workload("db", "StatefulSet"),)
    assert with_attribution(isolated).ingress_denied_by == ()  # default deny names no policy
    assert timeline.at(T0 + 10 * MINUTE) is timeline.snapshots[1]
    assert timeline.forget_before(T0 + 11 * MINUTE) == 1 and len(timeline) == 1


def test_service_attributes_ingested_flows_with_the_cluster_timeline(
    service: FlowService,
) -> None:
    service.timeline("c1").record(T0, world_of(CLUSTER + DENY_DB))
    service.ingest([shop_flow(T0 + MINUTE, 5432)], "c1")
    (stored,) = service.query(FlowScope.all())
    assert [p.name for p in stored.ingress_allowed_by] == ["db-ingress"]
    hits = aggregates.policy_hits(service, FlowScope.all())
    assert hits == [{"policy": "NetworkPolicy/shop/db-ingress", "allowed": 1, "denied": 0}]
