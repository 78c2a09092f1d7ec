"""Every lint check, in code order: the one list docs and ``--list-checks`` read.

Codes are ``NW<theme><n>-<slug>``; the number is stable, the slug says what it is.
Themes: 1 selection, 2 YAML pitfalls, 3 DNS, 4 shadowed and redundant rules,
5 ports, 6 CIDRs, 7 CNI support, 8 admin tier.
"""

from __future__ import annotations

from netwarden.engine.lint import admin, cidr, cni, dns, pitfalls, ports, selection, shadowing
from netwarden.engine.lint.base import Check
from netwarden.model.diagnostics import Severity

WARN, INFO = Severity.WARNING, Severity.INFO

CHECKS: tuple[Check, ...] = (
    Check(
        "NW101-no-pods-selected",
        WARN,
        "A policy's subject selects no pod (or node) in the inputs, so it does nothing.",
        selection.no_pods_selected,
    ),
    Check(
        "NW102-peer-selects-nothing",
        WARN,
        "A peer selector matches no pod, namespace or node in the inputs.",
        selection.peer_selects_nothing,
    ),
    Check(
        "NW201-and-or-selector-confusion",
        WARN,
        "A '- namespaceSelector' item next to a '- podSelector' item means OR, not AND.",
        pitfalls.and_or_confusion,
    ),
    Check(
        "NW301-egress-dns-blocked",
        WARN,
        "Pods isolated for egress with no rule allowing UDP port 53 to kube-dns.",
        dns.egress_dns_blocked,
    ),
    Check(
        "NW302-fqdn-without-dns-proxy",
        WARN,
        "toFQDNs for pods without a DNS L7 rule, so Cilium never learns the names' IPs.",
        dns.fqdn_without_dns_proxy,
    ),
    Check(
        "NW401-allow-shadowed-by-deny",
        WARN,
        "An allow rule whose peers and ports a deny rule for the same pods fully covers.",
        shadowing.allow_shadowed_by_deny,
    ),
    Check(
        "NW402-redundant-allow",
        INFO,
        "An allow rule another rule of the same policy already covers (or whose L7 is moot).",
        shadowing.redundant_allow,
    ),
    Check(
        "NW403-admin-rule-unreachable",
        WARN,
        "An admin/baseline rule that an earlier rule of the same policy always matches first.",
        shadowing.admin_rule_unreachable,
    ),
    Check(
        "NW501-named-port-unresolved",
        WARN,
        "A named port that no destination pod declares, so the port matches nothing.",
        ports.named_port_unresolved,
    ),
    Check(
        "NW601-ipblock-covers-pods",
        WARN,
        "A NetworkPolicy ipBlock containing pod or node IPs, which Cilium does not match.",
        cidr.ipblock_covers_pods,
    ),
    Check(
        "NW602-cidr-rule-covers-pods",
        WARN,
        "A Cilium CIDR rule containing pod or node IPs, which it never matches.",
        cidr.cidr_rule_covers_pods,
    ),
    Check(
        "NW701-kind-not-enforced",
        WARN,
        "AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy on Cilium.",
        cni.kind_not_enforced,
    ),
    Check(
        "NW702-endport-ignored",
        WARN,
        "endPort in a NetworkPolicy: Cilium before 1.16 allows only the first port.",
        cni.endport_ignored,
    ),
    Check(
        "NW801-admin-priority-tie",
        WARN,
        "Admin policies with the same priority and overlapping subjects (undefined order).",
        admin.admin_priority_tie,
    ),
)
