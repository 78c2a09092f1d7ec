"""What only the ClickHouse flow store has: its DDL derived from the Arrow schema, parameter
binding, the replay of an append interrupted at any statement, and a process killed
mid-ingest (netwarden.flows.clickhouse_store over chdb). The behaviour every store shares
is tested in test_flow_stores.py."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from netwarden.flows.clickhouse_sql import NOT_NULL, bind, column_type, schema_statements
from netwarden.flows.clickhouse_store import ChdbConnection, ClickHouseFlowStore
from netwarden.flows.flow_columns import ARROW_SCHEMA, SCHEMA_SQL
from tests.flows.samples import hubble_dir
from tests.flows.store_samples import DAY, SAMPLES, T0, replicate

# --- DDL and SQL ------------------------------------------------------------------------------


def test_columns_are_the_arrow_schemas_and_null_where_duckdb_allows_null() -> None:
    flows_ddl = SCHEMA_SQL.split("CREATE TABLE IF NOT EXISTS flows (")[1].split(");")[0]
    lines = [line.split("--")[0].strip() for line in flows_ddl.splitlines()]
    declared = {line.split()[0]: "NOT NULL" in line for line in lines if line}
    assert list(declared) == ARROW_SCHEMA.names
    lists = {f.name for f in ARROW_SCHEMA if pa.types.is_list(f.type)}  # never NULL here
    assert {name for name, not_null in declared.items() if not_null} - lists == NOT_NULL
    types = {f.name: column_type(f.name, f.type) for f in ARROW_SCHEMA}
    assert types["time_ns"] == "Nullable(Int64)" and types["seq"] == "Int64"
    assert types["verdict"] == "LowCardinality(String)"
    assert types["l7_type"] == "LowCardinality(Nullable(String))"
    assert types["tcp_flags"] == "Array(LowCardinality(String))"  # NULL stored as []
    assert types["is_reply"] == "Nullable(Bool)" and types["day"] == "Date32"
    flows = schema_statements("db", fsync=True)[1]
    assert "PARTITION BY (cluster, day) ORDER BY (src_namespace, time_ns)" in flows
    assert "fsync_after_insert = 1" in flows
    assert "fsync_after_insert" not in schema_statements("db", fsync=False)[1]
    with pytest.raises(ValueError):
        schema_statements("db`; DROP TABLE x; --", fsync=True)


def test_placeholders_become_typed_parameters() -> None:
    day = date(2024, 1, 2)
    sql, params = bind("a IN (?, ?) AND b = ? AND c >= ?", ["x", 7, True, day])
    assert sql == "a IN ({p0:String}, {p1:Int64}) AND b = {p2:Bool} AND c >= {p3:Date32}"
    assert params == {"p0": "x", "p1": 7, "p2": True, "p3": day}
    with pytest.raises(ValueError):
        bind("a = ? AND b = ?", ["x"])
    with pytest.raises(TypeError):
        bind("a = ?", [1.5])


# --- an append interrupted at any statement ---------------------------------------------------


class Interrupted(ConnectionError):
    pass


class Interrupting:
    """A ChdbConnection that fails (before running it) the ``fail_at``-th statement after
    ``armed`` is set: a crash or a lost connection at that point of an append."""

    def __init__(self, inner: ChdbConnection, fail_at: int) -> None:
        self.inner, self.fail_at, self.seen, self.armed = inner, fail_at, 0, False

    def _step(self) -> None:
        if self.armed:
            self.seen += 1
            if self.seen == self.fail_at:
                raise Interrupted(f"statement {self.seen}")

    def command(self, *args: Any, **kwargs: Any) -> None:
        self._step()
        self.inner.command(*args, **kwargs)

    def rows(self, *args: Any, **kwargs: Any) -> Any:
        self._step()
        return self.inner.rows(*args, **kwargs)

    def batches(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self._step()
        return self.inner.batches(*args, **kwargs)

    def insert_select(self, *args: Any, **kwargs: Any) -> None:
        self._step()
        self.inner.insert_select(*args, **kwargs)

    def close(self) -> None:
        self.inner.close()


def _totals(store: ClickHouseFlowStore) -> tuple[int, int, int]:
    minutes = sum(g.flows for g in store.count_by([]))
    return store.count(), minutes, sum(g.flows for g in store.count_by([], resolution="hour"))


# An append's statements, per chunk: ingest log, flows, count, minute rollup, hour rollup.
@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5, 6, 10])
def test_an_interrupted_append_is_completed_by_the_next_store_or_append(
    chdb_dir: Path, fail_at: int
) -> None:
    # Two chunks spread over two days (two partitions), the first one stored beforehand.
    batch = replicate(SAMPLES, 40, f"i{fail_at}", start=T0 - DAY // 2)
    batch += replicate(SAMPLES, 40, f"j{fail_at}", start=T0 + DAY // 2)
    for variant in ("reopened", "same store"):
        database = f"interrupted_{fail_at}_{variant.replace(' ', '_')}"
        connection = Interrupting(ChdbConnection(chdb_dir), fail_at)
        store = ClickHouseFlowStore(connection, database=database, chunk_rows=40)
        store.append(batch[:10])
        connection.armed = True
        with pytest.raises(Interrupted):
            store.append(batch)
        connection.armed = False
        if variant == "reopened":  # the process died: another store opens the database
            store.close()
            store = ClickHouseFlowStore(ChdbConnection(chdb_dir), database=database)
            stored, minutes, hours = _totals(store)  # completed on opening
            assert stored == minutes == hours, (stored, minutes, hours)
        stored = store.count()  # (the same store completes it before its next append)
        assert store.append(batch).stored == len(batch) - stored  # the agent's retry
        assert _totals(store) == (len(batch),) * 3, variant
        store.close()


# --- crash safety -----------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from dataclasses import replace
    from pathlib import Path
    from netwarden.flows import decode_path
    from netwarden.flows.clickhouse_store import ClickHouseFlowStore

    path, samples, size = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    flows = [f for p in sorted(samples.glob("*.jsonl")) for f in decode_path(p).flows]
    store = ClickHouseFlowStore.embedded(path, database="crash")
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
# Run in a process of its own: this one may hold the chdb engine on another path.
CHECK = textwrap.dedent(
    """
    import json, sys
    from dataclasses import replace
    from pathlib import Path
    from netwarden.flows import decode_path
    from netwarden.flows.clickhouse_store import ChdbConnection, ClickHouseFlowStore

    path, samples = sys.argv[1], Path(sys.argv[2])
    flows = [f for p in sorted(samples.glob("*.jsonl")) for f in decode_path(p).flows]
    with ClickHouseFlowStore.embedded(path, database="crash") as store:  # replays first
        batches = ChdbConnection(path).rows(
            "SELECT splitByChar('-', uuid)[1], count(), uniqExact(uuid) FROM crash.flows GROUP BY 1"
        )
        report = {
            "batches": {b: [count, distinct] for b, count, distinct in batches},
            "count": store.count(),
            "minutes": sum(g.flows for g in store.count_by([])),
            "hours": sum(g.flows for g in store.count_by([], resolution="hour")),
            "retry": store.append(
                [replace(f, uuid=f"b0-{i}", time=f.time + i) for i, f in enumerate(flows[:10])]
            ).stored,
        }
    print(json.dumps(report))
    """
)


def test_acknowledged_batches_survive_sigkill(tmp_path: Path) -> None:
    path, size = tmp_path / "chdb", 3_000
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(hubble_dir()), str(size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acked: set[int] = set()
    rng = random.Random(11)
    try:
        for line in child.stdout:
            kind, number = line.split()
            if kind == "ack":
                acked.add(int(number))
            elif int(number) >= 3:  # mid-ingest: batch 3 or later is being appended
                threading.Event().wait(rng.uniform(0.05, 0.3))
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest = child.stdout.read()
        child.stdout.close()
        child.wait()
    acked |= {int(line.split()[1]) for line in rest.splitlines() if line.startswith("ack")}
    assert child.returncode == -signal.SIGKILL and len(acked) >= 3

    check = subprocess.run(
        [sys.executable, "-c", CHECK, str(path), str(hubble_dir())],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(check.stdout.splitlines()[-1])
    stored = {int(b[1:]): tuple(counts) for b, counts in report["batches"].items()}
    for batch in acked:
        assert stored.get(batch) == (size, size), f"acknowledged batch {batch} lost"
    in_flight = set(stored) - acked
    assert in_flight <= {max(acked) + 1}  # at most the one in flight at the kill
    for batch in in_flight:
        # ClickHouse writes a batch as one part per partition: the kill may leave some of
        # its parts (never a duplicate); the agent's resend completes it (tested above).
        count, distinct = stored[batch]
        assert count == distinct <= size, f"batch {batch} stored twice"
    total = sum(count for count, _ in stored.values())
    assert report["count"] == report["minutes"] == report["hours"] == total
    assert report["retry"] == 0  # a retry of acknowledged flows
