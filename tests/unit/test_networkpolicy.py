"""networking.k8s.io/v1 NetworkPolicy semantics, from the Kubernetes API reference and
the concepts page (https://kubernetes.io/docs/concepts/services-networking/network-policies/)."""

from __future__ import annotations

import pytest

from netwarden.engine.verdict import Reason as R
from tests.unit.helpers import (
    allowed,
    build,
    check,
    load,
    netpol,
    node,
    ns_sel,
    pod,
    sel,
    warnings,
)

DENY_ALL_INGRESS = {"podSelector": {}}


def test_no_policy_everything_allowed() -> None:
    world = build()
    check(world, "x/a", "y/b", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(world, "x/a", "203.0.113.7", 443, egress=R.DEFAULT_ALLOW, ingress=R.NOT_ENFORCED)
    check(world, "198.51.100.4", "x/a", 80, egress=R.NOT_ENFORCED, ingress=R.DEFAULT_ALLOW)


def test_bare_policy_isolates_ingress_only() -> None:
    # No policyTypes and no rules: policyTypes defaults to [Ingress].
    world = build(netpol("deny", "x", DENY_ALL_INGRESS))
    check(
        world,
        "x/b",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ISOLATED, "NetworkPolicy/x/deny"),
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)
    check(world, "198.51.100.4", "x/c", 80, egress=R.NOT_ENFORCED, ingress=R.ISOLATED)
    # Egress from x is not isolated, and other namespaces are untouched.
    check(world, "x/a", "y/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(world, "x/a", "203.0.113.7", 443, egress=R.DEFAULT_ALLOW, ingress=R.NOT_ENFORCED)


def test_empty_egress_list_does_not_add_egress_policy_type() -> None:
    # defaults.go: Egress is added only when len(spec.egress) > 0.
    world = build(netpol("p", "x", {"podSelector": {}, "egress": []}))
    check(world, "x/a", "203.0.113.7", 443, egress=R.DEFAULT_ALLOW, ingress=R.NOT_ENFORCED)
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


def test_nonempty_egress_adds_egress_policy_type() -> None:
    spec = {"podSelector": {}, "egress": [{"to": [{"podSelector": sel(pod="b")}]}]}
    world = build(netpol("p", "x", spec))
    check(world, "x/a", "x/b", 80, egress=(R.ALLOW_RULE, "NetworkPolicy/x/p#0"), ingress=R.ISOLATED)
    check(world, "x/a", "x/c", 80, egress=R.ISOLATED, ingress=R.ISOLATED)
    check(world, "x/a", "203.0.113.7", 443, egress=R.ISOLATED, ingress=R.NOT_ENFORCED)


@pytest.mark.parametrize("types", [None, []])
def test_missing_or_empty_policy_types_default(types: list[str] | None) -> None:
    spec: dict[str, object] = {"podSelector": {}}
    if types is not None:
        spec["policyTypes"] = types
    world = build(netpol("p", "x", spec))
    assert not allowed(world, "y/a", "x/a", 80)
    assert allowed(world, "x/a", "y/a", 80)


def test_policy_types_egress_only() -> None:
    world = build(netpol("p", "x", {"podSelector": {}, "policyTypes": ["Egress"]}))
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(
        world, "x/a", "y/a", 80, egress=(R.ISOLATED, "NetworkPolicy/x/p"), ingress=R.DEFAULT_ALLOW
    )


def test_egress_rules_ignored_without_egress_policy_type() -> None:
    spec = {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "egress": [{"to": [{"podSelector": sel(pod="b")}]}],
    }
    inp = load(netpol("p", "x", spec))
    assert not inp.errors
    assert [d.code for d in warnings(inp)] == ["ignored-rules"]
    assert warnings(inp)[0].location.path == "spec.egress"


def test_empty_pod_selector_selects_only_policy_namespace() -> None:
    world = build(netpol("p", "y", DENY_ALL_INGRESS))
    for p in ("a", "b", "c"):
        assert not allowed(world, "x/a", f"y/{p}", 80)
        assert allowed(world, "y/a", f"x/{p}", 80)
        assert allowed(world, "y/a", f"z/{p}", 80)


def test_pod_selector_selects_matching_pods_only() -> None:
    world = build(netpol("p", "x", {"podSelector": sel(pod="a")}))
    assert not allowed(world, "x/b", "x/a", 80)
    assert allowed(world, "x/a", "x/b", 80)
    assert allowed(world, "x/c", "x/b", 80)


def test_policy_without_namespace_lives_in_default() -> None:
    obj = netpol("p", "x", DENY_ALL_INGRESS)
    del obj["metadata"]["namespace"]
    world = build(obj, pod("default", "d", "10.0.9.1"))
    check(world, "x/a", "default/d", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)


@pytest.mark.parametrize(
    "rule",
    [{}, {"from": []}, {"from": [], "ports": []}, {"ports": []}],
    ids=["empty-rule", "empty-from", "empty-from-and-ports", "empty-ports"],
)
def test_empty_or_missing_from_allows_every_source(rule: dict[str, object]) -> None:
    world = build(netpol("p", "x", {"podSelector": sel(pod="a"), "ingress": [rule]}))
    for src in ("x/b", "y/c", "z/a", "198.51.100.4", "10.200.0.5"):
        v = check(
            world,
            src,
            "x/a",
            80,
            egress=R.NOT_ENFORCED if src[0].isdigit() else R.DEFAULT_ALLOW,
            ingress=(R.ALLOW_RULE, "NetworkPolicy/x/p#0"),
        )
        assert v.allowed
    assert allowed(world, "y/c", "x/a", 9999, "UDP")


def test_ports_only_rule_allows_every_source_on_those_ports() -> None:
    spec = {"podSelector": sel(pod="a"), "ingress": [{"ports": [{"port": 80}]}]}
    world = build(netpol("p", "x", spec))
    assert allowed(world, "198.51.100.4", "x/a", 80)
    assert allowed(world, "z/c", "x/a", 80)
    assert not allowed(world, "z/c", "x/a", 81)
    assert not allowed(world, "z/c", "x/a", 80, "UDP")


def test_pod_selector_peer_is_limited_to_policy_namespace() -> None:
    spec = {"podSelector": sel(pod="a"), "ingress": [{"from": [{"podSelector": sel(pod="b")}]}]}
    world = build(netpol("p", "x", spec))
    assert allowed(world, "x/b", "x/a", 80)
    assert not allowed(world, "y/b", "x/a", 80)
    assert not allowed(world, "x/c", "x/a", 80)


def test_empty_namespace_selector_is_all_pods_but_not_external() -> None:
    spec = {"podSelector": sel(pod="a"), "ingress": [{"from": [{"namespaceSelector": {}}]}]}
    world = build(netpol("p", "x", spec))
    for src in ("x/b", "y/b", "z/c"):
        assert allowed(world, src, "x/a", 80)
    check(world, "198.51.100.4", "x/a", 80, egress=R.NOT_ENFORCED, ingress=R.ISOLATED)
    check(world, "10.200.0.5", "x/a", 80, egress=R.NOT_ENFORCED, ingress=R.ISOLATED)


def test_namespace_and_pod_selector_in_one_peer_is_and() -> None:
    peer = {"namespaceSelector": ns_sel("y"), "podSelector": sel(pod="b")}
    world = build(netpol("p", "x", {"podSelector": sel(pod="a"), "ingress": [{"from": [peer]}]}))
    assert allowed(world, "y/b", "x/a", 80)
    assert not allowed(world, "y/c", "x/a", 80)
    assert not allowed(world, "x/b", "x/a", 80)
    assert not allowed(world, "z/b", "x/a", 80)


def test_two_peers_are_or() -> None:
    # The YAML pitfall from the docs: two list items instead of one peer.
    peers = [{"namespaceSelector": ns_sel("y")}, {"podSelector": sel(pod="b")}]
    world = build(netpol("p", "x", {"podSelector": sel(pod="a"), "ingress": [{"from": peers}]}))
    assert allowed(world, "y/c", "x/a", 80)
    assert allowed(world, "x/b", "x/a", 80)
    assert not allowed(world, "z/b", "x/a", 80)
    assert not allowed(world, "x/c", "x/a", 80)


@pytest.mark.parametrize(
    ("expression", "allowed_sources"),
    [
        ({"key": "ns", "operator": "In", "values": ["y", "z"]}, {"y", "z"}),
        ({"key": "ns", "operator": "NotIn", "values": ["y"]}, {"x", "z"}),
        ({"key": "team", "operator": "Exists"}, {"z"}),
        ({"key": "team", "operator": "DoesNotExist"}, {"x", "y"}),
    ],
)
def test_namespace_selector_match_expressions(
    expression: dict[str, object], allowed_sources: set[str]
) -> None:
    from tests.unit.helpers import namespace

    peer = {"namespaceSelector": {"matchExpressions": [expression]}}
    world = build(
        namespace("z", {"team": "blue"}),  # a later duplicate replaces the standard z
        netpol("p", "x", {"podSelector": sel(pod="a"), "ingress": [{"from": [peer]}]}),
    )
    for ns in ("x", "y", "z"):
        assert allowed(world, f"{ns}/b", "x/a", 80) is (ns in allowed_sources), ns


def test_port_without_number_is_every_port_of_the_protocol() -> None:
    spec = {"podSelector": sel(pod="a"), "ingress": [{"ports": [{"protocol": "UDP"}]}]}
    world = build(netpol("p", "x", spec))
    assert allowed(world, "y/a", "x/a", 53, "UDP")
    assert allowed(world, "y/a", "x/a", 65535, "UDP")
    assert not allowed(world, "y/a", "x/a", 53, "TCP")
    assert not allowed(world, "y/a", "x/a", 53, "SCTP")


def test_empty_port_entry_is_every_tcp_port() -> None:
    # protocol defaults to TCP; no port means all ports.
    world = build(netpol("p", "x", {"podSelector": sel(pod="a"), "ingress": [{"ports": [{}]}]}))
    assert allowed(world, "y/a", "x/a", 1)
    assert allowed(world, "y/a", "x/a", 8080)
    assert not allowed(world, "y/a", "x/a", 8080, "UDP")


def test_port_protocol_defaults_to_tcp() -> None:
    spec = {"podSelector": sel(pod="a"), "ingress": [{"ports": [{"port": 80}]}]}
    world = build(netpol("p", "x", spec))
    assert allowed(world, "y/a", "x/a", 80, "TCP")
    assert not allowed(world, "y/a", "x/a", 80, "UDP")
    assert not allowed(world, "y/a", "x/a", 80, "SCTP")


@pytest.mark.parametrize("proto", ["UDP", "SCTP"])
def test_non_tcp_rule_does_not_allow_tcp(proto: str) -> None:
    spec = {"podSelector": sel(pod="a"), "ingress": [{"ports": [{"port": 80, "protocol": proto}]}]}
    world = build(netpol("p", "x", spec))
    assert allowed(world, "y/a", "x/a", 80, proto)
    assert not allowed(world, "y/a", "x/a", 80, "TCP")


def test_end_port_range_is_inclusive() -> None:
    rule = {"ports": [{"port": 8000, "endPort": 8002, "protocol": "TCP"}]}
    world = build(netpol("p", "x", {"podSelector": sel(pod="a"), "ingress": [rule]}))
    results = {p: allowed(world, "y/a", "x/a", p) for p in (7999, 8000, 8001, 8002, 8003)}
    assert results == {7999: False, 8000: True, 8001: True, 8002: True, 8003: False}
    assert not allowed(world, "y/a", "x/a", 8001, "UDP")


def test_end_port_equal_to_port_is_a_single_port() -> None:
    rule = {"ports": [{"port": 81, "endPort": 81}]}
    world = build(netpol("p", "x", {"podSelector": sel(pod="a"), "ingress": [rule]}))
    assert allowed(world, "y/a", "x/a", 81)
    assert not allowed(world, "y/a", "x/a", 80)
    assert not allowed(world, "y/a", "x/a", 82)


def test_named_port_ingress_resolves_on_the_selected_pod() -> None:
    rule = {"ports": [{"port": "serve-81-tcp"}]}
    world = build(netpol("p", "x", {"podSelector": sel(pod="a"), "ingress": [rule]}))
    check(
        world, "y/a", "x/a", 81, egress=R.DEFAULT_ALLOW, ingress=(R.ALLOW_RULE, "NetworkPolicy/x/p")
    )
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)
    check(world, "y/a", "x/a", 81, "UDP", egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


def test_named_port_protocol_must_match_container_port() -> None:
    # serve-81-tcp is a TCP port: a UDP rule naming it matches nothing.
    rule = {"ports": [{"port": "serve-81-tcp", "protocol": "UDP"}]}
    world = build(netpol("p", "x", {"podSelector": sel(pod="a"), "ingress": [rule]}))
    assert not allowed(world, "y/a", "x/a", 81, "UDP")
    assert not allowed(world, "y/a", "x/a", 81, "TCP")
    rule = {"ports": [{"port": "serve-81-udp", "protocol": "UDP"}]}
    world = build(netpol("p", "x", {"podSelector": sel(pod="a"), "ingress": [rule]}))
    assert allowed(world, "y/a", "x/a", 81, "UDP")
    assert not allowed(world, "y/a", "x/a", 81, "TCP")


def test_named_port_unknown_on_pod_matches_nothing() -> None:
    rule = {"ports": [{"port": "metrics"}]}
    world = build(netpol("p", "x", {"podSelector": sel(pod="a"), "ingress": [rule]}))
    for port in (80, 81, 9090):
        assert not allowed(world, "y/a", "x/a", port)


def test_named_port_egress_resolves_on_each_destination() -> None:
    # Same port name, different numbers on different destination pods.
    web_y = pod("y", "web", "10.0.2.10", {"app": "web"}, [("http", 8080, "TCP")])
    web_z = pod("z", "web", "10.0.3.10", {"app": "web"}, [("http", 9090, "TCP")])
    spec = {
        "podSelector": sel(pod="a"),
        "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": "http"}]}],
    }
    world = build(web_y, web_z, netpol("p", "x", spec))
    assert allowed(world, "x/a", "y/web", 8080)
    assert not allowed(world, "x/a", "y/web", 9090)
    assert allowed(world, "x/a", "z/web", 9090)
    assert not allowed(world, "x/a", "z/web", 8080)
    # Pods without a port named http, and external IPs, have nothing to resolve.
    assert not allowed(world, "x/a", "y/b", 8080)
    assert not allowed(world, "x/a", "203.0.113.7", 8080)


