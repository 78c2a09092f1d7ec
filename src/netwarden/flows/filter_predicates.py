"""Compiling one FlowFilter: a predicate per populated field, all of them ANDed.

Each builder reads some fields of the filter and returns None when none of them is set;
a field Hubble would refuse raises FilterError here, before any flow is looked at.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from netwarden.flows.filter_http import http_predicate
from netwarden.flows.filter_labels import parse_label_selector
from netwarden.flows.filter_patterns import (
    compile_fqdn_patterns,
    compile_node_name_patterns,
    compile_regex,
    namespaced_name_matcher,
)
from netwarden.flows.filter_types import (
    TCP_FLAG_NAMES,
    FilterError,
    Predicate,
    UnsupportedFilterError,
    all_of,
)
from netwarden.model.flow import Flow, FlowEndpoint, IPVersion, Verdict, Workload

if TYPE_CHECKING:
    from netwarden.flows.filter_core import FlowFilter

DEFAULT_CLUSTER = "default"  # Cilium's default cluster name, prefixed to bare node names

_UNSUPPORTED = {
    "source_service": "source_service",
    "destination_service": "destination_service",
    "node_labels": "node_labels",
    "trace_id": "trace_context.parent.trace_id",
    "interface": "interface",
    "ip_trace_id": "ip_trace_id",
}


@lru_cache(maxsize=1024)
def compile_predicate(ff: FlowFilter) -> Predicate:
    """The predicate of one filter (cached); FilterError if Hubble would reject it."""
    for name in ff.set_fields():
        if name in _UNSUPPORTED:
            raise UnsupportedFilterError(
                f"FlowFilter.{name}: model.flow.Flow does not decode the flow field "
                f"{_UNSUPPORTED[name]!r} that this filter reads"
            )
    predicates = [p for build in _BUILDERS if (p := build(ff)) is not None]
    return all_of(predicates) or _always


def _always(flow: Flow) -> bool:
    return True


def _member(values: Sequence[object], get: Callable[[Flow], object]) -> Predicate:
    wanted = frozenset(values)
    return lambda flow: get(flow) in wanted


def _simple(ff: FlowFilter) -> Predicate | None:
    """Verdict, traffic direction, IP version, UUID: the flow's value is one of the listed."""
    checks: list[Predicate] = []
    if ff.verdict:
        checks.append(_member(ff.verdict, lambda f: f.verdict))
    if ff.traffic_direction:
        checks.append(_member(ff.traffic_direction, lambda f: f.traffic_direction))
    if ff.ip_version:
        checks.append(
            _member(ff.ip_version, lambda f: f.IP.ipVersion if f.IP else IPVersion.IP_NOT_USED)
        )
    if ff.uuid:
        checks.append(_member(ff.uuid, lambda f: f.uuid))
    if ff.encrypted:
        checks.append(_member(ff.encrypted, lambda f: f.IP is not None and f.IP.encrypted))
    return all_of(checks)


def _drop_reason(ff: FlowFilter) -> Predicate | None:
    if not ff.drop_reason_desc:
        return None
    wanted = frozenset(ff.drop_reason_desc)
    return lambda f: f.verdict is Verdict.DROPPED and f.drop_reason_desc in wanted


def _event_type(ff: FlowFilter) -> Predicate | None:
    if not ff.event_type:
        return None
    wanted = ff.event_type

    def match(flow: Flow) -> bool:
        event = flow.event_type
        if event is None:
            return False
        return any(
            (w.type == 0 or w.type == event.type)
            and (not w.match_sub_type or w.sub_type == event.sub_type)
            for w in wanted
        )

    return match


def _reply(ff: FlowFilter) -> Predicate | None:
    if not ff.reply:
        return None
    wanted = frozenset(ff.reply)

    def match(flow: Flow) -> bool:
        # Hubble treats an unknown is_reply as false on DROPPED flows only.
        if flow.is_reply is None and flow.verdict is not Verdict.DROPPED:
            return False
        return bool(flow.is_reply) in wanted

    return match


def _identity(ff: FlowFilter) -> Predicate | None:
    checks: list[Predicate] = []
    if ff.source_identity:
        checks.append(_member(ff.source_identity, lambda f: f.source.identity))
    if ff.destination_identity:
        checks.append(_member(ff.destination_identity, lambda f: f.destination.identity))
    return all_of(checks)


