"""Control-plane benchmarks (``make bench``): desired-state recompute for a fleet after a
blueprint change, and API latency under concurrent clients, on SQLite and PostgreSQL.

- Recompute: an org with ``clusters`` clusters of ``namespaces`` namespaces each, one
  blueprint assigned to all of them by label (a cluster-wide policy plus two namespace
  defaults); the time of the blueprint update that recomputes every cluster's desired
  state (target: 1,000 x 50 in under 5 s).
- API: ``clients`` concurrent clients (threads with their own HTTP connection) against
  uvicorn serving the app, each doing reads (list clusters, get a policy) and writes
  (change a namespace policy); p50 / p99 per operation.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import psycopg

from netwarden.control import blueprints
from netwarden.control.access import Access, Actor
from netwarden.control.bootstrap import bootstrap
from netwarden.control.db import Database, open_database, sqlite_url
from netwarden.control.models import Blueprint, Cluster, DesiredState, Namespace, Project
from netwarden.control.tokens import resolve
from tests.api.conftest import free_port

PG_ADMIN = "postgresql://postgres@localhost/postgres"
RECOMPUTE_TARGET_S = 5.0
BLUEPRINT = """apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {{name: fleet-day0}}
spec:
  assign: {{clusterSelector: {{matchLabels: {{fleet: "yes"}}}}}}
  settings: {{enforcementMode: {mode}}}
  clusterPolicies:
  - apiVersion: cilium.io/v2
    kind: CiliumClusterwideNetworkPolicy
    metadata: {{name: allow-dns}}
    spec:
      endpointSelector: {{}}
      egress:
      - toEndpoints: [{{matchLabels: {{k8s:io.kubernetes.pod.namespace: kube-system}}}}]
        toPorts: [{{ports: [{{port: "53", protocol: ANY}}]}}]
  namespaceDefaults:
  - name: baseline
    exclude: [kube-system]
    policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {{name: default-deny}}
      spec: {{podSelector: {{}}, policyTypes: [Ingress, Egress]}}
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {{name: allow-from-ingress}}
      spec:
        podSelector: {{}}
        ingress:
        - from:
          - namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: ingress}}}}
"""
NP = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: bench-{n}, namespace: ns-{ns}}}
spec:
  podSelector: {{matchLabels: {{app: db}}}}
  ingress: [{{ports: [{{port: {port}}}]}}]
"""


@dataclass
class ControlResults:
    backend: str
    clusters: int
    namespaces: int
    recompute_s: float = 0.0
    objects: int = 0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    requests: int = 0


@contextmanager
def database(backend: str) -> Iterator[Database]:
    if backend == "sqlite":
        with TemporaryDirectory() as tmp:
            db = open_database(sqlite_url(Path(tmp) / "control.db"))
            try:
                yield db
            finally:
                db.close()
        return
    name = f"nw_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = open_database(f"postgresql://postgres@localhost/{name}")
    try:
        yield db
    finally:
        db.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_fleet(db: Database, clusters: int, namespaces: int) -> tuple[str, str]:
    """The org (bootstrap), clusters and namespaces; returns (admin token, project id)."""
    with db.session() as s:
        boot = bootstrap(s, "bench")
        assert boot is not None
        project = Project(org_id=boot.org.id, name="fleet")
        s.add(project)
        s.flush()
        rows = [
            Cluster(org_id=boot.org.id, project_id=project.id, name=f"cluster-{i:04d}",
                    labels={"fleet": "yes", "env": "prod" if i % 4 else "staging"})
            for i in range(clusters)
        ]  # fmt: skip
        s.add_all(rows)
        s.flush()
        s.add_all(
            Namespace(org_id=boot.org.id, cluster_id=c.id, name=f"ns-{j}", project_id=project.id,
                      labels={"team": f"t{j % 7}"})
            for c in rows
            for j in range(namespaces)
        )  # fmt: skip
        return boot.token, project.id


def bench_recompute(db: Database, token: str, project: str) -> tuple[float, int]:
    """Create the blueprint, then time the update that changes every cluster."""
    with db.session() as s:
        identity = resolve(s, token)
        assert identity is not None and identity.grants is not None and identity.user
        actor = Actor(identity.user.name, identity.org_id, identity.grants)
        blueprints.create(Access(s, actor), BLUEPRINT.format(mode="enforce"), "bench", project)
    with db.session() as s:
        acc = Access(s, actor)
        bp_id = acc.find(Blueprint, "blueprint", name="fleet-day0").id
        started = time.perf_counter()
        blueprints.update(acc, bp_id, BLUEPRINT.format(mode="audit"), "audit mode", None)
        s.flush()
    elapsed = time.perf_counter() - started
    with db.session() as s:
        objects = sum(len(d.objects) for d in s.query(DesiredState).all())
    return elapsed, objects


