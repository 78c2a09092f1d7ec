"""Flow filters pushed down to SQL for the flow store.

``pushdown`` builds a WHERE clause that keeps every flow a request keeps (a superset), from
the time range and, per filter, the fields with an exact SQL form (``filter_sql``); the
caller checks the candidates with the full :class:`FlowFilter` semantics unless the clause
is exact. Columns are those of :mod:`netwarden.flows.flow_columns`; ``?`` marks a parameter.
The SQL is DuckDB's unless a :class:`Dialect` says otherwise (``CLICKHOUSE``: the few
function names that differ). ``rollup_sql`` is the query behind ``count_by``. See
``docs/design/flows.md`` ("Storage", "Queries", "ClickHouse backend").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from netwarden.flows.filter_core import FlowFilter
from netwarden.flows.flow_columns import day_of
from netwarden.flows.store import (
    HOUR_ROLLUP_DIMENSIONS,
    NANOS_PER_HOUR,
    NANOS_PER_MINUTE,
    ROLLUP_DIMENSIONS,
    Resolution,
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the engines in the push-down: a few function spellings.
    Everything else (``IN``, ``coalesce``, ``NOT``, comparisons) is the same SQL."""

    starts_with: str
    has_any: str
    low_16_bits: str  # of the column {}: port numbers are compared modulo 65536


DUCKDB = Dialect(starts_with="starts_with", has_any="list_has_any", low_16_bits="({} & 65535)")
CLICKHOUSE = Dialect(starts_with="startsWith", has_any="hasAny", low_16_bits="bitAnd({}, 65535)")


def pushdown(
    whitelist: Sequence[FlowFilter],
    blacklist: Sequence[FlowFilter],
    since: int | None,
    until: int | None,
    dialect: Dialect = DUCKDB,
) -> tuple[str, list[object], bool]:
    """A WHERE clause that keeps every flow the request keeps (a superset), its parameters,
    and whether it is exact (then no check in Python is needed)."""
    clauses: list[str] = []
    params: list[object] = []
    if since is not None:
        clauses.append("day >= ? AND time_ns >= ?")
        params += [day_of(since), since]
    if until is not None:
        clauses.append("day <= ? AND time_ns <= ?")
        params += [day_of(until), until]
    exact = True
    if whitelist:
        alternatives: list[str] = []
        for ff in whitelist:
            sql, values, filter_exact = filter_sql(ff, dialect)
            exact = exact and filter_exact
            alternatives.append(sql)
            params += values
        clauses.append("(" + " OR ".join(alternatives) + ")")
    for ff in blacklist:
        sql, values, filter_exact = filter_sql(ff, dialect)
        if filter_exact:  # NOT of a superset would drop flows the request keeps
            clauses.append(f"NOT ({sql})")
            params += values
        else:
            exact = False
    return (" AND ".join(clauses) or "TRUE"), params, exact


def filter_sql(ff: FlowFilter, dialect: Dialect = DUCKDB) -> tuple[str, list[object], bool]:
    """One filter as SQL that is never NULL: (condition, parameters, exact).

    Fields without an exact SQL form are left out (the condition is then a superset).
    """
    parts: list[str] = []
    params: list[object] = []
    exact = True
    for name in ff.set_fields():
        translated = _field_sql(ff, name, dialect)
        if translated is None:
            exact = False
            if name in ("staged_denied", "staged_allowed"):  # a superset: any staged mark
                parts.append(f"length({name}) > 0")
            continue
        sql, values = translated
        parts.append(f"coalesce(({sql}), FALSE)")
        params += values
    return (" AND ".join(parts) or "TRUE"), params, exact


def _field_sql(ff: FlowFilter, name: str, dialect: Dialect) -> tuple[str, list[object]] | None:
    values: tuple[Any, ...] = getattr(ff, name)
    column = _MEMBER_COLUMNS.get(name)
    if column is not None:
        wanted = [v.name if hasattr(v, "name") else v for v in values]
        return f"{column} IN ({marks(wanted)})", wanted
    if name == "drop_reason_desc":
        reasons = [v.name for v in values]
        return f"verdict = 'DROPPED' AND drop_reason_desc IN ({marks(reasons)})", reasons
    if name in ("source_pod", "destination_pod"):
        return _pod_sql("src" if name == "source_pod" else "dst", values, dialect)
    if name in ("source_port", "destination_port"):
        column = "src_port" if name == "source_port" else "dst_port"
        ports: list[object] = [int(v) for v in values]
        return f"{dialect.low_16_bits.format(column)} IN ({marks(ports)})", ports
    if name == "protocol":
        names = sorted({p for v in values for p in _PROTOCOLS[v.lower()]})
        return f"{dialect.has_any}(protocols, [{marks(names)}])", list(names)
    if name == "reply":
        wanted = [bool(v) for v in values]
        known = "(is_reply IS NOT NULL OR verdict = 'DROPPED')"
        return f"{known} AND coalesce(is_reply, FALSE) IN ({marks(wanted)})", wanted
    if name in ("staged_denied", "staged_allowed"):
        return _staged_sql(name, values)
    if name in ("source_ip", "destination_ip") and all(_is_address(v) for v in values):
        column = "ip_src" if name == "source_ip" else "ip_dst"
        return f"{column} IN ({marks(values)})", list(values)
    return None


