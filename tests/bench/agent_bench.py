"""Agent benchmarks (``make bench``): the whole loop with real agents and simulated
clusters against ``netwarden serve`` in its own process.

- Rollout: ``sync_clusters`` agents (threads of this process, each the real runtime with
  a simulated storefront) connected and synced; then a blueprint assigned to all of them
  is created, and the time until every cluster reports it applied (``synced`` at the new
  generation) is measured (target: 100 clusters in under 10 s).
- Flows: ``flow_clusters`` agents each generating ``flow_rate`` flows/s, shipped through
  the spool and the ingestion endpoint; the stored rate (the server's
  ``netwarden_flows_ingested_total``) over ``flow_seconds`` after a warm-up, and the lag
  between a flow's generation (its time) and the moment it is queryable (the newest
  stored flow's time, sampled each second) (target: 50,000 flows/s overall, lag < 2 s).

The agents and the server share this machine's two cores: the figures are the whole
loop's on one machine, generation and ingestion competing for CPU.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from netwarden.agent.runtime import Agent, AgentConfig, connect
from netwarden.agent.simulated import SimulatedCluster, load_simulated
from netwarden.agent.sync import Intervals
from netwarden.client.http import NetwardenClient
from tests.api.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = ROOT / "examples" / "topologies" / "storefront.yaml"
SYNC_TARGET_S = 10.0
FLOW_TARGET = 50_000.0
LAG_TARGET_S = 2.0
BLUEPRINT = """apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {name: bench-day0}
spec:
  assign: {clusterSelector: {matchLabels: {bench: "yes"}}}
  clusterPolicies:
  - apiVersion: cilium.io/v2
    kind: CiliumClusterwideNetworkPolicy
    metadata: {name: allow-dns}
    spec:
      endpointSelector: {}
      enableDefaultDeny: {egress: false, ingress: false}
      egress:
      - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system}}]
        toPorts: [{ports: [{port: "53", protocol: ANY}]}]
  namespaceDefaults:
  - name: baseline
    exclude: [kube-system, ingress-nginx]
    policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: default-deny}
      spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""
# The fleet flow run with policies in force (``--agent-flow-policies``): the Day-0
# blueprint above plus traffic inside each namespace allowed, as the bundled zero-trust
# blueprint does, so that most of the storefront's flows are allowed by a named policy
# and the rest dropped by default deny: every flow is attributed by the server's engine.
ALLOW_SAME_NAMESPACE = """    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: allow-same-namespace}
      spec:
        podSelector: {}
        policyTypes: [Ingress, Egress]
        ingress: [{from: [{podSelector: {}}]}]
        egress: [{to: [{podSelector: {}}]}]
"""
FLOW_BLUEPRINT = BLUEPRINT.replace("bench-day0", "bench-zero-trust") + ALLOW_SAME_NAMESPACE
TOKEN_LINE = re.compile(r"Admin token \(shown once, store it now\): (\S+)")


@dataclass
class AgentResults:
    sync_clusters: int = 0
    connect_s: float = 0.0
    sync_s: float = 0.0
    flow_clusters: int = 0
    flow_policies: bool = False  # a blueprint in force on the flow run's clusters
    flow_rate_asked: float = 0.0
    flows_per_s: float = 0.0
    generated_per_s: float = 0.0  # stored + what the spools grew by: what the agents read
    lag_p50_s: float = 0.0
    lag_p95_s: float = 0.0
    spool_pending: int = 0
    server_cpu_us: float = 0.0  # server CPU time per stored flow
    agents_cpu_us: float = 0.0  # agents' (and the bench's) CPU time per generated flow
    notes: list[str] = field(default_factory=list)


@contextmanager
def server(data: Path) -> Iterator[tuple[str, str, int]]:
    """``netwarden serve`` in its own process, its output (access log) going to
    ``data/serve.log``; yields (url, admin token). (A pipe nobody reads once the token is
    found fills up with the access log and blocks the server mid-request.)"""
    port = free_port()
    env = {**os.environ, "NETWARDEN_DATA_DIR": str(data)}
    command = [sys.executable, "-m", "netwarden.cli.main", "serve", "--port", str(port)]
    data.mkdir(parents=True, exist_ok=True)
    log_path = data / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        token = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            found = TOKEN_LINE.search(log_path.read_text())
            if found:
                token = found.group(1)
            try:
                if token and httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the server did not start:\n{log_path.read_text()[-2000:]}")
        yield url, token, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class Fleet:
    agents: list[Agent]
    backends: list[SimulatedCluster]
    threads: list[threading.Thread]

    def stop(self) -> None:
        for agent in self.agents:
            agent.stop()
        for thread in self.threads:
            thread.join(30)
        for backend in self.backends:
            backend.close()


