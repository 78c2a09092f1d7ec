"""cilium.io/v2 CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy semantics, from
the Cilium policy docs (docs.cilium.io/en/stable/security/policy/) and the sources
quoted in /tmp/research/semantics.md (rule_validation.go Sanitize, entity.go,
pkg/k8s/apis/cilium.io/utils getEndpointSelector, Envoy HTTP matching)."""

from __future__ import annotations

from typing import Any

import pytest

from netwarden.engine.verdict import Reason as R
from netwarden.model.ports import Protocol
from tests.unit.helpers import (
    allowed,
    apiserver_endpoints,
    build,
    ccnp,
    check,
    cilium_config,
    cnp,
    errors,
    evaluate,
    load,
    namespace,
    netpol,
    sel,
    warnings,
)

POD_A = {"endpointSelector": sel(pod="a")}
NS = "k8s:io.kubernetes.pod.namespace"


def ingress_from(*rules: dict[str, Any], subject: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**(subject or POD_A), "ingress": list(rules)}


def egress_to(*rules: dict[str, Any], subject: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**(subject or POD_A), "egress": list(rules)}


def ports(*entries: dict[str, Any], rules: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    out: dict[str, Any] = {"ports": list(entries)}
    if rules is not None:
        out["rules"] = rules
    return [out]


# ---- selection and namespace defaulting ----------------------------------------


def test_cnp_endpoint_selector_is_limited_to_its_namespace() -> None:
    world = build(cnp("p", "x", ingress_from({})))
    check(
        world,
        "x/b",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ISOLATED, "CiliumNetworkPolicy/x/p"),
    )
    check(world, "x/b", "y/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(world, "x/a", "x/b", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)


def test_cnp_from_endpoints_defaults_to_policy_namespace() -> None:
    world = build(cnp("p", "x", ingress_from({"fromEndpoints": [sel(pod="b")]})))
    check(
        world,
        "x/b",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ALLOW_RULE, "CiliumNetworkPolicy/x/p#0"),
    )
    check(world, "y/b", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


def test_cnp_from_endpoints_with_explicit_namespace_label() -> None:
    world = build(cnp("p", "x", ingress_from({"fromEndpoints": [sel(**{"pod": "b", NS: "y"})]})))
    assert allowed(world, "y/b", "x/a", 80)
    assert not allowed(world, "x/b", "x/a", 80)
    assert not allowed(world, "z/b", "x/a", 80)


def test_cnp_namespace_match_expression_counts_as_explicit_namespace() -> None:
    expr = {"key": NS, "operator": "In", "values": ["y", "z"]}
    world = build(cnp("p", "x", ingress_from({"fromEndpoints": [{"matchExpressions": [expr]}]})))
    assert allowed(world, "y/b", "x/a", 80)
    assert allowed(world, "z/c", "x/a", 80)
    assert not allowed(world, "x/b", "x/a", 80)


def test_cnp_empty_from_endpoints_is_same_namespace_only() -> None:
    world = build(cnp("p", "x", ingress_from({"fromEndpoints": [{}]})))
    assert allowed(world, "x/b", "x/a", 80)
    assert allowed(world, "x/c", "x/a", 80)
    assert not allowed(world, "y/b", "x/a", 80)
    assert not allowed(world, "198.51.100.4", "x/a", 80)


def test_cnp_empty_to_endpoints_is_same_namespace_only() -> None:
    world = build(cnp("p", "x", egress_to({"toEndpoints": [{}]})))
    assert allowed(world, "x/a", "x/b", 80)
    assert not allowed(world, "x/a", "z/b", 80)
    assert not allowed(world, "x/a", "203.0.113.7", 443)


def test_ccnp_endpoint_selector_spans_namespaces() -> None:
    world = build(ccnp("p", ingress_from({})))
    for ns in ("x", "y", "z"):
        check(
            world,
            "x/b",
            f"{ns}/a",
            80,
            egress=R.DEFAULT_ALLOW,
            ingress=(R.ISOLATED, "CiliumClusterwideNetworkPolicy/p"),
        )
    assert allowed(world, "x/a", "y/b", 80)


def test_ccnp_empty_from_endpoints_is_every_pod_but_not_world() -> None:
    # getEndpointSelector: clusterwide {} -> "namespace label Exists".
    world = build(ccnp("p", ingress_from({"fromEndpoints": [{}]})))
    for src in ("x/b", "y/b", "z/c"):
        assert allowed(world, src, "y/a", 80)
    assert not allowed(world, "198.51.100.4", "y/a", 80)


def test_ccnp_from_endpoints_without_namespace_matches_all_namespaces() -> None:
    world = build(ccnp("p", ingress_from({"fromEndpoints": [sel(pod="b")]})))
    assert allowed(world, "y/b", "x/a", 80)
    assert allowed(world, "z/b", "z/a", 80)
    assert not allowed(world, "y/c", "x/a", 80)


def test_ccnp_namespace_labels_selector() -> None:
    peer = sel(**{"io.cilium.k8s.namespace.labels.team": "blue"})
    world = build(
        namespace("y", {"team": "blue"}), ccnp("p", ingress_from({"fromEndpoints": [peer]}))
    )
    assert allowed(world, "y/b", "x/a", 80)
    assert allowed(world, "y/c", "z/a", 80)
    assert not allowed(world, "z/b", "x/a", 80)
    assert not allowed(world, "x/b", "x/a", 80)


def test_cnp_namespace_labels_selector_stays_in_policy_namespace() -> None:
    # Only the io.kubernetes.pod.namespace key lifts the namespace restriction.
    peer = sel(**{"k8s:io.cilium.k8s.namespace.labels.ns": "y"})
    world = build(cnp("p", "x", ingress_from({"fromEndpoints": [peer]})))
    assert not allowed(world, "y/b", "x/a", 80)
    peer = sel(**{"k8s:io.cilium.k8s.namespace.labels.ns": "x"})
    world = build(cnp("p", "x", ingress_from({"fromEndpoints": [peer]})))
    assert allowed(world, "x/b", "x/a", 80)


def test_k8s_and_any_source_prefixes_are_ignored_in_selectors() -> None:
    world = build(
        cnp(
            "p",
            "x",
            {
                "endpointSelector": sel(**{"k8s:pod": "a"}),
                "ingress": [{"fromEndpoints": [sel(**{"any:pod": "b"})]}],
            },
        )
    )
    assert allowed(world, "x/b", "x/a", 80)
    assert not allowed(world, "x/c", "x/a", 80)


# ---- default deny ----------------------------------------------------------------


def test_empty_ingress_rule_is_default_deny_only() -> None:
    world = build(cnp("p", "x", ingress_from({})))
    for src in ("x/b", "y/b", "198.51.100.4"):
        assert not allowed(world, src, "x/a", 80)
    assert allowed(world, "x/a", "y/b", 80)  # egress untouched


def test_empty_ingress_list_does_not_enable_default_deny() -> None:
    # Sanitize: EnableDefaultDeny.Ingress = len(Ingress) > 0 || len(IngressDeny) > 0
    world = build(cnp("p", "x", {**POD_A, "ingress": [], "egress": [{}]}))
    check(world, "x/b", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(world, "x/a", "x/b", 80, egress=R.ISOLATED, ingress=R.DEFAULT_ALLOW)


def test_l4_only_rule_allows_every_peer_on_the_port() -> None:
    world = build(
        cnp("p", "x", ingress_from({"toPorts": ports({"port": "80", "protocol": "TCP"})}))
    )
    for src in ("x/b", "z/c", "198.51.100.4"):
        assert allowed(world, src, "x/a", 80)
        assert not allowed(world, src, "x/a", 81)


def test_enable_default_deny_false_keeps_endpoint_open() -> None:
    spec = {
        **ingress_from({"fromEndpoints": [sel(pod="b")]}),
        "enableDefaultDeny": {"ingress": False},
    }
    world = build(cnp("p", "x", spec))
    check(world, "x/b", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ALLOW_RULE)
    check(world, "x/c", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(world, "198.51.100.4", "x/a", 80, egress=R.NOT_ENFORCED, ingress=R.DEFAULT_ALLOW)


def test_enable_default_deny_false_still_honours_deny_rules() -> None:
    spec = {
        **POD_A,
        "ingressDeny": [{"fromEndpoints": [sel(pod="b")]}],
        "enableDefaultDeny": {"ingress": False},
    }
    world = build(cnp("p", "x", spec))
    check(
        world,
        "x/b",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.DENY_RULE, "CiliumNetworkPolicy/x/p"),
    )
    check(world, "x/c", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)


def test_enable_default_deny_false_is_per_policy() -> None:
    # "If multiple policies apply to an endpoint, that endpoint's default deny will be
    # enabled if any policy requests it."
    open_policy = {
        **ingress_from({"fromEndpoints": [sel(pod="b")]}),
        "enableDefaultDeny": {"ingress": False},
    }
    world = build(
        cnp("open", "x", open_policy),
        cnp("strict", "x", ingress_from({"fromEndpoints": [sel(pod="c")]})),
    )
    assert allowed(world, "x/b", "x/a", 80)
    assert allowed(world, "x/c", "x/a", 80)
    check(
        world,
        "y/a",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ISOLATED, "CiliumNetworkPolicy/x/strict"),
    )


def test_enable_default_deny_ignored_when_agent_disallows_it() -> None:
    spec = {
        **ingress_from({"fromEndpoints": [sel(pod="b")]}),
        "enableDefaultDeny": {"ingress": False},
    }
    world = build(cilium_config(enable_non_default_deny_policies="false"), cnp("p", "x", spec))
    assert allowed(world, "x/b", "x/a", 80)
    check(world, "x/c", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


def test_deny_only_policy_puts_endpoint_in_default_deny() -> None:
    # Sanitize: ingressDeny alone enables ingress default deny.
    world = build(cnp("p", "x", {**POD_A, "ingressDeny": [{"fromEndpoints": [sel(pod="b")]}]}))
    check(world, "x/b", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DENY_RULE)
    check(
        world,
        "x/c",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ISOLATED, "CiliumNetworkPolicy/x/p"),
    )


def test_deny_with_allow_all_entity_only_blocks_the_denied_peer() -> None:
    # Upstream example l3/entities/from_world_deny.yaml.
    spec = {
        **POD_A,
        "ingress": [{"fromEntities": ["all"]}],
        "ingressDeny": [{"fromEntities": ["world"]}],
    }
    world = build(cnp("p", "x", spec))
    assert allowed(world, "y/b", "x/a", 80)
    check(world, "198.51.100.4", "x/a", 80, egress=R.NOT_ENFORCED, ingress=R.DENY_RULE)


def test_ingress_deny_beats_networkpolicy_allow() -> None:
    allow_all = netpol("allow-all", "x", {"podSelector": {}, "ingress": [{}]})
    deny_b = cnp("deny-b", "x", {**POD_A, "ingressDeny": [{"fromEndpoints": [sel(pod="b")]}]})
    world = build(allow_all, deny_b)
    check(
        world,
        "x/b",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.DENY_RULE, "CiliumNetworkPolicy/x/deny-b"),
    )
    check(
        world,
        "x/c",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ALLOW_RULE, "NetworkPolicy/x/allow-all"),
    )


