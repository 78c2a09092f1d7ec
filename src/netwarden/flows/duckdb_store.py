"""The embedded flow store: DuckDB, one columnar table of flows plus per-minute rollups.

- ``append(flows)`` turns the batch into Arrow tables (``chunk_rows`` rows each, 50,000 by
  default) and inserts them in one transaction together with the rollup increments: an
  anti-join on ``(day, key)`` keeps a flow already stored (same uuid, or same content hash
  when it has none) from being stored or counted twice. When ``append`` returns, the
  transaction is committed (DuckDB's write-ahead log), so an acknowledged batch survives a
  crash and an unacknowledged one is absent as a whole.
- ``query`` pushes what maps exactly to SQL (time range, verdict, drop reason, direction,
  namespace/pod prefix, cluster, identity, port, protocol, IP version, reply, uuid, exact
  IPs) and applies the full :class:`FlowFilter` semantics to the candidates rebuilt from
  the stored protojson, so results equal ``filter_flows`` over the same flows.
- ``enforce_retention(now)`` deletes whole days per cluster and old rollup minutes in short
  transactions of their own, without the lock appends take: inserts are never blocked.

See ``docs/design/flows.md`` ("Storage").
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from itertools import islice
from pathlib import Path
from time import time_ns
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from netwarden.flows.filter_core import FlowFilter, compile_filters
from netwarden.flows.filter_types import Predicate
from netwarden.flows.flowjson import flow_from_json
from netwarden.flows.store import (
    NANOS_PER_DAY,
    NANOS_PER_MINUTE,
    ROLLUP_DIMENSIONS,
    AppendResult,
    GroupCount,
    Order,
    RetentionPolicy,
    RetentionResult,
    canonical_json,
    dedup_key,
    flow_cluster,
)
from netwarden.model.flow import Flow, FlowEndpoint, IPVersion, Policy, enum_name

DEFAULT_CHUNK_ROWS = 50_000
_EPOCH_DAY = date(1970, 1, 1)
_FETCH = 2_048
_CONFLICT_RETRIES = 3

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS flows (
    day DATE NOT NULL,               -- UTC day of time_ns (of ingestion when the flow has none)
    time_ns BIGINT,                  -- nanoseconds since the epoch; NULL: the flow had no time
    seq BIGINT NOT NULL,             -- ingestion order
    key VARCHAR NOT NULL,            -- dedup key: uuid, else sha256: of the raw JSON
    uuid VARCHAR NOT NULL,
    cluster VARCHAR NOT NULL,        -- the observing cluster (retention is per cluster)
    node_name VARCHAR NOT NULL,
    verdict VARCHAR NOT NULL,
    drop_reason_desc VARCHAR NOT NULL,
    traffic_direction VARCHAR NOT NULL,
    ip_src VARCHAR,
    ip_dst VARCHAR,
    ip_version VARCHAR NOT NULL,
    l4_protocol VARCHAR NOT NULL,    -- TCP, UDP, ICMPv4, ... or ''
    protocols VARCHAR[] NOT NULL,    -- every L4 header present, plus dns/http/kafka
    src_port BIGINT,                 -- TCP, else UDP, else SCTP; NULL otherwise
    dst_port BIGINT,
    tcp_flags VARCHAR[],             -- names of the flags set; NULL: no flags object
    src_cluster VARCHAR NOT NULL,
    src_namespace VARCHAR NOT NULL,
    src_pod VARCHAR NOT NULL,
    src_labels VARCHAR[] NOT NULL,
    src_identity BIGINT NOT NULL,
    src_workload VARCHAR NOT NULL,
    dst_cluster VARCHAR NOT NULL,
    dst_namespace VARCHAR NOT NULL,
    dst_pod VARCHAR NOT NULL,
    dst_labels VARCHAR[] NOT NULL,
    dst_identity BIGINT NOT NULL,
    dst_workload VARCHAR NOT NULL,
    l7_type VARCHAR,
    dns_query VARCHAR,
    http_method VARCHAR,
    http_url VARCHAR,
    http_code INTEGER,
    egress_allowed_by VARCHAR[] NOT NULL,   -- kind/namespace/name
    ingress_allowed_by VARCHAR[] NOT NULL,
    egress_denied_by VARCHAR[] NOT NULL,
    ingress_denied_by VARCHAR[] NOT NULL,
    is_reply BOOLEAN,
    summary VARCHAR NOT NULL,
    raw VARCHAR NOT NULL             -- the flow's protojson, replayed by query()
);
CREATE TABLE IF NOT EXISTS flow_rollup_minute (
    minute BIGINT NOT NULL,          -- minutes since the epoch
    cluster VARCHAR NOT NULL,
    src_namespace VARCHAR NOT NULL,
    src_workload VARCHAR NOT NULL,
    dst_namespace VARCHAR NOT NULL,
    dst_workload VARCHAR NOT NULL,
    dst_port BIGINT NOT NULL,        -- 0 without ports
    protocol VARCHAR NOT NULL,
    verdict VARCHAR NOT NULL,
    flows BIGINT NOT NULL,
    PRIMARY KEY (minute, cluster, src_namespace, src_workload, dst_namespace, dst_workload,
                 dst_port, protocol, verdict)
);
"""

