"""The protojson form of a FlowFilter, both ways (``hubble observe --print-raw-filters``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from enum import Enum
from typing import TYPE_CHECKING, Any

from netwarden.flows.filter_types import (
    EventTypeFilter,
    FilterError,
    NetworkInterface,
    UnsupportedFilterError,
    go_uint,
)
from netwarden.flows.flowjson import json_name
from netwarden.model.flow import (
    DropReason,
    HTTPHeader,
    IPVersion,
    TCPFlags,
    TrafficDirection,
    Verdict,
    Workload,
)

if TYPE_CHECKING:
    from netwarden.flows.filter_core import FlowFilter


def filter_to_json(ff: FlowFilter) -> dict[str, Any]:
    """Proto names, zero values omitted; enums by name, uint64 as strings."""
    out: dict[str, Any] = {name: _json_values(getattr(ff, name)) for name in ff.set_fields()}
    extension = {name: out.pop(name) for name in NETWARDEN_FIELDS if name in out}
    if extension:
        out["netwarden"] = extension
    if "ip_trace_id" in out:  # uint64: protojson writes strings
        out["ip_trace_id"] = [str(v) for v in out["ip_trace_id"]]
    return out


def _json_values(values: tuple[Any, ...]) -> list[Any]:
    return [_json_value(v) for v in values]


def _json_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bool | str | int):
        return value
    return {f.name: getattr(value, f.name) for f in fields(value) if getattr(value, f.name)}


_ENUMS: dict[str, type[Enum]] = {
    "verdict": Verdict,
    "drop_reason_desc": DropReason,
    "traffic_direction": TrafficDirection,
    "ip_version": IPVersion,
}
_MESSAGES: dict[str, type[Any]] = {
    "event_type": EventTypeFilter,
    "tcp_flags": TCPFlags,
    "source_workload": Workload,
    "destination_workload": Workload,
    "http_header": HTTPHeader,
    "interface": NetworkInterface,
}
_INTS = {"source_identity": 2**32 - 1, "destination_identity": 2**32 - 1, "ip_trace_id": 2**64 - 1}
_BOOLS = {"reply", "encrypted"}


_KEYS: dict[type[Any], dict[str, str]] = {}


def _json_keys(cls: type[Any]) -> dict[str, str]:
    """JSON key -> field name of a dataclass: proto names and their lowerCamel aliases."""
    keys = _KEYS.get(cls)
    if keys is None:
        names = {f.name: f.name for f in fields(cls)}
        aliases = {json_name(name): name for name in names if json_name(name) not in names}
        keys = _KEYS[cls] = names | aliases
    return keys


def filter_from_json(cls: type[FlowFilter], obj: Mapping[str, Any]) -> FlowFilter:
    """Proto names or lowerCamel; enums as names or numbers; FilterError if malformed."""
    kwargs: dict[str, tuple[Any, ...]] = {}
    for key, raw in obj.items():
        if key == "netwarden":
            kwargs |= _netwarden_fields(raw)
            continue
        if key == "experimental":
            cel = (raw or {}).get("cel_expression") or (raw or {}).get("celExpression")
            if cel:
                raise UnsupportedFilterError("FlowFilter.experimental.cel_expression: no CEL")
            continue
        name = _json_keys(cls).get(key)
        if name is None:
            raise FilterError(f"unknown FlowFilter field {key!r}")
        if raw is None:
            continue
        if not isinstance(raw, list):
            raise FilterError(f"FlowFilter.{key}: expected an array")
        kwargs[name] = tuple(_json_item(name, item) for item in raw)
    return cls(**kwargs)


# Netwarden's extension of FlowFilter, under ``"netwarden"`` in its JSON form.
NETWARDEN_FIELDS = ("staged_denied", "staged_allowed")


def _netwarden_fields(raw: Any) -> dict[str, tuple[Any, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FilterError("FlowFilter.netwarden: expected an object")
    out: dict[str, tuple[Any, ...]] = {}
    for key, values in raw.items():
        name = {json_name(n): n for n in NETWARDEN_FIELDS}.get(key, key)
        if name not in NETWARDEN_FIELDS:
            raise FilterError(f"unknown FlowFilter.netwarden field {key!r}")
        if values is None:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise FilterError(f"FlowFilter.netwarden.{key}: expected an array of strings")
        out[name] = tuple(values)
    return out


def _json_item(name: str, item: Any) -> Any:
    where = f"FlowFilter.{name}"
    if name in _ENUMS:
        enum = _ENUMS[name]
        if isinstance(item, str) and item in enum.__members__:
            return enum.__members__[item]
        if type(item) is int:
            try:
                return enum(item)
            except ValueError:
                pass
        raise FilterError(f"{where}: unknown value {item!r}")
    if name in _INTS:
        number = go_uint(item) if isinstance(item, str) else item
        if type(number) is not int or not 0 <= number <= _INTS[name]:
            raise FilterError(f"{where}: expected an unsigned integer, got {item!r}")
        return number
    if name in _BOOLS:
        if not isinstance(item, bool):
            raise FilterError(f"{where}: expected true or false, got {item!r}")
        return item
    if name in _MESSAGES:
        return _json_message(_MESSAGES[name], item, where)
    if not isinstance(item, str):
        raise FilterError(f"{where}: expected a string, got {item!r}")
    return item


def _json_message(cls: type[Any], item: Any, where: str) -> Any:
    if not isinstance(item, dict):
        raise FilterError(f"{where}: expected an object, got {item!r}")
    defaults = {f.name: f.default for f in fields(cls)}
    kwargs = {}
    for key, value in item.items():
        attr = _json_keys(cls).get(key)
        if attr is None:
            raise FilterError(f"{where}: unknown field {key!r}")
        if value is None:
            continue
        if type(value) is not type(defaults[attr]):
            raise FilterError(f"{where}.{attr}: expected {type(defaults[attr]).__name__}")
        kwargs[attr] = value
    return cls(**kwargs)
