"""The engine's attribution for the rows of a pushed batch: once per connection, not per flow.

With policies in force, most of a cluster's flows are Cilium trace events, which carry no
``*_allowed_by`` / ``*_denied_by`` lists, so the enrichment (``PolicyTimeline.enrich``
then ``with_attribution``) adds the lists of the policies that decided them. For a flow
whose endpoints are complete (the inventory has nothing to fill in) that answer depends
only on what this module calls the flow's *connection key*:

- each endpoint as the flow names it: cluster, namespace, pod, identity, labels (what
  ``Resolver.resolve`` reads to find it in the inventory, or to call it reserved), its IP,
  and for the destination the DNS names it was reached by;
- the L4 headers present and the server's port (the destination port; the source port of
  a reply), whether the flow is a reply;
- the verdict and drop reason (whether Hubble's own fields already state a decision);
- the policy snapshot in force at the flow's time.

The flows of one connection share a key, so the enrichment runs on one flow per key (its
first row, built as a ``Flow``) and its answer is given to every row of the key: the
policy columns, and ``raw`` with the lists spliced into the line as the first keys of the
flow object (``{"flow":{`` + lists + the rest: ``flow_from_raw`` replays it to exactly
the attributed flow). A row takes the object path instead when its key would not capture
everything the enrichment reads: an HTTP record (its request narrows the verdict), no
``is_reply`` (the deprecated ``reply`` decides), a drop whose reason is only a number,
``source_names`` in the line (they name the source), any policy list key in the line
(even empty: a second key would shadow it), or a line that does not start as the
splice expects. A key whose answer changes more than the lists (never with complete
endpoints, checked anyway) sends its rows to the object path too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netwarden.flows.arrow_columns import POLICY_COLUMNS
from netwarden.flows.arrow_schema import true_mask
from netwarden.flows.flow_columns import flow_from_raw, policy_refs
from netwarden.flows.flowencode import flow_to_json
from netwarden.flows.timeline import PolicyTimeline, with_attribution
from netwarden.model.flow import Flow

ENVELOPE_HEAD = '{"flow":{"'
_KEY_COLUMNS = (
    "src_cluster", "src_namespace", "src_pod", "src_identity", "src_labels", "ip_src",
    "dst_cluster", "dst_namespace", "dst_pod", "dst_identity", "dst_labels", "ip_dst",
    "dst_names", "protocols", "l4_protocol", "is_reply", "verdict", "drop_reason_desc",
)  # fmt: skip
_READ = ("raw", "src_port", "dst_port", *_KEY_COLUMNS)
_UNKNOWN_DROPS = ("", "DROP_REASON_UNKNOWN")
# Keys whose presence in a line sends its row to the object path (a string value that
# happens to read so only costs that row the slower path).
_LINE_KEYS = r'"(?:http|source_names|(?:egress|ingress)_(?:allowed|denied)_by)"'


@dataclass(slots=True)
class Shared:
    """The batch with the shared answers in place (``table``), and the rows (positions in
    it) the key could not answer, for the object path."""

    table: Any
    unanswered: Any  # numpy int64 positions
    keys: int  # distinct connection keys in the batch
    enriched: int  # of those, enriched now (the others were remembered from earlier batches)
    spliced: int  # rows whose raw and policy columns were given the lists


@dataclass(frozen=True, slots=True)
class _Answer:
    """The enrichment's answer for a connection: ``UNCHANGED``, ``LISTS`` (``text`` to
    splice, ``columns`` the four policy columns' values) or ``OBJECTS``."""

    outcome: int
    text: str = ""
    columns: tuple[tuple[str, ...], ...] = ()


UNCHANGED, LISTS, OBJECTS = 0, 1, 2
_SAME = _Answer(UNCHANGED)
_OTHER = _Answer(OBJECTS)


