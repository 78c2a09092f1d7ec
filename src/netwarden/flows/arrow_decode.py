"""Hubble JSON lines straight to Arrow tables of the store's columns: the bulk ingest path.

``decode_arrow(data)`` reads a block of lines with ``pyarrow.json`` and an explicit schema
of the Hubble fields we keep (``arrow_schema.ENVELOPE_SCHEMA`` for lines that start with
``{"flow":``, ``BARE_SCHEMA`` for the others) and computes the store's
columns (``flow_columns.ARROW_SCHEMA``) with ``pyarrow.compute`` (``arrow_columns``),
without a Python object per flow. The result equals what ``flow_columns.flow_table`` makes
of ``decode.decode_lines`` for the same lines, row for row, with the same skip counts and
the same located diagnostics (a test checks it), because whatever the fast path cannot
vouch for goes to the exact per-line decoder instead:

- lines that are not one plain JSON object (blank, not ``{...}``, nesting deeper than
  ``MAX_BRACKETS``, integers longer than Python parses, invalid UTF-8) are decoded
  exactly, one by one;
- a piece of lines that ``pyarrow.json`` rejects (malformed JSON, an enum given as a
  number, any value of an unexpected type) is split in halves until the bad lines are
  found; pieces of ``MIN_PIECE`` lines or fewer are decoded exactly;
- rows that read fine but that the columns would not reproduce exactly (no uuid, hence a
  content hash of the canonical JSON; a non-flow event; a field alias; an out-of-range
  integer; an unusual timestamp; an envelope whose node name or time fills in the flow's)
  are decoded exactly.

``raw`` holds the line as it came (an envelope or a bare flow) or, for an exactly decoded
flow, its canonical JSON; ``flow_columns.flow_from_raw`` replays both to the same flow.
(Cutting the ``flow`` object out of an envelope line would need a second parse to prove
where it ends.) See ``docs/design/flows.md`` ("Bulk ingest").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from time import time_ns
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from netwarden.flows.arrow_columns import store_table
from netwarden.flows.arrow_schema import BARE_SCHEMA, ENVELOPE_SCHEMA, nonfinite_rows, true_mask
from netwarden.flows.decode import FLOW_ONLY_KEYS, NON_FLOW_EVENTS, Skipped, decode_line
from netwarden.flows.flow_columns import ARROW_SCHEMA, flows_table
from netwarden.model.diagnostics import Diagnostic, Location, Severity
from netwarden.model.flow import Flow

DEFAULT_BLOCK_BYTES = 32 << 20
MIN_PIECE = 32  # a rejected piece this small is decoded exactly, line by line
MAX_BRACKETS = 256  # more '{' + '[' in a line: it might nest deeper than json.loads allows
_MAX_INT_DIGITS = 4300  # Python's int parsing limit (sys.get_int_max_str_digits)
_LONG_INTEGER = re.compile(rb"[0-9]{%d}" % (_MAX_INT_DIGITS + 1))
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{[\n")
_ENVELOPE = pj.ParseOptions(explicit_schema=ENVELOPE_SCHEMA, unexpected_field_behavior="infer")
_BARE = pj.ParseOptions(explicit_schema=BARE_SCHEMA, unexpected_field_behavior="infer")
_ENVELOPE_HEAD = '{"flow":'


@dataclass(slots=True)
class ArrowDecodeResult:
    """One input decoded to columns: the flows as an Arrow table of ``ARROW_SCHEMA``
    (``seq`` holds the line number), skipped lines by kind, located errors, and how many
    lines the exact decoder handled (``exact_lines``; the rest took the fast path)."""

    table: Any
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[Diagnostic] = field(default_factory=list)
    lines: int = 0
    exact_lines: int = 0

    @property
    def flows(self) -> int:
        return int(self.table.num_rows)

    @property
    def ok(self) -> bool:
        return not self.errors


def decode_arrow(
    data: bytes,
    file: str = "<input>",
    *,
    first_line: int = 1,
    cluster: str | None = None,
    now: int | None = None,
) -> ArrowDecodeResult:
    """Decode lines held in memory (split on ``\\n`` only, as ``decode.decode_text``).

    ``first_line`` numbers the first line (a block of a longer file); ``cluster`` overrides
    the observing cluster and ``now`` (ns) dates flows without a time, as in ``flow_table``.
    """
    if first_line == 1 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    ingest = now if now is not None else time_ns()
    return _Block(data, len(data), file, first_line, cluster, ingest).decode()


def iter_decode_arrow(
    source: BinaryIO,
    file: str = "<input>",
    *,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    cluster: str | None = None,
    now: int | None = None,
) -> Iterator[ArrowDecodeResult]:
    """Decode a binary stream block by block (about ``block_bytes`` of whole lines each),
    numbering lines across blocks: one result per block, for bounded memory."""
    line = 1
    carry = b""
    ingest = now if now is not None else time_ns()
    seekable = source.seekable()
    while True:
        chunk = source.read(block_bytes)
        data = carry + chunk if carry else chunk  # carry: the partial last line
        if not chunk:
            if data:
                yield decode_arrow(data, file, first_line=line, cluster=cluster, now=ingest)
            return
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        if seekable and not carry:  # read the partial line again rather than copy
            source.seek(cut - len(data), 1)
        else:
            carry = data[cut:]
        if line == 1 and data.startswith(b"\xef\xbb\xbf"):
            data, cut = data[3:], cut - 3
        result = _Block(data, cut, file, line, cluster, ingest).decode()
        line += result.lines
        yield result


def decode_arrow_path(path: str | Path, **options: Any) -> ArrowDecodeResult:
    """Decode a whole file into one table (``iter_decode_arrow`` keeps memory bounded)."""
    with open(path, "rb") as fp:
        parts = list(iter_decode_arrow(fp, str(path), **options))
    return concat_results(parts)


def concat_results(parts: list[ArrowDecodeResult]) -> ArrowDecodeResult:
    """Several results (consecutive blocks) as one."""
    out = ArrowDecodeResult(pa.concat_tables([p.table for p in parts] or [_empty()]))
    for part in parts:
        out.skipped.update(part.skipped)
        out.errors += part.errors
        out.lines += part.lines
        out.exact_lines += part.exact_lines
    return out


class _Block:
    """One block of whole lines: which take the fast path, which the exact one."""

    def __init__(self, data: bytes, end: int, file: str, first: int, cluster: str | None, now: int):
        """The lines of ``data[:end]`` (``data`` itself is not copied)."""
        self.data, self.end, self.file, self.first = data, end, file, first
        self.cluster, self.now = cluster, now
        self.lines = _split(data, end)
        self.tables: list[Any] = []
        self.exact: list[Any] = []  # arrays of line indices (0-based in the block)

    def decode(self) -> ArrowDecodeResult:
        count = len(self.lines)
        eligible = _eligible(self.data, self.lines) if count else np.zeros(0, dtype=bool)
        envelope = true_mask(pc.starts_with(self.lines, _ENVELOPE_HEAD))
        self.exact.append(np.flatnonzero(~eligible))
        for parse, lines in ((_ENVELOPE, eligible & envelope), (_BARE, eligible & ~envelope)):
            piece = np.flatnonzero(lines)
            if len(piece):
                self._fast(piece, parse, whole=len(piece) == count)
        exact = np.sort(np.concatenate(self.exact))
        result = self._exact(exact)
        result.lines = count
        result.exact_lines = len(exact)
        return result

    def _fast(self, piece: Any, parse: Any, whole: bool = False) -> None:
        """Read a piece of eligible lines; on rejection, split it or decode it exactly."""
        try:
            if whole:
                data = pa.py_buffer(self.data).slice(0, self.end)
            else:
                data = _joined(pc.take(self.lines, pa.array(piece)))
            table = _read(data, parse)
            if table.num_rows != len(piece):
                raise _Misaligned
            # pyarrow 26 can infer a list whose first items are null as an invalid array
            # (offsets past its values): check everything before reading any of it.
            table.validate(full=True)
            # One batch: the per-call cost of the column kernels is paid once per piece.
            batch = table.combine_chunks().to_batches()[0]
            good, bad_rows = self._columns(batch, piece, parse is _ENVELOPE)
        except (pa.ArrowException, _Misaligned):
            if len(piece) <= MIN_PIECE:
                self.exact.append(piece)
                return
            half = len(piece) // 2
            self._fast(piece[:half], parse)
            self._fast(piece[half:], parse)
            return
        self.tables.append(good)
        self.exact.append(bad_rows)

    def _columns(self, batch: Any, rows: Any, envelope: bool) -> tuple[Any, Any]:
        """The store columns of the rows that pass every check, and the other rows' lines."""
        if rows[-1] - rows[0] + 1 == len(rows):
            lines = self.lines.slice(int(rows[0]), len(rows))
        else:
            lines = pc.take(self.lines, pa.array(rows))
        flows, env_node, env_time, flow_rows = (_enveloped if envelope else _bare)(batch)
        raw = lines.cast(pa.string())
        seq = pa.array(rows + self.first, pa.int64())
        table, bad = store_table(flows, env_node, env_time, raw, seq, self.now, self.cluster)
        bad |= ~flow_rows
        if not bad.any():
            return table, np.zeros(0, dtype=np.int64)
        return table.filter(pa.array(~bad)), rows[bad]

    def _exact(self, rows: Any) -> ArrowDecodeResult:
        """Decode lines one by one with ``decode.decode_line``; merge with the fast tables."""
        result = ArrowDecodeResult(None)
        flows: list[Flow] = []
        numbers: list[int] = []
        for index in rows.tolist():
            number = index + self.first
            decoded = decode_line(self.lines[index].as_py(), file=self.file, line_number=number)
            if isinstance(decoded, Flow):
                flows.append(decoded)
                numbers.append(number)
            elif isinstance(decoded, Skipped):
                result.skipped[decoded.kind] += 1
            else:
                result.errors.append(decoded)
        if flows:
            self.tables.append(self._exact_table(flows, numbers, result.errors))
        result.errors.sort(key=lambda d: d.location.line or 0)
        result.table = _in_line_order(self.tables)
        return result

    def _exact_table(self, flows: list[Flow], numbers: list[int], errors: list[Any]) -> Any:
        try:
            return flows_table(flows, numbers, self.cluster, self.now)
        except (pa.ArrowException, OverflowError, UnicodeError):
            pass  # one flow the store cannot hold (a time past 2262, a lone surrogate)
        tables = []
        for flow, number in zip(flows, numbers, strict=True):
            try:
                tables.append(flows_table([flow], [number], self.cluster, self.now))
            except (pa.ArrowException, OverflowError, UnicodeError) as exc:
                message = f"flow cannot be stored: {exc}"
                where = Location(self.file, None, number, "flow")
                errors.append(Diagnostic("flow-field", Severity.ERROR, message, where))
        return pa.concat_tables(tables or [_empty()])


