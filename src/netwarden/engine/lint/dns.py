"""DNS: pods that cannot resolve names, FQDN rules Cilium can never learn IPs for."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator

from netwarden.engine.lint.base import Finding, LintContext, name_endpoints, plural
from netwarden.engine.lint.coverage import namespace_of, rule_covers
from netwarden.engine.lint.locate import CILIUM_KINDS, peer_locations, raw_at
from netwarden.engine.matching import fqdn_matches, selector_matches
from netwarden.engine.verdict import DirectionVerdict
from netwarden.model.diagnostics import Location
from netwarden.model.endpoint import Endpoint, EndpointKind
from netwarden.model.inventory import EnforcementMode
from netwarden.model.ports import PortSpec, Protocol
from netwarden.model.rule import (
    Action,
    Direction,
    EndpointSelector,
    FQDNPeer,
    NormalizedPolicy,
    Rule,
    RuleRef,
    Tier,
)

DNS_PORT = 53
KUBE_DNS_NAMESPACE = "kube-system"
KUBE_DNS_LABEL = ("k8s-app", "kube-dns")  # CoreDNS and kube-dns deployments both carry it
# A documentation address (RFC 5737) standing for "some resolver outside the cluster".
_SOME_RESOLVER = ipaddress.ip_address("192.0.2.53")
_ADVICE = (
    "allow egress to kube-dns (namespace kube-system, k8s-app: kube-dns) on UDP and TCP port 53"
)


def _is_kube_dns(pod: Endpoint) -> bool:
    key, value = KUBE_DNS_LABEL
    return pod.namespace == KUBE_DNS_NAMESPACE and pod.labels.get(key) == value


def _may_allow_dns(rule: Rule) -> bool:
    """The rule allows UDP port 53 to some peer, or might (a named port)."""
    if rule.direction is not Direction.EGRESS or rule.action is not Action.ALLOW:
        return False
    if rule.tier is Tier.BASELINE:
        return False  # an isolated pod never reaches the baseline tier
    return any(
        spec.matches_protocol(Protocol.UDP)
        and (spec.name is not None or spec.start <= DNS_PORT <= spec.end)
        for spec in rule.ports
    )


def egress_dns_blocked(ctx: LintContext) -> Iterator[Finding]:
    """NW301: pods whose egress policy leaves no way to reach DNS on UDP port 53."""
    for name, inv in ctx.world.clusters.items():
        if inv.config.enforcement is EnforcementMode.NEVER:
            continue
        if ctx.has_pods(name):
            yield from _blocked_pods(ctx, name)
        else:
            yield from _blocked_subjects(ctx, name)


def _blocked_pods(ctx: LintContext, cluster: str) -> Iterator[Finding]:
    """With an inventory: ask the engine, for every pod, about UDP 53 to kube-dns."""
    pods = ctx.pods(cluster)
    resolvers = [p for p in pods if _is_kube_dns(p)]
    blocked: dict[RuleRef, list[Endpoint]] = {}
    by_class: dict[int, DirectionVerdict | None] = {}
    for pod in pods:
        if _is_kube_dns(pod):
            continue
        cid = ctx.class_of(pod)  # pods of one class get the same verdict
        if cid not in by_class:
            by_class[cid] = _dns_verdict(ctx, pod, resolvers)
        verdict = by_class[cid]
        if verdict is not None:
            for ref in verdict.rules:
                blocked.setdefault(ref, []).append(pod)
    target = f"kube-dns ({name_endpoints(resolvers)})" if resolvers else "any destination"
    for ref, victims in sorted(blocked.items(), key=lambda item: str(item[0])):
        policy = ctx.policy(ref.policy)
        if policy is None:
            continue
        who = f"{plural(len(victims), 'pod')} ({name_endpoints(victims)})"
        if ref.index < 0:
            why = f"this policy isolates them for egress and no rule allows UDP port 53 to {target}"
        else:
            why = f"this rule denies UDP port 53 to {target}"
        yield Finding(
            f"{who} cannot resolve DNS names: {why}; {_ADVICE}",
            _ref_location(policy, ref),
            policy.ref,
        )


def _dns_verdict(
    ctx: LintContext, pod: Endpoint, resolvers: list[Endpoint]
) -> DirectionVerdict | None:
    """The denying egress verdict for DNS from ``pod``, or None when DNS is allowed."""
    udp = Protocol.UDP
    if resolvers:
        verdicts = [
            ctx.engine.direction(Direction.EGRESS, pod, dns, dns, DNS_PORT, udp)
            for dns in resolvers
        ]
        return None if any(v.allowed for v in verdicts) else verdicts[0]
    # No kube-dns in the inputs: any rule allowing UDP 53 to any peer will do.
    if _dns_allowed_somewhere(ctx, pod):
        return None
    resolver = Endpoint(EndpointKind.WORLD, pod.cluster, ip=_SOME_RESOLVER)
    verdict = ctx.engine.direction(Direction.EGRESS, pod, resolver, resolver, DNS_PORT, udp)
    return None if verdict.allowed else verdict


def _dns_allowed_somewhere(ctx: LintContext, pod: Endpoint) -> bool:
    """Some rule for ``pod`` allows UDP 53 to some peer, and no deny provably takes
    that away (a deny for the pod covering the rule's peers on port 53)."""
    udp_53 = (PortSpec(Protocol.UDP, DNS_PORT, DNS_PORT),)
    cid = ctx.class_of(pod)
    selecting = ctx.engine.rules_selecting(Direction.EGRESS, cid)
    denies = [r for r in selecting if r.tier is Tier.NAMESPACED and r.action is Action.DENY]
    for rule in selecting:
        if not _may_allow_dns(rule):
            continue
        if rule.tier is not Tier.NAMESPACED:
            return True  # an admin-tier allow is decided before any namespaced deny
        on_53 = dataclasses.replace(rule, ports=udp_53)
        if not any(rule_covers(deny, on_53) for deny in denies):
            return True
    return False


def _ref_location(policy: NormalizedPolicy, ref: RuleRef) -> Location:
    if ref.index < 0:
        for iso in policy.isolations:
            if iso.direction is ref.direction:
                return _isolation_location(policy, iso.location)
        return policy.location
    for rule in policy.rules:
        if (rule.direction, rule.index, rule.action) == (ref.direction, ref.index, ref.action):
            return rule.location
    return policy.location


def _isolation_location(policy: NormalizedPolicy, spec: Location) -> Location:
    """The field that makes a policy isolate for egress: policyTypes, egress or egressDeny."""
    base = policy.source.relative(spec) if policy.source is not None else None
    if base is None or policy.source is None:
        return spec
    for key in ("policyTypes", "egress", "egressDeny"):
        if raw_at(policy.raw, (*base, key)) is not None:
            return policy.source.location((*base, key))
    return spec


def _blocked_subjects(ctx: LintContext, cluster: str) -> Iterator[Finding]:
    """Without an inventory: an egress-isolating policy when no rule anywhere in the
    inputs that could select the same pods allows UDP port 53."""
    candidates = [r for _, r in ctx.rules() if r.policy.cluster == cluster and _may_allow_dns(r)]
    for policy in ctx.policies:
        if policy.ref.cluster != cluster:
            continue
        for iso in policy.isolations:
            if iso.direction is not Direction.EGRESS or EndpointKind.POD not in iso.subject.kinds:
                continue
            if any(_may_share(r.subject, iso.subject) for r in candidates):
                continue
            yield Finding(
                "the pods this policy isolates for egress cannot resolve DNS names: no rule "
                f"in the inputs allows UDP port 53 for them; {_ADVICE}",
                _isolation_location(policy, iso.location),
                policy.ref,
            )
            break


def _may_share(a: EndpointSelector, b: EndpointSelector) -> bool:
    """Whether two pod selectors might select a common pod (namespaces only)."""
    if EndpointKind.POD not in a.kinds:
        return False
    ns_a, ns_b = namespace_of(a), namespace_of(b)
    return ns_a is None or ns_b is None or ns_a == ns_b


# ---- toFQDNs ---------------------------------------------------------------


def fqdn_without_dns_proxy(ctx: LintContext) -> Iterator[Finding]:
    """NW302: toFQDNs for pods whose DNS lookups no DNS rule sends through Cilium's proxy."""
    dns_rules = [
        r
        for _, r in ctx.rules()
        if r.direction is Direction.EGRESS
        and r.action is Action.ALLOW
        and r.l7 is not None
        and r.l7.dns
    ]
    seen: set[Location] = set()
    for policy, rule in ctx.rules():
        if policy.ref.kind not in CILIUM_KINDS or rule.direction is not Direction.EGRESS:
            continue
        locations = peer_locations(policy, rule)
        for i, peer in enumerate(rule.peers):
            if not isinstance(peer, FQDNPeer):
                continue
            location = locations[i] if locations is not None else rule.location
            if location in seen:
                continue
            seen.add(location)
            message = _fqdn_problem(ctx, rule, peer, dns_rules)
            if message is not None:
                yield Finding(message, location, policy.ref)


def _fqdn_problem(
    ctx: LintContext, rule: Rule, peer: FQDNPeer, dns_rules: list[Rule]
) -> str | None:
    name = peer.match_name or peer.match_pattern
    cluster = rule.subject.cluster
    no_proxy = (
        "so Cilium's DNS proxy never sees their lookups and learns no IP for the name: "
        "this peer matches nothing. Add an egress rule to kube-dns on port 53 with "
        "toPorts rules: {dns: [{matchPattern: '*'}]}"
    )
    if cluster is not None and ctx.has_pods(cluster):
        pods = ctx.selected(rule.subject, cluster)
        if not pods:
            return None  # NW101 reports the subject
        lacking = [p for p in pods if not any(selector_matches(r.subject, p) for r in dns_rules)]
        if lacking:
            who = f"{plural(len(lacking), 'pod')} ({name_endpoints(lacking)})"
            return f"toFQDNs {name}: no DNS rule applies to {who}, {no_proxy}"
        visible = [r for r in dns_rules if any(selector_matches(r.subject, p) for p in pods)]
    else:
        visible = [
            r
            for r in dns_rules
            if r.policy.cluster == rule.policy.cluster and _may_share(r.subject, rule.subject)
        ]
        if not visible:
            return f"toFQDNs {name}: no DNS rule in the inputs applies to these pods, {no_proxy}"
    if peer.match_name is None:
        return None
    patterns = [d for r in visible if r.l7 is not None for d in r.l7.dns]
    name_ok = (FQDNPeer(d.match_name, d.match_pattern) for d in patterns)
    if any(fqdn_matches(allowed, peer.match_name) for allowed in name_ok):
        return None
    allowed = ", ".join(sorted({str(d.match_name or d.match_pattern) for d in patterns}))
    return (
        f"toFQDNs {name}: the DNS rules for these pods ({allowed}) do not allow looking "
        "up this name, so the DNS proxy refuses the query and Cilium learns no IP for it"
    )
