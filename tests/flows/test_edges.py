"""Observed edges on both stores, from the simulated storefront's traffic: the edges the
topology file says exist (and no reply edges), counts equal to Hubble's ``reply: false``
filter over the same flows, scope, verdicts, windows, examples and L7 summaries; world
destinations named by the DNS names Hubble recorded, workload kinds; the hourly edge
rollup answering exactly as the raw flows do (windows, scope, verdicts, examples,
compaction, retention, files from before it)."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from netwarden.agent.simulated import load_simulated
from netwarden.flows.clickhouse_store import ClickHouseFlowStore
from netwarden.flows.decode import decode_lines
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.edges import EdgeQuery, endpoint_kind, observed_edges, plan, pod_labels
from netwarden.flows.filters import FlowFilter, filter_flows
from netwarden.flows.scope import FlowScope
from netwarden.flows.service import FlowService
from netwarden.flows.store import NANOS_PER_HOUR, RetentionPolicy
from netwarden.model.flow import Flow
from netwarden.model.observed import ObservedEdge

TOPOLOGY = "examples/topologies/storefront.yaml"
_NAMES = itertools.count()


def storefront_lines(count: int = 2_000) -> list[bytes]:
    lines = list(load_simulated(TOPOLOGY, "c1", seed=1).generate(count))
    return [*lines, *http_lines(lines)]


def http_lines(lines: list[bytes]) -> list[bytes]:
    """Two L7 HTTP requests frontend -> catalog (one with a query string, one absolute
    URL) and their response, built from a recorded SYN of that connection."""
    for line in lines:
        doc = json.loads(line)
        flow = doc["flow"]
        if (
            flow["source"].get("workloads", [{}])[0].get("name") == "frontend"
            and flow["destination"].get("workloads", [{}])[0].get("name") == "catalog"
            and not flow.get("is_reply")
        ):
            break
    out = []
    for i, (url, reply) in enumerate(
        [
            ("/api/products?page=2", False),
            ("http://catalog.storefront:8080/api/products", False),
            ("/api/products", True),
        ]
    ):
        time = flow["time"].replace("Z", "").ljust(29, "0")[:-1] + str(i) + "Z"
        l7 = dict(flow, uuid=f"http-{i}", Type="L7", is_reply=reply, time=time)
        l7["l7"] = {
            "type": "RESPONSE" if reply else "REQUEST",
            "http": {"method": "get", "url": url},
        }
        out.append(json.dumps({"flow": l7}).encode())
    return out


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    """One recording (the simulator stamps flows with the current time)."""
    return storefront_lines()


@pytest.fixture(params=["duckdb", "clickhouse"])
def service(
    request: pytest.FixtureRequest, chdb_dir: Path, lines: list[bytes]
) -> Iterator[FlowService]:
    if request.param == "duckdb":
        store: Any = DuckDBFlowStore()
    else:
        store = ClickHouseFlowStore.embedded(chdb_dir, database=f"edges{next(_NAMES)}")
    svc = FlowService(store)
    ack = svc.ingest_lines(lines, "c1")
    assert ack.stored == ack.lines and not ack.errors
    yield svc
    store.close()


@pytest.fixture(scope="module")
def flows(lines: list[bytes]) -> list[Flow]:
    return decode_lines(lines).flows


def _name(edge_end: Any) -> str:
    return edge_end.workload or edge_end.ip or edge_end.kind


def test_edges_are_the_topologys_calls_initiator_first(service: FlowService) -> None:
    edges = service.edges(FlowScope.all(), cluster="c1")
    inside = {
        (_name(e.source), _name(e.destination), e.port, e.protocol)
        for e in edges
        if e.source.namespace == "storefront" == e.destination.namespace and not e.l7
    }
    # The calls of examples/topologies/storefront.yaml between storefront workloads.
    assert inside == {
        ("frontend", "catalog", 8080, "TCP"),
        ("frontend", "cart", 8080, "TCP"),
        ("frontend", "checkout", 8080, "TCP"),
        ("checkout", "payments", 8080, "TCP"),
        ("checkout", "cart", 8080, "TCP"),
        ("cart", "redis", 6379, "TCP"),
        ("catalog", "postgres", 5432, "TCP"),
        ("checkout", "postgres", 5432, "TCP"),
    }
    # Replies never make edges: the DNS server and the databases never initiate.
    assert not [e for e in edges if _name(e.source) in ("coredns", "postgres", "redis")]
    by_key = {(_name(e.source), _name(e.destination), e.port, e.l7): e for e in edges}
    shoppers = by_key[("192.0.2.10", "ingress-nginx-controller", 443, "")]
    assert shoppers.source.kind == "world" and shoppers.source.ip == "192.0.2.10"
    assert shoppers.destination.kind == "pod" and shoppers.destination.identity
    unknown_host = by_key[("catalog", "203.0.113.66", 4444, "")]
    assert unknown_host.destination.kind == "world" and unknown_host.protocol == "TCP"
    stripe_dns = by_key[("payments", "coredns", 53, "DNS api.stripe.com")]
    assert stripe_dns.protocol == "UDP" and stripe_dns.destination.namespace == "kube-system"
    frontend = by_key[("frontend", "catalog", 8080, "")].source
    assert frontend.cluster == "c1" and frontend.workload == "frontend"
    assert ("app", "frontend") in frontend.labels and ("tier", "web") in frontend.labels
    assert frontend.labels == tuple(sorted(frontend.labels))
    # Scanner is a bare pod: no workload, described by its labels.
    scanner = [e.source for e in edges if e.source.namespace == "tools"]
    assert scanner and all(s.workload == "" and ("app", "scanner") in s.labels for s in scanner)


def test_counts_equal_hubbles_reply_false_filter(service: FlowService, flows: list[Flow]) -> None:
    edges = service.edges(FlowScope.all(), cluster="c1")
    kept = list(filter_flows(flows, [FlowFilter(reply=(False,))]))
    assert sum(e.flows for e in edges) == len(kept)
    expected: Counter[tuple[str, str, int, str]] = Counter()
    for f in kept:
        if f.l7 is None and f.source.workloads and f.destination.workloads:
            ports = f.l4.ports if f.l4 is not None else None
            key = (f.source.workloads[0].name, f.destination.workloads[0].name)
            expected[(*key, ports[1] if ports else 0, f.verdict.name)] += 1
    found = Counter(
        {
            (e.source.workload, e.destination.workload, e.port, e.verdict): e.flows
            for e in edges
            if not e.l7 and e.source.workload and e.destination.workload
        }
    )
    assert found == expected
    times = {f.uuid: f.time for f in kept}
    for edge in edges:
        assert edge.first_seen <= edge.last_seen
        assert 1 <= len(edge.examples) <= 3
        assert edge.last_seen == max(times[u] for u in edge.examples)
    assert edges == sorted(edges, key=lambda e: -e.flows) or all(
        a.flows >= b.flows for a, b in itertools.pairwise(edges)
    )


def test_http_summary_drops_query_and_authority(service: FlowService) -> None:
    http = [e for e in service.edges(FlowScope.all()) if e.l7.startswith("HTTP")]
    assert [(e.l7, e.flows, sorted(e.examples)) for e in http] == [
        ("HTTP GET /api/products", 2, ["http-0", "http-1"])
    ]
    assert http[0].source.workload == "frontend" and http[0].port == 8080


def test_scope_verdicts_and_window(service: FlowService) -> None:
    everything = service.edges(FlowScope.all())
    tools = service.edges(FlowScope.of(namespaces=[("c1", "tools")]))
    assert tools and all("tools" in (e.source.namespace, e.destination.namespace) for e in tools)
    assert tools == [
        e for e in everything if "tools" in (e.source.namespace, e.destination.namespace)
    ]
    assert service.edges(FlowScope.of(clusters=["c1"])) == everything
    assert service.edges(FlowScope.of(clusters=["c2"])) == []
    assert service.edges(FlowScope.nothing()) == []
    assert service.edges(FlowScope.all(), cluster="c2") == []
    assert service.edges(FlowScope.all(), verdicts=["DROPPED"]) == []
    assert service.edges(FlowScope.all(), verdicts=["FORWARDED"]) == everything
    middle = sorted(e.last_seen for e in everything)[len(everything) // 2]
    early = service.edges(FlowScope.all(), until=middle)
    late = service.edges(FlowScope.all(), since=middle + 1)
    assert sum(e.flows for e in early) + sum(e.flows for e in late) == sum(
        e.flows for e in everything
    )
    assert all(e.last_seen <= middle for e in early) and all(e.first_seen > middle for e in late)
    one = service.edges(FlowScope.all(), examples=1)
    assert all(len(e.examples) == 1 for e in one)


def test_both_stores_agree(chdb_dir: Path) -> None:
    lines = storefront_lines(1_500)
    answers: list[list[ObservedEdge]] = []
    for store in (
        DuckDBFlowStore(),
        ClickHouseFlowStore.embedded(chdb_dir, database=f"edges{next(_NAMES)}"),
    ):
        svc = FlowService(store)
        svc.ingest_lines(lines, "c1")
        answers.append(svc.edges(FlowScope.of(namespaces=[("c1", "storefront")])))
        store.close()
    assert answers[0] == answers[1] and answers[0]


def test_endpoint_kinds_and_labels() -> None:
    assert endpoint_kind(["reserved:world"], 2) == "world"
    assert endpoint_kind(["reserved:world-ipv4"], 9) == "world"
    assert endpoint_kind([], 1) == "host"
    assert endpoint_kind(["reserved:remote-node"], 6) == "remote-node"
    assert endpoint_kind(["cidr:10.0.0.0/8"], 16777217) == "world"
    assert endpoint_kind([], 0) == "unknown"
    assert pod_labels(["k8s:b=2", "k8s:a=1", "reserved:host", "k8s:a=1"]) == (
        ("a", "1"),
        ("b", "2"),
    )


def test_refuses_bad_arguments() -> None:
    with pytest.raises(TypeError):
        observed_edges(object(), cluster=None, since=None, until=None)
    with pytest.raises(ValueError, match="examples"):
        observed_edges(DuckDBFlowStore(), cluster=None, since=None, until=None, examples=99)


def test_world_destinations_carry_their_dns_name_and_pods_their_workload_kind(
    service: FlowService, flows: list[Flow]
) -> None:
    edges = service.edges(FlowScope.all(), cluster="c1")
    stripe = [e for e in edges if e.destination.fqdn == "api.stripe.com"]
    # payments -> api.stripe.com:443, the name Hubble recorded (destination_names).
    assert {(e.source.workload, e.port, e.protocol) for e in stripe} == {("payments", 443, "TCP")}
    assert all(e.destination.kind == "world" and e.destination.ip for e in stripe)
    named = [
        f
        for f in filter_flows(flows, [FlowFilter(reply=(False,))])
        if "api.stripe.com" in [n.rstrip(".") for n in f.destination_names[:1]]
    ]
    assert sum(e.flows for e in stripe) == len(named) > 0
    assert stripe[0].destination.display() == "api.stripe.com"
    # The unknown host was reached by IP only: no name.
    assert all(not e.destination.fqdn for e in edges if e.destination.ip == "203.0.113.66")
    kinds = {e.destination.workload: e.destination.workload_kind for e in edges}
    assert kinds["catalog"] == "Deployment" and kinds["postgres"] == "StatefulSet"
    assert all(not e.source.workload_kind for e in edges if e.source.kind != "pod")


# --- the hourly edge rollup --------------------------------------------------------------

HOUR = NANOS_PER_HOUR


def _stamp(ns: int) -> str:
    when = datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{when}.{ns % 10**9:09d}Z"


def spread(lines: list[bytes], end: int, hours: int) -> list[bytes]:
    """The lines with their times spread evenly over the ``hours`` before ``end``."""
    out = []
    for index, line in enumerate(lines):
        doc = json.loads(line)
        doc["flow"]["time"] = _stamp(end - 1 - (index * hours * HOUR) // len(lines))
        out.append(json.dumps(doc).encode())
    return out


def _open(kind: str, chdb_dir: Path, **options: Any) -> Any:
    if kind == "duckdb":
        return DuckDBFlowStore(**options)
    return ClickHouseFlowStore.embedded(chdb_dir, database=f"edges{next(_NAMES)}", **options)


def _windows(end: int) -> list[tuple[int, int]]:
    aligned = end - end % HOUR
    return [
        (end - 8 * HOUR, end),  # everything, partial hours at both ends
        (aligned - 5 * HOUR, aligned - 1),  # exactly five whole hours
        (aligned - 5 * HOUR + 1, aligned - 2 * HOUR + 7),  # partial first and last hours
        (aligned - 3 * HOUR - 17, aligned - HOUR),
        (aligned - 2 * HOUR, aligned - HOUR + 5),  # one whole hour: raw flows only
    ]


@pytest.mark.parametrize("kind", ["duckdb", "clickhouse"])
def test_rollup_answers_as_the_raw_flows(kind: str, chdb_dir: Path) -> None:
    end = time.time_ns()
    lines = spread(storefront_lines(1_500), end, 7)
    store = _open(kind, chdb_dir)
    svc = FlowService(store)
    # Two ingests of interleaved halves: several increment rows per (hour, edge).
    assert svc.ingest_lines(lines[::2], "c1").stored + svc.ingest_lines(
        lines[1::2], "c1"
    ).stored == len(lines)
    scopes = [
        FlowScope.all(),
        FlowScope.of(namespaces=[("c1", "tools")]),
        FlowScope.of(namespaces=[("c1", "storefront"), ("c1", "kube-system")]),
    ]
    used = 0
    for since, until in _windows(end):
        for scope, verdicts, examples, cluster in itertools.product(
            scopes, [None, ["FORWARDED"], ["DROPPED", "FORWARDED"]], [1, 3], ["c1", None]
        ):
            args: dict[str, Any] = {
                "cluster": cluster,
                "since": since,
                "until": until,
                "scope": scope,
            }
            args |= {"verdicts": verdicts, "examples": examples}
            raw = observed_edges(store, **args, rollup=False)
            rolled = observed_edges(store, **args)
            assert rolled == raw, (since, until, scope, verdicts, examples)
        used += plan(EdgeQuery(since=since, until=until)).hours is not None
        assert sum(e.flows for e in observed_edges(store, cluster="c1", since=since, until=until))
    assert used == 4  # every window but the one-hour one read the rollup
    # Windows the rollup cannot answer alone are raw: unbounded, or too many examples.
    assert plan(EdgeQuery(since=None, until=end)).hours is None
    assert plan(EdgeQuery(since=end - 8 * HOUR, until=end, examples=5)).hours is None
    every = observed_edges(store, cluster="c1", since=end - 8 * HOUR, until=end, examples=5)
    assert every == observed_edges(store, cluster="c1", since=None, until=None, examples=5)
    store.close()


def test_rollup_is_what_answers_whole_hours(chdb_dir: Path) -> None:
    """Whole hours come from the rollup: raw flows of those hours deleted behind the
    store's back still count there, and the partial hours still come from raw flows."""
    end = time.time_ns()
    store = DuckDBFlowStore()
    FlowService(store).ingest_lines(spread(storefront_lines(600), end, 6), "c1")
    aligned = end - end % HOUR
    since, until = aligned - 4 * HOUR - 1, end

    def total(rollup: bool = True) -> int:
        found = observed_edges(store, cluster="c1", since=since, until=until, rollup=rollup)
        return sum(e.flows for e in found)

    before = total()
    last_hour = sum(
        e.flows for e in observed_edges(store, cluster="c1", since=aligned, until=until)
    )
    assert last_hour and before == total(rollup=False)
    delete = "DELETE FROM flows WHERE time_ns BETWEEN ? AND ?"
    with store._db.cursor() as con:
        con.execute(delete, [aligned - 4 * HOUR, aligned - 1])  # the whole hours
    assert total() == before > total(rollup=False)
    with store._db.cursor() as con:
        con.execute(delete, [aligned, until])  # the partial last hour
    assert total() == before - last_hour
    store.close()


