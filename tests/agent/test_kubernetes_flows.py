"""The Kubernetes backend's flows: Hubble Relay (an in-process Observer serving the real
samples, from tests/flows/test_hubble_grpc.py) -> batches of ``hubble observe -o json``
lines, through a Relay restart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwarden.agent.kube_api import KubeApi, load_client
from netwarden.agent.kube_flows import RelayFlows, flow_line, heartbeats
from netwarden.agent.kubernetes import KubernetesBackend
from netwarden.flows.decode import decode_object
from netwarden.flows.hubble_client import Backoff, HubbleClient
from netwarden.model.flow import Flow
from tests.flows.test_hubble_grpc import FakeObserver, Sample, load_samples, start_server

WAIT = 10.0


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return load_samples()


def decoded(line: bytes) -> Flow:
    flow = decode_object(json.loads(line))
    assert isinstance(flow, Flow)
    return flow


def collect(batches: Iterator[list[bytes]], count: int) -> tuple[list[bytes], int]:
    """``count`` lines from the batches (and how many batches that took)."""
    lines: list[bytes] = []
    taken = 0
    while len(lines) < count:
        lines.extend(next(batches))
        taken += 1
        assert taken < WAIT / 0.05, "flows did not arrive"
    return lines, taken


def test_lines_are_hubble_observe_json(samples: list[Sample]) -> None:
    for sample in samples:
        line = flow_line(sample.flow)
        document = json.loads(line)
        assert set(document) == {"flow", "node_name", "time"}
        assert document["node_name"] == sample.flow.node_name
        assert document["time"] == document["flow"]["time"]
        assert b"\n" not in line
        assert decoded(line) == sample.flow


def test_flows_follow_relay_and_survive_a_restart(samples: list[Sample]) -> None:
    first = FakeObserver([s.response for s in samples[:2]])  # old flows: not replayed
    server, port = start_server(first)
    client = HubbleClient(f"127.0.0.1:{port}")
    relay = RelayFlows(client, interval=0.05, retry=Backoff(initial=0.05, attempts=None))
    stop = threading.Event()
    batches = relay.batches(stop)
    try:
        assert next(batches) == []  # a heartbeat while nothing flows
        first.wait_for_followers(1)
        request = first.requests[-1]
        assert request.follow and not request.HasField("since")
        for sample in samples[2:6]:
            first.publish(sample.response)
        lines, _ = collect(batches, 4)
        assert [decoded(line) for line in lines] == [s.flow for s in samples[2:6]]

        # Relay restarts on the same port; its buffer holds what the old one had and
        # more. The stream resumes after the last flow delivered, without repeats.
        server.stop(grace=None)
        second = FakeObserver([s.response for s in samples[:9]])
        server, _ = start_server(second, port)
        lines, _ = collect(batches, 3)
        assert [decoded(line) for line in lines] == [s.flow for s in samples[6:9]]
        resumed = second.requests[-1]
        assert resumed.follow and resumed.since.ToNanoseconds() == samples[5].flow.time
        assert relay.reconnects >= 1 and relay.stats.flows == 7

        stop.set()
        assert list(batches) == []  # the generator ends once stop is set
    finally:
        stop.set()
        batches.close()
        client.close()
        server.stop(grace=None)


def test_without_relay_the_flows_are_heartbeats() -> None:
    stop = threading.Event()
    batches = heartbeats(stop, interval=0.01)
    assert [next(batches) for _ in range(3)] == [[], [], []]
    stop.set()
    assert list(batches) == []


def test_backend_flows_come_from_its_relay(samples: list[Sample], tmp_path: Path) -> None:
    observer = FakeObserver([])
    server, port = start_server(observer)
    kubeconfig = tmp_path / "kubeconfig"  # never contacted: start=False
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    backend = KubernetesBackend(
        "kind-test",
        KubeApi(load_client(str(kubeconfig), in_cluster=False)),
        hubble=HubbleClient(f"127.0.0.1:{port}"),
        flow_interval=0.05,
        start=False,
    )
    stop = threading.Event()
    batches = backend.flows(stop)
    try:
        next(batches)
        observer.wait_for_followers(1)
        for sample in samples[:3]:
            observer.publish(sample.response)
        lines, _ = collect(batches, 3)
        assert [decoded(line) for line in lines] == [s.flow for s in samples[:3]]
    finally:
        stop.set()
        batches.close()
        backend.close()
        server.stop(grace=None)
