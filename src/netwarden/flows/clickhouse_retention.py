"""Retention for the ClickHouse flow store: whole partitions dropped, rarely rows deleted.

Raw flows are partitioned by ``(cluster, day)``, so a cluster's expired days are dropped
with ``ALTER TABLE ... DROP PARTITION``: a metadata operation that neither rewrites data nor
waits for the inserts running beside it. Rollups are partitioned by day (minutes) or by 30
days (hours): the partitions wholly before the cutoff are dropped, and the rows before it
in the one partition it falls into are removed with a lightweight ``DELETE``. The counts
returned are the DuckDB store's: flows, and rollup rows as distinct dimension values.
See ``docs/design/flows.md`` ("ClickHouse backend").
"""

from __future__ import annotations

from datetime import timedelta

from netwarden.flows.clickhouse_connection import ClickHouseConnection
from netwarden.flows.clickhouse_sql import ROLLUP_PARTITIONS, qualify
from netwarden.flows.flow_columns import day_of
from netwarden.flows.store import (
    HOUR_ROLLUP_DIMENSIONS,
    NANOS_PER_HOUR,
    NANOS_PER_MINUTE,
    ROLLUP_DIMENSIONS,
    RetentionPolicy,
    RetentionResult,
)

# Per partition, from the part metadata (ClickHouse's implicit minmax_count projection).
_FLOW_DAYS = (
    "SELECT cluster, day, count() FROM {db}.flows GROUP BY cluster, day ORDER BY cluster, day"
)
_DROP_DAY = "ALTER TABLE {db}.flows DROP PARTITION tuple({cluster:String}, {day:Date32})"
_PARTITIONS = (
    "SELECT DISTINCT partition FROM system.parts"
    " WHERE database = {database:String} AND table = {table:String} AND active"
)


def expire(
    con: ClickHouseConnection, database: str, policy: RetentionPolicy, now: int
) -> RetentionResult:
    """Apply ``policy`` at ``now`` (ns): raw flows per cluster by whole days, then the
    rollup minutes and hours older than their periods."""
    days: list[tuple[str, str]] = []
    flows = 0
    for cluster, day, rows in con.rows(qualify(_FLOW_DAYS, database)):
        if day < day_of(now - _nanos(policy.period(cluster))):
            con.command(qualify(_DROP_DAY, database), {"cluster": cluster, "day": day})
            days.append((cluster, day.isoformat()))
            flows += int(rows)
    minute_cutoff = (now - _nanos(policy.minute_rollups)) // NANOS_PER_MINUTE
    hour_cutoff = (now - _nanos(policy.hour_rollups)) // NANOS_PER_HOUR
    minutes = _expire_rollup(con, database, "flow_rollup_minute", ROLLUP_DIMENSIONS, minute_cutoff)
    hours = _expire_rollup(con, database, "flow_rollup_hour", HOUR_ROLLUP_DIMENSIONS, hour_cutoff)
    edge_hours = _expire_rollup(
        con, database, "flow_edge_hour", ("hour", "cluster", "edge"), hour_cutoff
    )
    return RetentionResult(flows, tuple(days), minutes, hours, edge_hours)


def _expire_rollup(
    con: ClickHouseConnection,
    database: str,
    table: str,
    dimensions: tuple[str, ...],
    cutoff: int,
) -> int:
    """Remove the rows of a rollup whose time (its first dimension) is before ``cutoff``;
    how many distinct rows they were (stored rows of one group may not be merged yet)."""
    expired = f"{{db}}.{table} WHERE {dimensions[0]} < {{cutoff:Int64}}"
    groups = f"SELECT count() FROM (SELECT 1 FROM {expired} GROUP BY {', '.join(dimensions)})"
    params = {"cutoff": cutoff}
    removed = int(con.rows(qualify(groups, database), params)[0][0])
    if not removed:
        return 0
    span = ROLLUP_PARTITIONS[table]
    drop = qualify(f"ALTER TABLE {{db}}.{table} DROP PARTITION ", database)
    for (partition,) in con.rows(_PARTITIONS, {"database": database, "table": table}):
        if (int(partition) + 1) * span <= cutoff:  # every row of it is before the cutoff
            con.command(drop + str(int(partition)))
    if int(con.rows(qualify(f"SELECT count() FROM {expired}", database), params)[0][0]):
        con.command(qualify(f"DELETE FROM {expired}", database), params)
    return removed


def _nanos(period: timedelta) -> int:
    return period // timedelta(microseconds=1) * 1_000
