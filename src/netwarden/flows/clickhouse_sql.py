"""The ClickHouse flow store's SQL: the DDL (derived from ``flow_columns.ARROW_SCHEMA``), the
ingestion statements, and ``?`` placeholders turned into ClickHouse's typed ``{name:Type}``.

The statements are templates: ``{db}`` is the store's database, ``{batch}`` the Arrow batch
being appended (the connection decides how the engine reads it, see
:mod:`netwarden.flows.clickhouse_connection`), ``{name:Type}`` a query parameter bound by
the engine (never formatted into the text). See ``docs/design/flows.md`` ("ClickHouse
backend").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

import pyarrow as pa

from netwarden.flows.edges import (
    CLICKHOUSE_EDGES,
    DEFAULT_EXAMPLES,
    KEY_NAMES,
    increments_sql,
)
from netwarden.flows.flow_columns import ARROW_SCHEMA, COLUMNS
from netwarden.flows.store import HOUR_ROLLUP_DIMENSIONS, NANOS_PER_MINUTE, ROLLUP_DIMENSIONS

# The columns flow_columns.SCHEMA_SQL declares NOT NULL (a test keeps the two in step);
# every other scalar column is Nullable. Lists are never NULL in ClickHouse (Array cannot
# be Nullable): tcp_flags stores "no flags object" as [] (the raw JSON keeps the difference).
NOT_NULL = frozenset(
    """day seq key uuid cluster node_name verdict drop_reason_desc traffic_direction ip_version
    l4_protocol src_cluster src_namespace src_pod src_identity src_workload dst_cluster
    dst_namespace dst_pod dst_identity dst_workload summary src_workload_kind dst_workload_kind
    raw""".split()
)
# Strings with few distinct values: dictionary-encoded, cheaper to store, filter and group.
_LOW_CARDINALITY = frozenset(
    """cluster node_name verdict drop_reason_desc traffic_direction ip_version l4_protocol
    protocols tcp_flags src_cluster src_namespace src_workload dst_cluster dst_namespace
    dst_workload l7_type http_method src_workload_kind dst_workload_kind""".split()
)
_SCALARS = {
    pa.int64(): "Int64",
    pa.int32(): "Int32",
    pa.bool_(): "Bool",
    pa.date32(): "Date32",
    pa.string(): "String",
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def column_type(name: str, arrow_type: Any) -> str:
    """The ClickHouse type of one column of ``ARROW_SCHEMA``."""
    if pa.types.is_list(arrow_type):
        item = _SCALARS[arrow_type.value_type]
        return f"Array(LowCardinality({item}))" if name in _LOW_CARDINALITY else f"Array({item})"
    scalar = _SCALARS[arrow_type]
    if name not in NOT_NULL:
        scalar = f"Nullable({scalar})"
    return f"LowCardinality({scalar})" if name in _LOW_CARDINALITY else scalar


def _columns_ddl() -> str:
    return ",\n    ".join(f"{f.name} {column_type(f.name, f.type)}" for f in ARROW_SCHEMA)


# Durability: a returned INSERT has its part files and directory fsynced (see the docs).
_FSYNC = ("fsync_after_insert = 1", "fsync_part_directory = 1")


def _settings(*settings: str, fsync: bool) -> str:
    chosen = [*settings, *(_FSYNC if fsync else ())]
    return f" SETTINGS {', '.join(chosen)}" if chosen else ""


def _rollup_ddl(table: str, dimensions: Sequence[str], partition: str, fsync: bool) -> str:
    """A rollup: one row per dimension values and unit of time, ``flows`` summed by merges
    (lazily: readers always ``sum(flows)``). Insert deduplication by token makes replaying
    the rollup of an interrupted append harmless (see ``ClickHouseFlowStore``)."""
    types = dict.fromkeys(dimensions, "LowCardinality(String)")
    types |= {dimensions[0]: "Int64", "dst_port": "Int64"}
    columns = ", ".join(f"{d} {types[d]}" for d in dimensions)
    return (
        f"CREATE TABLE IF NOT EXISTS {{db}}.{table} ({columns}, flows Int64) "
        f"ENGINE = SummingMergeTree(flows) PARTITION BY intDiv({dimensions[0]}, {partition}) "
        f"ORDER BY ({', '.join(dimensions)})"
        + _settings("non_replicated_deduplication_window = 100", fsync=fsync)
    )


# Minute rollups are partitioned by day, hour rollups by 30 days: retention drops whole
# partitions and deletes rows only in the one partition its cutoff falls into.
ROLLUP_PARTITIONS = {"flow_rollup_minute": 1_440, "flow_rollup_hour": 720, "flow_edge_hour": 720}


def schema_statements(database: str, fsync: bool) -> list[str]:
    """The DDL, one statement each, for ``database``: the flows, a staging table for the
    connections that ship a batch before inserting it, both rollups and the ingest log."""
    flows = (
        f"CREATE TABLE IF NOT EXISTS {{db}}.flows (\n    {_columns_ddl()},\n"
        "    INDEX seq_range seq TYPE minmax GRANULARITY 1\n)"
        " ENGINE = MergeTree PARTITION BY (cluster, day) ORDER BY (src_namespace, time_ns)"
        + _settings("allow_nullable_key = 1", fsync=fsync)
    )
    statements = [
        "CREATE DATABASE IF NOT EXISTS {db}",
        flows,
        f"CREATE TABLE IF NOT EXISTS {{db}}.flows_incoming ({_columns_ddl()}) ENGINE = Memory",
        *(
            _rollup_ddl(table, dimensions, str(ROLLUP_PARTITIONS[table]), fsync)
            for table, dimensions in (
                ("flow_rollup_minute", ROLLUP_DIMENSIONS),
                ("flow_rollup_hour", HOUR_ROLLUP_DIMENSIONS),
            )
        ),
        *edge_rollup_ddl(fsync),
        # One row per chunk, written before the chunk's flows: what to replay after a crash.
        "CREATE TABLE IF NOT EXISTS {db}.flow_ingest_log (first_seq Int64, end_seq Int64, "
        "now_ns Int64) ENGINE = ReplacingMergeTree(first_seq) ORDER BY tuple()"
        + _settings(fsync=fsync),
    ]
    return [qualify(statement, database) for statement in statements]


# The hourly edge rollup (``flows.edges``): each edge's keys once under a 128-bit id
# (sipHash128 of the keys), and per (cluster, hour, edge) the flows, first and last time
# and the most recent examples, merged by ClickHouse (AggregatingMergeTree); readers
# aggregate per edge all the same.
_EDGE_KEY_TYPES = {
    "labels": "Array(String)",
    "identity": "Int64",
    "port": "Int64",
    "kafka": "Bool",
}


def _edge_key_type(name: str) -> str:
    return _EDGE_KEY_TYPES.get(name.removeprefix("src_").removeprefix("dst_"), "String")


def edge_rollup_ddl(fsync: bool) -> list[str]:
    keys = ", ".join(f"{name} {_edge_key_type(name)}" for name in KEY_NAMES)
    return [
        f"CREATE TABLE IF NOT EXISTS {{db}}.flow_edge_keys (edge FixedString(16), {keys}) "
        "ENGINE = ReplacingMergeTree ORDER BY edge"
        + _settings("non_replicated_deduplication_window = 100", fsync=fsync),
        "CREATE TABLE IF NOT EXISTS {db}.flow_edge_hour (hour Int64, "
        "cluster LowCardinality(String), edge FixedString(16), "
        "flows SimpleAggregateFunction(sum, Int64), "
        "first_ns SimpleAggregateFunction(min, Int64), "
        "last_ns SimpleAggregateFunction(max, Int64), "
        f"examples AggregateFunction(groupArraySorted({DEFAULT_EXAMPLES}), Tuple(Int64, String))"
        f") ENGINE = AggregatingMergeTree PARTITION BY intDiv(hour, "
        f"{ROLLUP_PARTITIONS['flow_edge_hour']}) ORDER BY (cluster, hour, edge)"
        + _settings("non_replicated_deduplication_window = 100", fsync=fsync),
    ]


_EDGE_NAMES = ", ".join(KEY_NAMES)
_EDGE_ID = f"sipHash128({_EDGE_NAMES})"


def edge_rollup_statements(source: str) -> list[tuple[str, str]]:
    """(name, statement) of the edge rollup inserts for the flows of ``source`` (a table
    expression): the keys of edges not stored yet, then the hourly increments; each one
    ``?`` (the path pattern, for ``bind``), rows in a fixed order (a replay with the same
    deduplication token is then a no-op)."""
    increments, _ = increments_sql(CLICKHOUSE_EDGES, source)
    keys = (
        f"INSERT INTO {{db}}.flow_edge_keys (edge, {_EDGE_NAMES}) "
        f"SELECT DISTINCT {_EDGE_ID} AS edge, {_EDGE_NAMES} FROM ({increments}) "
        "WHERE edge NOT IN (SELECT edge FROM {db}.flow_edge_keys) ORDER BY edge"
    )
    hours = (
        "INSERT INTO {db}.flow_edge_hour (hour, cluster, edge, flows, first_ns, last_ns, "
        f"examples) SELECT hour, cluster, {_EDGE_ID} AS edge, flows, assumeNotNull(first_ns), "
        f"assumeNotNull(last_ns), examples FROM ({increments}) ORDER BY hour, cluster, edge"
    )
    return [("edgekeys", keys), ("edgehours", hours)]


def qualify(sql: str, database: str) -> str:
    """``sql`` with ``{db}`` replaced by the (checked, quoted) database name."""
    if not _IDENTIFIER.match(database):
        raise ValueError(f"database name must be an identifier, not {database!r}")
    return sql.replace("{db}", f"`{database}`")


_COLUMN_LIST = ", ".join(COLUMNS)

# The batch minus the flows already stored: same key and same time (flows without a time:
# same key, no time, same ingestion day). {known} narrows the stored flows read to the
# batch's days and times and to its keys; transform_null_in makes NULL times compare equal.
INSERT_FLOWS = f"""
INSERT INTO {{db}}.flows ({_COLUMN_LIST})
SELECT {_COLUMN_LIST} FROM {{batch}} AS b
WHERE (b.key, b.time_ns, b.day) NOT IN (
    SELECT key, time_ns, day FROM {{db}}.flows
    WHERE day BETWEEN {{low_day:Date32}} AND {{high_day:Date32}} AND {{known}}
      AND key IN (SELECT key FROM {{batch}})
)
"""
INSERT_SETTINGS = {"transform_null_in": 1, "max_partitions_per_insert_block": 0}

# The per-minute increments of the flows with seq in [first, end), in a fixed order so a
# replay splits them into the same blocks (insert deduplication is per block).
# floor division: intDiv truncates towards zero.
_TIME = "ifNull(time_ns, {now:Int64})"
_MINUTE = f"intDiv({_TIME} - positiveModulo({_TIME}, {NANOS_PER_MINUTE}), {NANOS_PER_MINUTE})"
_INCREMENTS = f"""
SELECT {_MINUTE} AS minute, cluster, src_namespace, src_workload, dst_namespace, dst_workload,
       ifNull(dst_port, 0) AS dst_port, l4_protocol AS protocol, verdict, count() AS flows
