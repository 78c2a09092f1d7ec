"""Hubble flow lines for the simulated cluster, from templates built once per apply.

Each edge and pod pair (and HTTP request) becomes a :class:`Conversation`: the
``hubble observe -o json`` lines one connection produces (policy-verdict or trace
events for both ends, the reply, L7 DNS/HTTP records), each pre-encoded as a byte
template with four holes: the flow's time, its uuid, the client's ephemeral port and
the envelope's time. Generating a flow is one ``bytes % tuple``. Which records a
connection makes follows Cilium: an endpoint that no policy selects emits trace
events, one that is selected emits policy-verdict events (type 5) with the deciding
policies; a denied connection stops at the dropping end (in audit mode it goes on,
with ``AUDIT``); L7 records appear where L7 rules put the proxy in the path (and for
DNS when DNS visibility is on).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from dataclasses import dataclass
from typing import Any

from netwarden.agent.sim_edges import Edge, EdgeDecision, External
from netwarden.agent.sim_inventory import SimPod
from netwarden.agent.sim_policy import SideDecision
from netwarden.flows.flowencode import format_time
from netwarden.model.ports import Protocol

_T, _U, _P = "@@T@@", "@@U@@", "@@P@@"
_HOLES = re.compile(rb'"@@T@@"|"@@U@@"|"@@P@@"')
_WORLD = {"identity": 2, "labels": ["reserved:world"]}
MAX_PAIRS = 12  # pod pairs per edge (pods of a workload share an identity and verdicts)
_DROP_NAMES = {133: "POLICY_DENIED", 181: "POLICY_DENY"}


@dataclass(frozen=True, slots=True)
class Conversation:
    """The records of one connection: (template, time offset in ns)."""

    weight: float  # connections per second
    records: tuple[tuple[bytes, int], ...]
    label: str


@dataclass(frozen=True, slots=True)
class Side:
    """One end of a connection as the records show it."""

    ip: str
    node: str  # "" for the outside world
    endpoint: dict[str, Any]  # Hubble's Endpoint, without ID
    endpoint_id: int = 0

    def json(self, local: bool) -> dict[str, Any]:
        if local and self.endpoint_id:
            return {"ID": self.endpoint_id, **self.endpoint}
        return self.endpoint


def pod_side(pod: SimPod, cluster: str) -> Side:
    info = pod.info
    ep: dict[str, Any] = {
        "identity": pod.identity,
        "cluster_name": cluster,
        "namespace": info.namespace,
        "labels": list(pod.identity_labels),
        "pod_name": info.name,
    }
    if info.workload:
        ep["workloads"] = [{"name": info.workload, "kind": info.workload_kind}]
    return Side(str(info.ip), f"{cluster}/{info.node}", ep, pod.endpoint_id)


def template(flow: dict[str, Any], node: str) -> bytes:
    """The line with holes: flow time, uuid, port, envelope time (in that order)."""
    text = json.dumps({"flow": flow, "node_name": node, "time": _T}, separators=(",", ":"))
    data = text.replace("%", "%%").encode()
    holes = [m.group() for m in _HOLES.finditer(data)]
    if holes != [b'"@@T@@"', b'"@@U@@"', b'"@@P@@"', b'"@@T@@"']:
        raise AssertionError(f"unexpected template holes {holes}")
    return data.replace(b'"@@T@@"', b'"%s"').replace(b'"@@U@@"', b'"%s"').replace(b'"@@P@@"', b"%d")


class Builder:
    """Makes the records of one edge's pod pair from the edge's decision."""

    def __init__(self, edge: Edge, decision: EdgeDecision, audit: bool, client: Side, server: Side):
        self.edge, self.decision, self.audit = edge, decision, audit
        self.client, self.server = client, server
        self.l4 = "UDP" if edge.protocol is Protocol.UDP else "TCP"
        if edge.protocol is Protocol.SCTP:
            self.l4 = "SCTP"

    # -- pieces ---------------------------------------------------------------

    def _l4(self, reply: bool, flags: tuple[str, ...]) -> dict[str, Any]:
        ports: dict[str, Any] = {"source_port": _P, "destination_port": self.edge.port}
        if reply:
            ports = {"source_port": self.edge.port, "destination_port": _P}
        if self.l4 == "TCP" and flags:
            ports["flags"] = dict.fromkeys(flags, True)
        return {self.l4: ports}

    def _summary(self, flags: tuple[str, ...]) -> str:
        if self.l4 != "TCP":
            return self.l4
        return "TCP Flags: " + ", ".join(sorted(flags))

    def _base(self, reply: bool, node: str, local_is_client: bool) -> dict[str, Any]:
        a, b = (self.server, self.client) if reply else (self.client, self.server)
        a_local = local_is_client != reply
        out: dict[str, Any] = {"time": _T, "uuid": _U}
        out["IP"] = {"source": a.ip, "destination": b.ip, "ipVersion": "IPv4"}
        out["_l4"] = None
        out["source"] = a.json(a_local)
        out["destination"] = b.json(not a_local)
        out["Type"] = "L3_L4"
        out["node_name"] = node
        fqdn = self.edge.targets.fqdn if isinstance(self.edge.targets, External) else ""
        if fqdn:
            out["source_names" if reply else "destination_names"] = [fqdn]
        return out

    def _finish(
        self, out: dict[str, Any], l4: dict[str, Any], summary: str, reply: bool
    ) -> dict[str, Any]:
        svc = self.edge.service
        ordered: dict[str, Any] = {}
        for key, value in out.items():
            if key == "_l4":
                ordered["l4"] = l4
            else:
                ordered[key] = value
        if svc is not None:
            key = "source_service" if reply else "destination_service"
            ordered[key] = {"name": svc[1], "namespace": svc[0]}
        ordered["is_reply"] = reply
        ordered["Summary"] = summary
        return _reorder(ordered)

    def policy_event(
        self, side: SideDecision, ingress: bool, flags: tuple[str, ...]
    ) -> dict[str, Any]:
        """A policy-verdict event (type 5) of one end of the connection."""
        node = self.server.node if ingress else self.client.node
        out = self._base(False, node, not ingress)
        direction = "INGRESS" if ingress else "EGRESS"
        prefix = "ingress" if ingress else "egress"
        if side.allowed:
            out["verdict"] = "FORWARDED"
            if side.allowed_by:
                out[f"{prefix}_allowed_by"] = list(side.allowed_by)
        else:
            out["verdict"] = "AUDIT" if self.audit else "DROPPED"
            if not self.audit:
                out["drop_reason"] = side.drop_reason
                out["drop_reason_desc"] = _DROP_NAMES[side.drop_reason]
            if side.denied_by:
                out[f"{prefix}_denied_by"] = list(side.denied_by)
        out["event_type"] = {"type": 5}
        out["traffic_direction"] = direction
        if side.match_type:
            out["policy_match_type"] = side.match_type
        return self._finish(out, self._l4(False, flags), self._summary(flags), False)

    def trace_event(
        self, reply: bool, at_client: bool, point: tuple[str, int], flags: tuple[str, ...]
    ) -> dict[str, Any]:
        node = self.client.node if at_client else self.server.node
        out = self._base(reply, node, at_client)
        out["verdict"] = "FORWARDED"
        if reply:
            out["reply"] = True
        out["event_type"] = {"type": 4, "sub_type": point[1]}
        out["traffic_direction"] = "EGRESS" if at_client else "INGRESS"
        out["trace_observation_point"] = point[0]
        out["trace_reason"] = "REPLY" if reply else "NEW"
        return self._finish(out, self._l4(reply, flags), self._summary(flags), reply)

    def l7_event(
        self, reply: bool, at_client: bool, l7: dict[str, Any], summary: str, verdict: str
    ) -> dict[str, Any]:
        node = self.client.node if at_client else self.server.node
        out = self._base(reply, node, at_client)
        out["Type"] = "L7"
        out["verdict"] = verdict
        out["l7"] = l7
        if reply:
            out["reply"] = True
        out["event_type"] = {"type": 129}
        out["traffic_direction"] = "EGRESS" if at_client else "INGRESS"
        return self._finish(out, self._l4(reply, ()), summary, reply)

    # -- a connection -----------------------------------------------------------

    def records(self, request: int | None) -> list[tuple[dict[str, Any], str, int]]:
        """(flow, node, offset ns) of one connection."""
        d, edge = self.decision, self.edge
        syn = ("SYN",)
        out: list[tuple[dict[str, Any], str, int]] = []
        client_pod, server_pod = bool(self.client.node), bool(self.server.node)
        if client_pod:
            if d.egress.enforced:
                out.append((self.policy_event(d.egress, False, syn), self.client.node, 0))
            else:
                point = ("FROM_ENDPOINT", 5)
                out.append((self.trace_event(False, True, point, syn), self.client.node, 0))
            if not d.egress.allowed and not self.audit:
                return out
        if server_pod:
            if d.ingress.enforced:
                out.append((self.policy_event(d.ingress, True, syn), self.server.node, 40_000))
            else:
                point = ("TO_ENDPOINT", 0)
                out.append((self.trace_event(False, False, point, syn), self.server.node, 40_000))
            if not d.ingress.allowed and not self.audit:
                return out
        else:
            point = ("TO_STACK", 3)
            out.append((self.trace_event(False, True, point, syn), self.client.node, 30_000))
        flags: tuple[str, ...] = ("SYN", "ACK") if edge.listening else ("ACK", "RST")
        if self.l4 != "TCP":
            flags = ()
        at_client = client_pod
        point = ("TO_ENDPOINT", 0) if at_client else ("TO_STACK", 3)
        reply = self.trace_event(True, at_client, point, flags)
        out.append((reply, self.client.node if at_client else self.server.node, 150_000))
        if edge.dns is not None and d.dns is not None and d.dns_visible:
            out.extend(self._dns_records())
        elif request is not None and edge.listening:
            out.extend(self._http_records(request))
        return out

    def _dns_records(self) -> list[tuple[dict[str, Any], str, int]]:
        d, q = self.decision, self.edge.dns
        assert d.dns is not None and q is not None
        node = self.client.node
        request = {
            "type": "REQUEST",
            "dns": {"query": q.query, "observation_source": "proxy", "qtypes": ["A"]},
        }
        verdict = "FORWARDED" if d.dns.allowed else "DROPPED"
        ask = self.l7_event(False, True, request, f"DNS Query {q.query} A", verdict)
        answer: dict[str, Any] = {"query": q.query}
        if d.dns.allowed and not q.rcode:
            answer["ips"] = list(q.ips)
        answer["ttl"] = 30 if d.dns.allowed and not q.rcode else 4294967295
        answer["observation_source"] = "proxy"
        if d.dns.code:
            answer["rcode"] = d.dns.code
        answer["qtypes"] = ["A"]
        if "ips" in answer:
            answer["rrtypes"] = ["A"]
            summary = f'DNS Answer "{",".join(q.ips)}" TTL: 30 (Proxy {q.query} A)'
        else:
            summary = (
                f"DNS Answer RCode: {_RCODE_TEXT.get(d.dns.code, d.dns.code)} (Proxy {q.query} A)"
            )
        response = {"type": "RESPONSE", "latency_ns": "412000", "dns": answer}
        told = self.l7_event(True, True, response, summary, "FORWARDED")
        return [(ask, node, 60_000), (told, node, 480_000)]

    def _http_records(self, index: int) -> list[tuple[dict[str, Any], str, int]]:
        d, edge = self.decision, self.edge
        at_client = not d.ingress.l7 and d.egress.l7
        if not (d.ingress.l7 or d.egress.l7):
            return []  # no L7 rule: no proxy in the path, no L7 records
        call = edge.http[index]
        decision = d.requests[index]
        url = f"http://{edge.host()}:{edge.port}{call.path}"
        http = {"method": call.method, "url": url, "protocol": "HTTP/1.1"}
        verdict = "FORWARDED" if decision.allowed else "DROPPED"
        request = self.l7_event(
            False,
            bool(at_client),
            {"type": "REQUEST", "http": http},
            f"HTTP/1.1 {call.method} {url}",
            verdict,
        )
        code = decision.code
        latency = 2_000_000 if decision.allowed else 100_000
        response_l7 = {
            "type": "RESPONSE",
            "latency_ns": str(latency),
            "http": {"code": code, **http},
        }
        summary = f"HTTP/1.1 {code} {latency // 1_000_000}ms ({call.method} {url})"
        response = self.l7_event(True, bool(at_client), response_l7, summary, "FORWARDED")
        node = self.client.node if at_client else self.server.node
        return [(request, node, 200_000), (response, node, 200_000 + latency)]


_RCODE_TEXT = {2: "Server Failure", 3: "Non-Existent Domain", 5: "Refused"}
_ORDER = (
    "time", "uuid", "verdict", "drop_reason", "IP", "l4", "source", "destination", "Type",
    "node_name", "source_names", "destination_names", "l7", "reply", "event_type",
    "source_service", "destination_service", "traffic_direction", "policy_match_type",
    "trace_observation_point", "drop_reason_desc", "is_reply", "trace_reason",
    "egress_allowed_by", "ingress_allowed_by", "egress_denied_by", "ingress_denied_by", "Summary",
)  # fmt: skip
_RANK = {key: i for i, key in enumerate(_ORDER)}


def _reorder(flow: dict[str, Any]) -> dict[str, Any]:
    """Keys in flow.proto's declaration order, as protojson writes them."""
    return {k: flow[k] for k in sorted(flow, key=lambda k: _RANK.get(k, len(_ORDER)))}


