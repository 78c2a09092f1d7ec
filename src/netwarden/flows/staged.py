"""Staged policies at ingest: what a policy that is not enforced *would* do to each flow.

A staged policy (or blueprint) version is deployed to a cluster without being enforced.
The control plane gives the flow pipeline, per staged version, a :class:`StagedSource`:
the cluster's World with the enforced policies *and* that version in place (as if it were
promoted alone), and the identities of the objects it contributes. Each ingested flow of
the cluster is evaluated with that World too, and marked (``Flow.staged``, carried in
Hubble's ``extensions``) when the staged version decides it:

- ``deny``: the staged World denies the connection, and either the enforced verdict
  allowed it (promoting would start dropping it) or the staged objects' rules (or their
  default deny) are among those that deny it;
- ``allow``: the staged World allows it, and either the enforced verdict denied it or a
  rule of the staged objects is among those that allow it.

Each staged version is evaluated on its own (with the enforced policies), so a promotion
preview says what promoting *that* version does, whatever else is staged.

Most flows repeat: verdicts are cached per connection of resolved endpoints (kind,
cluster, namespace, identity labels, numeric identity, names; the IP for endpoints that
are not pods), client/server port, protocol, reply flag and HTTP request, so only the
first flow of each connection goes through the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from netwarden.engine.verdict import DirectionVerdict
from netwarden.engine.world import World
from netwarden.flows.endpoints import EndpointInfo
from netwarden.flows.enrich import Decision, EnrichedFlow, Enricher, is_reply
from netwarden.model.flow import Flow, StagedVerdict

MAX_CACHED = 65_536
ObjectId = tuple[str, str, str]  # kind, namespace ("" cluster-wide), name


@dataclass(frozen=True, slots=True)
class StagedSource:
    """One staged version on a cluster: ``world`` is the cluster's inventory with the
    enforced policies and this version in place; ``objects`` the (kind, namespace, name)
    of the policy objects it contributes (their rules are "its" rules)."""

    policy: str  # Kind/namespace/name, or Blueprint//name
    version: int
    world: World
    objects: frozenset[ObjectId]


@dataclass(frozen=True, slots=True)
class _Outcome:
    decision: Decision  # ALLOW or DENY in the staged World
    decided_by_staged: bool  # the staged objects' rules are among the deciding ones


class StagedEvaluator:
    """Evaluates flows against one :class:`StagedSource`, with a per-connection cache."""

    def __init__(self, source: StagedSource, *, max_cached: int = MAX_CACHED) -> None:
        self.source = source
        self.max_cached = max_cached
        self._enricher = Enricher.for_world(source.world, always_attribute=True)
        self._cache: dict[tuple[object, ...], _Outcome | None] = {}
        # Resolved endpoints are shared objects (the resolver's cache): each is numbered
        # once, by its content, and looked up by identity (the object kept alive with it).
        self._endpoints: dict[int, tuple[EndpointInfo, int]] = {}
        self._numbers: dict[tuple[object, ...], int] = {}
        self.evaluated = 0  # flows that went through the engine (cache misses)

    def marks(self, enriched: Sequence[EnrichedFlow]) -> list[StagedVerdict | None]:
        """The staged mark of each flow (None: this version does not decide it).
        ``enriched`` is the flows' attribution with the enforced policies."""
        if len(self._endpoints) > self.max_cached:
            self._endpoints.clear()
        number = self._number
        keys = [(number(e.source), number(e.destination), *connection_key(e)) for e in enriched]
        cache = self._cache
        misses: dict[tuple[object, ...], Flow] = {}
        for key, e in zip(keys, enriched, strict=True):
            if key not in cache and key not in misses:
                misses[key] = e.flow
        if misses:
            if len(cache) + len(misses) > self.max_cached:
                cache.clear()
            results = self._enricher.enrich(list(misses.values()))
            self.evaluated += len(results)
            for key, result in zip(misses, results, strict=True):
                cache[key] = _outcome(result, self.source.objects)
        return [self._mark(cache[key], e.verdict) for key, e in zip(keys, enriched, strict=True)]

    def _number(self, info: EndpointInfo) -> int:
        found = self._endpoints.get(id(info))
        if found is not None and found[0] is info:
            return found[1]
        number = self._numbers.setdefault(_endpoint_key(info), len(self._numbers))
        self._endpoints[id(info)] = (info, number)
        return number

    def _mark(self, outcome: _Outcome | None, enforced: Decision) -> StagedVerdict | None:
        if outcome is None:
            return None
        changes = enforced is not Decision.UNKNOWN and enforced is not outcome.decision
        if not (changes or outcome.decided_by_staged):
            return None
        return StagedVerdict(self.source.policy, self.source.version, outcome.decision.value)


def mark_flows(
    enriched: Sequence[EnrichedFlow], evaluators: Sequence[StagedEvaluator]
) -> list[tuple[StagedVerdict, ...]]:
    """Each flow's staged marks, one per staged version that decides it."""
    columns = [evaluator.marks(enriched) for evaluator in evaluators]
    return [tuple(m for m in row if m is not None) for row in zip(*columns, strict=True)]


def connection_key(e: EnrichedFlow) -> tuple[object, ...]:
    """What the staged verdict of a flow depends on besides its endpoints (numbered by
    ``_endpoint_key``): protocol, server port, reply flag, HTTP request."""
    flow = e.flow
    l4 = flow.l4
    ports = l4.ports if l4 is not None else None
    reply = is_reply(flow)
    http = None
    if flow.l7 is not None and flow.l7.http is not None:
        http = (flow.l7.http.method, flow.l7.http.url)
    return (e.protocol, ports[0 if reply else 1] if ports is not None else None, reply, http)


def _endpoint_key(info: EndpointInfo) -> tuple[object, ...]:
    ip = "" if info.kind == "pod" else info.ip
    return (
        info.kind,
        info.cluster,
        info.namespace,
        info.labels,
        info.identity,
        info.names,
        info.origin,
        ip,
        info.pod if not info.labels else "",  # a pod known only by name stays apart
    )


def _outcome(result: EnrichedFlow, objects: frozenset[ObjectId]) -> _Outcome | None:
    if result.verdict is Decision.UNKNOWN or result.egress is None or result.ingress is None:
        return None
    if result.verdict is Decision.ALLOW:
        deciding = [result.egress, result.ingress]
    else:
        deciding = [d for d in (result.egress, result.ingress) if not d.allowed]
    return _Outcome(result.verdict, any(_from(d, objects) for d in deciding))


def _from(verdict: DirectionVerdict, objects: frozenset[ObjectId]) -> bool:
    for ref in verdict.rules:
        policy = ref.policy
        if (policy.kind, policy.namespace or "", policy.name) in objects:
            return True
    return False
