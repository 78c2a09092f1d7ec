"""A Hubble flow (cilium ``api/v1/flow/flow.proto``, message ``flow.Flow``) as frozen values.

Only the fields Netwarden uses are kept. Field names are the proto field names
verbatim (``IP``, ``ipVersion``, ``Type``, ``ID``, ``Summary``, ``l4.TCP``, ...), the
names ``hubble observe -o json`` prints and the generated Python protobuf classes
use, so a flow reads the same here, in ``jq`` and in a gRPC message. Class names
are the proto message names, except ``FlowEndpoint`` (``flow.Endpoint``), which
would otherwise shadow :class:`netwarden.model.endpoint.Endpoint`.

Proto defaults apply: a missing string is ``""``, a missing number ``0``, a
missing list ``()``. Enum fields hold the enum member whose name is the proto
enum name; a value this version does not know is kept as the string it arrived
as (a number arrives as its decimal string), never rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    """``flow.Verdict``."""

    VERDICT_UNKNOWN = 0
    FORWARDED = 1
    DROPPED = 2
    ERROR = 3
    AUDIT = 4
    REDIRECTED = 5
    TRACED = 6
    TRANSLATED = 7


class FlowType(Enum):
    """``flow.FlowType`` (the flow's ``Type``)."""

    UNKNOWN_TYPE = 0
    L3_L4 = 1
    L7 = 2
    SOCK = 3


class L7FlowType(Enum):
    """``flow.L7FlowType`` (``l7.type``)."""

    UNKNOWN_L7_TYPE = 0
    REQUEST = 1
    RESPONSE = 2
    SAMPLE = 3


class IPVersion(Enum):
    """``flow.IPVersion`` (``IP.ipVersion``)."""

    IP_NOT_USED = 0
    IPv4 = 1
    IPv6 = 2


class TrafficDirection(Enum):
    """``flow.TrafficDirection``."""

    TRAFFIC_DIRECTION_UNKNOWN = 0
    INGRESS = 1
    EGRESS = 2


class TraceObservationPoint(Enum):
    """``flow.TraceObservationPoint``. ``TO_ENDPOINT`` is 101, not trace sub_type 0."""

    UNKNOWN_POINT = 0
    TO_PROXY = 1
    TO_HOST = 2
    TO_STACK = 3
    TO_OVERLAY = 4
    FROM_ENDPOINT = 5
    FROM_PROXY = 6
    FROM_HOST = 7
    FROM_STACK = 8
    FROM_OVERLAY = 9
    FROM_NETWORK = 10
    TO_NETWORK = 11
    FROM_CRYPTO = 12
    TO_CRYPTO = 13
    TO_ENDPOINT = 101


class DropReason(Enum):
    """``flow.DropReason`` (``drop_reason_desc``), Cilium v1.19.4."""

    DROP_REASON_UNKNOWN = 0
    INVALID_SOURCE_MAC = 130
    INVALID_DESTINATION_MAC = 131
    INVALID_SOURCE_IP = 132
    POLICY_DENIED = 133  # no allow rule matched (default deny)
    INVALID_PACKET_DROPPED = 134
    CT_TRUNCATED_OR_INVALID_HEADER = 135
    CT_MISSING_TCP_ACK_FLAG = 136
    CT_UNKNOWN_L4_PROTOCOL = 137
    CT_CANNOT_CREATE_ENTRY_FROM_PACKET = 138
    UNSUPPORTED_L3_PROTOCOL = 139
    MISSED_TAIL_CALL = 140
    ERROR_WRITING_TO_PACKET = 141
    UNKNOWN_L4_PROTOCOL = 142
    UNKNOWN_ICMPV4_CODE = 143
    UNKNOWN_ICMPV4_TYPE = 144
    UNKNOWN_ICMPV6_CODE = 145
    UNKNOWN_ICMPV6_TYPE = 146
    ERROR_RETRIEVING_TUNNEL_KEY = 147
    ERROR_RETRIEVING_TUNNEL_OPTIONS = 148
    INVALID_GENEVE_OPTION = 149
    UNKNOWN_L3_TARGET_ADDRESS = 150
    STALE_OR_UNROUTABLE_IP = 151
    NO_MATCHING_LOCAL_CONTAINER_FOUND = 152
    ERROR_WHILE_CORRECTING_L3_CHECKSUM = 153
    ERROR_WHILE_CORRECTING_L4_CHECKSUM = 154
    CT_MAP_INSERTION_FAILED = 155
    INVALID_IPV6_EXTENSION_HEADER = 156
    IP_FRAGMENTATION_NOT_SUPPORTED = 157
    SERVICE_BACKEND_NOT_FOUND = 158
    NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT = 160
    FAILED_TO_INSERT_INTO_PROXYMAP = 161
    REACHED_EDT_RATE_LIMITING_DROP_HORIZON = 162
    UNKNOWN_CONNECTION_TRACKING_STATE = 163
    LOCAL_HOST_IS_UNREACHABLE = 164
    NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION = 165
    UNSUPPORTED_L2_PROTOCOL = 166
    NO_MAPPING_FOR_NAT_MASQUERADE = 167
    UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE = 168
    FIB_LOOKUP_FAILED = 169
    ENCAPSULATION_TRAFFIC_IS_PROHIBITED = 170
    INVALID_IDENTITY = 171
    UNKNOWN_SENDER = 172
    NAT_NOT_NEEDED = 173
    IS_A_CLUSTERIP = 174
    FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND = 175
    FORBIDDEN_ICMPV6_MESSAGE = 176
    DENIED_BY_LB_SRC_RANGE_CHECK = 177
    SOCKET_LOOKUP_FAILED = 178
    SOCKET_ASSIGN_FAILED = 179
    PROXY_REDIRECTION_NOT_SUPPORTED_FOR_PROTOCOL = 180
    POLICY_DENY = 181  # an explicit deny rule matched
    VLAN_FILTERED = 182
    INVALID_VNI = 183
    INVALID_TC_BUFFER = 184
    NO_SID = 185
    MISSING_SRV6_STATE = 186
    NAT46 = 187
    NAT64 = 188
    AUTH_REQUIRED = 189
    CT_NO_MAP_FOUND = 190
    SNAT_NO_MAP_FOUND = 191
    INVALID_CLUSTER_ID = 192
    UNSUPPORTED_PROTOCOL_FOR_DSR_ENCAP = 193
    NO_EGRESS_GATEWAY = 194
    UNENCRYPTED_TRAFFIC = 195
    TTL_EXCEEDED = 196
    NO_NODE_ID = 197
    DROP_RATE_LIMITED = 198
    IGMP_HANDLED = 199
    IGMP_SUBSCRIBED = 200
    MULTICAST_HANDLED = 201
    DROP_HOST_NOT_READY = 202
    DROP_EP_NOT_READY = 203
    DROP_NO_EGRESS_IP = 204
    DROP_PUNT_PROXY = 205


def enum_name(value: Enum | str) -> str:
    """The proto enum name of a field value (an unknown value is already its string)."""
    return value.name if isinstance(value, Enum) else value


@dataclass(frozen=True, slots=True)
class Workload:
    name: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True)