def test_egress_deny_beats_allow_in_the_same_policy() -> None:
    spec = {
        **POD_A,
        "egress": [{"toEntities": ["all"]}],
        "egressDeny": [
            {"toCIDRSet": [{"cidr": "203.0.113.0/24"}], "toPorts": ports({"port": "443"})}
        ],
    }
    world = build(cnp("p", "x", spec))
    check(world, "x/a", "203.0.113.7", 443, egress=R.DENY_RULE, ingress=R.NOT_ENFORCED)
    assert allowed(world, "x/a", "203.0.113.7", 80)
    assert allowed(world, "x/a", "198.51.100.4", 443)


def test_both_sides_must_allow() -> None:
    a_from_b = cnp("a-from-b", "x", ingress_from({"fromEndpoints": [sel(pod="b")]}))
    b_egress = cnp(
        "b-to-c",
        "x",
        egress_to({"toEndpoints": [sel(pod="c")]}, subject={"endpointSelector": sel(pod="b")}),
    )
    world = build(a_from_b, b_egress)
    v = check(world, "x/b", "x/a", 80, egress=R.ISOLATED, ingress=R.ALLOW_RULE)
    assert not v.allowed


# ---- ports -------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [None, "ANY", "any"])
def test_port_without_protocol_means_tcp_udp_and_sctp(protocol: str | None) -> None:
    entry: dict[str, Any] = {"port": "53"}
    if protocol is not None:
        entry["protocol"] = protocol
    world = build(cnp("p", "x", ingress_from({"toPorts": ports(entry)})))
    for proto in ("TCP", "UDP", "SCTP"):
        assert allowed(world, "y/a", "x/a", 53, proto)
        assert not allowed(world, "y/a", "x/a", 54, proto)


