"""A topology made concrete: pods with names, IPs, nodes and Cilium identities.

Everything is a pure function of (topology, cluster name): the same inputs give the
same pod names, IPs and identity numbers, and two clusters with different names get
different pod networks (hashed from the name unless the topology sets ``podCIDR``).
Identity labels are the identity-relevant labels Cilium keeps (its default label
filter), rendered by the engine's :class:`~netwarden.model.endpoint.Identity`; pods
with equal labels share one numeric identity, allocated from 256 upwards.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field

from netwarden.agent.backend import Inventory, NodeInfo, PodInfo, ServiceInfo
from netwarden.agent.topology import PortDef, Topology, TopologyError, WorkloadDef
from netwarden.model.diagnostics import Diagnostic, Severity
from netwarden.model.endpoint import Endpoint, EndpointKind, Identity, IdentityKey
from netwarden.model.inventory import ClusterInventory
from netwarden.model.labels import Labels
from netwarden.model.ports import NamedPort, Protocol

CILIUM_VERSION = "1.19.4"
FIRST_IDENTITY = 256
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generated-name characters
# Cilium's default identity label filter (pkg/labelsfilter): excluded key prefixes...
_EXCLUDE = re.compile(
    r"^(io\.kubernetes|kubernetes\.io|statefulset\.kubernetes\.io/pod-name"
    r"|apps\.kubernetes\.io/pod-index|batch\.kubernetes\.io/job-completion-index"
    r"|batch\.kubernetes\.io/controller-uid|.*beta\.kubernetes\.io|k8s\.io"
    r"|pod-template-generation|pod-template-hash|controller-revision-hash|controller-uid"
    r"|annotation.*|etcd_node|topology\.kubernetes\.io)"
)
# ... and included ones, which win when longer than the exclusion that matched.
_INCLUDE = re.compile(r"^(app\.kubernetes\.io|io\.cilium\.k8s\.policy)")

COREDNS = WorkloadDef(
    namespace="kube-system",
    name="coredns",
    kind="Deployment",
    replicas=2,
    labels={"k8s-app": "kube-dns"},
    service_account="coredns",
    ports=(
        PortDef(53, Protocol.UDP, "dns"),
        PortDef(53, Protocol.TCP, "dns-tcp"),
        PortDef(9153, Protocol.TCP, "metrics"),
    ),
    service=False,
)
KUBE_DNS_IP = "10.96.0.10"


def identity_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels Cilium's default filter keeps for the identity."""
    out = {}
    for key, value in labels.items():
        excluded = _EXCLUDE.match(key)
        if excluded is not None:
            included = _INCLUDE.match(key)
            if included is None or len(included.group(1)) <= len(excluded.group(1)):
                continue
        out[key] = value
    return out


def stable_hash(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest()[:8], "big")


def generated_suffix(length: int, *parts: str) -> str:
    number = stable_hash(*parts)
    chars = []
    for _ in range(length):
        number, rest = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[rest])
    return "".join(chars)


def default_pod_cidr(cluster: str) -> str:
    """A /20 inside 10.0.0.0/8 chosen by the cluster name (4064 choices)."""
    h = stable_hash("pod-cidr", cluster)
    return f"10.{1 + h % 254}.{(h // 254) % 16 * 16}.0/20"


@dataclass(frozen=True, slots=True)
class SimPod:
    info: PodInfo
    endpoint: Endpoint
    identity: int
    identity_labels: tuple[str, ...]
    endpoint_id: int  # Cilium's per-node endpoint ID


