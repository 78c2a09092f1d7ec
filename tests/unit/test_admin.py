"""policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy and BaselineAdminNetworkPolicy,
from the network-policy-api types (apis/v1alpha1) and site docs.

Equal priorities: the API leaves the choice to the implementation ("no way for the user
to reliably determine which one it will choose"). Netwarden is deterministic: rules are
ordered by priority, then by the policy reference "Kind/name" (so by name within one
kind), then by rule index.
"""

from __future__ import annotations

from typing import Any

import pytest

from netwarden.engine.verdict import Reason as R
from tests.unit.helpers import (
    allowed,
    anp,
    banp,
    build,
    check,
    dump,
    errors,
    load,
    netpol,
    node,
    ns_sel,
    pod,
    sel,
    warnings,
)

SUBJECT_X = {"subject": {"namespaces": ns_sel("x")}}


def ingress(
    action: str, *peers: dict[str, Any], ports: list[Any] | None = None, name: str = "r"
) -> dict[str, Any]:
    rule: dict[str, Any] = {"name": name, "action": action, "from": list(peers)}
    if ports is not None:
        rule["ports"] = ports
    return rule


def egress(
    action: str, *peers: dict[str, Any], ports: list[Any] | None = None, name: str = "r"
) -> dict[str, Any]:
    rule: dict[str, Any] = {"name": name, "action": action, "to": list(peers)}
    if ports is not None:
        rule["ports"] = ports
    return rule


FROM_Y = {"namespaces": ns_sel("y")}
FROM_ALL = {"namespaces": {}}


def test_anp_deny_overrides_networkpolicy_allow() -> None:
    world = build(
        anp("deny-y", 10, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}),
        netpol("allow-all", "x", {"podSelector": {}, "ingress": [{}]}),
    )
    check(
        world,
        "y/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ADMIN_DENY, "AdminNetworkPolicy/deny-y#0"),
    )
    check(
        world,
        "z/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ALLOW_RULE, "NetworkPolicy/x/allow-all"),
    )


def test_anp_allow_overrides_networkpolicy_isolation() -> None:
    world = build(
        anp("allow-y", 10, {**SUBJECT_X, "ingress": [ingress("Allow", FROM_Y)]}),
        netpol("deny", "x", {"podSelector": {}}),
    )
    check(
        world,
        "y/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ADMIN_ALLOW, "AdminNetworkPolicy/allow-y"),
    )
    check(
        world,
        "z/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ISOLATED, "NetworkPolicy/x/deny"),
    )


def test_anp_egress_allow_overrides_networkpolicy_egress_isolation() -> None:
    world = build(
        anp("allow-to-y", 5, {**SUBJECT_X, "egress": [egress("Allow", FROM_Y)]}),
        netpol("deny-egress", "x", {"podSelector": {}, "policyTypes": ["Egress"]}),
    )
    check(world, "x/a", "y/b", 80, egress=R.ADMIN_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(world, "x/a", "z/b", 80, egress=R.ISOLATED, ingress=R.DEFAULT_ALLOW)


def test_anp_egress_allow_does_not_bypass_destination_ingress() -> None:
    world = build(
        anp("allow-to-y", 5, {**SUBJECT_X, "egress": [egress("Allow", FROM_Y)]}),
        netpol("deny", "y", {"podSelector": {}}),
    )
    v = check(world, "x/a", "y/b", 80, egress=R.ADMIN_ALLOW, ingress=R.ISOLATED)
    assert not v.allowed


def test_anp_egress_deny_beats_peer_ingress_allow() -> None:
    world = build(
        anp("deny-to-y", 5, {**SUBJECT_X, "egress": [egress("Deny", FROM_Y)]}),
        anp(
            "allow-into-y",
            1,
            {"subject": {"namespaces": ns_sel("y")}, "ingress": [ingress("Allow", FROM_ALL)]},
        ),
    )
    check(world, "x/a", "y/b", 80, egress=R.ADMIN_DENY, ingress=R.ADMIN_ALLOW)


@pytest.mark.parametrize(
    ("deny_priority", "allow_priority", "expected"), [(10, 20, False), (20, 10, True)]
)
def test_lower_priority_value_wins(deny_priority: int, allow_priority: int, expected: bool) -> None:
    world = build(
        anp("deny", deny_priority, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}),
        anp("allow", allow_priority, {**SUBJECT_X, "ingress": [ingress("Allow", FROM_Y)]}),
    )
    assert allowed(world, "y/a", "x/a", 80) is expected


