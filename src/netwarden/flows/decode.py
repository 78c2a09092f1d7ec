"""Decode Hubble flow JSON lines (``hubble observe -o json|jsonpb``, bare flows, exporter files).

Every line is one of:

- a ``GetFlowsResponse`` / ``ExportEvent`` holding a flow:
  ``{"flow": {...}, "node_name": ..., "time": ...}`` (the envelope's ``node_name`` and
  ``time`` fill in when the flow lacks them);
- a bare ``Flow`` object (``hubble observe -o json`` before v0.11, or with
  ``HUBBLE_COMPAT=legacy-json-output``);
- a non-flow event (``node_status``, ``lost_events``, ``agent_event``, ``debug_event``):
  skipped and counted by kind;
- an empty line: skipped and counted as ``empty``;
- anything else (bad JSON, not UTF-8, not an object, no flow or event, a field of the
  wrong type): an error :class:`Diagnostic` with the file, line number and field path.

No line is fatal and none is dropped without a count. See ``docs/design/flows.md``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

from netwarden.flows.flowjson import (
    FieldError,
    Obj,
    flow_from_json,
    json_kind,
    read_str,
    read_time,
)
from netwarden.model.diagnostics import Diagnostic, Location, Severity
from netwarden.model.flow import Flow

# Exporter / relay events that are not flows, by JSON key (proto name and alias) -> kind.
NON_FLOW_EVENTS = {
    "node_status": "node_status",
    "nodeStatus": "node_status",
    "lost_events": "lost_events",
    "lostEvents": "lost_events",
    "agent_event": "agent_event",
    "agentEvent": "agent_event",
    "debug_event": "debug_event",
    "debugEvent": "debug_event",
}

# Keys of flow.Flow (proto names and json_name aliases) other than ``time`` and
# ``node_name``, which a GetFlowsResponse envelope also has: an object with one
# of these at top level is a bare (legacy ``-o json``) flow.
FLOW_ONLY_KEYS = frozenset(
    {
        "verdict", "drop_reason", "dropReason", "ethernet", "IP", "l4", "source",
        "destination", "Type", "source_names", "sourceNames", "destination_names",
        "destinationNames", "l7", "reply", "event_type", "eventType", "source_service",
        "sourceService", "destination_service", "destinationService", "traffic_direction",
        "trafficDirection", "policy_match_type", "policyMatchType",
        "trace_observation_point", "traceObservationPoint", "drop_reason_desc",
        "dropReasonDesc", "is_reply", "isReply", "debug_capture_point",
        "debugCapturePoint", "interface", "proxy_port", "proxyPort", "trace_context",
        "traceContext", "sock_xlate_point", "sockXlatePoint", "socket_cookie",
        "socketCookie", "cgroup_id", "cgroupId", "uuid", "auth_type", "authType",
        "trace_reason", "traceReason", "node_labels", "nodeLabels", "file", "tunnel",
        "ip_trace_id", "ipTraceId", "emitter", "egress_allowed_by", "egressAllowedBy",
        "ingress_allowed_by", "ingressAllowedBy", "egress_denied_by", "egressDeniedBy",
        "ingress_denied_by", "ingressDeniedBy", "policy_log", "policyLog", "aggregate",
        "Summary", "extensions",
    }
)  # fmt: skip
EMPTY = "empty"
_JSON_SPACE = " \t\r\n"
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A line that holds no flow, on purpose: ``kind`` is ``empty`` or a non-flow event name."""

    kind: str


Decoded = Flow | Skipped | Diagnostic


