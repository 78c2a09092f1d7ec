"""Raw JSON in compressed blocks (``raw_blocks``) and the DuckDB store's use of them:
round trips, block boundaries by cluster and day, files written before blocks, and the
rollup increments merged by ``compact_rollups``."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from time import time_ns

import duckdb
import numpy as np
import pyarrow as pa

from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.flow_columns import flow_table
from netwarden.flows.raw_blocks import BlockReader, compress, layout, unpack
from netwarden.flows.store import ROLLUP_DIMENSIONS, canonical_json
from tests.flows.store_samples import DAY, POLICY_FLOW, SAMPLES, T0, replicate


def _batch(clusters: list[str], days: list[date], raws: list[str]) -> pa.Table:
    return pa.table(
        {
            "seq": pa.array(np.arange(100, 100 + len(raws)), pa.int64()),
            "cluster": clusters,
            "day": pa.array(days, pa.date32()),
            "raw": raws,
        }
    )


def test_blocks_round_trip_and_never_span_a_cluster_or_a_day() -> None:
    d1, d2 = date(2024, 1, 1), date(2024, 1, 2)
    raws = [f'{{"n":{i},"s":"{"é" * (i % 3)}"}}' for i in range(10)] + ["", '{"x":"💥"}']
    clusters = ["a", "b", "a", "a", "b", "a", "a", "a", "b", "a", "a", "b"]
    days = [d1, d1, d1, d2, d1, d1, d1, d2, d1, d1, d1, d1]
    table = _batch(clusters, days, raws)
    plan = layout(table, block_rows=3)
    blocks = compress(table.column("raw"), plan)
    by_id = {
        row["block"]: unpack(row["count"], row["size"], row["offsets"], row["data"])
        for row in blocks.to_pylist()
    }
    for i, raw in enumerate(raws):
        block, index = plan.raw_block[i].as_py(), plan.raw_index[i].as_py()
        assert by_id[block][index] == raw
    members: dict[int, set[tuple[str, date]]] = {}
    for i in range(len(raws)):
        members.setdefault(plan.raw_block[i].as_py(), set()).add((clusters[i], days[i]))
    assert all(len(groups) == 1 for groups in members.values())
    for row in blocks.to_pylist():
        assert members[row["block"]] == {(row["cluster"], row["day"])} and row["count"] <= 3


def test_block_reader_reads_missing_blocks_once_and_tolerates_deleted_ones() -> None:
    table = _batch(["a"] * 5, [date(2024, 1, 1)] * 5, [f'{{"i":{i}}}' for i in range(5)])
    plan = layout(table, block_rows=2)
    rows = {r["block"]: r for r in compress(table.column("raw"), plan).to_pylist()}
    calls: list[list[int]] = []

    def fetch(ids: list[int]) -> list[tuple[object, ...]]:
        calls.append(list(ids))
        keys = ("block", "count", "size", "offsets", "data")
        return [tuple(rows[i][k] for k in keys) for i in ids if i in rows]

    reader = BlockReader(fetch)
    reader.load([100, 102, 100])
    reader.load([102, 104, 999])
    assert calls == [[100, 102], [104, 999]]
    assert [reader.get(100, 1), reader.get(104, 0), reader.get(999, 0)] == [
        '{"i":1}',
        '{"i":4}',
        None,
    ]


def test_store_keeps_raw_in_blocks_and_replays_every_flow(tmp_path: Path) -> None:
    flows = replicate(SAMPLES, 3, "blocks")
    with DuckDBFlowStore(tmp_path / "f.duckdb") as store:
        store.append(flows)
        stored = store._db.execute(
            "SELECT count(*) FILTER (raw = ''), count(DISTINCT raw_block) FROM flows"
        ).fetchall()[0]
        blocks = store._db.execute("SELECT count(*), sum(count) FROM flow_raw").fetchall()[0]
        assert stored[0] == len(flows) and blocks == (stored[1], len(flows))
        assert {canonical_json(f) for f in store.query()} == {canonical_json(f) for f in flows}
        store.enforce_retention(T0 + 30 * DAY)  # whole days go, their blocks with them
        assert store.count() == 0
        assert store._db.execute("SELECT count(*) FROM flow_raw").fetchall()[0][0] == 0


def test_a_file_from_before_blocks_keeps_working(tmp_path: Path) -> None:
    """Raw in the ``raw`` column and rollups with a primary key (upserted), as written
    before: read as they are, appended to as before, next to flows stored in blocks."""
    path = tmp_path / "old.duckdb"
    old = SAMPLES[:20]
    table = flow_table(old, None, T0, 0)
    con = duckdb.connect(str(path))
    with DuckDBFlowStore(":memory:") as fresh:  # the schema, then the old layout of it
        ddl = fresh._db.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'flows'")
        flows_ddl = ddl.fetchall()[0][0]
    flows_ddl = flows_ddl.replace(", raw_block BIGINT, raw_index INTEGER", "")
    con.execute(flows_ddl)
    dims = "cluster VARCHAR, src_namespace VARCHAR, src_workload VARCHAR, dst_namespace VARCHAR,"
    dims += " dst_workload VARCHAR, dst_port BIGINT, protocol VARCHAR, verdict VARCHAR"
    keys = "cluster, src_namespace, src_workload, dst_namespace, dst_workload, dst_port, "
    keys += "protocol, verdict"
    for unit in ("minute", "hour"):
        con.execute(
            f"CREATE TABLE flow_rollup_{unit} ({unit} BIGINT, {dims}, flows BIGINT, "
            f"PRIMARY KEY ({unit}, {keys}))"
        )
    con.register("t", table)
    con.execute("INSERT INTO flows BY NAME SELECT * FROM t")
    con.close()
    with DuckDBFlowStore(path) as store:
        assert store.query() == sorted(old, key=lambda f: f.time or 0)
        store.append(old[:5] + SAMPLES[20:40])
        store.append(SAMPLES[30:50])
        assert store.count() == 50
        minute = store._db.execute(
            "SELECT count(*), count(DISTINCT (minute, cluster, src_namespace, src_workload, "
            "dst_namespace, dst_workload, dst_port, protocol, verdict)), sum(flows) "
            "FROM flow_rollup_minute"
        ).fetchall()[0]
        assert minute[0] == minute[1] and minute[2] == 30  # upserted: one row per key
        assert {canonical_json(f) for f in store.query()} == {
            canonical_json(f) for f in SAMPLES[:50]
        }


def test_compaction_merges_rollup_increments_without_changing_answers() -> None:
    flows = [replace(POLICY_FLOW, uuid=f"u{i}", time=T0 + i * 1_000_000_000) for i in range(90)]
    flows += SAMPLES
    with DuckDBFlowStore(":memory:") as store:
        for start in range(0, len(flows), 7):  # small batches: several increments per key
            store.append(flows[start : start + 7])
        edge = list(ROLLUP_DIMENSIONS)
        before = store.count_by(edge), store.count_by(["hour", "verdict"], resolution="hour")
        rows = "SELECT count(*) FROM flow_rollup_minute"
        increments = store._db.execute(rows).fetchall()[0][0]
        store.compact_rollups(time_ns() + DAY)  # flows without a time: minutes of now
        after = store.count_by(edge), store.count_by(["hour", "verdict"], resolution="hour")
        assert after == before
        assert store._db.execute(rows).fetchall()[0][0] == len(before[0]) < increments