ARROW_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("time_ns", pa.int64()),
        ("seq", pa.int64()),
        ("key", pa.string()),
        ("uuid", pa.string()),
        ("cluster", pa.string()),
        ("node_name", pa.string()),
        ("verdict", pa.string()),
        ("drop_reason_desc", pa.string()),
        ("traffic_direction", pa.string()),
        ("ip_src", pa.string()),
        ("ip_dst", pa.string()),
        ("ip_version", pa.string()),
        ("l4_protocol", pa.string()),
        ("protocols", pa.list_(pa.string())),
        ("src_port", pa.int64()),
        ("dst_port", pa.int64()),
        ("tcp_flags", pa.list_(pa.string())),
        ("src_cluster", pa.string()),
        ("src_namespace", pa.string()),
        ("src_pod", pa.string()),
        ("src_labels", pa.list_(pa.string())),
        ("src_identity", pa.int64()),
        ("src_workload", pa.string()),
        ("dst_cluster", pa.string()),
        ("dst_namespace", pa.string()),
        ("dst_pod", pa.string()),
        ("dst_labels", pa.list_(pa.string())),
        ("dst_identity", pa.int64()),
        ("dst_workload", pa.string()),
        ("l7_type", pa.string()),
        ("dns_query", pa.string()),
        ("http_method", pa.string()),
        ("http_url", pa.string()),
        ("http_code", pa.int32()),
        ("egress_allowed_by", pa.list_(pa.string())),
        ("ingress_allowed_by", pa.list_(pa.string())),
        ("egress_denied_by", pa.list_(pa.string())),
        ("ingress_denied_by", pa.list_(pa.string())),
        ("is_reply", pa.bool_()),
        ("summary", pa.string()),
        ("raw", pa.string()),
    ]
)
COLUMNS = tuple(ARROW_SCHEMA.names)

_INSERT_FLOWS = """
INSERT INTO flows BY NAME
SELECT b.* FROM _batch b
ANTI JOIN (SELECT day, key FROM flows WHERE day BETWEEN ? AND ?) f
    ON f.day = b.day AND f.key = b.key
"""
_INSERT_ROLLUP = f"""
INSERT INTO flow_rollup_minute
SELECT coalesce(time_ns, ?) // {NANOS_PER_MINUTE} AS minute, cluster, src_namespace,
       src_workload, dst_namespace, dst_workload, coalesce(dst_port, 0) AS dst_port,
       l4_protocol AS protocol, verdict, count(*) AS flows
FROM flows WHERE seq >= ? AND seq < ?
GROUP BY ALL
ON CONFLICT DO UPDATE SET flows = flow_rollup_minute.flows + excluded.flows
"""