def test_rule_order_within_a_policy() -> None:
    rules = [
        ingress("Allow", FROM_Y, ports=[{"portNumber": {"port": 80}}], name="allow-80"),
        ingress("Deny", FROM_ALL, name="deny-rest"),
    ]
    world = build(anp("p", 10, {**SUBJECT_X, "ingress": rules}))
    check(
        world,
        "y/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ADMIN_ALLOW, "AdminNetworkPolicy/p#0"),
    )
    check(
        world,
        "y/a",
        "x/a",
        81,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ADMIN_DENY, "AdminNetworkPolicy/p#1"),
    )
    check(
        world,
        "z/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ADMIN_DENY, "AdminNetworkPolicy/p#1"),
    )
    v = check(world, "y/a", "x/a", 81, egress=R.DEFAULT_ALLOW, ingress=R.ADMIN_DENY)
    assert v.ingress.rules[0].name == "deny-rest"


@pytest.mark.parametrize(
    ("allow_name", "deny_name", "expected"),
    [("a-allow", "b-deny", True), ("b-allow", "a-deny", False)],
)
def test_equal_priority_is_ordered_by_policy_name(
    allow_name: str, deny_name: str, expected: bool
) -> None:
    world = build(
        anp(deny_name, 10, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}),
        anp(allow_name, 10, {**SUBJECT_X, "ingress": [ingress("Allow", FROM_Y)]}),
    )
    assert allowed(world, "y/a", "x/a", 80) is expected


def test_pass_then_networkpolicy_decides() -> None:
    world = build(
        anp("pass-y", 10, {**SUBJECT_X, "ingress": [ingress("Pass", FROM_Y)]}),
        netpol("deny", "x", {"podSelector": {}}),
    )
    check(
        world,
        "y/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ISOLATED, "NetworkPolicy/x/deny"),
    )


def test_pass_skips_lower_priority_admin_rules() -> None:
    world = build(
        anp("pass-y", 10, {**SUBJECT_X, "ingress": [ingress("Pass", FROM_Y)]}),
        anp("deny-all", 20, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_ALL)]}),
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(world, "z/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ADMIN_DENY)


def test_deny_at_higher_precedence_beats_pass() -> None:
    world = build(
        anp("pass-y", 60, {**SUBJECT_X, "ingress": [ingress("Pass", FROM_Y)]}),
        anp("deny-y", 50, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}),
    )
    check(
        world,
        "y/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ADMIN_DENY, "AdminNetworkPolicy/deny-y"),
    )


def test_pass_then_baseline_decides() -> None:
    world = build(
        anp("pass-y", 10, {**SUBJECT_X, "ingress": [ingress("Pass", FROM_Y)]}),
        banp({**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}),
    )
    check(
        world,
        "y/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.BASELINE_DENY, "BaselineAdminNetworkPolicy/default"),
    )


def test_banp_allow_and_deny() -> None:
    rules = [
        ingress("Allow", {"pods": {"namespaceSelector": ns_sel("y"), "podSelector": sel(pod="a")}}),
        ingress("Deny", FROM_Y),
    ]
    world = build(banp({**SUBJECT_X, "ingress": rules}))
    check(
        world,
        "y/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.BASELINE_ALLOW, "BaselineAdminNetworkPolicy/default#0"),
    )
    check(
        world,
        "y/b",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.BASELINE_DENY, "BaselineAdminNetworkPolicy/default#1"),
    )
    check(world, "z/b", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)


def test_networkpolicy_isolation_preempts_banp() -> None:
    world = build(
        banp({**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y), ingress("Allow", FROM_ALL)]}),
        netpol(
            "allow-y",
            "x",
            {
                "podSelector": sel(pod="a"),
                "ingress": [{"from": [{"namespaceSelector": ns_sel("y")}]}],
            },
        ),
    )
    # x/a is selected by a NetworkPolicy: that tier decides, the BANP is not consulted.
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ALLOW_RULE)
    check(world, "z/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)
    # x/b is not selected: the BANP decides.
    check(world, "y/a", "x/b", 80, egress=R.DEFAULT_ALLOW, ingress=R.BASELINE_DENY)
    check(world, "z/a", "x/b", 80, egress=R.DEFAULT_ALLOW, ingress=R.BASELINE_ALLOW)


def test_banp_not_named_default_is_ignored_with_a_warning() -> None:
    inp = load(banp({**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}, name="strict"))
    assert not inp.errors
    [warning] = warnings(inp)
    assert warning.code == "banp-name"
    assert warning.location.path == "metadata.name"
    assert not inp.policies
    world = build(banp({**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}, name="strict"))
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)