def test_ipblock_matches_pod_ips() -> None:
    spec = {
        "podSelector": sel(pod="a"),
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.0.2.0/24"}}]}],
    }
    world = build(netpol("p", "x", spec))
    check(
        world, "x/a", "y/b", 80, egress=(R.ALLOW_RULE, "NetworkPolicy/x/p"), ingress=R.DEFAULT_ALLOW
    )
    check(world, "x/a", "z/b", 80, egress=R.ISOLATED, ingress=R.DEFAULT_ALLOW)


def test_ipblock_except() -> None:
    block = {"cidr": "10.0.0.0/8", "except": ["10.0.2.0/24", "10.200.0.5/32"]}
    spec = {
        "podSelector": sel(pod="a"),
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": block}]}],
    }
    world = build(netpol("p", "x", spec))
    assert allowed(world, "x/a", "z/b", 80)
    assert allowed(world, "x/a", "10.1.2.3", 80)
    assert not allowed(world, "x/a", "y/b", 80)
    assert not allowed(world, "x/a", "10.200.0.5", 80)
    assert not allowed(world, "x/a", "203.0.113.7", 80)


def test_ipblock_ingress_from_external_address() -> None:
    spec = {
        "podSelector": sel(pod="a"),
        "ingress": [{"from": [{"ipBlock": {"cidr": "198.51.100.0/24"}}]}],
    }
    world = build(netpol("p", "x", spec))
    check(world, "198.51.100.4", "x/a", 80, egress=R.NOT_ENFORCED, ingress=R.ALLOW_RULE)
    check(world, "203.0.113.7", "x/a", 80, egress=R.NOT_ENFORCED, ingress=R.ISOLATED)
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