def test_port_with_any_protocol_does_not_match_icmp() -> None:
    # rule.go mergeIngress: ANY expands to TCP, UDP and SCTP only.
    world = build(cnp("p", "x", ingress_from({"toPorts": ports({"port": "53"})})))
    assert not allowed(world, "y/a", "x/a", 53, Protocol.ICMP)
    # An L3-only rule (no toPorts) covers every protocol, ICMP included.
    world = build(cnp("p", "x", ingress_from({"fromEndpoints": [sel(pod="b")]})))
    assert allowed(world, "x/b", "x/a", 0, Protocol.ICMP)


def test_l3_only_rule_allows_every_protocol() -> None:
    world = build(cnp("p", "x", ingress_from({"fromEndpoints": [sel(pod="b")]})))
    for proto in ("TCP", "UDP", "SCTP"):
        assert allowed(world, "x/b", "x/a", 12345, proto)


def test_port_zero_is_every_port_of_the_protocol() -> None:
    world = build(cnp("p", "x", ingress_from({"toPorts": ports({"port": "0", "protocol": "TCP"})})))
    assert allowed(world, "y/a", "x/a", 1)
    assert allowed(world, "y/a", "x/a", 65535)
    assert not allowed(world, "y/a", "x/a", 80, "UDP")


def test_numeric_port_value_is_accepted() -> None:
    world = build(
        cnp("p", "x", ingress_from({"toPorts": ports({"port": 8080, "protocol": "TCP"})}))
    )
    assert allowed(world, "y/a", "x/a", 8080)
    assert not allowed(world, "y/a", "x/a", 8081)


def test_end_port_range() -> None:
    entry = {"port": "8000", "endPort": 8010, "protocol": "TCP"}
    world = build(cnp("p", "x", ingress_from({"toPorts": ports(entry)})))
    assert [allowed(world, "y/a", "x/a", p) for p in (7999, 8000, 8005, 8010, 8011)] == [
        False,
        True,
        True,
        True,
        False,
    ]


def test_named_port_in_to_ports() -> None:
    world = build(cnp("p", "x", ingress_from({"toPorts": ports({"port": "serve-81-tcp"})})))
    assert allowed(world, "y/a", "x/a", 81, "TCP")
    assert not allowed(world, "y/a", "x/a", 81, "UDP")
    assert not allowed(world, "y/a", "x/a", 80, "TCP")


def test_named_port_is_case_insensitive() -> None:
    # iana.IsSvcName accepts upper case; Sanitize lower-cases the name.
    world = build(cnp("p", "x", ingress_from({"toPorts": ports({"port": "Serve-81-TCP"})})))
    assert allowed(world, "y/a", "x/a", 81, "TCP")
    assert not allowed(world, "y/a", "x/a", 80, "TCP")