def test_banp_has_no_pass_action() -> None:
    errs = errors(dump(banp({**SUBJECT_X, "ingress": [ingress("Pass", FROM_Y)]})))
    assert [e.location.path for e in errs] == ["spec.ingress[0].action"]


def test_subject_pods() -> None:
    subject = {"subject": {"pods": {"namespaceSelector": ns_sel("x"), "podSelector": sel(pod="a")}}}
    world = build(anp("p", 1, {**subject, "ingress": [ingress("Deny", FROM_Y)]}))
    assert not allowed(world, "y/a", "x/a", 80)
    assert allowed(world, "y/a", "x/b", 80)
    assert allowed(world, "y/a", "z/a", 80)


def test_peer_pods() -> None:
    peer = {"pods": {"namespaceSelector": {}, "podSelector": sel(pod="c")}}
    world = build(anp("p", 1, {**SUBJECT_X, "ingress": [ingress("Deny", peer)]}))
    assert not allowed(world, "y/c", "x/a", 80)
    assert not allowed(world, "x/c", "x/a", 80)
    assert allowed(world, "y/b", "x/a", 80)


def test_networks_peer_matches_pod_ips() -> None:
    world = build(
        anp("p", 1, {**SUBJECT_X, "egress": [egress("Deny", {"networks": ["10.0.2.0/24"]})]})
    )
    check(world, "x/a", "y/b", 80, egress=R.ADMIN_DENY, ingress=R.DEFAULT_ALLOW)
    check(world, "x/a", "z/b", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)


def test_networks_peer_matches_external_addresses() -> None:
    world = build(
        anp(
            "p",
            1,
            {
                **SUBJECT_X,
                "egress": [egress("Deny", {"networks": ["203.0.113.0/24", "2001:db8::/32"]})],
            },
        )
    )
    assert not allowed(world, "x/a", "203.0.113.7", 443)
    assert not allowed(world, "x/a", "2001:db8::1", 443)
    assert allowed(world, "x/a", "198.51.100.4", 443)


def test_nodes_peer() -> None:
    nodes_peer = {"nodes": sel(**{"kubernetes.io/hostname": "node-2"})}
    world = build(anp("p", 1, {**SUBJECT_X, "egress": [egress("Deny", nodes_peer)]}), nodes=True)
    check(world, "x/a", "172.16.0.2", 10250, egress=R.ADMIN_DENY, ingress=R.DEFAULT_ALLOW)
    assert allowed(world, "x/a", "172.16.0.1", 10250)  # own node: always allowed
    assert allowed(world, "x/a", "y/b", 80)


def test_port_number_protocol_defaults_to_tcp() -> None:
    rule = ingress("Deny", FROM_Y, ports=[{"portNumber": {"port": 80}}])
    world = build(anp("p", 1, {**SUBJECT_X, "ingress": [rule]}))
    assert not allowed(world, "y/a", "x/a", 80, "TCP")
    assert allowed(world, "y/a", "x/a", 80, "UDP")
    assert allowed(world, "y/a", "x/a", 81, "TCP")


def test_port_number_with_protocol() -> None:
    rule = ingress("Deny", FROM_Y, ports=[{"portNumber": {"protocol": "UDP", "port": 53}}])
    world = build(anp("p", 1, {**SUBJECT_X, "ingress": [rule]}))
    assert not allowed(world, "y/a", "x/a", 53, "UDP")
    assert allowed(world, "y/a", "x/a", 53, "TCP")


def test_port_range_is_inclusive() -> None:
    rule = ingress("Deny", FROM_Y, ports=[{"portRange": {"start": 8000, "end": 8002}}])
    world = build(anp("p", 1, {**SUBJECT_X, "ingress": [rule]}))
    assert [allowed(world, "y/a", "x/a", p) for p in (7999, 8000, 8002, 8003)] == [
        True,
        False,
        False,
        True,
    ]
    assert allowed(world, "y/a", "x/a", 8001, "UDP")


