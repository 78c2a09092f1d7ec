"""The embedded DuckDB flow store: round trip, dedup, filters equal to filter_flows, rollups,
retention, and a process killed mid-ingest (netwarden.flows.duckdb_store)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwarden.flows import decode_path
from netwarden.flows.duckdb_store import DuckDBFlowStore, flow_table, pushdown
from netwarden.flows.filters import FilterError, FlowFilter, filter_flows
from netwarden.flows.flowencode import flow_to_json
from netwarden.flows.flowjson import flow_from_json
from netwarden.flows.store import (
    NANOS_PER_DAY,
    FlowStore,
    RetentionPolicy,
    canonical_json,
    dedup_key,
    flow_cluster,
)
from netwarden.model.flow import (
    IP,
    TCP,
    DropReason,
    Flow,
    FlowEndpoint,
    IPVersion,
    Layer4,
    Policy,
    TCPFlags,
    TrafficDirection,
    Verdict,
    Workload,
    enum_name,
)
from tests.flows.samples import EXPECTED, hubble_dir

DAY = NANOS_PER_DAY
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z


def sample_flows() -> list[Flow]:
    flows: list[Flow] = []
    for name in sorted(EXPECTED):
        result = decode_path(hubble_dir() / name)
        assert result.ok
        flows += result.flows
    return flows


def replicate(flows: list[Flow], count: int, prefix: str, start: int = T0) -> list[Flow]:
    """``count`` distinct flows (uuid ``prefix-i``) cycling through ``flows``, 1 ms apart."""
    return [
        replace(flows[i % len(flows)], uuid=f"{prefix}-{i}", time=start + i * 1_000_000)
        for i in range(count)
    ]


POLICY_FLOW = Flow(
    time=T0,
    uuid="c0ffee00-0000-4000-8000-000000000001",
    verdict=Verdict.DROPPED,
    drop_reason_desc=DropReason.POLICY_DENY,
    IP=IP(source="10.0.1.5", destination="10.0.2.7", ipVersion=IPVersion.IPv4),
    l4=Layer4(TCP=TCP(source_port=43210, destination_port=5432, flags=TCPFlags(SYN=True))),
    source=FlowEndpoint(
        identity=12345,
        cluster_name="prod-eu",
        namespace="shop",
        labels=("k8s:app=web",),
        pod_name="web-7d9f8-abcde",
        workloads=(Workload("web", "Deployment"),),
    ),
    destination=FlowEndpoint(
        identity=23456,
        cluster_name="prod-eu",
        namespace="data",
        pod_name="db-0",
        workloads=(Workload("db", "StatefulSet"),),
    ),
    node_name="prod-eu/node-1",
    traffic_direction=TrafficDirection.INGRESS,
    is_reply=False,
    ingress_denied_by=(Policy(name="deny-web", namespace="data", kind="CiliumNetworkPolicy"),),
    Summary="TCP Flags: SYN",
)


@pytest.fixture(scope="module")
def flows() -> list[Flow]:
    return [*sample_flows(), POLICY_FLOW]


@pytest.fixture(scope="module")
def store(flows: list[Flow]) -> DuckDBFlowStore:
    s = DuckDBFlowStore()
    s.append(flows)
    return s


# --- encoding, keys, columns --------------------------------------------------------------


def test_every_sample_flow_round_trips_through_its_stored_json(flows: list[Flow]) -> None:
    assert len(flows) == sum(e.lines for e in EXPECTED.values()) + 1
    for flow in flows:
        assert flow_from_json(json.loads(canonical_json(flow))) == flow
    assert flow_to_json(POLICY_FLOW)["time"] == "2023-11-14T22:13:20.000000000Z"


def test_dedup_key_is_the_uuid_else_a_content_hash(flows: list[Flow]) -> None:
    assert dedup_key(POLICY_FLOW, canonical_json(POLICY_FLOW)) == POLICY_FLOW.uuid
    bare = flows[0]
    key = dedup_key(bare, canonical_json(bare))
    assert key.startswith("sha256:") and len(key) == 7 + 32
    other = replace(bare, Summary="changed")
    assert dedup_key(other, canonical_json(other)) != key


def test_cluster_comes_from_node_name_then_endpoints_then_labels(flows: list[Flow]) -> None:
    assert flow_cluster(POLICY_FLOW) == "prod-eu"
    assert flow_cluster(replace(POLICY_FLOW, node_name="n1")) == "prod-eu"
    by_label = [f for f in flows if "k8s:io.cilium.k8s.policy.cluster=kind-kind" in f.source.labels]
    assert by_label and all(flow_cluster(f) == "kind-kind" for f in by_label)
    assert flow_cluster(Flow()) == "default"


def test_columns_hold_the_flow_fields() -> None:
    table = flow_table([POLICY_FLOW], None, T0, 7)
    row = table.to_pylist()[0]
    assert row["seq"] == 7 and row["time_ns"] == T0 and str(row["day"]) == "2023-11-14"
    assert row["cluster"] == "prod-eu" and row["verdict"] == "DROPPED"
    assert row["drop_reason_desc"] == "POLICY_DENY" and row["traffic_direction"] == "INGRESS"
    assert (row["src_port"], row["dst_port"], row["protocols"]) == (43210, 5432, ["TCP"])
    assert row["tcp_flags"] == ["SYN"] and row["src_workload"] == "web"
    assert row["dst_workload"] == "db" and row["src_labels"] == ["k8s:app=web"]
    assert row["ingress_denied_by"] == ["CiliumNetworkPolicy/data/deny-web"]
    assert row["egress_allowed_by"] == [] and row["is_reply"] is False
    assert json.loads(row["raw"])["uuid"] == POLICY_FLOW.uuid


# --- ingestion and deduplication ----------------------------------------------------------


def test_query_returns_every_flow_by_time(store: DuckDBFlowStore, flows: list[Flow]) -> None:
    expected = sorted(flows, key=lambda f: f.time or 0)
    assert store.count() == len(flows)
    assert store.query() == expected
    assert store.query(order="desc") == expected[::-1]
    assert store.query(limit=5) == expected[:5]


def test_duplicates_are_stored_and_counted_once(flows: list[Flow]) -> None:
    store = DuckDBFlowStore(chunk_rows=100)  # several Arrow chunks per append
    first = store.append(flows)
    assert (first.offered, first.stored, first.duplicates) == (len(flows), len(flows), 0)
    again = store.append([*flows[::-1], *flows[:10]])  # retries, in any order, repeated
    assert (again.stored, again.duplicates) == (0, len(flows) + 10)
    # Same uuid with other content: still the same flow. No uuid: the content decides.
    same_uuid = replace(POLICY_FLOW, Summary="retried")
    new_content = replace(flows[0], Summary="another flow")
    result = store.append([same_uuid, new_content, new_content])
    assert (result.offered, result.stored) == (3, 1)
    assert store.count() == len(flows) + 1
    assert sum(g.flows for g in store.count_by([])) == len(flows) + 1  # rollups not doubled
    assert store.query([FlowFilter(uuid=(POLICY_FLOW.uuid,))]) == [POLICY_FLOW]


def test_reopened_file_keeps_flows_and_order(tmp_path: Path, flows: list[Flow]) -> None:
    path = tmp_path / "flows.duckdb"
    with DuckDBFlowStore(path) as store:
        store.append(flows[:100])
    with DuckDBFlowStore(path) as store:
        store.append(flows)  # the first 100 are duplicates now
        assert store.count() == len(flows)
        assert store.query() == sorted(flows, key=lambda f: f.time or 0)


def test_flows_without_time_use_the_ingestion_day() -> None:
    store = DuckDBFlowStore()
    store.append([Flow(uuid="no-time", verdict=Verdict.FORWARDED)], now=T0)
    assert store.query() == [Flow(uuid="no-time", verdict=Verdict.FORWARDED)]
    assert store.query(since=0) == []  # no time: outside every time range
    store.enforce_retention(T0 + 8 * DAY)
    assert store.count() == 0


# --- queries: exactly filter_flows ---------------------------------------------------------


def test_invalid_filters_raise_before_any_read(store: DuckDBFlowStore) -> None:
    with pytest.raises(FilterError):
        store.query([FlowFilter(source_ip=("10.0.0.300",))])
    with pytest.raises(ValueError):
        store.query(order="random")  # type: ignore[arg-type]


def test_pushdown_is_exact_only_when_every_field_maps_to_sql() -> None:
    exact = FlowFilter(verdict=(Verdict.DROPPED,), source_pod=("shop/web",), protocol=("tcp",))
    loose = FlowFilter(source_label=("k8s:app=web",), verdict=(Verdict.DROPPED,))
    assert pushdown([exact], [], None, None)[2]
    assert not pushdown([loose], [], None, None)[2]
    where, _, is_exact = pushdown([], [loose], None, None)
    assert where == "TRUE" and not is_exact  # NOT(superset) is never pushed


def test_hand_checked_queries(store: DuckDBFlowStore) -> None:
    dropped = store.query([FlowFilter(verdict=(Verdict.DROPPED,))])
    assert len(dropped) == 3  # 2 in the exporter sample + POLICY_FLOW
    by_reason = store.query([FlowFilter(drop_reason_desc=(DropReason.POLICY_DENIED,))])
    assert [f.destination.pod_name for f in by_reason] == ["deathstar-7848d6c4d5-th9v2"]
    assert len(store.query([FlowFilter(protocol=("dns",))])) == 5
    assert len(store.query([FlowFilter(protocol=("icmp",))])) == 19  # 18 ICMPv4 + 1 ICMPv6
    not_redirected = store.query([], [FlowFilter(verdict=(Verdict.REDIRECTED,))])
    assert len(not_redirected) == len(store.query()) - 27  # the 27 policy verdicts


def _values(flows: list[Flow]) -> dict[str, list[Any]]:
    pods = sorted({f"{e.namespace}/{e.pod_name}" for f in flows for e in (f.source, f.destination)})
    ports = sorted({str(p) for f in flows if f.l4 and f.l4.ports for p in f.l4.ports})
    ips = sorted({ip for f in flows if f.IP for ip in (f.IP.source, f.IP.destination)})
    labels = sorted({lab for f in flows for e in (f.source, f.destination) for lab in e.labels})
    identities = sorted({e.identity for f in flows for e in (f.source, f.destination)})
    times = sorted({f.time for f in flows if f.time is not None})
    return {
        "pods": pods,
        "ports": ports,
        "ips": ips,
        "labels": labels,
        "identities": identities,
        "times": times,
    }


@st.composite
def pod_values(draw: st.DrawFn, pods: list[str]) -> str:
    namespace, name = draw(st.sampled_from(pods)).split("/")
    prefix = name[: draw(st.integers(0, len(name)))]
    form = draw(st.sampled_from(["ns/prefix", "ns/", "/prefix", "bare"]))
    if form == "ns/":
        return f"{namespace}/"
    if form == "/prefix":
        return f"/{prefix}" if prefix else f"{namespace}/"
    if form == "bare":
        return prefix or "x"
    return f"{namespace}/{prefix}"


def filters(values: dict[str, list[Any]]) -> st.SearchStrategy[FlowFilter]:
    def some(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
        return st.lists(strategy, min_size=1, max_size=2).map(tuple)

    fields: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
        "verdict": some(st.sampled_from(list(Verdict))),
        "traffic_direction": some(st.sampled_from(list(TrafficDirection))),
        "drop_reason_desc": some(
            st.sampled_from([DropReason.POLICY_DENIED, DropReason.INVALID_SOURCE_IP])
        ),
        "source_pod": some(pod_values(values["pods"])),
        "destination_pod": some(pod_values(values["pods"])),
        "source_port": some(st.sampled_from(values["ports"])),
        "destination_port": some(st.sampled_from(values["ports"])),
        "protocol": some(st.sampled_from(["tcp", "UDP", "icmp", "icmpv6", "dns", "http"])),
        "reply": some(st.booleans()),
        "source_identity": some(st.sampled_from(values["identities"])),
        "destination_identity": some(st.sampled_from(values["identities"])),
        "source_ip": some(
            st.sampled_from(values["ips"])
            | st.sampled_from(["10.244.0.0/16", "10.0.0.0/8", "fe80::/10"])
        ),
        "destination_ip": some(st.sampled_from(values["ips"])),
        "ip_version": some(st.sampled_from(list(IPVersion))),
        "source_label": some(st.sampled_from(values["labels"])),
        "source_cluster_name": some(st.sampled_from(["prod-eu", "kind-kind"])),
        "node_name": some(st.sampled_from(["kind-control-plane", "kind-kind/*", "prod-eu/"])),
        "http_method": some(st.sampled_from(["GET", "post"])),
        "dns_query": some(st.sampled_from(["cilium", r"\.io\.$"])),
        "tcp_flags": some(st.sampled_from([TCPFlags(SYN=True), TCPFlags(ACK=True), TCPFlags()])),
    }
    return st.dictionaries(st.sampled_from(sorted(fields)), st.none(), max_size=3).flatmap(
        lambda chosen: st.fixed_dictionaries({name: fields[name] for name in chosen}).map(
            lambda kwargs: FlowFilter(**kwargs)
        )
    )


SAMPLES = sample_flows()
VALUES = _values([*SAMPLES, POLICY_FLOW])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    whitelist=st.lists(filters(VALUES), max_size=2),
    blacklist=st.lists(filters(VALUES), max_size=2),
    since=st.none() | st.sampled_from(VALUES["times"]),
    until=st.none() | st.sampled_from(VALUES["times"]),
    limit=st.none() | st.integers(0, 30),
    order=st.sampled_from(["asc", "desc"]),
)
def test_query_equals_filter_flows(
    whitelist: list[FlowFilter],
    blacklist: list[FlowFilter],
    since: int | None,
    until: int | None,
    limit: int | None,
    order: Any,
) -> None:
    store = _shared_store()
    in_range = [
        f
        for f in _sorted_flows()
        if (since is None or (f.time is not None and f.time >= since))
        and (until is None or (f.time is not None and f.time <= until))
    ]
    expected = list(filter_flows(in_range, whitelist, blacklist))
    if order == "desc":
        expected.reverse()
    got = store.query(whitelist, blacklist, since=since, until=until, limit=limit, order=order)
    assert got == expected[:limit]


_SHARED: list[DuckDBFlowStore] = []


def _shared_store() -> DuckDBFlowStore:
    if not _SHARED:
        store = DuckDBFlowStore()
        store.append([*SAMPLES, POLICY_FLOW])
        _SHARED.append(store)
    return _SHARED[0]


def _sorted_flows() -> list[Flow]:
    return sorted([*SAMPLES, POLICY_FLOW], key=lambda f: f.time or 0)


# --- rollups --------------------------------------------------------------------------------


def test_count_by_matches_the_raw_flows(store: DuckDBFlowStore, flows: list[Flow]) -> None:
    expected = Counter(
        (f.source.namespace, f.destination.namespace, enum_name(f.verdict)) for f in flows
    )
    got = store.count_by(["src_namespace", "dst_namespace", "verdict"])
    assert {
        (g.key["src_namespace"], g.key["dst_namespace"], g.key["verdict"]): g.flows for g in got
    } == dict(expected)
    assert [g.flows for g in got] == sorted((g.flows for g in got), reverse=True)
    edges = store.count_by(
        ["cluster", "src_workload", "dst_workload", "dst_port", "protocol"], clusters=["prod-eu"]
    )
    assert [(g.key, g.flows) for g in edges] == [
        (
            {
                "cluster": "prod-eu",
                "src_workload": "web",
                "dst_workload": "db",
                "dst_port": 5432,
                "protocol": "TCP",
            },
            1,
        )
    ]
    minute = T0 // 60_000_000_000
    assert store.count_by(["minute"], since=T0, until=T0) == store.count_by(
        ["minute"], clusters=["prod-eu"]
    )
    assert store.count_by(["minute"], since=T0, until=T0)[0].key == {"minute": minute}
    with pytest.raises(ValueError):
        store.count_by(["raw"])
    with pytest.raises(ValueError):
        store.count_by(["minute"], resolution="hour")  # the hour rollup has "hour"
    with pytest.raises(ValueError):
        store.count_by([], resolution="day")  # type: ignore[arg-type]


EDGE = ["cluster", "src_namespace", "src_workload", "dst_namespace", "dst_workload", "dst_port"]
EDGE += ["protocol", "verdict"]
L4_NAMES = ("TCP", "UDP", "ICMPv4", "ICMPv6", "SCTP", "VRRP", "IGMP")  # first present: protocol


def _edge_counts(flows: list[Flow]) -> Counter[tuple[Any, ...]]:
    def edge(f: Flow) -> tuple[Any, ...]:
        src, dst = f.source, f.destination
        ports = f.l4.ports if f.l4 is not None else None
        l4 = next((p for p in L4_NAMES if f.l4 is not None and getattr(f.l4, p) is not None), "")
        return (
            flow_cluster(f),
            src.namespace,
            src.workloads[0].name if src.workloads else "",
            dst.namespace,
            dst.workloads[0].name if dst.workloads else "",
            ports[1] if ports is not None else 0,
            l4,
            enum_name(f.verdict),
        )

    return Counter(edge(f) for f in flows)


def test_hour_totals_equal_minute_totals_equal_raw_counts() -> None:
    # The samples spread over ~6 hours (7 minutes apart), appended in two overlapping
    # batches: the duplicates are counted in neither rollup.
    flows = [
        replace(f, uuid=f"h-{i}", time=T0 + i * 7 * 60 * 10**9)
        for i, f in enumerate([*SAMPLES, POLICY_FLOW])
    ]
    store = DuckDBFlowStore(chunk_rows=7)
    half = len(flows) // 2
    store.append(flows[: half + 5])
    assert store.append(flows[half:]).stored == len(flows) - half - 5
    expected = dict(_edge_counts(flows))
    for resolution in ("minute", "hour"):
        got = store.count_by(EDGE, resolution=resolution)  # type: ignore[arg-type]
        assert {tuple(g.key.values()): g.flows for g in got} == expected, resolution
    assert sum(expected.values()) == len(flows) == store.count()
    minutes = store.count_by(["minute"])
    hours = store.count_by(["hour"], resolution="hour")
    per_hour = Counter[Any]()
    for g in minutes:
        per_hour[int(g.key["minute"] or 0) // 60] += g.flows
    assert {g.key["hour"]: g.flows for g in hours} == dict(per_hour)
    assert len(hours) >= 5
    assert Counter((f.time or 0) // (3600 * 10**9) for f in flows) == per_hour
    # Time bounds select whole hours.
    first_hour = min(per_hour)
    inside = store.count_by([], since=first_hour * 3600 * 10**9 + 1, resolution="hour")
    assert inside[0].flows == len(flows)


def test_hour_rollup_is_backfilled_in_a_file_that_had_none(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with DuckDBFlowStore(path) as store:
        store.append(SAMPLES)
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE flow_rollup_hour")  # as written before the hour rollup existed
    con.close()
    with DuckDBFlowStore(path) as store:
        assert store.count_by([], resolution="hour")[0].flows == len(SAMPLES)
    with DuckDBFlowStore(path) as store:  # filled once, not again
        assert store.count_by([], resolution="hour")[0].flows == len(SAMPLES)


# --- retention ------------------------------------------------------------------------------


def test_retention_drops_whole_days_per_cluster() -> None:
    policy = RetentionPolicy(per_cluster={"short": timedelta(days=2)})
    store = DuckDBFlowStore(retention=policy)
    base = (T0 // DAY) * DAY  # midnight
    for cluster in ("short", "long"):
        for day in range(10):
            batch = replicate(
                SAMPLES[:20], 20, f"{cluster}-{day}", start=base + day * DAY + 3600 * 10**9
            )
            store.append(batch, cluster=cluster)
    assert store.count() == 400
    now = base + 10 * DAY + 12 * 3600 * 10**9  # day 10, noon
    result = store.enforce_retention(now)
    # short (2 days): days whose end is before now - 2 days: 0..7 go, 8 and 9 stay.
    # long (default 7 days): days 0..2 go, 3..9 stay.
    kept = Counter((f.uuid.split("-")[0], int(f.uuid.split("-")[1])) for f in store.query())
    assert sorted(day for cluster, day in kept if cluster == "short") == [8, 9]
    assert sorted(day for cluster, day in kept if cluster == "long") == list(range(3, 10))
    assert result.flows_deleted == 20 * (8 + 3) and len(result.days_deleted) == 11
    assert store.enforce_retention(now).flows_deleted == 0  # idempotent
    # Rollups outlive raw flows (minutes 30 days, hours 365 days by default).
    assert sum(g.flows for g in store.count_by([])) == 400
    assert store.enforce_retention(base + 100 * DAY).rollup_rows_deleted > 0
    assert store.count_by([]) == []
    assert store.count_by([], resolution="hour")[0].flows == 400


def test_retention_drops_raw_flows_then_minute_rollups_then_hour_rollups() -> None:
    store = DuckDBFlowStore()  # the defaults: raw 7 days, minutes 30 days, hours 365 days
    policy = store.retention
    assert policy.default < policy.minute_rollups < policy.hour_rollups
    base = (T0 // DAY) * DAY
    store.append(replicate(SAMPLES, 500, "r", start=base + 3600 * 10**9))

    def totals() -> tuple[int, int, int]:
        minute = sum(g.flows for g in store.count_by([]))
        hour = sum(g.flows for g in store.count_by([], resolution="hour"))
        return store.count(), minute, hour

    assert totals() == (500, 500, 500)
    result = store.enforce_retention(base + 8 * DAY)  # raw flows expire first
    assert totals() == (0, 500, 500) and result.flows_deleted == 500
    assert (result.rollup_rows_deleted, result.hour_rollup_rows_deleted) == (0, 0)
    result = store.enforce_retention(base + 31 * DAY)  # then the minutes
    assert totals() == (0, 0, 500)
    assert result.rollup_rows_deleted > 0 and result.hour_rollup_rows_deleted == 0
    result = store.enforce_retention(base + 366 * DAY)  # then the hours
    assert totals() == (0, 0, 0) and result.hour_rollup_rows_deleted > 0
    # Each period is its own setting.
    custom = RetentionPolicy(minute_rollups=timedelta(days=2), hour_rollups=timedelta(days=3))
    store = DuckDBFlowStore(retention=custom)
    store.append(replicate(SAMPLES, 50, "c", start=base + 3600 * 10**9))
    store.enforce_retention(base + 3 * DAY)
    assert totals() == (50, 0, 50)
    store.enforce_retention(base + 4 * DAY)
    assert totals() == (50, 0, 0)


def test_retention_does_not_block_appends(tmp_path: Path) -> None:
    store = DuckDBFlowStore(tmp_path / "r.duckdb")
    old = replicate(SAMPLES, 20_000, "old", start=T0 - 30 * DAY)
    store.append(old)
    errors: list[BaseException] = []
    appended = threading.Event()

    def ingest() -> None:
        try:
            for i in range(5):
                store.append(replicate(SAMPLES, 500, f"new{i}", start=T0 + i * 10**9))
            appended.set()
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=ingest)
    thread.start()
    result = store.enforce_retention(T0)
    thread.join(timeout=60)
    assert not errors and appended.is_set()
    assert result.flows_deleted == 20_000
    assert store.count() == 2_500


# --- crash safety ---------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from dataclasses import replace
    from pathlib import Path
    from netwarden.flows import decode_path
    from netwarden.flows.duckdb_store import DuckDBFlowStore

    db, samples, size = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    flows = [f for p in sorted(samples.glob("*.jsonl")) for f in decode_path(p).flows]
    store = DuckDBFlowStore(db)
    batch = 0
    while True:
        rows = [
            replace(f, uuid=f"b{batch}-{i}", time=f.time + i)
            for i, f in ((i, flows[i % len(flows)]) for i in range(size))
        ]
        print(f"begin {batch}", flush=True)
        store.append(rows)
        print(f"ack {batch}", flush=True)
        batch += 1
    """
)


