"""Deterministic generator of realistic clusters and policy mixes for benchmarks.

A cluster is a set of Kubernetes manifests: Namespaces (team/env labels), Nodes
(zones, InternalIPs, one /24 pod CIDR each), Pods that belong to Deployments and
StatefulSets (so label sets repeat the way they do in real clusters: every
replica of a deployment has the same app/tier/version labels and container
ports), the default/kubernetes Endpoints, and a policy mix:

- NetworkPolicy: per-namespace default deny (ingress, or ingress+egress with an
  allow-DNS companion), allow-from-monitoring/ingress-controller, and per-app
  rules with podSelector, namespaceSelector (+podSelector), ipBlock with except,
  numbered and named ports, port ranges (endPort);
- CiliumNetworkPolicy: fromEndpoints/toEndpoints (same and other namespaces),
  entities, toCIDR/toCIDRSet with except, toPorts with ranges and named ports,
  ingressDeny/egressDeny, a few L7 HTTP rules;
- CiliumClusterwideNetworkPolicy: namespace-label selectors, DNS, metadata
  guard with enableDefaultDeny=false, a host (nodeSelector) policy;
- AdminNetworkPolicy (distinct priorities, Allow/Deny/Pass) and the
  BaselineAdminNetworkPolicy named ``default``.

``generate(pods, policies, seed=..., np_only=True)`` gives the same cluster with
a NetworkPolicy-only policy set (for tools that read nothing else).

Usage: ``python -m tests.bench.generate --pods 1000 --policies 200 --out DIR``.
"""

from __future__ import annotations

import argparse
import hashlib
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

NP_API = "networking.k8s.io/v1"
CILIUM_API = "cilium.io/v2"
ADMIN_API = "policy.networking.k8s.io/v1alpha1"
NS_NAME = "kubernetes.io/metadata.name"
CILIUM_NS = "k8s:io.kubernetes.pod.namespace"
CILIUM_NS_LABEL = "k8s:io.cilium.k8s.namespace.labels."
POD_CIDR_BASE = (10, 244)  # node i gets 10.(244 + i // 256).(i % 256).0/24
PODS_PER_NODE = 40
APISERVER_IP = "172.18.0.2"
EXTERNAL_LB = "203.0.113.0/24"
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")

TEAMS = (
    "payments",
    "checkout",
    "search",
    "catalog",
    "identity",
    "ads",
    "analytics",
    "ml",
    "growth",
    "media",
    "support",
    "logistics",
)
SERVICES = (
    "orders",
    "cart",
    "billing",
    "users",
    "search",
    "inventory",
    "reco",
    "auth",
    "notify",
    "ledger",
    "shipping",
    "pricing",
    "media",
    "reports",
    "feeds",
    "geo",
    "reviews",
    "wallet",
    "fraud",
    "quotes",
)
ENVS = (("prod", 5), ("staging", 3), ("dev", 2))


@dataclass(frozen=True)
class Archetype:
    suffix: str
    tier: str
    ports: tuple[tuple[str, int, str], ...]  # (name, number, protocol)
    replicas: tuple[int, int]
    weight: int
    stateful: bool = False


ARCHETYPES = (
    Archetype("web", "frontend", (("http", 8080, "TCP"), ("metrics", 9090, "TCP")), (2, 12), 10),
    Archetype("ui", "frontend", (("http", 80, "TCP"), ("https", 443, "TCP")), (2, 6), 4),
    Archetype(
        "api",
        "backend",
        (("http", 8080, "TCP"), ("grpc", 50051, "TCP"), ("metrics", 9090, "TCP")),
        (2, 10),
        14,
    ),
    Archetype("svc", "backend", (("grpc", 50051, "TCP"), ("metrics", 9090, "TCP")), (1, 6), 10),
    Archetype("worker", "worker", (("metrics", 9090, "TCP"),), (1, 10), 8),
    Archetype(
        "postgres", "db", (("postgres", 5432, "TCP"), ("metrics", 9187, "TCP")), (1, 3), 5, True
    ),
    Archetype("mysql", "db", (("mysql", 3306, "TCP"),), (1, 3), 2, True),
    Archetype("redis", "cache", (("redis", 6379, "TCP"),), (1, 3), 5, True),
    Archetype(
        "memcached",
        "cache",
        (("memcache", 11211, "TCP"), ("memcache-udp", 11211, "UDP")),
        (1, 3),
        2,
    ),
    Archetype(
        "kafka", "queue", (("kafka", 9092, "TCP"), ("metrics", 9308, "TCP")), (3, 3), 2, True
    ),
    Archetype(
        "rabbitmq", "queue", (("amqp", 5672, "TCP"), ("mgmt", 15672, "TCP")), (1, 3), 2, True
    ),
    Archetype("statsd", "telemetry", (("statsd", 8125, "UDP"),), (1, 2), 1),
    Archetype("diameter", "backend", (("diameter", 3868, "SCTP"),), (1, 2), 1),
)


