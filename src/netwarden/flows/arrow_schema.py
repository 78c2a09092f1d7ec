"""The Hubble flow fields we keep, as Arrow read schemas for ``pyarrow.json``, and the
checks that make reading with them exactly as strict as :mod:`netwarden.flows.flowjson`.

``pyarrow.json`` with an explicit schema already rejects a value of the wrong JSON type
(a number where a string is expected, an enum given as a number, an integer as a string),
a duplicate key of a kept field, and malformed JSON: the whole piece then fails and the
caller decodes it exactly. The explicit schema names only the fields the store's columns
need (``READ_FLOW``): every explicit field costs per row, present or not. The others are
inferred (``infer``), not dropped, and checked against the full field table ``FLOW``, so
nothing is missed silently. What pyarrow accepts but ``flowjson`` would not, or would
read differently, is found per row by :func:`row_problems`: a kept field of another
JSON type than its proto type (as inferred), integers out of their proto range, ``null``
items in arrays, lowerCamelCase aliases (``sourcePort``, which ``flowjson`` reads and no
schema names), non-finite numbers in unknown fields (RapidJSON reads ``Inf``, Python does
not), uint64 strings that are not plain digits. The caller decodes such rows exactly.
See ``docs/design/flows.md`` ("Bulk ingest").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netwarden.flows.flowjson import INT32, UINT32, json_name

# Leaf kinds: how a field is read and checked.
STR, BOOL, ENUM, TIME, U32, I32, U64, STRS = "str bool enum time u32 i32 u64 strs".split()
# A message: field name -> leaf kind, nested message, or a one-item tuple (repeated message).
Spec = Mapping[str, Any]

_PORTS = {"source_port": U32, "destination_port": U32}
TCP_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS")
ENDPOINT: Spec = {
    "ID": U32,
    "identity": U32,
    "cluster_name": STR,
    "namespace": STR,
    "labels": STRS,
    "pod_name": STR,
    "workloads": ({"name": STR, "kind": STR},),
}
LAYER4: Spec = {
    "TCP": {**_PORTS, "flags": dict.fromkeys(TCP_FLAGS, BOOL)},
    "UDP": _PORTS,
    "ICMPv4": {"type": U32, "code": U32},
    "ICMPv6": {"type": U32, "code": U32},
    "SCTP": _PORTS,
    "VRRP": {"type": U32, "vrid": U32, "priority": U32},
    "IGMP": {"type": U32, "group_address": STR},
}
LAYER7: Spec = {
    "type": ENUM,
    "latency_ns": U64,
    "dns": {
        "query": STR,
        "ips": STRS,
        "ttl": U32,
        "cnames": STRS,
        "observation_source": STR,
        "rcode": U32,
        "qtypes": STRS,
        "rrtypes": STRS,
    },
    "http": {
        "code": U32,
        "method": STR,
        "url": STR,
        "protocol": STR,
        "headers": ({"key": STR, "value": STR},),
    },
    "kafka": {
        "error_code": I32,
        "api_version": I32,
        "api_key": STR,
        "correlation_id": I32,
        "topic": STR,
    },
}
POLICIES = ({"name": STR, "namespace": STR, "labels": STRS, "revision": U64, "kind": STR},)
FLOW: Spec = {
    "time": TIME,
    "uuid": STR,
    "verdict": ENUM,
    "drop_reason": U32,
    "drop_reason_desc": ENUM,
    "IP": {
        "source": STR,
        "destination": STR,
        "ipVersion": ENUM,
        "encrypted": BOOL,
        "source_xlated": STR,
    },
    "l4": LAYER4,
    "source": ENDPOINT,
    "destination": ENDPOINT,
    "Type": ENUM,
    "node_name": STR,
    "source_names": STRS,
    "destination_names": STRS,
    "l7": LAYER7,
    "reply": BOOL,
    "event_type": {"type": I32, "sub_type": I32},
    "traffic_direction": ENUM,
    "policy_match_type": U32,
    "trace_observation_point": ENUM,
    "is_reply": BOOL,
    "egress_allowed_by": POLICIES,
    "ingress_allowed_by": POLICIES,
    "egress_denied_by": POLICIES,
    "ingress_denied_by": POLICIES,
    "Summary": STR,
}
_LEAF_TYPES = {
    STR: pa.string(),
    ENUM: pa.string(),
    TIME: pa.string(),
    U64: pa.string(),  # protojson writes uint64 as a string of digits
    BOOL: pa.bool_(),
    U32: pa.int64(),
    I32: pa.int64(),
    STRS: pa.list_(pa.string()),
}
_RANGES = {U32: UINT32, I32: INT32}
# uint64 as digits: at most 19, so always below 2**64 (longer ones are decoded exactly).
_U64_DIGITS = r"^[0-9]{1,19}$"


_STORED_PORTS = {"source_port": U32, "destination_port": U32}
_STORED_ENDPOINT: Spec = {
    "identity": U32,
    "cluster_name": STR,
    "namespace": STR,
    "labels": STRS,
    "pod_name": STR,
    "workloads": ({"name": STR, "kind": STR},),
}
_STORED_POLICIES = ({"name": STR, "namespace": STR, "kind": STR},)
# The part of FLOW that the store's columns read (arrow_columns): the explicit schema.
READ_FLOW: Spec = {
    "time": TIME,
    "uuid": STR,
    "verdict": ENUM,
    "drop_reason_desc": ENUM,
    "IP": {"source": STR, "destination": STR, "ipVersion": ENUM},
    "l4": {
        "TCP": {**_STORED_PORTS, "flags": dict.fromkeys(TCP_FLAGS, BOOL)},
        "UDP": _STORED_PORTS,
        "ICMPv4": {},
        "ICMPv6": {},
        "SCTP": _STORED_PORTS,
        "VRRP": {},
        "IGMP": {},
    },
    "source": _STORED_ENDPOINT,
    "destination": _STORED_ENDPOINT,
    "node_name": STR,
    "destination_names": STRS,
    "l7": {
        "type": ENUM,
        "dns": {"query": STR},
        "http": {"code": U32, "method": STR, "url": STR},
        "kafka": {},
    },
    "traffic_direction": ENUM,
    "is_reply": BOOL,
    "egress_allowed_by": _STORED_POLICIES,
    "ingress_allowed_by": _STORED_POLICIES,
    "egress_denied_by": _STORED_POLICIES,
    "ingress_denied_by": _STORED_POLICIES,
    "Summary": STR,
}


def arrow_type(spec: Any) -> Any:
    """The Arrow type of a leaf kind, message or repeated message."""
    if isinstance(spec, str):
        return _LEAF_TYPES[spec]
    if isinstance(spec, tuple):
        return pa.list_(arrow_type(spec[0]))
    return pa.struct(message_fields(spec))


def message_fields(spec: Spec) -> list[Any]:
    """A message's Arrow fields, by proto name."""
    return [pa.field(name, arrow_type(kind)) for name, kind in spec.items()]