def test_named_port_protocol_may_narrow_but_not_contradict() -> None:
    world = build(
        cnp("p", "x", ingress_from({"toPorts": ports({"port": "serve-81-tcp", "protocol": "UDP"})}))
    )
    assert not allowed(world, "y/a", "x/a", 81, "UDP")
    assert not allowed(world, "y/a", "x/a", 81, "TCP")


def test_named_port_egress_resolves_on_destination() -> None:
    world = build(cnp("p", "x", egress_to({"toPorts": ports({"port": "serve-80-udp"})})))
    assert allowed(world, "x/a", "y/b", 80, "UDP")
    assert not allowed(world, "x/a", "y/b", 80, "TCP")
    assert not allowed(world, "x/a", "203.0.113.7", 80, "UDP")


# ---- CIDR -------------------------------------------------------------------------------


def test_cidr_rule_does_not_select_pods() -> None:
    world = build(cnp("p", "x", egress_to({"toCIDR": ["10.0.0.0/8"]})))
    check(world, "x/a", "y/a", 80, egress=R.ISOLATED, ingress=R.DEFAULT_ALLOW)
    check(world, "x/a", "10.200.0.5", 443, egress=R.ALLOW_RULE, ingress=R.NOT_ENFORCED)
    check(world, "x/a", "203.0.113.7", 443, egress=R.ISOLATED, ingress=R.NOT_ENFORCED)


def test_cidr_set_except() -> None:
    world = build(
        cnp(
            "p",
            "x",
            egress_to({"toCIDRSet": [{"cidr": "203.0.113.0/24", "except": ["203.0.113.128/25"]}]}),
        )
    )
    assert allowed(world, "x/a", "203.0.113.7", 443)
    assert not allowed(world, "x/a", "203.0.113.200", 443)


def test_from_cidr_ingress() -> None:
    world = build(cnp("p", "x", ingress_from({"fromCIDR": ["198.51.100.0/24"]})))
    assert allowed(world, "198.51.100.4", "x/a", 80)
    assert not allowed(world, "203.0.113.7", "x/a", 80)
    assert not allowed(world, "y/a", "x/a", 80)


# ---- entities --------------------------------------------------------------------------


def test_entity_world() -> None:
    world = build(cnp("p", "x", ingress_from({"fromEntities": ["world"]})))
    check(world, "198.51.100.4", "x/a", 80, egress=R.NOT_ENFORCED, ingress=R.ALLOW_RULE)
    check(world, "10.200.0.5", "x/a", 80, egress=R.NOT_ENFORCED, ingress=R.ALLOW_RULE)
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


def test_entity_world_ipv4_and_ipv6() -> None:
    world = build(cnp("p", "x", egress_to({"toEntities": ["world-ipv6"]})))
    assert allowed(world, "x/a", "2001:db8::1", 443)
    assert not allowed(world, "x/a", "203.0.113.7", 443)
    world = build(cnp("p", "x", egress_to({"toEntities": ["world-ipv4"]})))
    assert allowed(world, "x/a", "203.0.113.7", 443)
    assert not allowed(world, "x/a", "2001:db8::1", 443)


def test_entity_cluster() -> None:
    objects = [
        apiserver_endpoints("172.16.0.100"),
        cnp("p", "x", egress_to({"toEntities": ["cluster"]})),
    ]
    world = build(*objects, nodes=True)
    for dst in ("x/b", "y/b", "z/c", "172.16.0.2", "172.16.0.100"):
        assert allowed(world, "x/a", dst, 443), dst
    check(world, "x/a", "203.0.113.7", 443, egress=R.ISOLATED, ingress=R.NOT_ENFORCED)


def test_entity_host_is_the_local_node() -> None:
    world = build(cnp("p", "x", egress_to({"toEntities": ["host"]})), nodes=True)
    # x/a runs on node-1. Pod <-> own node is always allowed anyway.
    check(world, "x/a", "172.16.0.1", 10250, egress=R.OWN_NODE, ingress=R.DEFAULT_ALLOW)
    check(world, "x/a", "172.16.0.2", 10250, egress=R.ISOLATED, ingress=R.DEFAULT_ALLOW)


def test_entity_remote_node() -> None:
    world = build(cnp("p", "x", ingress_from({"fromEntities": ["remote-node"]})), nodes=True)
    check(world, "172.16.0.2", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ALLOW_RULE)
    check(world, "172.16.0.1", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.OWN_NODE)
    check(world, "198.51.100.4", "x/a", 80, egress=R.NOT_ENFORCED, ingress=R.ISOLATED)
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


def test_entity_remote_node_is_relative_to_the_subject() -> None:
    world = build(
        cnp("p", "x", egress_to({"toEntities": ["remote-node"]}, subject={"endpointSelector": {}})),
        nodes=True,
    )
    # x/a is on node-1, x/b on node-2.
    check(world, "x/a", "172.16.0.2", 22, egress=R.ALLOW_RULE, ingress=R.DEFAULT_ALLOW)
    check(world, "x/b", "172.16.0.1", 22, egress=R.ALLOW_RULE, ingress=R.DEFAULT_ALLOW)
    check(world, "x/b", "172.16.0.2", 22, egress=R.OWN_NODE, ingress=R.DEFAULT_ALLOW)


