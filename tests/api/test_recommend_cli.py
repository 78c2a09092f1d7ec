"""``netwarden recommend`` and ``netwarden recommend accept`` against a live server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
import yaml

from netwarden.agent.simulated import load_simulated
from netwarden.api.app import create_app
from netwarden.api.auth import ControlPlaneAuthenticator
from netwarden.control.bootstrap import bootstrap
from netwarden.control.db import open_database, sqlite_url
from netwarden.control.models import Cluster, Namespace, Project
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.service import FlowService
from tests.api.conftest import free_port
from tests.api.test_cli_control import cli
from tests.api.test_recommend_api import HOUR_NS, TOPOLOGY


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A server with cluster c1 (namespaces shop and web) and 30 hours of its flows; the
    CLI reaches it through NETWARDEN_API / NETWARDEN_TOKEN."""
    monkeypatch.setenv("NETWARDEN_CONFIG", str(tmp_path / "client.yaml"))
    monkeypatch.delenv("NETWARDEN_CONTEXT", raising=False)
    db = open_database(sqlite_url(tmp_path / "control.db"))
    with db.session() as s:
        boot = bootstrap(s, "acme")
        assert boot is not None
        project = Project(org_id=boot.org.id, name="p1")
        s.add(project)
        s.flush()
        cluster = Cluster(org_id=boot.org.id, project_id=project.id, name="c1")
        s.add(cluster)
        s.flush()
        for ns in ("shop", "web"):
            s.add(
                Namespace(org_id=boot.org.id, cluster_id=cluster.id, name=ns, project_id=project.id)
            )
    path = tmp_path / "tiny.yaml"
    path.write_text(TOPOLOGY)
    flows = FlowService(DuckDBFlowStore())
    sim = load_simulated(str(path), "c1", seed=3)
    flows.ingest_lines(sim.generate(3000, start_ns=time.time_ns() - 30 * HOUR_NS), "c1")
    app = create_app(flow_service=flows, authenticator=ControlPlaneAuthenticator(db), db=db)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    monkeypatch.setenv("NETWARDEN_API", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NETWARDEN_TOKEN", boot.token)
    try:
        yield
    finally:
        uv.should_exit = True
        thread.join(10)
        db.close()


def test_recommend_lists_shows_and_accepts(server: None) -> None:
    table = cli("recommend", "--cluster", "c1").output
    assert "shop" in table and "db" in table and "recommendation-available" in table
    one = cli("recommend", "--cluster", "c1", "-n", "shop", "-w", "db").output
    assert "ingress from web/front on 5432/TCP" in one and "proof holds" in one
    doc = yaml.safe_load(
        cli("recommend", "--cluster", "c1", "-n", "shop", "-w", "db", "-o", "yaml").output
    )
    assert doc["kind"] == "CiliumNetworkPolicy" and doc["metadata"]["name"] == "netwarden-rec-db"
    k8s = cli("recommend", "--cluster", "c1", "-n", "web", "--format", "k8s", "-o", "yaml").output
    assert yaml.safe_load(k8s)["kind"] == "NetworkPolicy"
    accepted = cli("recommend", "accept", "--cluster", "c1", "-n", "shop", "-w", "db").output
    assert "CiliumNetworkPolicy shop/netwarden-rec-db version 1" in accepted
    assert "accepted recommendation" in accepted
    after = cli("recommend", "--cluster", "c1", "-n", "shop").output
    assert "policy-applied" in after
    cli("recommend", "--cluster", "c1", "--format", "yaml", code=2)
    cli("recommend", "--cluster", "c1", "-n", "shop", "-w", "nope", code=2)
