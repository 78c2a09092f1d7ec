"""Netwarden's recommendations vs hubble-audit2policy on the same flow file.

The simulated storefront (no policies, seed 1) makes a Hubble JSON flow file. Both
tools turn it into policies: ``hubble-audit2policy FILE --single-file OUT --no-enrich``
(PyPI; install it into the venv for this comparison only) and Netwarden (flows stored in
DuckDB, ``observed_edges``, ``recommend`` for every workload, Cilium output). For each
set of policies, on the cluster's inventory with the engine:

- policies and rules (rule entries, and peer x port pairs);
- recorded flows covered: allowed flows of the file whose edge the policies still allow,
  legitimate traffic and the injected unexpected traffic (scanner, 203.0.113.66:4444)
  counted apart;
- connections allowed beyond what was observed: (source workload, destination workload,
  port/protocol) triples the policies allow between the cluster's pods that no flow
  showed (ports of a range each count).

    .venv/bin/python -m tests.bench.compare_audit2policy
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from netwarden.agent.inventory import inventory_body
from netwarden.agent.simulated import load_simulated
from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.connectivity import connectivity_map
from netwarden.engine.recommend import (
    RecommendOptions,
    edge_verdicts,
    recommend,
    workload_of,
)
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.scope import FlowScope
from netwarden.flows.service import FlowService
from netwarden.model.endpoint import EndpointKind
from netwarden.model.observed import ObservedEdge
from netwarden.sources.loader import load_text

TOPOLOGY = "examples/topologies/storefront.yaml"
CLUSTER = "c1"
FLOWS = 30_000
HOUR_NS = 3600 * 10**9


def flow_file(path: Path) -> list[bytes]:
    sim = load_simulated(TOPOLOGY, CLUSTER, seed=1)
    lines = sim.generate(FLOWS, start_ns=time.time_ns() - 2 * HOUR_NS)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def observed(lines: Sequence[bytes]) -> list[ObservedEdge]:
    service = FlowService(DuckDBFlowStore())
    service.ingest_lines(lines, CLUSTER)
    return service.edges(FlowScope.all(), cluster=CLUSTER)  # world ends carry their names


def netwarden_policies(edges: Sequence[ObservedEdge]) -> list[dict[str, Any]]:
    options = RecommendOptions(min_learning_ns=0)
    recs = recommend(edges, until_ns=time.time_ns(), options=options)
    return [r.manifest for r in recs if r.manifest is not None]


def audit2policy_policies(path: Path, out: Path) -> list[dict[str, Any]] | str:
    tool = shutil.which("hubble-audit2policy") or str(
        Path(__file__).resolve().parents[2] / ".venv/bin/hubble-audit2policy"
    )
    if not Path(tool).exists():
        return "hubble-audit2policy is not installed (uv pip install hubble-audit2policy)"
    run = subprocess.run(
        [tool, str(path), "--single-file", str(out), "--no-enrich"],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0 or not out.exists():
        return f"hubble-audit2policy failed ({run.returncode}): {run.stderr.strip()[:300]}"
    return [d for d in yaml.safe_load_all(out.read_text()) if isinstance(d, dict)]


def count_rules(objects: Sequence[dict[str, Any]]) -> tuple[int, int]:
    entries = pairs = 0
    for obj in objects:
        for direction in ("ingress", "egress"):
            for rule in (obj.get("spec") or {}).get(direction) or []:
                if not rule:
                    continue
                entries += 1
                peers = sum(len(v) for k, v in rule.items() if k != "toPorts") or 1
                ports = sum(len(p.get("ports") or [1]) for p in rule.get("toPorts") or []) or 1
                pairs += peers * ports
    return entries, pairs


def unexpected(edge: ObservedEdge) -> bool:
    return edge.source.namespace == "tools" or edge.destination.ip == "203.0.113.66"


def coverage(objects: Sequence[dict[str, Any]], edges: Sequence[ObservedEdge]) -> dict[str, Any]:
    text = "\n---\n".join(json.dumps(o) for o in objects)
    loaded = load_text(text, file="policies", cluster=CLUSTER)
    allowed = [e for e in edges if e.verdict != "DROPPED"]
    verdicts = edge_verdicts(allowed, loaded.policies, CLUSTER)
    legit = [(e, ok) for e, ok in verdicts if not unexpected(e)]
    bad = [(e, ok) for e, ok in verdicts if unexpected(e)]
    return {
        "parse_errors": len(loaded.errors),
        "legit_flows": sum(e.flows for e, _ in legit),
        "legit_covered": sum(e.flows for e, ok in legit if ok),
        "unexpected_flows": sum(e.flows for e, _ in bad),
        "unexpected_allowed": sum(e.flows for e, ok in bad if ok),
        "policies": loaded.policies,
    }


def beyond_observed(policies: Any, edges: Sequence[ObservedEdge]) -> int:
    """Workload triples allowed between the cluster's pods that no flow showed."""
    sim = load_simulated(TOPOLOGY, CLUSTER, seed=1)
    body = inventory_body(sim.inventory())
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": n} for n in body["namespaces"]
    ]
    workload = {}
    for pod in body["pods"]:
        if pod["host_network"]:
            continue
        meta = {"name": pod["name"], "namespace": pod["namespace"], "labels": pod["labels"]}
        ports = [dict(p) for p in pod["ports"]]
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": meta,
                "spec": {"nodeName": pod["node"], "containers": [{"name": "c", "ports": ports}]},
                "status": {"podIP": pod["ip"]},
            }
        )
        name = pod["workload"] or "pods:" + ",".join(
            f"{k}={v}" for k, v in sorted(pod["labels"].items())
        )
        workload[f"{pod['namespace']}/{pod['name']}"] = f"{pod['namespace']}/{name}"
    loaded = load_text("\n---\n".join(json.dumps(d) for d in docs), "inv", CLUSTER)
    world = loaded.clusters[CLUSTER]
    from netwarden.engine.world import World

    engine = CompiledEngine(World({CLUSTER: world}, list(policies)))
    pods = [p for p in world.pods if p.kind is EndpointKind.POD]
    cmap = connectivity_map(engine, pods)
    seen = set()
    for e in edges:
        src, dst = workload_of(e.source), workload_of(e.destination)
        if src and dst and e.verdict != "DROPPED":
            seen.add((src.display(), dst.display(), e.port, e.protocol))
    allowed: set[tuple[str, str, int, str]] = set()
    ranges: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    for src, dst, ports in cmap.allowed_pairs():
        a, b = workload.get(src, src), workload.get(dst, dst)
        for index, proto in enumerate(("TCP", "UDP", "SCTP")):
            for lo, hi in ports.ranges[index]:
                if hi - lo < 64:
                    allowed |= {(a, b, p, proto) for p in range(lo, hi + 1)}
                else:
                    ranges.setdefault((a, b, proto), []).append((lo, hi))
    wide = sum(hi - lo + 1 for spans in ranges.values() for lo, hi in set(spans))
    return len(allowed - seen) + wide


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flows.jsonl"
        lines = flow_file(path)
        edges = observed(lines)
        sets: dict[str, list[dict[str, Any]] | str] = {
            "netwarden recommend (cilium)": netwarden_policies(edges),
            "hubble-audit2policy": audit2policy_policies(path, Path(tmp) / "a2p.yaml"),
        }
    print(f"flow file: simulated storefront, {len(lines):,} Hubble JSON lines, {len(edges)} edges")
    header = (
        f"{'tool':30} {'policies':>8} {'rules':>6} {'peer x port':>11} "
        f"{'legit flows covered':>20} {'unexpected allowed':>19} {'beyond observed':>16}"
    )
    print(header)
    for name, objects in sets.items():
        if isinstance(objects, str):
            print(f"{name:30} {objects}")
            continue
        entries, pairs = count_rules(objects)
        cov = coverage(objects, edges)
        beyond = beyond_observed(cov["policies"], edges)
        legit = f"{cov['legit_covered']:,}/{cov['legit_flows']:,}"
        bad = f"{cov['unexpected_allowed']:,}/{cov['unexpected_flows']:,}"
        errors = f" ({cov['parse_errors']} parse errors)" if cov["parse_errors"] else ""
        print(
            f"{name:30} {len(objects):>8} {entries:>6} {pairs:>11} {legit:>20} {bad:>19} "
            f"{beyond:>16,}{errors}"
        )


if __name__ == "__main__":
    main()