@pytest.mark.parametrize("kind", ["duckdb", "clickhouse"])
def test_rollup_compaction_and_retention(kind: str, chdb_dir: Path) -> None:
    end = time.time_ns()
    lines = spread(storefront_lines(800), end - 3 * 86_400 * 10**9, 5)
    retention = RetentionPolicy(default=timedelta(days=30), hour_rollups=timedelta(days=2))
    store = _open(kind, chdb_dir, retention=retention)
    svc = FlowService(store)
    for part in (lines[::3], lines[1::3], lines[2::3]):
        svc.ingest_lines(part, "c1")
    window: dict[str, Any] = {"cluster": "c1", "since": end - 4 * 86_400 * 10**9, "until": end}
    raw = observed_edges(store, **window, rollup=False)
    assert observed_edges(store, **window) == raw
    if kind == "duckdb":
        rows = store._db.execute("SELECT count(*) FROM flow_edge_hour").fetchall()[0][0]
        store.compact_rollups(end)
        merged = store._db.execute("SELECT count(*) FROM flow_edge_hour").fetchall()[0][0]
        assert merged < rows
        assert observed_edges(store, **window) == raw  # the same answers once merged
    # The edge rollup is kept as long as the hour rollup (2 days here): the flows of 3
    # days ago are gone from it, not from the raw flows (30 days).
    result = store.enforce_retention(end)
    assert result.edge_rollup_rows_deleted > 0 and result.flows_deleted == 0
    assert observed_edges(store, **window, rollup=False) == raw
    rolled = observed_edges(store, **window)
    assert rolled != raw and sum(e.flows for e in rolled) < sum(e.flows for e in raw)
    assert store.enforce_retention(end).edge_rollup_rows_deleted == 0
    if kind == "duckdb":
        keys = store._db.execute("SELECT count(*) FROM flow_edge_keys").fetchall()[0][0]
        assert keys == 0  # no rollup row refers to them any more
    store.close()


