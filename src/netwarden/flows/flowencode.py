"""Flow values back to Hubble's protojson form: the inverse of ``flowjson.flow_from_json``.

``flow_to_json(flow)`` writes the proto field names (``source_port``, ``IP``, ``Summary``),
enums as their names (an unknown value kept as a string is written back as that string),
``time`` as RFC 3339 with nine fractional digits, and only the fields that differ from
their default, as protojson does. A present-but-empty message (``"l4": {}``,
``"flags": {}``) is kept, because its presence means something. For every decoded flow
``flow_from_json(flow_to_json(flow)) == flow`` (a test checks it on the samples), which is
what lets the stores keep one JSON text per flow and replay it exactly.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from netwarden.model.flow import STAGED_EXTENSION_TYPE, Flow, StagedVerdict

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_time(nanoseconds: int) -> str:
    """Nanoseconds since the epoch -> ``YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`` (UTC)."""
    seconds, nanos = divmod(nanoseconds, 1_000_000_000)
    moment = _EPOCH + timedelta(seconds=seconds)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def flow_to_json(flow: Flow) -> dict[str, Any]:
    """The protojson object of a flow (proto names, defaults omitted)."""
    out = _message(flow)
    if flow.time is not None:
        out["time"] = format_time(flow.time)
    if flow.staged:
        out["extensions"] = staged_extension(flow.staged)
    return out


def staged_extension(staged: tuple[StagedVerdict, ...]) -> dict[str, Any]:
    """Netwarden's marks as Hubble's ``extensions`` (a protojson ``Any``)."""
    return {
        "@type": STAGED_EXTENSION_TYPE,
        "staged": [
            {"policy": s.policy, "version": s.version, "outcome": s.outcome} for s in staged
        ],
    }


def _message(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, default in _fields(type(message)):
        value = getattr(message, name)
        if value != default:
            out[name] = _value(value)
    return out


_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, default) of a message's fields; ``Flow.time`` is formatted by the caller."""
    found = _FIELDS.get(cls)
    if found is None:
        found = tuple(
            (f.name, f.default)
            for f in fields(cls)
            if not (cls is Flow and f.name in ("time", "staged"))
        )
        _FIELDS[cls] = found
    return found


def _value(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return value
    if isinstance(value, Enum):
        return value.name
    if kind is tuple:
        if value and type(value[0]) is str:
            return list(value)  # labels, names: all strings (proto repeated string)
        return [_value(item) for item in value]
    if is_dataclass(value):
        return _message(value)
    return value