def test_acknowledged_batches_survive_sigkill_and_partial_ones_vanish(tmp_path: Path) -> None:
    db = tmp_path / "crash.duckdb"
    size = 3_000
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(hubble_dir()), str(size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acked: set[int] = set()
    rng = random.Random(7)
    try:
        for line in child.stdout:
            kind, number = line.split()
            if kind == "ack":
                acked.add(int(number))
            elif int(number) >= 4:  # mid-ingest: batch 4 or later is being appended
                threading.Event().wait(rng.uniform(0.05, 0.3))
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest = child.stdout.read()  # acks written before the kill
        child.stdout.close()
        child.wait()
    acked |= {int(line.split()[1]) for line in rest.splitlines() if line.startswith("ack")}
    assert child.returncode == -signal.SIGKILL and len(acked) >= 4

    con = duckdb.connect(str(db))
    rows = con.execute(
        "SELECT split_part(uuid, '-', 1), count(*), count(DISTINCT uuid) FROM flows GROUP BY 1"
    ).fetchall()
    stored = {int(batch[1:]): (count, distinct) for batch, count, distinct in rows}
    rollup = con.execute("SELECT sum(flows) FROM flow_rollup_minute").fetchone()
    hour_rollup = con.execute("SELECT sum(flows) FROM flow_rollup_hour").fetchone()
    con.close()
    for batch in acked:
        assert stored.get(batch) == (size, size), f"acknowledged batch {batch} lost"
    for batch, counts in stored.items():
        assert counts == (size, size), f"batch {batch} partially visible"
    assert set(stored) - acked <= {max(acked) + 1}  # at most the one in flight at the kill
    assert rollup is not None and rollup[0] == size * len(stored)
    assert hour_rollup is not None and hour_rollup[0] == size * len(stored)
    # The store opens the recovered file and carries on.
    with DuckDBFlowStore(db) as store:
        assert store.count() == size * len(stored)
        batch0 = [
            replace(f, uuid=f"b0-{i}", time=(f.time or 0) + i) for i, f in enumerate(SAMPLES[:10])
        ]
        assert store.append(batch0).stored == 0  # a retry of acknowledged flows


def test_the_store_satisfies_the_protocol() -> None:
    store: FlowStore = DuckDBFlowStore()
    store.close()
