"""The Hubble gRPC client against an in-process Observer server that streams the real samples.

The server is built from the same generated stubs as the client (``observer_pb2_grpc``)
and serves ../shared/samples/hubble/ parsed strictly into ``observer.GetFlowsResponse``
(``ignore_unknown_fields=False``: the samples were checked against Hubble's own protos,
so a parse failure means our proto subset is wrong). It implements number / first /
follow / since / until and whitelist / blacklist on a few FlowFilter fields
(source/destination pod, verdict, source/destination port) independently of the
client; the expected flows are computed from the JSON decoder's flows with plain
Python predicates, and the flows received over gRPC must equal them exactly.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.wrappers_pb2 import UInt32Value

from netwarden.flows import decode_path
from netwarden.flows._generated.flow import flow_pb2
from netwarden.flows._generated.observer import observer_pb2, observer_pb2_grpc
from netwarden.flows._generated.relay import relay_pb2
from netwarden.flows.hubble_client import (
    GET_FLOWS,
    SERVER_STATUS,
    Backoff,
    HubbleClient,
    HubbleError,
    HubbleRequestError,
    HubbleTimeout,
    HubbleUnavailable,
    TLSConfig,
    parse_target,
    response_to_json,
)
from netwarden.model.flow import Flow, Verdict
from tests.conftest import shared_dir
from tests.flows.samples import EXPECTED, sample_lines, sample_path

WAIT = 10.0  # seconds: an upper bound for anything that should happen at once


# --- the samples, as protobuf messages and as decoded flows -------------------------------


@dataclass(frozen=True)
class Sample:
    response: observer_pb2.GetFlowsResponse
    flow: Flow  # what the JSON decoder made of the same line


def parse_strict(line: str) -> observer_pb2.GetFlowsResponse:
    return json_format.ParseDict(
        json.loads(line), observer_pb2.GetFlowsResponse(), ignore_unknown_fields=False
    )


def load_samples() -> list[Sample]:
    """Every sample line, sorted by flow time (stable) like a ring buffer."""
    out: list[Sample] = []
    for name in sorted(EXPECTED):
        lines = sample_lines(name)
        flows = decode_path(sample_path(name)).flows
        assert len(flows) == len(lines) == EXPECTED[name].lines
        out.extend(
            Sample(parse_strict(line), flow) for line, flow in zip(lines, flows, strict=True)
        )
    out.sort(key=lambda sample: sample.flow.time or 0)
    return out


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return load_samples()


def test_every_sample_line_parses_strictly_and_round_trips() -> None:
    for name in sorted(EXPECTED):
        for line in sample_lines(name):
            message = parse_strict(line)  # raises ParseError on any field the subset lacks
            assert response_to_json(message) == json.loads(line)


def reference_tables() -> dict[str, dict[str, int]]:
    """hubble.md's field and enum tables: ``flow.TCP`` -> {name: number}.

    Each ``#### `pkg.Name``` or ``#### enum `pkg.Name``` heading (and ``### 1.2 `Flow`
    fields``) is followed by a table whose rows start ``| number | `name` ...``.
    """
    path = shared_dir() / "reference" / "hubble.md"
    if not path.is_file():
        pytest.skip("../shared/reference/hubble.md is not available")
    tables: dict[str, dict[str, int]] = {}
    for section in re.split(r"^#{3,4} ", path.read_text(), flags=re.MULTILINE)[1:]:
        heading, _, body = section.partition("\n")
        if heading.strip() == "1.2 `Flow` fields":
            name = "flow.Flow"
        else:
            match = re.fullmatch(r"(?:enum )?`((?:flow|observer|relay)\.[\w.]+)`", heading.strip())
            if match is None:
                continue
            name = match[1]
        rows: dict[str, int] = {}
        for line in body.splitlines():
            if line.startswith("|"):
                row = re.match(r"\| (\d+) \| `(\w+)`", line)
                if row is not None:
                    rows[row[2]] = int(row[1])
            elif rows:
                break  # the end of the table
        tables[name] = rows
    return tables


def test_names_and_numbers_are_the_reference_tables() -> None:
    """Every message and enum of the subset has exactly Hubble's names and numbers.

    The subset may leave fields out (none so far), never add or renumber one.
    """
    tables = reference_tables()
    checked = 0
    for module in (flow_pb2, relay_pb2, observer_pb2):
        pending = list(module.DESCRIPTOR.message_types_by_name.values())
        enums = list(module.DESCRIPTOR.enum_types_by_name.values())
        while pending:
            message = pending.pop()
            pending.extend(message.nested_types)
            enums.extend(message.enum_types)
            ours = {f.name: f.number for f in message.fields}
            if message.full_name in tables:
                assert ours == tables[message.full_name], message.full_name
                checked += 1
            else:  # not tabled in hubble.md: requests without fields, Experimental
                assert message.full_name in {
                    "observer.ServerStatusRequest",
                    "observer.GetFlowsRequest.Experimental",
                    "flow.FlowFilter.Experimental",
                }, message.full_name
        for enum in enums:
            if enum.full_name in tables:
                assert {v.name: v.number for v in enum.values} == tables[enum.full_name]
                checked += 1
            else:
                assert enum.full_name == "flow.Tunnel.Protocol"  # given in prose
                assert [(v.name, v.number) for v in enum.values] == [
                    ("UNKNOWN", 0),
                    ("VXLAN", 1),
                    ("GENEVE", 2),
                ]
    assert checked >= 45


# --- the in-process Observer --------------------------------------------------------------


def _ports(message: flow_pb2.Flow) -> tuple[int, int] | None:
    l4 = message.l4
    kind = l4.WhichOneof("protocol")
    if kind not in ("TCP", "UDP", "SCTP"):
        return None
    header = getattr(l4, kind)
    return header.source_port, header.destination_port


def _pod_matches(patterns: Any, endpoint: flow_pb2.Endpoint) -> bool:
    """Hubble's ``[namespace/]pod-prefix``: no namespace means ``default``; ``ns/`` any pod."""
    for pattern in patterns:
        namespace, slash, prefix = pattern.partition("/")
        if not slash:
            namespace, prefix = "default", pattern
        if (not namespace or endpoint.namespace == namespace) and endpoint.pod_name.startswith(
            prefix
        ):
            return True
    return False