def attribute_rows(
    table: Any, rows: Any, at: Any, timeline: PolicyTimeline, cluster: str, now: int
) -> Shared:
    """Attribute ``rows`` of ``table`` (positions; rows with complete endpoints, stamped,
    without policy lists, a snapshot with policies in force at ``at[row]``). Answers are
    remembered per snapshot (``PolicyTimeline.answers``), so a connection seen in an
    earlier batch costs no enrichment."""
    none = np.zeros(0, dtype=np.int64)
    if not len(rows):
        return Shared(table, none, 0, 0, 0)
    sub = table.select(_READ).take(pa.array(rows))  # only the columns read here
    fits = _fits(sub)
    unanswered = [rows[~fits]]
    rows, sub = rows[fits], sub.filter(pa.array(fits))
    if not len(rows):
        return Shared(table, np.concatenate(unanswered), 0, 0, 0)
    row_at = at[rows]
    keys = _keys(sub)
    grouping = pc.binary_join_element_wise(
        pa.array(row_at.astype(np.int64)).cast(pa.string()), keys, "\x1d"
    )
    groups = pc.dictionary_encode(grouping)
    group_of = np.asarray(groups.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    _, first = np.unique(group_of, return_index=True)  # group g's first row: first[g]
    snapshots = timeline.snapshots
    memo = {int(i): timeline.answers(snapshots[i]) for i in np.unique(row_at)}  # by snapshot
    group_memo = [memo[int(row_at[row])] for row in first.tolist()]
    key_texts = keys.take(pa.array(first)).to_pylist()
    answers: list[_Answer | None] = []
    missing: list[int] = []
    for g, key in enumerate(key_texts):
        found = group_memo[g].get(key)
        answers.append(found)
        if found is None:
            missing.append(g)
    if missing:
        raws = sub.column("raw").take(pa.array(first[missing])).to_pylist()
        flows = [flow_from_raw(raw) for raw in raws]
        for g, flow, enriched in zip(missing, flows, timeline.enrich(flows), strict=True):
            answers[g] = group_memo[g][key_texts[g]] = _answer(flow, with_attribution(enriched))
    outcome = np.array([a.outcome if a is not None else OBJECTS for a in answers], np.int8)
    row_outcome = outcome[group_of]
    unanswered.append(rows[row_outcome == OBJECTS])
    splice = np.flatnonzero(row_outcome == LISTS)
    if len(splice):
        table = _splice(table, rows[splice], sub.column("raw"), splice, group_of, answers)
    return Shared(table, np.concatenate(unanswered), len(first), len(missing), len(splice))


def _answer(flow: Flow, attributed: Flow) -> _Answer:
    if attributed is flow:
        return _SAME
    kept = {name: getattr(flow, name) for name in POLICY_COLUMNS}
    if replace(attributed, **kept) != flow:
        return _OTHER  # more than the lists changed: never with complete endpoints
    encoded = flow_to_json(attributed)
    text = "".join(
        f'"{name}":{json.dumps(encoded[name], ensure_ascii=False, separators=(",", ":"))},'
        for name in POLICY_COLUMNS
        if encoded.get(name)
    )
    columns = tuple(policy_refs(getattr(attributed, name)) for name in POLICY_COLUMNS)
    return _Answer(LISTS, text, columns)


def _fits(sub: Any) -> Any:
    """Rows whose connection key holds everything the enrichment reads (see the module)."""
    raw = sub.column("raw")
    fits = true_mask(pc.is_valid(sub.column("is_reply")))
    unknown_drop = pc.and_(
        pc.equal(sub.column("verdict"), "DROPPED"),
        pc.is_in(sub.column("drop_reason_desc"), pa.array(_UNKNOWN_DROPS)),
    )
    fits &= ~true_mask(unknown_drop)
    envelope = true_mask(pc.starts_with(raw, ENVELOPE_HEAD))
    bare = true_mask(pc.starts_with(raw, '{"')) & ~true_mask(pc.starts_with(raw, '{"flow":'))
    fits &= envelope | bare
    fits &= ~true_mask(pc.match_substring_regex(raw, _LINE_KEYS))
    return fits


def _keys(sub: Any) -> Any:
    """One string per row: its connection key (columns joined with separators nothing in a
    Hubble field holds; a null column as NUL)."""
    reply = true_mask(sub.column("is_reply"))
    port = pc.if_else(pa.array(reply), sub.column("src_port"), sub.column("dst_port"))
    parts: list[Any] = [pc.cast(port, pa.string())]
    for name in _KEY_COLUMNS:
        column = sub.column(name)
        if pa.types.is_list(column.type):
            column = pc.binary_join(column, "\x1f")
        elif not pa.types.is_string(column.type):
            column = pc.cast(column, pa.string())
        parts.append(column)
    return pc.binary_join_element_wise(
        *parts, "\x1e", null_handling="replace", null_replacement="\x00"
    ).combine_chunks()


def _splice(
    table: Any, positions: Any, raw: Any, splice: Any, group_of: Any, answers: list[Any]
) -> Any:
    """``table`` with the rows at ``positions`` (``splice`` in ``raw``, the fitting rows)
    given their connection's lists: in ``raw`` and in the policy columns."""
    groups = group_of[splice]
    texts = pa.array([a.text if a is not None else "" for a in answers], pa.string())
    chosen = pc.cast(raw.take(pa.array(splice)), pa.binary())
    envelope = pc.starts_with(chosen, ENVELOPE_HEAD.encode())
    head = np.where(true_mask(envelope), len(ENVELOPE_HEAD) - 1, 1)
    spliced = pc.cast(
        pc.binary_join_element_wise(
            _slice(chosen, head, before=True),
            pc.cast(texts.take(pa.array(groups)), pa.binary()),
            _slice(chosen, head, before=False),
            b"",
        ),
        pa.string(),
    )
    replacements = {"raw": spliced}
    for k, name in enumerate(POLICY_COLUMNS):
        values = [a.columns[k] if a is not None and a.columns else () for a in answers]
        per_group = pa.array(values, pa.list_(pa.string()))
        replacements[name] = per_group.take(pa.array(groups))
    index = np.arange(table.num_rows, dtype=np.int64)
    index[positions] = table.num_rows + np.arange(len(positions), dtype=np.int64)
    take = pa.array(index)
    for name, values in replacements.items():
        at = table.schema.get_field_index(name)
        field = table.schema.field(at)
        joined = pa.chunked_array([*table.column(at).chunks, values.cast(field.type)])
        table = table.set_column(at, field, joined.take(take))
    return table


def _slice(values: Any, head: Any, *, before: bool) -> Any:
    """The first ``head`` bytes of each value (``before``), or the rest: ``head`` takes
    two values at most (the envelope's and the bare line's), sliced per value."""
    out = pa.nulls(len(values), pa.binary())
    # binary_slice to the end: its default stop, and stops far past the values, fail
    # ("Negative buffer resize", pyarrow 26): the longest value's length instead.
    end = int(pc.max(pc.binary_length(values)).as_py() or 0)
    for start in np.unique(head).tolist():
        pick = pa.array(head == start)
        part = pc.binary_slice(values, 0, start) if before else pc.binary_slice(values, start, end)
        out = pc.if_else(pick, part, out)
    return out