def test_entity_kube_apiserver_outside_the_cluster() -> None:
    objects = [
        apiserver_endpoints("172.16.0.100"),
        cnp("p", "x", egress_to({"toEntities": ["kube-apiserver"]})),
    ]
    world = build(*objects, nodes=True)
    check(world, "x/a", "172.16.0.100", 6443, egress=R.ALLOW_RULE, ingress=R.NOT_ENFORCED)
    check(world, "x/a", "203.0.113.7", 6443, egress=R.ISOLATED, ingress=R.NOT_ENFORCED)
    check(world, "x/a", "172.16.0.2", 6443, egress=R.ISOLATED, ingress=R.DEFAULT_ALLOW)


def test_entity_kube_apiserver_on_a_node() -> None:
    objects = [
        apiserver_endpoints("172.16.0.2"),
        cnp("p", "x", egress_to({"toEntities": ["kube-apiserver"]})),
    ]
    world = build(*objects, nodes=True)
    check(world, "x/a", "172.16.0.2", 6443, egress=R.ALLOW_RULE, ingress=R.DEFAULT_ALLOW)


def test_entity_all_includes_world_and_pods() -> None:
    world = build(cnp("p", "x", egress_to({"toEntities": ["all"]})), nodes=True)
    for dst in ("y/b", "203.0.113.7", "10.200.0.5", "172.16.0.2"):
        assert allowed(world, "x/a", dst, 443), dst


def test_entity_none_selects_nothing() -> None:
    world = build(cnp("p", "x", ingress_from({"fromEntities": ["none"]})))
    for src in ("x/b", "198.51.100.4"):
        v = evaluate(world, src, "x/a", 80)
        assert not v.allowed and v.ingress.reason is R.ISOLATED


@pytest.mark.parametrize(
    ("selector", "entity"),
    [
        (sel(**{"reserved:host": ""}), "host"),
        (sel(**{"reserved:remote-node": ""}), "remote-node"),
        (
            {"matchExpressions": [{"key": "reserved:remote-node", "operator": "Exists"}]},
            "remote-node",
        ),
        (sel(**{"reserved:world": ""}), "world"),
    ],
)
def test_reserved_label_selector_equals_the_entity(selector: dict[str, Any], entity: str) -> None:
    # Cilium docs: fromEntities [host] is the same as fromEndpoints [reserved:host].
    probes = [("172.16.0.1", "x/b"), ("172.16.0.2", "x/a"), ("198.51.100.4", "x/a"), ("y/a", "x/a")]
    by_selector = build(
        cnp(
            "p", "x", ingress_from({"fromEndpoints": [selector]}, subject={"endpointSelector": {}})
        ),
        nodes=True,
    )
    by_entity = build(
        cnp("p", "x", ingress_from({"fromEntities": [entity]}, subject={"endpointSelector": {}})),
        nodes=True,
    )
    for src, dst in probes:
        got = evaluate(by_selector, src, dst, 80)
        want = evaluate(by_entity, src, dst, 80)
        assert (got.allowed, got.ingress.reason) == (want.allowed, want.ingress.reason), (src, dst)


def test_reserved_kube_apiserver_selector_matches_apiserver_on_a_node() -> None:
    selector = sel(**{"reserved:kube-apiserver": ""})
    world = build(
        apiserver_endpoints("172.16.0.2"),
        cnp("p", "x", egress_to({"toEndpoints": [selector]})),
        nodes=True,
    )
    check(world, "x/a", "172.16.0.2", 6443, egress=R.ALLOW_RULE, ingress=R.DEFAULT_ALLOW)
    check(world, "x/a", "y/b", 80, egress=R.ISOLATED, ingress=R.DEFAULT_ALLOW)


# ---- FQDN ------------------------------------------------------------------------------

DNS_ALLOW = {
    "toEndpoints": [sel(**{NS: "kube-system", "k8s:k8s-app": "kube-dns"})],
    "toPorts": ports({"port": "53", "protocol": "ANY"}, rules={"dns": [{"matchPattern": "*"}]}),
}


def fqdn_world(selector: dict[str, str]) -> Any:
    rule = {"toFQDNs": [selector], "toPorts": ports({"port": "443", "protocol": "TCP"})}
    return build(cnp("p", "x", egress_to(DNS_ALLOW, rule)))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("api.example.com", True),
        ("API.Example.COM", True),
        ("api.example.com.", True),
        ("www.example.com", False),
        ("example.com", False),
        (None, False),
    ],
)
def test_fqdn_match_name(name: str | None, expected: bool) -> None:
    world = fqdn_world({"matchName": "api.example.com"})
    assert allowed(world, "x/a", "203.0.113.10", 443, dns_name=name) is expected