@dataclass
class Namespace:
    name: str
    labels: dict[str, str]
    team: str
    env: str
    system: bool = False

    def manifest(self) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": self.name, "labels": dict(self.labels)},
        }


@dataclass
class Node:
    index: int
    name: str
    ip: str
    zone: str
    allocated: int = 0

    def next_pod_ip(self) -> str:
        self.allocated += 1
        if self.allocated > 250:
            raise ValueError(f"node {self.name} has no free pod IP")
        hi = POD_CIDR_BASE[1] + self.index // 256
        return f"{POD_CIDR_BASE[0]}.{hi}.{self.index % 256}.{self.allocated + 1}"

    def manifest(self) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "topology.kubernetes.io/zone": self.zone,
                    "node-role.kubernetes.io/worker": "",
                },
            },
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": self.ip},
                    {"type": "Hostname", "address": self.name},
                ]
            },
        }


@dataclass
class Deployment:
    """A workload: every replica shares labels and container ports."""

    namespace: Namespace
    name: str
    app: str
    service: str
    tier: str
    version: str
    ports: tuple[tuple[str, int, str], ...]
    replicas: int
    stateful: bool
    template_hash: str
    pods: list[Manifest] = field(default_factory=list)
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, str]:
        out = {
            "app": self.app,
            "tier": self.tier,
            "version": self.version,
            "app.kubernetes.io/part-of": self.service,
            **self.extra_labels,
        }
        if self.stateful:
            out["controller-revision-hash"] = f"{self.name}-{self.template_hash}"
        else:
            out["pod-template-hash"] = self.template_hash
        return out

    def pod_manifest(self, index: int, node: Node, rng: random.Random) -> Manifest:
        labels = self.labels
        if self.stateful:
            # (The per-pod statefulset.kubernetes.io/pod-name label is left out,
            # as Cilium leaves it out of identities.)
            name = f"{self.name}-{index}"
            owner = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": self.name}
        else:
            suffix = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            name = f"{self.name}-{self.template_hash}-{suffix}"
            owner = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": f"{self.name}-{self.template_hash}",
            }
        owner.update({"controller": True, "uid": _uid(self.namespace.name, name)})
        ports = [
            {"name": pname, "containerPort": number, "protocol": proto}
            for pname, number, proto in self.ports
        ]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace.name,
                "labels": labels,
                "ownerReferences": [owner],
            },
            "spec": {
                "nodeName": node.name,
                "serviceAccountName": self.app,
                "containers": [
                    {
                        "name": self.app,
                        "image": f"registry.example.com/{self.service}/{self.app}:{self.version}",
                        "ports": ports,
                    }
                ],
            },
            "status": {"phase": "Running", "podIP": node.next_pod_ip(), "hostIP": node.ip},
        }


