"""The embedded flow store: DuckDB, one columnar table of flows plus per-minute and per-hour
rollups.

- ``append_arrow(table)`` inserts a batch already in columns (``flow_columns.ARROW_SCHEMA``,
  e.g. from :mod:`netwarden.flows.arrow_decode`) in one transaction together with the
  rollup increments (per minute, and the same increments summed per hour); ``append(flows)``
  turns flows into such tables (``chunk_rows`` rows each) and takes the same path. A flow
  already stored (same key, the uuid or a content hash, and same time) is neither stored nor
  counted twice: the anti-join reads only the stored flows whose time lies in the batch's
  time range, which DuckDB's zone maps prune to a few row groups when flows arrive roughly
  in time order, so it costs the same at 50 million flows as at 50 thousand. When an
  append returns, the transaction is committed (DuckDB's write-ahead log), so an
  acknowledged batch survives a crash and an unacknowledged one is absent as a whole.
- ``query`` pushes what maps exactly to SQL (time range, verdict, drop reason, direction,
  namespace/pod prefix, cluster, identity, port, protocol, IP version, reply, uuid, exact
  IPs) and applies the full :class:`FlowFilter` semantics to the candidates rebuilt from
  ``raw`` (``flow_columns.flow_from_raw``), so results equal ``filter_flows`` over the same
  flows.
- ``count_by(group, resolution="minute"|"hour")`` sums one of the two rollups.
- ``enforce_retention(now)`` deletes whole days per cluster, old rollup minutes and old
  rollup hours (each with its own period) in short transactions of their own, without the
  lock appends take: inserts are never blocked.

The schema and the ``Flow`` -> Arrow conversion live in :mod:`netwarden.flows.flow_columns`,
the filter push-down in :mod:`netwarden.flows.store_sql`; their public names are re-exported
here. See ``docs/design/flows.md`` ("Storage").
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from itertools import islice
from pathlib import Path
from time import time_ns
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netwarden.flows.edges import (
    DEFAULT_EXAMPLES,
    DUCKDB_EDGES,
    KEY_NAMES,
    EdgeQuery,
    EdgeTables,
    increments_sql,
    statements,
)
from netwarden.flows.filter_core import FlowFilter, compile_filters
from netwarden.flows.filter_types import Predicate
from netwarden.flows.flow_columns import (
    ARROW_SCHEMA,
    COLUMNS,
    EDGE_COLUMNS_SQL,
    SCHEMA_SQL,
    STAGED_COLUMNS_SQL,
    conform,
    day_of,
    flow_from_raw,
    flow_table,
)
from netwarden.flows.raw_blocks import BLOCKS_SQL, BlockReader, compress, layout
from netwarden.flows.store import (
    HOUR_ROLLUP_DIMENSIONS,
    NANOS_PER_HOUR,
    NANOS_PER_MINUTE,
    ROLLUP_DIMENSIONS,
    AppendResult,
    GroupCount,
    Order,
    Resolution,
    RetentionPolicy,
    RetentionResult,
)
from netwarden.flows.store_sql import filter_sql, pushdown, rollup_sql
from netwarden.model.flow import Flow

__all__ = [
    "ARROW_SCHEMA",
    "COLUMNS",
    "DEFAULT_CHUNK_ROWS",
    "SCHEMA_SQL",
    "DuckDBFlowStore",
    "filter_sql",
    "flow_table",
    "pushdown",
]

DEFAULT_CHUNK_ROWS = 50_000
# DuckDB checkpoints (writes the WAL's rows into the file, compressed) in the commit that
# takes the WAL past this size. DuckDB's own default: in one process, 10,000-row appends
# cost less CPU at 256 MB (42-61 µs a flow against 60-113), but under the fleet's ingest
# (400-flow pushes, queries beside them) 256 MB stored less (5,057 flows/s against 6,616)
# with more lag; docs/design/flows.md, "Checkpoints".
DEFAULT_CHECKPOINT_THRESHOLD = "16MiB"
_ROW_GROUP_ROWS = 122_880  # DuckDB's default row group size
_FETCH = 2_048
_CONFLICT_RETRIES = 3

# A flow is a duplicate when a stored flow has its key and time (no time: its key, no time
# and the same ingestion day). Only stored flows in the batch's time range are read: zone
# maps on time_ns (and day) skip the other row groups. The bounds are integers we computed.
# The answer is the batch rows (their ``seq``: positions in the offered batch) to skip.
_SAME_TIME = """
SELECT b.seq FROM _batch b
SEMI JOIN (SELECT key, time_ns FROM flows
           WHERE time_ns BETWEEN {low} AND {high} AND day BETWEEN '{first}' AND '{last}') f
    ON f.key = b.key AND f.time_ns = b.time_ns"""
_NO_TIME = """
SELECT b.seq FROM _batch b
SEMI JOIN (SELECT key, day FROM flows
           WHERE time_ns IS NULL AND day BETWEEN '{first}' AND '{last}') g
    ON b.time_ns IS NULL AND g.key = b.key AND g.day = b.day"""
_INSERT_FLOWS = "INSERT INTO flows BY NAME SELECT * FROM _new"
_INSERT_BLOCKS = "INSERT INTO flow_raw BY NAME SELECT * FROM _blocks"
# The per-minute increments of the rows just inserted (read from the Arrow batch, not the
# table), kept in a temporary table for the minute and the hour upserts.
_INCREMENTS = f"""
CREATE OR REPLACE TEMP TABLE _increments AS
SELECT coalesce(time_ns, ?) // {NANOS_PER_MINUTE} AS minute, cluster, src_namespace,
       src_workload, dst_namespace, dst_workload, coalesce(dst_port, 0) AS dst_port,
       l4_protocol AS protocol, verdict, count(*) AS flows