def test_fqdn_match_name_needs_the_fqdn_port() -> None:
    world = fqdn_world({"matchName": "api.example.com"})
    assert not allowed(world, "x/a", "203.0.113.10", 80, dns_name="api.example.com")


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*", "example.com", True),
        ("*", "a.b.c.example.org", True),
        ("*.example.com", "api.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", "api.example.org", False),
        ("**.example.com", "api.example.com", True),
        ("**.example.com", "a.b.example.com", True),
        ("**.example.com", "example.com", False),
        ("part*ial.com", "partial.com", True),
        ("part*ial.com", "part-extra-ial.com", True),
        ("part*ial.com", "part.ial.com", False),
        ("api.example.com", "api.example.com", True),
        ("api.example.com", "apixexample.com", False),
        ("*.example.com", "a.examplexcom", False),
    ],
)
def test_fqdn_match_pattern(pattern: str, name: str, expected: bool) -> None:
    world = fqdn_world({"matchPattern": pattern})
    assert allowed(world, "x/a", "203.0.113.10", 443, dns_name=name) is expected


def test_fqdn_star_does_not_match_an_ip_without_a_dns_name() -> None:
    world = fqdn_world({"matchPattern": "*"})
    assert not allowed(world, "x/a", "203.0.113.10", 443)


def test_fqdn_rule_does_not_select_pods() -> None:
    world = fqdn_world({"matchPattern": "*"})
    assert not allowed(world, "x/a", "y/b", 443)


def test_dns_rule_port_allows_lookups() -> None:
    objects = [
        namespace("kube-system"),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "coredns",
                "namespace": "kube-system",
                "labels": {"k8s-app": "kube-dns"},
            },
            "spec": {"containers": [{"name": "dns"}]},
            "status": {"podIP": "10.0.0.10"},
        },
        cnp("p", "x", egress_to(DNS_ALLOW)),
    ]
    world = build(*objects)
    assert allowed(world, "x/a", "kube-system/coredns", 53, "UDP")
    assert allowed(world, "x/a", "10.0.0.10", 53, "TCP")
    assert not allowed(world, "x/a", "kube-system/coredns", 80)


# ---- L7 HTTP ---------------------------------------------------------------------------


def http_world(*http_rules: dict[str, Any]) -> Any:
    rule = {
        "fromEndpoints": [sel(pod="b")],
        "toPorts": ports({"port": "80", "protocol": "TCP"}, rules={"http": list(http_rules)}),
    }
    return build(cnp("l7", "x", ingress_from(rule)))


def test_l7_http_method_and_path() -> None:
    world = http_world({"method": "GET", "path": "/public"})
    check(
        world,
        "x/b",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=R.ALLOW_RULE,
        http={"method": "GET", "path": "/public"},
    )
    check(
        world,
        "x/b",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=R.L7_DENIED,
        http={"method": "POST", "path": "/public"},
    )
    check(
        world,
        "x/b",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=R.L7_DENIED,
        http={"method": "GET", "path": "/private"},
    )
    # L3/L4 still decide first.
    check(
        world,
        "x/c",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=R.ISOLATED,
        http={"method": "GET", "path": "/public"},
    )
    check(world, "x/b", "x/a", 81, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


def test_l7_rules_are_reported_for_plain_l4_probes() -> None:
    world = http_world({"method": "GET", "path": "/public"})
    v = evaluate(world, "x/b", "x/a", 80)
    assert v.allowed
    assert v.ingress.l7 and v.ingress.l7[0].http[0].path == "/public"


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"method": "GET", "path": "/public"}, True),
        ({"method": "GET", "path": "/public/x"}, False),
        ({"method": "GET", "path": "/x/public"}, False),
        ({"method": "GETX", "path": "/public"}, False),
        ({"method": "HEAD", "path": "/public"}, True),
        ({"method": "get", "path": "/public"}, False),
    ],
)
def test_l7_regexes_are_full_matches(request_: dict[str, str], expected: bool) -> None:
    world = http_world({"method": "GET|HEAD", "path": "/public"})
    assert allowed(world, "x/b", "x/a", 80, http=request_) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/api/v1/users", True), ("/api/v12/", True), ("/api/v1", False), ("/api/vx/users", False)],
)
def test_l7_path_regex(path: str, expected: bool) -> None:
    world = http_world({"path": "/api/v[0-9]+/.*"})
    assert allowed(world, "x/b", "x/a", 80, http={"method": "DELETE", "path": path}) is expected


def test_l7_empty_fields_match_everything() -> None:
    world = http_world({})
    assert allowed(world, "x/b", "x/a", 80, http={"method": "PATCH", "path": "/anything"})


def test_l7_several_http_rules_are_a_union() -> None:
    world = http_world({"method": "GET", "path": "/a"}, {"method": "POST", "path": "/b"})
    assert allowed(world, "x/b", "x/a", 80, http={"method": "GET", "path": "/a"})
    assert allowed(world, "x/b", "x/a", 80, http={"method": "POST", "path": "/b"})
    assert not allowed(world, "x/b", "x/a", 80, http={"method": "POST", "path": "/a"})


def test_l7_header_with_value() -> None:
    world = http_world({"method": "GET", "headers": ["X-Token: secret"]})
    ok = {"method": "GET", "path": "/", "headers": {"X-Token": "secret"}}
    assert allowed(world, "x/b", "x/a", 80, http=ok)
    assert allowed(world, "x/b", "x/a", 80, http={**ok, "headers": {"x-token": "secret"}})
    assert not allowed(world, "x/b", "x/a", 80, http={**ok, "headers": {"X-Token": "other"}})
    assert not allowed(world, "x/b", "x/a", 80, http={**ok, "headers": {}})


