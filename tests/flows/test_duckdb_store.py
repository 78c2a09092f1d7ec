"""The embedded DuckDB flow store's own tests: stored JSON, keys, columns, push-down, the
hour-rollup backfill, and a process killed mid-ingest (netwarden.flows.duckdb_store). What
every backend must do is tested in test_flow_stores.py."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from netwarden.flows.duckdb_store import DuckDBFlowStore, flow_table, pushdown
from netwarden.flows.filters import FlowFilter
from netwarden.flows.flowencode import flow_to_json
from netwarden.flows.flowjson import flow_from_json
from netwarden.flows.store import canonical_json, dedup_key, flow_cluster
from netwarden.model.flow import Flow, Verdict
from tests.flows.samples import EXPECTED, hubble_dir
from tests.flows.store_samples import POLICY_FLOW, SAMPLES, T0, sample_flows


@pytest.fixture(scope="module")
def flows() -> list[Flow]:
    return [*sample_flows(), POLICY_FLOW]


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


# --- queries and rollups ---------------------------------------------------------------------


def test_pushdown_is_exact_only_when_every_field_maps_to_sql() -> None:
    exact = FlowFilter(verdict=(Verdict.DROPPED,), source_pod=("shop/web",), protocol=("tcp",))
    loose = FlowFilter(source_label=("k8s:app=web",), verdict=(Verdict.DROPPED,))
    assert pushdown([exact], [], None, None)[2]
    assert not pushdown([loose], [], None, None)[2]
    where, _, is_exact = pushdown([], [loose], None, None)
    assert where == "TRUE" and not is_exact  # NOT(superset) is never pushed


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


def test_the_store_checkpoints_at_the_threshold_it_is_given(tmp_path: Path) -> None:
    """DuckDB's 16 MiB unless told otherwise (a bulk store may want larger checkpoints)."""
    store = DuckDBFlowStore(tmp_path / "flows.duckdb")
    setting = "SELECT current_setting('checkpoint_threshold')"
    assert store._db.execute(setting).fetchall() == [("16.0 MiB",)]
    store.close()
    other = DuckDBFlowStore(tmp_path / "other.duckdb", checkpoint_threshold="256MiB")
    assert other._db.execute(setting).fetchall() == [("256.0 MiB",)]
    other.close()
