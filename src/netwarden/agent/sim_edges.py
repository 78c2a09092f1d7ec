"""The simulated cluster's traffic as edges, and the engine's verdict on each.

An :class:`Edge` is one kind of connection: from a workload (or a client outside the
cluster) to a workload, a service, kube-dns or an external IP, on one port and
protocol, with the HTTP requests or the DNS query it carries and its rate in
connections per second. :func:`build_edges` derives them from the topology (calls, the
DNS lookups each call implies, explicit lookups, scans). :func:`decide` asks the
policy engine once per (source identity, destination, port, protocol, request):
pods of one workload share an identity, so the first pod pair stands for all.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from netwarden.agent.sim_inventory import SimInventory, SimPod, stable_hash
from netwarden.agent.sim_policy import SideDecision, side_decision
from netwarden.agent.topology import HTTPCall, Topology, is_ip
from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.matching import HTTPRequest, fqdn_matches
from netwarden.model.endpoint import Endpoint, EndpointKind
from netwarden.model.ports import Protocol
from netwarden.model.rule import FQDNPeer

DNS_PER_CALL = 0.2  # lookups per connection (the rest is answered from caches)
DNS_TTL = 30


@dataclass(frozen=True, slots=True)
class External:
    """A destination or client outside the cluster."""

    ip: str
    fqdn: str = ""


@dataclass(frozen=True, slots=True)
class DNSQuery:
    query: str  # fully qualified, with the trailing dot
    ips: tuple[str, ...]
    rcode: int = 0


@dataclass
class Edge:
    kind: str  # "call", "dns" or "scan"
    sources: list[SimPod] | External
    targets: list[SimPod] | External
    port: int
    protocol: Protocol
    rate: float  # connections per second
    http: tuple[HTTPCall, ...] = ()
    dns: DNSQuery | None = None
    service: tuple[str, str] | None = None  # (namespace, name) the client addressed
    listening: bool = True  # a closed port answers with RST
    label: str = ""

    def host(self) -> str:
        if self.service is not None:
            return f"{self.service[1]}.{self.service[0]}.svc.cluster.local"
        if isinstance(self.targets, External):
            return self.targets.fqdn or self.targets.ip
        return str(self.targets[0].info.ip) if self.targets else ""


@dataclass(frozen=True, slots=True)
class RequestDecision:
    allowed: bool
    code: int  # HTTP status, or the DNS rcode


@dataclass
class EdgeDecision:
    egress: SideDecision
    ingress: SideDecision
    requests: dict[int, RequestDecision] = field(default_factory=dict)  # http index -> decision
    dns: RequestDecision | None = None
    dns_visible: bool = False

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed


def external_ip(fqdn: str, topo: Topology, taken: dict[str, str]) -> str:
    """A stable documentation address (198.51.100.0/24) for an external name."""
    name = fqdn.lower().rstrip(".")
    if name in topo.external:
        return topo.external[name]
    if name not in taken:
        used = set(taken.values())
        h = stable_hash("fqdn", name)
        for step in range(254):
            ip = f"198.51.100.{1 + (h + step) % 254}"
            if ip not in used:
                break
        taken[name] = ip
    return taken[name]


def build_edges(topo: Topology, inv: SimInventory) -> list[Edge]:
    edges: list[Edge] = []
    names: dict[str, str] = {}
    dns_rates: dict[tuple[str, str], float] = {}
    for call in topo.calls:
        sources: list[SimPod] | External
        sources = External(call.source) if is_ip(call.source) else inv.pods_of(call.source)
        service: tuple[str, str] | None = None
        targets: list[SimPod] | External
        query = ""
        if "/" in call.target:
            targets = inv.pods_of(call.target)
            namespace, _, name = call.target.partition("/")
            if inv.service(namespace, name) is not None:
                service = (namespace, name)
                query = f"{name}.{namespace}.svc.cluster.local."
        elif is_ip(call.target):
            targets = External(call.target)
        else:
            fqdn = call.target.lower().rstrip(".")
            targets = External(external_ip(fqdn, topo, names), fqdn)
            query = fqdn + "."
        if not targets or not sources:
            continue
        edge = Edge("call", sources, targets, call.port, call.protocol, call.rate, call.http)
        edge.service, edge.label = service, f"{call.source} -> {call.target}:{call.port}"
        edges.append(edge)
        if call.dns and query and not isinstance(sources, External):
            key = (call.source, query)
            dns_rates[key] = dns_rates.get(key, 0.0) + call.rate * DNS_PER_CALL
    for lookup in topo.lookups:
        query = lookup.query.lower().rstrip(".") + "."
        key = (lookup.source, query)
        dns_rates[key] = dns_rates.get(key, 0.0) + lookup.rate
    rcodes = {(x.source, x.query.lower().rstrip(".") + "."): x.rcode for x in topo.lookups}
    for (source, query), rate in dns_rates.items():
        rcode = rcodes.get((source, query), 0)
        answer = () if rcode else (_answer(query, topo, inv, names),)
        edges.append(_dns_edge(inv, source, DNSQuery(query, answer, rcode), rate))
    for scan in topo.scans:
        edges.extend(_scan_edges(inv, scan.source, scan.namespaces, scan.ports, scan.rate))
    return [e for e in edges if e.rate > 0]


def _answer(query: str, topo: Topology, inv: SimInventory, names: dict[str, str]) -> str:
    name = query.rstrip(".")
    parts = name.split(".")
    if name.endswith(".svc.cluster.local") and len(parts) == 5:
        svc = inv.service(parts[1], parts[0])
        if svc is not None and svc.cluster_ip:
            return svc.cluster_ip
    return external_ip(name, topo, names)


def _dns_edge(inv: SimInventory, source: str, query: DNSQuery, rate: float) -> Edge:
    edge = Edge(
        "dns", inv.pods_of(source), inv.pods_of("kube-system/kube-dns"), 53, Protocol.UDP, rate
    )
    edge.dns, edge.service = query, ("kube-system", "kube-dns")
    edge.label = f"{source} -> kube-dns {query.query}"
    return edge


def _scan_edges(
    inv: SimInventory, source: str, namespaces: tuple[str, ...], ports: tuple[int, ...], rate: float
) -> list[Edge]:
    scanner = inv.pods_of(source)
    targets = [
        key
        for key, pods in inv.by_workload.items()
        if pods and key != source and (not namespaces or key.split("/")[0] in namespaces)
    ]
    out = []
    for key in targets:
        w = inv.workloads[key]
        open_ports = {p.port for p in w.ports if p.protocol is Protocol.TCP}
        for port in ports:
            edge = Edge(
                "scan",
                scanner,
                inv.pods_of(key),
                port,
                Protocol.TCP,
                rate / (len(targets) * len(ports)),
            )
            edge.listening, edge.label = port in open_ports, f"{source} scans {key}:{port}"
            out.append(edge)
    return out


# ---- verdicts -----------------------------------------------------------------


def endpoint_of(side: list[SimPod] | External, cluster: str) -> Endpoint:
    if isinstance(side, External):
        ip = ipaddress.ip_address(side.ip)
        return Endpoint(EndpointKind.WORLD, cluster, ip, dns_name=side.fqdn or None)
    return side[0].endpoint


def decide(
    edge: Edge, engine: CompiledEngine, cluster: str, revision: int, dns_visibility: bool
) -> EdgeDecision:
    src, dst = endpoint_of(edge.sources, cluster), endpoint_of(edge.targets, cluster)
    if src == dst and isinstance(edge.targets, list) and len(edge.targets) > 1:
        dst = edge.targets[1].endpoint
    verdict = engine.verdict(src, dst, edge.port, edge.protocol)
    decision = EdgeDecision(
        side_decision(verdict.egress, revision), side_decision(verdict.ingress, revision)
    )
    for i, call in enumerate(edge.http):
        request = HTTPRequest(call.method, call.path, edge.host())
        per = engine.verdict(src, dst, edge.port, edge.protocol, request)
        decision.requests[i] = RequestDecision(per.allowed, 200 if per.allowed else 403)
    if edge.dns is not None:
        dns_rules = [d for rules in verdict.egress.l7 for d in rules.dns]
        decision.dns_visible = dns_visibility or bool(dns_rules)
        name = edge.dns.query.rstrip(".")
        allowed = not dns_rules or any(
            fqdn_matches(FQDNPeer(d.match_name, d.match_pattern), name) for d in dns_rules
        )
        decision.dns = RequestDecision(allowed, edge.dns.rcode if allowed else 5)
    return decision
