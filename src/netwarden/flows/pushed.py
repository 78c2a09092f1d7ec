"""A pushed batch (an agent's Hubble JSON lines) to store rows, in columns where it can be.

``FlowService.ingest_lines`` used to make a ``Flow`` object of every line, stamp it with
the pushing cluster, enrich it with the policies in force and build its row again from
the object: about 35 µs a flow, the whole server's ingest rate. Most pushed flows need
none of that: the agent (like Hubble Relay) already names the cluster in ``node_name``,
Cilium already put the policies that decided them in ``*_allowed_by``/``*_denied_by``
and the endpoints' namespace, pod and workload in the flow. For those, the enrichment
would change nothing, so their rows come straight from the columnar decoder
(``arrow_decode``) with the line as ``raw``, and their metrics are counted per group of
rows, not per flow.

A row takes the object path (exactly what the old path did) when any of these holds:

- its observing cluster is not the pushing one, or its ``node_name`` lacks the
  ``cluster/`` prefix (``stamp_cluster`` would rewrite it);
- the cluster has a policy timeline, and at the flow's time (the snapshot in force)
  - versions are staged (each flow is marked by them), or
  - an endpoint is not complete (namespace, pod and workload) and not reserved:world
    without them (the inventory could fill it in);
- the flow carries no policy lists and the snapshot has policies (the engine would
  attribute it), and its connection key does not hold all the engine reads (an HTTP
  record, no ``is_reply``, ...: ``pushed_attribution``); the other such rows stay in
  columns, the engine answering once per connection and the answer spliced into them;
- its metric facts (event type, policy match type, trace observation point) are not
  where ``_FACTS`` finds them in its line (spacing, an unknown enum name).

Rows of both paths are one table in line order, appended in one transaction; a test
stores the same batches both ways and compares flows, columns and metrics.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netwarden.flows.arrow_columns import POLICY_COLUMNS
from netwarden.flows.arrow_decode import decode_arrow
from netwarden.flows.arrow_schema import true_mask
from netwarden.flows.flow_columns import flow_from_raw, flows_table
from netwarden.flows.live import LiveHub
from netwarden.flows.metrics import (
    HOST_IDENTITY,
    L7_EVENT,
    MATCH_NAMES,
    TRACE_EVENT,
    FlowMetrics,
    protocol_label,
    type_labels,
)
from netwarden.flows.pushed_attribution import attribute_rows
from netwarden.flows.store import AppendResult, FlowStore, flow_cluster
from netwarden.flows.timeline import PolicyTimeline, with_attribution
from netwarden.model.diagnostics import Diagnostic
from netwarden.model.flow import (
    POLICY_VERDICT_EVENT,
    Flow,
    TraceObservationPoint,
)

WORLD_IDENTITIES = (2, 9, 10)  # reserved:world, world-ipv4, world-ipv6
# Where a line states its metric facts (proto JSON as Hubble and the agents write it).
_EVENT = r'"event_type":\{[^{}]*"type":(?P<v>-?[0-9]+)'
_MATCH = r'"policy_match_type":(?P<v>[0-9]+)'
_POINT = r'"trace_observation_point":(?P<v>"[A-Z0-9_]*"|[0-9]+)'
_POINTS = {point.name: point for point in TraceObservationPoint}


@dataclass(slots=True)
class Pushed:
    """A decoded batch: ``table`` (``ARROW_SCHEMA``, ``seq`` the line number, repeated
    keys included: the store keeps the first), the flows built as objects (by ``seq``),
    the metric facts of the other rows, and what the decoder skipped or rejected."""

    table: Any
    objects: dict[int, Flow]
    facts: Any  # table: seq, event, match, point (rows of the columnar path)
    lines: int
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[Diagnostic] = field(default_factory=list)
    shared_keys: int = 0  # connections the engine answered for their rows (no objects)

    @property
    def offered(self) -> int:
        return int(self.table.num_rows)

    def flows(self, seqs: Sequence[int]) -> list[Flow]:
        """The flows of these rows (from ``raw`` for the columnar ones)."""
        raws: dict[int, str] = {}
        missing = [s for s in seqs if s not in self.objects]
        if missing:
            rows = pc.is_in(self.table.column("seq"), pa.array(missing, pa.int64()))
            chosen = self.table.filter(rows)
            raws = dict(
                zip(chosen.column("seq").to_pylist(), chosen.column("raw").to_pylist(), strict=True)
            )
        return [self.objects[s] if s in self.objects else flow_from_raw(raws[s]) for s in seqs]


def decode_pushed(
    data: bytes, cluster: str, timeline: PolicyTimeline | None, *, file: str, now: int
) -> Pushed:
    """Decode one pushed batch; rows that enrichment or stamping would change are built
    from ``Flow`` objects exactly as before (see the module docstring), except the ones
    the engine answers per connection (``pushed_attribution``)."""
    decoded = decode_arrow(data, file, now=now)
    table = decoded.table
    facts = _facts(table)
    ok = facts.pop("ok")
    columnar, attributable, at = _route(table, cluster, timeline)
    columnar &= ok
    attributable &= ok
    shared_keys = 0
    if timeline is not None and attributable.any():
        shared = attribute_rows(table, np.flatnonzero(attributable), at, timeline, cluster, now)
        table, shared_keys = shared.table, shared.keys
        columnar |= attributable
        columnar[shared.unanswered] = False
    rows = np.flatnonzero(~columnar)
    objects: dict[int, Flow] = {}
    if len(rows):
        slow = table.take(pa.array(rows))
        seqs = slow.column("seq").to_pylist()
        lines = slow.column("raw").to_pylist()
        decoded_flows = [flow_from_raw(raw) for raw in lines]
        flows = [stamp_cluster(flow, cluster) for flow in decoded_flows]
        if timeline is not None and len(timeline):
            flows = [with_attribution(e) for e in timeline.enrich(flows)]
        objects = dict(zip(seqs, flows, strict=True))
        # A flow left as it was decoded keeps its line as raw (nothing to encode).
        kept = [
            line if flow is before else None
            for line, flow, before in zip(lines, flows, decoded_flows, strict=True)
        ]
        fast = table.filter(pa.array(columnar))
        clusters = pa.repeat(pa.scalar(cluster, pa.string()), fast.num_rows)
        fast = fast.set_column(fast.schema.get_field_index("cluster"), "cluster", clusters)
        merged = pa.concat_tables([fast, flows_table(flows, seqs, cluster, now, kept)])
        table = merged.take(pc.sort_indices(merged.column("seq")))
    keep = pa.array(columnar)
    fact_table = pa.table({
        "seq": decoded.table.column("seq").filter(keep),
        **{name: values.filter(keep) for name, values in facts.items()},
    })  # fmt: skip
    return Pushed(
        table, objects, fact_table, decoded.lines, decoded.skipped, decoded.errors, shared_keys
    )


def stamp_cluster(flow: Flow, cluster: str) -> Flow:
    """The flow with ``cluster/`` in its node name (Hubble Relay's convention in a mesh),
    so that the cluster that pushed it is part of the flow wherever it goes: the store,
    the scope check of every query, ``--node-name cluster/`` filters and exports."""
    if flow_cluster(flow) == cluster and flow.node_name.startswith(f"{cluster}/"):
        return flow
    _, slash, node = flow.node_name.partition("/")
    return replace(flow, node_name=f"{cluster}/{node if slash else flow.node_name}")


# --- which rows need objects -----------------------------------------------------------


def _route(table: Any, cluster: str, timeline: PolicyTimeline | None) -> tuple[Any, Any, Any]:
    """Numpy masks of the rows whose stored form the object path would not change, and of
    those it would change only by the engine's attribution (complete endpoints, no
    policy lists, policies in force at the flow's time: ``pushed_attribution``); and the
    index of each row's snapshot in the timeline (-1: none yet)."""
    stamped = pc.and_(
        pc.equal(table.column("cluster"), cluster),
        pc.starts_with(table.column("node_name"), f"{cluster}/"),
    )
    ok = true_mask(stamped)
    none = np.zeros(table.num_rows, dtype=bool)
    if timeline is None or not len(timeline) or not table.num_rows:
        return ok, none, np.full(table.num_rows, -1, dtype=np.int64)
    snapshots = timeline.snapshots
    since = np.array([s.since for s in snapshots], dtype=np.int64)
    times = table.column("time_ns")
    at = np.searchsorted(since, _int_or(times, np.iinfo(np.int64).max), side="right") - 1
    staged = np.array([bool(s.staged) for s in snapshots] + [False])
    policies = np.array([bool(s.world.policies) for s in snapshots] + [False])
    # at == -1: no snapshot yet at that time (the flow is left as it is): index -1 -> the
    # appended False of both arrays.
    listed = np.zeros(table.num_rows, dtype=bool)
    for name in POLICY_COLUMNS:
        listed |= true_mask(pc.greater(pc.list_value_length(table.column(name)), 0))
    attributed = listed | ~policies[at] | (at < 0)
    complete = _complete(table, "src") & _complete(table, "dst")
    base = ok & ~staged[at] & (complete | (at < 0))
    return base & attributed, base & ~attributed, at


def _complete(table: Any, side: str) -> Any:
    """Endpoints the inventory cannot add to: namespace, pod and workload all known, or
    reserved:world with none of them."""

    def present(name: str) -> Any:
        return true_mask(pc.not_equal(table.column(f"{side}_{name}"), ""))

    ns, pod, workload = present("namespace"), present("pod"), present("workload")
    world = true_mask(pc.is_in(table.column(f"{side}_identity"), pa.array(WORLD_IDENTITIES)))
    return (ns & pod & workload) | (world & ~ns & ~pod & ~workload)


def _int_or(values: Any, default: int) -> Any:
    return np.asarray(pc.fill_null(values, default).to_numpy(zero_copy_only=False))


# --- metric facts and counting by group ------------------------------------------------


def _facts(table: Any) -> dict[str, Any]:
    """Per row: event type, policy match type, trace observation point (as ``Flow``
    holds them), and ``ok``: each found, or absent from the line. The match type is read
    for policy-verdict events only and the point for trace events only (the only ones
    whose labels use them)."""
    raw = table.column("raw")
    rows = table.num_rows
    event = _extract(raw, _EVENT)
    ok = _found_or_absent(raw, event, '"event_type"')
    events = _int_or(pc.cast(event, pa.int64()), 0)
    match = np.zeros(rows, dtype=np.int64)
    point = np.full(rows, "", dtype=object)
    for code, pattern, key in ((POLICY_VERDICT_EVENT, _MATCH, '"policy_match_type"'),
                               (TRACE_EVENT, _POINT, '"trace_observation_point"')):  # fmt: skip
        at = np.flatnonzero(events == code)
        if not len(at):
            continue
        some = pc.take(raw, pa.array(at))
        found = _extract(some, pattern)
        ok[at] &= _found_or_absent(some, found, key)
        if code == POLICY_VERDICT_EVENT:
            match[at] = _int_or(pc.cast(found, pa.int64()), 0)
        else:
            names = pc.replace_substring(pc.fill_null(found, ""), '"', "")
            known = pc.or_(
                pc.or_(pc.equal(names, ""), pc.utf8_is_digit(names)),
                pc.is_in(names, pa.array(list(_POINTS))),
            )
            ok[at] &= true_mask(known)
            point[at] = names.to_numpy(zero_copy_only=False)
    return {
        "event": pa.array(events, pa.int64()),
        "match": pa.array(match, pa.int64()),
        "point": pa.array(point, pa.string()),
        "ok": ok,
    }


def _extract(raw: Any, pattern: str) -> Any:
    return pc.struct_field(pc.extract_regex(raw, pattern), "v")


def _found_or_absent(raw: Any, found: Any, key: str) -> Any:
    """Rows where the regex found the value, or the line never names the field."""
    ok = true_mask(pc.is_valid(found))
    missed = np.flatnonzero(~ok)
    if len(missed):
        named = true_mask(pc.match_substring(pc.take(raw, pa.array(missed)), key))
        ok[missed[~named]] = True
    return ok


def count_columnar(metrics: FlowMetrics, cluster: str, table: Any, facts: Any) -> None:
    """``FlowMetrics.observe`` for rows of the columnar path: one update per label set.

    ``table`` holds the stored rows (``seq`` matches ``facts``); staged marks are never
    on these rows (a cluster with staged versions takes the object path)."""
    if not table.num_rows:
        return
    joined = table.select(
        ["src_namespace", "dst_namespace", "verdict", "drop_reason_desc",
         "traffic_direction", "l4_protocol", "protocols", "src_identity"]
    )  # fmt: skip
    at = pc.index_in(table.column("seq"), facts.column("seq"))  # seq: the line, unique
    for name in ("event", "match", "point"):
        joined = joined.append_column(name, pc.take(facts.column(name), at))
    protocols = joined.column("protocols").combine_chunks()
    l7_name = pc.if_else(
        _has(protocols, "dns"),
        "DNS",
        pc.if_else(
            _has(protocols, "http"), "HTTP", pc.if_else(_has(protocols, "kafka"), "Kafka", "")
        ),
    )
    grouped = (
        joined.drop_columns(["protocols"])
        .append_column("l7", l7_name)
        .append_column("host", pc.equal(joined.column("src_identity"), HOST_IDENTITY))
        .drop_columns(["src_identity"])
        .group_by(
            [
                "src_namespace",
                "dst_namespace",
                "verdict",
                "drop_reason_desc",
                "traffic_direction",
                "l4_protocol",
                "l7",
                "host",
                "event",
                "match",
                "point",
            ],
            use_threads=False,
        )
        .aggregate([([], "count_all")])
    )
    for row in grouped.to_pylist():
        n = int(row["count_all"])
        context = (cluster, row["src_namespace"], row["dst_namespace"])
        event, verdict = int(row["event"]), str(row["verdict"])
        protocol = protocol_label(event, row["l7"], row["l4_protocol"])
        kind, subtype = type_labels(event, protocol, _point(row["point"]))
        metrics.processed.labels(*context, protocol, kind, subtype, verdict).inc(n)
        if verdict == "DROPPED":
            metrics.drops.labels(*context, row["drop_reason_desc"], protocol).inc(n)
        if (event == POLICY_VERDICT_EVENT and not row["host"]) or event == L7_EVENT:
            direction = str(row["traffic_direction"]).lower()
            match = (
                f"l7/{protocol.lower()}"
                if event == L7_EVENT
                else MATCH_NAMES.get(int(row["match"]), "unknown")
            )
            metrics.policy.labels(*context, direction, match, verdict.lower()).inc(n)


def _has(lists: Any, name: str) -> Any:
    """Per row: whether its list holds ``name``."""
    hit = true_mask(pc.equal(pc.list_flatten(lists), name))
    parents = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False))
    out = np.zeros(len(lists), dtype=bool)
    out[parents[hit]] = True
    return pa.array(out)


