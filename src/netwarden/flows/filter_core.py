"""The FlowFilter message and a request's whitelist/blacklist semantics.

Within one :class:`FlowFilter` every populated field must match (AND), within a field
any value may (OR); a request keeps a flow when any whitelist filter matches (an empty
whitelist keeps everything) and no blacklist filter does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from netwarden.flows.filter_json import filter_from_json, filter_to_json
from netwarden.flows.filter_predicates import compile_predicate
from netwarden.flows.filter_types import EventTypeFilter, NetworkInterface, Predicate
from netwarden.model.flow import (
    DropReason,
    Flow,
    HTTPHeader,
    IPVersion,
    TCPFlags,
    TrafficDirection,
    Verdict,
    Workload,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowFilter:
    """``flow.FlowFilter`` (fields in proto field-number order, names verbatim).

    Pods and services are ``[namespace/]name-prefix`` (no namespace = ``default``,
    ``ns/`` = any pod in ``ns``, ``/prefix`` = any namespace); labels are Kubernetes
    selectors with Cilium sources (``k8s:app=web``, ``app in (a,b)``, ``!key``); FQDNs
    and node names are ``*`` patterns; ``http_status_code`` is ``404`` or ``4+``/``40+``;
    ``dns_query``, ``http_path`` and ``http_url`` are regular expressions (searched).
    Lists are tuples; a list given at run time is turned into one.
    """

    source_ip: tuple[str, ...] = ()
    source_pod: tuple[str, ...] = ()
    destination_ip: tuple[str, ...] = ()
    destination_pod: tuple[str, ...] = ()
    verdict: tuple[Verdict, ...] = ()
    event_type: tuple[EventTypeFilter, ...] = ()
    source_fqdn: tuple[str, ...] = ()
    destination_fqdn: tuple[str, ...] = ()
    http_status_code: tuple[str, ...] = ()
    source_label: tuple[str, ...] = ()
    destination_label: tuple[str, ...] = ()
    protocol: tuple[str, ...] = ()
    source_port: tuple[str, ...] = ()
    destination_port: tuple[str, ...] = ()
    reply: tuple[bool, ...] = ()
    source_service: tuple[str, ...] = ()
    destination_service: tuple[str, ...] = ()
    dns_query: tuple[str, ...] = ()
    source_identity: tuple[int, ...] = ()
    destination_identity: tuple[int, ...] = ()
    http_method: tuple[str, ...] = ()
    http_path: tuple[str, ...] = ()
    tcp_flags: tuple[TCPFlags, ...] = ()
    node_name: tuple[str, ...] = ()
    ip_version: tuple[IPVersion, ...] = ()
    source_workload: tuple[Workload, ...] = ()
    destination_workload: tuple[Workload, ...] = ()
    trace_id: tuple[str, ...] = ()
    uuid: tuple[str, ...] = ()
    traffic_direction: tuple[TrafficDirection, ...] = ()
    http_url: tuple[str, ...] = ()
    http_header: tuple[HTTPHeader, ...] = ()
    drop_reason_desc: tuple[DropReason, ...] = ()
    source_ip_xlated: tuple[str, ...] = ()
    interface: tuple[NetworkInterface, ...] = ()
    node_labels: tuple[str, ...] = ()
    source_cluster_name: tuple[str, ...] = ()
    destination_cluster_name: tuple[str, ...] = ()
    ip_trace_id: tuple[int, ...] = ()
    encrypted: tuple[bool, ...] = ()
    # Netwarden's extension (JSON: ``{"netwarden": {"staged_denied": [...]}}``): flows a
    # staged policy would deny / allow. A value is the policy (``Kind/namespace/name``,
    # ``namespace/name`` or ``name``; ``Blueprint//name`` or a blueprint's name), ``*``
    # any staged policy.
    staged_denied: tuple[str, ...] = ()
    staged_allowed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str | bytes) or not isinstance(value, Iterable):
                raise TypeError(f"FlowFilter.{f.name} must be a tuple of values, got {value!r}")
            if not isinstance(value, tuple):
                object.__setattr__(self, f.name, tuple(value))

    def compile(self) -> Predicate:
        """The predicate of this filter; FilterError if Hubble would reject the filter."""
        return compile_predicate(self)

    def match(self, flow: Flow) -> bool:
        return compile_predicate(self)(flow)

    def set_fields(self) -> tuple[str, ...]:
        """Names of the populated fields."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name))

    def to_json(self) -> dict[str, Any]:
        """The protojson form (proto names, zero values omitted), as ``--print-raw-filters``."""
        return filter_to_json(self)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> FlowFilter:
        """Read a JSON FlowFilter (proto names or lowerCamel; enums as names or numbers)."""
        return filter_from_json(cls, obj)


def compile_filters(filters: Iterable[FlowFilter]) -> tuple[Predicate, ...]:
    """Compile a whitelist or blacklist; the first invalid filter raises FilterError."""
    return tuple(ff.compile() for ff in filters)


def matches(
    flow: Flow, whitelist: Sequence[FlowFilter] = (), blacklist: Sequence[FlowFilter] = ()
) -> bool:
    """Hubble's ``filters.Apply``: any whitelist filter matches and no blacklist filter does."""
    return _keep(flow, compile_filters(whitelist), compile_filters(blacklist))


def _keep(flow: Flow, allow: Sequence[Predicate], deny: Sequence[Predicate]) -> bool:
    if allow and not any(p(flow) for p in allow):
        return False
    return not any(p(flow) for p in deny)


def filter_flows(
    flows: Iterable[Flow],
    whitelist: Sequence[FlowFilter] = (),
    blacklist: Sequence[FlowFilter] = (),
) -> Iterator[Flow]:
    """The flows a GetFlows request with these lists returns, in order (lazily).

    Every filter is compiled (and validated) before the first flow is read.
    """
    allow, deny = compile_filters(whitelist), compile_filters(blacklist)
    return (flow for flow in flows if _keep(flow, allow, deny))
