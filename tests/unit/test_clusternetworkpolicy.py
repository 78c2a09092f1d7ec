"""policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy, from the network-policy-api
types (apis/v1alpha2/clusternetworkpolicy_types.go) and site-src/api-overview.md.

Tier order: Admin, then NetworkPolicy (and Cilium policies), then Baseline, then the
default allow. Accept (not Allow), Deny, Pass. Ports use the ``protocols`` shape.
"""

from __future__ import annotations

from typing import Any

import pytest

from netwarden.engine.verdict import Reason as R
from tests.unit.helpers import (
    allowed,
    anp,
    build,
    check,
    cilium_config,
    cnp,
    cnp2,
    dump,
    errors,
    netpol,
    ns_sel,
    sel,
)

SUBJECT_X = {"subject": {"namespaces": ns_sel("x")}}
FROM_Y = {"namespaces": ns_sel("y")}
FROM_ALL = {"namespaces": {}}
KIND = "ClusterNetworkPolicy"


def ingress(
    action: str, *peers: dict[str, Any], protocols: list[Any] | None = None
) -> dict[str, Any]:
    rule: dict[str, Any] = {"action": action, "from": list(peers)}
    if protocols is not None:
        rule["protocols"] = protocols
    return rule


def egress(
    action: str, *peers: dict[str, Any], protocols: list[Any] | None = None
) -> dict[str, Any]:
    rule: dict[str, Any] = {"action": action, "to": list(peers)}
    if protocols is not None:
        rule["protocols"] = protocols
    return rule


@pytest.mark.parametrize(
    ("tier", "action", "reason"),
    [
        ("Admin", "Accept", R.ADMIN_ALLOW),
        ("Admin", "Deny", R.ADMIN_DENY),
        ("Baseline", "Accept", R.BASELINE_ALLOW),
        ("Baseline", "Deny", R.BASELINE_DENY),
    ],
)
def test_tier_and_action(tier: str, action: str, reason: R) -> None:
    world = build(cnp2("p", tier, 10, {**SUBJECT_X, "ingress": [ingress(action, FROM_Y)]}))
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=(reason, f"{KIND}/p#0"))
    check(world, "z/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)


def test_admin_deny_overrides_networkpolicy_allow() -> None:
    world = build(
        cnp2("deny-y", "Admin", 10, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}),
        netpol("allow-all", "x", {"podSelector": {}, "ingress": [{}]}),
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ADMIN_DENY)
    check(world, "z/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ALLOW_RULE)


def test_admin_accept_overrides_cilium_deny() -> None:
    world = build(
        cnp2("accept-y", "Admin", 10, {**SUBJECT_X, "ingress": [ingress("Accept", FROM_Y)]}),
        cnp("deny-all", "x", {"endpointSelector": {}, "ingressDeny": [{"fromEntities": ["all"]}]}),
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ADMIN_ALLOW)
    check(world, "z/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DENY_RULE)


def test_admin_pass_goes_to_networkpolicy_tier() -> None:
    world = build(
        cnp2("pass-y", "Admin", 10, {**SUBJECT_X, "ingress": [ingress("Pass", FROM_Y)]}),
        cnp2("deny-all", "Admin", 20, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_ALL)]}),
        netpol(
            "allow-y",
            "x",
            {
                "podSelector": sel(pod="a"),
                "ingress": [{"from": [{"namespaceSelector": ns_sel("y")}]}],
            },
        ),
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ALLOW_RULE)
    check(world, "y/a", "x/b", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(world, "z/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ADMIN_DENY)


def test_admin_pass_then_baseline_tier() -> None:
    world = build(
        cnp2("pass-y", "Admin", 10, {**SUBJECT_X, "ingress": [ingress("Pass", FROM_Y)]}),
        cnp2("base", "Baseline", 10, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}),
    )
    check(
        world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=(R.BASELINE_DENY, f"{KIND}/base")
    )


def test_baseline_pass_ends_in_default_allow() -> None:
    world = build(
        cnp2("base-pass", "Baseline", 10, {**SUBJECT_X, "ingress": [ingress("Pass", FROM_Y)]}),
        cnp2("base-deny", "Baseline", 20, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_ALL)]}),
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(
        world,
        "z/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.BASELINE_DENY, f"{KIND}/base-deny"),
    )


