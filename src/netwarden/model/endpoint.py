"""Endpoints (pods, nodes, the world) and the Cilium identity labels derived from them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property

from netwarden.model.labels import EMPTY_LABELS, Labels
from netwarden.model.ports import NamedPort

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cilium identity label keys (source prefix "k8s:" is implied for these).
NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."
CLUSTER_LABEL = "io.cilium.k8s.policy.cluster"
SERVICE_ACCOUNT_LABEL = "io.cilium.k8s.policy.serviceaccount"
K8S_NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DEFAULT_CLUSTER = "default"


class EndpointKind(Enum):
    """What an endpoint is, named after Cilium's reserved identities where one applies."""

    POD = "pod"
    HOST = "host"  # a node; "host" or "remote-node" depending on the observer
    WORLD = "world"
    KUBE_APISERVER = "kube-apiserver"
    HEALTH = "health"
    INIT = "init"
    UNMANAGED = "unmanaged"
    INGRESS = "ingress"


# Numeric identities Cilium reserves (pkg/identity/numericidentity.go).
RESERVED_IDENTITIES: dict[str, int] = {
    "host": 1,
    "world": 2,
    "unmanaged": 3,
    "health": 4,
    "init": 5,
    "remote-node": 6,
    "kube-apiserver": 7,
    "ingress": 8,
    "world-ipv4": 9,
    "world-ipv6": 10,
    "overlay-to-encrypt": 11,
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a connection as the policy engine sees it."""

    kind: EndpointKind
    cluster: str = DEFAULT_CLUSTER
    ip: IPAddress | None = None
    namespace: str | None = None
    name: str | None = None
    labels: Labels = EMPTY_LABELS
    namespace_labels: Labels = EMPTY_LABELS
    node_name: str | None = None
    named_ports: tuple[NamedPort, ...] = ()
    service_account: str | None = None
    is_apiserver: bool = False
    dns_name: str | None = None

    @property
    def is_cluster_endpoint(self) -> bool:
        return self.kind is not EndpointKind.WORLD

    def display(self) -> str:
        if self.kind is EndpointKind.POD:
            return f"{self.namespace}/{self.name}"
        if self.kind is EndpointKind.HOST:
            return f"node/{self.name}" if self.name else f"host/{self.ip}"
        return str(self.ip) if self.ip is not None else self.kind.value


@dataclass(frozen=True, slots=True)
class IdentityKey:
    """Everything policy selection can observe about an endpoint except its IP.

    Endpoints with equal keys are indistinguishable to label-based selection,
    like pods sharing a Cilium security identity.
    """

    kind: EndpointKind
    cluster: str
    namespace: str | None
    labels: Labels
    namespace_labels: Labels
    service_account: str | None
    is_apiserver: bool

    @staticmethod
    def of(ep: Endpoint) -> IdentityKey:
        return IdentityKey(
            ep.kind,
            ep.cluster,
            ep.namespace,
            ep.labels,
            ep.namespace_labels,
            ep.service_account,
            ep.is_apiserver,
        )


@dataclass(frozen=True)
class Identity:
    """A security identity: the label view Cilium selectors match against."""

    key: IdentityKey
    cilium_labels: Labels = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cilium_labels", _cilium_labels(self.key))

    @cached_property
    def label_strings(self) -> tuple[str, ...]:
        """Labels in Hubble's ``source:key=value`` form."""
        out = []
        for k, v in self.cilium_labels.sorted_items():
            if k.startswith("reserved:"):
                out.append(k)
            else:
                out.append(f"k8s:{k}={v}")
        return tuple(out)


def _cilium_labels(key: IdentityKey) -> Labels:
    if key.kind is EndpointKind.POD:
        data = dict(key.labels)
        data[NAMESPACE_LABEL] = key.namespace or ""
        for k, v in key.namespace_labels.items():
            data[NAMESPACE_LABELS_PREFIX + k] = v
        data[CLUSTER_LABEL] = key.cluster
        if key.service_account:
            data[SERVICE_ACCOUNT_LABEL] = key.service_account
        return Labels(data)
    reserved = {f"reserved:{key.kind.value}": ""}
    if key.kind is EndpointKind.HOST:
        reserved.update(dict(key.labels))
    if key.is_apiserver:
        reserved["reserved:kube-apiserver"] = ""
    return Labels(reserved)
