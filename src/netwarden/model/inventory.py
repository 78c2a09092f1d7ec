"""What a cluster holds besides policies: namespaces, pods, nodes, agent settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from netwarden.model.endpoint import DEFAULT_CLUSTER, Endpoint, IPAddress


class EnforcementMode(Enum):
    """Cilium's ``enable-policy`` agent setting."""

    DEFAULT = "default"
    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class CiliumConfig:
    """Agent settings that change policy semantics (ConfigMap kube-system/cilium-config)."""

    enforcement: EnforcementMode = EnforcementMode.DEFAULT
    # enable-non-default-deny-policies: honour enableDefaultDeny=false.
    non_default_deny_policies: bool = True
    # policy-default-local-cluster: selectors without a cluster label match the local cluster.
    default_local_cluster: bool = True


@dataclass
class ClusterInventory:
    name: str = DEFAULT_CLUSTER
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    pods: list[Endpoint] = field(default_factory=list)
    nodes: list[Endpoint] = field(default_factory=list)
    apiserver_ips: set[IPAddress] = field(default_factory=set)
    config: CiliumConfig = field(default_factory=CiliumConfig)