def _protocol(ff: FlowFilter) -> Predicate | None:
    if not ff.protocol:
        return None
    l4: set[str] = set()
    l7: set[str] = set()
    for name in ff.protocol:
        proto = name.lower()
        if proto == "icmp":
            l4 |= {"ICMPv4", "ICMPv6"}
        elif proto in _L4_NAMES:
            l4.add(_L4_NAMES[proto])
        elif proto in ("dns", "http", "kafka"):
            l7.add(proto)
        else:
            raise FilterError(f"invalid protocol filter: unknown protocol: {name!r}")

    def match(flow: Flow) -> bool:
        if flow.l4 is not None and any(getattr(flow.l4, p) is not None for p in l4):
            return True
        return flow.l7 is not None and any(getattr(flow.l7, p) is not None for p in l7)

    return match


_L4_NAMES = {
    "icmpv4": "ICMPv4",
    "icmpv6": "ICMPv6",
    "tcp": "TCP",
    "udp": "UDP",
    "sctp": "SCTP",
    "vrrp": "VRRP",
    "igmp": "IGMP",
}


def _ip(ff: FlowFilter) -> Predicate | None:
    checks: list[Predicate] = []
    if ff.source_ip:
        checks.append(_ip_match(ff.source_ip, lambda f: f.IP.source if f.IP else ""))
    if ff.destination_ip:
        checks.append(_ip_match(ff.destination_ip, lambda f: f.IP.destination if f.IP else ""))
    if ff.source_ip_xlated:
        checks.append(_ip_match(ff.source_ip_xlated, lambda f: f.IP.source_xlated if f.IP else ""))
    return all_of(checks)


def _ip_match(values: Sequence[str], get: Callable[[Flow], str]) -> Predicate:
    """Exact addresses compare as strings; ``a/b`` values are prefixes (CIDR)."""
    exact: set[str] = set()
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for value in values:
        try:
            if "/" in value:
                address, _, bits = value.partition("/")
                if "%" in address or not (bits.isascii() and bits.isdigit()):
                    raise ValueError(value)
                networks.append(ipaddress.ip_network(value, strict=False))
            else:
                ipaddress.ip_address(value)
                exact.add(value)
        except ValueError:
            raise FilterError(f"invalid IP address or prefix {value!r} in filter") from None

    def match(flow: Flow) -> bool:
        text = get(flow)
        if not text:
            return False
        if text in exact:
            return True
        if not networks or "%" in text:
            return False
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        return any(address in network for network in networks)

    return match


def _pod(ff: FlowFilter) -> Predicate | None:
    checks: list[Predicate] = []
    if ff.source_pod:
        src = namespaced_name_matcher(ff.source_pod)
        checks.append(lambda f: src(f.source.namespace, f.source.pod_name))
    if ff.destination_pod:
        dst = namespaced_name_matcher(ff.destination_pod)
        checks.append(lambda f: dst(f.destination.namespace, f.destination.pod_name))
    return all_of(checks)


def _workload(ff: FlowFilter) -> Predicate | None:
    checks: list[Predicate] = []
    if ff.source_workload:
        checks.append(_workload_match(ff.source_workload, lambda f: f.source))
    if ff.destination_workload:
        checks.append(_workload_match(ff.destination_workload, lambda f: f.destination))
    return all_of(checks)


def _workload_match(wanted: Sequence[Workload], get: Callable[[Flow], FlowEndpoint]) -> Predicate:
    def match(flow: Flow) -> bool:
        return any(
            (not w.name or w.name == have.name) and (not w.kind or w.kind == have.kind)
            for have in get(flow).workloads
            for w in wanted
        )

    return match


def _fqdn(ff: FlowFilter) -> Predicate | None:
    checks: list[Predicate] = []
    if ff.source_fqdn:
        src = compile_fqdn_patterns(ff.source_fqdn)
        checks.append(lambda f: any(src.fullmatch(name) for name in f.source_names))
    if ff.destination_fqdn:
        dst = compile_fqdn_patterns(ff.destination_fqdn)
        checks.append(lambda f: any(dst.fullmatch(name) for name in f.destination_names))
    if ff.dns_query:
        queries = [compile_regex(p, "DNS query") for p in ff.dns_query]
        checks.append(
            lambda f: (
                f.l7 is not None
                and f.l7.dns is not None
                and any(q.search(f.l7.dns.query) for q in queries)
            )
        )
    return all_of(checks)


