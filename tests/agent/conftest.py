"""Agent runtime fixtures: a deterministic test backend, a real ``netwarden serve``
subprocess (killable and restartable on the same data directory and port), a fleet on it
(project, cluster, agent token) and an agent running in a thread."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from netwarden.agent.backend import (
    Inventory,
    LiveObjects,
    NodeInfo,
    ObjectRef,
    ObjectResult,
    PodInfo,
    ServiceInfo,
)
from netwarden.agent.runtime import Agent, AgentConfig, connect
from netwarden.agent.sync import Intervals
from netwarden.client.http import NetwardenClient
from netwarden.flows.flowencode import flow_to_json, format_time
from tests.api.conftest import free_port
from tests.flows.test_service import flow

FAST = Intervals(
    heartbeat_s=1.0,
    drift_s=0.3,
    inventory_s=60.0,
    poll_wait_s=2.0,
    batch_flows=200,
    batch_s=0.1,
    backoff_base_s=0.05,
    backoff_cap_s=0.5,
)


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy (with a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- the test backend --------------------------------------------------------------------

WEB_POD = PodInfo(
    "shop", "web-0", {"app": "web"}, "10.0.0.1", "node-1", "web", "Deployment",
    ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
)  # fmt: skip


def flow_line(uuid: str, n: int) -> bytes:
    """A Hubble ``GetFlowsResponse`` JSON line with a unique uuid and a current time."""
    value = dataclasses.replace(flow(n, "shop", "shop"), uuid=uuid, time=time.time_ns())
    doc = {"flow": flow_to_json(value), "node_name": value.node_name}
    doc["time"] = format_time(value.time) if value.time is not None else ""
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass
class TestBackend:
    """A cluster in memory: records applies, holds the managed objects it was given (as a
    cluster would, with server metadata added), emits ``batch`` flows with unique uuids
    every ``every`` seconds while ``producing`` is set."""

    __test__ = False

    cluster: str
    every: float = 0.02
    batch: int = 10
    namespaces: dict[str, dict[str, str]] = field(
        default_factory=lambda: {"shop": {"team": "shop"}, "kube-system": {}}
    )
    unmanaged: list[ObjectRef] = field(default_factory=list)
    fail_names: set[str] = field(default_factory=set)
    applies: list[tuple[list[dict[str, Any]], dict[str, str]]] = field(default_factory=list)
    managed: dict[ObjectRef, dict[str, Any]] = field(default_factory=dict)
    generated: list[str] = field(default_factory=list)
    producing: threading.Event = field(default_factory=threading.Event)
    idle: threading.Event = field(default_factory=threading.Event)
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(
        self, objects: Sequence[Mapping[str, Any]], settings: Mapping[str, str]
    ) -> list[ObjectResult]:
        results = []
        with self.lock:
            self.applies.append(([dict(o) for o in objects], dict(settings)))
            self.managed = {}
            for obj in objects:
                ref = ObjectRef.of(obj)
                if ref.name in self.fail_names:
                    results.append(ObjectResult(ref, "failed", "admission webhook said no"))
                    continue
                live = copy.deepcopy(dict(obj))
                live["metadata"] = {**live["metadata"], "resourceVersion": "7", "uid": "u-1"}
                self.managed[ref] = live
                results.append(ObjectResult(ref, "applied"))
        return results

    def live_objects(self) -> LiveObjects:
        with self.lock:
            return LiveObjects(copy.deepcopy(self.managed), list(self.unmanaged))

    def inventory(self) -> Inventory:
        with self.lock:
            namespaces = copy.deepcopy(self.namespaces)
        return Inventory(
            namespaces=namespaces,
            pods=[WEB_POD],
            nodes=[NodeInfo("node-1", "192.168.0.1", {"zone": "a"})],
            services=[ServiceInfo("shop", "web", {"app": "web"}, "10.96.0.10")],
            cilium_version="1.19.4",
            supported_kinds=frozenset({"NetworkPolicy", "CiliumNetworkPolicy"}),
        )

    def flows(self, stop: threading.Event) -> Iterator[list[bytes]]:
        n = 0
        while not stop.wait(self.every):
            if not self.producing.is_set():
                self.idle.set()
                yield []
                continue
            batch = []
            for _ in range(self.batch):
                n += 1
                uuid = f"{self.cluster}-{os.getpid()}-{time.monotonic_ns()}-{n}"
                batch.append(flow_line(uuid, n))
                with self.lock:
                    self.generated.append(uuid)
            yield batch

    def pause(self) -> None:
        """Stop producing flows; returns once a batch being made is in ``generated``."""
        self.producing.clear()
        self.idle.clear()
        assert self.idle.wait(10), "the flow generator did not pause"

    def close(self) -> None:
        self.closed = True


# --- a real server -----------------------------------------------------------------------


def _drain(stream: IO[bytes], path: Path) -> None:
    with open(path, "ab") as log, suppress(ValueError, OSError):  # closed by kill()
        for raw in stream:
            log.write(raw)


class ServerProcess:
    """``netwarden serve`` on a data directory and a fixed port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_token = ""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log_path = self.data_dir.parent / f"serve-{self.port}.log"
        log = open(log_path, "ab")
        command = [sys.executable, "-m", "netwarden.cli.main", "serve",
                   "--data-dir", str(self.data_dir), "--port", str(self.port)]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
        log.close()
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        for raw in self.process.stdout:
            line = raw.decode()
            found = re.search(r"Admin token \(shown once, store it now\): (\S+)", line)
            if found:
                self.admin_token = found[1]
            if "listening on" in line or time.monotonic() > deadline:
                break
        # The rest of stdout (uvicorn's access log) goes on to the log file: a pipe nobody
        # reads fills up and blocks the server mid-request.
        threading.Thread(target=_drain, args=(self.process.stdout, log_path), daemon=True).start()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"netwarden serve exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("netwarden serve did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # uvicorn waits for open long polls, briefly here
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def admin(self) -> NetwardenClient:
        return NetwardenClient(self.url, self.admin_token)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("server") / "data")
    proc.start()
    yield proc
    proc.stop()


