"""Hubble flows read as Arrow (``arrow_schema.FLOW_TYPE``) -> the store's columns
(``flow_columns.ARROW_SCHEMA``), computed column at a time with ``pyarrow.compute`` and
numpy, never a Python object per flow.

Every column follows ``flow_columns._row`` exactly (the test compares them row by row):
proto defaults for missing fields, ports from TCP else UDP else SCTP, the names of the TCP
flags set, the observing cluster as ``store.flow_cluster`` finds it, policies as
``kind/namespace/name``. :func:`store_table` also says which rows it cannot vouch for
(``arrow_schema.row_problems``, no uuid, an unusual timestamp): the caller decodes those
exactly. See ``docs/design/flows.md`` ("Bulk ingest").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netwarden.flows.arrow_schema import TCP_FLAGS, row_problems, true_mask
from netwarden.flows.flow_columns import ARROW_SCHEMA, STAGED_COLUMNS
from netwarden.flows.store import CLUSTER_LABEL, DEFAULT_CLUSTER, NANOS_PER_DAY

# The one timestamp form converted here: RFC 3339 in UTC with T and Z, 0-9 fractional
# digits, years 1970-2199 (so nanoseconds fit in int64 and days are never negative).
# Other forms flowjson accepts (offsets, lower-case t/z) are decoded exactly.
TIME_PATTERN = (
    r"^(19[7-9][0-9]|2[01][0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?Z$"
)
L4_NAMES = ("TCP", "UDP", "ICMPv4", "ICMPv6", "SCTP", "VRRP", "IGMP")
L7_NAMES = ("dns", "http", "kafka")
POLICY_COLUMNS = (
    "egress_allowed_by",
    "ingress_allowed_by",
    "egress_denied_by",
    "ingress_denied_by",
)
_NULL_STR = pa.scalar(None, pa.string())


def store_table(
    flows: Any, env_node: Any, env_time: Any, raw: Any, seq: Any, now: int, cluster: str | None
) -> tuple[Any, Any]:
    """(table of ``ARROW_SCHEMA``, numpy mask of the rows to decode exactly instead).

    ``env_node``/``env_time`` are the envelope's ``node_name`` and ``time`` (null for a
    bare flow), filled in where the flow lacks them; ``raw`` the stored JSON of each flow.
    Raises (an Arrow error) on what it cannot convert at all, such as a 30th of February:
    the caller then decodes the block exactly.
    """
    uuid = pc.struct_field(flows, "uuid")
    time_ns, time_bad = flow_times(pc.struct_field(flows, "time"), env_time)
    bad = row_problems(flows) | time_bad | ~true_mask(_nonempty(uuid))
    node = _node_name(pc.struct_field(flows, "node_name"), env_node)
    day = _days(time_ns, now)
    src, dst = pc.struct_field(flows, "source"), pc.struct_field(flows, "destination")
    columns = {
        "day": day,
        "time_ns": time_ns,
        "seq": seq,
        "key": uuid,
        "uuid": uuid,
        "cluster": _cluster(flows, node) if cluster is None else _constant(cluster, len(flows)),
        "node_name": node,
        **_enums(flows),
        **_layer3_4(flows),
        **_endpoint("src", src),
        **_endpoint("dst", dst),
        **_layer7(pc.struct_field(flows, "l7")),
        **{name: _policies(pc.struct_field(flows, name)) for name in POLICY_COLUMNS},
        "is_reply": pc.struct_field(flows, "is_reply"),
        "summary": _or(pc.struct_field(flows, "Summary"), ""),
        # The bulk path reads Hubble's files: no Netwarden staged marks.
        **{name: _empty_lists(len(flows)) for name in STAGED_COLUMNS},
        "dst_names": list_or_empty(pc.struct_field(flows, "destination_names"), None),
        "src_workload_kind": _first_workload(pc.struct_field(src, "workloads"), "kind"),
        "dst_workload_kind": _first_workload(pc.struct_field(dst, "workloads"), "kind"),
        "raw": raw,
    }
    arrays = [columns[field.name].cast(field.type) for field in ARROW_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA), bad


def _empty_lists(count: int) -> Any:
    return pa.array([[]] * count, type=pa.list_(pa.string()))


def flow_times(flow_time: Any, env_time: Any) -> tuple[Any, Any]:
    """(time in ns or null, numpy mask of rows whose timestamps are not in the one form
    converted here). As ``decode._enveloped_flow``: the flow's time wins, the envelope's
    fills in, and an envelope time that differs from the flow's must be valid too."""
    flow_ok = pc.match_substring_regex(flow_time, TIME_PATTERN)
    env_checked = pc.and_kleene(pc.is_valid(env_time), _differs(env_time, flow_time))
    env_ok = pc.match_substring_regex(env_time, TIME_PATTERN)
    bad = true_mask(pc.invert(flow_ok)) | (true_mask(env_checked) & ~true_mask(env_ok))
    chosen = pc.if_else(pa.array(bad), _NULL_STR, pc.coalesce(flow_time, env_time))
    also = pc.if_else(pa.array(bad), _NULL_STR, pc.if_else(env_checked, env_time, _NULL_STR))
    if also.null_count < len(also):
        pc.cast(also, pa.timestamp("ns", tz="UTC"))  # an impossible date raises
    stamps = pc.cast(chosen, pa.timestamp("ns", tz="UTC"))
    return stamps.cast(pa.int64()), bad