def test_ipblock_zero_cidr_allows_pods_and_world() -> None:
    spec = {
        "podSelector": sel(pod="a"),
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
    }
    world = build(netpol("p", "x", spec))
    assert allowed(world, "x/a", "y/b", 80)
    assert allowed(world, "x/a", "203.0.113.7", 443)


def test_allows_of_several_policies_are_a_union() -> None:
    p1 = netpol(
        "from-b",
        "x",
        {"podSelector": sel(pod="a"), "ingress": [{"from": [{"podSelector": sel(pod="b")}]}]},
    )
    p2 = netpol(
        "from-y",
        "x",
        {"podSelector": sel(pod="a"), "ingress": [{"from": [{"namespaceSelector": ns_sel("y")}]}]},
    )
    world = build(p1, p2)
    check(
        world,
        "x/b",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ALLOW_RULE, "NetworkPolicy/x/from-b"),
    )
    check(
        world,
        "y/c",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ALLOW_RULE, "NetworkPolicy/x/from-y"),
    )
    check(
        world,
        "x/c",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ISOLATED, "NetworkPolicy/x/from-b", "NetworkPolicy/x/from-y"),
    )


def test_verdict_names_the_matching_rule_index() -> None:
    spec = {
        "podSelector": sel(pod="a"),
        "ingress": [
            {"from": [{"podSelector": sel(pod="b")}], "ports": [{"port": 80}]},
            {"from": [{"podSelector": sel(pod="c")}], "ports": [{"port": 81}]},
        ],
    }
    world = build(netpol("p", "x", spec))
    check(
        world,
        "x/c",
        "x/a",
        81,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ALLOW_RULE, "NetworkPolicy/x/p#1"),
    )
    check(
        world,
        "x/b",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ALLOW_RULE, "NetworkPolicy/x/p#0"),
    )
    check(world, "x/c", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


def test_both_ends_must_allow() -> None:
    deny_egress = netpol(
        "deny-egress", "x", {"podSelector": sel(pod="a"), "policyTypes": ["Egress"]}
    )
    allow_in = netpol("allow-all", "y", {"podSelector": {}, "ingress": [{}]})
    world = build(deny_egress, allow_in)
    v = check(world, "x/a", "y/b", 80, egress=R.ISOLATED, ingress=R.ALLOW_RULE)
    assert not v.allowed


def test_pod_can_always_reach_itself() -> None:
    world = build(netpol("p", "x", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}))
    check(world, "x/a", "x/a", 80, egress=R.SELF, ingress=R.SELF)
    check(world, "x/a", "x/b", 80, egress=R.ISOLATED, ingress=R.ISOLATED)