FROM {{db}}.flows WHERE seq >= {{first:Int64}} AND seq < {{end:Int64}}
GROUP BY minute, cluster, src_namespace, src_workload, dst_namespace, dst_workload, dst_port,
         protocol, verdict
"""
_DIMENSIONS = ", ".join(ROLLUP_DIMENSIONS)
_HOUR_DIMENSIONS = ", ".join(HOUR_ROLLUP_DIMENSIONS)
_EDGE = ", ".join(ROLLUP_DIMENSIONS[1:])  # everything but the time
INSERT_MINUTE_ROLLUP = f"""
INSERT INTO {{db}}.flow_rollup_minute ({_DIMENSIONS}, flows)
SELECT {_DIMENSIONS}, flows FROM ({_INCREMENTS}) ORDER BY {_DIMENSIONS}
"""
INSERT_HOUR_ROLLUP = f"""
INSERT INTO {{db}}.flow_rollup_hour ({_HOUR_DIMENSIONS}, flows)
SELECT intDiv(minute - positiveModulo(minute, 60), 60) AS hour, {_EDGE},
       sum(flows) AS flows
FROM ({_INCREMENTS}) GROUP BY {_HOUR_DIMENSIONS} ORDER BY {_HOUR_DIMENSIONS}
"""
# INSERT ... SELECT, not VALUES: never an asynchronous insert (the default in ClickHouse 26),
# whatever the session's settings, so the row is in the table when the statement returns.
LOG_CHUNK = (
    "INSERT INTO {db}.flow_ingest_log (first_seq, end_seq, now_ns) "
    "SELECT {first:Int64}, {end:Int64}, {now:Int64}"
)
LAST_CHUNK = (
    "SELECT first_seq, end_seq, now_ns FROM {db}.flow_ingest_log ORDER BY first_seq DESC LIMIT 1"
)


def bind(sql: str, values: Sequence[object]) -> tuple[str, dict[str, object]]:
    """``sql`` with its ``?`` placeholders (``store_sql``'s) as typed ClickHouse parameters
    ``{p0:Type}``, and their values by name: the engine binds them, nothing is formatted into
    the text. The SQL text is ours (no ``?`` in any literal), which the count check enforces."""
    pieces = sql.split("?")
    if len(pieces) != len(values) + 1:
        raise ValueError(f"{len(pieces) - 1} placeholders for {len(values)} values")
    text = [pieces[0]]
    params: dict[str, object] = {}
    for index, (value, piece) in enumerate(zip(values, pieces[1:], strict=True)):
        name = f"p{index}"
        text.append(f"{{{name}:{_param_type(value)}}}{piece}")
        params[name] = value
    return "".join(text), params


def _param_type(value: object) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "Bool"
    if isinstance(value, int):
        return "Int64"
    if isinstance(value, str):
        return "String"
    if isinstance(value, date):
        return "Date32"
    raise TypeError(f"no ClickHouse parameter type for {type(value).__name__}")
