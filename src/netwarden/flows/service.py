"""The flow service: ingestion with acknowledgements, scoped queries, live tail, metrics.

This is the one place the HTTP API (and anything else) reads or writes flows through:

- :meth:`FlowService.ingest_lines` decodes a pushed batch of Hubble JSON lines (malformed
  lines are counted and located, never fatal), attributes flows with the policies in force
  at their time (:class:`PolicyTimeline`, when the cluster has one), stores them
  atomically and only then returns an :class:`IngestAck`. A batch sent again (the agent
  did not get the ack) is deduplicated by the store: acknowledged flows are stored once.
- :meth:`FlowService.query` is the scoped query: the caller's :class:`FlowScope` is
  applied to every flow before it is returned, whatever the filters say, so no code path
  can return a flow outside it.
- :meth:`FlowService.subscribe` is the live tail (bounded buffers, see ``live.py``).

Metrics and the live tail see only flows stored for the first time, as the store reports
them (``AppendResult.new_rows``); each flow's dedup key is computed once, when its row is
built (``flow_table``), and the batch id reuses those keys. A pushed flow that stamping
and attribution leave unchanged is stored with the line it came in as its ``raw`` JSON
(as the bulk decoder stores lines); only changed flows are encoded again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, OrderedDict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from time import time_ns
from typing import Any

from netwarden.flows.decode import decode_lines_with_text
from netwarden.flows.edges import DEFAULT_EXAMPLES, observed_edges
from netwarden.flows.filter_core import FlowFilter, compile_filters
from netwarden.flows.flow_columns import flow_table
from netwarden.flows.live import LiveHub, Subscription
from netwarden.flows.metrics import FlowMetrics
from netwarden.flows.pushed import GroupCommit, decode_pushed, stamp_cluster, store_pushed
from netwarden.flows.scope import FlowScope
from netwarden.flows.store import AppendResult, FlowStore, Order
from netwarden.flows.timeline import PolicyTimeline, with_attribution
from netwarden.model.flow import Flow
from netwarden.model.observed import ObservedEdge

MAX_REPORTED_ERRORS = 100
RECENT_KEYS = 1_000_000
_SCAN_CHUNK = 4_096


@dataclass(frozen=True, slots=True)
class IngestAck:
    """The acknowledgement of one pushed batch: once returned, its flows are stored."""

    batch: str
    cluster: str
    lines: int
    offered: int
    stored: int
    skipped: dict[str, int] = field(default_factory=dict)
    errors: tuple[dict[str, object], ...] = ()
    error_count: int = 0

    @property
    def duplicates(self) -> int:
        return self.offered - self.stored

    def to_dict(self) -> dict[str, object]:
        return {
            "batch": self.batch,
            "cluster": self.cluster,
            "lines": self.lines,
            "offered": self.offered,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "skipped": dict(self.skipped),
            "errors": list(self.errors),
            "error_count": self.error_count,
        }


class FlowService:
    """Flows in and out of one store, for every cluster of the fleet."""

    def __init__(
        self,
        store: FlowStore,
        *,
        hub: LiveHub | None = None,
        metrics: FlowMetrics | None = None,
    ) -> None:
        self.store = store
        self._commit = GroupCommit(store)
        self.hub = hub if hub is not None else LiveHub()
        self.metrics = metrics if metrics is not None else FlowMetrics()
        self.hub.on_lost = self.metrics.live_lost.inc
        self._timelines: dict[str, PolicyTimeline] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    # --- policies in force ------------------------------------------------------------

    def timeline(self, cluster: str) -> PolicyTimeline:
        """The cluster's policy timeline (created empty on first use)."""
        with self._lock:
            return self._timelines.setdefault(cluster, PolicyTimeline())

    def has_timeline(self, cluster: str) -> bool:
        with self._lock:
            timeline = self._timelines.get(cluster)
        return timeline is not None and len(timeline) > 0

    # --- ingestion ---------------------------------------------------------------------

    def ingest_lines(
        self, lines: Iterable[str | bytes], cluster: str, *, batch: str | None = None
    ) -> IngestAck:
        """Decode, attribute, store and acknowledge a batch of Hubble JSON lines."""
        body = b"".join(
            (line.encode() if isinstance(line, str) else line) + b"\n" for line in lines
        )
        return self.ingest_body(body, cluster, batch=batch)

    def ingest_body(self, body: bytes, cluster: str, *, batch: str | None = None) -> IngestAck:
        """``ingest_lines`` for a pushed body (lines split on ``\\n``, ``\\r\\n`` and ``\\r``).

        Unless versions are staged on the cluster, flows go the columnar way
        (``pushed.py``: rows straight from the decoder, the engine's attribution computed
        once per connection and given to its rows, only the rows that stamping or
        enrichment would change otherwise built as objects); with staged versions every
        flow gets marks, and the object path (``_ingest``) is the cheaper one. Both
        append through the group commit, so concurrent pushes share a transaction."""
        file = f"batch {batch}" if batch else "<batch>"
        with self._lock:
            timeline = self._timelines.get(cluster)
        latest = timeline.snapshots[-1] if timeline is not None and len(timeline) else None
        if latest is not None and latest.staged:
            decoded, texts = decode_lines_with_text(body.splitlines(), file=file)
            result, keys = self._ingest(decoded.flows, cluster, texts)
            lines, skipped, errors = decoded.lines, decoded.skipped, decoded.errors
        else:
            now = time_ns()
            # (a scan for \r costs far less than two copies of the body)
            data = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in body else body
            pushed = decode_pushed(data, cluster, timeline, file=file, now=now)
            result, keys = store_pushed(self._commit, self.metrics, self.hub, pushed, cluster, now)
            lines, skipped, errors = pushed.lines, pushed.skipped, pushed.errors
        if errors:
            self.metrics.rejected.labels(cluster).inc(len(errors))
        return IngestAck(
            batch=batch or _batch_id(keys, skipped),
            cluster=cluster,
            lines=lines,
            offered=result.offered,
            stored=result.stored,
            skipped=dict(skipped),
            errors=tuple(d.to_dict() for d in errors[:MAX_REPORTED_ERRORS]),
            error_count=len(errors),
        )

    def ingest(self, flows: Sequence[Flow], cluster: str) -> AppendResult:
        """Attribute (with the timeline in force, if any) and store decoded flows."""
        return self._ingest(flows, cluster)[0]

    def _ingest(
        self, received: Sequence[Flow], cluster: str, texts: Sequence[str] | None = None
    ) -> tuple[AppendResult, list[str]]:
        """Store the flows; the store's result and the batch's dedup keys (each flow's key
        is computed once, by ``flow_table``; the store says which rows were new).

        ``texts[i]``, when given, is the line ``received[i]`` was decoded from: a flow that
        stamping and attribution leave as it is (the same object) is stored with that
        line as its ``raw`` (``flow_from_raw`` replays it to the same flow), so only the
        flows they change are encoded to JSON again."""
        flows = [stamp_cluster(f, cluster) for f in received]
        if self.has_timeline(cluster):
            flows = [with_attribution(e) for e in self.timeline(cluster).enrich(flows)]
        raws: list[str | None] | None = None
        if texts is not None:
            raws = [
                text if flow is before else None
                for flow, before, text in zip(flows, received, texts, strict=True)
            ]
        now = time_ns()
        table = flow_table(flows, cluster, now, 0, raws=raws)  # seq: position in ``flows``
        stored = self._commit.append(table, now)  # the table's cluster column is set
        result = AppendResult(len(flows), stored.stored, None)
        keys = table.column("key").to_pylist()
        new = self._new_flows(flows, table, keys, stored)
        if new:
            self.metrics.ingested.labels(cluster).inc(len(new))
            self.metrics.observe(cluster, new)
            self.hub.publish(cluster, new)
        if result.duplicates:
            self.metrics.duplicates.labels(cluster).inc(result.duplicates)
        return result, keys

    def _new_flows(
        self, flows: Sequence[Flow], table: Any, keys: list[str], result: AppendResult
    ) -> list[Flow]:
        """The flows stored for the first time: the store's ``new_rows`` (rows of
        ``table``, whose ``seq`` is the flow's position), or for a store that does not
        report them, a bounded set of recently ingested keys."""
        if result.new_rows is not None:
            positions = table.column("seq").to_numpy()[result.new_rows]
            return [flows[i] for i in positions.tolist()]
        with self._lock:
            if result.stored == 0:
                new: list[Flow] = []
            else:
                rows = table.column("seq").to_pylist()
                new = [flows[i] for i, k in zip(rows, keys, strict=True) if k not in self._recent]
                new = new[: result.stored]
            for key in keys:
                self._recent[key] = None
                self._recent.move_to_end(key)
            while len(self._recent) > RECENT_KEYS:
                self._recent.popitem(last=False)
        return new

    # --- queries -----------------------------------------------------------------------

    def query(
        self,
        scope: FlowScope,
        whitelist: Sequence[FlowFilter] = (),
        blacklist: Sequence[FlowFilter] = (),
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        order: Order = "asc",
    ) -> list[Flow]:
        """Stored flows the filters keep, **within scope**: the only way flows are read."""
        found = self.iter_query(scope, whitelist, blacklist, since=since, until=until, order=order)
        return list(islice(found, limit))

    def iter_query(
        self,
        scope: FlowScope,
        whitelist: Sequence[FlowFilter] = (),
        blacklist: Sequence[FlowFilter] = (),
        *,
        since: int | None = None,
        until: int | None = None,
        order: Order = "asc",
    ) -> Iterator[Flow]:
        compile_filters(whitelist), compile_filters(blacklist)  # FilterError before any I/O
        if scope.empty:
            return iter(())
        return self._scoped(scope, whitelist, blacklist, since, until, order)

    def _scoped(
        self,
        scope: FlowScope,
        whitelist: Sequence[FlowFilter],
        blacklist: Sequence[FlowFilter],
        since: int | None,
        until: int | None,
        order: Order,
    ) -> Iterator[Flow]:
        iter_query: Any = getattr(self.store, "iter_query", None)
        if iter_query is not None:
            found: Iterable[Flow] = iter_query(whitelist, blacklist, since, until, None, order)
        else:
            found = self.store.query(whitelist, blacklist, since=since, until=until, order=order)
        for flow in found:
            if scope.sees_flow(flow):
                yield flow

    def edges(
        self,
        scope: FlowScope,
        *,
        cluster: str | None = None,
        since: int | None = None,
        until: int | None = None,
        verdicts: Collection[str] | None = None,
        examples: int = DEFAULT_EXAMPLES,
    ) -> list[ObservedEdge]:
        """The distinct observed edges of the stored flows **within scope**, grouped by the
        store (``flows/edges.py``): what recommendations and impact previews read."""
        return observed_edges(
            self.store,
            cluster=cluster,
            since=since,
            until=until,
            scope=scope,
            verdicts=verdicts,
            examples=examples,
        )

    def subscribe(
        self,
        scope: FlowScope,
        whitelist: Sequence[FlowFilter] = (),
        blacklist: Sequence[FlowFilter] = (),
        *,
        buffer: int | None = None,
    ) -> Subscription:
        """A live tail of flows ingested from now on, within scope and filters."""
        return self.hub.subscribe(scope, whitelist, blacklist, buffer=buffer)


def _batch_id(keys: Sequence[str], skipped: Counter[str]) -> str:
    """A stable id for a batch sent without one: the hash of its flows' dedup keys (each
    distinct key once, in order) and its skip counts."""
    digest = hashlib.sha256()
    for key in dict.fromkeys(keys):
        digest.update(key.encode())
    digest.update(repr(sorted(Counter(skipped).items())).encode())
    return "sha256:" + digest.hexdigest()[:24]