@dataclass
class Fleet:
    cluster: str
    cluster_id: str
    token: str
    token_id: str


_counter = iter(range(1_000_000))


def make_cluster(server: ServerProcess, labels: dict[str, str] | None = None) -> Fleet:
    """A new project and cluster on ``server`` and a token for the cluster's agent."""
    name = f"c{next(_counter)}-{os.getpid() % 1000}"
    with server.admin() as admin:
        project = admin.create_project(f"p-{name}")
        cluster = admin.create_cluster(
            {"name": name, "project": project["id"], "labels": labels or {"env": "test"}}
        )
        token = admin.create_agent_token(cluster["id"], "test")
    return Fleet(name, cluster["id"], token["token"], token["id"])


# --- an agent in a thread ----------------------------------------------------------------


@dataclass
class RunningAgent:
    agent: Agent
    thread: threading.Thread
    result: list[str | None]

    def stop(self) -> str | None:
        self.agent.stop()
        self.thread.join(20)
        assert not self.thread.is_alive(), "the agent did not stop"
        return self.result[0] if self.result else None


@contextmanager
def running_agent(
    server_url: str,
    token: str,
    backend: TestBackend,
    spool_dir: Path,
    *,
    intervals: Intervals = FAST,
    max_bytes: int = 64 * 1024 * 1024,
    on_ack: Callable[..., None] | None = None,
) -> Iterator[RunningAgent]:
    config = AgentConfig(
        server_url, token, spool_dir, spool_max_bytes=max_bytes, intervals=intervals
    )
    first = connect(config, threading.Event())
    assert first is not None and first.cluster == backend.cluster
    agent = Agent(config, backend, first, on_ack=on_ack)
    result: list[str | None] = []
    thread = threading.Thread(target=lambda: result.append(agent.run()), name="test-agent")
    thread.start()
    running = RunningAgent(agent, thread, result)
    try:
        yield running
    finally:
        if thread.is_alive():
            running.stop()