def test_named_port_resolves_on_destination_pod() -> None:
    rule = ingress("Deny", FROM_Y, ports=[{"namedPort": "serve-81-udp"}])
    world = build(anp("p", 1, {**SUBJECT_X, "ingress": [rule]}))
    assert not allowed(world, "y/a", "x/a", 81, "UDP")
    assert allowed(world, "y/a", "x/a", 81, "TCP")
    assert allowed(world, "y/a", "x/a", 80, "UDP")


def test_named_port_egress() -> None:
    rule = egress("Deny", FROM_Y, ports=[{"namedPort": "serve-80-tcp"}])
    world = build(anp("p", 1, {**SUBJECT_X, "egress": [rule]}))
    assert not allowed(world, "x/a", "y/b", 80)
    assert allowed(world, "x/a", "y/b", 81)


def test_empty_peer_fails_closed() -> None:
    # "Allow": matches no traffic; "Deny"/"Pass": treated as "deny all".
    world = build(
        anp("allow", 1, {**SUBJECT_X, "ingress": [ingress("Allow", {})]}),
        netpol("deny", "x", {"podSelector": {}}),
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)
    world = build(anp("deny", 1, {**SUBJECT_X, "ingress": [ingress("Deny", {})]}))
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ADMIN_DENY)
    check(world, "198.51.100.4", "x/a", 80, egress=R.NOT_ENFORCED, ingress=R.ADMIN_DENY)


def test_empty_peer_among_others_only_drops_itself_for_allow() -> None:
    world = build(
        anp("allow", 1, {**SUBJECT_X, "ingress": [ingress("Allow", {}, FROM_Y)]}),
        netpol("deny", "x", {"podSelector": {}}),
    )
    assert allowed(world, "y/a", "x/a", 80)
    assert not allowed(world, "z/a", "x/a", 80)


def test_pod_to_itself_is_not_subject_to_admin_policy() -> None:
    world = build(
        anp(
            "deny-intra-x",
            10,
            {**SUBJECT_X, "ingress": [ingress("Deny", {"namespaces": ns_sel("x")})]},
        )
    )
    check(world, "x/a", "x/a", 80, egress=R.SELF, ingress=R.SELF)
    check(world, "x/b", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ADMIN_DENY)


def test_host_network_pods_are_not_subjects_or_peers() -> None:
    hn = pod("x", "hn", None, {"app": "hn"}, node="node-1", host_network=True)
    world = build(
        hn,
        anp(
            "deny-all",
            1,
            {
                **SUBJECT_X,
                "ingress": [ingress("Deny", FROM_ALL)],
                "egress": [egress("Deny", FROM_ALL)],
            },
        ),
        nodes=True,
    )
    # The host-network pod is the node: not a subject, not a namespaces peer.
    v = check(world, "y/b", "x/hn", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    assert v.allowed
    check(world, "x/hn", "x/b", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(world, "y/a", "x/b", 80, egress=R.DEFAULT_ALLOW, ingress=R.ADMIN_DENY)


def test_domain_names_allow() -> None:
    rules = [
        egress("Allow", {"domainNames": ["*.example.com", "exact.example.org"]}),
        egress("Deny", {"networks": ["0.0.0.0/0"]}),
    ]
    world = build(anp("p", 1, {**SUBJECT_X, "egress": rules}))
    # "*." matches one or more labels, unlike Cilium's "*.".
    assert allowed(world, "x/a", "203.0.113.10", 443, dns_name="api.example.com")
    assert allowed(world, "x/a", "203.0.113.10", 443, dns_name="a.b.example.com")
    assert not allowed(world, "x/a", "203.0.113.10", 443, dns_name="example.com")
    assert allowed(world, "x/a", "203.0.113.11", 443, dns_name="exact.example.org")
    assert not allowed(world, "x/a", "203.0.113.11", 443, dns_name="other.example.org")
    # 0.0.0.0/0 also covers pod IPs (the API's warning).
    assert not allowed(world, "x/a", "y/b", 80)


def test_non_pod_subjects_ignore_admin_policies() -> None:
    world = build(
        anp("p", 1, {"subject": {"namespaces": {}}, "ingress": [ingress("Deny", FROM_ALL)]}),
        node("node-9", "172.16.0.9"),
    )
    assert allowed(world, "y/a", "172.16.0.9", 22)
