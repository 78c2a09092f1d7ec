"""Enrich decoded Hubble flows: endpoint metadata and policy verdict attribution.

For each flow, each endpoint is mapped to an :class:`EndpointInfo` (cluster,
namespace, pod, workload, identity labels), from the flow's own endpoint fields
first and the World inventory (by pod name, then by IP) second. The flow's
connection is then attributed with the compiled engine: which tier, policy and
rule decided the client's egress and the server's ingress. A batch of flows is
evaluated with one ``engine.classify`` and one ``engine.batch`` call.

Nothing is guessed: a flow whose endpoints cannot be resolved, or that has no
ports (ICMP, no L4 header), comes back with ``verdict`` UNKNOWN and an
``uncertain_reason``. See ``docs/design/enrichment.md`` for the rules.

Endpoint resolution lives in :mod:`netwarden.flows.endpoints` and workload names in
:mod:`netwarden.flows.workloads`; their public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

import numpy as np

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.matching import HTTPRequest, l7_allows
from netwarden.engine.tables import PROTO_INDEX, PROTOCOLS
from netwarden.engine.verdict import DirectionVerdict, Reason
from netwarden.engine.world import World
from netwarden.flows.endpoints import EndpointInfo, ResolvedEndpoint, Resolver, split_labels
from netwarden.flows.workloads import derive_workload
from netwarden.model.endpoint import Endpoint
from netwarden.model.flow import DropReason, Flow, FlowEndpoint, Layer4, StagedVerdict
from netwarden.model.flow import Verdict as HubbleVerdict
from netwarden.model.ports import Protocol

DEFAULT_BATCH_SIZE = 65_536


class Decision(Enum):
    """A policy decision for a connection."""

    ALLOW = "allow"
    DENY = "deny"
    UNKNOWN = "unknown"


class AttributedBy(Enum):
    """Who decided an enriched flow's ``verdict``."""

    ENGINE = "engine"  # computed with the policy engine
    HUBBLE = "hubble"  # the flow's own policy fields, kept as they are
    NONE = "none"  # uncertain: nobody


# ---- results --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnrichedFlow:
    """A flow with its endpoints resolved and its verdict attributed.

    ``egress`` is the client's egress and ``ingress`` the server's ingress of the
    flow's connection (for a reply, the original connection: client and server
    are the reply's destination and source, the port its source port). They are
    None when the engine did not attribute the flow. ``verdict`` is the engine's
    decision, or Hubble's when ``attributed_by`` is HUBBLE. ``hubble_verdict`` is
    the policy decision Hubble's own fields state (None when they state none:
    a trace event, a drop for a non-policy reason); ``agrees_with_hubble`` compares
    it with the engine's (None when either is missing). ``staged`` holds the marks of
    the cluster's staged policies that would decide the flow (set by the timeline).
    """

    flow: Flow
    source: EndpointInfo
    destination: EndpointInfo
    egress: DirectionVerdict | None
    ingress: DirectionVerdict | None
    verdict: Decision
    uncertain_reason: str | None
    agrees_with_hubble: bool | None
    hubble_verdict: Decision | None = None
    attributed_by: AttributedBy = AttributedBy.NONE
    is_reply: bool = False
    protocol: str = ""
    port: int | None = None  # the connection's destination (server) port
    # What the cluster's staged (not enforced) policies would do (``flows.staged``).
    staged: tuple[StagedVerdict, ...] = ()

    @property
    def uncertain(self) -> bool:
        return self.uncertain_reason is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source.to_dict(),
            "destination": self.destination.to_dict(),
            "attribution": {
                "verdict": self.verdict.value,
                "by": self.attributed_by.value,
                "egress": self.egress.to_dict() if self.egress else None,
                "ingress": self.ingress.to_dict() if self.ingress else None,
                "uncertain": self.uncertain_reason,
                "hubble_verdict": self.hubble_verdict.value if self.hubble_verdict else None,
                "agrees": self.agrees_with_hubble,
                "is_reply": self.is_reply,
                "protocol": self.protocol,
                "port": self.port,
                "staged": [
                    {"policy": m.policy, "version": m.version, "outcome": m.outcome}
                    for m in self.staged
                ],
            },
        }


