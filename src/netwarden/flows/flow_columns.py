"""The flow store's schema: the DuckDB DDL, the Arrow schema, and ``Flow`` -> Arrow rows.

``flow_table`` turns a batch of flows into one Arrow table of ``ARROW_SCHEMA`` (one row per
flow, its canonical protojson in ``raw``), dropping flows whose dedup key it has already
seen; ``flows_table`` keeps every flow (the exact half of :mod:`netwarden.flows.arrow_decode`).
``raw`` is a flow's JSON object or a whole Hubble line (envelope or bare flow, as the bulk
decoder stores it): ``flow_from_raw`` replays both. Used by the flow stores; see
``docs/design/flows.md`` ("Storage", "Schema", "Bulk ingest").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netwarden.flows.decode import decode_object
from netwarden.flows.flowjson import flow_from_json
from netwarden.flows.store import NANOS_PER_DAY, canonical_json, dedup_key, flow_cluster
from netwarden.model.flow import Flow, FlowEndpoint, IPVersion, Policy, enum_name

_EPOCH_DAY = date(1970, 1, 1)

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
    staged_denied VARCHAR[] NOT NULL DEFAULT [],   -- staged policies that would deny it
    staged_allowed VARCHAR[] NOT NULL DEFAULT [],  -- ... that would allow it (StagedVerdict)
    dst_names VARCHAR[] NOT NULL DEFAULT [],      -- destination_names: DNS names of a world IP
    src_workload_kind VARCHAR NOT NULL DEFAULT '', -- the first workload's kind (Deployment, ...)
    dst_workload_kind VARCHAR NOT NULL DEFAULT '',
    raw VARCHAR NOT NULL USING COMPRESSION zstd  -- the flow's JSON or Hubble line (flow_from_raw)
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
    flows BIGINT NOT NULL            -- increments: readers sum(flows) per key
);
CREATE TABLE IF NOT EXISTS flow_rollup_hour (
    hour BIGINT NOT NULL,            -- hours since the epoch; the sums of flow_rollup_minute
    cluster VARCHAR NOT NULL,
    src_namespace VARCHAR NOT NULL,
    src_workload VARCHAR NOT NULL,
    dst_namespace VARCHAR NOT NULL,
    dst_workload VARCHAR NOT NULL,
    dst_port BIGINT NOT NULL,
    protocol VARCHAR NOT NULL,
    verdict VARCHAR NOT NULL,
    flows BIGINT NOT NULL
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
        ("staged_denied", pa.list_(pa.string())),
        ("staged_allowed", pa.list_(pa.string())),
        ("dst_names", pa.list_(pa.string())),
        ("src_workload_kind", pa.string()),
        ("dst_workload_kind", pa.string()),
        ("raw", pa.string()),
    ]
)
COLUMNS = tuple(ARROW_SCHEMA.names)


def day_of(nanoseconds: int) -> date:
    """The UTC day of a time in nanoseconds since the epoch (the ``day`` column)."""
    return _EPOCH_DAY + timedelta(days=nanoseconds // NANOS_PER_DAY)


def flow_table(
    flows: Sequence[Flow],
    cluster: str | None,
    now: int,
    first_seq: int,
    seen: set[str] | None = None,
    raws: Sequence[str | None] | None = None,
) -> Any:
    """The Arrow table (``ARROW_SCHEMA``) of a batch, minus flows whose key is in ``seen``
    (which it extends): a batch never holds the same flow twice. ``seq`` is ``first_seq``
    plus the flow's position in ``flows`` (so a store can tell which flows it kept).

    ``raws[i]``, when given and not None, is a JSON text that ``flow_from_raw`` replays
    to exactly ``flows[i]`` (the Hubble line it was decoded from): it is stored as the
    flow's ``raw`` instead of the canonical JSON, which then need not be encoded. A flow
    without a uuid always gets its canonical JSON (its dedup key is that text's hash)."""
    seen = set() if seen is None else seen
    rows: list[tuple[object, ...]] = []
    now_day = now // NANOS_PER_DAY
    for position, flow in enumerate(flows, first_seq):
        given = raws[position - first_seq] if raws is not None else None
        raw = given if given is not None and flow.uuid else canonical_json(flow)
        key = dedup_key(flow, raw)
        if key in seen:
            continue
        seen.add(key)
        rows.append(_row(flow, raw, key, cluster, now_day, position))
    return _table(rows)


def flows_table(
    flows: Sequence[Flow],
    seqs: Sequence[int],
    cluster: str | None,
    now: int,
    raws: Sequence[str | None] | None = None,
) -> Any:
    """The Arrow table of every flow, duplicates included, ``seq`` from ``seqs``;
    ``raws`` as in ``flow_table``."""
    now_day = now // NANOS_PER_DAY
    rows = []
    for index, (flow, seq) in enumerate(zip(flows, seqs, strict=True)):
        given = raws[index] if raws is not None else None
        raw = given if given is not None and flow.uuid else canonical_json(flow)
        rows.append(_row(flow, raw, dedup_key(flow, raw), cluster, now_day, seq))
    return _table(rows)


def _table(rows: list[tuple[object, ...]]) -> Any:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    arrays = [pa.array(values, type=ARROW_SCHEMA.field(i).type) for i, values in enumerate(columns)]
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def conform(table: Any, cluster: str | None, now: int) -> Any:
    """A table with the columns of ``ARROW_SCHEMA`` as a store inserts it: ``seq`` the
    row's position in ``table`` (the store assigns its own when it inserts), ``day`` from
    ``time_ns`` (the day of ``now`` without one), ``cluster`` overridden when given, and a
    key that repeats kept once (its first row), as ``flow_table`` keeps it."""
    table = _with_defaults(table).select(list(COLUMNS)).cast(ARROW_SCHEMA)
    positions = pa.array(np.arange(table.num_rows, dtype=np.int64))
    table = table.set_column(COLUMNS.index("seq"), "seq", positions)
    time = table.column("time_ns")
    days = pc.divide(
        pc.subtract(time, pc.if_else(pc.less(time, 0), NANOS_PER_DAY - 1, 0)), NANOS_PER_DAY
    )
    days = pc.fill_null(days, now // NANOS_PER_DAY).cast(pa.int32()).cast(pa.date32())
    table = table.set_column(COLUMNS.index("day"), "day", days)
    if cluster is not None:
        clusters = pa.repeat(pa.scalar(cluster, pa.string()), table.num_rows)
        table = table.set_column(COLUMNS.index("cluster"), "cluster", clusters)
    return first_of_each_key(table)


# Columns a producer may leave out or null (tables made before they existed): their
# defaults, as the DDL's.
_DEFAULTS: dict[str, Any] = {
    "staged_denied": [],
    "staged_allowed": [],
    "dst_names": [],
    "src_workload_kind": "",
    "dst_workload_kind": "",
}


def _with_defaults(table: Any) -> Any:
    for name, default in _DEFAULTS.items():
        kind = ARROW_SCHEMA.field(name).type
        if name not in table.column_names:
            table = table.append_column(name, pa.array([default] * table.num_rows, type=kind))
        elif table.column(name).null_count:
            filled = pc.fill_null(table.column(name).cast(kind), pa.scalar(default, kind))
            table = table.set_column(table.column_names.index(name), name, filled)
    return table


def first_of_each_key(table: Any) -> Any:
    """The table without the later rows of a key it already had (order kept)."""
    keys = table.column("key")
    if pc.count_distinct(keys).as_py() == table.num_rows:
        return table
    numbered = table.append_column("_row", pa.array(np.arange(table.num_rows)))
    firsts = numbered.group_by("key", use_threads=False).aggregate([("_row", "min")])
    return table.take(pc.sort_indices(firsts.column("_row_min")))


def flow_from_raw(raw: str) -> Flow:
    """The flow a ``raw`` value holds: a flow's JSON object, or a whole Hubble line (an
    envelope, whose ``node_name`` and ``time`` fill in as when it was decoded)."""
    obj = json.loads(raw)
    if isinstance(obj.get("flow"), dict):
        decoded = decode_object(obj)
        if isinstance(decoded, Flow):
            return decoded
    return flow_from_json(obj)


def _row(
    flow: Flow, raw: str, key: str, cluster: str | None, now_day: int, seq: int
) -> tuple[object, ...]:
    ip, l4, l7, src, dst = flow.IP, flow.l4, flow.l7, flow.source, flow.destination
    time = flow.time
    day = _EPOCH_DAY + timedelta(days=time // NANOS_PER_DAY if time is not None else now_day)
    # Lists are built as tuples, and empty ones shared: a batch holds its rows until the
    # table is made, and fewer tracked objects keep the garbage collector's passes short.
    protocols: tuple[str, ...] = ()
    l4_protocol = ""
    ports: tuple[int, int] | None = None
    flags: tuple[str, ...] | None = None
    if l4 is not None:
        protocols = tuple([name for name in _L4 if getattr(l4, name) is not None])
        l4_protocol = protocols[0] if protocols else ""
        ports = l4.ports
        if l4.TCP is not None and l4.TCP.flags is not None:
            tcp_flags = l4.TCP.flags
            flags = tuple([name for name in _FLAGS if getattr(tcp_flags, name)])
    dns = http = None
    if l7 is not None:
        protocols += tuple([name for name in _L7 if getattr(l7, name) is not None])
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
        policy_refs(flow.egress_allowed_by),
        policy_refs(flow.ingress_allowed_by),
        policy_refs(flow.egress_denied_by),
        policy_refs(flow.ingress_denied_by),
        flow.is_reply,
        flow.Summary,
        *staged_columns(flow),
        flow.destination_names,
        _workload_kind(src),
        _workload_kind(dst),
        raw,
    )


_L4 = ("TCP", "UDP", "ICMPv4", "ICMPv6", "SCTP", "VRRP", "IGMP")
_L7 = ("dns", "http", "kafka")
_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS")


def _endpoint(endpoint: FlowEndpoint) -> tuple[object, ...]:
    workload = endpoint.workloads[0].name if endpoint.workloads else ""
    return (
        endpoint.cluster_name,
        endpoint.namespace,
        endpoint.pod_name,
        endpoint.labels,
        endpoint.identity,
        workload,
    )


def _workload_kind(endpoint: FlowEndpoint) -> str:
    return endpoint.workloads[0].kind if endpoint.workloads else ""


STAGED_COLUMNS = ("staged_denied", "staged_allowed")
# Stores written before staged policies: their flows have no staged marks.
STAGED_COLUMNS_SQL = """
ALTER TABLE flows ADD COLUMN IF NOT EXISTS staged_denied VARCHAR[] DEFAULT [];
ALTER TABLE flows ADD COLUMN IF NOT EXISTS staged_allowed VARCHAR[] DEFAULT [];
"""


# Stores written before the edge columns: their flows have no names or workload kinds.
EDGE_COLUMNS = ("dst_names", "src_workload_kind", "dst_workload_kind")
EDGE_COLUMNS_SQL = """
ALTER TABLE flows ADD COLUMN IF NOT EXISTS dst_names VARCHAR[] DEFAULT [];
ALTER TABLE flows ADD COLUMN IF NOT EXISTS src_workload_kind VARCHAR DEFAULT '';
ALTER TABLE flows ADD COLUMN IF NOT EXISTS dst_workload_kind VARCHAR DEFAULT '';
"""


def staged_columns(flow: Flow) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ``staged_denied`` and ``staged_allowed`` columns: the staged policies that would
    deny / allow the flow (``Flow.staged``, Netwarden's extension)."""
    if not flow.staged:
        return _NO_STAGED
    denied = tuple([s.policy for s in flow.staged if s.outcome == "deny"])
    return denied, tuple([s.policy for s in flow.staged if s.outcome == "allow"])


_NO_STAGED: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())


def policy_refs(policies: tuple[Policy, ...]) -> tuple[str, ...]:
    """A policy list as the store's columns hold it: ``kind/namespace/name`` each."""
    if not policies:
        return ()
    return tuple([f"{p.kind}/{p.namespace}/{p.name}" for p in policies])