def test_networkpolicy_preempts_baseline_tier() -> None:
    world = build(
        cnp2("base", "Baseline", 10, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_ALL)]}),
        netpol(
            "allow-y",
            "x",
            {
                "podSelector": sel(pod="a"),
                "ingress": [{"from": [{"namespaceSelector": ns_sel("y")}]}],
            },
        ),
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ALLOW_RULE)
    check(world, "y/a", "x/b", 80, egress=R.DEFAULT_ALLOW, ingress=R.BASELINE_DENY)


def test_admin_tier_always_before_baseline_whatever_the_priority() -> None:
    world = build(
        cnp2("base", "Baseline", 0, {**SUBJECT_X, "ingress": [ingress("Accept", FROM_Y)]}),
        cnp2("admin", "Admin", 1000, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}),
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ADMIN_DENY)


def test_priority_order_within_a_tier() -> None:
    world = build(
        cnp2("deny", "Admin", 5, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}),
        cnp2("accept", "Admin", 6, {**SUBJECT_X, "ingress": [ingress("Accept", FROM_Y)]}),
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=(R.ADMIN_DENY, f"{KIND}/deny"))


def test_equal_priority_with_anp_is_ordered_by_kind_then_name() -> None:
    # Deterministic tie-break: "AdminNetworkPolicy/..." sorts before "ClusterNetworkPolicy/...".
    world = build(
        cnp2("a-deny", "Admin", 10, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}),
        anp("z-allow", 10, {**SUBJECT_X, "ingress": [{"action": "Allow", "from": [FROM_Y]}]}),
    )
    check(
        world,
        "y/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ADMIN_ALLOW, "AdminNetworkPolicy/z-allow"),
    )


def test_egress_accept_still_needs_destination_ingress() -> None:
    world = build(
        cnp2("accept-to-y", "Admin", 1, {**SUBJECT_X, "egress": [egress("Accept", FROM_Y)]}),
        netpol("deny", "y", {"podSelector": {}}),
    )
    v = check(world, "x/a", "y/b", 80, egress=R.ADMIN_ALLOW, ingress=R.ISOLATED)
    assert not v.allowed


def test_networks_peer_matches_pods_and_external() -> None:
    world = build(
        cnp2(
            "p",
            "Admin",
            1,
            {
                **SUBJECT_X,
                "egress": [egress("Deny", {"networks": ["10.0.2.0/24", "203.0.113.0/24"]})],
            },
        )
    )
    assert not allowed(world, "x/a", "y/b", 80)
    assert not allowed(world, "x/a", "203.0.113.7", 443)
    assert allowed(world, "x/a", "z/b", 80)


def test_subject_pods() -> None:
    subject = {"subject": {"pods": {"namespaceSelector": {}, "podSelector": sel(pod="c")}}}
    world = build(cnp2("p", "Admin", 1, {**subject, "ingress": [ingress("Deny", FROM_ALL)]}))
    assert not allowed(world, "x/a", "y/c", 80)
    assert not allowed(world, "x/a", "z/c", 80)
    assert allowed(world, "x/a", "y/b", 80)


def test_fail_closed_empty_peer() -> None:
    world = build(
        cnp2("p", "Admin", 1, {**SUBJECT_X, "ingress": [ingress("Pass", {})]}),
        netpol("deny", "x", {"podSelector": {}}),
    )
    check(world, "198.51.100.4", "x/a", 80, egress=R.NOT_ENFORCED, ingress=R.ISOLATED)
    world = build(
        cnp2("p", "Admin", 1, {**SUBJECT_X, "ingress": [ingress("Accept", {})]}),
        netpol("deny", "x", {"podSelector": {}}),
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


# ---- protocols -------------------------------------------------------------------


def deny_y(*protocols: dict[str, Any]) -> Any:
    return build(
        cnp2(
            "p",
            "Admin",
            1,
            {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y, protocols=list(protocols))]},
        )
    )