def _uid(*parts: str) -> str:
    digest = hashlib.sha1("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _hash(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(10))


@dataclass
class Cluster:
    """A generated cluster: inventory manifests, policy manifests and the model behind them."""

    pods_requested: int
    policies_requested: int
    seed: int
    np_only: bool
    namespaces: list[Namespace]
    nodes: list[Node]
    deployments: list[Deployment]
    policies: list[Manifest]
    extras: int = 0

    @property
    def pods(self) -> list[Manifest]:
        return [p for d in self.deployments for p in d.pods]

    def inventory(self) -> list[Manifest]:
        apiserver = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "subsets": [
                {
                    "addresses": [{"ip": APISERVER_IP}],
                    "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
                }
            ],
        }
        return [
            *(ns.manifest() for ns in self.namespaces),
            *(n.manifest() for n in self.nodes),
            apiserver,
            *self.pods,
        ]

    def manifests(self) -> list[Manifest]:
        return [*self.inventory(), *self.policies]

    def yaml_text(self) -> str:
        return dump_yaml(self.manifests())

    def write_dir(self, directory: Path, inventory_kinds: frozenset[str] | None = None) -> Path:
        """Write inventory.yaml and policies.yaml into ``directory``; returns it."""
        directory.mkdir(parents=True, exist_ok=True)
        inventory = self.inventory()
        if inventory_kinds is not None:
            inventory = [m for m in inventory if m["kind"] in inventory_kinds]
        (directory / "inventory.yaml").write_text(dump_yaml(inventory), encoding="utf-8")
        (directory / "policies.yaml").write_text(dump_yaml(self.policies), encoding="utf-8")
        return directory

    def counts(self) -> dict[str, int]:
        kinds = Counter(p["kind"] for p in self.policies)
        label_sets = {
            (d.namespace.name, tuple(sorted(p["metadata"]["labels"].items())))
            for d in self.deployments
            for p in d.pods
        }
        return {
            "pods": sum(len(d.pods) for d in self.deployments),
            "deployments": len(self.deployments),
            "distinct_pod_label_sets": len(label_sets),
            "namespaces": len(self.namespaces),
            "nodes": len(self.nodes),
            "policies": len(self.policies),
            **{f"policies.{k}": v for k, v in sorted(kinds.items())},
        }

    def namespace(self, name: str) -> Namespace:
        return next(ns for ns in self.namespaces if ns.name == name)

    # ---- objects for incremental-update benchmarks -------------------------

    def extra_pod(self, rng: random.Random, new_identity: bool) -> tuple[Manifest, Namespace]:
        """A new pod of an existing deployment, or (new_identity) of a new canary version."""
        dep = rng.choice([d for d in self.deployments if not d.namespace.system])
        node = min(self.nodes, key=lambda n: n.allocated)
        self.extras += 1
        pod = dep.pod_manifest(10_000 + self.extras, node, rng)
        if new_identity:
            pod["metadata"]["labels"]["version"] = f"canary-{self.extras}"
            pod["metadata"]["name"] = f"{dep.name}-canary-{self.extras}"
        return pod, dep.namespace

    def extra_policy(self, rng: random.Random, kind: str = "NetworkPolicy") -> Manifest:
        """One more policy for an existing app (name prefixed 'bench-added-')."""
        self.extras += 1
        dep = rng.choice([d for d in self.deployments if not d.namespace.system])
        builder = _PolicyBuilder(self, rng)
        if kind == "NetworkPolicy":
            policy = builder.np_ingress_cross_ns(dep)
        else:
            policy = builder.cnp_egress(dep)
        policy["metadata"]["name"] = f"bench-added-{self.extras}"
        return policy


def dump_yaml(objects: list[Manifest]) -> str:
    return str(yaml.dump_all(objects, Dumper=_DUMPER, sort_keys=False, width=1000))


# ---- inventory ----------------------------------------------------------------


