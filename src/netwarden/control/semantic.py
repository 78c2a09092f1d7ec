"""What a policy change does to connections on the cluster it targets.

The rule diff says what the engine sees change in the policy; this says what changes for
traffic: the engine's connectivity between every pair of the cluster's pods (as its agent
last reported them) with the cluster's other policies in force (its desired state), once
with the old version and once with the new. Pairs are listed only when the caller may
read namespace policies of the source's or the destination's namespace, so a Workspace
Admin sees the connections that touch their namespaces and nothing else of the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from sqlalchemy import select

from netwarden.control.access import Access
from netwarden.control.desired import SOURCE
from netwarden.control.inventory import world_for
from netwarden.control.models import (
    Cluster,
    ClusterInventory,
    DesiredState,
    Namespace,
    Policy,
    PolicyVersion,
)
from netwarden.control.rbac import Action, Target
from netwarden.engine.diff import semantic_diff

LIMIT = 500


def connection_diff(
    acc: Access, policy: Policy, cluster: Cluster, old: PolicyVersion, new: PolicyVersion
) -> dict[str, Any]:
    inventory = acc.session.get(ClusterInventory, cluster.id)
    if inventory is None:
        return {"available": False, "reason": f"cluster {cluster.name} has reported no inventory"}
    state = acc.session.get(DesiredState, cluster.id)
    own = f"policy/{policy.id}@"
    others = [
        o
        for o in (state.objects if state is not None else [])
        if not str(((o.get("metadata") or {}).get("annotations") or {}).get(SOURCE, "")).startswith(
            own
        )
    ]
    rows = acc.session.scalars(select(Namespace).filter_by(cluster_id=cluster.id)).all()
    namespaces = {ns.name: dict(ns.labels or {}) for ns in rows}
    workspaces = {ns.name: ns.workspace_id for ns in rows}
    settings: Mapping[str, str] = state.settings if state is not None else {}
    before = world_for(cluster.name, namespaces, inventory, [*others, *_objects(old)], settings)
    after = world_for(cluster.name, namespaces, inventory, [*others, *_objects(new)], settings)
    readable: dict[str, bool] = {}

    def visible(endpoint: str) -> bool:
        namespace = endpoint.split("/", 1)[0] if "/" in endpoint else ""
        if namespace not in readable:
            target = Target(
                acc.actor.org_id,
                project_id=cluster.project_id,
                workspace_id=workspaces.get(namespace),
            )
            readable[namespace] = bool(namespace) and acc.allowed(
                Action.READ_NAMESPACE_POLICY, target
            )
        return readable[namespace]

    changes = [
        c.to_dict()
        for c in semantic_diff(before, after)
        if visible(c.source) or visible(c.destination)
    ]
    return {
        "available": True,
        "cluster": cluster.name,
        "pods": len(inventory.pods),
        "inventory_at": inventory.reported_at.isoformat(),
        "changes": changes[:LIMIT],
        "truncated": len(changes) > LIMIT,
    }


def _objects(version: PolicyVersion) -> list[Any]:
    obj = yaml.safe_load(version.yaml) if version.yaml else None
    return [obj] if isinstance(obj, dict) else []
