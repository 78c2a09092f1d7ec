"""Explanations: the verdict plus every tier, policy and rule consulted."""

from __future__ import annotations

from dataclasses import dataclass

from netwarden.engine.matching import HTTPRequest
from netwarden.engine.reference import ReferenceEvaluator
from netwarden.engine.verdict import DirectionVerdict, Trace, TraceStep, Verdict
from netwarden.engine.world import World
from netwarden.model.endpoint import Endpoint
from netwarden.model.ports import Protocol
from netwarden.model.rule import Direction


@dataclass(frozen=True)
class Explanation:
    verdict: Verdict
    steps: tuple[TraceStep, ...]

    def to_dict(self) -> dict[str, object]:
        v = self.verdict
        return {
            "from": v.source.display(),
            "to": v.destination.display(),
            "port": v.port,
            "protocol": v.protocol.value,
            "verdict": "allow" if v.allowed else "deny",
            "egress": v.egress.to_dict(),
            "ingress": v.ingress.to_dict(),
            "trace": [
                {
                    "direction": s.direction.value,
                    "tier": s.tier.value if s.tier else None,
                    "what": s.what,
                    "outcome": s.outcome,
                    "rule": s.rule.to_dict() if s.rule else None,
                }
                for s in self.steps
            ],
        }

    def render(self) -> str:
        v = self.verdict
        head = (
            f"{v.source.display()} -> {v.destination.display()} "
            f"{v.port}/{v.protocol.value}: {'ALLOWED' if v.allowed else 'DENIED'}"
        )
        lines = [head]
        for direction, dv, who in (
            (Direction.EGRESS, v.egress, v.source),
            (Direction.INGRESS, v.ingress, v.destination),
        ):
            lines.append("")
            lines.append(f"{direction.value} of {who.display()}: {_summary(dv)}")
            for step in self.steps:
                if step.direction is direction:
                    tier = step.tier.value if step.tier else "-"
                    where = f"{step.rule}: " if step.rule else ""
                    lines.append(f"  [{tier:<10}] {where}{step.what}")
                    lines.append(f"               -> {step.outcome}")
        return "\n".join(lines)


def _summary(dv: DirectionVerdict) -> str:
    word = "allow" if dv.allowed else "deny"
    tier = dv.tier.value if dv.tier else "no tier"
    rules = ", ".join(str(r) for r in dv.rules)
    text = f"{word} by {tier} ({dv.reason.value})"
    if rules:
        text += f": {rules}"
    if dv.l7:
        text += " [L7 rules apply to requests]"
    return text


def explain_connection(
    world: World,
    src: Endpoint,
    dst: Endpoint,
    port: int,
    protocol: Protocol,
    http: HTTPRequest | None = None,
) -> Explanation:
    trace = Trace()
    verdict = ReferenceEvaluator(world).verdict(src, dst, port, protocol, http, trace)
    return Explanation(verdict, tuple(trace.steps))
