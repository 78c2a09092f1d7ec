"""Impact-preview benchmark: one policy change over 30 days of recorded traffic of a
1,000-workload cluster (target: under 2 s).

Traffic: ``flow_data.FlowWorld`` (100 namespaces x 10 workloads x 3 pods, each workload
talking to 5 others on one port: 5,000 connections, 5 % dropped, 40 % replies) stored
with ``append_arrow`` in a DuckDB file, spread evenly over 30 days. The default is 5
million flows (~170,000 a day): inserting tens of millions takes minutes on the 2-core
machine, and the preview reads distinct edges, whose number (about 10,000 here: each
connection forwarded and dropped) is what a month of a 1,000-workload cluster makes.
The edge query reads the whole hours of the window from the hourly edge rollup kept at
ingest (at most edges x hours rows, however many flows) and the partial first and last
hours from raw flows; the same query over raw flows only (a scan of every row of the
window, growing with the rows) is timed too, and both answers are checked equal. Timed
separately, p50 of ``repeats``:

- the edge query (``observed_edges`` over 30 days, the cluster's scope), and the same
  over raw flows only (``rollup=False``);
- the preview proper: the worlds before and after (``control.preview.worlds`` over
  the cluster's 3,000 reported pods and its objects), the replay of every edge through
  the compiled engine in both (``engine.replay``).

The change: a NetworkPolicy isolating ingress of ``team-00/api-0`` to its own namespace.
Checked before it is timed: the connections it cuts are exactly the recorded non-reply
connections into ``api-0`` from other namespaces, and nothing is uncertain.

    .venv/bin/python -m tests.bench.preview_bench --rows 5000000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from netwarden.control.desired import Desired
from netwarden.control.models import ClusterInventory
from netwarden.control.preview import worlds
from netwarden.engine.replay import ALLOWED_TO_DENIED, Replay, replay
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.edges import observed_edges
from netwarden.flows.store import RetentionPolicy
from tests.bench.flow_data import FlowWorld

TARGET_S = 2.0
DAY_NS = 86_400 * 10**9
DAYS = 30
POLICY = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-0-same-namespace, namespace: team-00}
spec:
  podSelector: {matchLabels: {app: api-0}}
  ingress:
  - from: [{podSelector: {}}]
"""


@dataclass(frozen=True)
class PreviewResults:
    rows: int
    workloads: int
    edges: int
    insert_s: float
    edges_p50_s: float
    raw_edges_p50_s: float
    preview_p50_s: float
    changes: int
    changed_flows: int

    @property
    def total_s(self) -> float:
        return self.edges_p50_s + self.preview_p50_s

    def render(self) -> str:
        status = "PASS" if self.total_s < TARGET_S else "MISS"
        return "\n".join(
            [
                f"impact preview: {self.workloads:,} workloads, {self.rows:,} flows over "
                f"{DAYS} days",
                f"  insert (append_arrow)      {self.insert_s:8.1f} s",
                f"  edge query (p50)           {self.edges_p50_s:8.2f} s  ({self.edges:,} edges; "
                f"raw flows only {self.raw_edges_p50_s:.2f} s)",
                f"  worlds + replay (p50)      {self.preview_p50_s:8.2f} s  "
                f"({self.changes} connections cut, {self.changed_flows:,} flows)",
                f"  preview total              {self.total_s:8.2f} s  target < {TARGET_S:g} s "
                f"{status}",
            ]
        )


