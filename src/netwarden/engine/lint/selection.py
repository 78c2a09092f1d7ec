"""Selectors that select nothing: policies that apply to no pod, peers that match no one.

Both checks need an inventory to compare against, so they run only for
clusters whose inputs contain pods (or, for namespace selectors, namespaces).
"""

from __future__ import annotations

from collections.abc import Iterator

from netwarden.engine.lint.base import Finding, LintContext
from netwarden.engine.lint.locate import peer_locations, subject_sites
from netwarden.model.diagnostics import Location
from netwarden.model.endpoint import NAMESPACE_LABEL, EndpointKind
from netwarden.model.labels import LabelSelector, Operator
from netwarden.model.rule import Direction, EndpointSelector, NormalizedPolicy, Rule, SelectorPeer

_PODS = frozenset({EndpointKind.POD})
_HOSTS = frozenset({EndpointKind.HOST})


def describe_selector(sel: EndpointSelector) -> str:
    """A selector in the words of the manifests (podSelector, namespaceSelector, ...)."""
    parts = []
    namespace = sel.namespace
    if sel.namespace_labels is not None:
        parts.append(f"namespaceSelector {{{sel.namespace_labels}}}")
    if sel.pod is not None:
        parts.append(f"podSelector {{{sel.pod}}}")
    if sel.cilium is not None:
        # Cilium limits namespaced selectors to the policy's namespace with an
        # io.kubernetes.pod.namespace requirement: show it as "in namespace".
        own = [r for r in sel.cilium.requirements if r.key == NAMESPACE_LABEL]
        rest = LabelSelector(
            tuple(r for r in sel.cilium.requirements if r.key != NAMESPACE_LABEL),
            sel.cilium.matches_nothing,
        )
        if len(own) == 1 and own[0].operator is Operator.IN and len(own[0].values) == 1:
            namespace = namespace or next(iter(own[0].values))
        else:
            rest = sel.cilium
        parts.append(f"endpointSelector {{{rest}}}")
    if sel.node is not None:
        parts.append(f"nodeSelector {{{sel.node}}}")
    if namespace is not None and sel.namespace_labels is None:
        parts.append(f"in namespace {namespace}")
    return " ".join(parts) or "every pod"


def no_pods_selected(ctx: LintContext) -> Iterator[Finding]:
    """NW101: a policy whose subject selects no pod (or node) of the inputs."""
    for policy in ctx.policies:
        cluster = policy.ref.cluster
        for subject, location in subject_sites(policy):
            if subject.kinds == _PODS and ctx.has_pods(cluster):
                what = "pod"
            elif subject.kinds == _HOSTS and ctx.nodes(cluster):
                what = "node"
            else:
                continue
            if ctx.selected(subject, cluster):
                continue
            yield Finding(
                f"{describe_selector(subject)} selects no {what} in the inputs: "
                "the policy has no effect (check the labels and the namespace)",
                location,
                policy.ref,
            )


def peer_selects_nothing(ctx: LintContext) -> Iterator[Finding]:
    """NW102: a peer selector that matches no pod, namespace or node of the inputs."""
    seen: set[tuple[Location, EndpointSelector]] = set()
    for policy, rule in ctx.rules():
        locations = peer_locations(policy, rule)
        for i, peer in enumerate(rule.peers):
            if not isinstance(peer, SelectorPeer):
                continue
            location = locations[i] if locations is not None else rule.location
            if (location, peer.selector) in seen:
                continue  # one Cilium rule becomes one Rule per toPorts entry
            seen.add((location, peer.selector))
            message = _why_empty(ctx, policy, rule, peer.selector)
            if message is not None:
                yield Finding(message, location, policy.ref)


def _why_empty(
    ctx: LintContext, policy: NormalizedPolicy, rule: Rule, sel: EndpointSelector
) -> str | None:
    cluster = sel.cluster or policy.ref.cluster
    side = "from" if rule.direction is Direction.INGRESS else "to"
    if sel.kinds == _HOSTS:
        if not ctx.nodes(cluster) or ctx.selected(sel, cluster):
            return None
        return f"{side} peer {describe_selector(sel)} matches no node in the inputs"
    if sel.kinds != _PODS:
        return None
    if sel.namespace_labels is not None and ctx.declares_namespaces(cluster):
        namespaces = ctx.namespaces(cluster).values()
        if not any(sel.namespace_labels.matches(labels) for labels in namespaces):
            return (
                f"{side} peer {describe_selector(sel)}: the namespaceSelector matches "
                "no namespace in the inputs (check the namespace labels)"
            )
    if not ctx.has_pods(sel.cluster):
        return None
    if ctx.selected(sel, None if sel.cluster is None else cluster):
        return None
    if sel.namespace is not None and not any(
        p.namespace == sel.namespace for p in ctx.pods(cluster)
    ):
        return (
            f"{side} peer {describe_selector(sel)} matches no pod: the inputs have "
            f"no pod in namespace {sel.namespace}"
        )
    return f"{side} peer {describe_selector(sel)} matches no pod in the inputs"