def test_traffic_between_a_pod_and_its_own_node_is_always_allowed() -> None:
    world = build(
        netpol("p", "x", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}), nodes=True
    )
    # x/a runs on node-1 (172.16.0.1); node-2 is another node. Nodes are enforced
    # endpoints (host policies) with no policy here: default allow on their side.
    check(world, "172.16.0.1", "x/a", 10250, egress=R.DEFAULT_ALLOW, ingress=R.OWN_NODE)
    check(world, "172.16.0.2", "x/a", 10250, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)
    check(world, "x/a", "172.16.0.1", 10250, egress=R.OWN_NODE, ingress=R.DEFAULT_ALLOW)
    check(world, "x/a", "172.16.0.2", 10250, egress=R.ISOLATED, ingress=R.DEFAULT_ALLOW)


def test_node_ip_is_not_a_pod_for_pod_selectors() -> None:
    spec = {"podSelector": sel(pod="b"), "ingress": [{"from": [{"namespaceSelector": {}}]}]}
    world = build(netpol("p", "x", spec), node("node-3", "172.16.0.3"), nodes=True)
    assert not allowed(world, "172.16.0.3", "x/b", 80)
    assert allowed(world, "y/a", "x/b", 80)


def test_null_rule_item_is_an_empty_rule() -> None:
    world = build(netpol("p", "x", {"podSelector": sel(pod="a"), "ingress": [None]}))
    assert allowed(world, "z/c", "x/a", 80)