class DuckDBFlowStore:
    """A :class:`netwarden.flows.store.FlowStore` in one DuckDB file (or ``:memory:``).

    Safe to share between threads: each call works on its own DuckDB connection to the
    one database; appends are serialized by a lock (deduplication needs that), queries
    and retention run beside them.
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        retention: RetentionPolicy | None = None,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be positive")
        self.path = str(path)
        self.retention = retention if retention is not None else RetentionPolicy()
        self.chunk_rows = chunk_rows
        self._db = duckdb.connect(self.path)
        self._db.execute(SCHEMA_SQL)
        self._append_lock = threading.Lock()
        row = self._db.execute("SELECT coalesce(max(seq), -1) + 1 FROM flows").fetchall()[0]
        self._next_seq = int(row[0]) if row else 0

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DuckDBFlowStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- ingestion ---------------------------------------------------------------------

    def append(
        self, flows: Iterable[Flow], *, cluster: str | None = None, now: int | None = None
    ) -> AppendResult:
        """Store a batch in one transaction; a duplicate of a stored flow is skipped.

        ``cluster`` overrides the cluster derived from each flow (the agent that pushed
        the batch knows it); ``now`` (ns) is the ingestion time, used for the day and
        minute of flows that have no time.
        """
        batch = list(flows)
        ingest = now if now is not None else time_ns()
        with self._append_lock:
            for attempt in range(_CONFLICT_RETRIES):
                try:
                    return self._append_locked(batch, cluster, ingest)
                except duckdb.TransactionException:
                    if attempt == _CONFLICT_RETRIES - 1:
                        raise
        raise AssertionError("unreachable")

    def _append_locked(self, batch: list[Flow], cluster: str | None, now: int) -> AppendResult:
        seen: set[str] = set()
        stored = 0
        with self._db.cursor() as con:
            con.begin()
            try:
                for start in range(0, len(batch), self.chunk_rows):
                    chunk = batch[start : start + self.chunk_rows]
                    first = self._next_seq
                    table = flow_table(chunk, cluster, now, first, seen)
                    self._next_seq += table.num_rows
                    stored += self._insert(con, table, first, now)
                con.commit()
            except BaseException:
                con.rollback()
                raise
        return AppendResult(offered=len(batch), stored=stored)

    def _insert(self, con: duckdb.DuckDBPyConnection, table: Any, first: int, now: int) -> int:
        if table.num_rows == 0:
            return 0
        bounds = pc.min_max(table.column("day")).as_py()
        low, high = bounds["min"], bounds["max"]
        con.register("_batch", table)
        try:
            con.execute(_INSERT_FLOWS, [low, high]).fetchall()
        finally:
            con.unregister("_batch")
        end = first + table.num_rows
        row = con.execute("SELECT count(*) FROM flows WHERE seq >= ? AND seq < ?", [first, end])
        inserted = _scalar(row.fetchall()[0])
        if inserted:
            con.execute(_INSERT_ROLLUP, [now, first, end]).fetchall()
        return inserted

    # --- queries -----------------------------------------------------------------------

    def query(
        self,
        whitelist: Sequence[FlowFilter] = (),
        blacklist: Sequence[FlowFilter] = (),
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        order: Order = "asc",
    ) -> list[Flow]:
        """Flows with ``since <= time <= until`` that ``filter_flows`` keeps, by time then
        ingestion order (``desc``: the reverse), at most ``limit``."""
        return list(
            islice(self.iter_query(whitelist, blacklist, since, until, limit, order), limit)
        )

    def iter_query(
        self,
        whitelist: Sequence[FlowFilter] = (),
        blacklist: Sequence[FlowFilter] = (),
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        order: Order = "asc",
    ) -> Iterator[Flow]:
        """``query`` lazily: candidates are read and checked a few thousand at a time."""
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', not {order!r}")
        allow, deny = compile_filters(whitelist), compile_filters(blacklist)  # FilterError first
        where, params, exact = pushdown(whitelist, blacklist, since, until)
        by = "time_ns ASC NULLS FIRST, seq ASC"
        if order == "desc":
            by = "time_ns DESC NULLS LAST, seq DESC"
        sql = f"SELECT raw FROM flows WHERE {where} ORDER BY {by}"
        if exact and limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._candidates(sql, params, allow, deny)

    def _candidates(
        self, sql: str, params: list[object], allow: Sequence[Predicate], deny: Sequence[Predicate]
    ) -> Iterator[Flow]:
        with self._db.cursor() as con:
            result = con.execute(sql, params)
            while rows := result.fetchmany(_FETCH):
                for (raw,) in rows:
                    flow = flow_from_json(json.loads(raw))
                    if allow and not any(p(flow) for p in allow):
                        continue
                    if not any(p(flow) for p in deny):
                        yield flow

    def count(self, *, since: int | None = None, until: int | None = None) -> int:
        where, params, _ = pushdown((), (), since, until)
        with self._db.cursor() as con:
            return _scalar(
                con.execute(f"SELECT count(*) FROM flows WHERE {where}", params).fetchall()[0]
            )

    def count_by(
        self,
        group: Sequence[str],
        *,
        since: int | None = None,
        until: int | None = None,
        clusters: Sequence[str] = (),
    ) -> list[GroupCount]:
        """Rollup counts grouped by ``group`` (a subset of ``ROLLUP_DIMENSIONS``), largest
        first; ``since``/``until`` (ns) select whole minutes."""
        unknown = [g for g in group if g not in ROLLUP_DIMENSIONS]
        if unknown or len(set(group)) != len(group):
            raise ValueError(f"group by {list(group)}: dimensions are {ROLLUP_DIMENSIONS}")
        clauses, params = ["TRUE"], list[object]()
        if since is not None:
            clauses.append("minute >= ?")
            params.append(since // NANOS_PER_MINUTE)
        if until is not None:
            clauses.append("minute <= ?")
            params.append(until // NANOS_PER_MINUTE)
        if clusters:
            clauses.append(f"cluster IN ({_marks(clusters)})")
            params.extend(clusters)
        keys = ", ".join(group)
        select = f"{keys}, sum(flows)" if group else "sum(flows)"
        sql = f"SELECT {select} FROM flow_rollup_minute WHERE {' AND '.join(clauses)}"
        if group:
            sql += f" GROUP BY {keys} ORDER BY sum(flows) DESC, {keys}"
        with self._db.cursor() as con:
            rows = con.execute(sql, params).fetchall()
        return [
            GroupCount(dict(zip(group, row[:-1], strict=True)), int(row[-1]))
            for row in rows
            if row[-1] is not None
        ]

    # --- retention ---------------------------------------------------------------------

    def enforce_retention(self, now: int) -> RetentionResult:
        """Delete each cluster's days that ended more than its period before ``now`` (ns),
        and rollup minutes older than the rollup period. Takes no append lock."""
        deleted_days: list[tuple[str, str]] = []
        flows_deleted = 0
        with self._db.cursor() as con:
            stored = con.execute(
                "SELECT cluster, day, count(*) FROM flows GROUP BY ALL ORDER BY ALL"
            ).fetchall()
            by_cluster: dict[str, date] = {}
            for cluster, day, rows in stored:
                cutoff = _day_of(now - _nanos(self.retention.period(cluster)))
                if day < cutoff:
                    by_cluster[cluster] = cutoff
                    deleted_days.append((cluster, day.isoformat()))
                    flows_deleted += int(rows)
            for cluster, cutoff in by_cluster.items():
                con.execute(
                    "DELETE FROM flows WHERE cluster = ? AND day < ?", [cluster, cutoff]
                ).fetchall()
            rollup_cutoff = (now - _nanos(self.retention.rollups)) // NANOS_PER_MINUTE
            row = con.execute(
                "DELETE FROM flow_rollup_minute WHERE minute < ? RETURNING 1", [rollup_cutoff]
            ).fetchall()
        return RetentionResult(flows_deleted, tuple(deleted_days), len(row))


# --- batches as Arrow tables ------------------------------------------------------------


def flow_table(
    flows: Sequence[Flow],
    cluster: str | None,
    now: int,
    first_seq: int,
    seen: set[str] | None = None,
) -> Any:
    """The Arrow table (``ARROW_SCHEMA``) of a batch, minus flows whose key is in ``seen``
    (which it extends): a batch never holds the same flow twice."""
    seen = set() if seen is None else seen
    rows: list[tuple[object, ...]] = []
    now_day = now // NANOS_PER_DAY
    for flow in flows:
        raw = canonical_json(flow)
        key = dedup_key(flow, raw)
        if key in seen:
            continue
        seen.add(key)
        rows.append(_row(flow, raw, key, cluster, now_day, first_seq + len(rows)))
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    arrays = [pa.array(values, type=ARROW_SCHEMA.field(i).type) for i, values in enumerate(columns)]
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def _row(
    flow: Flow, raw: str, key: str, cluster: str | None, now_day: int, seq: int
) -> tuple[object, ...]:
    ip, l4, l7, src, dst = flow.IP, flow.l4, flow.l7, flow.source, flow.destination
    time = flow.time
    day = _EPOCH_DAY + timedelta(days=time // NANOS_PER_DAY if time is not None else now_day)
    protocols: list[str] = []
    l4_protocol = ""
    ports: tuple[int, int] | None = None
    flags: list[str] | None = None
    if l4 is not None:
        protocols = [name for name in _L4 if getattr(l4, name) is not None]
        l4_protocol = protocols[0] if protocols else ""
        ports = l4.ports
        if l4.TCP is not None and l4.TCP.flags is not None:
            tcp_flags = l4.TCP.flags
            flags = [name for name in _FLAGS if getattr(tcp_flags, name)]
    dns = http = None
    if l7 is not None:
        protocols += [name for name in ("dns", "http", "kafka") if getattr(l7, name) is not None]
        dns, http = l7.dns, l7.http
    return (
        day,
        time,
        seq,
        key,
        flow.uuid,
        cluster if cluster is not None else flow_cluster(flow),
        flow.node_name,
        enum_name(flow.verdict),
        enum_name(flow.drop_reason_desc),
        enum_name(flow.traffic_direction),
        ip.source if ip is not None else None,
        ip.destination if ip is not None else None,
        enum_name(ip.ipVersion) if ip is not None else IPVersion.IP_NOT_USED.name,
        l4_protocol,
        protocols,
        ports[0] if ports is not None else None,
        ports[1] if ports is not None else None,
        flags,
        *_endpoint(src),
        *_endpoint(dst),
        enum_name(l7.type) if l7 is not None else None,
        dns.query if dns is not None else None,
        http.method if http is not None else None,
        http.url if http is not None else None,
        http.code if http is not None else None,
        _policies(flow.egress_allowed_by),
        _policies(flow.ingress_allowed_by),
        _policies(flow.egress_denied_by),
        _policies(flow.ingress_denied_by),
        flow.is_reply,
        flow.Summary,
        raw,
    )


_L4 = ("TCP", "UDP", "ICMPv4", "ICMPv6", "SCTP", "VRRP", "IGMP")
_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS")


def _endpoint(endpoint: FlowEndpoint) -> tuple[object, ...]:
    workload = endpoint.workloads[0].name if endpoint.workloads else ""
    return (
        endpoint.cluster_name,
        endpoint.namespace,
        endpoint.pod_name,
        list(endpoint.labels),
        endpoint.identity,
        workload,
    )


def _policies(policies: tuple[Policy, ...]) -> list[str]:
    return [f"{p.kind}/{p.namespace}/{p.name}" for p in policies]


# --- filters to SQL ---------------------------------------------------------------------


def pushdown(
    whitelist: Sequence[FlowFilter],
    blacklist: Sequence[FlowFilter],
    since: int | None,
    until: int | None,
) -> tuple[str, list[object], bool]:
    """A WHERE clause that keeps every flow the request keeps (a superset), its parameters,
    and whether it is exact (then no check in Python is needed)."""
    clauses: list[str] = []
    params: list[object] = []
    if since is not None:
        clauses.append("day >= ? AND time_ns >= ?")
        params += [_day_of(since), since]
    if until is not None:
        clauses.append("day <= ? AND time_ns <= ?")
        params += [_day_of(until), until]
    exact = True
    if whitelist:
        alternatives: list[str] = []
        for ff in whitelist:
            sql, values, filter_exact = filter_sql(ff)
            exact = exact and filter_exact
            alternatives.append(sql)
            params += values
        clauses.append("(" + " OR ".join(alternatives) + ")")
    for ff in blacklist:
        sql, values, filter_exact = filter_sql(ff)
        if filter_exact:  # NOT of a superset would drop flows the request keeps
            clauses.append(f"NOT ({sql})")
            params += values
        else:
            exact = False
    return (" AND ".join(clauses) or "TRUE"), params, exact


def filter_sql(ff: FlowFilter) -> tuple[str, list[object], bool]:
    """One filter as SQL that is never NULL: (condition, parameters, exact).

    Fields without an exact SQL form are left out (the condition is then a superset).
    """
    parts: list[str] = []
    params: list[object] = []
    exact = True
    for name in ff.set_fields():
        translated = _field_sql(ff, name)
        if translated is None:
            exact = False
            continue
        sql, values = translated
        parts.append(f"coalesce(({sql}), FALSE)")
        params += values
    return (" AND ".join(parts) or "TRUE"), params, exact


def _field_sql(ff: FlowFilter, name: str) -> tuple[str, list[object]] | None:
    values: tuple[Any, ...] = getattr(ff, name)
    column = _MEMBER_COLUMNS.get(name)
    if column is not None:
        wanted = [v.name if hasattr(v, "name") else v for v in values]
        return f"{column} IN ({_marks(wanted)})", wanted
    if name == "drop_reason_desc":
        reasons = [v.name for v in values]
        return f"verdict = 'DROPPED' AND drop_reason_desc IN ({_marks(reasons)})", reasons
    if name in ("source_pod", "destination_pod"):
        return _pod_sql("src" if name == "source_pod" else "dst", values)
    if name in ("source_port", "destination_port"):
        column = "src_port" if name == "source_port" else "dst_port"
        ports: list[object] = [int(v) for v in values]
        return f"({column} & 65535) IN ({_marks(ports)})", ports
    if name == "protocol":
        names = sorted({p for v in values for p in _PROTOCOLS[v.lower()]})
        return f"list_has_any(protocols, [{_marks(names)}])", list(names)
    if name == "reply":
        wanted = [bool(v) for v in values]
        known = "(is_reply IS NOT NULL OR verdict = 'DROPPED')"
        return f"{known} AND coalesce(is_reply, FALSE) IN ({_marks(wanted)})", wanted
    if name in ("source_ip", "destination_ip") and all(_is_address(v) for v in values):
        column = "ip_src" if name == "source_ip" else "ip_dst"
        return f"{column} IN ({_marks(values)})", list(values)
    return None


_MEMBER_COLUMNS = {
    "verdict": "verdict",
    "traffic_direction": "traffic_direction",
    "ip_version": "ip_version",
    "uuid": "uuid",
    "source_identity": "src_identity",
    "destination_identity": "dst_identity",
    "source_cluster_name": "src_cluster",
    "destination_cluster_name": "dst_cluster",
}
_PROTOCOLS = {
    "tcp": ("TCP",),
    "udp": ("UDP",),
    "sctp": ("SCTP",),
    "icmpv4": ("ICMPv4",),
    "icmpv6": ("ICMPv6",),
    "icmp": ("ICMPv4", "ICMPv6"),
    "vrrp": ("VRRP",),
    "igmp": ("IGMP",),
    "dns": ("dns",),
    "http": ("http",),
    "kafka": ("kafka",),
}


def _pod_sql(side: str, values: Sequence[str]) -> tuple[str, list[object]]:
    """Hubble's ``ns/prefix`` (no ``/``: namespace ``default``; empty part: any)."""
    alternatives: list[str] = []
    params: list[object] = []
    for value in values:
        parts = value.split("/")
        namespace, prefix = (parts[0], parts[1]) if len(parts) > 1 else ("default", parts[0])
        checks = ["TRUE"]
        if namespace:
            checks.append(f"{side}_namespace = ?")
            params.append(namespace)
        if prefix:
            checks.append(f"starts_with({side}_pod, ?)")
            params.append(prefix)
        alternatives.append("(" + " AND ".join(checks) + ")")
    not_empty = f"NOT ({side}_namespace = '' AND {side}_pod = '')"
    return f"{not_empty} AND (" + " OR ".join(alternatives) + ")", params


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return "/" not in text


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


def _scalar(row: tuple[Any, ...] | None) -> int:
    return int(row[0]) if row is not None and row[0] is not None else 0


def _day_of(nanoseconds: int) -> date:
    return _EPOCH_DAY + timedelta(days=nanoseconds // NANOS_PER_DAY)


def _nanos(period: timedelta) -> int:
    return (period.days * 86_400 + period.seconds) * 1_000_000_000 + period.microseconds * 1_000
