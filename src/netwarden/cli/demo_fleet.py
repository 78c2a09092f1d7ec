"""The demo's moving parts in one process: the server on embedded storage, the fleet
applied from manifests, a token per demo user, and one agent per simulated cluster.

Everything goes through the product's real paths: the fleet is applied with the same
plan as ``netwarden apply``, each agent is the real runtime (:mod:`netwarden.agent`)
with the simulated backend, pulling its desired state and pushing flows over HTTP to
the server's ingestion endpoint. The end-to-end test and the agent benchmark drive this
class; ``netwarden demo`` prints what to try on top of it.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from netwarden.agent.channel import Fatal
from netwarden.agent.runtime import Agent, AgentConfig, connect
from netwarden.agent.simulated import SimulatedCluster, load_simulated
from netwarden.agent.sync import Intervals
from netwarden.api.server import Server, Settings
from netwarden.cli.context import Config, Context, save_config
from netwarden.cli.serve import GRACEFUL_S, AgentAwareServer
from netwarden.client.http import NetwardenClient
from netwarden.client.manifests import load_manifests
from netwarden.client.names import Names
from netwarden.client.planning import build_plan, execute
from netwarden.control.blueprint_spec import read_spec

log = logging.getLogger("netwarden.demo")
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
USERS = ("olga", "ivan", "iris", "paula", "peter", "wanda", "walter")  # a user per role
START_TIMEOUT_S = 30.0


class DemoError(RuntimeError):
    pass


@dataclass
class DemoSettings:
    data_dir: Path
    port: int = 8080
    host: str = "127.0.0.1"
    fleet: Sequence[Path] = (EXAMPLES / "fleet",)
    topology: Path = EXAMPLES / "topologies" / "storefront.yaml"
    seed: int = 7
    rate: float | None = None  # flows/s per cluster (None: the topology's own)
    intervals: Intervals = field(default_factory=Intervals)


@dataclass
class RunningAgent:
    cluster: str
    agent: Agent
    backend: SimulatedCluster
    thread: threading.Thread


class DemoFleet:
    def __init__(self, settings: DemoSettings) -> None:
        self.settings = settings
        self.tokens: dict[str, str] = {}
        self.agents: dict[str, RunningAgent] = {}
        self.clusters: list[str] = []
        self._server: Server | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    @property
    def config_path(self) -> Path:
        return self.settings.data_dir / "client-config.yaml"

    def start(self) -> None:
        data = self.settings.data_dir
        if data.exists():
            shutil.rmtree(data)  # a demo starts fresh: its tokens are only shown once
        self._start_server()
        admin = self._server.first_start.token if self._server and self._server.first_start else ""
        self.tokens["admin"] = admin
        with NetwardenClient(self.url, admin) as client:
            self._apply(client)
            users = {u["name"]: u["id"] for u in client.list_users()}
            for name in USERS:
                self.tokens[name] = client.create_user_token(users[name], name="demo")["token"]
            clusters = {c["name"]: c["id"] for c in client.list_clusters()}
            self.clusters = sorted(clusters)
            agent_tokens = {
                name: client.create_agent_token(cid, name="demo agent")["token"]
                for name, cid in clusters.items()
            }
        self._write_contexts()
        for name in self.clusters:
            self._start_agent(name, agent_tokens[name])

    def _start_server(self) -> None:
        s = self.settings
        given: dict[str, Any] = {"data_dir": s.data_dir, "host": s.host, "port": s.port}
        self._server = Server(Settings(**given))
        config = uvicorn.Config(
            self._server.app,
            host=s.host,
            port=s.port,
            log_level="warning",
            timeout_graceful_shutdown=GRACEFUL_S,
        )
        self._uvicorn = AgentAwareServer(config)
        self._thread = threading.Thread(target=self._uvicorn.run, name="server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise DemoError(f"the server did not start on {self.url} (port in use?)")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise DemoError(f"the server did not answer on {self.url}")

    def _apply(self, client: NetwardenClient) -> None:
        paths = [str(p) for p in self.settings.fleet]
        loaded = load_manifests(paths, read_spec)
        if loaded.errors:
            raise DemoError("\n".join(str(e) for e in loaded.errors))
        plan = build_plan(Names(client), loaded.resources, prune=False, message="demo fleet")
        if plan.errors:
            raise DemoError("\n".join(str(e) for e in plan.errors))
        execute(plan, dry_run=False)

    def _write_contexts(self) -> None:
        config = Config(self.config_path, current="admin")
        for name, token in self.tokens.items():
            config.contexts[name] = Context(name, self.url, token, user=name)
        save_config(config)

    def _start_agent(self, cluster: str, token: str) -> None:
        s = self.settings
        config = AgentConfig(
            server=self.url,
            token=token,
            spool_dir=s.data_dir / "agents" / cluster,
            intervals=s.intervals,
            fsync=False,  # a demo on a laptop: the spool is still written atomically
        )
        stop = threading.Event()
        first = connect(config, stop)
        if first is None:
            raise DemoError(f"agent of {cluster}: the server went away")
        backend = load_simulated(str(s.topology), first.cluster, s.seed)
        if s.rate is not None:
            backend.set_rate(s.rate)
        agent = Agent(config, backend, first, stop=stop)

        def run() -> None:
            try:
                problem = agent.run()
            except Fatal as exc:
                problem = str(exc)
            if problem:
                log.error("agent of %s stopped: %s", cluster, problem)

        thread = threading.Thread(target=run, name=f"agent-{cluster}", daemon=True)
        thread.start()
        self.agents[cluster] = RunningAgent(cluster, agent, backend, thread)

    def client(self, user: str = "admin") -> NetwardenClient:
        return NetwardenClient(self.url, self.tokens[user])

    def stop(self) -> None:
        for running in self.agents.values():
            running.agent.stop()
        for running in self.agents.values():
            running.thread.join(15)
            running.backend.close()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
        if self._server is not None:
            self._server.close()

    def __enter__(self) -> DemoFleet:
        self.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()