def _point(text: str) -> TraceObservationPoint | str:
    """A trace observation point as ``Flow`` holds it: the enum member, or the text of a
    number the enum does not know (names it does not know never get here: ``_facts``)."""
    if not text:
        return TraceObservationPoint.UNKNOWN_POINT
    if text.isdigit():
        try:
            return TraceObservationPoint(int(text))
        except ValueError:
            return text
    return _POINTS[text]


# --- storing -----------------------------------------------------------------------------


def store_pushed(
    commit: GroupCommit, metrics: FlowMetrics, hub: LiveHub, pushed: Pushed, cluster: str, now: int
) -> tuple[AppendResult, list[str]]:
    """Append the batch (in one transaction, maybe with other pushes'), then count and
    publish the flows stored for the first time (the store's ``new_rows``): what
    ``FlowService`` does for objects."""
    table = pushed.table
    stored = commit.append(table, now)
    result = AppendResult(pushed.offered, stored.stored, None)
    keys = table.column("key").to_pylist()
    new = table.take(pa.array(np.asarray(stored.new_rows, dtype=np.int64)))
    seqs = new.column("seq").to_pylist()
    if seqs:
        metrics.ingested.labels(cluster).inc(len(seqs))
        objects = [pushed.objects[s] for s in seqs if s in pushed.objects]
        if objects:
            metrics.observe(cluster, objects)
        columnar = pc.invert(
            pc.is_in(new.column("seq"), pa.array(list(pushed.objects), pa.int64()))
        )
        count_columnar(metrics, cluster, new.filter(columnar), pushed.facts)
        if hub.subscribers:
            hub.publish(cluster, pushed.flows(seqs))
    if result.duplicates:
        metrics.duplicates.labels(cluster).inc(result.duplicates)
    return result, keys