FROM _rollup
GROUP BY ALL
"""
# Rollups are increments, appended (no index to maintain): readers sum(flows) per key, and
# enforce_retention merges the rows of a key into one. Files written with a primary key on
# a rollup keep upserting into it (ON CONFLICT).
_INSERT_ROLLUP = "INSERT INTO flow_rollup_minute SELECT * FROM _increments"
_UPSERT = " ON CONFLICT DO UPDATE SET flows = {table}.flows + excluded.flows"
# The same increments summed per hour (floor(minute / 60) is the hour of the time).
_TO_HOURS = """
SELECT minute // 60 AS hour, cluster, src_namespace, src_workload, dst_namespace,
       dst_workload, dst_port, protocol, verdict, sum(flows) AS flows
FROM ({source}) {where}
GROUP BY ALL
"""
_INSERT_HOUR_ROLLUP = "INSERT INTO flow_rollup_hour " + _TO_HOURS.format(
    source="SELECT * FROM _increments", where=""
)
_HAS_KEY = """
SELECT count(*) FROM duckdb_constraints()
WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'"""
# Merge each key's increment rows older than ``?`` (minutes, hours) into one row.
_COMPACT = """
CREATE OR REPLACE TEMP TABLE _merged AS
SELECT {dims}, sum(flows) AS flows FROM {table} WHERE {time} < ?
GROUP BY ALL HAVING count(*) > 1;
DELETE FROM {table} t USING _merged m WHERE {same};
INSERT INTO {table} SELECT * FROM _merged;
DROP TABLE _merged;
"""
_DISTINCT_EXPIRED = "SELECT count(*) FROM (SELECT DISTINCT {dims} FROM {table} WHERE {time} < ?)"
_ROLLUP_COLUMNS = [
    "time_ns",
    "cluster",
    "src_namespace",
    "src_workload",
    "dst_namespace",
    "dst_workload",
    "dst_port",
    "l4_protocol",
    "verdict",
]
# Files written before raw blocks: their flows keep ``raw`` and have no block.
_BLOCK_COLUMNS = """
ALTER TABLE flows ADD COLUMN IF NOT EXISTS raw_block BIGINT;
ALTER TABLE flows ADD COLUMN IF NOT EXISTS raw_index INTEGER;
"""
_READ_BLOCKS = "SELECT block, count, size, offsets, data FROM flow_raw WHERE block IN ({})"
# A flow's JSON: in ``raw`` (files from before blocks), else in its block.
_RAW = "raw, raw_block, raw_index"
# A file written before the per-hour rollup existed: fill it once from the minutes.
_BACKFILL_HOUR_ROLLUP = "INSERT INTO flow_rollup_hour " + _TO_HOURS.format(
    source="SELECT * FROM flow_rollup_minute",
    where="WHERE NOT EXISTS (SELECT 1 FROM flow_rollup_hour)",
)

