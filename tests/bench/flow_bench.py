"""Flow ingestion and query benchmark (``make bench``; alone: ``python -m
tests.bench.run_bench --flows-only --flow-rows 5000000``).

Per store (DuckDB; ClickHouse over chdb when ``clickhouse_store`` is there):

1. decode+ingest: real Hubble lines (the shared samples, fresh uuids and times) decoded by
   ``arrow_decode`` and stored with ``append_arrow`` by ``bulk.import_lines`` (blocks of
   128 MB), flows/s end to end, and the rate of each stage over its own time;
2. bulk ingest: ``--flow-rows`` synthetic flows (``flow_data.FlowWorld``, time-ordered
   batches over the last two days) stored with ``append_arrow``, flows/s, then the bytes
   on disk per million flows;
3. queries on that store, at several sizes while it grows: p50/p95 of a filtered query
   (``hubble observe -n NS --verdict DROPPED --since 1h --last 100``) and of the 24-hour
   service map (workload edges with counts by verdict and port, from the hour rollup;
   the minute rollup is timed too).

Each figure is the best of a few runs where it is cheap to repeat (decode+ingest); the
machine is shared, so rates are also noisy.
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from netwarden.flows.bulk import import_lines
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.filter_core import FlowFilter
from netwarden.flows.store import NANOS_PER_DAY, NANOS_PER_HOUR
from netwarden.model.flow import Verdict
from tests.bench.flow_data import FlowWorld, hubble_lines
from tests.bench.report import fmt_rate, fmt_s

DECODE_TARGET = 150_000.0
ARROW_TARGET = 1_000_000.0
QUERY_TARGET_S = 0.100
MAP_TARGET_S = 1.0
SERVICE_MAP = ["src_namespace", "src_workload", "dst_namespace", "dst_workload", "dst_port"]
SERVICE_MAP += ["verdict"]
GENERATE_ROWS = 50_000  # rows per generated chunk (the generator is fastest around there)
SPAN_NS = 2 * NANOS_PER_DAY  # the stored flows cover the last two days


@dataclass
class StoreKind:
    """How to open a fresh store of one backend in a directory, and its file size."""

    name: str
    open: Callable[[Path], Any]
    size: Callable[[Any, Path], int]


def store_kinds() -> tuple[list[StoreKind], str | None]:
    """DuckDB, and ClickHouse when its store exists (else the reason it was skipped)."""
    kinds = [StoreKind("duckdb", _open_duckdb, _duckdb_size)]
    try:
        from netwarden.flows.clickhouse_connection import ChdbConnection
        from netwarden.flows.clickhouse_store import ClickHouseFlowStore
    except ImportError as exc:
        return kinds, f"ClickHouse skipped: {exc}"

    def open_clickhouse(path: Path) -> Any:
        return ClickHouseFlowStore(ChdbConnection(path / "chdb"), database="bench")

    kinds.append(StoreKind("clickhouse", open_clickhouse, lambda _s, path: _du(path / "chdb")))
    return kinds, None


def _open_duckdb(path: Path) -> Any:
    return DuckDBFlowStore(path / "flows.duckdb")


def _duckdb_size(store: Any, path: Path) -> int:
    with store._db.cursor() as con:  # the figure is the file after a checkpoint
        con.execute("CHECKPOINT")
    return _du(path)


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass
class FlowResults:
    store: str
    decode: dict[str, float] = field(default_factory=dict)
    bulk: dict[str, float] = field(default_factory=dict)
    queries: list[dict[str, float]] = field(default_factory=list)


def bench_decode_ingest(kind: StoreKind, lines: bytes, repeats: int = 3) -> dict[str, float]:
    """Best of ``repeats``: decode the lines block by block and ``append_arrow`` each
    block into a fresh store (``bulk.import_lines``); each stage's busy time too."""
    best: dict[str, float] = {}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="nw-flows-") as tmp:
            store = kind.open(Path(tmp))
            try:
                run = _decode_ingest_once(store, lines)
            finally:
                store.close()
        if not best or run["end_to_end_s"] < best["end_to_end_s"]:
            best = run
    return best


def _decode_ingest_once(store: Any, lines: bytes) -> dict[str, float]:
    started = time.perf_counter()
    result = import_lines(store, io.BytesIO(lines), "bench.jsonl", now=time.time_ns())
    total = time.perf_counter() - started
    if result.stored != result.flows:  # fresh uuids in a fresh store: every flow is new
        raise AssertionError(f"stored {result.stored} of {result.flows} decoded flows")
    return {
        "flows": result.flows,
        "exact_lines": result.exact_lines,
        "end_to_end_s": total,
        "per_s": result.flows / total,
        "decode_per_s": result.flows / result.decode_s,
        "append_per_s": result.flows / result.append_s,
    }


