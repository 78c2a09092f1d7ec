"""Endpoint resolution: one side of a flow mapped to an :class:`EndpointInfo`.

The flow's own endpoint fields come first, the World inventory (by pod name, then
by IP) second; :class:`Resolver` also returns the inventory endpoint the engine
evaluates, or why there is none. See ``docs/design/enrichment.md`` for the rules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from netwarden.engine.world import World
from netwarden.flows.workloads import derive_workload
from netwarden.model.endpoint import (
    CLUSTER_LABEL,
    RESERVED_IDENTITIES,
    Endpoint,
    EndpointKind,
    Identity,
    IdentityKey,
    IPAddress,
)
from netwarden.model.flow import FlowEndpoint, Workload


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """One side of a flow, enriched.

    ``kind`` is ``pod``, ``host``, ``world``, ``kube-apiserver``, ``health``, ...
    or ``unknown``; ``labels`` are identity labels in Hubble's ``source:key=value``
    form; ``identity`` is Hubble's numeric identity (a reserved one when known
    from the kind, else 0); ``origin`` says where the facts came from: ``flow``,
    ``inventory``, ``flow+inventory`` or ``none``; ``workload_rule`` is the
    :func:`derive_workload` rule that named the workload.
    """

    kind: str
    ip: str = ""
    cluster: str = ""
    namespace: str = ""
    pod: str = ""
    workload: Workload | None = None
    workload_rule: str = "none"
    labels: tuple[str, ...] = ()
    identity: int = 0
    names: tuple[str, ...] = ()
    origin: str = "none"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "ip": self.ip,
            "cluster": self.cluster,
            "namespace": self.namespace,
            "pod": self.pod,
            "workload": self.workload.name if self.workload else "",
            "workload_kind": self.workload.kind if self.workload else "",
            "workload_rule": self.workload_rule,
            "labels": list(self.labels),
            "identity": self.identity,
            "names": list(self.names),
            "origin": self.origin,
        }


_RESERVED_BY_ID = {number: name for name, number in RESERVED_IDENTITIES.items()}
_WORLD_NAMES = frozenset({"world", "world-ipv4", "world-ipv6"})
_NODE_NAMES = frozenset({"host", "remote-node", "kube-apiserver"})
_OTHER_KINDS = {
    "health": EndpointKind.HEALTH,
    "init": EndpointKind.INIT,
    "unmanaged": EndpointKind.UNMANAGED,
    "ingress": EndpointKind.INGRESS,
}


def split_labels(labels: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Hubble ``source:key=value`` labels -> (key -> value, reserved names)."""
    out: dict[str, str] = {}
    reserved: list[str] = []
    for text in labels:
        source, sep, rest = text.partition(":")
        if not sep:
            source, rest = "", text
        key, _, value = rest.partition("=")
        if source == "reserved":
            reserved.append(key)
        elif key:
            out[key] = value
    return out, reserved


@dataclass(frozen=True, slots=True)
class ResolvedEndpoint:
    info: EndpointInfo
    endpoint: Endpoint | None  # what the engine evaluates; None: unresolved
    reason: str | None


