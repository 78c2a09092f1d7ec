"""Every FlowStore backend against the same tests: round trip, dedup, filters equal to
filter_flows, rollups, retention, the Arrow ingest path.

Backends: ``duckdb`` (DuckDBFlowStore, in memory or a file), ``clickhouse``
(ClickHouseFlowStore over the chdb engine of this process) and ``clickhouse-connect`` (the
same store over ServerConnection, i.e. a clickhouse-connect client, here backed by chdb
instead of a server: the store's SQL, parameter binding, insert_arrow staging and Arrow
streaming are the ones a server gets; only HTTP is missing). The ClickHouse stores of one
module share one chdb directory (``chdb_dir`` in conftest.py), one database each.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwarden.flows.clickhouse_store import (
    ChdbConnection,
    ClickHouseFlowStore,
    ServerConnection,
)
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.filters import FilterError, FlowFilter, filter_flows
from netwarden.flows.flow_columns import flow_table
from netwarden.flows.store import FlowStore, RetentionPolicy, flow_cluster
from netwarden.model.flow import (
    DropReason,
    Flow,
    IPVersion,
    TCPFlags,
    TrafficDirection,
    Verdict,
    enum_name,
)
from tests.flows.store_samples import DAY, POLICY_FLOW, SAMPLES, T0, replicate

BACKENDS = ["duckdb", "clickhouse", "clickhouse-connect"]
ALL_FLOWS = [*SAMPLES, POLICY_FLOW]
_NAMES = itertools.count()


class Stores:
    """Opens stores of one backend for a test and closes them after it. ``name`` names a
    location to reopen (a DuckDB file, a ClickHouse database); None: a fresh one."""

    def __init__(self, backend: str, chdb_dir: Path, tmp_dir: Path) -> None:
        self.backend, self.chdb_dir, self.tmp_dir = backend, chdb_dir, tmp_dir
        self.prefix = f"t{next(_NAMES)}"
        self.opened: list[Any] = []

    def open(self, name: str | None = None, **options: Any) -> Any:
        if self.backend == "duckdb":
            path = ":memory:" if name is None else self.tmp_dir / f"{name}.duckdb"
            store: Any = DuckDBFlowStore(path, **options)
        else:
            database = f"{self.prefix}_{name if name is not None else next(_NAMES)}"
            store = ClickHouseFlowStore(self.connection(), database=database, **options)
        self.opened.append(store)
        return store

    def connection(self) -> Any:
        if self.backend == "clickhouse":
            return ChdbConnection(self.chdb_dir)
        import clickhouse_connect

        client = clickhouse_connect.get_client(interface="chdb", path=str(self.chdb_dir))
        return ServerConnection(client)

    def close(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stores(backend: str, chdb_dir: Path, tmp_path: Path) -> Iterator[Stores]:
    opened = Stores(backend, chdb_dir, tmp_path)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def store(backend: str, chdb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A store holding the samples and POLICY_FLOW, shared by the read-only tests."""
    opened = Stores(backend, chdb_dir, tmp_path_factory.mktemp(backend))
    loaded = opened.open()
    loaded.append(ALL_FLOWS)
    yield loaded
    opened.close()


def by_time(flows: list[Flow]) -> list[Flow]:
    return sorted(flows, key=lambda f: f.time or 0)


# --- ingestion and deduplication ----------------------------------------------------------


def test_query_returns_every_flow_by_time(store: Any) -> None:
    expected = by_time(ALL_FLOWS)
    assert store.count() == len(ALL_FLOWS)
    assert store.query() == expected
    assert store.query(order="desc") == expected[::-1]
    assert store.query(limit=5) == expected[:5]


def test_duplicates_are_stored_and_counted_once(stores: Stores) -> None:
    store = stores.open(chunk_rows=100)  # several Arrow chunks per append
    flows = ALL_FLOWS
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


