"""One Hubble ``flow.Flow`` JSON object -> :class:`netwarden.model.flow.Flow`.

Reads what protojson accepts for the fields Netwarden keeps: proto field names
and their lowerCamelCase ``json_name`` aliases, enums as names or numbers,
64-bit (and 32-bit) integers as numbers or strings of digits, ``null`` as the
default value, RFC 3339 timestamps. Unknown keys are ignored, as Hubble's own
reader does (``DiscardUnknown``). A value of the wrong type raises
:class:`FieldError` with the field path; the caller turns it into a diagnostic.

Decoding is table-driven: each message is a table of the JSON keys it keeps
(``MessageSpec``), and only the keys present in an object are visited, so the
many omitted zero-valued fields cost nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any, TypeVar

from netwarden.model import flow as m

Obj = dict[str, object]
T = TypeVar("T")
E = TypeVar("E", bound=Enum)
# A field reader: (JSON value, path of the parent object, key) -> Python value.
Reader = Callable[[object, str, str], object]
TypedReader = Callable[[object, str, str], T]

UINT32 = (0, 2**32 - 1)
INT32 = (-(2**31), 2**31 - 1)
UINT64 = (0, 2**64 - 1)

_INTEGER = re.compile(r"-?[0-9]+")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\.([0-9]{1,9}))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


class FieldError(ValueError):
    """A field of the wrong type or out of range; ``path`` is like ``flow.l4.TCP.source_port``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def json_kind(value: object) -> str:
    """The JSON type name of a decoded value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def join(path: str, key: str) -> str:
    if not path or key.startswith("["):
        return path + key
    return f"{path}.{key}"


def _wrong(path: str, key: str, expected: str, value: object) -> FieldError:
    return FieldError(join(path, key), f"expected {expected}, got {json_kind(value)}")


# --- scalar readers -----------------------------------------------------------------------


def read_str(value: object, path: str, key: str) -> str:
    if isinstance(value, str):
        return value
    raise _wrong(path, key, "a string", value)


def read_bool(value: object, path: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    raise _wrong(path, key, "true or false", value)


def _int_reader(low: int, high: int) -> Reader:
    def read(value: object, path: str, key: str) -> int:
        if type(value) is int:
            number = value
        elif isinstance(value, str) and _INTEGER.fullmatch(value):
            number = int(value)
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        else:
            raise _wrong(path, key, "an integer", value)
        if low <= number <= high:
            return number
        raise FieldError(join(path, key), f"{number} is out of range {low}..{high}")

    return read


read_uint32 = _int_reader(*UINT32)
read_int32 = _int_reader(*INT32)
read_uint64 = _int_reader(*UINT64)


def _enum_reader(enum: type[E]) -> Reader:
    """The member named (or numbered) by the value; an unknown value is kept as a string."""
    members = enum.__members__
    by_number = {member.value: member for member in enum}

    def read(value: object, path: str, key: str) -> E | str:
        if isinstance(value, str):
            return members.get(value, value)
        if type(value) is int:
            return by_number.get(value, str(value))
        raise _wrong(path, key, "an enum name or number", value)

    return read


def read_strings(value: object, path: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _wrong(path, key, "an array of strings", value)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _wrong(path, f"{key}[{index}]", "a string", item)
    return tuple(value)


def read_time(value: object, path: str, key: str) -> int:
    """An RFC 3339 timestamp as nanoseconds since the Unix epoch."""
    if not isinstance(value, str):
        raise _wrong(path, key, "an RFC 3339 timestamp string", value)
    return parse_time(value, join(path, key))


def parse_time(text: str, path: str = "time") -> int:
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise FieldError(path, f"invalid RFC 3339 timestamp {text[:64]!r}")
    try:
        seconds = _epoch_seconds(text[:19])
    except ValueError as exc:
        raise FieldError(path, f"invalid timestamp {text[:64]!r}: {exc}") from None
    fraction, sign, hours, minutes = match.groups()
    if sign is not None:
        offset = int(hours) * 3600 + int(minutes) * 60
        seconds -= offset if sign == "+" else -offset
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return seconds * 1_000_000_000 + nanos


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=4096)
def _epoch_seconds(prefix: str) -> int:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) -> seconds since the epoch; ValueError if not a date."""
    moment = datetime(
        int(prefix[0:4]),
        int(prefix[5:7]),
        int(prefix[8:10]),
        int(prefix[11:13]),
        int(prefix[14:16]),
        int(prefix[17:19]),
        tzinfo=UTC,
    )
    delta = moment - _EPOCH
    return delta.days * 86_400 + delta.seconds