def conversations(
    edge: Edge, decision: EdgeDecision, audit: bool, cluster: str
) -> list[Conversation]:
    """The conversations of one edge: every pod pair (up to MAX_PAIRS) x HTTP request."""
    pairs: list[tuple[Side, Side]] = []
    clients = [_external(edge.sources)] if isinstance(edge.sources, External) else edge.sources
    servers = [_external(edge.targets)] if isinstance(edge.targets, External) else edge.targets
    for c in clients:
        for s in servers:
            if c is not s:
                pairs.append((_as_side(c, cluster), _as_side(s, cluster)))
    pairs = pairs[:MAX_PAIRS]
    requests: list[int | None] = list(range(len(edge.http))) or [None]
    if not pairs:
        return []
    weight = edge.rate / (len(pairs) * len(requests))
    out = []
    for client, server in pairs:
        builder = Builder(edge, decision, audit, client, server)
        for request in requests:
            made = sorted(builder.records(request), key=lambda r: r[2])
            records = tuple((template(flow, node), offset) for flow, node, offset in made)
            out.append(Conversation(weight, records, edge.label))
    return out


def _external(ext: External) -> Side:
    return Side(ext.ip, "", dict(_WORLD))


def _as_side(item: SimPod | Side, cluster: str) -> Side:
    return item if isinstance(item, Side) else pod_side(item, cluster)