SUPPORTED_FILTER_FIELDS = {
    "source_pod",
    "destination_pod",
    "verdict",
    "source_port",
    "destination_port",
}


def filter_matches(spec: flow_pb2.FlowFilter, message: flow_pb2.Flow) -> bool:
    """All set fields must match (AND); any value of one field may match (OR)."""
    if spec.source_pod and not _pod_matches(spec.source_pod, message.source):
        return False
    if spec.destination_pod and not _pod_matches(spec.destination_pod, message.destination):
        return False
    if spec.verdict and message.verdict not in spec.verdict:
        return False
    ports = _ports(message)
    if spec.source_port and (ports is None or str(ports[0]) not in spec.source_port):
        return False
    return not (
        spec.destination_port and (ports is None or str(ports[1]) not in spec.destination_port)
    )


def request_matches(request: observer_pb2.GetFlowsRequest, message: flow_pb2.Flow) -> bool:
    """Hubble's rule: whitelist.MatchOne (empty: all) and blacklist.MatchNone."""
    if request.whitelist and not any(filter_matches(f, message) for f in request.whitelist):
        return False
    return not any(filter_matches(f, message) for f in request.blacklist)


class FakeObserver(observer_pb2_grpc.ObserverServicer):
    """A Hubble server: a ring buffer of responses, and live flows for followers."""

    def __init__(self, buffer: list[observer_pb2.GetFlowsResponse]) -> None:
        self.buffer = list(buffer)
        self.requests: list[observer_pb2.GetFlowsRequest] = []
        self.followers: list[queue.Queue[observer_pb2.GetFlowsResponse]] = []
        self.follower_joined = threading.Condition()
        self.streams_ended = threading.Semaphore(0)
        self.lock = threading.Lock()
        self.before_stream: Callable[[grpc.ServicerContext], None] | None = None
        self.relay = False

    def publish(self, response: observer_pb2.GetFlowsResponse) -> None:
        with self.lock:
            self.buffer.append(response)
            for follower in self.followers:
                follower.put(response)

    def wait_for_followers(self, count: int) -> None:
        with self.follower_joined:
            assert self.follower_joined.wait_for(lambda: len(self.followers) >= count, WAIT)

    def GetFlows(
        self, request: observer_pb2.GetFlowsRequest, context: grpc.ServicerContext
    ) -> Iterator[observer_pb2.GetFlowsResponse]:
        try:
            yield from self._get_flows(request, context)
        finally:
            self.streams_ended.release()

    def _get_flows(
        self, request: observer_pb2.GetFlowsRequest, context: grpc.ServicerContext
    ) -> Iterator[observer_pb2.GetFlowsResponse]:
        self.requests.append(request)
        for spec in [*request.whitelist, *request.blacklist]:
            unsupported = {f.name for f, _ in spec.ListFields()} - SUPPORTED_FILTER_FIELDS
            if unsupported:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"unsupported filter field(s) {sorted(unsupported)}",
                )
        if request.first and request.follow:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "first is incompatible with follow")
        if self.before_stream is not None:
            self.before_stream(context)
        live: queue.Queue[observer_pb2.GetFlowsResponse] = queue.Queue()
        with self.lock:
            snapshot = list(self.buffer)
            if request.follow:
                self.followers.append(live)
        if request.follow:
            with self.follower_joined:
                self.follower_joined.notify_all()
        try:
            yield from self._buffered(request, snapshot)
            while request.follow and context.is_active():
                try:
                    response = live.get(timeout=0.02)
                except queue.Empty:
                    continue
                if response.HasField("flow") and not request_matches(request, response.flow):
                    continue
                yield response
        finally:
            with self.lock:
                if live in self.followers:
                    self.followers.remove(live)

    def _buffered(
        self, request: observer_pb2.GetFlowsRequest, snapshot: list[observer_pb2.GetFlowsResponse]
    ) -> list[observer_pb2.GetFlowsResponse]:
        since = request.since.ToNanoseconds() if request.HasField("since") else None
        until = request.until.ToNanoseconds() if request.HasField("until") else None
        selected = []
        for response in snapshot:
            if not response.HasField("flow"):
                selected.append(response)
                continue
            at = response.flow.time.ToNanoseconds()
            if since is not None and at < since:
                continue
            if until is not None and at > until:
                continue
            if request_matches(request, response.flow):
                selected.append(response)
        if request.number:
            number = request.number
            selected = selected[:number] if request.first else selected[-number:]
        elif request.follow and since is None:
            selected = []  # `hubble observe --follow` alone: new flows only
        return selected

    def ServerStatus(
        self, request: observer_pb2.ServerStatusRequest, context: grpc.ServicerContext
    ) -> observer_pb2.ServerStatusResponse:
        if self.before_stream is not None:
            self.before_stream(context)
        response = observer_pb2.ServerStatusResponse(
            num_flows=len(self.buffer),
            max_flows=4095,
            seen_flows=len(self.buffer) + 10,
            uptime_ns=123_000_000_000,
            version="1.19.4+netwarden-test",
            flows_rate=2.5,
        )
        if self.relay:
            response.num_connected_nodes.CopyFrom(UInt32Value(value=2))
            response.num_unavailable_nodes.CopyFrom(UInt32Value(value=1))
            response.unavailable_nodes.append("kind-worker2")
        return response