@contextmanager
def serve(db: Database) -> Iterator[str]:
    """``netwarden serve`` in its own process on the bench's database (the load
    generator's threads must not share the server's interpreter and GIL)."""
    url = db.engine.url.render_as_string(hide_password=False)
    port = free_port()
    with TemporaryDirectory() as data:
        env = {**os.environ, "NETWARDEN_DATABASE_URL": url, "NETWARDEN_DATA_DIR": data}
        command = [sys.executable, "-m", "netwarden.cli.main", "serve", "--port", str(port)]
        server = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, server)
            yield base
        finally:
            server.terminate()
            server.wait(30)


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"netwarden serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("netwarden serve did not start")


def bench_api(
    url: str, token: str, clients: int, rounds: int
) -> tuple[dict[str, dict[str, float]], int]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        clusters = http.get("/api/v1/clusters").json()["items"]
        path = f"/api/v1/clusters/{clusters[0]['id']}/policies"
        policies = [
            http.post(path, json={"yaml": NP.format(n=n, ns=n % 50, port=1)}).json()
            for n in range(clients)
        ]
    samples: dict[str, list[float]] = {"list clusters": [], "get policy": [], "change policy": []}
    lock = threading.Lock()
    errors: Counter[str] = Counter()

    def client(n: int) -> None:
        mine = f"/api/v1/policies/{policies[n]['id']}"

        def change(h: httpx.Client, i: int) -> httpx.Response:
            return h.put(mine, json={"yaml": NP.format(n=n, ns=n % 50, port=1000 + i)})

        ops: list[tuple[str, Callable[[httpx.Client, int], Any]]] = [
            ("list clusters", lambda h, i: h.get("/api/v1/clusters")),
            ("get policy", lambda h, i: h.get(mine)),
            ("change policy", change),
        ]
        with httpx.Client(base_url=url, headers=headers, timeout=120) as h:
            for i in range(rounds):
                for name, op in ops:
                    started = time.perf_counter()
                    response = op(h, i)
                    elapsed = (time.perf_counter() - started) * 1000
                    with lock:
                        if response.status_code >= 400:
                            errors[f"{name}: {response.status_code}"] += 1
                        else:
                            samples[name].append(elapsed)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = {name: _percentiles(values) for name, values in samples.items() if values}
    if errors:
        out["errors"] = {key: float(n) for key, n in errors.items()}
    return out, sum(len(v) for v in samples.values())


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50": statistics.median(ordered), "p99": p99}


def run_control_bench(
    backends: list[str], clusters: int, namespaces: int, clients: int, rounds: int
) -> list[ControlResults]:
    results = []
    for backend in backends:
        with database(backend) as db:
            result = ControlResults(backend, clusters, namespaces)
            token, project = build_fleet(db, clusters, namespaces)
            result.recompute_s, result.objects = bench_recompute(db, token, project)
            with serve(db) as url:
                result.latency_ms, result.requests = bench_api(url, token, clients, rounds)
            results.append(result)
    return results


def render(results: list[ControlResults], clients: int) -> str:
    lines = [f"== control plane ({clients} concurrent API clients) =="]
    for r in results:
        lines.append(
            f"{r.backend:10}  desired state of {r.clusters:,} clusters x {r.namespaces} namespaces "
            f"after a blueprint change: {r.recompute_s:.2f} s ({r.objects:,} objects)"
        )
        for op, p in r.latency_ms.items():
            if op == "errors":
                lines.append(
                    f"{'':10}  errors: {', '.join(f'{k} x{int(v)}' for k, v in p.items())}"
                )
                continue
            lines.append(f"{'':10}  {op:14} p50 {p['p50']:7.1f} ms   p99 {p['p99']:7.1f} ms")
    return "\n".join(lines)


def control_targets(results: list[ControlResults]) -> list[tuple[str, str, str, str, bool]]:
    rows = []
    for r in results:
        rows.append((
            "control",
            f"{r.backend}: desired state {r.clusters}x{r.namespaces} after a blueprint change",
            f"< {RECOMPUTE_TARGET_S:.1f} s",
            f"{r.recompute_s:.2f} s",
            r.recompute_s < RECOMPUTE_TARGET_S,
        ))  # fmt: skip
    return rows
