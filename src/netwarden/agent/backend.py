"""The contract between the agent's runtime and a cluster backend.

The runtime (``agent/runtime.py``) talks to the control plane; a backend talks to one
cluster. Two backends implement this protocol: ``kubernetes`` (a real cluster through
the Kubernetes API and Hubble Relay) and ``simulated`` (a cluster held in memory whose
traffic is decided by the policy engine). Everything a backend returns is plain data,
so the runtime can serialize it for the server without knowing which backend it has.

Objects are Kubernetes objects as dicts (``apiVersion``, ``kind``, ``metadata``,
``spec``...). An object is *managed* when it carries the label
``app.kubernetes.io/managed-by: netwarden``; its ``netwarden.dev/source`` annotation
names the blueprint or policy version it came from.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "netwarden"
SOURCE = "netwarden.dev/source"
FIELD_MANAGER = "netwarden-agent"

ObjectStatus = Literal["applied", "failed", "pending"]


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name", ""))
        )

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}


@dataclass(frozen=True, slots=True)
class ObjectResult:
    ref: ObjectRef
    status: ObjectStatus
    error: str = ""

    def to_dict(self) -> dict[str, str]:
        return {**self.ref.to_dict(), "status": self.status, "error": self.error}


@dataclass(frozen=True, slots=True)
class PodInfo:
    namespace: str
    name: str
    labels: Mapping[str, str]
    ip: str | None
    node: str
    workload: str = ""  # deployment/statefulset/daemonset name when known
    workload_kind: str = ""
    host_network: bool = False
    ports: Sequence[Mapping[str, Any]] = ()  # [{name, containerPort, protocol}]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    ip: str | None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    namespace: str
    name: str
    selector: Mapping[str, str]
    cluster_ip: str | None
    ports: Sequence[Mapping[str, Any]] = ()  # [{name, port, targetPort, protocol}]


@dataclass(slots=True)
class Inventory:
    """What the cluster holds now: the data the server needs to compute namespace
    defaults, enrich flows and attribute verdicts."""

    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels
    pods: list[PodInfo] = field(default_factory=list)
    nodes: list[NodeInfo] = field(default_factory=list)
    services: list[ServiceInfo] = field(default_factory=list)
    cilium_version: str = ""
    supported_kinds: frozenset[str] = frozenset()  # policy kinds whose CRDs exist


@dataclass(slots=True)
class LiveObjects:
    """The policy objects in the cluster now: managed ones (by ref, as the cluster holds
    them) and the refs of every other policy object (unmanaged: never touched)."""

    managed: dict[ObjectRef, dict[str, Any]] = field(default_factory=dict)
    unmanaged: list[ObjectRef] = field(default_factory=list)


class Backend(Protocol):
    """One cluster, as the agent sees it. Methods are called from the runtime's threads:
    ``apply``/``live_objects``/``inventory`` from the sync thread, ``flows`` from the
    flow thread; implementations must be safe for that."""

    cluster: str

    def apply(
        self, objects: Sequence[Mapping[str, Any]], settings: Mapping[str, str]
    ) -> list[ObjectResult]:
        """Make the cluster's managed policy objects exactly ``objects``: create or update
        each (server-side apply with ``FIELD_MANAGER``), delete managed objects that are
        not in ``objects`` (pruning), never touch unmanaged objects. ``settings`` are the
        desired-state settings (``enforcementMode``, ``policyEnforcement``, ``drift``).
        One result per desired object; a failure of one object does not stop the others.
        """
        ...

    def live_objects(self) -> LiveObjects: ...

    def inventory(self) -> Inventory: ...

    def flows(self, stop: threading.Event) -> Iterator[list[bytes]]:
        """Batches of Hubble flows as ``hubble observe -o json`` lines (UTF-8, no
        newline), until ``stop`` is set. An empty batch is allowed (a heartbeat)."""
        ...

    def close(self) -> None: ...