def _parse_ip(text: str) -> IPAddress | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class Resolver:
    """Endpoint resolution against one World, cached per (flow endpoint, IP, names)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.cache: dict[tuple[FlowEndpoint, str, tuple[str, ...]], ResolvedEndpoint] = {}
        self.known_clusters = set(world.clusters) | {p.cluster for p in world.pods()}
        self.identity_labels: dict[IdentityKey, tuple[str, ...]] = {}

    def resolve(self, fe: FlowEndpoint, ip: str, names: tuple[str, ...]) -> ResolvedEndpoint:
        key = (fe, ip, names)
        found = self.cache.get(key)
        if found is None:
            found = self._resolve(fe, ip, names)
            self.cache[key] = found
        return found

    def _resolve(self, fe: FlowEndpoint, ip_text: str, names: tuple[str, ...]) -> ResolvedEndpoint:
        flow_labels, reserved = split_labels(fe.labels)
        if not reserved and fe.identity in _RESERVED_BY_ID:
            reserved = [_RESERVED_BY_ID[fe.identity]]
        cluster = fe.cluster_name or flow_labels.get(CLUSTER_LABEL, "")
        ip = _parse_ip(ip_text)
        endpoint, reason = self._endpoint(fe, ip, ip_text, names, cluster, reserved)
        return ResolvedEndpoint(
            self._info(fe, ip_text, names, cluster, flow_labels, reserved, endpoint),
            endpoint,
            reason,
        )

    def _endpoint(
        self,
        fe: FlowEndpoint,
        ip: IPAddress | None,
        ip_text: str,
        names: tuple[str, ...],
        cluster: str,
        reserved: list[str],
    ) -> tuple[Endpoint | None, str | None]:
        world = self.world
        if fe.pod_name and fe.namespace:
            known = cluster if cluster in self.known_clusters else None
            pod = world.pod(known, fe.namespace, fe.pod_name)
            if pod is None:
                where = f" (cluster {cluster})" if cluster else ""
                return None, f"pod {fe.namespace}/{fe.pod_name}{where} is not in the inventory"
            return pod, None
        if ip is None:
            what = f"unparsable IP {ip_text!r}" if ip_text else "no IP address"
            return None, f"{what} and no pod name"
        names_of = set(reserved)
        if names_of & _WORLD_NAMES:
            return Endpoint(
                EndpointKind.WORLD, world.default_cluster, ip, dns_name=names[0] if names else None
            ), None
        if names_of & _NODE_NAMES:
            ep = world.by_ip(ip)
            if ep.kind is EndpointKind.HOST or ep.is_apiserver:
                return ep, None
            label = sorted(names_of & _NODE_NAMES)[0]
            return None, f"{label} {ip} is not a node or API server address in the inventory"
        for name in reserved:
            kind = _OTHER_KINDS.get(name)
            if kind is not None:
                return Endpoint(kind, cluster or world.default_cluster, ip), None
        if reserved:
            return None, f"reserved identity {','.join(reserved)} is not modelled"
        ep = world.by_ip(ip, names[0] if names else None)
        if ep.kind is EndpointKind.WORLD:
            if fe.identity or fe.labels or fe.namespace:
                return None, f"{ip} is not in the inventory and its identity is not reserved:world"
            return None, f"{ip} is not in the inventory and the flow carries no identity for it"
        if fe.namespace and ep.namespace != fe.namespace:
            return None, (
                f"{ip} is in namespace {ep.namespace} in the inventory, {fe.namespace} in the flow"
            )
        return ep, None

    def _info(
        self,
        fe: FlowEndpoint,
        ip_text: str,
        names: tuple[str, ...],
        cluster: str,
        flow_labels: dict[str, str],
        reserved: list[str],
        ep: Endpoint | None,
    ) -> EndpointInfo:
        from_flow = bool(fe.pod_name or fe.namespace or fe.labels or fe.workloads or fe.identity)
        inventory = ep is not None and ep.kind is not EndpointKind.WORLD
        is_pod = ep is not None and ep.kind is EndpointKind.POD
        if ep is not None:
            kind = ep.kind.value
        elif fe.pod_name:
            kind = "pod"
        elif reserved:
            kind = reserved[0]
        else:
            kind = "unknown"
        pod_name = fe.pod_name or (ep.name or "" if is_pod and ep is not None else "")
        labels = fe.labels
        if not labels and ep is not None and inventory:
            labels = self._labels_of(ep)
        owner_labels: Mapping[str, str] = flow_labels
        if is_pod and ep is not None:
            owner_labels = {**ep.labels, **flow_labels}
        workload, rule = derive_workload(pod_name, owner_labels, fe.workloads)
        if not cluster and inventory and ep is not None:
            cluster = ep.cluster
        identity = fe.identity or RESERVED_IDENTITIES.get(kind, 0)
        origin = "flow+inventory" if from_flow and inventory else "flow" if from_flow else "none"
        if inventory and not from_flow:
            origin = "inventory"
        return EndpointInfo(
            kind=kind,
            ip=ip_text,
            cluster=cluster,
            namespace=fe.namespace or (ep.namespace or "" if is_pod and ep is not None else ""),
            pod=pod_name,
            workload=workload,
            workload_rule=rule,
            labels=labels,
            identity=identity,
            names=names,
            origin=origin,
        )

    def _labels_of(self, ep: Endpoint) -> tuple[str, ...]:
        key = IdentityKey.of(ep)
        found = self.identity_labels.get(key)
        if found is None:
            found = Identity(key).label_strings
            self.identity_labels[key] = found
        return found


__all__ = ["EndpointInfo", "ResolvedEndpoint", "Resolver", "split_labels"]