def _weighted(rng: random.Random, items: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _make_namespaces(rng: random.Random, count: int) -> list[Namespace]:
    out = [
        Namespace("kube-system", {NS_NAME: "kube-system"}, "platform", "prod", True),
        Namespace(
            "monitoring",
            {NS_NAME: "monitoring", "team": "platform", "env": "prod"},
            "platform",
            "prod",
            True,
        ),
        Namespace(
            "ingress-nginx",
            {NS_NAME: "ingress-nginx", "team": "platform", "env": "prod"},
            "platform",
            "prod",
            True,
        ),
    ]
    seen: Counter[str] = Counter()
    for _ in range(count):
        team = rng.choice(TEAMS)
        env = _weighted(rng, ENVS)
        base = f"{team}-{env}"
        seen[base] += 1
        name = base if seen[base] == 1 else f"{base}-{seen[base]}"
        labels = {NS_NAME: name, "team": team, "env": env}
        if team == "payments":
            labels["compliance"] = "pci"
        if rng.random() < 0.3:
            labels["istio-injection"] = "disabled"
        out.append(Namespace(name, labels, team, env))
    return out


def _system_deployments(namespaces: list[Namespace], rng: random.Random) -> list[Deployment]:
    ks, mon, ing = namespaces[0], namespaces[1], namespaces[2]
    specs = [
        (
            ks,
            "coredns",
            "kube-dns",
            "dns",
            (("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")),
            2,
        ),
        (ks, "metrics-server", "metrics-server", "system", (("https", 4443, "TCP"),), 1),
        (mon, "prometheus", "prometheus", "monitoring", (("web", 9090, "TCP"),), 1),
        (mon, "grafana", "grafana", "monitoring", (("http", 3000, "TCP"),), 1),
        (
            ing,
            "ingress-nginx-controller",
            "ingress-nginx",
            "ingress",
            (("http", 80, "TCP"), ("https", 443, "TCP")),
            2,
        ),
    ]
    out = []
    for ns, name, app, tier, ports, replicas in specs:
        dep = Deployment(ns, name, app, app, tier, "v1", ports, replicas, False, _hash(rng))
        if name == "coredns":
            dep.extra_labels["k8s-app"] = "kube-dns"  # what DNS policies select, as in kubeadm
        out.append(dep)
    return out


def _app_deployments(
    ns: Namespace, budget: int, rng: random.Random, used: Counter[tuple[str, str]]
) -> list[Deployment]:
    out: list[Deployment] = []
    weights = [a.weight for a in ARCHETYPES]
    services = rng.sample(SERVICES, k=min(len(SERVICES), max(2, budget // 25)))
    while budget > 0:
        service = rng.choice(services)
        arch = rng.choices(ARCHETYPES, weights=weights)[0]
        app = f"{service}-{arch.suffix}"
        used[(ns.name, app)] += 1
        if used[(ns.name, app)] > 1:
            app = f"{app}-{used[(ns.name, app)]}"
        replicas = min(budget, rng.randint(*arch.replicas))
        out.append(
            Deployment(
                ns,
                app,
                app,
                service,
                arch.tier,
                "v1",
                arch.ports,
                replicas,
                arch.stateful,
                _hash(rng),
            )
        )
        budget -= replicas
        if budget > 0 and not arch.stateful and replicas >= 3 and rng.random() < 0.15:
            # A canary of the next version: same app, another identity.
            out.append(
                Deployment(
                    ns,
                    f"{app}-canary",
                    app,
                    service,
                    arch.tier,
                    "v2",
                    arch.ports,
                    1,
                    False,
                    _hash(rng),
                )
            )
            budget -= 1
    return out


def _make_inventory(
    rng: random.Random, pods: int
) -> tuple[list[Namespace], list[Node], list[Deployment]]:
    n_ns = max(6, pods // 100)
    namespaces = _make_namespaces(rng, n_ns)
    n_nodes = max(3, -(-pods // PODS_PER_NODE))
    zones = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
    nodes = [
        Node(i, f"node-{i:04d}", f"10.0.{i // 250}.{i % 250 + 4}", zones[i % 3])
        for i in range(n_nodes)
    ]
    deployments = _system_deployments(namespaces, rng)
    remaining = pods - sum(d.replicas for d in deployments)
    app_namespaces = [ns for ns in namespaces if not ns.system]
    weights = [rng.lognormvariate(0, 0.5) for _ in app_namespaces]
    total_w = sum(weights)
    budgets = [int(remaining * w / total_w) for w in weights]
    budgets[0] += remaining - sum(budgets)
    used: Counter[tuple[str, str]] = Counter()
    for ns, budget in zip(app_namespaces, budgets, strict=True):
        deployments.extend(_app_deployments(ns, budget, rng, used))
    # Spread replicas over nodes the way a scheduler with spreading would.
    order = list(range(n_nodes))
    rng.shuffle(order)
    k = 0
    for dep in deployments:
        for i in range(dep.replicas):
            node = nodes[order[k % n_nodes]]
            k += 1
            dep.pods.append(dep.pod_manifest(i, node, rng))
    return namespaces, nodes, deployments


# ---- policies -----------------------------------------------------------------


def _sel(labels: dict[str, str]) -> dict[str, Any]:
    return {"matchLabels": dict(labels)}


def _np(name: str, ns: str, spec: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": NP_API,
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def _cnp(name: str, ns: str | None, spec: dict[str, Any]) -> Manifest:
    meta: dict[str, Any] = {"name": name}
    kind = "CiliumClusterwideNetworkPolicy"
    if ns is not None:
        meta["namespace"] = ns
        kind = "CiliumNetworkPolicy"
    return {"apiVersion": CILIUM_API, "kind": kind, "metadata": meta, "spec": spec}


def _admin(kind: str, name: str, spec: dict[str, Any]) -> Manifest:
    return {"apiVersion": ADMIN_API, "kind": kind, "metadata": {"name": name}, "spec": spec}


_DNS_PEER = {
    "namespaceSelector": _sel({NS_NAME: "kube-system"}),
    "podSelector": _sel({"k8s-app": "kube-dns"}),
}
_DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


class _PolicyBuilder:
    """Policy templates; every method returns one manifest."""

    def __init__(self, cluster: Cluster, rng: random.Random) -> None:
        self.c = cluster
        self.rng = rng
        self.names: Counter[str] = Counter()
        self.by_ns: dict[str, list[Deployment]] = {}
        for d in cluster.deployments:
            self.by_ns.setdefault(d.namespace.name, []).append(d)
        self.app_namespaces = [ns for ns in cluster.namespaces if not ns.system]

    def name(self, base: str) -> str:
        self.names[base] += 1
        n = self.names[base]
        return base if n == 1 else f"{base}-{n}"

    def peers_in(self, dep: Deployment, tiers: tuple[str, ...]) -> list[Deployment]:
        return [d for d in self.by_ns[dep.namespace.name] if d.tier in tiers and d.app != dep.app]

    def port_ref(self, dep: Deployment, named: bool) -> dict[str, Any]:
        pname, number, proto = self.rng.choice(dep.ports)
        return {"protocol": proto, "port": pname if named else number}

    def other_ns(self, dep: Deployment) -> Namespace:
        return self.rng.choice([ns for ns in self.app_namespaces if ns is not dep.namespace])

    # ---- per-namespace NetworkPolicies ----

    def np_default_deny(self, ns: Namespace, egress: bool) -> Manifest:
        types = ["Ingress", "Egress"] if egress else ["Ingress"]
        name = "default-deny-all" if egress else "default-deny-ingress"
        return _np(name, ns.name, {"podSelector": {}, "policyTypes": types})

    def np_allow_dns(self, ns: Namespace) -> Manifest:
        spec = {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [_DNS_PEER], "ports": _DNS_PORTS}],
        }
        return _np("allow-dns", ns.name, spec)

    def np_allow_monitoring(self, ns: Namespace) -> Manifest:
        spec = {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": _sel({NS_NAME: "monitoring"})}],
                    "ports": [{"protocol": "TCP", "port": "metrics"}],
                }
            ],
        }
        return _np("allow-monitoring", ns.name, spec)

    def np_allow_ingress_controller(self, ns: Namespace) -> Manifest:
        spec = {
            "podSelector": _sel({"tier": "frontend"}),
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": _sel({NS_NAME: "ingress-nginx"}),
                            "podSelector": _sel({"app": "ingress-nginx"}),
                        }
                    ],
                    "ports": [{"port": "http"}, {"port": "https"}],
                }
            ],
        }
        return _np("allow-ingress-controller", ns.name, spec)

    def np_allow_same_namespace(self, ns: Namespace) -> Manifest:
        spec = {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}
        return _np("allow-same-namespace", ns.name, spec)

    # ---- per-app NetworkPolicies ----

    def np_ingress_same_ns(self, dep: Deployment) -> Manifest:
        callers = self.peers_in(dep, ("frontend", "backend", "worker"))
        peers: list[dict[str, Any]] = []
        for d in self.rng.sample(callers, k=min(2, len(callers))):
            peers.append({"podSelector": _sel({"app": d.app})})
        if not peers or self.rng.random() < 0.4:
            expr = {"key": "tier", "operator": "In", "values": ["frontend", "backend"]}
            peers.append({"podSelector": {"matchExpressions": [expr]}})
        ports = [self.port_ref(dep, named=self.rng.random() < 0.5)]
        spec = {
            "podSelector": _sel({"app": dep.app}),
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers, "ports": ports}],
        }
        return _np(self.name(f"{dep.app}-ingress"), dep.namespace.name, spec)

    def np_ingress_cross_ns(self, dep: Deployment) -> Manifest:
        other = self.other_ns(dep)
        if self.rng.random() < 0.5:
            peer = {
                "namespaceSelector": _sel({"team": other.team}),
                "podSelector": _sel({"tier": self.rng.choice(["frontend", "backend"])}),
            }
        else:
            names = sorted({other.name, self.other_ns(dep).name})
            expr = {"key": NS_NAME, "operator": "In", "values": names}
            peer = {"namespaceSelector": {"matchExpressions": [expr]}}
        spec = {
            "podSelector": _sel({"app": dep.app, "version": dep.version}),
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [peer], "ports": [self.port_ref(dep, named=False)]}],
        }
        return _np(self.name(f"{dep.app}-from-{other.team}"), dep.namespace.name, spec)

    def np_db(self, dep: Deployment) -> Manifest:
        _, number, _ = dep.ports[0]
        ports: list[dict[str, Any]] = [{"protocol": "TCP", "port": number}]
        if self.rng.random() < 0.5:
            ports = [{"protocol": "TCP", "port": number, "endPort": number + 7}]
        spec = {
            "podSelector": _sel({"app": dep.app}),
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"podSelector": _sel({"tier": "backend"})}], "ports": ports},
                {"from": [{"podSelector": _sel({"tier": "worker"})}], "ports": ports},
            ],
        }
        return _np(self.name(f"{dep.app}-clients"), dep.namespace.name, spec)

    def np_egress(self, dep: Deployment) -> Manifest:
        rules: list[dict[str, Any]] = [{"to": [_DNS_PEER], "ports": _DNS_PORTS}]
        for d in self.peers_in(dep, ("db", "cache", "queue"))[:2]:
            rules.append(
                {"to": [{"podSelector": _sel({"app": d.app})}], "ports": [{"port": d.ports[0][0]}]}
            )
        rules.append(
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE)}}],
                "ports": [{"protocol": "TCP", "port": 443}],
            }
        )
        spec = {"podSelector": _sel({"app": dep.app}), "policyTypes": ["Egress"], "egress": rules}
        return _np(self.name(f"{dep.app}-egress"), dep.namespace.name, spec)

    def np_ingress_lb(self, dep: Deployment) -> Manifest:
        spec = {
            "podSelector": _sel({"app": dep.app}),
            "ingress": [
                {
                    "from": [
                        {"ipBlock": {"cidr": EXTERNAL_LB}},
                        {"ipBlock": {"cidr": "198.51.100.0/24", "except": ["198.51.100.128/25"]}},
                    ],
                    "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}],
                }
            ],
        }
        return _np(self.name(f"{dep.app}-from-lb"), dep.namespace.name, spec)

    def np_for_app(self, dep: Deployment) -> Manifest:
        if dep.tier in ("db", "cache", "queue"):
            return self.np_db(dep)
        if dep.tier == "frontend" and self.rng.random() < 0.3:
            return self.np_ingress_lb(dep)
        choice = self.rng.random()
        if choice < 0.45:
            return self.np_ingress_same_ns(dep)
        if choice < 0.8:
            return self.np_ingress_cross_ns(dep)
        return self.np_egress(dep)

    # ---- CiliumNetworkPolicies ----

    def cnp_l4(self, dep: Deployment) -> Manifest:
        callers = self.peers_in(dep, ("frontend", "backend"))
        from_eps: list[dict[str, Any]] = [
            _sel({"app": d.app}) for d in self.rng.sample(callers, k=min(2, len(callers)))
        ]
        other = self.other_ns(dep)
        from_eps.append(_sel({CILIUM_NS: other.name, "tier": "frontend"}))
        pname, number, proto = self.rng.choice(dep.ports)
        port = {"port": pname if self.rng.random() < 0.3 else str(number), "protocol": proto}
        rules: list[dict[str, Any]] = [
            {"fromEndpoints": from_eps, "toPorts": [{"ports": [port]}]},
        ]
        if self.rng.random() < 0.4:
            rules.append(
                {
                    "fromEntities": ["host", "remote-node"],
                    "toPorts": [{"ports": [{"port": "9090", "protocol": "TCP"}]}],
                }
            )
        spec = {"endpointSelector": _sel({"app": dep.app}), "ingress": rules}
        return _cnp(self.name(f"{dep.app}-l4"), dep.namespace.name, spec)

    def cnp_l7(self, dep: Deployment) -> Manifest:
        http = [
            {"method": "GET", "path": "/api/v1/.*"},
            {"method": "POST", "path": "/api/v1/orders", "headers": ["X-Tenant: acme"]},
        ]
        spec = {
            "endpointSelector": _sel({"app": dep.app}),
            "ingress": [
                {
                    "fromEndpoints": [_sel({"tier": "frontend"})],
                    "toPorts": [
                        {"ports": [{"port": "8080", "protocol": "TCP"}], "rules": {"http": http}}
                    ],
                }
            ],
        }
        return _cnp(self.name(f"{dep.app}-l7"), dep.namespace.name, spec)

    def cnp_egress(self, dep: Deployment) -> Manifest:
        rules: list[dict[str, Any]] = [
            {
                "toEndpoints": [_sel({CILIUM_NS: "kube-system", "k8s:k8s-app": "kube-dns"})],
                "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}]}],
            },
            {
                "toCIDRSet": [{"cidr": "0.0.0.0/0", "except": list(PRIVATE)}],
                "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}],
            },
            {"toEntities": ["kube-apiserver"]},
        ]
        for d in self.peers_in(dep, ("db", "cache", "queue"))[:2]:
            _, number, proto = d.ports[0]
            rules.append(
                {
                    "toEndpoints": [_sel({"app": d.app})],
                    "toPorts": [{"ports": [{"port": str(number), "protocol": proto}]}],
                }
            )
        spec = {"endpointSelector": _sel({"app": dep.app}), "egress": rules}
        return _cnp(self.name(f"{dep.app}-egress"), dep.namespace.name, spec)

    def cnp_deny(self, dep: Deployment) -> Manifest:
        dev = [ns for ns in self.app_namespaces if ns.env == "dev"] or self.app_namespaces
        spec = {
            "endpointSelector": _sel({"tier": dep.tier}),
            "ingress": [
                {
                    "fromEntities": ["cluster"],
                    "toPorts": [{"ports": [{"port": "8000", "endPort": 9999, "protocol": "TCP"}]}],
                }
            ],
            "ingressDeny": [{"fromEndpoints": [_sel({CILIUM_NS: self.rng.choice(dev).name})]}],
            "egressDeny": [{"toCIDR": ["169.254.169.254/32"]}],
            "egress": [{"toEntities": ["cluster", "world"]}],
        }
        return _cnp(self.name(f"{dep.tier}-guard"), dep.namespace.name, spec)

    def cnp_for_app(self, dep: Deployment) -> Manifest:
        r = self.rng.random()
        if dep.tier in ("frontend", "backend") and r < 0.06:
            return self.cnp_l7(dep)
        if r < 0.6:
            return self.cnp_l4(dep)
        if r < 0.9:
            return self.cnp_egress(dep)
        return self.cnp_deny(dep)

    # ---- CiliumClusterwideNetworkPolicies ----

    def ccnp(self, i: int) -> Manifest:
        if i == 0:
            spec = {
                "endpointSelector": _sel({CILIUM_NS: "kube-system", "k8s-app": "kube-dns"}),
                "ingress": [
                    {
                        "fromEntities": ["cluster"],
                        "toPorts": [
                            {
                                "ports": [
                                    {"port": "53", "protocol": "UDP"},
                                    {"port": "53", "protocol": "TCP"},
                                ]
                            }
                        ],
                    }
                ],
            }
            return _cnp("allow-cluster-dns", None, spec)
        if i == 1:
            spec = {
                "endpointSelector": {},
                "enableDefaultDeny": {"egress": False, "ingress": False},
                "egressDeny": [{"toCIDR": ["169.254.169.254/32"]}],
            }
            return _cnp("block-cloud-metadata", None, spec)
        if i == 2:
            spec = {
                "nodeSelector": _sel({"node-role.kubernetes.io/worker": ""}),
                "ingress": [
                    {"fromEntities": ["cluster", "remote-node", "health"]},
                    {
                        "fromCIDR": ["192.0.2.0/24"],
                        "toPorts": [{"ports": [{"port": "22", "protocol": "TCP"}]}],
                    },
                ],
            }
            return _cnp("host-firewall", None, spec)
        team = TEAMS[i % len(TEAMS)]
        if i % 3 == 0:
            spec = {
                "endpointSelector": _sel({CILIUM_NS_LABEL + "env": "prod"}),
                "enableDefaultDeny": {"ingress": False},
                "ingressDeny": [{"fromEndpoints": [_sel({CILIUM_NS_LABEL + "env": "dev"})]}],
            }
            return _cnp(self.name("prod-deny-from-dev"), None, spec)
        tier = ("db", "cache", "queue")[i % 3]
        spec = {
            "endpointSelector": _sel({CILIUM_NS_LABEL + "team": team, "tier": tier}),
            "ingress": [
                {
                    "fromEndpoints": [_sel({CILIUM_NS_LABEL + "team": team})],
                    "toPorts": [{"ports": [{"port": "1024", "endPort": 65535, "protocol": "TCP"}]}],
                },
                {"fromEndpoints": [_sel({CILIUM_NS: "monitoring", "app": "prometheus"})]},
            ],
        }
        return _cnp(self.name(f"{team}-{tier}-team-only"), None, spec)

    # ---- AdminNetworkPolicies ----

    def anp(self, i: int) -> Manifest:
        ns_sel = {"namespaces": _sel({NS_NAME: "kube-system"})}
        if i == 0:
            spec = {
                "priority": 5,
                "subject": ns_sel,
                "ingress": [
                    {"name": "kube-system-own", "action": "Pass", "from": [{"namespaces": {}}]}
                ],
            }
            return _admin("AdminNetworkPolicy", "pass-kube-system", spec)
        if i == 1:
            spec = {
                "priority": 10,
                "subject": {"namespaces": _sel({"env": "prod"})},
                "ingress": [
                    {
                        "name": "no-dev",
                        "action": "Deny",
                        "from": [{"namespaces": _sel({"env": "dev"})}],
                    }
                ],
            }
            return _admin("AdminNetworkPolicy", "deny-dev-to-prod", spec)
        if i == 2:
            spec = {
                "priority": 20,
                "subject": {"namespaces": {}},
                "ingress": [
                    {
                        "name": "scrape",
                        "action": "Allow",
                        "from": [{"namespaces": _sel({NS_NAME: "monitoring"})}],
                        "ports": [
                            {"namedPort": "metrics"},
                            {"portNumber": {"port": 9090, "protocol": "TCP"}},
                        ],
                    }
                ],
            }
            return _admin("AdminNetworkPolicy", "allow-monitoring", spec)
        if i == 3:
            spec = {
                "priority": 30,
                "subject": {"namespaces": {}},
                "egress": [
                    {
                        "name": "metadata",
                        "action": "Deny",
                        "to": [{"networks": ["169.254.169.254/32"]}],
                    }
                ],
            }
            return _admin("AdminNetworkPolicy", "deny-cloud-metadata", spec)
        team = TEAMS[i % len(TEAMS)]
        tier = ("db", "cache")[i % 2]
        action = "Deny" if i % 2 == 0 else "Pass"
        spec = {
            "priority": 100 + i,
            "subject": {
                "pods": {
                    "namespaceSelector": _sel({"team": team}),
                    "podSelector": _sel({"tier": tier}),
                }
            },
            "ingress": [
                {
                    "name": "own-team",
                    "action": "Allow",
                    "from": [{"namespaces": _sel({"team": team})}],
                    "ports": [{"portRange": {"protocol": "TCP", "start": 3000, "end": 12000}}],
                },
                {"name": "others", "action": action, "from": [{"namespaces": {}}]},
            ],
        }
        return _admin("AdminNetworkPolicy", self.name(f"{team}-{tier}-guard"), spec)

    def banp(self) -> Manifest:
        spec = {
            "subject": {"namespaces": {}},
            "ingress": [
                {"name": "no-dev", "action": "Deny", "from": [{"namespaces": _sel({"env": "dev"})}]}
            ],
            "egress": [
                {
                    "name": "dns",
                    "action": "Allow",
                    "to": [{"namespaces": _sel({NS_NAME: "kube-system"})}],
                }
            ],
        }
        return _admin("BaselineAdminNetworkPolicy", "default", spec)