def _labels(ff: FlowFilter) -> Predicate | None:
    checks: list[Predicate] = []
    if ff.source_label:
        src = [parse_label_selector(s) for s in ff.source_label]
        checks.append(lambda f: any(s.matches(f.source.labels) for s in src))
    if ff.destination_label:
        dst = [parse_label_selector(s) for s in ff.destination_label]
        checks.append(lambda f: any(s.matches(f.destination.labels) for s in dst))
    return all_of(checks)


def _port(ff: FlowFilter) -> Predicate | None:
    checks: list[Predicate] = []
    if ff.source_port:
        checks.append(_port_match(ff.source_port, 0))
    if ff.destination_port:
        checks.append(_port_match(ff.destination_port, 1))
    return all_of(checks)


def _port_match(values: Sequence[str], index: int) -> Predicate:
    wanted = frozenset(_parse_port(p) for p in values)

    def match(flow: Flow) -> bool:
        ports = _ports(flow)
        return ports is not None and ports[index] in wanted

    return match


def _parse_port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 0xFFFF:
        raise FilterError(f"invalid port {text!r}")
    return int(text)


def _ports(flow: Flow) -> tuple[int, int] | None:
    """TCP, then UDP, then SCTP ports, truncated to 16 bits as Hubble does."""
    ports = flow.l4.ports if flow.l4 is not None else None
    return None if ports is None else (ports[0] & 0xFFFF, ports[1] & 0xFFFF)


def _tcp_flags(ff: FlowFilter) -> Predicate | None:
    if not ff.tcp_flags:
        return None
    wanted = [tuple(n for n in TCP_FLAG_NAMES if getattr(w, n)) for w in ff.tcp_flags]

    def match(flow: Flow) -> bool:
        tcp = flow.l4.TCP if flow.l4 is not None else None
        if tcp is None or tcp.flags is None:
            return False
        have = tcp.flags
        return any(all(getattr(have, n) for n in names) for names in wanted)

    return match


def _node_name(ff: FlowFilter) -> Predicate | None:
    if not ff.node_name:
        return None
    pattern = compile_node_name_patterns(ff.node_name)

    def match(flow: Flow) -> bool:
        name = flow.node_name
        if not name:
            return False
        if "/" not in name:
            name = f"{DEFAULT_CLUSTER}/{name}"
        return pattern.fullmatch(name) is not None

    return match


def _cluster_name(ff: FlowFilter) -> Predicate | None:
    if "" in ff.source_cluster_name or "" in ff.destination_cluster_name:
        raise FilterError("invalid filter, name must not be empty")
    checks: list[Predicate] = []
    if ff.source_cluster_name:
        checks.append(_member(ff.source_cluster_name, lambda f: f.source.cluster_name))
    if ff.destination_cluster_name:
        checks.append(_member(ff.destination_cluster_name, lambda f: f.destination.cluster_name))
    return all_of(checks)


def staged_matches(policy: str, wanted: str) -> bool:
    """A staged policy label (``Kind/namespace/name``) against a filter value: ``*`` (or
    empty) any, else the label, or its ``namespace/name`` or ``name`` tail."""
    return wanted in ("", "*") or policy == wanted or policy.endswith("/" + wanted)


def _staged_outcome(values: Sequence[str], outcome: str) -> Predicate:
    def match(flow: Flow) -> bool:
        return any(
            s.outcome == outcome and staged_matches(s.policy, v)
            for s in flow.staged
            for v in values
        )

    return match


def _staged(ff: FlowFilter) -> Predicate | None:
    """Netwarden's extension: flows a staged policy would deny (or allow)."""
    checks: list[Predicate] = []
    if ff.staged_denied:
        checks.append(_staged_outcome(ff.staged_denied, "deny"))
    if ff.staged_allowed:
        checks.append(_staged_outcome(ff.staged_allowed, "allow"))
    return all_of(checks)


_BUILDERS: tuple[Callable[[FlowFilter], Predicate | None], ...] = (
    _simple,
    _event_type,
    _drop_reason,
    _reply,
    _identity,
    _protocol,
    _ip,
    _pod,
    _workload,
    _fqdn,
    _labels,
    _port,
    http_predicate,
    _tcp_flags,
    _node_name,
    _cluster_name,
    _staged,
)