# ---- Hubble's own verdict -------------------------------------------------

_POLICY_DROPS = frozenset({DropReason.POLICY_DENIED, DropReason.POLICY_DENY})
_POLICY_DROP_CODES = frozenset({DropReason.POLICY_DENIED.value, DropReason.POLICY_DENY.value})


def hubble_decision(flow: Flow) -> Decision | None:
    """The policy decision a flow's own fields state, or None when they state none.

    FORWARDED and REDIRECTED (to the L7 proxy): allow. DROPPED with
    POLICY_DENIED / POLICY_DENY (or their numeric ``drop_reason``), and AUDIT (a
    deny that audit mode let through): deny. ``*_denied_by`` set: deny. Any other
    verdict (a drop for another reason, TRACED, TRANSLATED, ERROR, unknown): None.
    """
    if flow.egress_denied_by or flow.ingress_denied_by:
        return Decision.DENY
    verdict = flow.verdict
    if verdict is HubbleVerdict.FORWARDED or verdict is HubbleVerdict.REDIRECTED:
        return Decision.ALLOW
    if verdict is HubbleVerdict.AUDIT:
        return Decision.DENY
    if verdict is HubbleVerdict.DROPPED:
        reason = flow.drop_reason_desc
        if reason in _POLICY_DROPS or (
            reason is DropReason.DROP_REASON_UNKNOWN and flow.drop_reason in _POLICY_DROP_CODES
        ):
            return Decision.DENY
    return None


def has_policy_fields(flow: Flow) -> bool:
    """Whether Hubble's own fields already say which policy decision the flow met: a
    non-empty ``*_allowed_by`` / ``*_denied_by`` list, or a drop for a policy reason
    (``POLICY_DENIED`` / ``POLICY_DENY``, or their numeric ``drop_reason``), as Cilium's
    policy-verdict and drop events carry. Such flows keep Hubble's verdict and are not
    attributed by the engine unless it is asked for (``always_attribute``)."""
    if (
        flow.egress_allowed_by
        or flow.ingress_allowed_by
        or flow.egress_denied_by
        or flow.ingress_denied_by
    ):
        return True
    if flow.verdict is not HubbleVerdict.DROPPED:
        return False
    reason = flow.drop_reason_desc
    return reason in _POLICY_DROPS or (
        reason is DropReason.DROP_REASON_UNKNOWN and flow.drop_reason in _POLICY_DROP_CODES
    )


def is_reply(flow: Flow) -> bool:
    """``is_reply`` when Hubble knows it, else the deprecated ``reply`` flag."""
    return flow.is_reply if flow.is_reply is not None else flow.reply


# ---- attribution ----------------------------------------------------------

_PROTOCOLS = {"TCP": Protocol.TCP, "UDP": Protocol.UDP, "SCTP": Protocol.SCTP}


def http_request(flow: Flow) -> HTTPRequest | None:
    """The HTTP request of an L7 HTTP flow (method and URL path), for L7 rules."""
    if flow.l7 is None or flow.l7.http is None or not flow.l7.http.method:
        return None
    http = flow.l7.http
    try:
        parts = urlsplit(http.url)
    except ValueError:
        return None
    headers = tuple((h.key, h.value) for h in http.headers)
    return HTTPRequest(http.method, parts.path or "/", parts.hostname, headers)


@dataclass(slots=True)
class _Pending:
    index: int
    client: int
    server: int
    port: int
    proto: int
    http: HTTPRequest | None
    protocol: str