def start_agents(
    url: str, admin: str, names: list[str], spool: Path, rate: float, intervals: Intervals
) -> Fleet:
    with NetwardenClient(url, admin) as client:
        project = client.create_project("bench")["id"]
        tokens = {}
        for name in names:
            body = {"name": name, "project": project, "labels": {"bench": "yes"}}
            cluster = client.create_cluster(body)
            tokens[name] = client.create_agent_token(cluster["id"], name="bench")["token"]
    fleet = Fleet([], [], [])
    for index, name in enumerate(names):
        config = AgentConfig(url, tokens[name], spool / name, intervals=intervals, fsync=False)
        stop = threading.Event()
        first = connect(config, stop)
        assert first is not None
        backend = load_simulated(str(TOPOLOGY), name, seed=index)
        backend.set_rate(rate)
        agent = Agent(config, backend, first, stop=stop)
        thread = threading.Thread(target=agent.run, name=f"agent-{name}", daemon=True)
        thread.start()
        fleet.agents.append(agent)
        fleet.backends.append(backend)
        fleet.threads.append(thread)
    return fleet


def _states(http: httpx.Client) -> list[dict[str, object]]:
    """Every cluster's sync state ([] when the server does not answer in time: a server
    too busy to answer is a finding, reported as the time it took, not a crash)."""
    try:
        items: list[dict[str, object]] = http.get("/api/v1/rollout").json()["items"]
    except httpx.HTTPError:
        return []
    return items


def _all_synced(http: httpx.Client, above: dict[str, int] | None = None) -> bool:
    states = _states(http)
    if not states:
        return False
    for item in states:
        if item["state"] != "synced":
            return False
        if (
            above is not None
            and int(str(item["applied_generation"])) <= above[str(item["cluster"])]
        ):
            return False
    return True