def _differs(a: Any, b: Any) -> Any:
    """``a != b`` where a null ``b`` differs from everything."""
    return pc.if_else(pc.is_null(b), True, pc.not_equal(a, b))


def _days(time_ns: Any, now: int) -> Any:
    days = pc.divide(time_ns, NANOS_PER_DAY)  # times are never negative here
    days = pc.fill_null(days, now // NANOS_PER_DAY)
    return days.cast(pa.int32()).cast(pa.date32())


def _node_name(inner: Any, env_node: Any) -> Any:
    """The flow's node name, else the envelope's (``decode._enveloped_flow``)."""
    return pc.if_else(_nonempty(inner), inner, _or(env_node, ""))


def _enums(flows: Any) -> dict[str, Any]:
    return {
        "verdict": _or(pc.struct_field(flows, "verdict"), "VERDICT_UNKNOWN"),
        "drop_reason_desc": _or(pc.struct_field(flows, "drop_reason_desc"), "DROP_REASON_UNKNOWN"),
        "traffic_direction": _or(
            pc.struct_field(flows, "traffic_direction"), "TRAFFIC_DIRECTION_UNKNOWN"
        ),
    }


def _layer3_4(flows: Any) -> dict[str, Any]:
    ip = pc.struct_field(flows, "IP")
    ip_present = pc.is_valid(ip)
    l4 = pc.struct_field(flows, "l4")
    l7 = pc.struct_field(flows, "l7")
    present = [true_mask(pc.is_valid(pc.struct_field(l4, name))) for name in L4_NAMES]
    present += [true_mask(pc.is_valid(pc.struct_field(l7, name))) for name in L7_NAMES]
    matrix = np.column_stack(present)
    first = np.where(matrix[:, :7].any(axis=1), matrix[:, :7].argmax(axis=1), 7)
    return {
        "ip_src": pc.if_else(ip_present, _or(pc.struct_field(ip, "source"), ""), _NULL_STR),
        "ip_dst": pc.if_else(ip_present, _or(pc.struct_field(ip, "destination"), ""), _NULL_STR),
        "ip_version": _or(pc.struct_field(ip, "ipVersion"), "IP_NOT_USED"),
        "l4_protocol": pc.take(pa.array([*L4_NAMES, ""]), pa.array(first)),
        "protocols": names_list(matrix, (*L4_NAMES, *L7_NAMES), None),
        "src_port": _port(l4, "source_port"),
        "dst_port": _port(l4, "destination_port"),
        "tcp_flags": _tcp_flags(pc.struct_field(pc.struct_field(l4, "TCP"), "flags")),
    }


def _port(l4: Any, side: str) -> Any:
    """TCP's port, else UDP's, else SCTP's (0 when the header lacks it); null otherwise."""
    port = pa.nulls(len(l4), pa.int64())
    for name in ("SCTP", "UDP", "TCP"):  # the last one set wins
        header = pc.struct_field(l4, name)
        port = pc.if_else(pc.is_valid(header), _or(pc.struct_field(header, side), 0), port)
    return port


def _tcp_flags(flags: Any) -> Any:
    matrix = np.column_stack(
        [true_mask(pc.fill_null(pc.struct_field(flags, name), False)) for name in TCP_FLAGS]
    )
    return names_list(matrix, TCP_FLAGS, ~true_mask(pc.is_valid(flags)))


def names_list(matrix: Any, names: tuple[str, ...], null_rows: Any) -> Any:
    """A list<string> per row of a bool matrix: the names of its True columns, in order."""
    offsets = np.zeros(len(matrix) + 1, dtype=np.int32)
    np.cumsum(matrix.sum(axis=1), out=offsets[1:])
    values = pc.take(pa.array(names), pa.array(np.nonzero(matrix)[1].astype(np.int32)))
    mask = None if null_rows is None or not null_rows.any() else pa.array(null_rows)
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=mask)


