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
  namespace, workload, labels (Hubble's ``k8s:`` labels, prefix removed, sorted) and
  identity, never by pod name or IP; any other endpoint (world, host, remote node, ...)
  by its kind (from its reserved labels or identity) and its IP.
- The L7 summary: ``"HTTP GET /path"`` (the URL's path, query dropped) for HTTP
  requests, ``"DNS name"`` (no trailing dot) for DNS requests, ``"Kafka"`` for Kafka,
  ``""`` for L3/L4 flows. A connection with L7 visibility thus makes an L4 edge and one
  edge per distinct request.
- Scoped like every read (``flows/scope.py``): a group is kept when the observing
  cluster and its source or destination namespace are in scope, in SQL.

Known gap: the store has no column for ``destination_names`` (the DNS name a world IP
was reached by) nor for the workload kind, so ``EdgeEnd.fqdn`` and
``EdgeEnd.workload_kind`` are empty until the flow table carries them.
See ``docs/design/preview.md``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from netwarden.flows.scope import FlowScope
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
_PATH_PATTERN = r"^(?:[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)?([^?#]*)"


@dataclass(frozen=True, slots=True)
class EdgeDialect:
    """What the edge statement spells differently per engine."""

    filters: Dialect
    top_examples: str  # the {n} most recent uuids of a group (ties: any)
    regex_group: str  # first capture group of the pattern (a parameter) in {column}


DUCKDB_EDGES = EdgeDialect(
    filters=DUCKDB,
    top_examples="max_by(uuid, coalesce(time_ns, 0), {n})",
    regex_group="regexp_extract({column}, ?, 1)",
)
CLICKHOUSE_EDGES = EdgeDialect(
    filters=CLICKHOUSE,
    top_examples=("arrayMap(x -> x.2, groupArraySorted({n})((-coalesce(time_ns, 0), uuid)))"),
    regex_group="extract({column}, ?)",
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


@runtime_checkable
class EdgeStore(Protocol):
    """A store that groups its flows into edges (both flow stores do)."""

    def edge_rows(self, query: EdgeQuery) -> list[tuple[Any, ...]]:
        """The rows of :func:`edges_sql` for ``query``, in its column order."""
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
) -> list[ObservedEdge]:
    """The distinct edges of the flows of ``cluster`` (None: every cluster) with
    ``since <= time <= until`` within ``scope`` (None: no restriction), most flows first
    (then by source, destination, port). ``verdicts`` keeps only flows recorded with
    those verdicts (``FORWARDED``, ``DROPPED``, ...)."""
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
    )
    if query.verdicts == ():
        return []
    return edges_from_rows(store.edge_rows(query), examples)


# --- SQL -------------------------------------------------------------------------------


def _side(side: str, dialect: EdgeDialect) -> list[str]:
    """The grouped columns of one end: a pod by cluster, namespace, workload, labels and
    identity; anything else by identity, labels and IP."""
    ip = "ip_src" if side == "src" else "ip_dst"
    return [
        f"{side}_cluster",
        f"{side}_namespace",
        f"{side}_workload",
        f"{side}_labels",  # as stored (Hubble sorts them); rows merge on sorted labels
        f"{side}_identity",
        f"CASE WHEN {side}_namespace = '' THEN coalesce({ip}, '') ELSE '' END",
    ]


def edges_sql(
    query: EdgeQuery, dialect: EdgeDialect, table: str = "flows"
) -> tuple[str, list[object]]:
    """The grouping statement (``?`` parameters) and its parameters. Columns: observing
    cluster, 6 source columns, 6 destination columns (see ``_side``), port, protocol,
    HTTP method, HTTP path, DNS query, Kafka flag, verdict, flows, first, last, examples."""
    where, params, _ = pushdown((), (), query.since, query.until, dialect.filters)
    clauses = [where, "(is_reply = FALSE OR (is_reply IS NULL AND verdict = 'DROPPED'))"]
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
    path = dialect.regex_group.format(column="http_url")
    keys = [
        "cluster",
        *_side("src", dialect),
        *_side("dst", dialect),
        "coalesce(dst_port, 0)",
        "l4_protocol",
        "coalesce(http_method, '')",
        f"CASE WHEN http_method IS NULL THEN '' ELSE coalesce({path}, '') END",
        "coalesce(dns_query, '')",
        f"{dialect.filters.has_any}(protocols, ['kafka'])",
        "verdict",
    ]
    examples = dialect.top_examples.format(n=max(query.examples, 1))
    numbered = ", ".join(f"{k} AS k{i}" for i, k in enumerate(keys))
    group = ", ".join(f"k{i}" for i in range(len(keys)))
    params = [_PATH_PATTERN, *params]  # the path's pattern comes first, in the SELECT
    sql = (
        f"SELECT {numbered}, count(*) AS flows, min(time_ns) AS first_ns, "
        f"max(time_ns) AS last_ns, {examples} AS examples FROM {table} "
        f"WHERE {' AND '.join(f'({c})' for c in clauses)} GROUP BY {group}"
    )
    return sql, params


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


def edges_from_rows(rows: Sequence[Sequence[Any]], examples: int) -> list[ObservedEdge]:
    """Edges from the statement's rows; rows that name the same edge (an empty and a
    ``/`` path, a DNS name with and without its trailing dot) are merged."""
    merged: dict[tuple[Any, ...], list[Any]] = {}
    ends: dict[tuple[Any, ...], EdgeEnd] = {}  # one object per end: cheap keys and sorts

    def end(observing: str, columns: Sequence[Any]) -> EdgeEnd:
        key = (observing, *columns[:3], tuple(columns[3] or ()), *columns[4:])
        found = ends.get(key)
        if found is None:
            found = ends[key] = _end(observing, columns)
        return found

    for row in rows:
        observing = str(row[0])
        source = end(observing, row[1:7])
        destination = end(observing, row[7:13])
        port, protocol = int(row[13] or 0), str(row[14] or "")
        l7 = _l7(str(row[15]), str(row[16]), str(row[17]), bool(row[18]))
        key = (source, destination, port, protocol, l7, str(row[19]))
        flows, first, last, uuids = int(row[20]), row[21], row[22], list(row[23] or ())
        times = [(last, uuid) for uuid in uuids if uuid]
        entry = merged.get(key)
        if entry is None:
            merged[key] = [flows, first, last, times]
            continue
        entry[0] += flows
        entry[1] = _min(entry[1], first)
        entry[2] = _max(entry[2], last)
        entry[3] += times
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
            examples=_examples(uuids, examples),
        )
        for (src, dst, port, protocol, l7, verdict), (flows, first, last, uuids) in merged.items()
    ]
    edges.sort(
        key=lambda e: (-e.flows, e.source, e.destination, e.port, e.protocol, e.l7, e.verdict)
    )
    return edges


def _examples(found: list[tuple[Any, str]], wanted: int) -> tuple[str, ...]:
    """The uuids of the first groups (each already most recent first), most recent
    group first, each uuid once, at most ``wanted``."""
    ordered = sorted(range(len(found)), key=lambda i: (-(found[i][0] or 0), i))
    picked: list[str] = []
    for i in ordered:
        uuid = found[i][1]
        if uuid not in picked:
            picked.append(uuid)
    return tuple(picked[:wanted])


def _end(observing: str, columns: Sequence[Any]) -> EdgeEnd:
    cluster, namespace, workload, raw_labels, identity, ip = columns
    labels = [str(label) for label in raw_labels or ()]
    number = int(identity) if identity is not None else None
    if namespace:
        return EdgeEnd(
            kind="pod",
            cluster=str(cluster) or observing,
            namespace=str(namespace),
            workload=str(workload),
            labels=pod_labels(labels),
            identity=number or None,
        )
    kind = endpoint_kind(labels, number)
    return EdgeEnd(
        kind=kind,
        cluster="" if kind == "world" else str(cluster) or observing,
        identity=number or None,
        ip=str(ip or ""),
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
