"""Hypothesis: no input makes the decoder raise, and every line is accounted for exactly once."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwarden.flows import Skipped, decode_line, decode_lines, decode_text
from netwarden.model.diagnostics import Diagnostic
from netwarden.model.flow import Flow
from tests.flows.samples import EXPECTED, sample_lines

SAMPLE_LINES = [line for name in sorted(EXPECTED) for line in sample_lines(name)]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FLOW_KEYS = ["flow", "verdict", "IP", "l4", "source", "time", "node_name", "l7", "lost_events"]
flowish = st.dictionaries(st.sampled_from(FLOW_KEYS) | st.text(max_size=6), json_values, max_size=6)


def check(result: object, line_number: int = 1) -> None:
    assert isinstance(result, Flow | Skipped | Diagnostic)
    if isinstance(result, Diagnostic):
        assert result.location.line == line_number


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    check(decode_line(data, line_number=7), 7)
    result = decode_text(data)
    assert len(result.flows) + sum(result.skipped.values()) + len(result.errors) == result.lines


@FUZZ
@given(st.text(max_size=200))
def test_random_text_never_raises(text: str) -> None:
    check(decode_line(text))


@FUZZ
@given(json_values | flowish)
def test_random_json_values_never_raise(value: Any) -> None:
    check(decode_line(json.dumps(value)))
    check(decode_line(json.dumps({"flow": value})))


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += paths(item, (*prefix, index))
    return out


def path_text(path: tuple[str | int, ...]) -> str:
    return "".join(
        f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path)
    )


@FUZZ
@given(st.sampled_from(SAMPLE_LINES), st.data())
def test_a_mutated_real_flow_fails_only_at_the_mutation(line: str, data: st.DataObject) -> None:
    obj = json.loads(line)
    path = data.draw(st.sampled_from(paths(obj)))
    replacement = data.draw(json_values)
    parent = obj
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = replacement
    result = decode_line(json.dumps(obj), line_number=3)
    check(result, 3)
    if isinstance(result, Diagnostic):
        assert result.code == "flow-field"
        where = result.location.path
        # The error is at the mutated field or inside it, never elsewhere (a flow
        # replaced by null leaves an envelope without a flow: reported at the line).
        assert where.startswith(path_text(path)) or (path == ("flow",) and where == "")
    else:
        assert isinstance(result, Flow)


@FUZZ
@given(
    st.lists(
        st.sampled_from(SAMPLE_LINES[:40])
        | st.sampled_from(["", "  ", "{", "[]", '{"lost_events":{}}', '{"flow":{"IP":1}}'])
        | st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=20),
        max_size=30,
    )
)
def test_every_line_is_a_flow_a_skip_or_an_error(lines: list[str]) -> None:
    result = decode_lines(lines, "mix.jsonl")
    assert result.lines == len(lines)
    assert len(result.flows) + sum(result.skipped.values()) + len(result.errors) == len(lines)
    outcomes = [decode_line(line, line_number=i) for i, line in enumerate(lines, start=1)]
    assert [o for o in outcomes if isinstance(o, Flow)] == result.flows
    assert [o.location.line for o in outcomes if isinstance(o, Diagnostic)] == [
        d.location.line for d in result.errors
    ]
