"""Core Kubernetes objects -> inventory: Namespace, Pod, Node, Endpoints, cilium-config."""

from __future__ import annotations

import ipaddress

from netwarden.model.endpoint import (
    CLUSTER_LABEL,
    K8S_NAMESPACE_NAME_LABEL,
    Endpoint,
    EndpointKind,
    IPAddress,
)
from netwarden.model.inventory import CiliumConfig, ClusterInventory, EnforcementMode
from netwarden.model.labels import Labels
from netwarden.model.ports import NamedPort, Protocol
from netwarden.sources.common import parse_protocol
from netwarden.sources.yamldoc import Cursor

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def parse_cilium_config(root: Cursor, base: CiliumConfig) -> tuple[CiliumConfig, str | None]:
    """The agent settings in kube-system/cilium-config, and its cluster-name if set."""
    data = root.get("data")
    settings = data.string_map()
    mode_text = settings.get("enable-policy", base.enforcement.value)
    try:
        mode = EnforcementMode(mode_text)
    except ValueError:
        data.get("enable-policy").error(
            f"enable-policy must be default, always or never, got {mode_text!r}"
        )
        mode = base.enforcement
    config = CiliumConfig(
        enforcement=mode,
        non_default_deny_policies=_flag(
            data, settings, "enable-non-default-deny-policies", base.non_default_deny_policies
        ),
        default_local_cluster=_flag(
            data, settings, "policy-default-local-cluster", base.default_local_cluster
        ),
    )
    return config, settings.get("cluster-name")


def _flag(data: Cursor, settings: dict[str, str], key: str, default: bool) -> bool:
    text = settings.get(key)
    if text is None:
        return default
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    data.get(key).error(f"{key} must be true or false, got {text!r}")
    return default


def parse_namespace(root: Cursor, inv: ClusterInventory) -> None:
    meta = root.get("metadata")
    name = meta.get("name").string()
    if not name:
        meta.get("name").error("metadata.name is required")
        return
    labels = meta.get("labels").string_map()
    labels.setdefault(K8S_NAMESPACE_NAME_LABEL, name)
    inv.namespaces[name] = labels


def _ip(cur: Cursor) -> IPAddress | None:
    text = cur.string()
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        cur.error(f"{text!r} is not an IP address")
        return None


def parse_pod(root: Cursor, cluster: str) -> tuple[Endpoint, bool] | None:
    """A pod endpoint (namespace labels are filled in later) and whether it is host-networked."""
    meta = root.get("metadata")
    name = meta.get("name").string()
    if not name:
        meta.get("name").error("metadata.name is required")
        return None
    namespace = meta.get("namespace").string() or "default"
    labels = meta.get("labels").string_map()
    spec, status = root.get("spec"), root.get("status")
    ports: list[NamedPort] = []
    for container in spec.get("containers").items():
        for port in container.get("ports").items():
            number = port.get("containerPort").integer()
            port_name = port.get("name").string()
            proto = parse_protocol(port.get("protocol"), Protocol.TCP, allow_any=False)
            if number is not None and port_name:
                ports.append(NamedPort(port_name, proto, number))
    host_network = bool(spec.get("hostNetwork").boolean(False))
    pod_ip = _ip(status.get("podIP"))
    if host_network:
        pod_ip = _ip(status.get("hostIP")) or pod_ip
    endpoint = Endpoint(
        kind=EndpointKind.POD,
        cluster=labels.get(CLUSTER_LABEL, cluster),
        ip=pod_ip,
        namespace=namespace,
        name=name,
        labels=Labels(labels),
        node_name=spec.get("nodeName").string(),
        named_ports=tuple(ports),
        service_account=spec.get("serviceAccountName").string(),
    )
    return endpoint, host_network


def parse_node(root: Cursor, cluster: str) -> list[Endpoint]:
    """One endpoint per node address (InternalIP and ExternalIP)."""
    meta = root.get("metadata")
    name = meta.get("name").string()
    if not name:
        meta.get("name").error("metadata.name is required")
        return []
    labels = Labels(meta.get("labels").string_map())
    out = []
    for addr in root.get("status").get("addresses").items():
        if addr.get("type").string() in ("InternalIP", "ExternalIP"):
            ip = _ip(addr.get("address"))
            if ip is not None:
                out.append(
                    Endpoint(EndpointKind.HOST, cluster, ip, None, name, labels, node_name=name)
                )
    if not out:
        out.append(Endpoint(EndpointKind.HOST, cluster, None, None, name, labels, node_name=name))
    return out


def parse_apiserver_ips(root: Cursor) -> set[IPAddress]:
    """Addresses of the default/kubernetes Endpoints or EndpointSlice."""
    out: set[IPAddress] = set()
    if root.get("kind").string() == "Endpoints":
        for subset in root.get("subsets").items():
            for addr in subset.get("addresses").items():
                ip = _ip(addr.get("ip"))
                if ip is not None:
                    out.add(ip)
        return out
    for ep in root.get("endpoints").items():
        for addr in ep.get("addresses").items():
            ip = _ip(addr)
            if ip is not None:
                out.add(ip)
    return out
