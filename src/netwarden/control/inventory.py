"""What agents report their clusters hold, and the engine's view of a cluster built from it.

An agent reports its cluster's namespaces (with labels), pods, nodes and services. The
namespaces become :class:`Namespace` rows: new ones join the cluster's project, labels
follow the cluster, and a namespace that disappeared is removed unless someone assigned
it to a workspace (that assignment is an admin's decision, kept until they undo it).
Namespace changes recompute the cluster's desired state, since namespace defaults are
stamped by namespace labels. The rest is kept as reported (:class:`ClusterInventory`)
for the flow pipeline: :func:`world_for` turns it, with the policy objects the agent
applied, into the engine's :class:`World`, which attributes flows to the policies in
force at their time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from netwarden.control import desired
from netwarden.control.models import Cluster, ClusterInventory, Namespace, utcnow
from netwarden.engine.world import World
from netwarden.sources.loader import PolicyInput, finalize, load_documents_into
from netwarden.sources.yamldoc import SourceDoc


@dataclass(frozen=True, slots=True)
class InventoryResult:
    namespaces: int
    namespaces_changed: bool
    changed: bool  # anything differs from the last report
    generation_changed: bool


def digest(report: Mapping[str, Any]) -> str:
    payload = json.dumps(report, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def record_inventory(
    session: Session, cluster: Cluster, report: Mapping[str, Any]
) -> InventoryResult:
    """Store an agent's inventory report (validated by the API)."""
    now = utcnow()
    cluster.last_heartbeat = now
    if report.get("cilium_version"):
        cluster.cilium_version = str(report["cilium_version"])
    row = session.get(ClusterInventory, cluster.id)
    fingerprint = digest(report)
    count = len(report.get("namespaces", []))
    if row is not None and row.digest == fingerprint:
        row.reported_at = now
        return InventoryResult(count, False, False, False)
    if row is None:
        row = ClusterInventory(cluster_id=cluster.id, org_id=cluster.org_id)
        session.add(row)
    row.digest = fingerprint
    row.pods = list(report.get("pods", []))
    row.nodes = list(report.get("nodes", []))
    row.services = list(report.get("services", []))
    row.supported_kinds = sorted(report.get("supported_kinds", []))
    row.reported_at = now
    ns_changed = _sync_namespaces(session, cluster, report.get("namespaces", []))
    regenerated = False
    if ns_changed:
        session.flush()
        regenerated = bool(desired.recompute(session, cluster.org_id, [cluster.id]))
    session.flush()
    return InventoryResult(count, ns_changed, True, regenerated)


def _sync_namespaces(session: Session, cluster: Cluster, reported: Sequence[Any]) -> bool:
    wanted = {str(n["name"]): dict(n.get("labels") or {}) for n in reported}
    changed = False
    existing = {
        ns.name: ns for ns in session.scalars(select(Namespace).filter_by(cluster_id=cluster.id))
    }
    for name, labels in wanted.items():
        ns = existing.get(name)
        if ns is None:
            session.add(
                Namespace(
                    org_id=cluster.org_id,
                    cluster_id=cluster.id,
                    name=name,
                    labels=labels,
                    project_id=cluster.project_id,
                )
            )
            changed = True
        elif (ns.labels or {}) != labels:
            ns.labels = labels
            changed = True
    for name, ns in existing.items():
        if name not in wanted and ns.workspace_id is None:
            session.delete(ns)
            changed = True
    return changed


def world_for(
    cluster: str,
    namespaces: Mapping[str, Mapping[str, str]],
    inventory: ClusterInventory | None,
    objects: Sequence[Mapping[str, Any]],
    settings: Mapping[str, str],
) -> World:
    """The engine's view of one cluster: its reported inventory and the policy objects
    in force (with the blueprint's Cilium policy enforcement mode)."""
    docs: list[Any] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cilium-config", "namespace": "kube-system"},
            "data": {"enable-policy": settings.get("policyEnforcement", "default")},
        }
    ]
    docs += [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": dict(labels)}}
        for n, labels in namespaces.items()
    ]
    if inventory is not None:
        docs += [_node(n) for n in inventory.nodes]
        docs += [_pod(p) for p in inventory.pods]
    docs += list(objects)
    sources = [SourceDoc(f"inventory/{cluster}", i, doc, {}) for i, doc in enumerate(docs)]
    result = PolicyInput()
    load_documents_into(result, sources, cluster)
    finalize(result)
    return World(result.clusters, result.policies)


def _node(node: Mapping[str, Any]) -> dict[str, Any]:
    addresses = [{"type": "InternalIP", "address": node["ip"]}] if node.get("ip") else []
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.get("name", ""), "labels": dict(node.get("labels") or {})},
        "status": {"addresses": addresses},
    }


def _pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    ports = [dict(p) for p in pod.get("ports") or []]
    status = {"podIP": pod["ip"]} if pod.get("ip") else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.get("name", ""),
            "namespace": pod.get("namespace", ""),
            "labels": dict(pod.get("labels") or {}),
        },
        "spec": {
            "nodeName": pod.get("node", ""),
            "hostNetwork": bool(pod.get("host_network")),
            "containers": [{"name": "main", "ports": ports}],
        },
        "status": status,
    }