class _Misaligned(Exception):
    """pyarrow read more or fewer objects than the piece has lines."""


def _split(data: bytes, end: int) -> Any:
    """The lines of ``data[:end]`` as a BinaryArray (no empty line after a last ``\\n``)."""
    if not end:
        return pa.array([], pa.binary())
    offsets = pa.array([0, end], pa.int32()).buffers()[1]
    whole = pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(data)])
    lines = pc.split_pattern(whole, "\n").values
    return lines.slice(0, len(lines) - 1) if data[end - 1 : end] == b"\n" else lines


def _joined(lines: Any) -> Any:
    """Some lines as one buffer, one per line."""
    offsets = pa.array([0, len(lines)], pa.int32())
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, lines), b"\n")
    return pa.py_buffer(joined[0].as_py() + b"\n")


def _read(data: Any, parse: Any) -> Any:
    """``pyarrow.json`` over a buffer, in blocks of up to 4 MB read by parallel threads."""
    block = max(1 << 20, min(4 << 20, data.size // 2 + 1))
    options = pj.ReadOptions(use_threads=True, block_size=block)
    return pj.read_json(pa.BufferReader(data), read_options=options, parse_options=parse)


def _eligible(data: bytes, lines: Any) -> Any:
    """Lines the fast path may read: ``{...}`` objects with nothing ``json.loads`` would
    read differently (see the module docstring). Cheap, vectorized, conservative."""
    ok = true_mask(pc.starts_with(lines, "{")) & true_mask(pc.ends_with(lines, "}"))
    brackets = data.translate(None, _NOT_BRACKETS).split(b"\n")
    if max(map(len, brackets)) > MAX_BRACKETS:
        ok &= np.fromiter(map(len, brackets[: len(lines)]), np.int64, len(lines)) <= MAX_BRACKETS
    lengths = pc.binary_length(lines).to_numpy()
    for index in np.flatnonzero(ok & (lengths > _MAX_INT_DIGITS)).tolist():
        ok[index] = _LONG_INTEGER.search(lines[index].as_py()) is None
    if not data.isascii():
        ok &= _utf8(lines)
    return ok


def _utf8(lines: Any) -> Any:
    try:
        lines.cast(pa.string())
        return np.ones(len(lines), dtype=bool)
    except pa.ArrowInvalid:
        return np.array([_is_utf8(line.as_py()) for line in lines], dtype=bool)


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _enveloped(batch: Any) -> tuple[Any, Any, Any, Any]:
    """(flow struct per row, envelope node name, envelope time, mask of the flow rows)
    of envelope lines: those whose ``flow`` is an object and whose node name is not given
    by its alias ``nodeName`` alone (left to the exact decoder)."""
    flows = batch.column("flow")
    rows = true_mask(flows.is_valid())
    if "nodeName" in batch.schema.names:
        rows &= ~true_mask(batch.column("nodeName").is_valid())
    for name in set(batch.schema.names) - {"flow", "node_name", "time"}:
        rows &= ~nonfinite_rows(batch.column(name))  # ignored, but must parse as Python does
    return flows, batch.column("node_name"), batch.column("time"), rows


def _bare(batch: Any) -> tuple[Any, Any, Any, Any]:
    """The same for bare flow lines: a row is a flow when it has a non-null flow key and
    its piece of lines certainly has no ``flow`` or event key (``decode.decode_object``
    looks for those first, even when null); else the exact decoder decides."""
    names = batch.schema.names
    flows = pa.StructArray.from_arrays(batch.columns, fields=list(batch.schema))
    nulls = pa.nulls(len(flows), pa.string())
    rows = np.zeros(len(flows), dtype=bool)
    if "flow" in names or not NON_FLOW_EVENTS.keys().isdisjoint(names):
        return flows, nulls, nulls, rows
    for name in FLOW_ONLY_KEYS.intersection(names):
        rows |= true_mask(batch.column(name).is_valid())
    return flows, nulls, nulls, rows


def _in_line_order(tables: list[Any]) -> Any:
    """The tables' rows by line number (``seq``); each table is already in order."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return _empty()
    tables.sort(key=lambda t: t.column("seq")[0].as_py())
    ranges = [pc.min_max(t.column("seq")).as_py() for t in tables]
    table = pa.concat_tables(tables)
    if all(a["max"] < b["min"] for a, b in pairwise(ranges)):
        return table
    return table.take(pc.sort_indices(table.column("seq")))


def _empty() -> Any:
    return ARROW_SCHEMA.empty_table()
