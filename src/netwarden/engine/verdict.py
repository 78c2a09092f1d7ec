"""Verdict and explanation values (data, not text: the CLI and API render them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from netwarden.model.endpoint import Endpoint
from netwarden.model.ports import Protocol
from netwarden.model.rule import Direction, L7Rules, Rule, RuleRef, Tier


class Reason(Enum):
    """Why a direction was allowed or denied."""

    NOT_ENFORCED = "not-enforced"  # the endpoint is outside the cluster: no policy applies
    SELF = "self"  # a pod talking to itself never leaves its network namespace
    OWN_NODE = "own-node"  # traffic between a pod and its own node
    ADMIN_ALLOW = "admin-allow"
    ADMIN_DENY = "admin-deny"
    DENY_RULE = "deny-rule"  # a Cilium ingressDeny/egressDeny rule
    ALLOW_RULE = "allow-rule"
    L7_DENIED = "l7-denied"  # L4 allowed, the request matched no L7 rule
    ISOLATED = "isolated"  # selected by a policy for this direction, no rule allows
    ENFORCEMENT_ALWAYS = "enforcement-always"  # enable-policy=always, no rule allows
    BASELINE_ALLOW = "baseline-allow"
    BASELINE_DENY = "baseline-deny"
    DEFAULT_ALLOW = "default-allow"


@dataclass(frozen=True, slots=True)
class DirectionVerdict:
    direction: Direction
    allowed: bool
    reason: Reason
    tier: Tier | None = None
    rules: tuple[RuleRef, ...] = ()
    # Allowed at L4 with requests narrowed to these L7 rules (checked per request).
    l7: tuple[L7Rules, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "allowed": self.allowed,
            "tier": self.tier.value if self.tier else "default",
            "reason": self.reason.value,
            "policies": [r.to_dict() for r in self.rules],
            "l7_enforced": bool(self.l7),
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    source: Endpoint
    destination: Endpoint
    port: int
    protocol: Protocol
    egress: DirectionVerdict
    ingress: DirectionVerdict

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One thing the reference evaluator looked at, and what it found."""

    direction: Direction
    tier: Tier | None
    what: str  # the policy/rule or check consulted
    outcome: str  # "matched", "skipped: ...", "decides: ..."
    rule: RuleRef | None = None


@dataclass
class Trace:
    steps: list[TraceStep] = field(default_factory=list)

    def add(self, step: TraceStep) -> None:
        self.steps.append(step)


def rule_refs(rules: list[Rule]) -> tuple[RuleRef, ...]:
    """The distinct references of rules, in a stable order (policy, then rule index)."""
    return tuple(sorted({r.ref() for r in rules}, key=lambda ref: (str(ref.policy), ref.index)))