@dataclass(slots=True)
class DecodeResult:
    """Everything decoded from one input: flows, skipped lines by kind, located errors."""

    flows: list[Flow] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[Diagnostic] = field(default_factory=list)
    lines: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def decode_line(line: str | bytes, *, file: str = "<input>", line_number: int = 1) -> Decoded:
    """Decode one line; never raises for any input."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            message = f"not UTF-8: {exc.reason} at byte {exc.start + 1}"
            return _error("not-utf8", message, file, line_number)
    if not line or (line[0] in _JSON_SPACE and not line.strip(_JSON_SPACE)):
        return Skipped(EMPTY)
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        message = f"invalid JSON: {exc.msg} (column {exc.colno})"
        return _error("json-syntax", message, file, line_number)
    except (ValueError, RecursionError) as exc:
        return _error("json-syntax", f"invalid JSON: {exc}", file, line_number)
    if not isinstance(value, dict):
        message = f"expected a JSON object, got {json_kind(value)}"
        return _error("not-an-object", message, file, line_number)
    try:
        return decode_object(value)
    except FieldError as exc:
        return _error("flow-field", exc.message, file, line_number, exc.path)


def decode_object(obj: Obj) -> Flow | Skipped:
    """Decode one parsed line (envelope, bare flow or non-flow event); FieldError if malformed."""
    inner = obj.get("flow")
    if inner is not None:
        if not isinstance(inner, dict):
            raise FieldError("flow", f"expected an object, got {json_kind(inner)}")
        return _enveloped_flow(obj, inner)
    for key in obj:
        kind = NON_FLOW_EVENTS.get(key)
        if kind is not None:
            return Skipped(kind)
    if FLOW_ONLY_KEYS.isdisjoint(obj):
        raise FieldError("", "neither a flow nor a Hubble event (no flow field)")
    return flow_from_json(obj)


def _enveloped_flow(envelope: Obj, inner: Obj) -> Flow:
    node = envelope.get("node_name")
    if node is None:
        node = envelope.get("nodeName")
    node_name = "" if node is None else read_str(node, "", "node_name")
    time_text = envelope.get("time")
    time = None
    if time_text is not None and time_text != inner.get("time"):
        time = read_time(time_text, "", "time")  # usually a copy of flow.time: parse that once
    return flow_from_json(inner, "flow", node_name, time)


def _error(code: str, message: str, file: str, line: int, path: str = "") -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, Location(file, None, line, path))


class FlowStream:
    """Lazily decode lines (``str`` or ``bytes``, e.g. a file object) into flows.

    Iterating yields the flows; ``lines``, ``skipped`` and ``errors`` grow as lines
    are read, so a long-running consumer can report them at any time. The source
    is read once: iterating again continues where the last iteration stopped.
    A read error (I/O, or undecodable text from a text-mode file) ends the stream
    with an ``unreadable`` diagnostic instead of raising.
    """

    def __init__(
        self,
        lines: Iterable[str | bytes],
        file: str = "<input>",
        *,
        keep_text: bool = False,
        first_line: int = 1,
    ) -> None:
        self.file = file
        self.first_line = first_line  # the number of the first line (a part of a file)
        self.lines = 0
        self.skipped: Counter[str] = Counter()
        self.errors: list[Diagnostic] = []
        # With ``keep_text``: the text of each flow's line, in flow order (see
        # ``decode_lines_with_text``).
        self.texts: list[str] | None = [] if keep_text else None
        self._source = iter(lines)

    def __iter__(self) -> Iterator[Flow]:
        try:
            for raw in self._source:
                self.lines += 1
                number = self.first_line + self.lines - 1
                line = _strip_bom(raw) if number == 1 else raw
                decoded = decode_line(line, file=self.file, line_number=number)
                if isinstance(decoded, Flow):
                    if self.texts is not None:  # it decoded, so it is UTF-8
                        self.texts.append(line if isinstance(line, str) else line.decode())
                    yield decoded
                elif isinstance(decoded, Skipped):
                    self.skipped[decoded.kind] += 1
                else:
                    self.errors.append(decoded)
        except (OSError, UnicodeDecodeError) as exc:
            message = f"cannot read: {exc}"
            number = self.first_line + self.lines
            self.errors.append(_error("unreadable", message, self.file, number))

    def result(self) -> DecodeResult:
        """Decode the lines not read yet; their flows with every count so far."""
        flows = list(self)
        return DecodeResult(flows, self.skipped, self.errors, self.lines)


def _strip_bom(raw: str | bytes) -> str | bytes:
    if isinstance(raw, bytes):
        return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    return raw[1:] if raw.startswith(_BOM) else raw


def decode_lines(
    lines: Iterable[str | bytes], file: str = "<input>", *, first_line: int = 1
) -> DecodeResult:
    """Decode every line of an iterable (list of strings, file object, ...); diagnostics
    number the lines from ``first_line`` (a part of a longer file)."""
    return FlowStream(lines, file, first_line=first_line).result()


def decode_lines_with_text(
    lines: Iterable[str | bytes], file: str = "<input>"
) -> tuple[DecodeResult, list[str]]:
    """``decode_lines``, and the text of each flow's line (``texts[i]`` holds
    ``flows[i]``; bytes decoded, a first-line byte-order mark removed): a store may keep
    that text as the flow's ``raw``, since ``flow_columns.flow_from_raw`` replays it to
    the same flow, instead of encoding the flow again."""
    stream = FlowStream(lines, file, keep_text=True)
    result = stream.result()
    assert stream.texts is not None
    return result, stream.texts


def decode_text(text: str | bytes, file: str = "<input>") -> DecodeResult:
    """Decode a whole document held in memory (lines split on ``\\n`` only)."""
    lines: list[str] | list[bytes]
    if isinstance(text, bytes):
        lines = text.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
    else:
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
    return decode_lines(lines, file)


def decode_file(fp: BinaryIO | TextIO, file: str | None = None) -> DecodeResult:
    """Decode an open file (binary mode preferred: bad UTF-8 is then a per-line error)."""
    name = file if file is not None else str(getattr(fp, "name", "<input>"))
    return decode_lines(fp, name)


def decode_path(path: str | Path) -> DecodeResult:
    """Decode a file by path; ``-`` is standard input. A missing file is an error, not a raise."""
    if str(path) == "-":
        return decode_file(sys.stdin.buffer, "<stdin>")
    try:
        with open(path, "rb") as fp:
            return decode_file(fp, str(path))
    except FileNotFoundError:
        code, message = "no-such-file", "no such file or directory"
    except OSError as exc:
        code, message = "unreadable", f"cannot read: {exc}"
    return DecodeResult(errors=[Diagnostic(code, Severity.ERROR, message, Location(str(path)))])
