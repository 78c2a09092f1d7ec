"""Policy features the target CNI, Cilium, does not enforce (or not in every release)."""

from __future__ import annotations

from collections.abc import Iterator

from netwarden.engine.lint.base import Finding, LintContext
from netwarden.engine.lint.locate import ADMIN_KINDS, NETWORK_POLICY, raw_at


def kind_not_enforced(ctx: LintContext) -> Iterator[Finding]:
    """NW701: AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy on Cilium."""
    for policy in ctx.policies:
        kind = policy.ref.kind
        if kind not in ADMIN_KINDS:
            continue
        yield Finding(
            f"Cilium does not implement {kind}: a Cilium cluster accepts this object but "
            "enforces nothing from it (Netwarden evaluates it only for what-if analysis); "
            "express it as a CiliumClusterwideNetworkPolicy to enforce it",
            ctx.locate(policy, ("kind",)),
            policy.ref,
        )


def endport_ignored(ctx: LintContext) -> Iterator[Finding]:
    """NW702: ``endPort`` in a NetworkPolicy, which Cilium before 1.16 ignores."""
    for policy in ctx.policies:
        if policy.ref.kind != NETWORK_POLICY:
            continue
        for direction in ("ingress", "egress"):
            rules = raw_at(policy.raw, ("spec", direction))
            for i in range(len(rules) if isinstance(rules, list) else 0):
                ports = raw_at(rules, (i, "ports"))
                for j in range(len(ports) if isinstance(ports, list) else 0):
                    port = raw_at(ports, (j, "port"))
                    end = raw_at(ports, (j, "endPort"))
                    if end is None:
                        continue
                    yield Finding(
                        f"endPort: Cilium releases before 1.16 ignore endPort and allow only "
                        f"port {port}, not the range {port}-{end} (cilium/cilium#16622, "
                        "#28684); on such clusters list the ports one by one",
                        ctx.locate(policy, ("spec", direction, i, "ports", j, "endPort")),
                        policy.ref,
                    )