def test_l7_header_presence_only() -> None:
    world = http_world({"headers": ["X-Debug"]})
    assert allowed(
        world, "x/b", "x/a", 80, http={"method": "GET", "path": "/", "headers": {"X-Debug": "1"}}
    )
    assert not allowed(world, "x/b", "x/a", 80, http={"method": "GET", "path": "/"})


def test_l7_header_value_separated_by_space() -> None:
    # pkg/envoy/server.go: strings.SplitN(hdr, " ", 2), then TrimRight(key, ":").
    world = http_world({"headers": ["X-Token secret"]})
    req = {"method": "GET", "path": "/", "headers": {"X-Token": "secret"}}
    assert allowed(world, "x/b", "x/a", 80, http=req)
    assert not allowed(world, "x/b", "x/a", 80, http={**req, "headers": {"X-Token": "other"}})
    assert not allowed(world, "x/b", "x/a", 80, http={**req, "headers": {}})


def test_l7_host_regex() -> None:
    world = http_world({"host": "api\\.example\\.com"})
    assert allowed(
        world, "x/b", "x/a", 80, http={"method": "GET", "path": "/", "host": "api.example.com"}
    )
    assert not allowed(
        world, "x/b", "x/a", 80, http={"method": "GET", "path": "/", "host": "apixexample.com"}
    )


def test_l7_rule_shadowed_by_plain_l4_rule() -> None:
    l4 = cnp(
        "l4",
        "x",
        ingress_from(
            {"fromEndpoints": [sel(pod="b")], "toPorts": ports({"port": "80", "protocol": "TCP"})}
        ),
    )
    l7_rule = {
        "fromEndpoints": [sel(pod="b")],
        "toPorts": ports(
            {"port": "80", "protocol": "TCP"},
            rules={"http": [{"method": "GET", "path": "/public"}]},
        ),
    }
    world = build(l4, cnp("l7", "x", ingress_from(l7_rule)))
    v = check(
        world,
        "x/b",
        "x/a",
        80,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ALLOW_RULE, "CiliumNetworkPolicy/x/l4", "CiliumNetworkPolicy/x/l7"),
        http={"method": "POST", "path": "/admin"},
    )
    assert v.ingress.l7 == ()
    assert not allowed(world, "x/c", "x/a", 80, http={"method": "GET", "path": "/public"})


def test_l7_applies_on_egress_too() -> None:
    rule = {
        "toEndpoints": [sel(pod="b")],
        "toPorts": ports({"port": "80", "protocol": "TCP"}, rules={"http": [{"method": "GET"}]}),
    }
    world = build(cnp("p", "x", egress_to(rule)))
    check(
        world,
        "x/a",
        "x/b",
        80,
        egress=R.ALLOW_RULE,
        ingress=R.DEFAULT_ALLOW,
        http={"method": "GET", "path": "/"},
    )
    check(
        world,
        "x/a",
        "x/b",
        80,
        egress=R.L7_DENIED,
        ingress=R.DEFAULT_ALLOW,
        http={"method": "PUT", "path": "/"},
    )


# ---- multiple rules: specs, host policies ----------------------------------------------


def test_specs_list_applies_every_rule() -> None:
    specs = [
        ingress_from({"fromEndpoints": [sel(pod="b")]}),
        egress_to({"toEndpoints": [sel(pod="a")]}, subject={"endpointSelector": sel(pod="c")}),
    ]
    world = build(cnp("multi", "x", specs=specs))
    assert allowed(world, "x/b", "x/a", 80)
    assert not allowed(world, "y/b", "x/a", 80)
    check(
        world,
        "x/c",
        "x/a",
        80,
        egress=(R.ALLOW_RULE, "CiliumNetworkPolicy/x/multi"),
        ingress=R.ISOLATED,
    )
    check(
        world,
        "x/c",
        "y/a",
        80,
        egress=(R.ISOLATED, "CiliumNetworkPolicy/x/multi"),
        ingress=R.DEFAULT_ALLOW,
    )


def test_spec_and_specs_together() -> None:
    world = build(
        cnp(
            "both",
            "x",
            ingress_from({"fromEndpoints": [sel(pod="b")]}),
            specs=[ingress_from({"fromEndpoints": [sel(pod="c")]})],
        )
    )
    assert allowed(world, "x/b", "x/a", 80)
    assert allowed(world, "x/c", "x/a", 80)
    assert not allowed(world, "y/b", "x/a", 80)


def host_policy(*rules: dict[str, Any]) -> dict[str, Any]:
    return ccnp(
        "host-fw",
        {"nodeSelector": sel(**{"kubernetes.io/hostname": "node-2"}), "ingress": list(rules)},
    )


def test_node_selector_host_policy() -> None:
    rule = {"fromEntities": ["cluster"], "toPorts": ports({"port": "22", "protocol": "TCP"})}
    world = build(host_policy(rule), nodes=True)
    check(
        world,
        "x/a",
        "172.16.0.2",
        22,
        egress=R.DEFAULT_ALLOW,
        ingress=(R.ALLOW_RULE, "CiliumClusterwideNetworkPolicy/host-fw"),
    )
    check(world, "x/a", "172.16.0.2", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)
    check(world, "198.51.100.4", "172.16.0.2", 22, egress=R.NOT_ENFORCED, ingress=R.ISOLATED)
    # node-1 is not selected; pods are not selected by a nodeSelector.
    check(world, "198.51.100.4", "172.16.0.1", 22, egress=R.NOT_ENFORCED, ingress=R.DEFAULT_ALLOW)
    check(world, "198.51.100.4", "x/b", 22, egress=R.NOT_ENFORCED, ingress=R.DEFAULT_ALLOW)


