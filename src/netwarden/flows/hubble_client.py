"""A client for Hubble's Observer gRPC API: live and buffered flows from Relay or an agent.

``HubbleClient("localhost:4245").get_flows(...)`` streams ``observer.Observer/GetFlows``
and yields :class:`netwarden.model.flow.Flow` values. Each protobuf response is turned
into its protojson form (``MessageToDict`` with proto field names, exactly what
``hubble observe -o jsonpb`` prints) and decoded by :func:`netwarden.flows.decode.decode_object`,
so flows from gRPC and flows from JSON files share one mapping.

Failures of the server or the network become :class:`HubbleError` subclasses with a
one-line message (``HubbleUnavailable``, ``HubbleTimeout``, ``HubbleRequestError``);
no ``grpc.RpcError`` escapes. See ``docs/design/hubble-client.md``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeAlias

import grpc
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from netwarden.flows._generated.flow import flow_pb2
from netwarden.flows._generated.observer import observer_pb2
from netwarden.flows.decode import Skipped, decode_object
from netwarden.flows.flowjson import FieldError
from netwarden.model.diagnostics import Diagnostic, Location, Severity
from netwarden.model.flow import Flow

RELAY_PORT = 4245  # Hubble Relay; a Cilium agent's Hubble server listens on 4244
AGENT_PORT = 4244
DEFAULT_TARGET = f"localhost:{RELAY_PORT}"
DEFAULT_TIMEOUT = 10.0

_SERVICE = observer_pb2.DESCRIPTOR.services_by_name["Observer"].full_name  # observer.Observer
GET_FLOWS = f"/{_SERVICE}/GetFlows"
SERVER_STATUS = f"/{_SERVICE}/ServerStatus"

# A FlowFilter: the protobuf message, or its JSON form with proto field names, as
# `hubble observe --print-raw-filters` prints it: {"source_pod": ["kube-system/"]}.
FilterLike = flow_pb2.FlowFilter | Mapping[str, Any]
# A point in time: an aware datetime, or nanoseconds since the Unix epoch (like Flow.time).
TimeLike = datetime | int


# --- errors -------------------------------------------------------------------------------


class HubbleError(Exception):
    """A Hubble call failed. ``str()`` is one line, fit for a CLI error message.

    ``code`` is the gRPC status name (``UNAVAILABLE``, ...) or ``""`` for an error
    found before any call; ``details`` the server's or gRPC's own message.
    """

    def __init__(
        self, message: str, *, target: str = "", code: str = "", details: str = ""
    ) -> None:
        super().__init__(message)
        self.target = target
        self.code = code
        self.details = details


class HubbleUnavailable(HubbleError):
    """No server at the target, or the connection was lost (gRPC ``UNAVAILABLE``)."""


class HubbleTimeout(HubbleError):
    """The call's deadline passed (gRPC ``DEADLINE_EXCEEDED``)."""


class HubbleRequestError(HubbleError, ValueError):
    """The request is invalid: rejected by the client (bad filter, first with follow) or server."""


_REQUEST_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNIMPLEMENTED,
}


def error_from_rpc(error: grpc.RpcError, target: str) -> HubbleError:
    """The :class:`HubbleError` for a failed call, with a one-line message."""
    if isinstance(error, grpc.Call):
        code = error.code()
        details = (error.details() or "").strip()
    else:  # every RpcError grpc raises from a call is also a Call; be safe anyway
        code, details = grpc.StatusCode.UNKNOWN, str(error)
    first_line = details.splitlines()[0] if details else ""
    suffix = f": {first_line}" if first_line else ""
    name = code.name
    if code is grpc.StatusCode.UNAVAILABLE:
        return HubbleUnavailable(
            f"Hubble at {target} is unavailable{suffix}",
            target=target,
            code=name,
            details=details,
        )
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return HubbleTimeout(
            f"Hubble at {target} did not answer in time{suffix}",
            target=target,
            code=name,
            details=details,
        )
    if code in _REQUEST_CODES:
        return HubbleRequestError(
            f"Hubble at {target} rejected the request ({name}){suffix}",
            target=target,
            code=name,
            details=details,
        )
    return HubbleError(
        f"Hubble at {target} failed ({name}){suffix}", target=target, code=name, details=details
    )


