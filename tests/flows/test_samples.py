"""Every real Hubble sample decodes with zero errors and the counts the README states."""

from __future__ import annotations

import calendar
import re
from collections import Counter

import pytest

from netwarden.flows import decode_path
from netwarden.model.flow import (
    EMPTY_ENDPOINT,
    DropReason,
    FlowType,
    IPVersion,
    L7FlowType,
    TrafficDirection,
    Verdict,
    enum_name,
)
from tests.flows.samples import EXPECTED, hubble_dir, sample_path


def test_every_sample_decodes_without_errors() -> None:
    files = sorted(hubble_dir().glob("*.jsonl"))
    assert files, "no samples found"
    for file in files:
        result = decode_path(file)
        assert result.errors == [], [str(d) for d in result.errors]
        assert not result.skipped, (file.name, result.skipped)
        assert len(result.flows) == result.lines > 0, file.name


def test_the_expectations_cover_the_readme_table() -> None:
    readme = (hubble_dir() / "README.md").read_text()
    table = {
        name: int(lines)
        for name, lines in re.findall(r"^\| `([^`]+\.jsonl)` \| (\d+) \|", readme, re.M)
    }
    assert table == {name: expected.lines for name, expected in EXPECTED.items()}
    assert {p.name for p in hubble_dir().glob("*.jsonl")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_per_file(name: str) -> None:
    expected = EXPECTED[name]
    result = decode_path(sample_path(name))
    assert result.errors == []
    assert result.lines == len(result.flows) == expected.lines
    types = Counter(flow.Type for flow in result.flows)
    assert types[FlowType.L7] == expected.l7
    assert types[FlowType.L3_L4] == expected.l3_l4
    dropped = Counter(
        enum_name(flow.drop_reason_desc)
        for flow in result.flows
        if flow.verdict is Verdict.DROPPED
        and flow.drop_reason_desc is not DropReason.DROP_REASON_UNKNOWN
    )
    assert dropped == expected.dropped_with_reason
    assert sum(flow.is_policy_verdict for flow in result.flows) == expected.policy_verdicts
    # L7 flows carry l7 and only they do.
    assert all((flow.l7 is not None) == (flow.Type is FlowType.L7) for flow in result.flows)


def test_exporter_drops_with_field_mask() -> None:
    first, second = decode_path(sample_path("cilium-docs-exporter-dropped.jsonl")).flows
    assert first.time == calendar.timegm((2023, 8, 21, 12, 12, 13)) * 10**9 + 517394084
    assert first.time == 1692619933517394084
    assert first.verdict is Verdict.DROPPED
    assert first.drop_reason_desc is DropReason.INVALID_SOURCE_IP
    assert first.IP is not None and first.IP.ipVersion is IPVersion.IPv6
    assert first.IP.source == "fe80::64d8:8aff:fe72:fc14"
    assert first.l4 is not None and first.l4.ICMPv6 is not None
    assert (first.l4.protocol, first.l4.ICMPv6.type, first.l4.ICMPv6.code) == ("ICMPv6", 133, 0)
    assert first.source == EMPTY_ENDPOINT and first.destination == EMPTY_ENDPOINT
    assert first.event_type is None and first.Type is FlowType.UNKNOWN_TYPE
    assert first.node_name == "kind-kind/kind-worker"

    assert second.drop_reason_desc is DropReason.POLICY_DENIED
    assert second.l4 is not None and second.l4.TCP is not None
    assert second.l4.ports == (44916, 80)
    assert second.l4.TCP.flags is not None and second.l4.TCP.flags.SYN
    assert not second.l4.TCP.flags.ACK
    assert (second.source.namespace, second.source.pod_name) == ("default", "xwing")
    assert second.destination.pod_name == "deathstar-7848d6c4d5-th9v2"


def test_dns_sample() -> None:
    flows = decode_path(sample_path("hubble-otel-basic-sample-5-dns-flows.jsonl")).flows
    layers = [flow.l7 for flow in flows]
    assert all(layer is not None and layer.dns is not None for layer in layers)
    kinds = Counter(layer.type for layer in layers if layer is not None)
    assert kinds == {L7FlowType.REQUEST: 3, L7FlowType.RESPONSE: 2}
    for flow in flows:
        assert flow.l7 is not None and flow.l7.dns is not None
        assert flow.event_type is not None and flow.event_type.type == 129
        dns = flow.l7.dns
        assert dns.query.endswith(".") and dns.qtypes and dns.observation_source == "proxy"
        if flow.l7.type is L7FlowType.RESPONSE:
            assert dns.rcode == 3 and dns.ttl == 4294967295
            assert flow.is_reply is True


def test_http_sample() -> None:
    flows = decode_path(sample_path("hubble-otel-basic-sample-5-http-flows.jsonl")).flows
    responses = [f for f in flows if f.l7 is not None and f.l7.type is L7FlowType.RESPONSE]
    assert len(responses) == 2
    for flow in flows:
        assert flow.l7 is not None and flow.l7.http is not None
        http = flow.l7.http
        assert http.method and http.url.startswith("http") and http.protocol.startswith("HTTP/")
        assert http.headers and all(h.key for h in http.headers)
        if flow.l7.type is L7FlowType.RESPONSE:
            assert http.code > 0 and flow.l7.latency_ns > 0
        else:
            assert http.code == 0 and flow.l7.latency_ns == 0
    last = flows[4]
    assert last.l7 is not None and last.l7.http is not None
    assert (last.l7.http.code, last.l7.latency_ns) == (503, 4138183640)
    assert last.source.labels == ("reserved:world",) and last.source.identity == 2


def test_trace_samples() -> None:
    flows = decode_path(sample_path("hubble-otel-basic-sample-10-flows.jsonl")).flows
    assert all(f.verdict is Verdict.FORWARDED for f in flows)
    assert {f.event_type.sub_type for f in flows if f.event_type} == {0, 3}
    assert sum(f.reply for f in flows) == 5
    reviews = flows[0].source
    assert (reviews.ID, reviews.identity, reviews.namespace) == (1231, 25339, "bookinfo")
    assert "k8s:app=reviews" in reviews.labels
    assert flows[0].destination.labels == ("reserved:host",)

    icmp = decode_path(sample_path("hubble-otel-basic-sample-400-icmpv4-flows.jsonl")).flows
    # One side is always reserved:health (4); the README names only reserved:host (1) as
    # the peer, but 10 of the 18 lines come from reserved:remote-node (6).
    pairs = Counter(frozenset({f.source.identity, f.destination.identity}) for f in icmp)
    assert pairs == {frozenset({1, 4}): 8, frozenset({6, 4}): 10}
    assert all(f.l4 is not None and f.l4.protocol == "ICMPv4" for f in icmp)
    assert {f.l4.ICMPv4.type for f in icmp if f.l4 and f.l4.ICMPv4} == {0, 8}


def test_policy_verdict_events() -> None:
    flows = decode_path(sample_path("hubble-otel-basic-sample-400-tcp-flows.jsonl")).flows
    verdicts = [f for f in flows if f.is_policy_verdict]
    assert len(verdicts) == 27
    assert {f.verdict for f in verdicts} == {Verdict.REDIRECTED}
    assert {f.policy_match_type for f in verdicts} == {3}
    assert all(isinstance(f.traffic_direction, TrafficDirection) for f in verdicts)
    assert all(
        f.traffic_direction is not TrafficDirection.TRAFFIC_DIRECTION_UNKNOWN for f in verdicts
    )
    assert all(f.policy_match_type == 0 for f in flows if not f.is_policy_verdict)
