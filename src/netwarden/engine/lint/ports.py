"""Named ports that no destination pod declares."""

from __future__ import annotations

from collections.abc import Iterator

from netwarden.engine.lint.base import Finding, LintContext
from netwarden.engine.lint.locate import port_locations
from netwarden.engine.matching import resolve_named_port
from netwarden.model.diagnostics import Location
from netwarden.model.endpoint import Endpoint, EndpointKind
from netwarden.model.ports import PortSpec, Protocol
from netwarden.model.rule import Direction, Rule, SelectorPeer

_PODS = frozenset({EndpointKind.POD})


def named_port_unresolved(ctx: LintContext) -> Iterator[Finding]:
    """NW501: a rule port by name that no destination pod declares in containers[].ports.

    The destination is the subject for ingress rules, and for egress rules the
    pods the rule's peers select (every pod when a peer is not a pod selector).
    """
    seen: set[tuple[Location, str]] = set()
    for policy, rule in ctx.rules():
        if not any(spec.name is not None for spec in rule.ports):
            continue
        if not ctx.has_pods(rule.subject.cluster):
            continue
        destinations = _destinations(ctx, rule)
        if not destinations:
            continue  # NW101/NW102 report selectors that select nothing
        locations = port_locations(policy, rule)
        for i, spec in enumerate(rule.ports):
            if spec.name is None:
                continue
            location = locations[i] if locations is not None else rule.location
            if (location, spec.name) in seen:
                continue
            seen.add((location, spec.name))
            if any(resolve_named_port(spec, pod) for pod in destinations):
                continue
            yield Finding(_message(spec, rule, destinations), location, policy.ref)


def _destinations(ctx: LintContext, rule: Rule) -> list[Endpoint]:
    cluster = rule.subject.cluster
    if rule.direction is Direction.INGRESS:
        return [p for p in ctx.selected(rule.subject, cluster) if p.kind is EndpointKind.POD]
    if all(isinstance(p, SelectorPeer) and p.selector.kinds == _PODS for p in rule.peers):
        out: dict[tuple[str | None, str | None, str | None], Endpoint] = {}
        for peer in rule.peers:
            assert isinstance(peer, SelectorPeer)
            for pod in ctx.selected(peer.selector, cluster):
                out[(pod.cluster, pod.namespace, pod.name)] = pod
        return list(out.values())
    return ctx.pods()


def _message(spec: PortSpec, rule: Rule, destinations: list[Endpoint]) -> str:
    role = "selected" if rule.direction is Direction.INGRESS else "destination"
    proto = "" if spec.protocol is Protocol.ANY else f" ({spec.protocol.value})"
    count = len(destinations)
    whom = f"the {role} pod" if count == 1 else f"any of the {count} {role} pods"
    text = f"named port {spec.name!r}{proto} is not declared by {whom}: this port matches nothing"
    other = sorted(
        {
            f"{named.protocol.value} {named.port}"
            for pod in destinations
            for named in pod.named_ports
            if spec.name is not None and named.name.lower() == spec.name.lower()
        }
    )
    if other:
        text += f" (the pods declare it for {', '.join(other)}: check the protocol)"
    return text