# --- group commit ------------------------------------------------------------------------


@dataclass(slots=True)
class _Slot:
    table: Any
    result: AppendResult | None = None
    error: BaseException | None = None


class GroupCommit:
    """Appends of concurrent pushes, committed together: one transaction for whatever
    batches are waiting when the store is free.

    A store's append has a fixed cost per transaction (duplicate check, the flow insert,
    the minute/hour/edge rollups, the raw blocks: about ten statements), which at an
    agent's 5,000-flow batches was most of the cost per flow. The first caller to find
    the store free appends its batch and everything queued behind it, then hands each
    caller its own result (``new_rows`` as positions in its own table); callers arriving
    meanwhile wait for the next group, one of them leading it. Idle: no added wait.
    A failed transaction fails every batch of its group (the agents resend them)."""

    def __init__(self, store: FlowStore, *, max_rows: int = 250_000) -> None:
        self.store = store
        self.max_rows = max_rows
        self._cond = threading.Condition()
        self._queue: list[_Slot] = []
        self._writing = False
        self.groups = 0  # transactions made (for tests and figures)
        self.batches = 0

    def append(self, table: Any, now: int) -> AppendResult:
        """Store ``table`` (``ARROW_SCHEMA``, its ``cluster`` column set) durably; the
        store's answer for it alone."""
        slot = _Slot(table)
        with self._cond:
            self._queue.append(slot)
            while slot.result is None and slot.error is None:
                if self._writing:
                    self._cond.wait()
                    continue
                group = self._take()
                self._writing = True
                self._cond.release()
                try:
                    self._commit(group, now)
                finally:
                    self._cond.acquire()
                    self._writing = False
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        assert slot.result is not None
        return slot.result

    def _take(self) -> list[_Slot]:
        """The queued batches, oldest first, up to ``max_rows`` (at least one)."""
        rows, taken = 0, 0
        for slot in self._queue:
            if taken and rows + slot.table.num_rows > self.max_rows:
                break
            rows += slot.table.num_rows
            taken += 1
        group, self._queue = self._queue[:taken], self._queue[taken:]
        return group

    def _commit(self, group: list[_Slot], now: int) -> None:
        try:
            tables = [slot.table for slot in group]
            joined = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
            stored = self.store.append_arrow(joined, now=now)
        except BaseException as exc:
            for slot in group:
                slot.error = exc
            return
        self.groups += 1
        self.batches += len(group)
        new = np.asarray(stored.new_rows if stored.new_rows is not None else [], np.int64)
        start = 0
        for slot in group:
            end = start + slot.table.num_rows
            mine = new[(new >= start) & (new < end)] - start
            slot.result = AppendResult(slot.table.num_rows, len(mine), mine)
            start = end