@dataclass
class Server:
    observer: FakeObserver
    port: int
    server: grpc.Server
    clients: list[HubbleClient] = field(default_factory=list)

    def client(self, **kwargs: Any) -> HubbleClient:
        client = HubbleClient(f"127.0.0.1:{self.port}", **kwargs)
        self.clients.append(client)
        return client


def start_server(observer: FakeObserver, port: int = 0) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    observer_pb2_grpc.add_ObserverServicer_to_server(observer, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    assert bound != 0, f"cannot bind 127.0.0.1:{port}"
    server.start()
    return server, bound


@pytest.fixture
def hubble(samples: list[Sample]) -> Iterator[Server]:
    observer = FakeObserver([sample.response for sample in samples])
    server, port = start_server(observer)
    running = Server(observer, port, server)
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        server.stop(grace=None)


def flows_of(samples: list[Sample], keep: Callable[[Flow], bool] = lambda _: True) -> list[Flow]:
    return [sample.flow for sample in samples if keep(sample.flow)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- buffered requests ---------------------------------------------------------------------


def test_all_buffered_flows_equal_the_json_decoders(hubble: Server, samples: list[Sample]) -> None:
    stream = hubble.client().get_flows(number=len(samples))
    received = list(stream)
    assert len(received) == len(samples) == sum(e.lines for e in EXPECTED.values())
    assert received == flows_of(samples)
    assert stream.errors == [] and not stream.skipped and stream.received == len(samples)


def test_the_method_paths_are_hubbles() -> None:
    assert GET_FLOWS == "/observer.Observer/GetFlows"
    assert SERVER_STATUS == "/observer.Observer/ServerStatus"
    assert flow_pb2.DESCRIPTOR.name == "flow/flow.proto" and flow_pb2.DESCRIPTOR.package == "flow"
    assert observer_pb2.DESCRIPTOR.package == "observer"


@pytest.mark.parametrize(("number", "first"), [(5, False), (7, True), (1, False), (10_000, True)])
def test_number_and_first(hubble: Server, samples: list[Sample], number: int, first: bool) -> None:
    received = list(hubble.client().get_flows(number=number, first=first))
    everything = flows_of(samples)
    assert received == (everything[:number] if first else everything[-number:])
    assert hubble.observer.requests[-1].number == number
    assert hubble.observer.requests[-1].first is first


def test_since_and_until(hubble: Server, samples: list[Sample]) -> None:
    times = sorted({sample.flow.time for sample in samples if sample.flow.time is not None})
    since, until = times[50], times[300]
    window = flows_of(samples, lambda f: f.time is not None and since <= f.time <= until)
    assert 0 < len(window) < len(samples)

    assert list(hubble.client().get_flows(since=since, until=until)) == window
    # Aware datetimes work too (microsecond precision: widen to whole microseconds).
    since_dt = datetime.fromtimestamp(since // 10**9, UTC) + timedelta(
        microseconds=since % 10**9 // 1000
    )
    received = list(hubble.client().get_flows(since=since_dt, until=until))
    assert received == flows_of(
        samples, lambda f: f.time is not None and since // 1000 * 1000 <= f.time <= until
    )
    request = hubble.observer.requests[0]
    assert request.since.ToNanoseconds() == since and request.until.ToNanoseconds() == until
    with pytest.raises(HubbleRequestError, match="time zone"):
        hubble.client().get_flows(since=datetime(2021, 1, 1))


def in_namespace(namespace: str) -> Callable[[Flow], bool]:
    return lambda f: namespace in (f.source.namespace, f.destination.namespace)


def dport(f: Flow) -> int | None:
    ports = f.l4.ports if f.l4 is not None else None
    return None if ports is None else ports[1]


FILTER_CASES: dict[str, tuple[dict[str, Any], Callable[[Flow], bool]]] = {
    # `hubble observe --namespace kube-system`: either side in the namespace.
    "namespace": (
        {"whitelist": [{"source_pod": ["kube-system/"]}, {"destination_pod": ["kube-system/"]}]},
        in_namespace("kube-system"),
    ),
    # `--from-pod bookinfo/productpage`: a pod name prefix.
    "from-pod-prefix": (
        {"whitelist": [{"source_pod": ["bookinfo/productpage"]}]},
        lambda f: f.source.namespace == "bookinfo" and f.source.pod_name.startswith("productpage"),
    ),
    # `--to-pod deathstar`: no namespace means "default".
    "to-pod-default-namespace": (
        {"whitelist": [{"destination_pod": ["deathstar"]}]},
        lambda f: (
            f.destination.namespace == "default" and f.destination.pod_name.startswith("deathstar")
        ),
    ),
    "verdict": (
        {"whitelist": [flow_pb2.FlowFilter(verdict=[flow_pb2.DROPPED, flow_pb2.REDIRECTED])]},
        lambda f: f.verdict in (Verdict.DROPPED, Verdict.REDIRECTED),
    ),
    # `--to-port 9080 --verdict FORWARDED`: two fields of one filter are AND-ed.
    "port-and-verdict": (
        {"whitelist": [{"destination_port": ["9080"], "verdict": ["FORWARDED"]}]},
        lambda f: dport(f) == 9080 and f.verdict is Verdict.FORWARDED,
    ),
    # `--port 9080`: either port.
    "either-port": (
        {"whitelist": [{"source_port": ["9080"]}, {"destination_port": ["9080"]}]},
        lambda f: f.l4 is not None and f.l4.ports is not None and 9080 in f.l4.ports,
    ),
    # `--not --namespace bookinfo`: a blacklist alone.
    "not-namespace": (
        {"blacklist": [{"source_pod": ["bookinfo/"]}, {"destination_pod": ["bookinfo/"]}]},
        lambda f: not in_namespace("bookinfo")(f),
    ),
    # `--namespace bookinfo --not --to-port 9080`: whitelist minus blacklist.
    "namespace-minus-port": (
        {
            "whitelist": [{"source_pod": ["bookinfo/"]}, {"destination_pod": ["bookinfo/"]}],
            "blacklist": [{"destinationPort": ["9080"]}],  # camelCase JSON names work too
        },
        lambda f: in_namespace("bookinfo")(f) and dport(f) != 9080,
    ),
}


@pytest.mark.parametrize("case", sorted(FILTER_CASES))
def test_whitelist_and_blacklist(hubble: Server, samples: list[Sample], case: str) -> None:
    arguments, keep = FILTER_CASES[case]
    expected = flows_of(samples, keep)
    assert expected, f"{case}: the samples have no matching flow, the test proves nothing"
    assert len(expected) < len(samples) or case == "namespace-minus-port"
    received = list(hubble.client().get_flows(number=len(samples), **arguments))
    assert received == expected


def test_filters_combine_with_number(hubble: Server, samples: list[Sample]) -> None:
    # `hubble observe --last 3 --verdict DROPPED,REDIRECTED`: N matching flows, not N flows.
    received = list(
        hubble.client().get_flows(whitelist=[{"verdict": ["DROPPED", "REDIRECTED"]}], number=3)
    )
    assert received == flows_of(samples, lambda f: f.verdict is not Verdict.FORWARDED)[-3:]


def test_non_flow_responses_are_counted_not_returned(hubble: Server, samples: list[Sample]) -> None:
    hubble.observer.buffer.insert(
        1,
        observer_pb2.GetFlowsResponse(
            node_status=relay_pb2.NodeStatusEvent(
                state_change=relay_pb2.NODE_UNAVAILABLE, node_names=["kind-worker2"]
            ),
            node_name="relay",
        ),
    )
    hubble.observer.buffer.insert(
        5, observer_pb2.GetFlowsResponse(lost_events=flow_pb2.LostEvent(num_events_lost=42))
    )
    stream = hubble.client().get_flows(number=10_000)
    assert list(stream) == flows_of(samples)
    assert stream.skipped == {"node_status": 1, "lost_events": 1}
    assert stream.events_lost == 42 and stream.received == len(samples) + 2


def test_invalid_requests_are_clear_errors(hubble: Server) -> None:
    client = hubble.client()
    with pytest.raises(HubbleRequestError, match="invalid FlowFilter"):
        client.get_flows(whitelist=[{"verdict": ["MAYBE"]}])
    with pytest.raises(HubbleRequestError, match="invalid FlowFilter"):
        client.get_flows(whitelist=[{"no_such_field": ["x"]}])
    with pytest.raises(HubbleRequestError, match="first is incompatible with follow"):
        client.get_flows(first=True, follow=True)
    # The server's own rejection (INVALID_ARGUMENT) is a HubbleRequestError too.
    stream = client.get_flows(whitelist=[{"http_method": ["GET"]}])
    with pytest.raises(HubbleRequestError, match="rejected the request") as caught:
        list(stream)
    assert caught.value.code == "INVALID_ARGUMENT" and "http_method" in str(caught.value)


# --- follow ---------------------------------------------------------------------------------


def test_follow_streams_until_the_client_cancels(hubble: Server, samples: list[Sample]) -> None:
    client = hubble.client()
    stream = client.get_flows(number=3, follow=True, whitelist=[{"verdict": ["FORWARDED"]}])
    forwarded = flows_of(samples, lambda f: f.verdict is Verdict.FORWARDED)
    assert [next(stream) for _ in range(3)] == forwarded[-3:]

    hubble.observer.wait_for_followers(1)
    live = samples[:12]  # re-published as new flows; only FORWARDED ones pass the filter
    for sample in live:
        hubble.observer.publish(sample.response)
    expected_live = [s.flow for s in live if s.flow.verdict is Verdict.FORWARDED]
    assert [next(stream) for _ in expected_live] == expected_live

    # Nothing more is published: the stream stays open until cancelled from another thread.
    cancel = threading.Timer(0.2, stream.cancel)
    started = time.monotonic()
    cancel.start()
    assert list(stream) == []
    assert time.monotonic() - started >= 0.15
    # The server saw the cancellation: its handler ended.
    assert hubble.observer.streams_ended.acquire(timeout=WAIT)
    assert hubble.observer.requests[-1].follow


def test_follow_ends_when_leaving_a_with_block(hubble: Server, samples: list[Sample]) -> None:
    with hubble.client().get_flows(follow=True) as stream:
        hubble.observer.wait_for_followers(1)
        hubble.observer.publish(samples[0].response)
        assert next(stream) == samples[0].flow
    assert list(stream) == []
    assert hubble.observer.streams_ended.acquire(timeout=WAIT)


# --- failures -------------------------------------------------------------------------------


def test_no_server_is_a_clear_unavailable_error() -> None:
    port = free_port()
    with HubbleClient(f"127.0.0.1:{port}", timeout=2.0) as client:
        with pytest.raises(HubbleUnavailable) as caught:
            list(client.get_flows(number=10))
        error = caught.value
        assert isinstance(error, HubbleError) and error.code == "UNAVAILABLE"
        assert str(error).startswith(f"Hubble at 127.0.0.1:{port} is unavailable")
        assert "\n" not in str(error)
        assert error.__cause__ is None and error.__suppress_context__
        with pytest.raises(HubbleUnavailable):
            client.server_status()


def test_server_going_away_during_follow_is_unavailable(samples: list[Sample]) -> None:
    observer = FakeObserver([sample.response for sample in samples])
    server, port = start_server(observer)
    with HubbleClient(f"127.0.0.1:{port}") as client:
        stream = client.get_flows(follow=True)
        observer.wait_for_followers(1)
        observer.publish(samples[0].response)
        assert next(stream) == samples[0].flow
        server.stop(grace=None)
        with pytest.raises(HubbleUnavailable, match="is unavailable"):
            next(stream)


def test_follow_with_retry_resumes_after_a_restart(samples: list[Sample]) -> None:
    """Relay restarts: the client reconnects and resumes at the last flow's time."""
    first_life = FakeObserver([sample.response for sample in samples])
    server, port = start_server(first_life)
    with HubbleClient(f"127.0.0.1:{port}") as client:
        stream = client.get_flows(follow=True, retry=Backoff(initial=0.05, attempts=50))
        first_life.wait_for_followers(1)
        for sample in samples[:3]:
            first_life.publish(sample.response)
        assert [next(stream) for _ in range(3)] == flows_of(samples[:3])
        server.stop(grace=None)

        # The restarted server's buffer holds what the old one had, then more flows.
        second_life = FakeObserver([sample.response for sample in samples[:8]])
        server, _ = start_server(second_life, port)
        try:
            assert [next(stream) for _ in range(5)] == flows_of(samples[3:8])
            assert stream.reconnects >= 1
            resumed = second_life.requests[-1]
            assert resumed.follow and resumed.since.ToNanoseconds() == samples[2].flow.time
            stream.cancel()
            assert list(stream) == []
        finally:
            server.stop(grace=None)


def test_retry_gives_up_after_its_attempts() -> None:
    with HubbleClient(f"127.0.0.1:{free_port()}") as client:
        stream = client.get_flows(follow=True, retry=Backoff(initial=0.01, attempts=2))
        with pytest.raises(HubbleUnavailable):
            next(stream)
        assert stream.reconnects == 2
        with pytest.raises(HubbleRequestError, match="retry needs a follow request"):
            client.get_flows(number=1, retry=Backoff())
    assert [Backoff().delay(n) for n in (1, 2, 3, 8, 9)] == [0.5, 1.0, 2.0, 30.0, 30.0]


def test_deadlines_are_timeouts(hubble: Server) -> None:
    hubble.observer.before_stream = lambda context: time.sleep(0.5)
    client = hubble.client(timeout=0.1)
    with pytest.raises(HubbleTimeout, match="did not answer in time"):
        client.server_status()
    with pytest.raises(HubbleTimeout) as caught:
        list(client.get_flows(number=1, timeout=0.1))
    assert caught.value.code == "DEADLINE_EXCEEDED"


# --- ServerStatus, targets, TLS ---------------------------------------------------------------


def test_server_status(hubble: Server, samples: list[Sample]) -> None:
    status = hubble.client().server_status()
    assert (status.num_flows, status.max_flows, status.seen_flows) == (
        len(samples),
        4095,
        len(samples) + 10,
    )
    assert status.uptime_ns == 123_000_000_000 and status.version == "1.19.4+netwarden-test"
    assert status.flows_rate == 2.5
    assert status.num_connected_nodes is None and status.num_unavailable_nodes is None
    hubble.observer.relay = True
    relay = hubble.client().server_status()
    assert (relay.num_connected_nodes, relay.num_unavailable_nodes) == (2, 1)
    assert relay.unavailable_nodes == ("kind-worker2",)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("localhost", ("localhost:4245", False)),
        ("localhost:4245", ("localhost:4245", False)),
        ("hubble-relay.kube-system.svc:80", ("hubble-relay.kube-system.svc:80", False)),
        ("tls://hubble-relay", ("hubble-relay:4245", True)),
        ("tls://10.0.0.7:4244", ("10.0.0.7:4244", True)),
        ("fd00::7", ("[fd00::7]:4245", False)),
        ("[fd00::7]", ("[fd00::7]:4245", False)),
        ("[fd00::7]:4244", ("[fd00::7]:4244", False)),
        ("unix:///var/run/cilium/hubble.sock", ("unix:///var/run/cilium/hubble.sock", False)),
    ],
)
def test_targets(target: str, expected: tuple[str, bool]) -> None:
    assert parse_target(target) == expected