def _endpoint(side: str, endpoint: Any) -> dict[str, Any]:
    return {
        f"{side}_cluster": _or(pc.struct_field(endpoint, "cluster_name"), ""),
        f"{side}_namespace": _or(pc.struct_field(endpoint, "namespace"), ""),
        f"{side}_pod": _or(pc.struct_field(endpoint, "pod_name"), ""),
        f"{side}_labels": list_or_empty(pc.struct_field(endpoint, "labels"), None),
        f"{side}_identity": _or(pc.struct_field(endpoint, "identity"), 0),
        f"{side}_workload": _first_workload(pc.struct_field(endpoint, "workloads")),
    }


def _first_workload(workloads: Any, field: str = "name") -> Any:
    """The name (or another field) of the first workload, or ``""``."""
    lengths = true_mask(pc.greater(pc.list_value_length(workloads), 0))
    if not lengths.any():
        return _constant("", len(workloads))
    starts = workloads.offsets.to_numpy()[:-1]
    names = pc.struct_field(workloads.values, field)
    return _or(pc.take(names, pa.array(starts, mask=~lengths)), "")


def _layer7(l7: Any) -> dict[str, Any]:
    dns = pc.struct_field(l7, "dns")
    http = pc.struct_field(l7, "http")
    return {
        "l7_type": pc.if_else(
            pc.is_valid(l7), _or(pc.struct_field(l7, "type"), "UNKNOWN_L7_TYPE"), _NULL_STR
        ),
        "dns_query": _if_present(dns, "query", ""),
        "http_method": _if_present(http, "method", ""),
        "http_url": _if_present(http, "url", ""),
        "http_code": _if_present(http, "code", 0),
    }


def _if_present(message: Any, name: str, default: str | int) -> Any:
    """A field of a message (its default when missing), null when the message is."""
    value = _or(pc.struct_field(message, name), default)
    return pc.if_else(pc.is_valid(message), value, pa.scalar(None, value.type))


def _policies(policies: Any) -> Any:
    """Each policy as ``kind/namespace/name``; a missing list is empty."""
    items = pc.list_flatten(policies)
    texts = pc.binary_join_element_wise(
        *(_or(pc.struct_field(items, name), "") for name in ("kind", "namespace", "name")), "/"
    )
    return list_or_empty(policies, texts)


def list_or_empty(lists: Any, values: Any) -> Any:
    """``lists`` with null lists made empty; ``values`` (one per item) replace the items."""
    if lists.null_count == 0 and values is None:
        return lists
    parents = pc.list_parent_indices(lists).to_numpy()
    offsets = np.zeros(len(lists) + 1, dtype=np.int32)
    np.cumsum(np.bincount(parents, minlength=len(lists)), out=offsets[1:])
    items = pc.list_flatten(lists) if values is None else values
    return pa.ListArray.from_arrays(pa.array(offsets), items)


def _cluster(flows: Any, node: Any) -> Any:
    """``store.flow_cluster`` per row: ``cluster/`` of the node name, else an endpoint's
    cluster name, else the cluster label of the source's, then the destination's labels."""
    source = pc.struct_field(flows, "source")
    destination = pc.struct_field(flows, "destination")
    from_node = pc.struct_field(pc.extract_regex(node, r"^(?P<cluster>[^/]+)/"), "cluster")
    candidates = [
        from_node,
        _empty_as_null(pc.struct_field(source, "cluster_name")),
        _empty_as_null(pc.struct_field(destination, "cluster_name")),
        _labelled_cluster(pc.struct_field(source, "labels")),
        _labelled_cluster(pc.struct_field(destination, "labels")),
    ]
    return pc.coalesce(*candidates, pa.scalar(DEFAULT_CLUSTER))


def _labelled_cluster(labels: Any) -> Any:
    """The value of the first ``io.cilium.k8s.policy.cluster`` label, or null."""
    flat = pc.list_flatten(labels)
    hits = np.flatnonzero(true_mask(pc.starts_with(flat, CLUSTER_LABEL)))
    if len(hits) == 0:
        return pa.nulls(len(labels), pa.string())
    rows, first = np.unique(pc.list_parent_indices(labels).to_numpy()[hits], return_index=True)
    index = np.zeros(len(labels), dtype=np.int64)
    index[rows] = hits[first]
    present = np.zeros(len(labels), dtype=bool)
    present[rows] = True
    found = pc.take(flat, pa.array(index, mask=~present))
    return pc.utf8_slice_codeunits(found, len(CLUSTER_LABEL))


def _nonempty(values: Any) -> Any:
    return pc.fill_null(pc.not_equal(values, ""), False)


def _empty_as_null(values: Any) -> Any:
    return pc.if_else(_nonempty(values), values, _NULL_STR)


def _or(values: Any, default: str | int) -> Any:
    return pc.fill_null(values, default)


def _constant(value: str, length: int) -> Any:
    return pa.repeat(pa.scalar(value, pa.string()), length)