class FlowEndpoint:
    """``flow.Endpoint``: one side of a flow as Hubble saw it.

    ``ID`` is the Cilium endpoint id (only for endpoints local to the observing
    node), ``identity`` the numeric security identity, ``labels`` the identity
    labels as ``source:key=value`` strings (``k8s:app=web``, ``reserved:world``).
    """

    ID: int = 0
    identity: int = 0
    cluster_name: str = ""
    namespace: str = ""
    labels: tuple[str, ...] = ()
    pod_name: str = ""
    workloads: tuple[Workload, ...] = ()


EMPTY_ENDPOINT = FlowEndpoint()


@dataclass(frozen=True, slots=True)
class IP:
    source: str = ""
    destination: str = ""
    ipVersion: IPVersion | str = IPVersion.IP_NOT_USED
    encrypted: bool = False
    source_xlated: str = ""


@dataclass(frozen=True, slots=True)
class TCPFlags:
    FIN: bool = False
    SYN: bool = False
    RST: bool = False
    PSH: bool = False
    ACK: bool = False
    URG: bool = False
    ECE: bool = False
    CWR: bool = False
    NS: bool = False


@dataclass(frozen=True, slots=True)
class TCP:
    source_port: int = 0
    destination_port: int = 0
    flags: TCPFlags | None = None


@dataclass(frozen=True, slots=True)
class UDP:
    source_port: int = 0
    destination_port: int = 0


@dataclass(frozen=True, slots=True)
class SCTP:
    source_port: int = 0
    destination_port: int = 0


@dataclass(frozen=True, slots=True)
class ICMPv4:
    type: int = 0
    code: int = 0


@dataclass(frozen=True, slots=True)
class ICMPv6:
    type: int = 0
    code: int = 0


@dataclass(frozen=True, slots=True)
class VRRP:
    type: int = 0
    vrid: int = 0
    priority: int = 0


@dataclass(frozen=True, slots=True)
class IGMP:
    type: int = 0
    group_address: str = ""


@dataclass(frozen=True, slots=True)
class Layer4:
    """``flow.Layer4``: a oneof; normally exactly one protocol is set."""

    TCP: TCP | None = None
    UDP: UDP | None = None
    ICMPv4: ICMPv4 | None = None
    ICMPv6: ICMPv6 | None = None
    SCTP: SCTP | None = None
    VRRP: VRRP | None = None
    IGMP: IGMP | None = None

    @property
    def protocol(self) -> str:
        """``TCP``, ``UDP``, ``ICMPv4``, ``ICMPv6``, ``SCTP``, ``VRRP``, ``IGMP`` or ``""``."""
        for name in _L4_PROTOCOLS:
            if getattr(self, name) is not None:
                return name
        return ""

    @property
    def ports(self) -> tuple[int, int] | None:
        """(source_port, destination_port) for TCP, UDP and SCTP; None otherwise."""
        header = self.TCP or self.UDP or self.SCTP
        return None if header is None else (header.source_port, header.destination_port)


