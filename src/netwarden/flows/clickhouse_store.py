"""The ClickHouse flow store: the DuckDB store's schema and answers, at fleet scale.

- Flows go to a ``MergeTree`` partitioned by ``(cluster, day)`` (retention drops whole
  partitions, a metadata operation that never waits for inserts) and sorted by
  ``(src_namespace, time_ns)`` (time ranges within a namespace read few granules).
- ``append`` / ``append_arrow`` insert Arrow batches of ``chunk_rows`` rows, never row by
  row, deduplicated exactly against what is stored (``_insert_chunk``), then feed the
  per-minute and per-hour ``SummingMergeTree`` rollups from exactly the rows inserted.
- ``query`` pushes the filters down in the ClickHouse dialect of
  :mod:`netwarden.flows.store_sql` and checks the candidates, rebuilt from ``raw``, with the
  full :class:`FlowFilter` semantics: answers equal ``filter_flows``.
- An append interrupted between its flows and its rollups (crash, lost connection) is
  completed when the store opens, or before the next append (``_replay_last_chunk``).

The SQL lives in :mod:`netwarden.flows.clickhouse_sql`, the connections (embedded chdb, or a
server through clickhouse-connect) in :mod:`netwarden.flows.clickhouse_connection`. See
``docs/design/flows.md`` ("ClickHouse backend").
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterable, Sequence
from itertools import islice
from pathlib import Path
from time import time_ns
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netwarden.flows.clickhouse_connection import (
    ChdbConnection,
    ClickHouseConnection,
    ServerConnection,
)
from netwarden.flows.clickhouse_retention import expire
from netwarden.flows.clickhouse_sql import (
    INSERT_FLOWS,
    INSERT_HOUR_ROLLUP,
    INSERT_MINUTE_ROLLUP,
    INSERT_SETTINGS,
    LAST_CHUNK,
    LOG_CHUNK,
    bind,
    column_type,
    edge_rollup_statements,
    qualify,
    schema_statements,
)
from netwarden.flows.edges import (
    CLICKHOUSE_EDGES,
    PATH_PATTERN,
    EdgeQuery,
    EdgeTables,
    statements,
)
from netwarden.flows.filter_core import FlowFilter, compile_filters
from netwarden.flows.flow_columns import (
    ARROW_SCHEMA,
    COLUMNS,
    conform,
    flow_from_raw,
    flow_table,
)
from netwarden.flows.store import (
    AppendResult,
    FlowStore,
    GroupCount,
    Order,
    Resolution,
    RetentionPolicy,
    RetentionResult,
)
from netwarden.flows.store_sql import CLICKHOUSE, pushdown, rollup_sql
from netwarden.model.flow import Flow

__all__ = ["DEFAULT_CHUNK_ROWS", "ChdbConnection", "ClickHouseFlowStore", "ServerConnection"]

DEFAULT_CHUNK_ROWS = 50_000
DEFAULT_DATABASE = "netwarden"


class ClickHouseFlowStore:
    """A :class:`netwarden.flows.store.FlowStore` in one ClickHouse database.

    Safe to share between threads: appends are serialized by a lock (deduplication and the
    ingest log need that); queries and retention run beside them. One store should write a
    database at a time (the lock is per process).
    """

    def __init__(
        self,
        connection: ClickHouseConnection,
        *,
        database: str = DEFAULT_DATABASE,
        retention: RetentionPolicy | None = None,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        fsync: bool = True,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be positive")
        self.database = database
        self.retention = retention if retention is not None else RetentionPolicy()
        self.chunk_rows = chunk_rows
        self._con = connection
        had_edge_rollup = self._has_edge_rollup()
        for statement in schema_statements(database, fsync):
            self._con.command(statement)
        for statement in _added_columns_statements(database):
            self._con.command(statement)
        if not had_edge_rollup:  # a database from before the edge rollup: fill it once
            self._roll_up_edges("{db}.flows", {}, "backfill")
        self._append_lock = threading.Lock()
        self._next_seq = 0
        self._replay_needed = True
        self._replay_last_chunk()  # in case the last append stopped midway

    @classmethod
    def embedded(cls, path: str | Path, **options: Any) -> ClickHouseFlowStore:
        """A store in the chdb engine of this process, data in the directory ``path``."""
        return cls(ChdbConnection(path), **options)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ClickHouseFlowStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sql(self, template: str) -> str:
        return qualify(template, self.database)

    def _has_edge_rollup(self) -> bool:
        found = self._con.rows(
            "SELECT count() FROM system.tables WHERE database = {database:String} "
            "AND name = 'flow_edge_hour'",
            {"database": self.database},
        )
        return int(found[0][0]) > 0

    def _roll_up_edges(self, source: str, params: dict[str, object], token: str) -> None:
        """The edge rollup inserts for the flows of ``source``: keys, then increments."""
        for name, template in edge_rollup_statements(source):
            statement, values = bind(self._sql(template), [PATH_PATTERN])
            settings = {"insert_deduplication_token": f"{self.database}-{name}-{token}"}
            self._con.command(statement, {**params, **values}, settings)

    # --- ingestion ---------------------------------------------------------------------

    def append(
        self, flows: Iterable[Flow], *, cluster: str | None = None, now: int | None = None
    ) -> AppendResult:
        """Store a batch; a flow already stored (same key and time) is skipped.

        ``cluster`` overrides the cluster derived from each flow; ``now`` (ns) is the
        ingestion time: the day and minute of flows that have no time."""
        batch = list(flows)
        ingest = now if now is not None else time_ns()
        seen: set[str] = set()
        tables = [  # built before taking the lock: other appends wait only for inserts
            flow_table(batch[start : start + self.chunk_rows], cluster, ingest, start, seen)
            for start in range(0, len(batch), self.chunk_rows)
        ]  # seq: each flow's position in the batch
        return self._append_tables(len(batch), tables, ingest)

    def append_arrow(
        self, table: Any, *, cluster: str | None = None, now: int | None = None
    ) -> AppendResult:
        """``append`` for an Arrow table with the columns of ``ARROW_SCHEMA``: ``seq`` is
        assigned here, ``day`` follows ``time_ns`` (else the ingestion day), ``cluster``
        (when given) overrides, and a key repeated in the table is stored once."""
        ingest = now if now is not None else time_ns()
        prepared = conform(table, cluster, ingest)
        tables = (
            prepared.slice(start, self.chunk_rows)
            for start in range(0, prepared.num_rows, self.chunk_rows)
        )
        return self._append_tables(table.num_rows, tables, ingest)

    def _append_tables(self, offered: int, tables: Iterable[Any], now: int) -> AppendResult:
        """Insert chunks (``seq``: positions in the offered batch); which were new."""
        new = []
        with self._append_lock:
            if self._replay_needed:
                self._replay_last_chunk()
            for table in tables:
                try:
                    new.append(self._insert_chunk(table, now))
                except BaseException:
                    self._replay_needed = True  # the chunk may be stored without rollups
                    raise
        rows = np.concatenate(new) if new else np.zeros(0, dtype=np.int64)
        return AppendResult(offered, len(rows), rows)

    def _insert_chunk(self, table: Any, now: int) -> Any:
        """Insert one chunk, in this order, each step one atomic INSERT:

        1. the ingest log row ``(first_seq, end_seq, now)``: what to replay if we stop;
        2. the flows whose (key, time) is not stored yet: the batch anti-joined with the
           stored flows of the batch's days, times and keys (exact, not eventual: no
           reliance on ReplacingMergeTree merges; the lock keeps two appends of one flow
           from both missing it);
        3. the minute rollup increments, then the hour ones, computed from the flows with
           seq in the chunk's range, each insert carrying a deduplication token of the
           chunk, so a replay of step 3 stores nothing twice.

        Returns the positions (the chunk's ``seq`` on entry) of the flows stored, read back
        by their new ``seq``.
        """
        if table.num_rows == 0:
            return np.zeros(0, dtype=np.int64)
        positions = table.column("seq").to_numpy()
        first = self._next_seq
        end = first + table.num_rows
        table = table.set_column(
            COLUMNS.index("seq"), "seq", pa.array(np.arange(first, end, dtype=np.int64))
        )
        self._con.command(self._sql(LOG_CHUNK), {"first": first, "end": end, "now": now})
        self._next_seq = end
        sql, params = self._insert_flows_sql(table)
        staging = (self.database, "flows_incoming")
        self._con.insert_select(sql, table, staging, params, INSERT_SETTINGS)
        where = "day BETWEEN {low_day:Date32} AND {high_day:Date32} AND seq >= {first:Int64}"
        # The rows inserted, by their seq: which flows of the batch were new.
        stored = f"SELECT seq FROM {{db}}.flows WHERE {where} AND seq < {{end:Int64}}"
        range_params = {**params, "first": first, "end": end}
        rows = self._con.rows(self._sql(stored), range_params)
        seqs = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        if len(seqs):
            self._roll_up(first, end, now)
        return np.sort(positions[seqs - first])

    def _insert_flows_sql(self, table: Any) -> tuple[str, dict[str, object]]:
        days = pc.min_max(table.column("day")).as_py()
        params: dict[str, object] = {"low_day": days["min"], "high_day": days["max"]}
        times = pc.min_max(table.column("time_ns")).as_py()
        known = []
        if times["min"] is not None:
            known.append("time_ns BETWEEN {low_time:Int64} AND {high_time:Int64}")
            params |= {"low_time": times["min"], "high_time": times["max"]}
        if table.column("time_ns").null_count:
            known.append("time_ns IS NULL")
        sql = INSERT_FLOWS.replace("{known}", "(" + " OR ".join(known) + ")")
        return self._sql(sql), params

    def _roll_up(self, first: int, end: int, now: int) -> None:
        params = {"first": first, "end": end, "now": now}
        for name, template in (("minute", INSERT_MINUTE_ROLLUP), ("hour", INSERT_HOUR_ROLLUP)):
            token = f"{self.database}-{name}-{first}"
            self._con.command(self._sql(template), params, {"insert_deduplication_token": token})
        chunk = "(SELECT * FROM {db}.flows WHERE seq >= {first:Int64} AND seq < {end:Int64})"
        self._roll_up_edges(chunk, {"first": first, "end": end}, str(first))

    def _replay_last_chunk(self) -> None:
        """Complete the last chunk's rollups, in case its append stopped after step 2 (or
        midway in step 3): the tokens make the rollup inserts that did happen no-ops. Also
        where ``seq`` goes on (the end of the last chunk logged)."""
        last = self._con.rows(self._sql(LAST_CHUNK))
        if last:
            first, end, now = (int(value) for value in last[0])
            self._roll_up(first, end, now)
            self._next_seq = max(self._next_seq, end)
        self._replay_needed = False

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
        flows = self.iter_query(whitelist, blacklist, since, until, limit, order)
        try:
            return list(islice(flows, limit))
        finally:
            flows.close()

    def iter_query(
        self,
        whitelist: Sequence[FlowFilter] = (),
        blacklist: Sequence[FlowFilter] = (),
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        order: Order = "asc",
    ) -> Generator[Flow, None, None]:
        """``query`` lazily: candidates are streamed and checked batch by batch."""
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', not {order!r}")
        allow, deny = compile_filters(whitelist), compile_filters(blacklist)  # FilterError first
        where, values, exact = pushdown(whitelist, blacklist, since, until, CLICKHOUSE)
        by = "time_ns ASC NULLS FIRST, seq ASC"
        if order == "desc":
            by = "time_ns DESC NULLS LAST, seq DESC"
        sql = f"SELECT raw FROM {{db}}.flows WHERE {where} ORDER BY {by}"
        if exact and limit is not None:
            sql += f" LIMIT {int(limit)}"
        statement, params = bind(self._sql(sql), values)
        return self._candidates(statement, params, allow, deny)

    def _candidates(
        self, sql: str, params: dict[str, object], allow: Sequence[Any], deny: Sequence[Any]
    ) -> Generator[Flow, None, None]:
        for batch in self._con.batches(sql, params):
            for raw in batch.column(0).to_pylist():
                flow = flow_from_raw(raw)
                if allow and not any(p(flow) for p in allow):
                    continue
                if not any(p(flow) for p in deny):
                    yield flow

    def count(self, *, since: int | None = None, until: int | None = None) -> int:
        where, values, _ = pushdown((), (), since, until, CLICKHOUSE)
        sql, params = bind(self._sql(f"SELECT count() FROM {{db}}.flows WHERE {where}"), values)
        return int(self._con.rows(sql, params)[0][0])

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
        sql, values = rollup_sql(group, since, until, clusters, resolution, schema="{db}.")
        statement, params = bind(self._sql(sql), values)
        return [
            GroupCount(dict(zip(group, row[:-1], strict=True)), int(row[-1]))
            for row in self._con.rows(statement, params)
            if row[-1]  # sum() over no rows is 0 in ClickHouse, not NULL
        ]

    def edge_rows(self, query: EdgeQuery) -> list[tuple[Any, ...]]:
        """The flows grouped into observed edges (``flows.edges``): rows of raw flows and
        of the hourly edge rollup (whole hours), merged by the caller."""
        rows: list[tuple[Any, ...]] = []
        for sql, values in statements(query, CLICKHOUSE_EDGES, _EDGE_TABLES):
            statement, params = bind(self._sql(sql), values)
            rows += self._con.rows(statement, params)
        return rows

    # --- retention ---------------------------------------------------------------------

    def enforce_retention(self, now: int) -> RetentionResult:
        """Drop each cluster's days that ended more than its period before ``now`` (ns),
        whole partitions at a time, and the rollup minutes (hours) older than their
        period. Takes no append lock: partition drops do not wait for inserts. The edge
        keys no rollup row refers to any more are deleted under the append lock (an append
        may be adding rows of a known edge)."""
        result = expire(self._con, self.database, self.retention, now)
        if result.edge_rollup_rows_deleted:
            with self._append_lock:
                self._con.command(self._sql(_UNUSED_EDGE_KEYS))
        return result


if TYPE_CHECKING:

    def _is_a_flow_store(store: ClickHouseFlowStore) -> FlowStore:
        return store  # mypy checks the class against the protocol here


_EDGE_TABLES = EdgeTables("{db}.flows", "{db}.flow_edge_keys", "{db}.flow_edge_hour")
_UNUSED_EDGE_KEYS = (
    "DELETE FROM {db}.flow_edge_keys WHERE edge NOT IN (SELECT edge FROM {db}.flow_edge_hour)"
)

# Columns added since the first schema, each after the one it follows in ARROW_SCHEMA.
_ADDED_COLUMNS = (
    ("staged_denied", "summary"),
    ("staged_allowed", "staged_denied"),
    ("dst_names", "staged_allowed"),
    ("src_workload_kind", "dst_names"),
    ("dst_workload_kind", "src_workload_kind"),
)


def _added_columns_statements(database: str) -> list[str]:
    """Tables created before the staged policies and the edge columns get them (empty
    arrays, empty strings)."""
    return [
        qualify(
            f"ALTER TABLE {{db}}.{table} ADD COLUMN IF NOT EXISTS {name} "
            f"{column_type(name, ARROW_SCHEMA.field(name).type)} AFTER {after}",
            database,
        )
        for table in ("flows", "flows_incoming")
        for name, after in _ADDED_COLUMNS
    ]