@dataclass
class SimInventory:
    cluster: str
    pods: list[SimPod] = field(default_factory=list)
    by_workload: dict[str, list[SimPod]] = field(default_factory=dict)  # "ns/name" -> pods
    workloads: dict[str, WorkloadDef] = field(default_factory=dict)
    nodes: list[NodeInfo] = field(default_factory=list)
    services: list[ServiceInfo] = field(default_factory=list)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)

    def service(self, namespace: str, name: str) -> ServiceInfo | None:
        for svc in self.services:
            if svc.namespace == namespace and svc.name == name:
                return svc
        return None

    def pods_of(self, target: str) -> list[SimPod]:
        """Pods of ``ns/workload``, or of ``ns/service`` (by its selector)."""
        found = self.by_workload.get(target)
        if found:
            return found
        namespace, _, name = target.partition("/")
        svc = self.service(namespace, name)
        if svc is None or not svc.selector:
            return []
        return [
            p
            for p in self.pods
            if p.info.namespace == namespace
            and all(p.info.labels.get(k) == v for k, v in svc.selector.items())
        ]

    def engine_inventory(self) -> ClusterInventory:
        inv = ClusterInventory(self.cluster)
        inv.namespaces = {k: dict(v) for k, v in self.namespaces.items()}
        inv.pods = [p.endpoint for p in self.pods]
        inv.nodes = [
            Endpoint(
                EndpointKind.HOST,
                self.cluster,
                ipaddress.ip_address(n.ip) if n.ip else None,
                None,
                n.name,
                Labels(n.labels),
                node_name=n.name,
            )
            for n in self.nodes
        ]
        return inv

    def inventory(self, supported_kinds: frozenset[str]) -> Inventory:
        return Inventory(
            namespaces={k: dict(v) for k, v in self.namespaces.items()},
            pods=[p.info for p in self.pods],
            nodes=list(self.nodes),
            services=list(self.services),
            cilium_version=CILIUM_VERSION,
            supported_kinds=supported_kinds,
        )


def build_inventory(topo: Topology, cluster: str) -> SimInventory:
    inv = SimInventory(cluster)
    inv.namespaces = {k: dict(v) for k, v in topo.namespaces.items()}
    workloads = list(topo.workloads)
    if not any(w.namespace == "kube-system" and w.name == "coredns" for w in workloads):
        workloads.insert(0, COREDNS)
    inv.nodes = _nodes(topo, cluster)
    blocks = _node_blocks(topo.pod_cidr or default_pod_cidr(cluster), len(inv.nodes))
    next_host = [10] * len(blocks)
    next_endpoint = [100] * len(inv.nodes)
    identities: dict[IdentityKey, int] = {}
    placed = 0
    for w in workloads:
        inv.workloads[f"{w.namespace}/{w.name}"] = w
        pods = []
        for i, (name, labels) in enumerate(_pod_names(w, cluster, len(inv.nodes))):
            node_index = i if w.kind == "DaemonSet" else placed % len(inv.nodes)
            placed += 1
            node = inv.nodes[node_index]
            if i < len(w.pod_ips):
                ip = w.pod_ips[i]
            else:
                block = blocks[node_index % len(blocks)]
                host = next_host[node_index % len(blocks)]
                next_host[node_index % len(blocks)] += 1
                if host >= block.num_addresses - 1:
                    raise TopologyError([_full(block, w)])
                ip = str(block.network_address + host)
            endpoint_id = next_endpoint[node_index]
            next_endpoint[node_index] += 1
            pods.append(_pod(inv, w, name, labels, ip, node, identities, endpoint_id))
        inv.by_workload[f"{w.namespace}/{w.name}"] = pods
        inv.pods.extend(pods)
    inv.services = _services(topo, workloads)
    return inv


def _full(block: ipaddress.IPv4Network, w: WorkloadDef) -> Diagnostic:
    message = f"the pod network {block} of a node is full (workload {w.namespace}/{w.name})"
    return Diagnostic("pod-cidr-full", Severity.ERROR, message, w.location)


def _nodes(topo: Topology, cluster: str) -> list[NodeInfo]:
    h = stable_hash("node-ip", cluster)
    base = f"172.{16 + h % 16}.{(h // 16) % 256}"
    return [
        NodeInfo(
            name=f"{cluster}-worker-{i + 1}",
            ip=f"{base}.{10 + i}",
            labels={
                "kubernetes.io/hostname": f"{cluster}-worker-{i + 1}",
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/zone": f"zone-{'abc'[i % 3]}",
            },
        )
        for i in range(topo.nodes)
    ]


def _node_blocks(cidr: str, nodes: int) -> list[ipaddress.IPv4Network]:
    net = ipaddress.IPv4Network(cidr, strict=False)
    if net.prefixlen >= 24:
        return [net]
    return list(net.subnets(new_prefix=24))[: max(1, nodes)]