def fill(store: DuckDBFlowStore, world: FlowWorld, rows: int, now: int, batch: int) -> float:
    rng = np.random.default_rng(7)
    start = time.perf_counter()
    done = 0
    span = DAYS * DAY_NS
    while done < rows:
        count = min(batch, rows - done)
        first = now - span + span * done // rows
        store.append_arrow(world.batch(rng, done, count, first, span * count // rows), now=now)
        done += count
    return time.perf_counter() - start


def inventory(world: FlowWorld) -> tuple[dict[str, dict[str, str]], ClusterInventory]:
    """The cluster as its agent reports it: namespaces, and 3 pods per workload with the
    IPs and labels the synthetic flows carry."""
    namespaces = {ns: {"kubernetes.io/metadata.name": ns} for ns in world.namespaces}
    pods = []
    for index, name in enumerate(world.workloads):
        namespace = world.namespaces[int(world.workload_ns[index])]
        for pod in range(3):
            pods.append(
                {
                    "namespace": namespace,
                    "name": f"{name}-7d9f8c6b5-{pod}",
                    "labels": {"app": name, "pod-template-hash": "7d9f8c6b5"},
                    "ip": f"10.{index // 250}.{index % 250}.{pod + 1}",
                    "node": f"node-{index % 12}",
                }
            )
    nodes = [{"name": f"node-{i}", "ip": f"172.16.0.{i + 1}"} for i in range(12)]
    return namespaces, ClusterInventory(pods=pods, nodes=nodes)


def run_preview(world: FlowWorld, edges: list[Any], reported: Any) -> Replay:
    namespaces, inv = reported
    draft = Desired(objects=[yaml.safe_load(POLICY)])
    before, after = worlds(world.cluster, namespaces, inv, Desired(), draft)
    return replay(edges, before, after, world.cluster)


def expected_cuts(world: FlowWorld) -> set[tuple[str, str]]:
    target = world.workloads.index("api-0")  # team-00 is namespace 0: workload index 0..9
    ns = world.workload_ns
    return {
        (world.namespaces[int(ns[s])], world.workloads[s])
        for s, d in zip(world.edges_src.tolist(), world.edges_dst.tolist(), strict=True)
        if d == target and ns[s] != ns[target]
    }


def run_preview_bench(rows: int, repeats: int = 5, batch: int = 1_000_000) -> PreviewResults:
    world = FlowWorld.make(seed=11, namespaces=100, per_namespace=10)
    reported = inventory(world)
    now = time.time_ns()
    retention = RetentionPolicy(default=timedelta(days=DAYS + 1))
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBFlowStore(Path(tmp) / "flows.duckdb", retention=retention)
        insert_s = fill(store, world, rows, now, batch)
        since, until = now - DAYS * DAY_NS - 1, now
        edge_times, preview_times, raw_times = [], [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            raw = observed_edges(
                store, cluster=world.cluster, since=since, until=until, rollup=False
            )
            raw_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            edges = observed_edges(store, cluster=world.cluster, since=since, until=until)
            t1 = time.perf_counter()
            result = run_preview(world, edges, reported)
            t2 = time.perf_counter()
            edge_times.append(t1 - t0)
            preview_times.append(t2 - t1)
            assert edges == raw, "the rollup's answer differs from the raw flows'"
        store.close()
    cut = {
        (c.source.namespace, c.source.workload)
        for c in result.changes
        if c.change == ALLOWED_TO_DENIED
    }
    assert not result.uncertain, result.uncertain[:3]
    assert cut == expected_cuts(world), (sorted(cut), sorted(expected_cuts(world)))
    assert all(c.destination.workload == "api-0" for c in result.changes)
    return PreviewResults(
        rows,
        len(world.workloads),
        len(edges),
        insert_s,
        statistics.median(edge_times),
        statistics.median(raw_times),
        statistics.median(preview_times),
        len(result.changes),
        sum(c.flows for c in result.changes),
    )


def preview_targets(r: PreviewResults) -> list[tuple[str, str, str, str, bool]]:
    return [
        (
            "preview",
            f"impact preview, {r.workloads:,} workloads, {r.rows:,} flows / {DAYS} days",
            f"< {TARGET_S:g} s",
            f"{r.total_s:.2f} s",
            r.total_s < TARGET_S,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(run_preview_bench(args.rows, args.repeats).render())


if __name__ == "__main__":
    main()