# --- messages -----------------------------------------------------------------------------


def json_name(name: str) -> str:
    """protoc's default ``json_name``: ``source_port`` -> ``sourcePort``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


MessageSpec = Mapping[str, tuple[str, Reader]]


def spec(fields: Mapping[str, Reader]) -> MessageSpec:
    """JSON key (proto name and its json_name alias) -> (attribute, reader)."""
    out: dict[str, tuple[str, Reader]] = {}
    for name, reader in fields.items():
        out[name] = (name, reader)
        out.setdefault(json_name(name), (name, reader))
    return out


def read_fields(obj: Obj, path: str, fields: MessageSpec) -> dict[str, Any]:
    """Keyword arguments for the message's constructor, from the keys present in ``obj``."""
    kwargs: dict[str, Any] = {}
    for key, value in obj.items():
        entry = fields.get(key)
        if entry is not None and value is not None:
            kwargs[entry[0]] = entry[1](value, path, key)
    return kwargs


def message_reader(make: Callable[..., T], fields: MessageSpec) -> TypedReader[T]:
    """A reader of one message: a JSON object whose known keys become constructor arguments."""

    def read(value: object, path: str, key: str) -> T:
        if not isinstance(value, dict):
            raise _wrong(path, key, "an object", value)
        return make(**read_fields(value, join(path, key), fields))

    return read


def repeated(reader: TypedReader[T]) -> TypedReader[tuple[T, ...]]:
    """A reader of a JSON array whose items ``reader`` reads."""

    def read(value: object, path: str, key: str) -> tuple[T, ...]:
        if not isinstance(value, list):
            raise _wrong(path, key, "an array", value)
        where = join(path, key)
        return tuple(reader(item, where, f"[{index}]") for index, item in enumerate(value))

    return read


_read_endpoint_fields = message_reader(
    m.FlowEndpoint,
    spec(
        {
            "ID": read_uint32,
            "identity": read_uint32,
            "namespace": read_str,
            "labels": read_strings,
            "pod_name": read_str,
            "workloads": repeated(
                message_reader(m.Workload, spec({"name": read_str, "kind": read_str}))
            ),
            "cluster_name": read_str,
        }
    ),
)


def read_endpoint(value: object, path: str, key: str) -> m.FlowEndpoint:
    if value == {}:  # field-masked exports write "source": {}
        return m.EMPTY_ENDPOINT
    return _read_endpoint_fields(value, path, key)


_PORTS: dict[str, Reader] = {"source_port": read_uint32, "destination_port": read_uint32}
_TYPE_CODE: dict[str, Reader] = {"type": read_uint32, "code": read_uint32}
_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS")

read_layer4 = message_reader(
    m.Layer4,
    spec(
        {
            "TCP": message_reader(
                m.TCP,
                spec(
                    {
                        **_PORTS,
                        "flags": message_reader(m.TCPFlags, spec(dict.fromkeys(_FLAGS, read_bool))),
                    }
                ),
            ),
            "UDP": message_reader(m.UDP, spec(_PORTS)),
            "ICMPv4": message_reader(m.ICMPv4, spec(_TYPE_CODE)),
            "ICMPv6": message_reader(m.ICMPv6, spec(_TYPE_CODE)),
            "SCTP": message_reader(m.SCTP, spec(_PORTS)),
            "VRRP": message_reader(
                m.VRRP, spec({"type": read_uint32, "vrid": read_uint32, "priority": read_uint32})
            ),
            "IGMP": message_reader(m.IGMP, spec({"type": read_uint32, "group_address": read_str})),
        }
    ),
)

read_ip = message_reader(
    m.IP,
    spec(
        {
            "source": read_str,
            "destination": read_str,
            "ipVersion": _enum_reader(m.IPVersion),
            "encrypted": read_bool,
            "source_xlated": read_str,
        }
    ),
)

