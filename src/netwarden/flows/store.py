"""The flow store interface, and what every backend shares (keys, clusters, rollup dimensions).

A store keeps decoded flows (``model.flow.Flow``) in columns, answers ``hubble observe``
style queries with exactly :func:`netwarden.flows.filters.filter_flows` semantics, keeps
per-minute and per-hour rollups of workload-to-workload edges, and drops whole days of raw
flows older than a per-cluster retention period (rollups are kept longer: minutes 30 days,
hours 365 days by default). ``DuckDBFlowStore`` (embedded, the default) and
``ClickHouseFlowStore`` (fleet scale; chdb or a server) implement it over the same schema.
See ``docs/design/flows.md`` ("Storage", "ClickHouse backend").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from netwarden.flows.filter_core import FlowFilter
from netwarden.flows.flowencode import flow_to_json
from netwarden.model.flow import Flow

DEFAULT_RETENTION = timedelta(days=7)
DEFAULT_MINUTE_ROLLUP_RETENTION = timedelta(days=30)
DEFAULT_HOUR_ROLLUP_RETENTION = timedelta(days=365)
DEFAULT_CLUSTER = "default"
CLUSTER_LABEL = "k8s:io.cilium.k8s.policy.cluster="
NANOS_PER_DAY = 86_400 * 1_000_000_000
NANOS_PER_MINUTE = 60 * 1_000_000_000
NANOS_PER_HOUR = 60 * NANOS_PER_MINUTE

Order = Literal["asc", "desc"]
Resolution = Literal["minute", "hour"]

# The dimensions of the per-minute rollup, in key order; ``count_by`` groups by any subset.
ROLLUP_DIMENSIONS = (
    "minute",
    "cluster",
    "src_namespace",
    "src_workload",
    "dst_namespace",
    "dst_workload",
    "dst_port",
    "protocol",
    "verdict",
)
# The per-hour rollup has the same dimensions with ``hour`` (hours since the epoch) first.
HOUR_ROLLUP_DIMENSIONS = ("hour", *ROLLUP_DIMENSIONS[1:])


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long raw flows are kept, per cluster (default 7 days), and how long the
    per-minute (default 30 days) and per-hour (default 365 days) rollups are."""

    default: timedelta = DEFAULT_RETENTION
    per_cluster: Mapping[str, timedelta] = field(default_factory=dict)
    minute_rollups: timedelta = DEFAULT_MINUTE_ROLLUP_RETENTION
    hour_rollups: timedelta = DEFAULT_HOUR_ROLLUP_RETENTION

    def period(self, cluster: str) -> timedelta:
        return self.per_cluster.get(cluster, self.default)


@dataclass(frozen=True, slots=True)
class AppendResult:
    """One acknowledged append: flows offered, stored (new), and skipped as duplicates.

    ``new_rows`` says which were new: the positions, ascending, of the flows stored in the
    offered batch (``append``: in the iterable; ``append_arrow``: the table's rows), as a
    numpy int64 array; None from a store that does not say (then ``stored`` is all we know).
    """

    offered: int
    stored: int
    new_rows: Any = field(default=None, compare=False, repr=False)

    @property
    def duplicates(self) -> int:
        return self.offered - self.stored


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What ``enforce_retention`` deleted: raw flows by (cluster, day), per-minute rollup
    rows (``rollup_rows_deleted``), per-hour rollup rows and hourly edge rollup rows (kept
    as long as the per-hour rollup)."""

    flows_deleted: int
    days_deleted: tuple[tuple[str, str], ...]
    rollup_rows_deleted: int
    hour_rollup_rows_deleted: int = 0
    edge_rollup_rows_deleted: int = 0  # (hour, cluster, edge) rows of the edge rollup


@dataclass(frozen=True, slots=True)
class GroupCount:
    """One row of ``count_by``: the group's values by dimension, and its flow count."""

    key: Mapping[str, str | int | None]
    flows: int


class FlowStore(Protocol):
    """What the query layer, the ingestion endpoint and ``netwarden flows import`` rely on."""

    def append(self, flows: Iterable[Flow], *, cluster: str | None = None) -> AppendResult:
        """Store a batch atomically: when this returns, every new flow is durable, once."""
        ...

    def append_arrow(
        self, table: Any, *, cluster: str | None = None, now: int | None = None
    ) -> AppendResult:
        """``append`` for a batch already in columns: an Arrow table with the columns of
        ``flow_columns.ARROW_SCHEMA`` (``seq`` is assigned by the store; ``cluster``,
        when given, overrides the table's). The bulk path: no ``Flow`` objects."""
        ...

    def query(
        self,
        whitelist: Sequence[FlowFilter] = (),
        blacklist: Sequence[FlowFilter] = (),
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        order: Order = "asc",
    ) -> list[Flow]:
        """Flows with ``since <= time <= until`` (ns) that ``filter_flows`` would keep."""
        ...

    def count(self, *, since: int | None = None, until: int | None = None) -> int:
        """Raw flows stored (in a time range)."""
        ...

    def count_by(
        self,
        group: Sequence[str],
        *,
        since: int | None = None,
        until: int | None = None,
        clusters: Sequence[str] = (),
        resolution: Resolution = "minute",
    ) -> list[GroupCount]:
        """Flow counts from the per-minute (or per-hour) rollup, grouped by some of
        ``ROLLUP_DIMENSIONS`` (``HOUR_ROLLUP_DIMENSIONS``)."""
        ...

    def enforce_retention(self, now: int) -> RetentionResult:
        """Delete the whole days (and rollup minutes, hours) older than their retention period."""
        ...

    def close(self) -> None: ...


def flow_cluster(flow: Flow) -> str:
    """The cluster that observed a flow: the ``cluster/`` of its node name, else its endpoints'."""
    cluster, slash, _ = flow.node_name.partition("/")
    if slash and cluster:
        return cluster
    for endpoint in (flow.source, flow.destination):
        if endpoint.cluster_name:
            return endpoint.cluster_name
    for endpoint in (flow.source, flow.destination):
        for label in endpoint.labels:
            if label.startswith(CLUSTER_LABEL):
                return label[len(CLUSTER_LABEL) :]
    return DEFAULT_CLUSTER


def canonical_json(flow: Flow) -> str:
    """The flow's protojson text, keys in field order (stored for exact replay)."""
    return json.dumps(flow_to_json(flow), ensure_ascii=False, separators=(",", ":"))


def dedup_key(flow: Flow, raw: str) -> str:
    """The flow's uuid, or a content hash of its canonical JSON when it has none."""
    if flow.uuid:
        return flow.uuid
    return "sha256:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]
