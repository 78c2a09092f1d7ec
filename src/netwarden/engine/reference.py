"""The reference evaluator: a direct, readable reading of the semantics.

It walks every policy for every question and records what it looked at. It is
the explanation path and the oracle the compiled evaluator is tested against.
"""

from __future__ import annotations

from collections.abc import Callable

from netwarden.engine.matching import (
    HTTPRequest,
    l7_allows,
    peer_matches,
    port_matches,
    same_node,
    selector_matches,
)
from netwarden.engine.verdict import (
    DirectionVerdict,
    Reason,
    Trace,
    TraceStep,
    Verdict,
    rule_refs,
)
from netwarden.engine.world import World
from netwarden.model.endpoint import Endpoint, EndpointKind
from netwarden.model.inventory import EnforcementMode
from netwarden.model.ports import Protocol
from netwarden.model.rule import Action, Direction, Rule, RuleRef, Tier

_ENFORCED_KINDS = frozenset({EndpointKind.POD, EndpointKind.HOST})


class ReferenceEvaluator:
    def __init__(self, world: World) -> None:
        self.world = world
        self.rules = [r for p in world.policies for r in p.rules]
        self.isolations = [i for p in world.policies for i in p.isolations]

    def verdict(
        self,
        src: Endpoint,
        dst: Endpoint,
        port: int,
        protocol: Protocol,
        http: HTTPRequest | None = None,
        trace: Trace | None = None,
    ) -> Verdict:
        egress = self.direction(Direction.EGRESS, src, dst, dst, port, protocol, http, trace)
        ingress = self.direction(Direction.INGRESS, dst, src, dst, port, protocol, http, trace)
        return Verdict(src, dst, port, protocol, egress, ingress)

    def direction(
        self,
        direction: Direction,
        subject: Endpoint,
        peer: Endpoint,
        destination: Endpoint,
        port: int,
        protocol: Protocol,
        http: HTTPRequest | None = None,
        trace: Trace | None = None,
    ) -> DirectionVerdict:
        def note(tier: Tier | None, what: str, outcome: str, rule: Rule | None = None) -> None:
            if trace is not None:
                ref = rule.ref() if rule is not None else None
                trace.add(TraceStep(direction, tier, what, outcome, ref))

        pre = precheck(direction, subject, peer)
        if pre is not None:
            note(None, subject.display(), f"decides: {pre.reason.value}")
            return pre

        def matches(rule: Rule) -> bool:
            if rule.direction is not direction or not selector_matches(rule.subject, subject):
                return False
            if not any(peer_matches(p, peer, subject) for p in rule.peers):
                note(rule.tier, rule.describe(), "skipped: peer does not match", rule)
                return False
            if not any(port_matches(s, port, protocol, destination) for s in rule.ports):
                note(rule.tier, rule.describe(), "skipped: port does not match", rule)
                return False
            note(rule.tier, rule.describe(), "matched", rule)
            return True

        # 1. Admin tier: first matching rule by priority decides; Pass goes on.
        if subject.kind is EndpointKind.POD:
            admin = sorted((r for r in self.rules if r.tier is Tier.ADMIN), key=_order)
            for rule in admin:
                if matches(rule):
                    if rule.action is Action.PASS:
                        note(Tier.ADMIN, str(rule.ref()), "pass: continue to namespaced tier")
                        break
                    reason = (
                        Reason.ADMIN_ALLOW if rule.action is Action.ALLOW else Reason.ADMIN_DENY
                    )
                    return DirectionVerdict(
                        direction, rule.action is Action.ALLOW, reason, Tier.ADMIN, (rule.ref(),)
                    )

        # 2. Namespaced tier: deny rules win; isolated endpoints need an allow.
        namespaced = self._namespaced(direction, subject, matches, http, note)
        if namespaced is not None:
            return namespaced

        # 3. Baseline tier, then 4. default allow.
        if subject.kind is EndpointKind.POD:
            baseline = sorted((r for r in self.rules if r.tier is Tier.BASELINE), key=_order)
            for rule in baseline:
                if matches(rule):
                    if rule.action is Action.PASS:
                        break
                    allowed = rule.action is Action.ALLOW
                    reason = Reason.BASELINE_ALLOW if allowed else Reason.BASELINE_DENY
                    return DirectionVerdict(
                        direction, allowed, reason, Tier.BASELINE, (rule.ref(),)
                    )
        note(None, "default", "decides: allow (no tier decided)")
        return DirectionVerdict(direction, True, Reason.DEFAULT_ALLOW)

    def _namespaced(
        self,
        direction: Direction,
        subject: Endpoint,
        matches: Callable[[Rule], bool],
        http: HTTPRequest | None,
        note: Callable[..., None],
    ) -> DirectionVerdict | None:
        config = self.world.config(subject.cluster)
        if config.enforcement is EnforcementMode.NEVER:
            note(Tier.NAMESPACED, "enable-policy=never", "skipped: policy enforcement is off")
            return None
        candidates = [r for r in self.rules if r.tier is Tier.NAMESPACED]
        denies = [r for r in candidates if r.action is Action.DENY and matches(r)]
        if denies:
            refs = rule_refs(denies)
            return DirectionVerdict(direction, False, Reason.DENY_RULE, Tier.NAMESPACED, refs)
        allows = [r for r in candidates if r.action is Action.ALLOW and matches(r)]
        isolating = [
            i
            for i in self.isolations
            if i.direction is direction and selector_matches(i.subject, subject)
        ]
        for iso in isolating:
            note(Tier.NAMESPACED, f"{iso.policy} selects {subject.display()}", "isolates")
        always = config.enforcement is EnforcementMode.ALWAYS and subject.kind is EndpointKind.POD
        if allows:
            refs = rule_refs(allows)
            if any(r.l7 is None for r in allows):
                return DirectionVerdict(direction, True, Reason.ALLOW_RULE, Tier.NAMESPACED, refs)
            l7 = tuple(r.l7 for r in allows if r.l7 is not None)
            if http is not None and not l7_allows(list(l7), http):
                return DirectionVerdict(
                    direction, False, Reason.L7_DENIED, Tier.NAMESPACED, refs, l7
                )
            return DirectionVerdict(direction, True, Reason.ALLOW_RULE, Tier.NAMESPACED, refs, l7)
        if isolating:
            refs = tuple(RuleRef(i.policy, direction, -1, None, Action.DENY) for i in isolating)
            refs = tuple(sorted(set(refs), key=str))
            return DirectionVerdict(direction, False, Reason.ISOLATED, Tier.NAMESPACED, refs)
        if always:
            return DirectionVerdict(direction, False, Reason.ENFORCEMENT_ALWAYS, Tier.NAMESPACED)
        return None


def _order(rule: Rule) -> tuple[int, str, int]:
    return rule.order_key


def precheck(direction: Direction, subject: Endpoint, peer: Endpoint) -> DirectionVerdict | None:
    """Cases decided before any policy: unmanaged subjects, self and own-node traffic."""
    if subject.kind not in _ENFORCED_KINDS:
        return DirectionVerdict(direction, True, Reason.NOT_ENFORCED)
    if subject.kind is EndpointKind.POD:
        if peer.kind is EndpointKind.POD and (peer.cluster, peer.namespace, peer.name) == (
            subject.cluster,
            subject.namespace,
            subject.name,
        ):
            return DirectionVerdict(direction, True, Reason.SELF)
        if peer.kind is EndpointKind.HOST and same_node(peer, subject):
            return DirectionVerdict(direction, True, Reason.OWN_NODE)
    return None