@pytest.mark.parametrize("target", ["", "tls://", "host:port", ":4245", "[fd00::7]x"])
def test_bad_targets(target: str) -> None:
    with pytest.raises(HubbleRequestError):
        parse_target(target)


def test_tls_settings_are_checked_up_front(tmp_path: Path) -> None:
    with pytest.raises(HubbleRequestError, match="cannot read the CA file"):
        HubbleClient("relay:4245", tls=TLSConfig(ca_file=tmp_path / "missing.pem"))
    with pytest.raises(HubbleRequestError, match="both cert_file and key_file"):
        HubbleClient("relay:4245", tls=TLSConfig(cert_file=tmp_path / "client.pem"))
    # A tls:// target without settings uses the system roots; connecting is lazy.
    HubbleClient("tls://relay.example:4245").close()


RELAY_NAME = "instance.hubble-relay.cilium.io"  # what Relay's default certificate is for


def make_pki(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for *.hubble-relay.cilium.io and a client certificate."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=netwarden-test-ca")  # fmt: skip
    for name, san in (("server", "DNS:*.hubble-relay.cilium.io"), ("client", "DNS:netwarden")):
        openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}")  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "1",
                "-copy_extensions", "copy")  # fmt: skip
    return {name: directory / name for name in
            ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}  # fmt: skip


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_mutual_tls_to_a_relay_like_server(tmp_path: Path, samples: list[Sample]) -> None:
    pki = make_pki(tmp_path)
    credentials = grpc.ssl_server_credentials(
        [(pki["server.key"].read_bytes(), pki["server.pem"].read_bytes())],
        root_certificates=pki["ca.pem"].read_bytes(),
        require_client_auth=True,
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    observer_pb2_grpc.add_ObserverServicer_to_server(
        FakeObserver([sample.response for sample in samples]), server
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        tls = TLSConfig(
            ca_file=pki["ca.pem"],
            cert_file=pki["client.pem"],
            key_file=pki["client.key"],
            server_name=RELAY_NAME,
        )
        with HubbleClient(f"127.0.0.1:{port}", tls=tls) as client:
            assert list(client.get_flows(number=4)) == flows_of(samples)[-4:]
            assert client.server_status().num_flows == len(samples)
        # Without a client certificate, or without the server name to verify: refused.
        for bad in (
            TLSConfig(ca_file=pki["ca.pem"], server_name=RELAY_NAME),
            TLSConfig(
                ca_file=pki["ca.pem"], cert_file=pki["client.pem"], key_file=pki["client.key"]
            ),
        ):
            with HubbleClient(f"127.0.0.1:{port}", tls=bad, timeout=5) as client:
                with pytest.raises(HubbleUnavailable):
                    client.server_status()
        # Plain text to a TLS server fails cleanly too.
        with HubbleClient(f"127.0.0.1:{port}", timeout=5) as client:
            with pytest.raises(HubbleUnavailable):
                list(client.get_flows(number=1))
    finally:
        server.stop(grace=None)
