"""All clusters' endpoints and policies, indexed for probes and flows."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator

from netwarden.model.endpoint import DEFAULT_CLUSTER, Endpoint, EndpointKind, IPAddress
from netwarden.model.inventory import CiliumConfig, ClusterInventory
from netwarden.model.rule import NormalizedPolicy


class UnknownEndpoint(ValueError):
    pass


class World:
    """Inventory of every cluster plus the policies in force, read-only."""

    def __init__(
        self, clusters: dict[str, ClusterInventory], policies: list[NormalizedPolicy]
    ) -> None:
        self.clusters = dict(clusters) or {DEFAULT_CLUSTER: ClusterInventory()}
        self.policies = list(policies)
        self._pods: dict[tuple[str, str, str], Endpoint] = {}
        self._by_ip: dict[IPAddress, Endpoint] = {}
        for inv in self.clusters.values():
            for node in inv.nodes:
                if node.ip is not None:
                    self._by_ip.setdefault(node.ip, node)
            for pod in inv.pods:
                self._pods[(pod.cluster, pod.namespace or "", pod.name or "")] = pod
                if pod.ip is not None and pod.kind is EndpointKind.POD:
                    self._by_ip.setdefault(pod.ip, pod)

    @property
    def default_cluster(self) -> str:
        return next(iter(self.clusters))

    def config(self, cluster: str) -> CiliumConfig:
        inv = self.clusters.get(cluster)
        return inv.config if inv is not None else CiliumConfig()

    def endpoints(self) -> Iterator[Endpoint]:
        yield from self._pods.values()
        seen = set()
        for inv in self.clusters.values():
            for node in inv.nodes:
                if node.name not in seen:
                    seen.add(node.name)
                    yield node

    def pods(self) -> list[Endpoint]:
        return list(self._pods.values())

    def pod(self, cluster: str | None, namespace: str, name: str) -> Endpoint | None:
        if cluster is not None:
            return self._pods.get((cluster, namespace, name))
        for (_, ns, pod_name), ep in self._pods.items():
            if ns == namespace and pod_name == name:
                return ep
        return None

    def by_ip(self, ip: IPAddress, dns_name: str | None = None) -> Endpoint:
        ep = self._by_ip.get(ip)
        if ep is not None:
            return ep
        for inv in self.clusters.values():
            if ip in inv.apiserver_ips:
                return Endpoint(EndpointKind.KUBE_APISERVER, inv.name, ip, is_apiserver=True)
        return Endpoint(EndpointKind.WORLD, self.default_cluster, ip, dns_name=dns_name)

    def resolve(self, text: str, dns_name: str | None = None) -> Endpoint:
        """``ns/pod``, ``cluster:ns/pod`` or an IP literal."""
        text = text.strip()
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            pass
        else:
            ep = self.by_ip(ip, dns_name)
            if dns_name and ep.kind is EndpointKind.WORLD:
                return dataclasses.replace(ep, dns_name=dns_name)
            return ep
        cluster, _, rest = text.rpartition(":")
        namespace, sep, name = rest.partition("/")
        if not sep or not namespace or not name:
            raise UnknownEndpoint(f"{text!r} is neither namespace/pod nor an IP address")
        pod = self.pod(cluster or None, namespace, name)
        if pod is None:
            where = f" in cluster {cluster}" if cluster else ""
            raise UnknownEndpoint(f"no pod {namespace}/{name}{where} in the inputs")
        return pod
