"""Observed edges: the distinct connections recorded flows make, computed in the store.

A month of traffic is millions of flows but a few thousand distinct edges (source,
destination, port, protocol, L7 summary, verdict); recommendations and impact previews
work on those (``model.observed``). :func:`observed_edges` asks the store to group the
flows in SQL (DuckDB or ClickHouse, same statement up to a few function names) and
turns the groups into :class:`ObservedEdge` values.

What is an edge:
- Replies are not edges: the connection's initiator is the source. A flow counts when
  Hubble's ``reply: [false]`` filter keeps it (``is_reply`` false; unknown only on
  DROPPED flows), so ``FlowFilter(reply=(False,))`` over the same flows gives the counts.
- An endpoint is a pod when the flow names its namespace: it is described by cluster,
  namespace, workload (and its kind), labels (Hubble's ``k8s:`` labels, prefix removed,
  sorted) and identity, never by pod name or IP; any other endpoint (world, host, remote
  node, ...) by its kind (from its reserved labels or identity) and its IP, and a world
  destination also by the DNS name it was reached by (the flow's first
  ``destination_names``, trailing dot dropped): one edge per (IP, name).
- The L7 summary: ``"HTTP GET /path"`` (the URL's path, query dropped) for HTTP
  requests, ``"DNS name"`` (no trailing dot) for DNS requests, ``"Kafka"`` for Kafka,
  ``""`` for L3/L4 flows. A connection with L7 visibility thus makes an L4 edge and one
  edge per distinct request.
- Scoped like every read (``flows/scope.py``): a group is kept when the observing
  cluster and its source or destination namespace are in scope, in SQL.

Speed: the stores keep an hourly edge rollup, fed at ingest with exactly this grouping
(``increments_sql``): per (hour, edge id) the count, first and last time and the most
recent example uuids, the edge's keys once in a dictionary table. A bounded window reads
its whole hours from the rollup and its partial first and last hours from raw flows
(``plan``, ``statements``); rows of one edge are merged here, so the answer is the raw
query's. See ``docs/design/preview.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from netwarden.flows.scope import FlowScope
from netwarden.flows.store import NANOS_PER_HOUR
from netwarden.flows.store_sql import CLICKHOUSE, DUCKDB, Dialect, marks, pushdown
from netwarden.model.endpoint import RESERVED_IDENTITIES
from netwarden.model.observed import EdgeEnd, Labels, ObservedEdge

DEFAULT_EXAMPLES = 3
MAX_EXAMPLES = 20
_K8S = "k8s:"
_RESERVED = "reserved:"
_IDENTITY_KINDS = {number: name for name, number in RESERVED_IDENTITIES.items()}
_KIND_ALIASES = {"world-ipv4": "world", "world-ipv6": "world"}
# The path of a request URI: an absolute URL's scheme and authority dropped, query and
# fragment dropped (RE2 and DuckDB's regex engine read it the same way).
PATH_PATTERN = r"^(?:[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)?([^?#]*)"


@dataclass(frozen=True, slots=True)
class EdgeDialect:
    """What the edge statements spell differently per engine."""

    filters: Dialect
    # The {n} most recent (time, uuid) pairs of a group of flows (ties: any).
    top_examples: str
    # The same over rollup rows: their example lists, from the {n} rows seen last.
    top_rollup_examples: str
    # A rollup increment's examples: the DEFAULT_EXAMPLES most recent uuids (and times).
    increment_examples: str
    regex_group: str  # first capture group of the pattern (a parameter) in {column}
    first_name: str  # the first DNS name of a flow's destination, or ''
    hour: str  # the hour of time_ns (floor division)


_HOUR_FLOOR = f"(time_ns - {{mod}}) // {NANOS_PER_HOUR}"
DUCKDB_EDGES = EdgeDialect(
    filters=DUCKDB,
    top_examples=(
        "max_by(struct_pack(t := coalesce(time_ns, 0), u := uuid), coalesce(time_ns, 0), {n})"
    ),
    top_rollup_examples="max_by(struct_pack(u := examples, t := example_ns), last_ns, {n})",
    increment_examples=(
        f"max_by(uuid, time_ns, {DEFAULT_EXAMPLES}) AS examples, "
        f"max(time_ns, {DEFAULT_EXAMPLES}) AS example_ns"
    ),
    regex_group="regexp_extract({column}, ?, 1)",
    first_name="coalesce(dst_names[1], '')",
    hour=_HOUR_FLOOR.format(
        mod=f"((time_ns % {NANOS_PER_HOUR}) + {NANOS_PER_HOUR}) % {NANOS_PER_HOUR}"
    ),
)
CLICKHOUSE_EDGES = EdgeDialect(
    filters=CLICKHOUSE,
    top_examples=(
        "arrayMap(x -> (-x.1, x.2), groupArraySorted({n})((-coalesce(time_ns, 0), uuid)))"
    ),
    # The stored state keeps the DEFAULT_EXAMPLES most recent (-time, uuid); merged whole.
    top_rollup_examples=(
        f"arrayMap(x -> (-x.1, x.2), groupArraySortedMerge({DEFAULT_EXAMPLES})(examples))"
    ),
    increment_examples=(
        f"groupArraySortedState({DEFAULT_EXAMPLES})((-assumeNotNull(time_ns), uuid)) AS examples"
    ),
    regex_group="extract({column}, ?)",
    first_name="dst_names[1]",  # '' when there is none
    hour=f"intDiv(time_ns - positiveModulo(time_ns, {NANOS_PER_HOUR}), {NANOS_PER_HOUR})",
)


@dataclass(frozen=True, slots=True)
class EdgeQuery:
    """Which flows make the edges: the observing cluster (None: all), the time range (ns,
    inclusive), the caller's scope, the recorded verdicts kept (None: all), and how many
    example uuids each edge keeps (the most recent)."""

    cluster: str | None = None
    since: int | None = None
    until: int | None = None
    scope: FlowScope | None = None
    verdicts: tuple[str, ...] | None = None
    examples: int = DEFAULT_EXAMPLES
    rollup: bool = True  # whole hours may come from the edge rollup (same answers)


@runtime_checkable
class EdgeStore(Protocol):
    """A store that groups its flows into edges (both flow stores do)."""

    def edge_rows(self, query: EdgeQuery) -> list[tuple[Any, ...]]:
        """The rows of the :func:`statements` of ``query``, in their column order."""
        ...


def observed_edges(
    store: object,
    *,
    cluster: str | None,
    since: int | None,
    until: int | None,
    scope: FlowScope | None = None,
    verdicts: Collection[str] | None = None,
    examples: int = DEFAULT_EXAMPLES,
    rollup: bool = True,
) -> list[ObservedEdge]:
    """The distinct edges of the flows of ``cluster`` (None: every cluster) with
    ``since <= time <= until`` within ``scope`` (None: no restriction), most flows first
    (then by source, destination, port). ``verdicts`` keeps only flows recorded with
    those verdicts (``FORWARDED``, ``DROPPED``, ...). The whole hours of a bounded window
    come from the store's hourly edge rollup (``rollup=False``: raw flows only); the
    answer is the same."""
    if not isinstance(store, EdgeStore):
        raise TypeError(f"{type(store).__name__} cannot compute observed edges")
    if not 0 <= examples <= MAX_EXAMPLES:
        raise ValueError(f"examples must be between 0 and {MAX_EXAMPLES}")
    if scope is not None and scope.empty:
        return []
    query = EdgeQuery(
        cluster=cluster,
        since=since,
        until=until,
        scope=scope,
        verdicts=tuple(sorted(set(verdicts))) if verdicts is not None else None,
        examples=examples,
        rollup=rollup,
    )
    if query.verdicts == ():
        return []
    return edges_from_rows(store.edge_rows(query), examples)


# --- SQL -------------------------------------------------------------------------------

# Flows that make edges: not replies (unknown only on DROPPED flows).
NOT_REPLY = "(is_reply = FALSE OR (is_reply IS NULL AND verdict = 'DROPPED'))"
SIDE_COLUMNS = (
    "cluster",
    "namespace",
    "workload",
    "workload_kind",
    "labels",
    "identity",
    "ip",
    "name",
)


def edge_keys(dialect: EdgeDialect) -> list[tuple[str, str]]:
    """The grouping of flows into edges, ``(name, expression over the flows table)`` in
    row order: the observing cluster; per end (see ``SIDE_COLUMNS``) a pod by cluster,
    namespace, workload (and kind), labels and identity, anything else by identity,
    labels, IP and (destinations) the DNS name it was reached by; then port, protocol,
    HTTP method, HTTP path (one ``?``: the path pattern), DNS query, Kafka flag, verdict.
    The raw statement and the edge rollup group by exactly these."""
    keys = [("cluster", "cluster")]
    for side, ip in (("src", "ip_src"), ("dst", "ip_dst")):
        not_pod = f"{side}_namespace = ''"
        name = f"CASE WHEN {not_pod} THEN {dialect.first_name} ELSE '' END"
        keys += [
            (f"{side}_cluster", f"{side}_cluster"),
            (f"{side}_namespace", f"{side}_namespace"),
            (f"{side}_workload", f"{side}_workload"),
            (f"{side}_workload_kind", f"{side}_workload_kind"),
            # as stored (Hubble sorts them); rows merge on sorted labels
            (f"{side}_labels", f"{side}_labels"),
            (f"{side}_identity", f"{side}_identity"),
            (f"{side}_ip", f"CASE WHEN {not_pod} THEN coalesce({ip}, '') ELSE '' END"),
            (f"{side}_name", name if side == "dst" else "''"),
        ]
    path = dialect.regex_group.format(column="http_url")
    keys += [
        ("port", "coalesce(dst_port, 0)"),
        ("protocol", "l4_protocol"),
        ("http_method", "coalesce(http_method, '')"),
        ("http_path", f"CASE WHEN http_method IS NULL THEN '' ELSE coalesce({path}, '') END"),
        ("dns_query", "coalesce(dns_query, '')"),
        ("kafka", f"{dialect.filters.has_any}(protocols, ['kafka'])"),
        ("verdict", "verdict"),
    ]
    return keys


KEY_NAMES = tuple(name for name, _ in edge_keys(DUCKDB_EDGES))


def _filters(query: EdgeQuery) -> tuple[list[str], list[object]]:
    """The cluster, verdict and scope conditions (over the key columns' names)."""
    clauses: list[str] = []
    params: list[object] = []
    if query.cluster is not None:
        clauses.append("cluster = ?")
        params.append(query.cluster)
    if query.verdicts is not None:
        clauses.append(f"verdict IN ({marks(query.verdicts)})")
        params += list(query.verdicts)
    if query.scope is not None and not query.scope.everything:
        scope_sql, scope_params = _scope_sql(query.scope)
        clauses.append(scope_sql)
        params += scope_params
    return clauses, params


def edges_sql(
    query: EdgeQuery, dialect: EdgeDialect, table: str = "flows"
) -> tuple[str, list[object]]:
    """The grouping statement over raw flows (``?`` parameters) and its parameters.
    Columns: the keys (``edge_keys``), flows, first, last, examples (the most recent
    (time, uuid) pairs)."""
    where, params, _ = pushdown((), (), query.since, query.until, dialect.filters)
    filters, filter_params = _filters(query)
    clauses = [where, NOT_REPLY, *filters]
    params += filter_params
    keys = edge_keys(dialect)
    examples = dialect.top_examples.format(n=max(query.examples, 1))
    numbered = ", ".join(f"{expr} AS k{i}" for i, (_, expr) in enumerate(keys))
    group = ", ".join(f"k{i}" for i in range(len(keys)))
    params = [PATH_PATTERN, *params]  # the path's pattern comes first, in the SELECT
    sql = (
        f"SELECT {numbered}, count(*) AS flows, min(time_ns) AS first_ns, "
        f"max(time_ns) AS last_ns, {examples} AS examples FROM {table} "
        f"WHERE {' AND '.join(f'({c})' for c in clauses)} GROUP BY {group}"
    )
    return sql, params


# --- the hourly edge rollup -----------------------------------------------------------

ROLLUP_EXAMPLES = DEFAULT_EXAMPLES  # example uuids kept per rollup row
MIN_ROLLUP_HOURS = 2  # whole hours a window needs before the rollup answers it


@dataclass(frozen=True, slots=True)
class EdgeTables:
    """Where a store keeps its flows and its edge rollup (names as the SQL spells them)."""

    flows: str = "flows"
    keys: str = "flow_edge_keys"
    hours: str = "flow_edge_hour"


def increments_sql(dialect: EdgeDialect, source: str) -> tuple[str, list[object]]:
    """The hourly edge increments of the flows of ``source`` (``?``: the path pattern):
    hour, the keys, flows, first and last time, and the ``ROLLUP_EXAMPLES`` most recent
    uuids with their times. Flows without a time are left out (no window holds them)."""
    keys = edge_keys(dialect)
    named = ", ".join(f"{expr} AS {name}" for name, expr in keys)
    group = ", ".join(["hour", *(name for name, _ in keys)])
    sql = (
        f"SELECT {dialect.hour} AS hour, {named}, count(*) AS flows, min(time_ns) AS first_ns, "
        f"max(time_ns) AS last_ns, {dialect.increment_examples} FROM {source} "
        f"WHERE time_ns IS NOT NULL AND {NOT_REPLY} GROUP BY {group}"
    )
    return sql, [PATH_PATTERN]


@dataclass(frozen=True, slots=True)
class EdgePlan:
    """How to answer a query: raw flows over ``raw`` windows (inclusive ns bounds), and
    the rollup over the whole hours ``hours`` (inclusive), when any."""

    raw: tuple[tuple[int | None, int | None], ...]
    hours: tuple[int, int] | None


def plan(query: EdgeQuery, rollup: bool = True) -> EdgePlan:
    """Whole hours from the rollup when the window is bounded, holds at least
    ``MIN_ROLLUP_HOURS`` of them and wants no more examples than the rollup keeps; the
    partial first and last hours from raw flows. Otherwise raw flows only."""
    since, until = query.since, query.until
    if not rollup or since is None or until is None or query.examples > ROLLUP_EXAMPLES:
        return EdgePlan(((since, until),), None)
    first = -((-since) // NANOS_PER_HOUR)  # the first hour starting at or after since
    last = (until + 1) // NANOS_PER_HOUR - 1  # the last hour ending at or before until
    if last - first + 1 < MIN_ROLLUP_HOURS:
        return EdgePlan(((since, until),), None)
    raw: list[tuple[int | None, int | None]] = []
    if since < first * NANOS_PER_HOUR:
        raw.append((since, first * NANOS_PER_HOUR - 1))
    if (last + 1) * NANOS_PER_HOUR <= until:
        raw.append(((last + 1) * NANOS_PER_HOUR, until))
    return EdgePlan(tuple(raw), (first, last))


def rollup_sql(
    query: EdgeQuery, dialect: EdgeDialect, hours: tuple[int, int], tables: EdgeTables
) -> tuple[str, list[object]]:
    """The edges of whole ``hours`` from the rollup, in the raw statement's columns (the
    examples as the rollup's: see ``example_pairs``). Aggregated per edge id first, then
    joined with the edge's keys; the filters apply to the keys."""
    params: list[object] = [hours[0], hours[1]]
    inner_where = "hour BETWEEN ? AND ?"
    if query.cluster is not None:
        inner_where += " AND cluster = ?"
        params.append(query.cluster)
    filters, filter_params = _filters(query)
    params += filter_params
    examples = dialect.top_rollup_examples.format(n=max(query.examples, 1))
    columns = ", ".join(f"k.{name}" for name in KEY_NAMES)
    join = "ANY INNER JOIN" if dialect is CLICKHOUSE_EDGES else "JOIN"
    sql = (
        f"SELECT {columns}, h.flows, h.first_ns, h.last_ns, h.examples FROM ("
        f"SELECT edge, sum(flows) AS flows, min(first_ns) AS first_ns, "
        f"max(last_ns) AS last_ns, {examples} AS examples FROM {tables.hours} "
        f"WHERE {inner_where} GROUP BY edge) AS h {join} {tables.keys} AS k ON k.edge = h.edge"
        + (f" WHERE {' AND '.join(f'({c})' for c in filters)}" if filters else "")
    )
    return sql, params


def statements(
    query: EdgeQuery, dialect: EdgeDialect, tables: EdgeTables, rollup: bool = True
) -> list[tuple[str, list[object]]]:
    """The statements whose rows together make the edges of ``query`` (``plan``)."""
    chosen = plan(query, rollup and query.rollup)
    out = [
        edges_sql(dataclasses.replace(query, since=since, until=until), dialect, tables.flows)
        for since, until in chosen.raw
    ]
    if chosen.hours is not None:
        out.append(rollup_sql(query, dialect, chosen.hours, tables))
    return out


def _scope_sql(scope: FlowScope) -> tuple[str, list[object]]:
    """The scope as SQL over (cluster, src_namespace, dst_namespace): whole clusters, or
    the flows whose source or destination namespace is one of a cluster's."""
    alternatives: list[str] = []
    params: list[object] = []
    if scope.clusters:
        clusters = sorted(scope.clusters)
        alternatives.append(f"cluster IN ({marks(clusters)})")
        params += clusters
    by_cluster: dict[str, list[str]] = {}
    for cluster, namespace in sorted(scope.namespaces):
        by_cluster.setdefault(cluster, []).append(namespace)
    for cluster, namespaces in by_cluster.items():
        names = marks(namespaces)
        alternatives.append(
            f"(cluster = ? AND (src_namespace IN ({names}) OR dst_namespace IN ({names})))"
        )
        params += [cluster, *namespaces, *namespaces]
    return "(" + (" OR ".join(alternatives) or "FALSE") + ")", params


# --- rows to edges ---------------------------------------------------------------------

_SIDE = len(SIDE_COLUMNS)


def edges_from_rows(rows: Sequence[Sequence[Any]], examples: int) -> list[ObservedEdge]:
    """Edges from the statements' rows; rows that name the same edge (an empty and a
    ``/`` path, a DNS name with and without its trailing dot, raw and rollup rows of one
    edge) are merged: counts added, times and the most recent examples kept."""
    merged: dict[tuple[Any, ...], list[Any]] = {}
    ends: dict[tuple[Any, ...], EdgeEnd] = {}  # one object per end: cheap keys and sorts

    def end(observing: str, columns: Sequence[Any]) -> EdgeEnd:
        key = (observing, *columns[:4], tuple(columns[4] or ()), *columns[5:])
        found = ends.get(key)
        if found is None:
            found = ends[key] = _end(observing, columns)
        return found

    rest = 1 + 2 * _SIDE
    for row in rows:
        observing = str(row[0])
        source = end(observing, row[1 : 1 + _SIDE])
        destination = end(observing, row[1 + _SIDE : rest])
        port, protocol = int(row[rest] or 0), str(row[rest + 1] or "")
        l7 = _l7(str(row[rest + 2]), str(row[rest + 3]), str(row[rest + 4]), bool(row[rest + 5]))
        key = (source, destination, port, protocol, l7, str(row[rest + 6]))
        flows, first, last = int(row[rest + 7]), row[rest + 8], row[rest + 9]
        pairs = example_pairs(row[rest + 10])
        entry = merged.get(key)
        if entry is None:
            merged[key] = [flows, first, last, pairs]
            continue
        entry[0] += flows
        entry[1] = _min(entry[1], first)
        entry[2] = _max(entry[2], last)
        entry[3] += pairs
    edges = [
        ObservedEdge(
            source=src,
            destination=dst,
            port=port,
            protocol=protocol,
            l7=l7,
            verdict=verdict,
            flows=flows,
            first_seen=int(first or 0),
            last_seen=int(last or 0),
            examples=_examples(pairs, examples),
        )
        for (src, dst, port, protocol, l7, verdict), (flows, first, last, pairs) in merged.items()
    ]
    edges.sort(
        key=lambda e: (-e.flows, e.source, e.destination, e.port, e.protocol, e.l7, e.verdict)
    )
    return edges


def example_pairs(value: Any) -> list[tuple[int, str]]:
    """A row's examples as (time, uuid) pairs, from any of the statements' forms: pairs
    (ClickHouse), ``{t, u}`` structs (DuckDB), or per rollup row ``{u: [...], t: [...]}``
    lists (DuckDB)."""
    out: list[tuple[int, str]] = []
    for item in value or ():
        if isinstance(item, dict) and "u" not in item:  # a tuple read as an Arrow struct
            item = tuple(item.values())
        if isinstance(item, dict):
            uuids, times = item["u"], item["t"]
            if isinstance(uuids, list):
                out += [(int(t or 0), str(u)) for t, u in zip(times, uuids, strict=True)]
            else:
                out.append((int(times or 0), str(uuids)))
        else:
            out.append((int(item[0] or 0), str(item[1])))
    return out


def _examples(found: list[tuple[int, str]], wanted: int) -> tuple[str, ...]:
    """The ``wanted`` most recent uuids (each once; ties: any)."""
    picked: list[str] = []
    for _, uuid in sorted(found, key=lambda pair: -pair[0]):
        if uuid and uuid not in picked:
            picked.append(uuid)
            if len(picked) == wanted:
                break
    return tuple(picked)


def _end(observing: str, columns: Sequence[Any]) -> EdgeEnd:
    cluster, namespace, workload, workload_kind, raw_labels, identity, ip, name = columns
    labels = [str(label) for label in raw_labels or ()]
    number = int(identity) if identity is not None else None
    if namespace:
        return EdgeEnd(
            kind="pod",
            cluster=str(cluster) or observing,
            namespace=str(namespace),
            workload=str(workload),
            workload_kind=str(workload_kind or ""),
            labels=pod_labels(labels),
            identity=number or None,
        )
    kind = endpoint_kind(labels, number)
    return EdgeEnd(
        kind=kind,
        cluster="" if kind == "world" else str(cluster) or observing,
        identity=number or None,
        ip=str(ip or ""),
        fqdn=str(name or "").rstrip(".") if kind == "world" else "",
    )


def pod_labels(labels: Sequence[str]) -> Labels:
    """Hubble's ``k8s:key=value`` labels as sorted (key, value) pairs, prefix removed;
    labels of other sources (``reserved:``, ``cidr:``, ...) are not the pod's."""
    pairs: set[tuple[str, str]] = set()
    for label in labels:
        if not label.startswith(_K8S):
            continue
        key, _, value = label[len(_K8S) :].partition("=")
        pairs.add((key, value))
    return tuple(sorted(pairs))


def endpoint_kind(labels: Sequence[str], identity: int | None) -> str:
    """What a non-pod endpoint is: its ``reserved:`` label, else its reserved identity,
    else ``world`` for CIDR/FQDN identities, else ``unknown``."""
    for label in labels:
        if label.startswith(_RESERVED):
            name = label[len(_RESERVED) :].partition("=")[0]
            if name in RESERVED_IDENTITIES:
                return _KIND_ALIASES.get(name, name)
    if identity is not None and identity in _IDENTITY_KINDS:
        name = _IDENTITY_KINDS[identity]
        return _KIND_ALIASES.get(name, name)
    if any(label.startswith(("cidr:", "fqdn:")) for label in labels):
        return "world"
    return "unknown"


def _l7(method: str, path: str, dns: str, kafka: bool) -> str:
    if method:
        return f"HTTP {method.upper()} {path or '/'}"
    if dns:
        return f"DNS {dns.rstrip('.')}"
    return "Kafka" if kafka else ""


def _min(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _max(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)