# The hourly edge rollup (``flows.edges``): each edge's keys once, under a 128-bit id (the
# MD5 of the keys), and per (hour, cluster, edge) increments: flows, first and last time,
# the most recent example uuids and their times. Readers aggregate per edge.
_EDGE_TYPES = {"labels": "VARCHAR[]", "identity": "BIGINT", "port": "BIGINT", "kafka": "BOOLEAN"}


def _edge_type(name: str) -> str:
    return _EDGE_TYPES.get(name.removeprefix("src_").removeprefix("dst_"), "VARCHAR")


_EDGE_KEY_COLUMNS = ", ".join(f"{name} {_edge_type(name)} NOT NULL" for name in KEY_NAMES)
EDGE_ROLLUP_SQL = f"""
CREATE TABLE IF NOT EXISTS flow_edge_keys (edge UHUGEINT NOT NULL, {_EDGE_KEY_COLUMNS});
CREATE TABLE IF NOT EXISTS flow_edge_hour (
    hour BIGINT NOT NULL,            -- hours since the epoch
    cluster VARCHAR NOT NULL,
    edge UHUGEINT NOT NULL,          -- flow_edge_keys.edge
    flows BIGINT NOT NULL,           -- increments: readers sum per edge
    first_ns BIGINT NOT NULL,
    last_ns BIGINT NOT NULL,
    examples VARCHAR[] NOT NULL,     -- the most recent uuids, newest first
    example_ns BIGINT[] NOT NULL     -- their times
);
"""
_EDGE_NAMES = ", ".join(KEY_NAMES)
_EDGE_ID = f"md5_number(CAST(to_json(row({_EDGE_NAMES})) AS VARCHAR))"
_EDGE_INCREMENTS = (
    f"CREATE OR REPLACE TEMP TABLE _edge_inc AS SELECT {_EDGE_ID} AS edge, * FROM ({{increments}})"
)
_INSERT_EDGES = [
    f"INSERT INTO flow_edge_keys SELECT DISTINCT ON (edge) edge, {_EDGE_NAMES} FROM _edge_inc i "
    "WHERE NOT EXISTS (SELECT 1 FROM flow_edge_keys k WHERE k.edge = i.edge)",
    "INSERT INTO flow_edge_hour SELECT hour, cluster, edge, flows, first_ns, last_ns, "
    "examples, example_ns FROM _edge_inc",
    "DROP TABLE _edge_inc",
]
_EDGE_SOURCE_COLUMNS = [
    name
    for name in COLUMNS
    if name not in ("raw", "key", "seq", "day", "summary", "node_name", "tcp_flags")
]
_EDGE_TABLES = EdgeTables()
# Merge each (hour, cluster, edge)'s increment rows before ``?`` into one row (the rows
# found by rowid: a delete joined on the keys is several times slower).
_COMPACT_EDGES = f"""
CREATE OR REPLACE TEMP TABLE _rows AS
SELECT f.rowid AS rid, f.* FROM flow_edge_hour f
SEMI JOIN (SELECT hour, cluster, edge FROM flow_edge_hour WHERE hour < ?
           GROUP BY ALL HAVING count(*) > 1) d USING (hour, cluster, edge);
CREATE OR REPLACE TEMP TABLE _merged AS
WITH sums AS (SELECT hour, cluster, edge, sum(flows) AS flows, min(first_ns) AS first_ns,
                     max(last_ns) AS last_ns FROM _rows GROUP BY ALL),
     ex AS (SELECT hour, cluster, edge, max_by(u, t, {DEFAULT_EXAMPLES}) AS examples,
                   max(t, {DEFAULT_EXAMPLES}) AS example_ns
            FROM (SELECT hour, cluster, edge, unnest(examples) AS u, unnest(example_ns) AS t
                  FROM _rows) GROUP BY ALL)
SELECT s.hour, s.cluster, s.edge, s.flows::BIGINT, s.first_ns, s.last_ns,
       coalesce(ex.examples, []::VARCHAR[]), coalesce(ex.example_ns, []::BIGINT[])
FROM sums s LEFT JOIN ex USING (hour, cluster, edge);
DELETE FROM flow_edge_hour
WHERE hour BETWEEN (SELECT min(hour) FROM _rows) AND (SELECT max(hour) FROM _rows)
  AND rowid IN (SELECT rid FROM _rows);
INSERT INTO flow_edge_hour SELECT * FROM _merged;
DROP TABLE _rows;
DROP TABLE _merged;
"""
# Keys no rollup row refers to any more (after retention), deleted under the append lock.
_UNUSED_EDGE_KEYS = (
    "DELETE FROM flow_edge_keys k "
    "WHERE NOT EXISTS (SELECT 1 FROM flow_edge_hour h WHERE h.edge = k.edge)"
)


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
        checkpoint_threshold: str = DEFAULT_CHECKPOINT_THRESHOLD,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be positive")
        self.path = str(path)
        self.retention = retention if retention is not None else RetentionPolicy()
        self.chunk_rows = chunk_rows
        self._db = duckdb.connect(self.path)
        self._db.execute("SET checkpoint_threshold = ?", [checkpoint_threshold])
        self._db.execute(SCHEMA_SQL)
        self._db.execute(_BLOCK_COLUMNS)
        self._db.execute(STAGED_COLUMNS_SQL)
        self._db.execute(EDGE_COLUMNS_SQL)
        self._db.execute(BLOCKS_SQL)
        self._db.execute(_BACKFILL_HOUR_ROLLUP)
        had_edge_rollup = self._has_table("flow_edge_hour")
        self._db.execute(EDGE_ROLLUP_SQL)
        if not had_edge_rollup:  # a file from before the edge rollup: fill it once
            self._db.execute("BEGIN")
            self._roll_up_edges(self._db, "flows")
            self._db.execute("COMMIT")
        self._rollup_sql = {
            table: sql + (_UPSERT.format(table=table) if self._has_key(table) else "")
            for table, sql in (
                ("flow_rollup_minute", _INSERT_ROLLUP),
                ("flow_rollup_hour", _INSERT_HOUR_ROLLUP),
            )
        }
        self._append_lock = threading.Lock()
        # Compresses a batch's raw blocks while DuckDB inserts its other columns.
        self._packer = ThreadPoolExecutor(1, thread_name_prefix="raw-blocks")
        row = self._db.execute("SELECT coalesce(max(seq), -1) + 1 FROM flows").fetchall()[0]
        self._next_seq = int(row[0]) if row else 0

    def _has_table(self, table: str) -> bool:
        sql = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?"
        return _scalar(self._db.execute(sql, [table]).fetchall()[0]) > 0

    @staticmethod
    def _roll_up_edges(con: duckdb.DuckDBPyConnection, source: str) -> None:
        """Append the hourly edge increments of the flows of ``source`` (a table or a
        registered batch) and the keys of edges not seen before."""
        increments, params = increments_sql(DUCKDB_EDGES, source)
        con.execute(_EDGE_INCREMENTS.format(increments=increments), params).fetchall()
        for sql in _INSERT_EDGES:
            con.execute(sql).fetchall()

    def _has_key(self, table: str) -> bool:
        return _scalar(self._db.execute(_HAS_KEY, [table]).fetchall()[0]) > 0

    def close(self) -> None:
        self._packer.shutdown()
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
        minute of flows that have no time. The flows become Arrow tables of
        ``chunk_rows`` rows (a key repeated in the batch is kept once), inserted as
        ``append_arrow`` inserts them. ``AppendResult.new_rows`` are the positions (in
        ``flows``) of the flows stored.
        """
        batch = list(flows)
        ingest = now if now is not None else time_ns()
        seen: set[str] = set()
        tables = [  # seq: each flow's position in the batch
            flow_table(batch[start : start + self.chunk_rows], cluster, ingest, start, seen)
            for start in range(0, len(batch), self.chunk_rows)
        ]
        return self._append_tables(len(batch), tables, ingest)

    def append_arrow(
        self, table: Any, *, cluster: str | None = None, now: int | None = None
    ) -> AppendResult:
        """Store a batch already in columns (``ARROW_SCHEMA``) in one transaction.

        ``seq`` is assigned here, ``day`` follows ``time_ns`` (the ingestion day ``now``
        when a flow has none), ``cluster`` (when given) overrides the table's, and a key
        repeated in the table is stored once (its first row). The bulk path: no ``Flow``
        objects. ``AppendResult.new_rows`` are the rows of ``table`` stored.
        """
        ingest = now if now is not None else time_ns()
        prepared = conform(table, cluster, ingest)  # seq: the row's position in ``table``
        return self._append_tables(table.num_rows, [prepared], ingest)

    def _append_tables(self, offered: int, tables: list[Any], now: int) -> AppendResult:
        """Insert tables of ``ARROW_SCHEMA`` (``seq``: positions in the offered batch) in
        one transaction, retried on a write-write conflict with a concurrent retention
        delete (DuckDB's optimistic concurrency)."""
        with self._append_lock:
            for attempt in range(_CONFLICT_RETRIES):
                try:
                    new = self._append_locked(tables, now)
                    return AppendResult(offered, len(new), new)
                except duckdb.TransactionException:
                    if attempt == _CONFLICT_RETRIES - 1:
                        raise
        raise AssertionError("unreachable")

    def _append_locked(self, tables: list[Any], now: int) -> Any:
        new: list[Any] = []
        next_seq = self._next_seq
        with self._db.cursor() as con:
            con.begin()
            try:
                for table in tables:
                    if table.num_rows:
                        positions = self._insert(con, table, next_seq, now)
                        new.append(positions)
                        next_seq += len(positions)
                con.commit()
            except BaseException:
                con.rollback()
                raise
        self._next_seq = next_seq
        return np.concatenate(new) if new else np.zeros(0, dtype=np.int64)

    def _insert(self, con: duckdb.DuckDBPyConnection, table: Any, first: int, now: int) -> Any:
        """Insert the flows of ``table`` not stored yet, their raw blocks, and the rollup
        increments of exactly those flows; their positions in the offered batch."""
        duplicates = _duplicates(con, table)
        if len(duplicates):
            table = table.filter(pc.invert(pc.is_in(table.column("seq"), pa.array(duplicates))))
        positions = table.column("seq").to_numpy()
        if not table.num_rows:
            return positions
        table = _with_seq(table, first)
        plan = layout(table.select(["seq", "cluster", "day"]))
        blocks = self._packer.submit(compress, table.column("raw"), plan)
        empty = pa.repeat(pa.scalar("", pa.string()), table.num_rows)
        flows = table.set_column(COLUMNS.index("raw"), "raw", empty)
        flows = flows.append_column("raw_block", plan.raw_block)
        flows = flows.append_column("raw_index", plan.raw_index)
        rollup = table.select(_ROLLUP_COLUMNS)
        try:
            _run(con, _INSERT_FLOWS, _new=_row_groups(flows))
            _run(con, _INCREMENTS, [now], _rollup=rollup)
            for sql in self._rollup_sql.values():
                con.execute(sql).fetchall()
            con.execute("DROP TABLE _increments").fetchall()
            con.register("_edge_batch", table.select(_EDGE_SOURCE_COLUMNS))
            try:
                self._roll_up_edges(con, "_edge_batch")
            finally:
                con.unregister("_edge_batch")
        finally:
            packed = blocks.result()  # never leave the worker on a batch we gave up
        _run(con, _INSERT_BLOCKS, _blocks=packed)
        return positions

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
        sql = f"SELECT {_RAW} FROM flows WHERE {where} ORDER BY {by}"
        if exact and limit is not None:
            # Late materialization: pick the page's rows on the narrow columns first and
            # read (decompress) ``raw`` only for them, not for every candidate of the
            # time range (5x faster for "one namespace, DROPPED, last hour, 100 newest").
            page = f"SELECT seq FROM flows WHERE {where} ORDER BY {by} LIMIT {int(limit)}"
            sql = f"SELECT {_RAW} FROM flows WHERE seq IN ({page}) ORDER BY {by}"
        return self._candidates(sql, params, allow, deny)

    def _candidates(
        self, sql: str, params: list[object], allow: Sequence[Predicate], deny: Sequence[Predicate]
    ) -> Iterator[Flow]:
        with self._db.cursor() as con, self._db.cursor() as blocks:
            reader = BlockReader(lambda ids: _read_blocks(blocks, ids))
            result = con.execute(sql, params)
            while rows := result.fetchmany(_FETCH):
                reader.load(block for _, block, _ in rows if block is not None)
                for raw, block, index in rows:
                    if block is not None:
                        raw = reader.get(block, index)
                        if raw is None:  # its day was deleted by retention meanwhile
                            continue
                    flow = flow_from_raw(raw)
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
        resolution: Resolution = "minute",
    ) -> list[GroupCount]:
        """Rollup counts grouped by ``group``, largest first, from the per-minute rollup
        (``group`` a subset of ``ROLLUP_DIMENSIONS``) or the per-hour one (a subset of
        ``HOUR_ROLLUP_DIMENSIONS``); ``since``/``until`` (ns) select whole minutes (hours)."""
        sql, params = rollup_sql(group, since, until, clusters, resolution)
        with self._db.cursor() as con:
            rows = con.execute(sql, params).fetchall()
        return [
            GroupCount(dict(zip(group, row[:-1], strict=True)), int(row[-1]))
            for row in rows
            if row[-1] is not None
        ]

    def edge_rows(self, query: EdgeQuery) -> list[tuple[Any, ...]]:
        """The flows grouped into observed edges (``flows.edges``): rows of raw flows and
        of the hourly edge rollup (whole hours), merged by the caller."""
        rows: list[tuple[Any, ...]] = []
        with self._db.cursor() as con:
            for sql, params in statements(query, DUCKDB_EDGES, _EDGE_TABLES):
                rows += con.execute(sql, params).fetchall()
        return rows

    # --- retention ---------------------------------------------------------------------

    def enforce_retention(self, now: int) -> RetentionResult:
        """Delete each cluster's days that ended more than its period before ``now`` (ns),
        rollup minutes older than the minute-rollup period and rollup hours older than the
        hour-rollup period. Takes no append lock."""
        deleted_days: list[tuple[str, str]] = []
        flows_deleted = 0
        with self._db.cursor() as con:
            stored = con.execute(
                "SELECT cluster, day, count(*) FROM flows GROUP BY ALL ORDER BY ALL"
            ).fetchall()
            by_cluster: dict[str, date] = {}
            for cluster, day, rows in stored:
                cutoff = day_of(now - _nanos(self.retention.period(cluster)))
                if day < cutoff:
                    by_cluster[cluster] = cutoff
                    deleted_days.append((cluster, day.isoformat()))
                    flows_deleted += int(rows)
            for cluster, cutoff in by_cluster.items():
                con.execute(
                    "DELETE FROM flows WHERE cluster = ? AND day < ?", [cluster, cutoff]
                ).fetchall()
                con.execute(  # after the flows: a query never finds a flow without its block
                    "DELETE FROM flow_raw WHERE cluster = ? AND day < ?", [cluster, cutoff]
                ).fetchall()
            minute_cutoff = (now - _nanos(self.retention.minute_rollups)) // NANOS_PER_MINUTE
            minutes = _expire_rollup(con, "flow_rollup_minute", "minute", minute_cutoff)
            hour_cutoff = (now - _nanos(self.retention.hour_rollups)) // NANOS_PER_HOUR
            hours = _expire_rollup(con, "flow_rollup_hour", "hour", hour_cutoff)
            edge_hours = _expire_rollup(con, "flow_edge_hour", "hour", hour_cutoff)
            if edge_hours:
                with self._append_lock:  # an append may be adding rows of a known edge
                    con.execute(_UNUSED_EDGE_KEYS).fetchall()
            self.compact_rollups(now, con)
        return RetentionResult(flows_deleted, tuple(deleted_days), minutes, hours, edge_hours)

    def compact_rollups(self, now: int, con: duckdb.DuckDBPyConnection | None = None) -> None:
        """Merge the increment rows of each rollup key into one, for the minutes (hours)
        before ``now`` (ns). Part of ``enforce_retention``; takes no append lock (appends
        only insert rollup rows, so they never conflict with it), one short transaction per
        rollup. Readers sum per key, so answers are the same before and after."""
        cursor = con if con is not None else self._db.cursor()
        try:
            for table, unit, time_column in (
                ("flow_rollup_minute", NANOS_PER_MINUTE, "minute"),
                ("flow_rollup_hour", NANOS_PER_HOUR, "hour"),
            ):
                if table in self._keyed():
                    continue  # a primary key already keeps one row per key
                _compact(cursor, table, time_column, now // unit)
            _compact_sql(cursor, _COMPACT_EDGES, now // NANOS_PER_HOUR)
        finally:
            if con is None:
                cursor.close()

    def _keyed(self) -> set[str]:
        return {t for t, sql in self._rollup_sql.items() if "ON CONFLICT" in sql}


_DIMS = {
    "flow_rollup_minute": ROLLUP_DIMENSIONS,
    "flow_rollup_hour": HOUR_ROLLUP_DIMENSIONS,
    "flow_edge_hour": ("hour", "cluster", "edge"),
}


def _expire_rollup(
    con: duckdb.DuckDBPyConnection, table: str, time_column: str, cutoff: int
) -> int:
    """Delete a rollup's rows before ``cutoff``; the number of distinct keys deleted."""
    dims = ", ".join(_DIMS[table])
    sql = _DISTINCT_EXPIRED.format(dims=dims, table=table, time=time_column)
    keys = _scalar(con.execute(sql, [cutoff]).fetchall()[0])
    if keys:
        con.execute(f"DELETE FROM {table} WHERE {time_column} < ?", [cutoff]).fetchall()
    return keys


def _compact(con: duckdb.DuckDBPyConnection, table: str, time_column: str, cutoff: int) -> None:
    dims = _DIMS[table]
    same = " AND ".join(f"t.{d} = m.{d}" for d in dims)
    sql = _COMPACT.format(dims=", ".join(dims), table=table, time=time_column, same=same)
    _compact_sql(con, sql, cutoff)


def _compact_sql(con: duckdb.DuckDBPyConnection, sql: str, cutoff: int) -> None:
    """Run a compaction script (``?``: the cutoff) in one short transaction."""
    con.begin()
    try:
        for statement in filter(str.strip, sql.split(";")):
            con.execute(statement, [cutoff] if "?" in statement else None).fetchall()
        con.commit()
    except duckdb.TransactionException:
        con.rollback()  # a concurrent compaction got there first: nothing lost
    except BaseException:
        con.rollback()
        raise


def _row_groups(table: Any) -> Any:
    """The table as record batches of DuckDB's row group size, every column cut at the same
    rows. Batches arrive as concatenations (of decoded blocks, of generated chunks) with
    ``seq``, ``raw`` and the block columns replaced whole, so their columns are chunked
    differently; DuckDB inserts such a table with about a third more CPU and on one
    thread. Making the narrow columns contiguous (``raw`` is in blocks by now) costs a
    few per cent of that."""
    batches = table.combine_chunks().to_batches(max_chunksize=_ROW_GROUP_ROWS)
    return pa.Table.from_batches(batches, schema=table.schema)


def _with_seq(table: Any, first: int) -> Any:
    """The table with ``seq`` = first, first + 1, ... (ingestion order)."""
    seq = pa.array(np.arange(first, first + table.num_rows, dtype=np.int64))
    return table.set_column(COLUMNS.index("seq"), "seq", seq)


def _run(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None, **views: Any
) -> None:
    """Run ``sql`` with Arrow tables registered under the given names for its duration."""
    for name, table in views.items():
        con.register(name, table)
    try:
        con.execute(sql, params).fetchall()
    finally:
        for name in views:
            con.unregister(name)


def _read_blocks(con: duckdb.DuckDBPyConnection, ids: Sequence[int]) -> list[Any]:
    """The rows of ``flow_raw`` for these block ids (integers we read from the table)."""
    sql = _READ_BLOCKS.format(", ".join(str(int(i)) for i in ids))
    return con.execute(sql).fetchall()


def _duplicates(con: duckdb.DuckDBPyConnection, table: Any) -> Any:
    """The ``seq`` of the rows of ``table`` already stored (same key and time; no time: same
    key, no time, same ingestion day), read only from the stored flows of its time range."""
    parts = []
    times = pc.min_max(table.column("time_ns")).as_py()
    if times["min"] is not None:
        timed = pc.filter(table.column("day"), pc.is_valid(table.column("time_ns")))
        days = pc.min_max(timed).as_py()
        parts.append(
            _SAME_TIME.format(
                low=int(times["min"]), high=int(times["max"]), first=days["min"], last=days["max"]
            )
        )
    untimed = pc.filter(table.column("day"), pc.is_null(table.column("time_ns")))
    if len(untimed):
        days = pc.min_max(untimed).as_py()
        parts.append(_NO_TIME.format(first=days["min"], last=days["max"]))
    if not parts:
        return np.zeros(0, dtype=np.int64)
    con.register("_batch", table.select(["seq", "key", "time_ns", "day"]))
    try:
        found = con.execute(" UNION ALL ".join(parts)).fetchnumpy()["seq"]
    finally:
        con.unregister("_batch")
    return np.asarray(found, dtype=np.int64)


def _scalar(row: tuple[Any, ...] | None) -> int:
    return int(row[0]) if row is not None and row[0] is not None else 0


def _nanos(period: timedelta) -> int:
    return (period.days * 86_400 + period.seconds) * 1_000_000_000 + period.microseconds * 1_000
