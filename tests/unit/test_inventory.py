"""Inventory objects: Namespace, Pod, Node, Endpoints/EndpointSlice of default/kubernetes,
the kube-system/cilium-config ConfigMap, host-network pods and the kube-apiserver."""

from __future__ import annotations

import ipaddress
import json

import pytest

from netwarden.engine.verdict import Reason as R
from netwarden.engine.world import UnknownEndpoint, World
from netwarden.model.diagnostics import Severity
from netwarden.model.endpoint import EndpointKind
from netwarden.model.inventory import EnforcementMode
from netwarden.model.ports import NamedPort, Protocol
from netwarden.sources.loader import load_text
from tests.unit.helpers import (
    apiserver_endpoints,
    build,
    ccnp,
    check,
    cilium_config,
    cnp,
    dump,
    errors,
    load,
    namespace,
    netpol,
    node,
    pod,
    sel,
    warnings,
)


def only_cluster(text: str):  # type: ignore[no-untyped-def]
    inp = load_text(text, "inv.yaml")
    assert not inp.errors, [str(d) for d in inp.errors]
    [inv] = inp.clusters.values()
    return inv


def test_namespace_labels_get_metadata_name_label() -> None:
    inv = only_cluster(
        dump(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "prod", "labels": {"team": "a"}},
            }
        )
    )
    assert inv.namespaces == {"prod": {"team": "a", "kubernetes.io/metadata.name": "prod"}}


def test_pod_without_namespace_object_gets_metadata_name_label() -> None:
    world = build(pod("solo", "p", "10.9.0.1"), standard=False)
    ep = world.resolve("solo/p")
    assert dict(ep.namespace_labels) == {"kubernetes.io/metadata.name": "solo"}