def test_node_selector_host_policy_from_remote_node() -> None:
    world = build(host_policy({"fromEntities": ["remote-node"]}), nodes=True)
    assert allowed(world, "172.16.0.1", "172.16.0.2", 10250)
    assert not allowed(world, "x/a", "172.16.0.2", 10250)


def test_host_network_pod_is_the_node_for_host_policies() -> None:
    from tests.unit.helpers import pod

    hn = pod("x", "agent", None, {"app": "agent"}, node="node-2", host_network=True)
    world = build(hn, host_policy({"fromEntities": ["world"]}), nodes=True)
    check(world, "198.51.100.4", "x/agent", 9090, egress=R.NOT_ENFORCED, ingress=R.ALLOW_RULE)
    check(world, "y/c", "x/agent", 9090, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


# ---- enable-policy ---------------------------------------------------------------------


def test_enable_policy_always_denies_without_policy() -> None:
    world = build(cilium_config(enable_policy="always"))
    check(world, "y/a", "y/b", 80, egress=R.ENFORCEMENT_ALWAYS, ingress=R.ENFORCEMENT_ALWAYS)
    check(world, "x/a", "203.0.113.7", 443, egress=R.ENFORCEMENT_ALWAYS, ingress=R.NOT_ENFORCED)
    check(world, "198.51.100.4", "z/c", 80, egress=R.NOT_ENFORCED, ingress=R.ENFORCEMENT_ALWAYS)
    check(world, "x/a", "x/a", 80, egress=R.SELF, ingress=R.SELF)


def test_enable_policy_always_needs_both_sides() -> None:
    world = build(
        cilium_config(enable_policy="always"),
        cnp("a-from-b", "x", ingress_from({"fromEndpoints": [sel(pod="b")]})),
        cnp(
            "b-to-a",
            "x",
            egress_to({"toEndpoints": [sel(pod="a")]}, subject={"endpointSelector": sel(pod="b")}),
        ),
    )
    check(world, "x/b", "x/a", 80, egress=R.ALLOW_RULE, ingress=R.ALLOW_RULE)
    check(world, "x/c", "x/a", 80, egress=R.ENFORCEMENT_ALWAYS, ingress=R.ISOLATED)


def test_enable_policy_never_ignores_policies() -> None:
    world = build(
        cilium_config(enable_policy="never"),
        cnp("p", "x", {**POD_A, "ingressDeny": [{"fromEndpoints": [sel(pod="b")]}]}),
        netpol("np", "y", {"podSelector": {}}),
    )
    check(world, "x/b", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(world, "x/b", "y/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)


# ---- parsing notes -------------------------------------------------------------------------


def test_unsupported_fields_are_warned_not_ignored_silently() -> None:
    inp = load(
        cnp(
            "p",
            "x",
            egress_to({"toServices": [{"k8sService": {"serviceName": "s", "namespace": "x"}}]}),
        )
    )
    assert not inp.errors
    assert any(
        d.code == "unsupported" and d.location.path.endswith("toServices") for d in warnings(inp)
    )


def test_unknown_entity_is_an_error() -> None:
    from tests.unit.helpers import dump

    errs = errors(dump(cnp("p", "x", ingress_from({"fromEntities": ["everything"]}))))
    assert [e.location.path for e in errs] == ["spec.ingress[0].fromEntities[0]"]


def test_icmp_only_rule_does_not_open_transport_protocols() -> None:
    # An L3 rule restricted by icmps allows ICMP types only; Netwarden does not
    # evaluate ICMP, so the rule must not become an allow-everything rule.
    rule = {"fromEndpoints": [sel(pod="b")], "icmps": [{"fields": [{"type": 8}]}]}
    inp = load(cnp("p", "x", ingress_from(rule)))
    assert any(d.code == "unsupported" for d in warnings(inp))
    world = build(cnp("p", "x", ingress_from(rule)))
    for proto in ("TCP", "UDP", "SCTP"):
        assert not allowed(world, "x/b", "x/a", 80, proto)


def test_cnp_endpoint_selector_namespace_is_replaced_by_the_policy_namespace() -> None:
    # ParseToCiliumRule: AddMatch(k8s:io.kubernetes.pod.namespace, <policy namespace>)
    # overwrites a namespace written in matchLabels.
    spec = {
        "endpointSelector": {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "y", "pod": "a"}},
        "ingress": [{"fromEndpoints": [sel(pod="b")]}],
    }
    inp = load(cnp("p", "x", spec))
    assert any(d.code == "namespace-overridden" for d in warnings(inp))
    world = build(cnp("p", "x", spec))
    assert not allowed(world, "x/c", "x/a", 80)  # x/a is selected (isolated)
    assert allowed(world, "x/b", "x/a", 80)
    assert allowed(world, "y/c", "y/a", 80)  # y/a is not selected