_L4_PROTOCOLS = ("TCP", "UDP", "ICMPv4", "ICMPv6", "SCTP", "VRRP", "IGMP")


@dataclass(frozen=True, slots=True)
class DNS:
    query: str = ""
    ips: tuple[str, ...] = ()
    ttl: int = 0
    cnames: tuple[str, ...] = ()
    observation_source: str = ""
    rcode: int = 0
    qtypes: tuple[str, ...] = ()
    rrtypes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HTTPHeader:
    key: str = ""
    value: str = ""


@dataclass(frozen=True, slots=True)
class HTTP:
    code: int = 0
    method: str = ""
    url: str = ""
    protocol: str = ""
    headers: tuple[HTTPHeader, ...] = ()


@dataclass(frozen=True, slots=True)
class Kafka:
    """Deprecated upstream, still decoded."""

    error_code: int = 0
    api_version: int = 0
    api_key: str = ""
    correlation_id: int = 0
    topic: str = ""


@dataclass(frozen=True, slots=True)
class Layer7:
    """``flow.Layer7``: set iff the flow's ``Type`` is L7; ``record`` is a oneof."""

    type: L7FlowType | str = L7FlowType.UNKNOWN_L7_TYPE
    latency_ns: int = 0
    dns: DNS | None = None
    http: HTTP | None = None
    kafka: Kafka | None = None


@dataclass(frozen=True, slots=True)
class CiliumEventType:
    """Cilium monitor event: ``type`` 1 drop, 4 trace, 5 policy verdict, 7 sock trace, 129 L7."""

    type: int = 0
    sub_type: int = 0


DROP_EVENT = 1
POLICY_VERDICT_EVENT = 5


@dataclass(frozen=True, slots=True)
class Policy:
    """``flow.Policy``: a policy Hubble correlated with a policy-verdict event."""

    name: str = ""
    namespace: str = ""
    labels: tuple[str, ...] = ()
    revision: int = 0
    kind: str = ""


STAGED_EXTENSION_TYPE = "type.netwarden.dev/netwarden.v1.FlowExtensions"


@dataclass(frozen=True, slots=True)
class StagedVerdict:
    """Netwarden's mark on a flow: what a staged (not enforced) policy would do to it.

    ``policy`` is ``Kind/namespace/name`` (``Kind//name`` cluster-wide; ``Blueprint//name``
    for a staged blueprint version), ``outcome`` ``deny`` or ``allow``. Carried in
    Hubble's ``extensions`` field (``STAGED_EXTENSION_TYPE``), never in Hubble's own.
    """

    policy: str
    version: int
    outcome: str  # "deny" | "allow"


@dataclass(frozen=True, slots=True)
class Flow:
    """``flow.Flow``. ``time`` is nanoseconds since the Unix epoch (None when absent).

    ``reply`` is the deprecated bool (only ever true when present); ``is_reply``
    is tri-state: None means unknown. ``drop_reason`` is the deprecated numeric
    code; prefer ``drop_reason_desc``.
    """

    time: int | None = None
    uuid: str = ""
    verdict: Verdict | str = Verdict.VERDICT_UNKNOWN
    drop_reason: int = 0
    drop_reason_desc: DropReason | str = DropReason.DROP_REASON_UNKNOWN
    IP: IP | None = None
    l4: Layer4 | None = None
    source: FlowEndpoint = EMPTY_ENDPOINT
    destination: FlowEndpoint = EMPTY_ENDPOINT
    Type: FlowType | str = FlowType.UNKNOWN_TYPE
    node_name: str = ""
    source_names: tuple[str, ...] = ()
    destination_names: tuple[str, ...] = ()
    l7: Layer7 | None = None
    reply: bool = False
    event_type: CiliumEventType | None = None
    traffic_direction: TrafficDirection | str = TrafficDirection.TRAFFIC_DIRECTION_UNKNOWN
    policy_match_type: int = 0
    trace_observation_point: TraceObservationPoint | str = TraceObservationPoint.UNKNOWN_POINT
    is_reply: bool | None = None
    egress_allowed_by: tuple[Policy, ...] = ()
    ingress_allowed_by: tuple[Policy, ...] = ()
    egress_denied_by: tuple[Policy, ...] = ()
    ingress_denied_by: tuple[Policy, ...] = ()
    Summary: str = ""
    staged: tuple[StagedVerdict, ...] = ()  # Netwarden's extension (``extensions``)

    @property
    def is_policy_verdict(self) -> bool:
        """A policy decision for a new connection (monitor event type 5)."""
        return self.event_type is not None and self.event_type.type == POLICY_VERDICT_EVENT