def _wait(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def bench_sync(clusters: int, result: AgentResults) -> None:
    intervals = Intervals(heartbeat_s=5.0)
    with TemporaryDirectory() as tmp, server(Path(tmp) / "server") as (url, admin, _):
        started = time.monotonic()
        names = [f"sync-{i:03d}" for i in range(clusters)]
        # No traffic: this measures the control loop (pull, apply, report), not ingestion.
        fleet = start_agents(url, admin, names, Path(tmp) / "spool", 0.0, intervals)
        try:
            headers = {"Authorization": f"Bearer {admin}"}
            with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
                if not _wait(lambda: _all_synced(http), 300):
                    result.notes.append("agents never all synced before the change")
                result.connect_s = time.monotonic() - started
                before = {
                    str(i["cluster"]): int(str(i["applied_generation"])) for i in _states(http)
                }
                changed = time.monotonic()
                answer = http.post("/api/v1/blueprints", json={"yaml": BLUEPRINT})
                answer.raise_for_status()
                if not _wait(lambda: _all_synced(http, before), 120):
                    result.notes.append("not every cluster synced within 120 s")
                result.sync_s = time.monotonic() - changed
        finally:
            fleet.stop()
    result.sync_clusters = clusters


def _ingested(http: httpx.Client) -> float:
    text = http.get("/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("netwarden_flows_ingested_total{")
    )


def _newest_time(http: httpx.Client) -> float | None:
    body = {"limit": 1, "last": True, "since": "30s"}
    flows = http.post("/api/v1/flows/query", json=body).json()["flows"]
    if not flows:
        return None
    stamp = flows[-1]["time"]
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _spooled(fleet: Fleet) -> int:
    """Flows in the agents' spools, read but not yet acknowledged, plus those dropped."""
    total = 0
    for agent in fleet.agents:
        stats = agent.spool.stats()
        total += stats.pending_flows + stats.dropped_flows
    return total


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """This process's CPU time: the agents' (threads of it) and the bench's own polling."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_flows(
    clusters: int, rate: float, seconds: float, result: AgentResults, policies: bool = False
) -> None:
    intervals = Intervals(heartbeat_s=5.0)
    with TemporaryDirectory() as tmp, server(Path(tmp) / "server") as (url, admin, pid):
        names = [f"flows-{i:02d}" for i in range(clusters)]
        fleet = start_agents(url, admin, names, Path(tmp) / "spool", rate, intervals)
        headers = {"Authorization": f"Bearer {admin}"}
        try:
            with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
                if policies:
                    answer = http.post("/api/v1/blueprints", json={"yaml": FLOW_BLUEPRINT})
                    answer.raise_for_status()
                    if not _wait(lambda: _all_synced(http, dict.fromkeys(names, 0)), 120):
                        result.notes.append("the blueprint did not reach every cluster")
                time.sleep(5)  # warm-up: agents connected, first batches shipped
                first, t0 = _ingested(http), time.monotonic()
                spooled = _spooled(fleet)
                server_cpu, agents_cpu = _cpu_seconds(pid), _own_cpu_seconds()
                lags: list[float] = []
                while time.monotonic() - t0 < seconds:
                    time.sleep(1)
                    newest = _newest_time(http)
                    if newest is not None:
                        lags.append(max(0.0, time.time() - newest))
                stored = _ingested(http) - first
                elapsed = time.monotonic() - t0
                result.flows_per_s = stored / elapsed
                generated = stored + _spooled(fleet) - spooled
                result.generated_per_s = generated / elapsed
                result.server_cpu_us = (_cpu_seconds(pid) - server_cpu) / max(stored, 1) * 1e6
                result.agents_cpu_us = (_own_cpu_seconds() - agents_cpu) / max(generated, 1) * 1e6
                if lags:
                    ordered = sorted(lags)
                    result.lag_p50_s = statistics.median(ordered)
                    result.lag_p95_s = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
                result.spool_pending = sum(a.spool.stats().pending_flows for a in fleet.agents)
        finally:
            fleet.stop()
    result.flow_clusters, result.flow_rate_asked = clusters, rate * clusters
    result.flow_policies = policies


def run_agent_bench(
    sync_clusters: int = 100, flow_clusters: int = 10, flow_rate: float = 5_000.0,
    flow_seconds: float = 20.0, flow_policies: bool = False,
) -> AgentResults:  # fmt: skip
    result = AgentResults()
    if sync_clusters:
        bench_sync(sync_clusters, result)
    if flow_clusters:
        bench_flows(flow_clusters, flow_rate, flow_seconds, result, flow_policies)
    return result


def render(r: AgentResults) -> str:
    lines = ["== agents and simulated clusters =="]
    if r.sync_clusters:
        lines.append(
            f"{r.sync_clusters} agents connected and synced in {r.connect_s:.1f} s; a blueprint "
            f"change reached every cluster (all synced) in {r.sync_s:.2f} s"
        )
    if r.flow_clusters:
        lines.append(
            f"{r.flow_clusters} clusters"
            + (" (a zero-trust blueprint in force)" if r.flow_policies else "")
            + f" asked for {r.flow_rate_asked:,.0f} flows/s: stored "
            f"{r.flows_per_s:,.0f} flows/s (the agents read {r.generated_per_s:,.0f}/s); "
            f"generation-to-queryable lag p50 {r.lag_p50_s:.2f} s, "
            f"p95 {r.lag_p95_s:.2f} s; {r.spool_pending:,} flows still spooled at the end; "
            f"CPU time {r.server_cpu_us:.0f} µs a stored flow in the server, "
            f"{r.agents_cpu_us:.0f} µs a generated flow in the agents"
        )
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)


def agent_targets(r: AgentResults) -> list[tuple[str, str, str, str, bool]]:
    rows = []
    if r.sync_clusters:
        rows.append((
            "agent", f"blueprint change to {r.sync_clusters} agents synced",
            f"< {SYNC_TARGET_S:.0f} s", f"{r.sync_s:.2f} s", r.sync_s < SYNC_TARGET_S,
        ))  # fmt: skip
    if r.flow_clusters:
        rows.append((
            "agent", f"flows from {r.flow_clusters} simulated clusters into the store",
            f">= {FLOW_TARGET:,.0f}/s", f"{r.flows_per_s:,.0f}/s", r.flows_per_s >= FLOW_TARGET,
        ))  # fmt: skip
        rows.append((
            "agent", "generation-to-queryable lag p95", f"< {LAG_TARGET_S:.0f} s",
            f"{r.lag_p95_s:.2f} s", r.lag_p95_s < LAG_TARGET_S,
        ))  # fmt: skip
    return rows