_DNS = spec(
    {
        "query": read_str,
        "ips": read_strings,
        "ttl": read_uint32,
        "cnames": read_strings,
        "observation_source": read_str,
        "rcode": read_uint32,
        "qtypes": read_strings,
        "rrtypes": read_strings,
    }
)
_HTTP = spec(
    {
        "code": read_uint32,
        "method": read_str,
        "url": read_str,
        "protocol": read_str,
        "headers": repeated(
            message_reader(m.HTTPHeader, spec({"key": read_str, "value": read_str}))
        ),
    }
)
_KAFKA = spec(
    {
        "error_code": read_int32,
        "api_version": read_int32,
        "api_key": read_str,
        "correlation_id": read_int32,
        "topic": read_str,
    }
)
read_layer7 = message_reader(
    m.Layer7,
    spec(
        {
            "type": _enum_reader(m.L7FlowType),
            "latency_ns": read_uint64,
            "dns": message_reader(m.DNS, _DNS),
            "http": message_reader(m.HTTP, _HTTP),
            "kafka": message_reader(m.Kafka, _KAFKA),
        }
    ),
)

read_policies = repeated(
    message_reader(
        m.Policy,
        spec(
            {
                "name": read_str,
                "namespace": read_str,
                "labels": read_strings,
                "revision": read_uint64,
                "kind": read_str,
            }
        ),
    )
)


def read_extensions(value: object, path: str, key: str) -> tuple[m.StagedVerdict, ...]:
    """Hubble's ``extensions`` (a protojson ``Any``): Netwarden's staged-policy marks when
    its ``@type`` is ours; any other extension is not ours to read (nothing)."""
    if not isinstance(value, dict):
        raise _wrong(path, key, "an object", value)
    if value.get("@type") != m.STAGED_EXTENSION_TYPE:
        return ()
    where = join(path, key)
    items = value.get("staged") or []
    if not isinstance(items, list):
        raise _wrong(where, "staged", "an array", items)
    return tuple(_read_staged(item, where, f"staged[{i}]") for i, item in enumerate(items))


def _read_staged(item: object, path: str, key: str) -> m.StagedVerdict:
    if not isinstance(item, dict):
        raise _wrong(path, key, "an object", item)
    where = join(path, key)
    outcome = read_str(item.get("outcome", ""), where, "outcome")
    if outcome not in ("deny", "allow"):
        raise FieldError(join(where, "outcome"), f"expected deny or allow, got {outcome!r}")
    version = item.get("version", 0)
    if type(version) is not int:
        raise _wrong(where, "version", "an integer", version)
    return m.StagedVerdict(read_str(item.get("policy", ""), where, "policy"), version, outcome)


FLOW_FIELDS = spec(
    {
        "time": read_time,
        "uuid": read_str,
        "verdict": _enum_reader(m.Verdict),
        "drop_reason": read_uint32,
        "drop_reason_desc": _enum_reader(m.DropReason),
        "IP": read_ip,
        "l4": read_layer4,
        "source": read_endpoint,
        "destination": read_endpoint,
        "Type": _enum_reader(m.FlowType),
        "node_name": read_str,
        "source_names": read_strings,
        "destination_names": read_strings,
        "l7": read_layer7,
        "reply": read_bool,
        "event_type": message_reader(
            m.CiliumEventType, spec({"type": read_int32, "sub_type": read_int32})
        ),
        "traffic_direction": _enum_reader(m.TrafficDirection),
        "policy_match_type": read_uint32,
        "trace_observation_point": _enum_reader(m.TraceObservationPoint),
        "is_reply": read_bool,
        "egress_allowed_by": read_policies,
        "ingress_allowed_by": read_policies,
        "egress_denied_by": read_policies,
        "ingress_denied_by": read_policies,
        "Summary": read_str,
    }
)


def flow_from_json(
    obj: Obj, path: str = "", node_name: str = "", time: int | None = None
) -> m.Flow:
    """Decode one Flow object; ``node_name``/``time`` (from the envelope) fill in when absent.

    ``path`` is the object's own path in its line (``"flow"`` inside an envelope).
    """
    kwargs = read_fields(obj, path, FLOW_FIELDS)
    extensions = obj.get("extensions")
    if extensions is not None:  # Hubble's Any: Netwarden's staged marks, when ours
        kwargs["staged"] = read_extensions(extensions, path, "extensions")
    if time is not None and "time" not in kwargs:
        kwargs["time"] = time
    if node_name and not kwargs.get("node_name"):
        kwargs["node_name"] = node_name
    return m.Flow(**kwargs)
