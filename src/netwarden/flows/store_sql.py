"""Flow filters pushed down to SQL for the flow store.

``pushdown`` builds a WHERE clause that keeps every flow a request keeps (a superset), from
the time range and, per filter, the fields with an exact SQL form (``filter_sql``); the
caller checks the candidates with the full :class:`FlowFilter` semantics unless the clause
is exact. Columns are those of :mod:`netwarden.flows.flow_columns`; see
``docs/design/flows.md`` ("Storage", "Queries").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from netwarden.flows.filter_core import FlowFilter
from netwarden.flows.flow_columns import day_of


def pushdown(
    whitelist: Sequence[FlowFilter],
    blacklist: Sequence[FlowFilter],
    since: int | None,
    until: int | None,
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
            sql, values, filter_exact = filter_sql(ff)
            exact = exact and filter_exact
            alternatives.append(sql)
            params += values
        clauses.append("(" + " OR ".join(alternatives) + ")")
    for ff in blacklist:
        sql, values, filter_exact = filter_sql(ff)
        if filter_exact:  # NOT of a superset would drop flows the request keeps
            clauses.append(f"NOT ({sql})")
            params += values
        else:
            exact = False
    return (" AND ".join(clauses) or "TRUE"), params, exact


def filter_sql(ff: FlowFilter) -> tuple[str, list[object], bool]:
    """One filter as SQL that is never NULL: (condition, parameters, exact).

    Fields without an exact SQL form are left out (the condition is then a superset).
    """
    parts: list[str] = []
    params: list[object] = []
    exact = True
    for name in ff.set_fields():
        translated = _field_sql(ff, name)
        if translated is None:
            exact = False
            continue
        sql, values = translated
        parts.append(f"coalesce(({sql}), FALSE)")
        params += values
    return (" AND ".join(parts) or "TRUE"), params, exact


def _field_sql(ff: FlowFilter, name: str) -> tuple[str, list[object]] | None:
    values: tuple[Any, ...] = getattr(ff, name)
    column = _MEMBER_COLUMNS.get(name)
    if column is not None:
        wanted = [v.name if hasattr(v, "name") else v for v in values]
        return f"{column} IN ({marks(wanted)})", wanted
    if name == "drop_reason_desc":
        reasons = [v.name for v in values]
        return f"verdict = 'DROPPED' AND drop_reason_desc IN ({marks(reasons)})", reasons
    if name in ("source_pod", "destination_pod"):
        return _pod_sql("src" if name == "source_pod" else "dst", values)
    if name in ("source_port", "destination_port"):
        column = "src_port" if name == "source_port" else "dst_port"
        ports: list[object] = [int(v) for v in values]
        return f"({column} & 65535) IN ({marks(ports)})", ports
    if name == "protocol":
        names = sorted({p for v in values for p in _PROTOCOLS[v.lower()]})
        return f"list_has_any(protocols, [{marks(names)}])", list(names)
    if name == "reply":
        wanted = [bool(v) for v in values]
        known = "(is_reply IS NOT NULL OR verdict = 'DROPPED')"
        return f"{known} AND coalesce(is_reply, FALSE) IN ({marks(wanted)})", wanted
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


def _pod_sql(side: str, values: Sequence[str]) -> tuple[str, list[object]]:
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
            checks.append(f"starts_with({side}_pod, ?)")
            params.append(prefix)
        alternatives.append("(" + " AND ".join(checks) + ")")
    not_empty = f"NOT ({side}_namespace = '' AND {side}_pod = '')"
    return f"{not_empty} AND (" + " OR ".join(alternatives) + ")", params


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return "/" not in text


def marks(values: Sequence[object]) -> str:
    """One ``?`` placeholder per value, comma-separated."""
    return ", ".join("?" for _ in values)
