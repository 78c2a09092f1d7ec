"""Hypothesis strategies: random clusters, policies of every kind, and connections."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

NAMESPACES = ["x", "y", "z"]
POD_NAMES = ["a", "b", "c"]
NODES = {"n1": "172.16.0.1", "n2": "172.16.0.2"}
EXTERNAL_IPS = ["203.0.113.7", "198.51.100.4", "10.0.1.99", "172.16.0.2"]
PORTS = [53, 80, 81, 443, 8080]
PROTOCOLS = ["TCP", "UDP", "SCTP"]
NAMED_PORTS = [
    {"name": "http", "containerPort": 80, "protocol": "TCP"},
    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
    {"name": "metrics", "containerPort": 81, "protocol": "TCP"},
    {"name": "alt", "containerPort": 8080, "protocol": "TCP"},
]
DNS_NAMES = [None, "api.example.com", "example.com", "a.b.example.com", "cdn.example.org"]

label_key = st.sampled_from(["pod", "app", "tier"])
label_value = st.sampled_from(["a", "b", "c", "web", "db"])


@st.composite
def label_selectors(draw: st.DrawFn, keys: Any = label_key, cilium: bool = False) -> dict:
    sel: dict[str, Any] = {}
    if draw(st.booleans()):
        sel["matchLabels"] = draw(st.dictionaries(keys, label_value, max_size=2))
    if draw(st.integers(0, 3)) == 0:
        op = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
        expr: dict[str, Any] = {"key": draw(keys), "operator": op}
        if op in ("In", "NotIn"):
            expr["values"] = draw(st.lists(label_value, min_size=1, max_size=2, unique=True))
        sel["matchExpressions"] = [expr]
    return sel


ns_selectors = label_selectors(st.sampled_from(["ns", "team", "kubernetes.io/metadata.name"]))
cidrs = st.sampled_from(
    ["10.0.0.0/8", "10.0.1.0/24", "0.0.0.0/0", "203.0.113.0/24", "172.16.0.0/16", "198.51.100.4/32"]
)


@st.composite
def np_ports(draw: st.DrawFn) -> list[dict]:
    out = []
    for _ in range(draw(st.integers(0, 2))):
        port: dict[str, Any] = {}
        if draw(st.booleans()):
            port["protocol"] = draw(st.sampled_from(PROTOCOLS))
        choice = draw(st.integers(0, 3))
        if choice == 1:
            port["port"] = draw(st.sampled_from(PORTS))
        elif choice == 2:
            port["port"] = draw(st.sampled_from(["http", "dns", "metrics"]))
        elif choice == 3:
            start = draw(st.sampled_from([53, 80]))
            port["port"] = start
            port["endPort"] = start + draw(st.integers(0, 30))
        out.append(port)
    return out


@st.composite
def np_peer(draw: st.DrawFn) -> dict:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return {"podSelector": draw(label_selectors())}
    if kind == 1:
        return {"namespaceSelector": draw(ns_selectors)}
    if kind == 2:
        return {"podSelector": draw(label_selectors()), "namespaceSelector": draw(ns_selectors)}
    block: dict[str, Any] = {"cidr": "10.0.0.0/8"}
    if draw(st.booleans()):
        block = {"cidr": draw(cidrs)}
    if block["cidr"] == "10.0.0.0/8" and draw(st.booleans()):
        block["except"] = ["10.0.1.0/24"]
    return {"ipBlock": block}


@st.composite
def network_policies(draw: st.DrawFn, name: str) -> dict:
    spec: dict[str, Any] = {"podSelector": draw(label_selectors())}
    for key, peer_key in (("ingress", "from"), ("egress", "to")):
        if draw(st.booleans()):
            rules = []
            for _ in range(draw(st.integers(0, 2))):
                rule: dict[str, Any] = {}
                if draw(st.booleans()):
                    rule[peer_key] = draw(st.lists(np_peer(), max_size=2))
                ports = draw(np_ports())
                if ports:
                    rule["ports"] = ports
                rules.append(rule)
            spec[key] = rules
    if draw(st.booleans()):
        spec["policyTypes"] = draw(
            st.lists(st.sampled_from(["Ingress", "Egress"]), min_size=1, max_size=2, unique=True)
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": draw(st.sampled_from(NAMESPACES))},
        "spec": spec,
    }


cilium_key = st.sampled_from(
    ["pod", "app", "k8s:io.kubernetes.pod.namespace", "io.cilium.k8s.namespace.labels.team"]
)


@st.composite
def cilium_rule(draw: st.DrawFn, direction: str, deny: bool) -> dict:
    prefix = "from" if direction == "ingress" else "to"
    rule: dict[str, Any] = {}
    kind = draw(st.integers(0, 5))
    if kind == 0:
        rule[prefix + "Endpoints"] = draw(st.lists(label_selectors(cilium_key), max_size=2))
    elif kind == 1:
        rule[prefix + "Entities"] = draw(
            st.lists(
                st.sampled_from(
                    ["world", "cluster", "host", "remote-node", "all", "kube-apiserver"]
                ),
                min_size=1,
                max_size=2,
            )
        )
    elif kind == 2:
        entry: dict[str, Any] = {"cidr": draw(cidrs)}
        if entry["cidr"] == "0.0.0.0/0" and draw(st.booleans()):
            entry["except"] = ["203.0.113.0/24"]
        rule[prefix + "CIDRSet"] = [entry]
    elif kind == 3 and direction == "egress" and not deny:
        fqdn = draw(
            st.sampled_from(
                [
                    {"matchName": "api.example.com"},
                    {"matchPattern": "*.example.com"},
                    {"matchPattern": "*"},
                    {"matchPattern": "**.example.com"},
                ]
            )
        )
        rule["toFQDNs"] = [fqdn]
    elif kind == 4:
        rule[prefix + "Nodes"] = [draw(label_selectors(st.sampled_from(["role"])))]
    if draw(st.booleans()):
        port_entry: dict[str, Any] = {
            "port": str(draw(st.sampled_from([*PORTS, 0, "http"]))),
        }
        if draw(st.booleans()):
            port_entry["protocol"] = draw(st.sampled_from(["TCP", "UDP", "ANY"]))
        if draw(st.integers(0, 3)) == 0 and port_entry["port"] in ("80", "53"):
            port_entry["endPort"] = int(port_entry["port"]) + 1
        to_ports: dict[str, Any] = {"ports": [port_entry]}
        tcp = port_entry.get("protocol") == "TCP"
        if not deny and tcp and port_entry["port"] == "80" and draw(st.booleans()):
            to_ports["rules"] = {"http": [{"method": "GET", "path": "/api/.*"}]}
        rule["toPorts"] = [to_ports]
    return rule


@st.composite
def cilium_policies(draw: st.DrawFn, name: str) -> dict:
    clusterwide = draw(st.booleans())
    spec: dict[str, Any] = {"endpointSelector": draw(label_selectors(cilium_key))}
    if clusterwide and draw(st.integers(0, 4)) == 0:
        spec = {"nodeSelector": draw(label_selectors(st.sampled_from(["role"])))}
    for key in ("ingress", "egress", "ingressDeny", "egressDeny"):
        if draw(st.integers(0, 2)) == 0:
            direction = key.removesuffix("Deny")
            deny = key.endswith("Deny")
            spec[key] = draw(st.lists(cilium_rule(direction, deny), max_size=2))
    if draw(st.integers(0, 4)) == 0:
        spec["enableDefaultDeny"] = {"ingress": draw(st.booleans()), "egress": draw(st.booleans())}
    meta: dict[str, Any] = {"name": name}
    if not clusterwide:
        meta["namespace"] = draw(st.sampled_from(NAMESPACES))
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy" if clusterwide else "CiliumNetworkPolicy",
        "metadata": meta,
        "spec": spec,
    }


@st.composite
def admin_peer(draw: st.DrawFn, egress: bool) -> dict:
    kind = draw(st.integers(0, 3 if egress else 1))
    if kind == 0:
        return {"namespaces": draw(ns_selectors)}
    if kind == 1:
        return {
            "pods": {
                "namespaceSelector": draw(ns_selectors),
                "podSelector": draw(label_selectors()),
            }
        }
    if kind == 2:
        return {"networks": [draw(cidrs)]}
    return {"nodes": draw(label_selectors(st.sampled_from(["role"])))}


@st.composite
def admin_policies(draw: st.DrawFn, name: str) -> dict:
    flavor = draw(st.sampled_from(["ANP", "BANP", "CNP2"]))
    actions = {
        "ANP": ["Allow", "Deny", "Pass"],
        "BANP": ["Allow", "Deny"],
        "CNP2": ["Accept", "Deny", "Pass"],
    }[flavor]
    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        spec["subject"] = {"namespaces": draw(ns_selectors)}
    else:
        spec["subject"] = {
            "pods": {
                "namespaceSelector": draw(ns_selectors),
                "podSelector": draw(label_selectors()),
            }
        }
    for key, peer_key in (("ingress", "from"), ("egress", "to")):
        rules = []
        for i in range(draw(st.integers(0, 2))):
            rule: dict[str, Any] = {
                "name": f"r{i}",
                "action": draw(st.sampled_from(actions)),
                peer_key: draw(st.lists(admin_peer(key == "egress"), min_size=1, max_size=2)),
            }
            if draw(st.booleans()):
                port = draw(st.sampled_from(PORTS))
                if flavor == "CNP2":
                    rule["protocols"] = [{"tcp": {"destinationPort": {"number": port}}}]
                else:
                    rule["ports"] = [
                        {"portNumber": {"port": port, "protocol": draw(st.sampled_from(PROTOCOLS))}}
                    ]
            rules.append(rule)
        if rules:
            spec[key] = rules
    if flavor == "BANP":
        return {
            "apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "BaselineAdminNetworkPolicy",
            "metadata": {"name": "default"},
            "spec": spec,
        }
    spec["priority"] = draw(st.integers(0, 3))
    if flavor == "ANP":
        return {
            "apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "AdminNetworkPolicy",
            "metadata": {"name": name},
            "spec": spec,
        }
    spec["tier"] = draw(st.sampled_from(["Admin", "Baseline"]))
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


@st.composite
def clusters(draw: st.DrawFn) -> list[dict]:
    docs: list[dict] = []
    for ns in NAMESPACES:
        labels = {"ns": ns, "team": draw(st.sampled_from(["red", "blue"]))}
        docs.append(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}
        )
    for node, ip in NODES.items():
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": node,
                    "labels": {"role": draw(st.sampled_from(["worker", "infra"]))},
                },
                "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
            }
        )
    for i, ns in enumerate(NAMESPACES):
        for j, pod in enumerate(POD_NAMES):
            labels = {"pod": pod}
            if draw(st.booleans()):
                labels["app"] = draw(st.sampled_from(["web", "db"]))
            ports = draw(
                st.lists(st.sampled_from(NAMED_PORTS), max_size=3, unique_by=lambda p: p["name"])
            )
            spec: dict[str, Any] = {"containers": [{"name": "c", "ports": ports}]}
            node = draw(st.sampled_from([None, "n1", "n2"]))
            if node:
                spec["nodeName"] = node
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": pod, "namespace": ns, "labels": labels},
                    "spec": spec,
                    "status": {"podIP": f"10.0.{i + 1}.{j + 1}"},
                }
            )
    if draw(st.booleans()):
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "namespace": "default"},
                "subsets": [{"addresses": [{"ip": "172.16.0.1"}]}],
            }
        )
    if draw(st.integers(0, 3)) == 0:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "cilium-config", "namespace": "kube-system"},
                "data": {"enable-policy": draw(st.sampled_from(["default", "always", "never"]))},
            }
        )
    n = draw(st.integers(1, 5))
    for k in range(n):
        maker = draw(st.sampled_from([network_policies, cilium_policies, admin_policies]))
        docs.append(draw(maker(f"p{k}")))
    return docs


ENDPOINTS = (
    [f"{ns}/{pod}" for ns in NAMESPACES for pod in POD_NAMES] + list(NODES.values()) + EXTERNAL_IPS
)


@st.composite
def connections(draw: st.DrawFn) -> dict:
    conn: dict[str, Any] = {
        "from": draw(st.sampled_from(ENDPOINTS)),
        "to": draw(st.sampled_from(ENDPOINTS)),
        "port": draw(st.sampled_from(PORTS)),
        "protocol": draw(st.sampled_from(PROTOCOLS)),
    }
    conn["dns_name"] = draw(st.sampled_from(DNS_NAMES))
    if draw(st.booleans()):
        conn["http"] = (
            draw(st.sampled_from(["GET", "POST"])),
            draw(st.sampled_from(["/api/v1", "/admin"])),
        )
    return conn