FLOW_TYPE = arrow_type(READ_FLOW)
# An envelope line: {"flow": {...}, "node_name": ..., "time": ...}.
ENVELOPE_SCHEMA = pa.schema(
    [("flow", FLOW_TYPE), ("node_name", pa.string()), ("time", pa.string())]
)
# A bare flow line: the flow's fields at the top level.
BARE_SCHEMA = pa.schema(list(FLOW_TYPE))


def row_problems(flows: Any) -> Any:
    """A numpy bool per row of a flow struct array (``FLOW_TYPE`` plus inferred fields):
    True where it may differ from what ``flowjson`` reads (decode the row exactly)."""
    return _message_problems(flows, FLOW)


def _message_problems(array: Any, spec: Spec) -> Any:
    bad = np.zeros(len(array), dtype=bool)
    aliases = {json_name(name) for name in spec} - set(spec)
    for child in array.type:
        kind = spec.get(child.name)
        if kind == TIME:
            continue  # checked and converted by the caller (arrow_columns.flow_times)
        values = pc.struct_field(array, child.name)
        if kind is not None:
            bad |= _field_problems(values, kind)
        elif child.name in aliases:
            bad |= _present(values)
        else:
            bad |= nonfinite_rows(values)
    return bad


def nonfinite_rows(values: Any) -> Any:
    """Rows of an inferred (unknown) field holding NaN or an infinity anywhere inside:
    RapidJSON reads ``Inf`` and ``-NaN``, Python's json does not."""
    kind = values.type
    if values.null_count == len(values) or pa.types.is_null(kind):
        return np.zeros(len(values), dtype=bool)
    if pa.types.is_floating(kind):
        return _true(pc.invert(pc.is_finite(values)))
    if pa.types.is_struct(kind):
        bad = np.zeros(len(values), dtype=bool)
        for child in kind:
            bad |= nonfinite_rows(pc.struct_field(values, child.name))
        return bad
    if pa.types.is_list(kind):
        return _list_problems(values, nonfinite_rows, null_items=False)
    return np.zeros(len(values), dtype=bool)


def _field_problems(values: Any, kind: Any) -> Any:
    """Rows where a kept field (explicit or inferred) is not what ``flowjson`` reads the
    same way: another JSON type (an inferred type other than the proto's), or a value the
    kind's own check rejects."""
    kind_type = values.type
    if values.null_count == len(values):
        return np.zeros(len(values), dtype=bool)
    if isinstance(kind, dict):
        if not pa.types.is_struct(kind_type):
            return _present(values)
        return _message_problems(values, kind)
    if isinstance(kind, tuple) or kind == STRS:
        item = kind[0] if isinstance(kind, tuple) else STR
        if not pa.types.is_list(kind_type):
            return _present(values)
        return _list_problems(values, lambda items: _field_problems(items, item))
    if kind_type != _LEAF_TYPES[kind]:
        return _present(values)
    if kind in _RANGES:
        low, high = _RANGES[kind]
        bounds = pc.min_max(values).as_py()
        if bounds["min"] >= low and bounds["max"] <= high:
            return np.zeros(len(values), dtype=bool)
        outside = pc.or_(pc.less(values, low), pc.greater(values, high))
        return _true(outside)
    if kind == U64:
        return _true(pc.invert(pc.match_substring_regex(values, _U64_DIGITS)))
    return np.zeros(len(values), dtype=bool)


def _list_problems(lists: Any, item_problems: Any, null_items: bool = True) -> Any:
    """Rows with a null item (flowjson rejects it, so ``null_items`` is True for a kept
    field), or an item with a problem."""
    bad = np.zeros(len(lists), dtype=bool)
    items = pc.list_flatten(lists)
    if len(items) == 0:
        return bad
    item_bad = np.zeros(len(items), dtype=bool)
    if null_items:
        item_bad |= np.asarray(items.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if item_problems is not None:
        item_bad |= item_problems(items)
    if item_bad.any():
        parents = pc.list_parent_indices(lists).to_numpy()
        bad[parents[item_bad]] = True
    return bad


def _present(values: Any) -> Any:
    if values.null_count == len(values):
        return np.zeros(len(values), dtype=bool)
    return np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def true_mask(mask: Any) -> Any:
    """A boolean Arrow array as a numpy bool array, null counting as False."""
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


_true = true_mask