def test_tcp_destination_port_number() -> None:
    world = deny_y({"tcp": {"destinationPort": {"number": 80}}})
    assert not allowed(world, "y/a", "x/a", 80, "TCP")
    assert allowed(world, "y/a", "x/a", 81, "TCP")
    assert allowed(world, "y/a", "x/a", 80, "UDP")


def test_tcp_destination_port_range_is_inclusive() -> None:
    world = deny_y({"tcp": {"destinationPort": {"range": {"start": 8000, "end": 8002}}}})
    assert [allowed(world, "y/a", "x/a", p) for p in (7999, 8000, 8001, 8002, 8003)] == [
        True,
        False,
        False,
        False,
        True,
    ]


def test_protocol_without_destination_port_is_every_port() -> None:
    world = deny_y({"udp": {}})
    assert not allowed(world, "y/a", "x/a", 53, "UDP")
    assert not allowed(world, "y/a", "x/a", 65535, "UDP")
    assert allowed(world, "y/a", "x/a", 53, "TCP")


def test_sctp_and_udp_entries() -> None:
    world = deny_y(
        {"sctp": {"destinationPort": {"number": 80}}}, {"udp": {"destinationPort": {"number": 81}}}
    )
    assert not allowed(world, "y/a", "x/a", 80, "SCTP")
    assert not allowed(world, "y/a", "x/a", 81, "UDP")
    assert allowed(world, "y/a", "x/a", 80, "UDP")
    assert allowed(world, "y/a", "x/a", 80, "TCP")


def test_destination_named_port() -> None:
    world = deny_y({"destinationNamedPort": "serve-81-sctp"})
    assert not allowed(world, "y/a", "x/a", 81, "SCTP")
    assert allowed(world, "y/a", "x/a", 81, "TCP")
    assert allowed(world, "y/a", "x/a", 80, "SCTP")


def test_no_protocols_is_every_port_and_protocol() -> None:
    # An empty protocols list is invalid (MinItems=1): leave the field out.
    world = build(cnp2("p", "Admin", 1, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}))
    for proto in ("TCP", "UDP", "SCTP"):
        assert not allowed(world, "y/a", "x/a", 12345, proto)


def test_empty_protocols_list_is_an_error() -> None:
    text = dump(
        cnp2("p", "Admin", 1, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y, protocols=[])]})
    )
    assert [e.location.path for e in errors(text)] == ["spec.ingress[0].protocols"]


# ---- enable-policy (agent setting) -------------------------------------------------


def test_enable_policy_always_admin_accept_still_decides_first() -> None:
    # Documents current behaviour: the admin tier is consulted before the namespaced
    # tier, where enable-policy=always denies what no policy allows.
    world = build(
        cilium_config(enable_policy="always"),
        cnp2(
            "accept-y",
            "Admin",
            1,
            {
                **SUBJECT_X,
                "ingress": [ingress("Accept", FROM_Y)],
                "egress": [egress("Accept", FROM_ALL)],
            },
        ),
        cnp2("base", "Baseline", 1, {**SUBJECT_X, "ingress": [ingress("Accept", FROM_ALL)]}),
    )
    check(world, "x/a", "x/b", 80, egress=R.ADMIN_ALLOW, ingress=R.ENFORCEMENT_ALWAYS)
    check(world, "y/a", "x/a", 80, egress=R.ENFORCEMENT_ALWAYS, ingress=R.ADMIN_ALLOW)


def test_enable_policy_never_keeps_admin_and_baseline_tiers() -> None:
    world = build(
        cilium_config(enable_policy="never"),
        cnp2("deny-y", "Admin", 1, {**SUBJECT_X, "ingress": [ingress("Deny", FROM_Y)]}),
        cnp2(
            "base",
            "Baseline",
            1,
            {**SUBJECT_X, "ingress": [ingress("Deny", {"namespaces": ns_sel("z")})]},
        ),
        netpol("deny", "x", {"podSelector": {}}),
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ADMIN_DENY)
    check(world, "z/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.BASELINE_DENY)
    check(world, "x/b", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