def synthetic_batches(rows: int, batch_rows: int, now: int, seed: int) -> Iterator[Any]:
    """(table, time of its last flow): time-ordered tables of ``batch_rows`` synthetic
    flows covering ``[now - SPAN_NS, now)``, as flows arrive from a live cluster."""
    world = FlowWorld.make(seed)
    rng = np.random.default_rng(seed)
    start = now - SPAN_NS
    step = SPAN_NS / rows
    for first in range(0, rows, batch_rows):
        parts = []
        for chunk in range(first, min(first + batch_rows, rows), GENERATE_ROWS):
            count = min(GENERATE_ROWS, rows - chunk)
            begin = start + int(chunk * step)
            parts.append(world.batch(rng, chunk, count, begin, max(1, int(count * step))))
        yield pa.concat_tables(parts), start + int(min(first + batch_rows, rows) * step)


def bench_bulk(
    kind: StoreKind, path: Path, rows: int, batch_rows: int, checkpoints: list[int], seed: int
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Store ``rows`` synthetic flows with ``append_arrow``; query latencies at each
    checkpoint size; the append rate (generation not counted) and bytes per million."""
    now = time.time_ns()
    store = kind.open(path)
    append_s = 0.0
    stored = 0
    queries = []
    say = _progress(rows)
    try:
        for table, head in synthetic_batches(rows, batch_rows, now, seed):
            t0 = time.perf_counter()
            stored += store.append_arrow(table, now=now).stored
            append_s += time.perf_counter() - t0
            say(stored, append_s)
            if checkpoints and stored >= checkpoints[0]:  # "now" is the newest flow's time
                queries.append({"flows": stored, **bench_queries(store, head, seed)})
                checkpoints = [c for c in checkpoints if c > stored]
        # Work left for later: DuckDB appends rollup increments and enforce_retention merges
        # each key's rows; time that merge here so the append rate hides nothing.
        compact_s = 0.0
        compact = getattr(store, "compact_rollups", None)
        if compact is not None:
            t0 = time.perf_counter()
            compact(now)
            compact_s = time.perf_counter() - t0
        size = kind.size(store, path)
    finally:
        store.close()
    bulk = {
        "flows": stored,
        "append_s": append_s,
        "compact_s": compact_s,
        "per_s": stored / (append_s + compact_s),
        "bytes": size,
        "bytes_per_million": size * 1_000_000 / max(stored, 1),
    }
    return bulk, queries


def _progress(rows: int) -> Callable[[int, float], None]:
    step = max(rows // 10, 1)
    mark = [step]

    def say(stored: int, seconds: float) -> None:
        if stored >= mark[0]:
            print(f"    ... {stored:,} flows stored, {fmt_rate(stored / seconds)}", flush=True)
            mark[0] += step

    return say


def bench_queries(store: Any, now: int, seed: int, repeats: int = 15) -> dict[str, float]:
    """p50/p95 of the filtered query (a random namespace each time) and of the 24-hour
    service map from the hour and the minute rollups."""
    rng = np.random.default_rng(seed)
    namespaces = FlowWorld.make(seed).namespaces
    since = now - NANOS_PER_HOUR
    filtered: list[float] = []
    found = 0
    for _ in range(repeats):
        ns = namespaces[int(rng.integers(len(namespaces)))]
        whitelist = [
            FlowFilter(source_pod=(f"{ns}/",), verdict=(Verdict.DROPPED,)),
            FlowFilter(destination_pod=(f"{ns}/",), verdict=(Verdict.DROPPED,)),
        ]
        t0 = time.perf_counter()
        found += len(store.query(whitelist, since=since, until=now, limit=100, order="desc"))
        filtered.append(time.perf_counter() - t0)
    out = {"query_found_avg": found / repeats, **_percentiles("query", filtered)}
    for resolution in ("hour", "minute"):
        times = []
        for _ in range(max(3, repeats // 3)):
            t0 = time.perf_counter()
            edges = store.count_by(
                SERVICE_MAP, since=now - 24 * NANOS_PER_HOUR, until=now, resolution=resolution
            )
            times.append(time.perf_counter() - t0)
        out.update(_percentiles(f"map_{resolution}", times))
        out[f"map_{resolution}_edges"] = len(edges)
    return out


def _percentiles(name: str, values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {f"{name}_p50_s": statistics.median(ordered), f"{name}_p95_s": p95}


def run_flow_bench(
    rows: int, batch_rows: int, decode_lines: int, seed: int, stores: str | None
) -> tuple[list[FlowResults], str | None]:
    """Every part for every store; prints as it goes."""
    from tests.flows.samples import hubble_dir

    kinds, skipped = store_kinds()
    if stores:
        kinds = [k for k in kinds if k.name in stores.split(",")]
    lines = hubble_lines(hubble_dir(), decode_lines, time.time_ns() - NANOS_PER_HOUR)
    checkpoints = sorted({c for c in (1_000_000, 5_000_000, 10_000_000, 25_000_000) if c < rows})
    results = []
    for kind in kinds:
        print(f"  {kind.name}: decode+ingest of {decode_lines:,} Hubble lines", flush=True)
        result = FlowResults(kind.name, decode=bench_decode_ingest(kind, lines))
        print(f"  {kind.name}: bulk append_arrow of {rows:,} synthetic flows", flush=True)
        tmp = Path(tempfile.mkdtemp(prefix="nw-flows-bulk-"))
        try:
            result.bulk, result.queries = bench_bulk(
                kind, tmp, rows, batch_rows, [*checkpoints, rows], seed
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(render_flow_results(result), flush=True)
        results.append(result)
    return results, skipped


def render_flow_results(r: FlowResults) -> str:
    d, b = r.decode, r.bulk
    lines = [
        f"== flows: {r.store} ==",
        f"decode+ingest (Hubble JSON lines)  {fmt_rate(d['per_s'])} end to end "
        f"({d['flows']:,} flows; decode {fmt_rate(d['decode_per_s'])}, "
        f"append_arrow {fmt_rate(d['append_per_s'])}; {d['exact_lines']:,} lines decoded exactly)",
        f"append_arrow (synthetic batches)   {fmt_rate(b['per_s'])} ({b['flows']:,} flows in "
        f"{fmt_s(b['append_s'])} + rollup merge {fmt_s(b.get('compact_s', 0.0))})",
        f"store size                         {b['bytes_per_million'] / 1e6:.0f} MB per million "
        f"flows ({b['bytes'] / 1e9:.2f} GB for {b['flows']:,})",
        "queries by stored flows: filtered query p50/p95 | service map 24 h p50/p95 "
        "(hour rollup) | (minute rollup)",
    ]
    for q in r.queries:
        lines.append(
            f"  {q['flows']:>12,}  {fmt_s(q['query_p50_s'])} / {fmt_s(q['query_p95_s'])}"
            f" ({q['query_found_avg']:.0f} found) | {fmt_s(q['map_hour_p50_s'])} / "
            f"{fmt_s(q['map_hour_p95_s'])} ({q['map_hour_edges']:.0f} edges) | "
            f"{fmt_s(q['map_minute_p50_s'])} / {fmt_s(q['map_minute_p95_s'])}"
        )
    return "\n".join(lines)


def flow_targets(results: list[FlowResults]) -> list[tuple[str, str, str, str, bool]]:
    """(key, name, goal, measured, passed) per target and store, at the largest size."""
    out = []
    for r in results:
        last = r.queries[-1] if r.queries else None
        size = f"{r.bulk['flows'] / 1e6:.0f}M" if r.bulk.get("flows", 0) >= 1e6 else "?"
        out.append(
            (
                "flows_decode",
                f"{r.store}: decode+ingest Hubble JSON lines",
                f">= {fmt_rate(DECODE_TARGET)}",
                fmt_rate(r.decode["per_s"]),
                r.decode["per_s"] >= DECODE_TARGET,
            )
        )
        out.append(
            (
                "flows_arrow",
                f"{r.store}: ingest from Arrow batches",
                f">= {fmt_rate(ARROW_TARGET)}",
                fmt_rate(r.bulk["per_s"]),
                r.bulk["per_s"] >= ARROW_TARGET,
            )
        )
        if last is not None:
            out.append(
                (
                    "flows_query",
                    f"{r.store}: filtered query p95 at {size} flows",
                    f"< {fmt_s(QUERY_TARGET_S)}",
                    f"p50 {fmt_s(last['query_p50_s'])}, p95 {fmt_s(last['query_p95_s'])}",
                    last["query_p95_s"] < QUERY_TARGET_S,
                )
            )
            out.append(
                (
                    "flows_map",
                    f"{r.store}: 24 h service map p95 at {size} flows",
                    f"< {fmt_s(MAP_TARGET_S)}",
                    f"p50 {fmt_s(last['map_hour_p50_s'])}, p95 {fmt_s(last['map_hour_p95_s'])}"
                    f" (minute rollup p95 {fmt_s(last['map_minute_p95_s'])})",
                    last["map_hour_p95_s"] < MAP_TARGET_S,
                )
            )
    return out


def disk_free_gb(path: str = tempfile.gettempdir()) -> float:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize / 1e9