# --- connection settings ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """TLS to Hubble Relay or an agent; mutual TLS when a client certificate is given.

    ``ca_file``: PEM CA bundle to verify the server (None: the system roots).
    ``cert_file``/``key_file``: client certificate and key (both or neither).
    ``server_name``: the name to verify in the server certificate when it differs
    from the target host (Relay's default certificate is for
    ``*.hubble-relay.cilium.io``; an agent's for ``<node>.<cluster>.hubble-grpc.cilium.io``).
    """

    ca_file: str | Path | None = None
    cert_file: str | Path | None = None
    key_file: str | Path | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        if (self.cert_file is None) != (self.key_file is None):
            raise HubbleRequestError("TLS: a client certificate needs both cert_file and key_file")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file, "CA file"),
            private_key=_read(self.key_file, "key file"),
            certificate_chain=_read(self.cert_file, "certificate file"),
        )


def _read(path: str | Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise HubbleRequestError(f"TLS: cannot read the {what} {path}: {exc.strerror}") from None


def parse_target(target: str) -> tuple[str, bool]:
    """``(grpc target, TLS requested)`` from a Hubble CLI style ``--server`` value.

    ``tls://host[:port]`` asks for TLS; a host without a port gets Relay's 4245
    (``relay``, ``10.0.0.1``, ``[fd00::1]``, ``fd00::1``); gRPC targets with a scheme,
    such as an agent's ``unix:///var/run/cilium/hubble.sock``, pass through.
    """
    target = target.strip()
    use_tls = target.startswith("tls://")
    if use_tls:
        target = target[len("tls://") :]
    if not target:
        raise HubbleRequestError("empty Hubble server address")
    if target.startswith(_GRPC_SCHEMES) or "://" in target:
        return target, use_tls
    if target.startswith("["):  # [IPv6] or [IPv6]:port
        end = target.find("]")
        rest = target[end + 1 :] if end > 0 else "?"
        if rest and not (rest[0] == ":" and rest[1:].isdigit()):
            raise HubbleRequestError(f"invalid Hubble server address {target!r}")
        return (target if rest else f"{target}:{RELAY_PORT}"), use_tls
    if target.count(":") > 1:  # a bare IPv6 address
        return f"[{target}]:{RELAY_PORT}", use_tls
    host, colon, port = target.partition(":")
    if not colon:
        return f"{target}:{RELAY_PORT}", use_tls
    if not host or not port.isdigit():
        raise HubbleRequestError(f"invalid Hubble server address {target!r}")
    return target, use_tls


_GRPC_SCHEMES = ("unix:", "unix-abstract:", "dns:", "ipv4:", "ipv6:", "vsock:")


# --- requests -----------------------------------------------------------------------------


def timestamp(value: TimeLike) -> Timestamp:
    """A protobuf Timestamp from an aware datetime or nanoseconds since the epoch."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise HubbleRequestError(f"time {value.isoformat()} has no time zone")
        out = Timestamp()
        out.FromDatetime(value)
        return out
    seconds, nanos = divmod(value, 1_000_000_000)
    return Timestamp(seconds=seconds, nanos=nanos)


def flow_filter(value: FilterLike) -> flow_pb2.FlowFilter:
    """A FlowFilter message from itself or its JSON form (proto field names or camelCase)."""
    if isinstance(value, flow_pb2.FlowFilter):
        return value
    try:
        return json_format.ParseDict(dict(value), flow_pb2.FlowFilter())
    except (json_format.ParseError, TypeError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HubbleRequestError(f"invalid FlowFilter {dict(value)!r}: {message}") from None


def flows_request(
    whitelist: Iterable[FilterLike] = (),
    blacklist: Iterable[FilterLike] = (),
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    number: int = 0,
    first: bool = False,
    follow: bool = False,
    field_mask: Sequence[str] = (),
) -> observer_pb2.GetFlowsRequest:
    """A GetFlowsRequest, checked for what Hubble would reject or misread."""
    if number < 0:
        raise HubbleRequestError(f"number must be >= 0, got {number}")
    if first and follow:
        raise HubbleRequestError("first is incompatible with follow")
    request = observer_pb2.GetFlowsRequest(
        number=number,
        first=first,
        follow=follow,
        whitelist=[flow_filter(f) for f in whitelist],
        blacklist=[flow_filter(f) for f in blacklist],
    )
    if since is not None:
        request.since.CopyFrom(timestamp(since))
    if until is not None:
        request.until.CopyFrom(timestamp(until))
    if field_mask:
        request.field_mask.paths.extend(field_mask)
    return request


# --- responses ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """``observer.ServerStatusResponse``; the node counts are None unless the server is Relay."""

    num_flows: int
    max_flows: int
    seen_flows: int
    uptime_ns: int
    num_connected_nodes: int | None
    num_unavailable_nodes: int | None
    unavailable_nodes: tuple[str, ...]
    version: str
    flows_rate: float

    @classmethod
    def from_proto(cls, message: observer_pb2.ServerStatusResponse) -> ServerStatus:
        connected = message.num_connected_nodes if message.HasField("num_connected_nodes") else None
        unavailable = (
            message.num_unavailable_nodes if message.HasField("num_unavailable_nodes") else None
        )
        return cls(
            num_flows=message.num_flows,
            max_flows=message.max_flows,
            seen_flows=message.seen_flows,
            uptime_ns=message.uptime_ns,
            num_connected_nodes=None if connected is None else connected.value,
            num_unavailable_nodes=None if unavailable is None else unavailable.value,
            unavailable_nodes=tuple(message.unavailable_nodes),
            version=message.version,
            flows_rate=message.flows_rate,
        )


def response_to_json(response: observer_pb2.GetFlowsResponse) -> dict[str, Any]:
    """The protojson form of a response, as ``hubble observe -o jsonpb`` prints it."""
    return json_format.MessageToDict(response, preserving_proto_field_name=True)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff between reconnection attempts: initial, doubled, at most ``maximum``.

    ``attempts``: how many reconnections in a row before giving up (None: no limit);
    the count starts again after a flow arrives.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    attempts: int | None = 10

    def delay(self, attempt: int) -> float:
        """The wait before reconnection attempt ``attempt`` (1-based)."""
        return float(min(self.maximum, self.initial * self.factor ** (attempt - 1)))


if TYPE_CHECKING:  # the stubs' name for what a unary-stream call returns (no runtime name)
    Call: TypeAlias = grpc._CallIterator[observer_pb2.GetFlowsResponse]


class FlowSubscription(Iterator[Flow]):
    """The flows of one GetFlows request, as an iterator; ``cancel()`` ends it from any thread.

    Non-flow responses are counted in ``skipped`` by kind (``node_status``,
    ``lost_events``) and ``events_lost`` adds up what lost-events notices report.
    A flow the decoder rejects (which the proto types make very unlikely) is a
    diagnostic in ``errors``, not an exception: its line is the response's index
    in the stream (1-based). A server or network failure raises :class:`HubbleError`;
    after ``cancel()`` the iteration simply ends.

    With ``retry`` (follow requests only), a lost connection (``UNAVAILABLE``) is
    retried with backoff, resuming with ``since`` = the newest flow time returned;
    flows at exactly that time that were already returned are not returned again.
    Flows the server observed while it was unreachable and that are no longer in its
    ring buffer are lost, as with ``hubble observe --follow`` restarted by hand.
    """

    def __init__(
        self,
        open_call: Callable[[observer_pb2.GetFlowsRequest], Call],
        request: observer_pb2.GetFlowsRequest,
        target: str,
        retry: Backoff | None = None,
    ) -> None:
        if retry is not None and not request.follow:
            raise HubbleRequestError("retry needs a follow request")
        self.target = target
        self.received = 0  # responses, flows or not
        self.skipped: Counter[str] = Counter()
        self.events_lost = 0
        self.errors: list[Diagnostic] = []
        self.reconnects = 0
        self._open = open_call
        self._request = request
        self._retry = retry
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._last_time: int | None = None
        self._at_last_time: set[Flow] = set()
        self._failures = 0
        self._call: Call = open_call(request)

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Flow:
        while True:
            if self._stopped.is_set():
                raise StopIteration
            try:
                response = next(self._call)
            except grpc.RpcError as exc:
                if self._stopped.is_set():
                    raise StopIteration from None
                error = error_from_rpc(exc, self.target)
                if not self._reconnect(error):
                    raise error from None
                continue
            self.received += 1
            flow = self._flow(response)
            if flow is None or self._seen(flow):
                continue
            self._failures = 0
            return flow

    def _flow(self, response: observer_pb2.GetFlowsResponse) -> Flow | None:
        kind = response.WhichOneof("response_types")
        if kind != "flow":
            self.skipped[kind or "empty"] += 1
            if kind == "lost_events":
                self.events_lost += response.lost_events.num_events_lost
            return None
        try:
            decoded = decode_object(response_to_json(response))
        except FieldError as exc:
            location = Location(self.target, None, self.received, exc.path)
            self.errors.append(Diagnostic("flow-field", Severity.ERROR, exc.message, location))
            return None
        if isinstance(decoded, Skipped):  # not reachable for a flow response; count it anyway
            self.skipped[decoded.kind] += 1
            return None
        return decoded

    def _seen(self, flow: Flow) -> bool:
        """With retry: track the newest flow time; after a reconnection, drop repeats.

        The resumed request asks for flows since the newest time returned, so the
        server sends again the flows at exactly that time: those already returned
        are dropped (flows are frozen values, equal when all fields are).
        """
        time = flow.time
        if self._retry is None or time is None:
            return False
        last = self._last_time
        if last is None or time > last:
            self._last_time = time
            self._at_last_time = {flow}
        elif time == last:
            if self.reconnects and flow in self._at_last_time:
                return True
            self._at_last_time.add(flow)
        return False

    def _reconnect(self, error: HubbleError) -> bool:
        """Wait and resubscribe if retrying applies; False to raise ``error``."""
        retry = self._retry
        if retry is None or not isinstance(error, HubbleUnavailable):
            return False
        self._failures += 1
        if retry.attempts is not None and self._failures > retry.attempts:
            return False
        if self._stopped.wait(retry.delay(self._failures)):
            return True  # cancelled while waiting: the loop ends the iteration
        request = observer_pb2.GetFlowsRequest()
        request.CopyFrom(self._request)
        if self._last_time is not None:
            request.number = 0
            request.ClearField("until")
            request.since.CopyFrom(timestamp(self._last_time))
        with self._lock:
            if self._stopped.is_set():
                return True
            self._call = self._open(request)
        self.reconnects += 1
        return True

    def cancel(self) -> None:
        """End the stream (from any thread): the iteration stops without an error."""
        with self._lock:
            self._stopped.set()
            self._call.cancel()

    close = cancel

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cancel()


# --- the client ---------------------------------------------------------------------------


class HubbleClient:
    """A connection to Hubble's Observer API (Hubble Relay, or one agent's Hubble server).

    ``target``: ``host:port`` (default ``localhost:4245``, Relay's port), ``tls://host:port``,
    or ``unix:///var/run/cilium/hubble.sock``. ``tls``: a :class:`TLSConfig` (TLS is
    also on, with the system roots, for a ``tls://`` target). ``timeout``: the deadline
    in seconds of unary calls (``server_status``); streams have none unless
    ``get_flows(timeout=...)`` sets one, since a follow stream runs until cancelled.
    The channel connects lazily: an unreachable server is reported by the first call.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        tls: TLSConfig | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        address, tls_requested = parse_target(target)
        if tls is None and tls_requested:
            tls = TLSConfig()
        self.target = address
        self.timeout = timeout
        self.tls = tls
        channel_options = list(options)
        if tls is not None and tls.server_name:
            channel_options.append(("grpc.ssl_target_name_override", tls.server_name))
        if tls is None:
            self._channel = grpc.insecure_channel(address, options=channel_options)
        else:
            self._channel = grpc.secure_channel(address, tls.credentials(), options=channel_options)
        self._get_flows = self._channel.unary_stream(
            GET_FLOWS,
            request_serializer=observer_pb2.GetFlowsRequest.SerializeToString,
            response_deserializer=observer_pb2.GetFlowsResponse.FromString,
        )
        self._server_status = self._channel.unary_unary(
            SERVER_STATUS,
            request_serializer=observer_pb2.ServerStatusRequest.SerializeToString,
            response_deserializer=observer_pb2.ServerStatusResponse.FromString,
        )

    def server_status(self) -> ServerStatus:
        """``ServerStatus``: ring buffer occupancy, flows seen, uptime, Relay's node counts."""
        try:
            response = self._server_status(observer_pb2.ServerStatusRequest(), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self.target) from None
        return ServerStatus.from_proto(response)

    def get_flows(
        self,
        whitelist: Iterable[FilterLike] = (),
        blacklist: Iterable[FilterLike] = (),
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        number: int = 0,
        first: bool = False,
        follow: bool = False,
        *,
        field_mask: Sequence[str] = (),
        timeout: float | None = None,
        retry: Backoff | None = None,
    ) -> FlowSubscription:
        """Stream flows (``GetFlows``) as :class:`Flow` values.

        Semantics are Hubble's: a flow is returned when it matches any ``whitelist``
        filter (all when empty) and no ``blacklist`` filter; ``number`` is the last N
        buffered flows (the first N with ``first``; through Relay, N per node);
        ``since``/``until`` bound the time; ``follow`` keeps streaming new flows until
        :meth:`FlowSubscription.cancel`. ``timeout`` is a deadline for the whole
        stream; ``retry`` (follow only) resubscribes after a lost connection.
        """
        request = flows_request(
            whitelist, blacklist, since, until, number, first, follow, field_mask
        )

        def open_call(message: observer_pb2.GetFlowsRequest) -> Call:
            return self._get_flows(message, timeout=timeout)

        return FlowSubscription(open_call, request, self.target, retry)

    def close(self) -> None:
        """Close the channel; streams still open end with an error."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
