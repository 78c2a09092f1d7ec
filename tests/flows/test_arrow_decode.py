"""The bulk decoder (netwarden.flows.arrow_decode) equals the exact one, row for row.

For the same lines, ``decode_arrow`` must give the table that ``flow_columns.flows_table``
makes of ``decode_line``'s flows (every column; ``raw`` replays to the same flow), the same
skip counts and the same located diagnostics: on the real samples, on Hypothesis flows
written by ``flowencode.flow_to_json``, on mutated sample lines and on hostile lines.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwarden.flows.arrow_decode import (
    ArrowDecodeResult,
    concat_results,
    decode_arrow,
    iter_decode_arrow,
)
from netwarden.flows.arrow_schema import FLOW, READ_FLOW
from netwarden.flows.decode import Skipped, decode_line
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.flow_columns import flow_from_raw, flows_table
from netwarden.flows.flowencode import flow_to_json
from netwarden.flows.flowjson import FLOW_FIELDS, json_name
from netwarden.model import flow as m
from netwarden.model.diagnostics import Diagnostic
from tests.flows.samples import EXPECTED, sample_lines
from tests.flows.test_fuzz import json_values, paths

NOW = 1_700_000_000_000_000_000
SAMPLES = [line for name in sorted(EXPECTED) for line in sample_lines(name)]
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def with_uuids(lines: list[str], prefix: str = "u") -> list[str]:
    """The lines with a uuid in each flow (the samples have none: they predate it)."""
    out = []
    for index, line in enumerate(lines):
        obj = json.loads(line)
        obj["flow"]["uuid"] = f"{prefix}-{index}"
        out.append(json.dumps(obj, separators=(",", ":")))
    return out


UUID_SAMPLES = with_uuids(SAMPLES)


def exact(lines: list[str] | list[bytes], cluster: str | None = None) -> ArrowDecodeResult:
    """What the bulk decoder must return, from the exact per-line decoder."""
    result = ArrowDecodeResult(None)
    flows: list[m.Flow] = []
    numbers: list[int] = []
    for number, line in enumerate(lines, start=1):
        decoded = decode_line(line, file="t.jsonl", line_number=number)
        if isinstance(decoded, m.Flow):
            flows.append(decoded)
            numbers.append(number)
        elif isinstance(decoded, Skipped):
            result.skipped[decoded.kind] += 1
        else:
            result.errors.append(decoded)
    result.table = flows_table(flows, numbers, cluster, NOW)
    result.lines = len(lines)
    return result


def fast(lines: list[str] | list[bytes], cluster: str | None = None) -> ArrowDecodeResult:
    data = b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines)
    return decode_arrow(data, "t.jsonl", cluster=cluster, now=NOW)


def assert_same(got: ArrowDecodeResult, want: ArrowDecodeResult) -> None:
    assert got.lines == want.lines
    assert got.skipped == want.skipped
    assert [_where(d) for d in got.errors] == [_where(d) for d in want.errors]
    assert got.table.schema == want.table.schema
    assert got.table.drop(["raw"]).to_pylist() == want.table.drop(["raw"]).to_pylist()
    replayed = [flow_from_raw(raw) for raw in got.table.column("raw").to_pylist()]
    assert replayed == [flow_from_raw(raw) for raw in want.table.column("raw").to_pylist()]


def _where(d: Diagnostic) -> tuple[Any, ...]:
    return (d.code, d.location.file, d.location.line, d.location.path, d.message)


# --- the samples ------------------------------------------------------------------------


def test_samples_without_uuid_are_decoded_exactly() -> None:
    got = fast(SAMPLES)
    assert_same(got, exact(SAMPLES))
    assert got.exact_lines == len(SAMPLES)  # no uuid: the key is a hash of canonical JSON


def test_samples_with_uuids_take_the_fast_path() -> None:
    got = fast(UUID_SAMPLES)
    assert_same(got, exact(UUID_SAMPLES))
    assert got.exact_lines == 0 and got.flows == len(SAMPLES)


def test_cluster_override_and_bare_flows() -> None:
    bare = [json.dumps(json.loads(line)["flow"]) for line in UUID_SAMPLES[:50]]
    assert_same(fast(bare), exact(bare))
    assert fast(bare).exact_lines == 0
    assert_same(fast(UUID_SAMPLES[:50], "c1"), exact(UUID_SAMPLES[:50], "c1"))


def test_streaming_blocks_number_lines_across_blocks() -> None:
    lines = [*UUID_SAMPLES[:300], "not json", *UUID_SAMPLES[300:]]
    data = ("\n".join(lines) + "\n").encode()
    parts = list(iter_decode_arrow(io.BytesIO(data), "t.jsonl", block_bytes=20_000, now=NOW))
    assert len(parts) > 5
    assert_same(concat_results(parts), exact(lines))


def test_schemas_name_the_fields_flowjson_reads() -> None:
    assert set(FLOW_FIELDS) == set(FLOW) | {json_name(n) for n in FLOW}

    def within(small: Any, big: Any) -> bool:
        if isinstance(small, dict):
            return all(k in big and within(v, big[k]) for k, v in small.items())
        if isinstance(small, tuple):
            return within(small[0], big[0])
        return bool(small == big)

    assert within(READ_FLOW, FLOW)


# --- hostile and unusual lines ------------------------------------------------------------

GOOD = UUID_SAMPLES[5]
FLOW5 = json.loads(GOOD)["flow"]


def envelope(**changes: Any) -> str:
    return json.dumps({"flow": {**FLOW5, **changes}, "node_name": "n1", "time": FLOW5["time"]})


ODD = [
    "",
    "   ",
    "{",
    "[]",
    "null",
    '{"lost_events": {}}',
    '{"node_status": null, "verdict": "DROPPED"}',
    '{"flow": null}',
    '{"flow": null, "verdict": "DROPPED", "uuid": "x"}',
    '{"flow": {}}',
    '{"verdict": null}',
    '{"time": "2023-01-01T00:00:00Z"}',
    envelope(verdict=2),  # an enum as a number
    envelope(l4={"TCP": {"sourcePort": 80}}),  # a json_name alias
    envelope(l4={"TCP": {"source_port": "80"}}),  # an integer as a string
    envelope(l4={"TCP": {"source_port": 2**32}}),  # out of range
    envelope(l4={"TCP": {"source_port": 80.0}}),
    envelope(source={"labels": ["a", None]}),
    envelope(source={"workloads": [None]}),
    envelope(egress_allowed_by=[{"name": "p", "revision": "18446744073709551615"}]),
    envelope(time="2023-02-30T00:00:00Z"),
    envelope(time="2023-01-01T01:00:00+01:00"),
    envelope(time="1969-12-31T23:59:59Z"),
    envelope(uuid=""),
    envelope(node_name=""),
    envelope(ethernet={"x": float("inf")}),
    envelope(http={"code": 2**31}),
    json.dumps({"flow": {**FLOW5, "time": None}, "time": "2023-01-01T00:00:00.5Z"}),
    json.dumps({"flow": FLOW5, "nodeName": "alias-node"}),
    json.dumps({"flow": FLOW5, "time": "not a time"}),
    GOOD.replace('"verdict"', '"verdict":"X","verdict"'),  # a duplicate key
    GOOD[:-1] + ',"zz":Inf}',
    GOOD[:-1] + ',"zz":' + "[" * 300 + "]" * 300 + "}",
    GOOD[:-1] + ',"zz":' + "1" * 5000 + "}",
    GOOD + " " + GOOD,
    GOOD + "\r",
    GOOD.replace('"n1"', '"n\\u0031"'),
]


@pytest.mark.parametrize("line", ODD)
def test_an_odd_line_among_good_ones(line: str) -> None:
    lines = [*UUID_SAMPLES[:40], line, *UUID_SAMPLES[40:80]]
    assert_same(fast(lines), exact(lines))


def test_bytes_that_are_not_utf8() -> None:
    lines = [GOOD.encode(), b'{"flow": {"uuid": "\xff"}}', GOOD.encode()[:-1] + b',"z":"\xe9"}']
    assert_same(fast(lines), exact(lines))


def test_a_byte_order_mark_on_the_first_line() -> None:
    got = decode_arrow(b"\xef\xbb\xbf" + GOOD.encode() + b"\n", now=NOW)
    assert got.flows == 1 and got.ok and got.exact_lines == 0


# --- Hypothesis: random flows, mutated lines ---------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
small = st.integers(0, 2**32 - 1)
labels = st.lists(
    st.sampled_from(["k8s:app=web", "k8s:io.cilium.k8s.policy.cluster=kind", "reserved:world"])
    | names,
    max_size=3,
).map(tuple)
endpoints = st.builds(
    m.FlowEndpoint,
    ID=small,
    identity=small,
    cluster_name=st.sampled_from(["", "east"]),
    namespace=names,
    labels=labels,
    pod_name=names,
    workloads=st.lists(st.builds(m.Workload, name=names, kind=names), max_size=2).map(tuple),
)
ports = {"source_port": small, "destination_port": small}
flags = st.builds(m.TCPFlags, SYN=st.booleans(), ACK=st.booleans(), NS=st.booleans())
layer4 = st.builds(
    m.Layer4,
    TCP=st.none() | st.builds(m.TCP, **ports, flags=st.none() | flags),
    UDP=st.none() | st.builds(m.UDP, **ports),
    ICMPv4=st.none() | st.builds(m.ICMPv4, type=small),
    SCTP=st.none() | st.builds(m.SCTP, **ports),
    IGMP=st.none() | st.builds(m.IGMP, group_address=names),
)
layer7 = st.builds(
    m.Layer7,
    type=st.sampled_from(list(m.L7FlowType)),
    latency_ns=st.integers(0, 2**64 - 1),
    dns=st.none() | st.builds(m.DNS, query=names, ips=st.lists(names, max_size=2).map(tuple)),
    http=st.none() | st.builds(m.HTTP, code=st.integers(0, 2**31 - 1), method=names, url=names),
    kafka=st.none() | st.builds(m.Kafka, topic=names),
)
policies = st.lists(
    st.builds(
        m.Policy, name=names, namespace=names, kind=names, revision=st.integers(0, 2**64 - 1)
    ),
    max_size=2,
).map(tuple)
flows = st.builds(
    m.Flow,
    time=st.none() | st.integers(-(10**18), 7 * 10**18),
    uuid=st.sampled_from(["", "a", "b"]) | names,
    verdict=st.sampled_from([*m.Verdict, "NEW_VERDICT"]),
    drop_reason_desc=st.sampled_from(list(m.DropReason)[:5]),
    IP=st.none() | st.builds(m.IP, source=names, ipVersion=st.sampled_from(list(m.IPVersion))),
    l4=st.none() | layer4,
    source=endpoints,
    destination=endpoints,
    node_name=st.sampled_from(["", "n1", "c1/n1", "/n1", "c/"]),
    l7=st.none() | layer7,
    traffic_direction=st.sampled_from(list(m.TrafficDirection)),
    is_reply=st.none() | st.booleans(),
    egress_allowed_by=policies,
    ingress_denied_by=policies,
    Summary=names,
)


def as_line(flow: m.Flow, form: str, node: str) -> str:
    obj = flow_to_json(flow)
    if form == "bare":
        return json.dumps(obj, ensure_ascii=False)
    stamp = obj.get("time", "2024-01-01T00:00:00Z")
    return json.dumps({"flow": obj, "node_name": node, "time": stamp}, ensure_ascii=False)


@SETTINGS
@given(
    st.lists(
        st.tuples(flows, st.sampled_from(["envelope", "bare"]), st.sampled_from(["", "e1/n"])),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from([None, "override"]),
)
def test_random_flows_decode_as_the_exact_decoder_does(
    drawn: list[tuple[m.Flow, str, str]], cluster: str | None
) -> None:
    lines = [as_line(flow, form, node) for flow, form, node in drawn]
    assert_same(fast(lines, cluster), exact(lines, cluster))


@SETTINGS
@given(st.sampled_from(UUID_SAMPLES), st.data())
def test_a_mutated_line_decodes_as_the_exact_decoder_does(line: str, data: st.DataObject) -> None:
    obj = json.loads(line)
    path = data.draw(st.sampled_from(paths(obj)))
    parent = obj
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = data.draw(json_values)
    lines = [*UUID_SAMPLES[:3], json.dumps(obj), UUID_SAMPLES[3]]
    assert_same(fast(lines), exact(lines))


# --- into the store -----------------------------------------------------------------------


def test_append_arrow_of_decoded_lines_equals_append_of_decoded_flows() -> None:
    lines = [*UUID_SAMPLES, *SAMPLES[:30]]
    decoded = fast(lines)
    flows = [f for f in (decode_line(x) for x in lines) if isinstance(f, m.Flow)]
    by_columns, by_flows = DuckDBFlowStore(), DuckDBFlowStore()
    assert by_columns.append_arrow(decoded.table, now=NOW).stored == len(flows)
    assert by_flows.append(flows, now=NOW).stored == len(flows)
    assert by_columns.query() == by_flows.query()
    assert by_columns.count_by(["src_workload", "verdict"]) == by_flows.count_by(
        ["src_workload", "verdict"]
    )
    # Retried, by either path: nothing stored twice (same key and time).
    assert by_columns.append(flows, now=NOW).stored == 0
    assert by_flows.append_arrow(decoded.table, now=NOW).stored == 0
    assert by_columns.count() == by_flows.count() == len(flows)


def test_append_arrow_keeps_the_first_row_of_a_repeated_key() -> None:
    table = fast(UUID_SAMPLES[:3]).table
    doubled = pa.concat_tables([table, table.slice(0, 1)])
    store = DuckDBFlowStore()
    result = store.append_arrow(doubled, now=NOW)
    assert (result.offered, result.stored) == (4, 3)
    assert Counter(f.uuid for f in store.query()) == Counter({"u-0": 1, "u-1": 1, "u-2": 1})


def test_destination_names_and_workload_kinds_take_the_fast_path() -> None:
    """The edge columns: ``dst_names`` (Hubble's ``destination_names``) and each end's
    first workload kind, the same from the column decoder as from the exact one."""
    lines = []
    for index, line in enumerate(UUID_SAMPLES[:6]):
        obj = json.loads(line)
        flow = obj["flow"]
        if index % 2 == 0:
            flow["destination_names"] = ["api.example.com.", "cdn.example.com"]
        if index % 3 == 0:
            flow["source"]["workloads"] = [{"name": "web", "kind": "Deployment"}]
            flow["destination"]["workloads"] = [{"name": "db"}, {"name": "x", "kind": "Pod"}]
        lines.append(json.dumps(obj))
    got = fast(lines)
    assert_same(got, exact(lines))
    assert got.exact_lines == 0
    rows = got.table.select(["dst_names", "src_workload_kind", "dst_workload_kind"]).to_pylist()
    assert rows[0] == {
        "dst_names": ["api.example.com.", "cdn.example.com"],
        "src_workload_kind": "Deployment",
        "dst_workload_kind": "",
    }
    assert rows[1]["dst_names"] == [] and rows[1]["src_workload_kind"] == ""