def test_a_key_is_a_duplicate_at_the_same_time_only(stores: Stores) -> None:
    # A retried flow keeps its time; a uuid reused at another time is another flow.
    store = stores.open()
    store.append([POLICY_FLOW])
    later = replace(POLICY_FLOW, time=T0 + 1, Summary="later")
    assert store.append([POLICY_FLOW]).stored == 0
    assert store.append([later]).stored == 1  # (within one batch, a key is kept once)
    assert store.query([FlowFilter(uuid=(POLICY_FLOW.uuid,))]) == [POLICY_FLOW, later]
    assert sum(g.flows for g in store.count_by([])) == 2


def test_reopened_store_keeps_flows_and_order(stores: Stores) -> None:
    with stores.open("flows") as store:
        store.append(ALL_FLOWS[:100])
    with stores.open("flows") as store:
        store.append(ALL_FLOWS)  # the first 100 are duplicates now
        assert store.count() == len(ALL_FLOWS)
        assert store.query() == by_time(ALL_FLOWS)
        assert sum(g.flows for g in store.count_by([], resolution="hour")) == len(ALL_FLOWS)


def test_flows_without_time_use_the_ingestion_day(stores: Stores) -> None:
    store = stores.open()
    store.append([Flow(uuid="no-time", verdict=Verdict.FORWARDED)], now=T0)
    assert store.append([Flow(uuid="no-time", verdict=Verdict.FORWARDED)], now=T0 + 1).stored == 0
    assert store.query() == [Flow(uuid="no-time", verdict=Verdict.FORWARDED)]
    assert store.query(since=0) == []  # no time: outside every time range
    assert store.count_by(["minute"])[0].key == {"minute": T0 // 60_000_000_000}
    store.enforce_retention(T0 + 8 * DAY)
    assert store.count() == 0


# --- the Arrow ingest path -------------------------------------------------------------------


def _arrow_store(stores: Stores, **options: Any) -> Any:
    store = stores.open(**options)
    if not hasattr(store, "append_arrow"):
        pytest.skip(f"{type(store).__name__} has no append_arrow yet")
    return store


def test_append_arrow_stores_what_append_stores(stores: Stores) -> None:
    by_rows = stores.open()
    by_rows.append(ALL_FLOWS)
    by_columns = _arrow_store(stores, chunk_rows=100)
    table = flow_table(ALL_FLOWS, None, T0, 0)
    table = table.set_column(2, "seq", pa.array([0] * table.num_rows, pa.int64()))  # ignored
    result = by_columns.append_arrow(table)
    assert (result.offered, result.stored) == (len(ALL_FLOWS), len(ALL_FLOWS))
    assert by_columns.query() == by_rows.query() == by_time(ALL_FLOWS)
    edge = ["cluster", "src_workload", "dst_workload", "dst_port", "verdict"]
    assert by_columns.count_by(edge) == by_rows.count_by(edge)
    # Deduplicated against flows stored either way, and within the table.
    assert by_columns.append(ALL_FLOWS[:50]).stored == 0
    assert by_columns.append_arrow(pa.concat_tables([table, table])).stored == 0
    twice = flow_table(replicate(SAMPLES[:3], 3, "twice"), None, T0, 0)
    result = by_columns.append_arrow(pa.concat_tables([twice, twice]))
    assert (result.offered, result.stored) == (6, 3)
    assert by_columns.count() == len(ALL_FLOWS) + 3


def test_append_says_which_flows_were_new(stores: Stores) -> None:
    """``new_rows``: positions in the offered batch of the flows stored, for both paths."""
    store = stores.open()
    first = store.append(ALL_FLOWS[:10])
    assert first.new_rows.tolist() == list(range(10))
    # Stored ones, new ones and a repeat inside the batch, interleaved.
    batch = [ALL_FLOWS[10], ALL_FLOWS[0], ALL_FLOWS[11], ALL_FLOWS[10], ALL_FLOWS[5]]
    result = store.append(batch)
    assert (result.stored, result.new_rows.tolist()) == (2, [0, 2])
    table = flow_table([ALL_FLOWS[12], ALL_FLOWS[1], ALL_FLOWS[12], ALL_FLOWS[13]], None, T0, 0)
    result = store.append_arrow(table)
    assert (result.offered, result.stored, result.new_rows.tolist()) == (3, 2, [0, 2])
    assert store.append_arrow(table).new_rows.tolist() == []
    assert store.count() == 14


def test_append_arrow_cluster_overrides_the_tables(stores: Stores) -> None:
    store = _arrow_store(stores)
    store.append_arrow(flow_table([POLICY_FLOW], None, T0, 0), cluster="other")
    counts = store.count_by(["cluster"])
    assert [(g.key, g.flows) for g in counts] == [({"cluster": "other"}, 1)]
    store.enforce_retention(T0 + 9 * DAY)
    assert store.count() == 0


# --- queries: exactly filter_flows ---------------------------------------------------------


def test_invalid_filters_raise_before_any_read(store: Any) -> None:
    with pytest.raises(FilterError):
        store.query([FlowFilter(source_ip=("10.0.0.300",))])
    with pytest.raises(ValueError):
        store.query(order="random")


def test_hand_checked_queries(store: Any) -> None:
    dropped = store.query([FlowFilter(verdict=(Verdict.DROPPED,))])
    assert len(dropped) == 3  # 2 in the exporter sample + POLICY_FLOW
    by_reason = store.query([FlowFilter(drop_reason_desc=(DropReason.POLICY_DENIED,))])
    assert [f.destination.pod_name for f in by_reason] == ["deathstar-7848d6c4d5-th9v2"]
    assert len(store.query([FlowFilter(protocol=("dns",))])) == 5
    assert len(store.query([FlowFilter(protocol=("icmp",))])) == 19  # 18 ICMPv4 + 1 ICMPv6
    not_redirected = store.query([], [FlowFilter(verdict=(Verdict.REDIRECTED,))])
    assert len(not_redirected) == len(store.query()) - 27  # the 27 policy verdicts
    ports = store.query([FlowFilter(destination_port=("5432",))], order="desc")
    assert ports == [POLICY_FLOW]


def test_values_are_bound_not_spliced(stores: Stores) -> None:
    # Quotes, backslashes, tabs, newlines and non-ASCII survive as filter values.
    odd = "we'b\\x\t\n-é"
    flow = replace(POLICY_FLOW, source=replace(POLICY_FLOW.source, pod_name=odd))
    store = stores.open()
    store.append([flow])
    assert store.query([FlowFilter(source_pod=(f"shop/{odd}",))]) == [flow]
    assert store.query([FlowFilter(source_pod=("shop/we'b\\",))]) == [flow]
    assert store.query([FlowFilter(source_pod=("shop/we'b\\t",))]) == []
    assert store.count_by(["cluster"], clusters=["prod-eu' OR '1'='1"]) == []


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


VALUES = _values(ALL_FLOWS)
SORTED_FLOWS = by_time(ALL_FLOWS)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    whitelist=st.lists(filters(VALUES), max_size=2),
    blacklist=st.lists(filters(VALUES), max_size=2),
    since=st.none() | st.sampled_from(VALUES["times"]),
    until=st.none() | st.sampled_from(VALUES["times"]),
    limit=st.none() | st.integers(0, 30),
    order=st.sampled_from(["asc", "desc"]),
)
def test_query_equals_filter_flows(
    store: Any,
    whitelist: list[FlowFilter],
    blacklist: list[FlowFilter],
    since: int | None,
    until: int | None,
    limit: int | None,
    order: Any,
) -> None:
    in_range = [
        f
        for f in SORTED_FLOWS
        if (since is None or (f.time is not None and f.time >= since))
        and (until is None or (f.time is not None and f.time <= until))
    ]
    expected = list(filter_flows(in_range, whitelist, blacklist))
    if order == "desc":
        expected.reverse()
    got = store.query(whitelist, blacklist, since=since, until=until, limit=limit, order=order)
    assert got == expected[:limit]