class Generator:
    """Deterministic flow lines: connections drawn by weight with a seeded RNG."""

    def __init__(self, cluster: str, seed: int) -> None:
        self.rng = random.Random(seed)
        digest = f"{(hash_text(cluster, str(seed))):032x}"
        self.uuid_prefix = (
            f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-".encode()
        )
        self.counter = 0
        self._seconds: dict[int, bytes] = {}
        self._plan: tuple[list[Conversation], list[float]] = ([], [])
        self._lock = threading.Lock()

    def load(self, convs: list[Conversation]) -> None:
        """Swap in the conversations of a new apply (one assignment: no torn reads)."""
        total, cum = 0.0, []
        for c in convs:
            total += c.weight
            cum.append(total)
        self._plan = (convs, cum)

    @property
    def conversations(self) -> list[Conversation]:
        return self._plan[0]

    @property
    def connection_rate(self) -> float:
        cum = self._plan[1]
        return cum[-1] if cum else 0.0

    def flows_per_connection(self) -> float:
        convs, cum = self._plan
        if not cum or not cum[-1]:
            return 0.0
        return sum(c.weight * len(c.records) for c in convs) / cum[-1]

    def _time(self, ns: int) -> bytes:
        seconds, nanos = divmod(ns, 1_000_000_000)
        prefix = self._seconds.get(seconds)
        if prefix is None:
            if len(self._seconds) > 64:
                self._seconds.clear()
            prefix = format_time(seconds * 1_000_000_000)[:19].encode()
            self._seconds[seconds] = prefix
        return b"%s.%09dZ" % (prefix, nanos)

    def connections(self, count: int, start_ns: int, span_ns: int) -> list[bytes]:
        """Lines of ``count`` connections started evenly over ``[start_ns, start_ns + span_ns)``."""
        convs, cum = self._plan
        if not convs or count <= 0 or not cum[-1]:
            return []
        with self._lock:
            return self._connections(convs, cum, count, start_ns, span_ns)

    def _connections(
        self, convs: list[Conversation], cum: list[float], count: int, start_ns: int, span_ns: int
    ) -> list[bytes]:
        picks = self.rng.choices(range(len(convs)), cum_weights=cum, k=count)
        randrange = self.rng.randrange
        step = span_ns // count
        out: list[bytes] = []
        append = out.append
        prefix, counter, time_of = self.uuid_prefix, self.counter, self._time
        for i, pick in enumerate(picks):
            base = start_ns + i * step
            port = randrange(32768, 60999)
            for tpl, offset in convs[pick].records:
                ts = time_of(base + offset)
                counter += 1
                append(tpl % (ts, b"%s%012x" % (prefix, counter), port, ts))
        self.counter = counter
        return out


def hash_text(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest()[:16], "big")