def _namespace_policies(b: _PolicyBuilder, rng: random.Random, budget: int) -> Iterator[Manifest]:
    """Per-namespace baseline NetworkPolicies, at most ``budget`` of them."""
    made = 0
    for ns in b.app_namespaces:
        batch: list[Callable[[], Manifest]] = []
        r = rng.random()
        if r < 0.25:
            batch += [lambda ns=ns: b.np_default_deny(ns, True), lambda ns=ns: b.np_allow_dns(ns)]
        elif r < 0.75:
            batch.append(lambda ns=ns: b.np_default_deny(ns, False))
        if batch and rng.random() < 0.6:
            batch.append(lambda ns=ns: b.np_allow_monitoring(ns))
        if batch and rng.random() < 0.5:
            batch.append(lambda ns=ns: b.np_allow_ingress_controller(ns))
        if not batch and rng.random() < 0.2:
            batch.append(lambda ns=ns: b.np_allow_same_namespace(ns))
        for make in batch:
            if made >= budget:
                return
            made += 1
            yield make()


def _make_policies(cluster: Cluster, rng: random.Random) -> list[Manifest]:
    total = cluster.policies_requested
    b = _PolicyBuilder(cluster, rng)
    if cluster.np_only:
        n_anp = n_banp = n_ccnp = n_cnp = 0
    else:
        n_banp = 1
        n_anp = max(4, total // 100)
        n_ccnp = max(3, round(total * 0.05))
        n_cnp = round(total * 0.33)
    n_np = total - n_banp - n_anp - n_ccnp - n_cnp
    out: list[Manifest] = []
    if n_banp:
        out.append(b.banp())
    out += [b.anp(i) for i in range(n_anp)]
    out += [b.ccnp(i) for i in range(n_ccnp)]
    out += list(_namespace_policies(b, rng, n_np // 3))
    apps = [d for d in cluster.deployments if not d.namespace.system]
    rng.shuffle(apps)
    k = 0
    while len(out) < n_banp + n_anp + n_ccnp + n_np:
        out.append(b.np_for_app(apps[k % len(apps)]))
        k += 1
    for i in range(n_cnp):
        out.append(b.cnp_for_app(apps[(k + i) % len(apps)]))
    assert len(out) == total, (len(out), total)
    return out


def generate(pods: int, policies: int, seed: int = 7, np_only: bool = False) -> Cluster:
    """A cluster of ``pods`` pods and ``policies`` policies; same seed, same cluster.

    ``np_only`` keeps the cluster and replaces the policy mix by NetworkPolicies.
    """
    inv_rng = random.Random(f"netwarden-bench-inventory-{seed}")
    namespaces, nodes, deployments = _make_inventory(inv_rng, pods)
    cluster = Cluster(pods, policies, seed, np_only, namespaces, nodes, deployments, [])
    pol_rng = random.Random(f"netwarden-bench-policies-{seed}-{'np' if np_only else 'mixed'}")
    cluster.policies = _make_policies(cluster, pol_rng)
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--policies", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--np-only", action="store_true", help="NetworkPolicies only")
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    args = parser.parse_args()
    cluster = generate(args.pods, args.policies, args.seed, args.np_only)
    cluster.write_dir(args.out)
    for key, value in cluster.counts().items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