# --- rollups --------------------------------------------------------------------------------


def test_count_by_matches_the_raw_flows(store: Any) -> None:
    expected = Counter(
        (f.source.namespace, f.destination.namespace, enum_name(f.verdict)) for f in ALL_FLOWS
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
        store.count_by([], resolution="day")


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


def test_hour_totals_equal_minute_totals_equal_raw_counts(stores: Stores) -> None:
    # The samples spread over ~6 hours (7 minutes apart), appended in two overlapping
    # batches of several chunks: the duplicates are counted in neither rollup.
    flows = [
        replace(f, uuid=f"h-{i}", time=T0 + i * 7 * 60 * 10**9) for i, f in enumerate(ALL_FLOWS)
    ]
    store = stores.open(chunk_rows=50)
    half = len(flows) // 2
    store.append(flows[: half + 5])
    assert store.append(flows[half:]).stored == len(flows) - half - 5
    expected = dict(_edge_counts(flows))
    for resolution in ("minute", "hour"):
        got = store.count_by(EDGE, resolution=resolution)
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


# --- retention ------------------------------------------------------------------------------


def test_retention_drops_whole_days_per_cluster(stores: Stores) -> None:
    store = stores.open(retention=RetentionPolicy(per_cluster={"short": timedelta(days=2)}))
    base = (T0 // DAY) * DAY  # midnight
    for cluster in ("short", "long"):
        batch = [
            flow
            for day in range(10)
            for flow in replicate(
                SAMPLES[:20], 20, f"{cluster}-{day}", start=base + day * DAY + 3600 * 10**9
            )
        ]
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


def test_retention_drops_raw_flows_then_minute_rollups_then_hour_rollups(stores: Stores) -> None:
    store = stores.open()  # the defaults: raw 7 days, minutes 30 days, hours 365 days
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
    store = stores.open(retention=custom)
    store.append(replicate(SAMPLES, 50, "c", start=base + 3600 * 10**9))
    store.enforce_retention(base + 3 * DAY)
    assert totals() == (50, 0, 50)
    store.enforce_retention(base + 4 * DAY)
    assert totals() == (50, 0, 0)


def test_rollup_retention_is_exact_to_the_minute(stores: Stores) -> None:
    # Cutoffs inside a rollup partition (a day of minutes, 30 days of hours).
    store = stores.open(
        retention=RetentionPolicy(minute_rollups=timedelta(days=1), hour_rollups=timedelta(days=2))
    )
    base = (T0 // DAY) * DAY
    minute = 60 * 10**9
    store.append(replicate(SAMPLES, 60, "m0", start=base))  # minute 0 of the day
    store.append(replicate(SAMPLES, 60, "m1", start=base + minute))  # minute 1
    store.append(replicate(SAMPLES, 60, "h2", start=base + 120 * minute))  # hour 2
    result = store.enforce_retention(base + DAY + minute + 1)  # minute 0 expires
    assert sum(g.flows for g in store.count_by([])) == 120
    assert result.rollup_rows_deleted > 0 and result.hour_rollup_rows_deleted == 0
    store.enforce_retention(base + 2 * DAY + 3600 * 10**9)  # hour 0 expires, 2 stays
    assert {g.key["hour"]: g.flows for g in store.count_by(["hour"], resolution="hour")} == {
        base // (3600 * 10**9) + 2: 60
    }


def test_retention_does_not_block_appends(stores: Stores) -> None:
    store = stores.open("r")
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


def test_the_store_satisfies_the_protocol(stores: Stores) -> None:
    store: FlowStore = stores.open()
    store.close()
