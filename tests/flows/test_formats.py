"""The accepted shapes: jsonpb envelopes, bare flows, camelCase aliases, enums, integers, times."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from netwarden.flows import Skipped, decode_line, decode_object, decode_text
from netwarden.flows.flowjson import FLOW_FIELDS, json_name
from netwarden.model.flow import (
    DropReason,
    Flow,
    FlowType,
    L7FlowType,
    Policy,
    TraceObservationPoint,
    Verdict,
    Workload,
    enum_name,
)
from tests.flows.samples import EXPECTED, sample_objects


def decoded(line: object) -> Flow:
    result = decode_line(json.dumps(line))
    assert isinstance(result, Flow), result
    return result


def camel(value: Any) -> Any:
    """Every key spelled with its protojson json_name (lowerCamelCase)."""
    if isinstance(value, dict):
        return {json_name(k): camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bare_flow_and_camel_case_decode_like_the_envelope(name: str) -> None:
    for obj in sample_objects(name):
        flow = decoded(obj)
        assert decoded(obj["flow"]) == flow  # legacy `hubble observe -o json`
        assert decoded(camel(obj)) == flow  # Hubble UI / protojson json_name spelling


def test_envelope_fills_in_node_name_and_time() -> None:
    flow = decoded(
        {
            "flow": {"verdict": "FORWARDED"},
            "node_name": "kind-kind/kind-worker",
            "time": "2023-08-21T12:12:13.5Z",
        }
    )
    assert flow.node_name == "kind-kind/kind-worker"
    assert flow.time == 1692619933_500000000
    own = decoded(
        {
            "flow": {"node_name": "a", "time": "1970-01-01T00:00:01Z"},
            "node_name": "b",
            "time": "1970-01-01T00:00:02Z",
        }
    )
    assert (own.node_name, own.time) == ("a", 10**9)


def test_every_flow_field_has_a_reader() -> None:
    attributes = {attribute for attribute, _ in FLOW_FIELDS.values()}
    # ``staged``: Netwarden's extension, read from Hubble's ``extensions`` by flow_from_json
    assert attributes == {f.name for f in dataclasses.fields(Flow)} - {"staged"}
    assert FLOW_FIELDS["dropReasonDesc"][0] == "drop_reason_desc"
    assert FLOW_FIELDS["isReply"][0] == "is_reply"


def test_enums_by_name_number_and_unknown() -> None:
    assert decoded({"verdict": "DROPPED"}).verdict is Verdict.DROPPED
    assert decoded({"verdict": 4}).verdict is Verdict.AUDIT
    assert decoded({"verdict": "QUARANTINED"}).verdict == "QUARANTINED"
    assert decoded({"verdict": 99}).verdict == "99"
    assert decoded({"drop_reason_desc": 181}).drop_reason_desc is DropReason.POLICY_DENY
    assert decoded({"drop_reason_desc": "NEW_REASON"}).drop_reason_desc == "NEW_REASON"
    assert enum_name(decoded({"Type": "SOCK"}).Type) == "SOCK"
    assert enum_name(decoded({"Type": "FUTURE"}).Type) == "FUTURE"
    flow = decoded({"trace_observation_point": "TO_ENDPOINT"})
    assert flow.trace_observation_point is TraceObservationPoint.TO_ENDPOINT
    assert flow.trace_observation_point.value == 101
    assert decoded({"l7": {"type": 3}}).l7 == decoded({"l7": {"type": "SAMPLE"}}).l7
    assert decoded({"verdict": "VERDICT_UNKNOWN"}) == decoded({"verdict": None})


def test_integers_as_numbers_or_strings() -> None:
    a = decoded({"l7": {"type": "RESPONSE", "latency_ns": "999958359"}})
    b = decoded({"l7": {"type": "RESPONSE", "latency_ns": 999958359}})
    assert a == b and a.l7 is not None and a.l7.latency_ns == 999958359
    assert a.l7.type is L7FlowType.RESPONSE
    big = decoded({"l7": {"latency_ns": str(2**64 - 1)}})
    assert big.l7 is not None and big.l7.latency_ns == 2**64 - 1
    ports = decoded({"l4": {"UDP": {"source_port": "53", "destination_port": 5353.0}}})
    assert ports.l4 is not None and ports.l4.ports == (53, 5353) and ports.l4.protocol == "UDP"
    assert decoded({"event_type": {"type": 1, "sub_type": -1}}).event_type is not None


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:01.5Z", 1_500_000_000),
        ("1970-01-01T00:00:01.123Z", 1_123_000_000),
        ("1970-01-01T00:00:01.123456Z", 1_123_456_000),
        ("1970-01-01T00:00:01.123456789Z", 1_123_456_789),
        ("1970-01-01T02:00:01.000000001+02:00", 1_000_000_001),
        ("1969-12-31t23:00:00-01:00", 0),
        ("1969-12-31T23:59:59.999999999Z", -1),
        ("2021-11-10T10:41:26.095336300Z", 1636540886_095336300),
    ],
)
def test_timestamps_keep_nanoseconds(text: str, nanos: int) -> None:
    assert decoded({"time": text, "verdict": 1}).time == nanos


def test_nulls_and_missing_are_defaults() -> None:
    flow = decoded({"verdict": None, "IP": None, "source": None, "is_reply": None, "time": None})
    assert flow == Flow()
    assert flow.is_reply is None and decoded({"is_reply": False}).is_reply is False


def test_policy_correlation_and_newer_fields() -> None:
    # Shape of a v1.19 policy-verdict line (fields from flow.proto; see hubble.md §1, §6).
    line = {
        "flow": {
            "time": "2026-02-24T08:43:39.070396373Z",
            "uuid": "d54c1e24-8985-4710-b275-b19b15aed350",
            "emitter": {"name": "Hubble", "version": "1.19.1+gd0d0c879"},
            "verdict": "DROPPED",
            "drop_reason": 181,
            "drop_reason_desc": "POLICY_DENY",
            "IP": {"source": "10.0.0.1", "destination": "203.0.113.7", "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": 40000, "destination_port": 443, "flags": {"SYN": True}}},
            "source": {
                "ID": 12,
                "identity": 4242,
                "cluster_name": "prod-eu",
                "namespace": "default",
                "labels": ["k8s:app=client"],
                "pod_name": "client-0",
                "workloads": [{"name": "client", "kind": "StatefulSet"}],
            },
            "destination": {"identity": 2, "labels": ["reserved:world"]},
            "destination_names": ["example.com"],
            "Type": "L3_L4",
            "node_name": "prod-eu/worker-1",
            "node_labels": ["kubernetes.io/os=linux"],
            "event_type": {"type": 5},
            "traffic_direction": "EGRESS",
            "policy_match_type": 2,
            "is_reply": False,
            "interface": {"index": 2, "name": "eth0"},
            "egress_denied_by": [
                {
                    "name": "deny-world",
                    "namespace": "default",
                    "labels": ["k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy"],
                    "revision": "6",
                    "kind": "CiliumNetworkPolicy",
                }
            ],
            "policy_log": [""],
            "Summary": "TCP Flags: SYN",
        },
        "node_name": "prod-eu/worker-1",
        "time": "2026-02-24T08:43:39.070396373Z",
    }
    flow = decoded(line)
    assert flow.uuid == "d54c1e24-8985-4710-b275-b19b15aed350"
    assert flow.is_policy_verdict and flow.policy_match_type == 2
    assert (flow.drop_reason, flow.drop_reason_desc) == (181, DropReason.POLICY_DENY)
    assert flow.source.cluster_name == "prod-eu"
    assert flow.source.workloads == (Workload("client", "StatefulSet"),)
    assert flow.destination_names == ("example.com",)
    assert flow.is_reply is False and flow.Type is FlowType.L3_L4
    assert flow.egress_denied_by == (
        Policy(
            name="deny-world",
            namespace="default",
            labels=("k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy",),
            revision=6,
            kind="CiliumNetworkPolicy",
        ),
    )
    assert flow.egress_allowed_by == flow.ingress_allowed_by == flow.ingress_denied_by == ()
    assert hash(flow) == hash(decoded(line))  # frozen values: hashable, equal by content
    with pytest.raises(dataclasses.FrozenInstanceError):
        flow.uuid = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (
            {"node_status": {"state_change": "NODE_UNAVAILABLE", "node_names": ["n1"]}},
            "node_status",
        ),
        ({"nodeStatus": {"stateChange": "NODE_CONNECTED"}, "nodeName": "n1"}, "node_status"),
        ({"lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": "7"}}, "lost_events"),
        ({"agent_event": {"type": "ENDPOINT_CREATED"}, "node_name": "n1"}, "agent_event"),
        ({"debug_event": {"type": "DBG_CAPTURE_DELIVERY"}}, "debug_event"),
    ],
)
def test_non_flow_events_are_skipped_by_kind(line: dict[str, Any], kind: str) -> None:
    assert decode_object(line) == Skipped(kind)


def test_decode_text_accepts_str_and_bytes() -> None:
    lines = [json.dumps(obj) for obj in sample_objects("hubble-otel-basic-sample-10-flows.jsonl")]
    text = "\n".join(lines) + "\n"
    as_str = decode_text(text, "flows.jsonl")
    as_bytes = decode_text(text.encode(), "flows.jsonl")
    assert as_str.flows == as_bytes.flows and len(as_str.flows) == 10
    assert as_str.lines == as_bytes.lines == 10 and as_str.ok
    crlf = decode_text(text.replace("\n", "\r\n").encode())
    assert crlf.flows == as_str.flows and crlf.lines == 10
    bom = decode_text(b"\xef\xbb\xbf" + text.encode())
    assert bom.flows == as_str.flows and bom.ok
