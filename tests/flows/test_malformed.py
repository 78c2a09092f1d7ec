"""Malformed input: every bad line is counted and located; the good lines around it decode."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwarden.flows import DecodeResult, FlowStream, decode_lines, decode_path, decode_text
from netwarden.model.diagnostics import Severity
from tests.flows.samples import sample_lines

GOOD = sample_lines("hubble-otel-basic-sample-10-flows.jsonl")


def errors(result: DecodeResult) -> list[tuple[int | None, str, str]]:
    """(line, code, field path) of every error."""
    assert all(d.severity is Severity.ERROR for d in result.errors)
    return [(d.location.line, d.code, d.location.path) for d in result.errors]


def test_bad_json() -> None:
    result = decode_lines([GOOD[0], '{"flow": {"verdict": "FORWARDED",}}', GOOD[1]], "bad.jsonl")
    assert errors(result) == [(2, "json-syntax", "")]
    assert len(result.flows) == 2 and result.lines == 3
    message = str(result.errors[0])
    assert message.startswith("bad.jsonl:2: error: invalid JSON: ")
    assert "column 34" in message


def test_flow_whose_ip_is_a_number() -> None:
    bad = json.loads(GOOD[2])
    bad["flow"]["IP"] = 167772161
    bare = dict(json.loads(GOOD[3])["flow"], IP=42)
    result = decode_lines([GOOD[0], json.dumps(bad), GOOD[1], json.dumps(bare), GOOD[4]], "f")
    assert errors(result) == [(2, "flow-field", "flow.IP"), (4, "flow-field", "IP")]
    assert (
        str(result.errors[0]) == "f:2 flow.IP: error: expected an object, got number (flow-field)"
    )
    assert [f.IP.source for f in result.flows if f.IP] == [
        json.loads(GOOD[i])["flow"]["IP"]["source"] for i in (0, 1, 4)
    ]


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"source": {"labels": ["k8s:a=b", 7]}}, "flow.source.labels[1]", "expected a string"),
        ({"l4": {"TCP": {"destination_port": -1}}}, "flow.l4.TCP.destination_port", "out of range"),
        ({"l4": {"TCP": {"source_port": "80x"}}}, "flow.l4.TCP.source_port", "an integer"),
        ({"l4": {"UDP": {"source_port": 1.5}}}, "flow.l4.UDP.source_port", "an integer"),
        ({"l4": {"TCP": {"flags": {"SYN": "yes"}}}}, "flow.l4.TCP.flags.SYN", "true or false"),
        ({"verdict": ["DROPPED"]}, "flow.verdict", "an enum name or number"),
        ({"verdict": True}, "flow.verdict", "an enum name or number"),
        ({"time": "2021-13-01T00:00:00Z"}, "flow.time", "invalid timestamp"),
        ({"time": "yesterday"}, "flow.time", "invalid RFC 3339 timestamp"),
        ({"time": 1634567890}, "flow.time", "an RFC 3339 timestamp string"),
        ({"l7": {"http": {"headers": ["Accept"]}}}, "flow.l7.http.headers[0]", "an object"),
        ({"l7": {"latency_ns": str(2**64)}}, "flow.l7.latency_ns", "out of range"),
        ({"egress_allowed_by": [{"revision": "x"}]}, "flow.egress_allowed_by[0].revision", ""),
        ({"source": {"workloads": {"name": "w"}}}, "flow.source.workloads", "an array"),
        ({"is_reply": 0}, "flow.is_reply", "true or false"),
        ({"Summary": {"text": "x"}}, "flow.Summary", "a string"),
    ],
)
def test_wrong_types_are_located(change: dict[str, object], path: str, message: str) -> None:
    bad = json.loads(GOOD[5])
    bad["flow"].update(change)
    result = decode_lines([GOOD[4], json.dumps(bad), GOOD[6]])
    assert errors(result) == [(2, "flow-field", path)]
    assert message in result.errors[0].message
    assert len(result.flows) == 2


def test_truncated_line() -> None:
    text = "\n".join(GOOD[:3]) + "\n" + GOOD[3][: len(GOOD[3]) // 2]  # cut mid-write
    result = decode_text(text.encode(), "cut.jsonl")
    assert errors(result) == [(4, "json-syntax", "")]
    assert len(result.flows) == 3 and result.lines == 4
    middle = decode_text("\n".join([GOOD[0], GOOD[1][:-1], GOOD[2]]))
    assert errors(middle) == [(2, "json-syntax", "")] and len(middle.flows) == 2


def test_empty_lines_are_counted_not_errors() -> None:
    lines = ["", GOOD[0], "   ", "\t\r", GOOD[1], "", "{", GOOD[2]]
    result = decode_lines(lines)
    assert result.skipped == {"empty": 4}
    assert errors(result) == [(7, "json-syntax", "")]  # line numbers count the empty lines
    assert len(result.flows) == 3 and result.lines == 8


def test_non_flow_lines_are_counted_by_kind() -> None:
    lines = [
        '{"node_status":{"state_change":"NODE_UNAVAILABLE","node_names":["kind-worker"]}}',
        GOOD[0],
        '{"lost_events":{"source":"PERF_EVENT_RING_BUFFER","num_events_lost":"3","cpu":1}}',
        '{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"1"},"node_name":"n"}',
        '{"agentEvent":{"type":"AGENT_STARTED"},"nodeName":"n"}',
        GOOD[1],
        '{"debug_event":{"type":"DBG_GENERIC"}}',
    ]
    result = decode_lines(lines)
    assert result.errors == []
    assert result.skipped == {
        "lost_events": 2,
        "node_status": 1,
        "agent_event": 1,
        "debug_event": 1,
    }
    assert len(result.flows) == 2 and result.lines == 7


@pytest.mark.parametrize(
    ("line", "code", "message"),
    [
        ("[1, 2]", "not-an-object", "expected a JSON object, got array"),
        ('"flow"', "not-an-object", "got string"),
        ("null", "not-an-object", "got null"),
        ("{}", "flow-field", "neither a flow nor a Hubble event"),
        ('{"kind": "Pod"}', "flow-field", "neither a flow nor a Hubble event"),
        ('{"node_name": "n", "time": "2021-01-01T00:00:00Z"}', "flow-field", "neither a flow"),
        ('{"flow": 3}', "flow-field", "expected an object, got number"),
        ('{"flow": {}, "time": 5}', "flow-field", "an RFC 3339 timestamp string"),
        ('{"flow": {}, "node_name": ["n"]}', "flow-field", "expected a string"),
        ("[" * 100_000, "json-syntax", "invalid JSON"),
        ('{"policy_match_type": 1e999999}', "flow-field", "expected an integer"),
        ('{"verdict": NaN}', "flow-field", "an enum name or number"),
        ('{"verdict": ' + "9" * 5000 + "}", "json-syntax", "invalid JSON"),
    ],
)
def test_lines_that_are_no_flow(line: str, code: str, message: str) -> None:
    result = decode_lines([GOOD[0], line, GOOD[1]])
    assert [(d.location.line, d.code) for d in result.errors] == [(2, code)]
    assert message in result.errors[0].message
    assert len(result.flows) == 2


def test_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    file = tmp_path / "flows.jsonl"
    file.write_bytes(b"\n".join([GOOD[0].encode(), b'{"flow": {"uuid": "\xff\xfe"}}', b"", b""]))
    result = decode_path(file)
    assert errors(result) == [(2, "not-utf8", "")]
    assert result.errors[0].location.file == str(file)
    assert len(result.flows) == 1 and result.skipped == {"empty": 1}


def test_missing_file_is_a_diagnostic(tmp_path: Path) -> None:
    result = decode_path(tmp_path / "nope.jsonl")
    assert [d.code for d in result.errors] == ["no-such-file"] and result.flows == []
    assert [d.code for d in decode_path(tmp_path).errors] == ["unreadable"]


def test_stream_counts_as_it_goes_and_survives_read_errors() -> None:
    def lines() -> Iterator[bytes]:
        yield GOOD[0].encode()
        yield b""
        yield b"{oops"
        yield GOOD[1].encode()
        raise OSError("connection reset")

    stream = FlowStream(lines(), "live")
    seen = []
    for flow in stream:
        seen.append(flow)
        if len(seen) == 1:
            assert (stream.lines, dict(stream.skipped), stream.errors) == (1, {}, [])
    assert len(seen) == 2 and stream.lines == 4 and stream.skipped == {"empty": 1}
    assert [(d.location.line, d.code) for d in stream.errors] == [
        (3, "json-syntax"),
        (5, "unreadable"),
    ]
    assert "connection reset" in stream.errors[1].message


def test_text_mode_file_with_bad_encoding_does_not_raise() -> None:
    raw = GOOD[0].encode() + b"\n\xff\xff\n" + GOOD[1].encode() + b"\n"
    text_file = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    result = FlowStream(text_file, "t").result()
    assert [d.code for d in result.errors] == ["unreadable"]