def _pod_names(w: WorkloadDef, cluster: str, nodes: int) -> list[tuple[str, dict[str, str]]]:
    labels = dict(w.labels)
    if w.kind == "Pod":
        return [(w.name, labels)]
    if w.kind == "StatefulSet":
        revision = f"{w.name}-{generated_suffix(10, 'sts', w.namespace, w.name)}"
        return [
            (
                f"{w.name}-{i}",
                {
                    **labels,
                    "controller-revision-hash": revision,
                    "statefulset.kubernetes.io/pod-name": f"{w.name}-{i}",
                    "apps.kubernetes.io/pod-index": str(i),
                },
            )
            for i in range(w.replicas)
        ]
    if w.kind == "DaemonSet":
        revision = generated_suffix(10, "ds", w.namespace, w.name)
        extra = {"controller-revision-hash": revision, "pod-template-generation": "1"}
        return [
            (
                f"{w.name}-{generated_suffix(5, cluster, w.namespace, w.name, str(i))}",
                labels | extra,
            )
            for i in range(nodes)
        ]
    template = generated_suffix(10, "rs", w.namespace, w.name)
    return [
        (
            f"{w.name}-{template}-{generated_suffix(5, cluster, w.namespace, w.name, str(i))}",
            {**labels, "pod-template-hash": template},
        )
        for i in range(w.replicas)
    ]


def _pod(
    inv: SimInventory,
    w: WorkloadDef,
    name: str,
    labels: dict[str, str],
    ip: str,
    node: NodeInfo,
    identities: dict[IdentityKey, int],
    endpoint_id: int,
) -> SimPod:
    ns_labels = inv.namespaces.setdefault(w.namespace, {})
    ns_labels.setdefault("kubernetes.io/metadata.name", w.namespace)
    endpoint = Endpoint(
        kind=EndpointKind.POD,
        cluster=inv.cluster,
        ip=ipaddress.ip_address(ip),
        namespace=w.namespace,
        name=name,
        labels=Labels(identity_labels(labels)),
        namespace_labels=Labels(ns_labels),
        node_name=node.name,
        named_ports=tuple(NamedPort(p.name, p.protocol, p.port) for p in w.ports if p.name),
        service_account=w.service_account or "default",
    )
    key = IdentityKey.of(endpoint)
    number = identities.setdefault(key, FIRST_IDENTITY + len(identities))
    ports = [
        {"name": p.name, "containerPort": p.port, "protocol": p.protocol.value} for p in w.ports
    ]
    info = PodInfo(
        namespace=w.namespace,
        name=name,
        labels=labels,
        ip=ip,
        node=node.name,
        workload="" if w.kind == "Pod" else w.name,
        workload_kind="" if w.kind == "Pod" else w.kind,
        ports=ports,
    )
    return SimPod(info, endpoint, number, Identity(key).label_strings, endpoint_id)


def _services(topo: Topology, workloads: list[WorkloadDef]) -> list[ServiceInfo]:
    out = [
        ServiceInfo("default", "kubernetes", {}, "10.96.0.1", [_port(PortDef(443))]),
        ServiceInfo(
            "kube-system",
            "kube-dns",
            {"k8s-app": "kube-dns"},
            KUBE_DNS_IP,
            [_port(p) for p in COREDNS.ports],
        ),
    ]
    taken = {(s.namespace, s.name) for s in out}
    candidates = [(w.namespace, w.name, w.labels, w.ports) for w in workloads if w.service]
    candidates += [(s.namespace, s.name, s.selector, s.ports) for s in topo.services]
    for namespace, name, selector, ports in candidates:
        if (namespace, name) in taken or not ports:
            continue
        taken.add((namespace, name))
        index = len(out) + 8  # 10.96.0.10 is kube-dns
        ip = f"10.96.{index // 250}.{index % 250 + 1}"
        out.append(ServiceInfo(namespace, name, dict(selector), ip, [_port(p) for p in ports]))
    return out


def _port(p: PortDef) -> dict[str, object]:
    return {"name": p.name, "port": p.port, "targetPort": p.port, "protocol": p.protocol.value}