_MEMBER_COLUMNS = {
    "verdict": "verdict",
    "traffic_direction": "traffic_direction",
    "ip_version": "ip_version",
    "uuid": "uuid",
    "source_identity": "src_identity",
    "destination_identity": "dst_identity",
    "source_cluster_name": "src_cluster",
    "destination_cluster_name": "dst_cluster",
}
_PROTOCOLS = {
    "tcp": ("TCP",),
    "udp": ("UDP",),
    "sctp": ("SCTP",),
    "icmpv4": ("ICMPv4",),
    "icmpv6": ("ICMPv6",),
    "icmp": ("ICMPv4", "ICMPv6"),
    "vrrp": ("VRRP",),
    "igmp": ("IGMP",),
    "dns": ("dns",),
    "http": ("http",),
    "kafka": ("kafka",),
}


def _pod_sql(side: str, values: Sequence[str], dialect: Dialect) -> tuple[str, list[object]]:
    """Hubble's ``ns/prefix`` (no ``/``: namespace ``default``; empty part: any)."""
    alternatives: list[str] = []
    params: list[object] = []
    for value in values:
        parts = value.split("/")
        namespace, prefix = (parts[0], parts[1]) if len(parts) > 1 else ("default", parts[0])
        checks = ["TRUE"]
        if namespace:
            checks.append(f"{side}_namespace = ?")
            params.append(namespace)
        if prefix:
            checks.append(f"{dialect.starts_with}({side}_pod, ?)")
            params.append(prefix)
        alternatives.append("(" + " AND ".join(checks) + ")")
    not_empty = f"NOT ({side}_namespace = '' AND {side}_pod = '')"
    return f"{not_empty} AND (" + " OR ".join(alternatives) + ")", params


def _staged_sql(column: str, values: Sequence[str]) -> tuple[str, list[object]] | None:
    """Flows with some staged mark of that outcome (the same SQL in both dialects): exact
    for ``*``; for a name (labels match by their tail) ``filter_sql`` keeps the superset
    ``length(column) > 0`` and the flows are checked in Python."""
    if all(v in ("", "*") for v in values):
        return f"length({column}) > 0", []
    return None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return "/" not in text


def marks(values: Sequence[object]) -> str:
    """One ``?`` placeholder per value, comma-separated."""
    return ", ".join("?" for _ in values)


# count_by's rollups: table, the dimensions it groups by, and its unit of time in ns.
ROLLUPS: dict[str, tuple[str, tuple[str, ...], int]] = {
    "minute": ("flow_rollup_minute", ROLLUP_DIMENSIONS, NANOS_PER_MINUTE),
    "hour": ("flow_rollup_hour", HOUR_ROLLUP_DIMENSIONS, NANOS_PER_HOUR),
}


def rollup_sql(
    group: Sequence[str],
    since: int | None,
    until: int | None,
    clusters: Sequence[str],
    resolution: Resolution,
    schema: str = "",
) -> tuple[str, list[object]]:
    """``count_by``'s query: the rollup of ``resolution`` (table ``schema`` + its name)
    summed per ``group``, largest first then by the group's values; the count is last.
    Sums, never the stored rows: rollup rows of one group may not be merged yet."""
    if resolution not in ROLLUPS:
        raise ValueError(f"resolution must be 'minute' or 'hour', not {resolution!r}")
    table, dimensions, unit = ROLLUPS[resolution]
    if any(g not in dimensions for g in group) or len(set(group)) != len(group):
        raise ValueError(f"group by {list(group)}: dimensions are {dimensions}")
    bounds = [(">=", since), ("<=", until)]
    where = [f"{resolution} {op} ?" for op, bound in bounds if bound is not None]
    params: list[object] = [bound // unit for _, bound in bounds if bound is not None]
    if clusters:
        where.append(f"cluster IN ({marks(clusters)})")
        params += list(clusters)
    keys = ", ".join(group)
    sql = f"SELECT {keys + ', ' if group else ''}sum(flows) FROM {schema}{table}"
    sql += f" WHERE {' AND '.join(where) or 'TRUE'}"
    if group:
        sql += f" GROUP BY {keys} ORDER BY sum(flows) DESC, {keys}"
    return sql, params
