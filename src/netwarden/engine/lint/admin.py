"""Admin-tier policies: ties in priority that leave the order undefined."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

from netwarden.engine.lint.base import Finding, LintContext, name_endpoints, subject_text
from netwarden.engine.lint.coverage import selector_covers
from netwarden.engine.matching import selector_matches
from netwarden.model.rule import EndpointSelector, NormalizedPolicy, Tier

_PRIORITY_KINDS = frozenset({"AdminNetworkPolicy", "ClusterNetworkPolicy"})


def _subject(policy: NormalizedPolicy) -> EndpointSelector | None:
    return policy.rules[0].subject if policy.rules else None


def _tier(policy: NormalizedPolicy) -> Tier:
    return policy.rules[0].tier


def admin_priority_tie(ctx: LintContext) -> Iterator[Finding]:
    """NW801: two admin policies with the same priority whose subjects overlap.

    Upstream leaves the order between such policies undefined, so which rule
    wins for the pods they share depends on the implementation.
    """
    groups: dict[tuple[str, Tier, int], list[NormalizedPolicy]] = {}
    for policy in ctx.policies:
        if policy.ref.kind in _PRIORITY_KINDS and _subject(policy) is not None:
            key = (policy.ref.cluster, _tier(policy), policy.rules[0].priority)
            groups.setdefault(key, []).append(policy)
    for (cluster, _, priority), members in sorted(groups.items(), key=lambda g: str(g[0])):
        members.sort(key=lambda p: (p.ref.kind, p.ref.name))
        for first, second in combinations(members, 2):
            overlap = _overlap(ctx, first, second, cluster)
            if overlap is None:
                continue
            yield Finding(
                f"priority {priority} is also the priority of {subject_text(first.ref)}, and "
                f"both select {overlap}: the order between them is undefined, so which rule "
                "wins for those pods depends on the implementation; give them distinct "
                "priorities",
                ctx.locate(second, ("spec", "priority")),
                second.ref,
            )


def _overlap(
    ctx: LintContext, a: NormalizedPolicy, b: NormalizedPolicy, cluster: str
) -> str | None:
    """What both subjects select: pods of the inputs, or a proof from the selectors alone."""
    sa, sb = _subject(a), _subject(b)
    assert sa is not None and sb is not None
    if ctx.has_pods(cluster):
        pods = ctx.pods(cluster)
        shared = [p for p in pods if selector_matches(sa, p) and selector_matches(sb, p)]
        return name_endpoints(shared) if shared else None
    if selector_covers(sa, sb) or selector_covers(sb, sa):
        return "the same pods (one subject includes the other)"
    return None