class Enricher:
    """Enrich flows against a compiled engine (its World and policies).

    ``always_attribute`` attributes flows that carry Hubble's policy fields
    (``has_policy_fields``) too (they are kept either way). The engine's World is re-read
    when it changes (``engine.update_world``): resolution caches are per World.
    """

    def __init__(
        self,
        engine: CompiledEngine,
        *,
        always_attribute: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.engine = engine
        self.always_attribute = always_attribute
        self.batch_size = max(1, batch_size)
        self._resolver = Resolver(engine.world)

    @classmethod
    def for_world(
        cls, world: World, *, always_attribute: bool = False, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Enricher:
        return cls(CompiledEngine(world), always_attribute=always_attribute, batch_size=batch_size)

    def enrich(
        self, flows: Sequence[Flow], *, always_attribute: bool | None = None
    ) -> list[EnrichedFlow]:
        out: list[EnrichedFlow] = []
        for start in range(0, len(flows), self.batch_size):
            out.extend(self._batch(flows[start : start + self.batch_size], always_attribute))
        return out

    def enrich_stream(
        self, flows: Iterable[Flow], *, always_attribute: bool | None = None
    ) -> Iterator[EnrichedFlow]:
        """Enrich an unbounded stream, one batch of ``batch_size`` flows at a time."""
        chunk: list[Flow] = []
        for flow in flows:
            chunk.append(flow)
            if len(chunk) >= self.batch_size:
                yield from self._batch(chunk, always_attribute)
                chunk = []
        if chunk:
            yield from self._batch(chunk, always_attribute)

    def enrich_one(self, flow: Flow, *, always_attribute: bool | None = None) -> EnrichedFlow:
        return self._batch([flow], always_attribute)[0]

    def endpoint(self, fe: FlowEndpoint, ip: str, names: Sequence[str] = ()) -> EndpointInfo:
        """The enriched view of one flow endpoint."""
        return self._resolver_now().resolve(fe, ip, tuple(names)).info

    def _resolver_now(self) -> Resolver:
        if self._resolver.world is not self.engine.world:
            self._resolver = Resolver(self.engine.world)
        return self._resolver

    def _batch(self, flows: Sequence[Flow], always: bool | None) -> list[EnrichedFlow]:
        always = self.always_attribute if always is None else always
        resolver = self._resolver_now()
        results: list[EnrichedFlow | None] = [None] * len(flows)
        pending: list[_Pending] = []
        resolved: list[tuple[ResolvedEndpoint, ResolvedEndpoint, Decision | None, bool]] = []
        ep_index: dict[int, int] = {}  # id(endpoint) -> index: resolved endpoints are cached
        endpoints: list[Endpoint] = []
        for i, flow in enumerate(flows):
            ip = flow.IP
            src = resolver.resolve(flow.source, ip.source if ip else "", flow.source_names)
            dst = resolver.resolve(
                flow.destination, ip.destination if ip else "", flow.destination_names
            )
            hubble = hubble_decision(flow)
            reply = is_reply(flow)
            resolved.append((src, dst, hubble, reply))
            l4 = flow.l4
            protocol = _protocol(l4)
            if not always and has_policy_fields(flow):
                results[i] = EnrichedFlow(
                    flow, src.info, dst.info, None, None,
                    hubble if hubble is not None else Decision.UNKNOWN,
                    None, None, hubble, AttributedBy.HUBBLE, reply, protocol,
                )  # fmt: skip
                continue
            reason = _l4_reason(flow)
            if reason is None:
                reason = _endpoint_reason(src, dst)
            if reason is not None:
                results[i] = EnrichedFlow(
                    flow, src.info, dst.info, None, None, Decision.UNKNOWN,
                    reason, None, hubble, AttributedBy.NONE, reply, protocol,
                )  # fmt: skip
                continue
            assert l4 is not None and src.endpoint is not None and dst.endpoint is not None
            ports = l4.ports
            assert ports is not None
            client, server = (dst.endpoint, src.endpoint) if reply else (src.endpoint, dst.endpoint)
            port = ports[0] if reply else ports[1]
            ci = ep_index.setdefault(id(client), len(endpoints))
            if ci == len(endpoints):
                endpoints.append(client)
            si = ep_index.setdefault(id(server), len(endpoints))
            if si == len(endpoints):
                endpoints.append(server)
            proto = PROTO_INDEX.get(_PROTOCOLS[protocol], len(PROTOCOLS))
            http = http_request(flow) if flow.l7 is not None else None
            pending.append(_Pending(i, ci, si, port, proto, http, protocol))
        if pending:
            self._attribute(flows, pending, endpoints, resolved, results)
        out: list[EnrichedFlow] = []
        for item in results:
            assert item is not None
            out.append(item)
        return out

    def _attribute(
        self,
        flows: Sequence[Flow],
        pending: list[_Pending],
        endpoints: list[Endpoint],
        resolved: list[tuple[ResolvedEndpoint, ResolvedEndpoint, Decision | None, bool]],
        results: list[EnrichedFlow | None],
    ) -> None:
        engine = self.engine
        eps = engine.classify(endpoints)
        n = len(pending)
        src = np.fromiter((p.client for p in pending), dtype=np.int64, count=n)
        dst = np.fromiter((p.server for p in pending), dtype=np.int64, count=n)
        ports = np.fromiter((p.port for p in pending), dtype=np.int64, count=n)
        protos = np.fromiter((p.proto for p in pending), dtype=np.int64, count=n)
        result = engine.batch(eps, src, dst, ports, protos)
        outcomes: dict[int, DirectionVerdict] = {}
        for oid in np.unique(np.concatenate([result.egress, result.ingress])).tolist():
            outcomes[oid] = engine.outcome(oid)
        egress_ids = result.egress.tolist()
        ingress_ids = result.ingress.tolist()
        for k, item in enumerate(pending):
            egress = outcomes[egress_ids[k]]
            ingress = outcomes[ingress_ids[k]]
            if item.http is not None:
                egress = _narrow_l7(egress, item.http)
                ingress = _narrow_l7(ingress, item.http)
            decision = Decision.ALLOW if egress.allowed and ingress.allowed else Decision.DENY
            src_r, dst_r, hubble, reply = resolved[item.index]
            results[item.index] = EnrichedFlow(
                flows[item.index], src_r.info, dst_r.info, egress, ingress, decision, None,
                None if hubble is None else hubble is decision,
                hubble, AttributedBy.ENGINE, reply, item.protocol, item.port,
            )  # fmt: skip


def _narrow_l7(outcome: DirectionVerdict, http: HTTPRequest) -> DirectionVerdict:
    """What ``CompiledEngine.direction`` does for a request: L7 rules narrow an L4 allow."""
    if outcome.l7 and not l7_allows(list(outcome.l7), http):
        return DirectionVerdict(
            outcome.direction, False, Reason.L7_DENIED, outcome.tier, outcome.rules, outcome.l7
        )
    return outcome


def _protocol(l4: Layer4 | None) -> str:
    """``Layer4.protocol``, with the common protocols checked first."""
    if l4 is None:
        return ""
    if l4.TCP is not None:
        return "TCP"
    if l4.UDP is not None:
        return "UDP"
    return l4.protocol


def _l4_reason(flow: Flow) -> str | None:
    l4 = flow.l4
    if l4 is None:
        return "no L4 header: policy verdicts are per protocol and port"
    protocol = _protocol(l4)
    if protocol not in _PROTOCOLS:
        what = protocol or "an unknown L4 protocol"
        return f"{what} has no ports: policy verdicts are per protocol and port"
    return None


def _endpoint_reason(src: ResolvedEndpoint, dst: ResolvedEndpoint) -> str | None:
    reasons = []
    if src.reason is not None:
        reasons.append(f"source: {src.reason}")
    if dst.reason is not None:
        reasons.append(f"destination: {dst.reason}")
    return "; ".join(reasons) if reasons else None


def enrich_flows(
    flows: Sequence[Flow],
    engine: CompiledEngine | World,
    *,
    always_attribute: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[EnrichedFlow]:
    """Enrich flows against an engine (or a World, compiled for the call)."""
    if isinstance(engine, World):
        engine = CompiledEngine(engine)
    enricher = Enricher(engine, always_attribute=always_attribute, batch_size=batch_size)
    return enricher.enrich(flows)


__all__ = [
    "AttributedBy",
    "Decision",
    "EndpointInfo",
    "EnrichedFlow",
    "Enricher",
    "derive_workload",
    "enrich_flows",
    "has_policy_fields",
    "http_request",
    "hubble_decision",
    "is_reply",
    "split_labels",
]
