"""Rules that can never decide anything: shadowed by a deny, redundant, unreachable.

Coverage is proven syntactically (coverage.py), so a finding here holds for
every inventory: the rule really never matters.
"""

from __future__ import annotations

from collections.abc import Iterator

from netwarden.engine.lint.base import Finding, LintContext, subject_text
from netwarden.engine.lint.coverage import rule_covers, selector_covers
from netwarden.model.diagnostics import Severity
from netwarden.model.ports import ALL_PORTS
from netwarden.model.rule import Action, NormalizedPolicy, Rule, Tier

_VERBS = {Action.ALLOW: "allows", Action.DENY: "denies", Action.PASS: "passes"}


def _where(rule: Rule, seen_from: Rule) -> str:
    """``spec.ingressDeny[0] (line 15)``, naming the policy and file when they differ."""
    loc = rule.location
    text = loc.path or str(rule.ref())
    if rule.policy != seen_from.policy:
        text = f"{subject_text(rule.policy)} {text}"
    notes = [rule.name] if rule.name else []
    if loc.line is not None:
        same_file = loc.file == seen_from.location.file
        notes.append(f"line {loc.line}" if same_file else f"{loc.file}:{loc.line}")
    return text + (f" ({', '.join(notes)})" if notes else "")


def _ports_text(rule: Rule) -> str:
    if rule.ports == (ALL_PORTS,):
        return "every port"
    return ", ".join(str(p) for p in rule.ports)


def allow_shadowed_by_deny(ctx: LintContext) -> Iterator[Finding]:
    """NW401: an allow rule whose every peer and port a deny rule for the same pods denies.

    In Cilium an explicit deny (ingressDeny/egressDeny) beats every allow, so
    such an allow rule never allows anything.
    """
    denies = [r for _, r in ctx.rules() if r.tier is Tier.NAMESPACED and r.action is Action.DENY]
    if not denies:
        return
    for policy, rule in ctx.rules():
        if rule.tier is not Tier.NAMESPACED or rule.action is not Action.ALLOW:
            continue
        for deny in denies:
            if (
                deny.direction is rule.direction
                and deny.policy.cluster == rule.policy.cluster
                and selector_covers(deny.subject, rule.subject)
                and rule_covers(deny, rule)
            ):
                yield Finding(
                    f"this allow rule never allows anything: deny rule {_where(deny, rule)} "
                    f"denies all of its peers on {_ports_text(rule)} for the same pods, and a "
                    "deny always wins over an allow",
                    rule.location,
                    policy.ref,
                )
                break


def redundant_allow(ctx: LintContext) -> Iterator[Finding]:
    """NW402: an allow rule that another allow rule of the same policy already covers."""
    for policy in ctx.policies:
        allows = [r for r in policy.rules if r.tier is Tier.NAMESPACED and r.action is Action.ALLOW]
        for i, rule in enumerate(allows):
            cover = _covering_allow(rule, i, allows)
            if cover is None:
                continue
            if rule.l7 is not None and cover.l7 is None:
                yield Finding(
                    f"the L7 rules of this rule have no effect: rule {_where(cover, rule)} allows "
                    "the same peers and ports without L7 rules, so every request is allowed",
                    rule.location,
                    policy.ref,
                    Severity.WARNING,
                )
                continue
            same = rule_covers(rule, cover) and rule.l7 == cover.l7
            what = "repeats" if same else "is covered by"
            yield Finding(
                f"this rule {what} rule {_where(cover, rule)}, which allows the same peers and "
                "ports: it can be removed",
                rule.location,
                policy.ref,
            )


def _covering_allow(rule: Rule, index: int, allows: list[Rule]) -> Rule | None:
    for j, other in enumerate(allows):
        if j == index or other.direction is not rule.direction or other.subject != rule.subject:
            continue
        if other.l7 is not None and other.l7 != rule.l7:
            continue  # narrower at L7: does not cover
        if not rule_covers(other, rule):
            continue
        mutual = rule_covers(rule, other) and rule.l7 == other.l7
        if mutual and j > index:
            continue  # identical pair: report the later one only
        return other
    return None


def admin_rule_unreachable(ctx: LintContext) -> Iterator[Finding]:
    """NW403: an admin/baseline rule an earlier rule of the same policy always matches first."""
    for policy in ctx.policies:
        if not any(r.tier in (Tier.ADMIN, Tier.BASELINE) for r in policy.rules):
            continue
        yield from _unreachable_in(policy)


def _unreachable_in(policy: NormalizedPolicy) -> Iterator[Finding]:
    ordered = sorted(policy.rules, key=lambda r: (r.direction.value, r.index))
    for i, rule in enumerate(ordered):
        for earlier in ordered[:i]:
            if earlier.direction is not rule.direction or not rule_covers(earlier, rule):
                continue
            verb = _VERBS[earlier.action]
            if earlier.action is rule.action:
                message = (
                    f"this rule is never reached: earlier rule {_where(earlier, rule)} already "
                    f"{verb} every connection it matches; it can be removed"
                )
                severity: Severity | None = Severity.INFO
            else:
                message = (
                    f"this {rule.action.value} rule is never reached: earlier rule "
                    f"{_where(earlier, rule)} matches every connection it matches first and "
                    f"{verb} it"
                )
                severity = None
            yield Finding(message, rule.location, policy.ref, severity)
            break