def test_a_file_from_before_the_edge_columns_and_rollup(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    end = time.time_ns()
    lines = spread(storefront_lines(600), end, 5)
    with DuckDBFlowStore(path) as store:
        FlowService(store).ingest_lines(lines, "c1")
        want = observed_edges(store, cluster="c1", since=end - 6 * HOUR, until=end)
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE flow_edge_hour")
    con.execute("DROP TABLE flow_edge_keys")
    for column in ("dst_names", "src_workload_kind", "dst_workload_kind"):
        con.execute(f"ALTER TABLE flows DROP COLUMN {column}")
    con.close()
    with DuckDBFlowStore(path) as store:  # columns added (empty), rollup filled once
        got = observed_edges(store, cluster="c1", since=end - 6 * HOUR, until=end)
        raw = observed_edges(store, cluster="c1", since=end - 6 * HOUR, until=end, rollup=False)
        assert got == raw and sum(e.flows for e in got) == sum(e.flows for e in want)
        assert not any(e.destination.fqdn or e.source.workload_kind for e in got)
        FlowService(store).ingest_lines(spread(storefront_lines(50), end, 1), "c2")
    with DuckDBFlowStore(path) as store:  # not filled again
        again = observed_edges(store, cluster="c1", since=end - 6 * HOUR, until=end)
        assert again == got