def test_namespace_selector_on_metadata_name_label() -> None:
    peer = {"namespaceSelector": sel(**{"kubernetes.io/metadata.name": "y"})}
    world = build(netpol("p", "x", {"podSelector": {}, "ingress": [{"from": [peer]}]}))
    assert world.resolve("x/a").namespace_labels["kubernetes.io/metadata.name"] == "x"
    check(world, "y/b", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ALLOW_RULE)
    check(world, "z/b", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


def test_pod_fields() -> None:
    obj = pod(
        "x",
        "web",
        "10.0.1.9",
        {"app": "web"},
        [("http", 8080, "TCP"), ("dns", 53, "UDP")],
        node="node-1",
    )
    obj["spec"]["serviceAccountName"] = "web-sa"
    obj["spec"]["containers"].append(
        {
            "name": "sidecar",
            "ports": [{"name": "metrics", "containerPort": 9090}, {"containerPort": 7000}],
        }
    )
    world = build(namespace("x"), obj, standard=False)
    ep = world.resolve("x/web")
    assert ep.kind is EndpointKind.POD
    assert ep.ip == ipaddress.ip_address("10.0.1.9")
    assert (ep.namespace, ep.name, ep.node_name, ep.service_account) == (
        "x",
        "web",
        "node-1",
        "web-sa",
    )
    assert dict(ep.labels) == {"app": "web"}
    assert ep.namespace_labels["ns"] == "x"
    # Unnamed container ports are not named ports; protocol defaults to TCP.
    assert ep.named_ports == (
        NamedPort("http", Protocol.TCP, 8080),
        NamedPort("dns", Protocol.UDP, 53),
        NamedPort("metrics", Protocol.TCP, 9090),
    )
    assert world.resolve("10.0.1.9") == ep


def test_pod_without_namespace_is_in_default() -> None:
    obj = pod("x", "p", "10.0.9.9")
    del obj["metadata"]["namespace"]
    world = build(obj, standard=False)
    assert world.resolve("default/p").namespace == "default"


def test_pod_without_ip_is_only_resolvable_by_name() -> None:
    world = build(pod("x", "pending", None), standard=False)
    assert world.resolve("x/pending").ip is None
    assert world.resolve("10.0.1.1").kind is EndpointKind.WORLD


def test_pod_cluster_label_sets_its_cluster() -> None:
    world = build(
        pod("x", "p", "10.0.1.1", {"io.cilium.k8s.policy.cluster": "prod-eu"}), standard=False
    )
    assert world.resolve("x/p").cluster == "prod-eu"
    assert world.resolve("prod-eu:x/p").name == "p"


def test_host_network_pod_is_its_node() -> None:
    hn = pod(
        "kube-system", "agent", "172.16.0.1", {"app": "agent"}, node="node-1", host_network=True
    )
    world = build(hn, nodes=True)
    ep = world.resolve("kube-system/agent")
    assert ep.kind is EndpointKind.HOST
    assert ep.ip == ipaddress.ip_address("172.16.0.1")
    # It carries the node's labels (host identity), not the pod's.
    assert ep.labels["kubernetes.io/hostname"] == "node-1"
    assert "app" not in ep.labels
    # The IP is the node's.
    assert world.resolve("172.16.0.1").kind is EndpointKind.HOST


def test_host_network_pod_ip_defaults_to_host_ip() -> None:
    hn = pod("x", "hn", None, node="node-2", host_network=True)
    world = build(hn, nodes=True)
    assert world.resolve("x/hn").ip == ipaddress.ip_address("172.16.0.2")


def test_host_network_pods_are_not_selected_by_networkpolicy() -> None:
    hn = pod("x", "hn", None, {"pod": "hn"}, node="node-2", host_network=True)
    world = build(
        hn,
        netpol("deny", "x", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        nodes=True,
    )
    check(world, "y/a", "x/hn", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(world, "x/hn", "y/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    # ... nor by pod/namespace selectors as peers.
    peer_world = build(
        hn,
        netpol(
            "from-x", "y", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}
        ),
        nodes=True,
    )
    # x/hn is on node-2 with y/b; y/a and y/c are on node-1.
    check(peer_world, "x/hn", "y/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)
    check(peer_world, "x/hn", "y/b", 80, egress=R.DEFAULT_ALLOW, ingress=R.OWN_NODE)
    check(peer_world, "x/a", "y/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ALLOW_RULE)


def test_node_addresses() -> None:
    obj = node("n1", "172.16.0.1")
    obj["status"]["addresses"] += [
        {"type": "ExternalIP", "address": "203.0.113.50"},
        {"type": "Hostname", "address": "n1.example"},
    ]
    inv = only_cluster(dump(obj))
    assert sorted(str(n.ip) for n in inv.nodes) == ["172.16.0.1", "203.0.113.50"]
    assert {n.kind for n in inv.nodes} == {EndpointKind.HOST}
    world = World({inv.name: inv}, [])
    assert world.resolve("203.0.113.50").name == "n1"


def test_node_without_addresses_is_still_known() -> None:
    inv = only_cluster(dump({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "bare"}}))
    assert [(n.name, n.ip) for n in inv.nodes] == [("bare", None)]


def test_apiserver_endpoints() -> None:
    inv = only_cluster(dump(apiserver_endpoints("172.16.0.100", "172.16.0.101")))
    assert inv.apiserver_ips == {
        ipaddress.ip_address("172.16.0.100"),
        ipaddress.ip_address("172.16.0.101"),
    }


def test_apiserver_endpoint_slice() -> None:
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes-abcde",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "endpoints": [{"addresses": ["172.16.0.100"]}],
    }
    inv = only_cluster(dump(slice_))
    assert inv.apiserver_ips == {ipaddress.ip_address("172.16.0.100")}


def test_other_endpoints_are_not_the_apiserver() -> None:
    other_ns = apiserver_endpoints("10.1.1.1")
    other_ns["metadata"]["namespace"] = "kube-system"
    other_name = apiserver_endpoints("10.1.1.2")
    other_name["metadata"]["name"] = "web"
    inv = only_cluster(dump(other_ns, other_name))
    assert inv.apiserver_ips == set()


def test_apiserver_entity_endpoint_kinds() -> None:
    world = build(apiserver_endpoints("172.16.0.100", "172.16.0.2"), nodes=True)
    external = world.resolve("172.16.0.100")
    assert external.kind is EndpointKind.KUBE_APISERVER and external.is_apiserver
    on_node = world.resolve("172.16.0.2")
    assert on_node.kind is EndpointKind.HOST and on_node.is_apiserver
    assert not world.resolve("172.16.0.1").is_apiserver


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("default", EnforcementMode.DEFAULT),
        ("always", EnforcementMode.ALWAYS),
        ("never", EnforcementMode.NEVER),
    ],
)
def test_cilium_config_enable_policy(value: str, mode: EnforcementMode) -> None:
    inv = only_cluster(dump(cilium_config(enable_policy=value)))
    assert inv.config.enforcement is mode


def test_cilium_config_defaults() -> None:
    inv = only_cluster(dump(cilium_config()))
    assert inv.config.enforcement is EnforcementMode.DEFAULT
    assert inv.config.non_default_deny_policies is True


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("false", False), ("False", False), ("1", True)]
)
def test_cilium_config_flags(value: str, expected: bool) -> None:
    inv = only_cluster(
        dump(
            cilium_config(
                enable_non_default_deny_policies=value, policy_default_local_cluster=value
            )
        )
    )
    assert inv.config.non_default_deny_policies is expected
    assert inv.config.default_local_cluster is expected


def test_cilium_config_cluster_name_names_the_cluster() -> None:
    inp = load(cilium_config(cluster_name="prod-eu"))
    assert list(inp.clusters) == ["prod-eu"]
    world = World(inp.clusters, inp.policies)
    assert world.resolve("x/a").cluster == "prod-eu"
    assert world.resolve("prod-eu:x/a").name == "a"


def test_cilium_config_applies_before_policies_in_any_order() -> None:
    # The ConfigMap comes after the policy in the stream; it still applies.
    spec = {
        "endpointSelector": sel(pod="a"),
        "ingress": [{"fromEndpoints": [sel(pod="b")]}],
        "enableDefaultDeny": {"ingress": False},
    }
    world = build(cnp("p", "x", spec), cilium_config(enable_non_default_deny_policies="false"))
    check(world, "x/c", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


def test_other_configmaps_are_ignored() -> None:
    cm = cilium_config(enable_policy="banana")
    cm["metadata"]["name"] = "not-cilium"
    inp = load(cm)
    assert not inp.errors
    [inv] = inp.clusters.values()
    assert inv.config.enforcement is EnforcementMode.DEFAULT


def test_unused_kinds_are_skipped_with_a_note() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "x"},
        "spec": {},
    }
    inp = load(svc)
    assert not inp.errors
    notes = [d for d in inp.diagnostics if d.code == "skipped-kind"]
    assert len(notes) == 1 and notes[0].severity is Severity.INFO


def test_duplicate_objects_later_one_wins_with_a_warning() -> None:
    first = netpol("p", "x", {"podSelector": {}})
    second = netpol("p", "x", {"podSelector": sel(pod="a")})
    inp = load(first, second)
    assert [d.code for d in warnings(inp)] == ["duplicate"]
    world = World(inp.clusters, inp.policies)
    assert len(world.policies) == 1
    check(world, "y/a", "x/b", 80, egress=R.DEFAULT_ALLOW, ingress=R.DEFAULT_ALLOW)
    check(world, "y/a", "x/a", 80, egress=R.DEFAULT_ALLOW, ingress=R.ISOLATED)


def test_duplicate_pod_later_one_wins() -> None:
    world = build(pod("x", "a", "10.0.1.99"))
    assert str(world.resolve("x/a").ip) == "10.0.1.99"


def test_kind_list_and_top_level_lists() -> None:
    as_list = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [namespace("x"), pod("x", "a", "10.0.1.1")],
    }
    world = build(as_list, standard=False)
    assert world.resolve("x/a").namespace_labels["ns"] == "x"
    text = json.dumps([namespace("y"), pod("y", "b", "10.0.2.2")])
    inp = load_text(text, "objs.json")
    assert not inp.errors
    assert World(inp.clusters, inp.policies).resolve("10.0.2.2").name == "b"


def test_policy_cluster_is_the_input_cluster() -> None:
    inp = load_text(dump(netpol("p", "x", {"podSelector": {}})), "in.yaml", cluster="prod-eu")
    assert [p.ref.cluster for p in inp.policies] == ["prod-eu"]


def test_ccnp_and_cnp_refs() -> None:
    inp = load(
        ccnp("cw", {"endpointSelector": {}, "ingress": [{}]}),
        cnp("nw", "y", {"endpointSelector": {}, "ingress": [{}]}),
    )
    assert sorted(str(p.ref) for p in inp.policies) == [
        "CiliumClusterwideNetworkPolicy/cw",
        "CiliumNetworkPolicy/y/nw",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x/zz", "no pod x/zz"),
        ("nope", "neither namespace/pod nor an IP"),
        ("other:x/a", "no pod x/a in cluster other"),
        ("x/", "neither namespace/pod nor an IP"),
    ],
)
def test_resolve_unknown_endpoint(text: str, message: str) -> None:
    world = build()
    with pytest.raises(UnknownEndpoint, match=message):
        world.resolve(text)


def test_resolve_ip_literals() -> None:
    world = build(nodes=True)
    assert world.resolve("10.0.2.2").display() == "y/b"
    assert world.resolve(" 10.0.2.2 ").display() == "y/b"
    assert world.resolve("172.16.0.2").kind is EndpointKind.HOST
    assert world.resolve("203.0.113.7").kind is EndpointKind.WORLD
    assert world.resolve("2001:db8::1").kind is EndpointKind.WORLD
    assert world.resolve("203.0.113.7", "example.com").dns_name == "example.com"


def test_bad_inventory_values_are_errors() -> None:
    bad_pod = pod("x", "p", "10.0.1.300", ports=[("http", 80, "HTTP")])
    bad_node = node("n", "not-an-ip")
    errs = errors(dump(bad_pod, bad_node))
    assert sorted(e.location.path for e in errs) == [
        "spec.containers[0].ports[0].protocol",
        "status.addresses[0].address",
        "status.podIP",
    ]


def test_documents_that_are_not_kubernetes_objects_are_skipped_with_a_note() -> None:
    from netwarden.model.diagnostics import Severity
    from netwarden.sources.loader import load_text

    inp = load_text(
        "replicaCount: 3\nimage: {tag: v1}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"
    )
    assert not inp.errors
    notes = [d for d in inp.diagnostics if d.code == "skipped-kind"]
    assert notes and notes[0].severity is Severity.INFO and notes[0].location.document == 0
    assert "x" in inp.clusters["default"].namespaces
