"""The inventory a backend reports, as the body of ``POST /api/v1/agent/inventory``, and a
digest of it (the agent re-sends the inventory when the digest changes)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from netwarden.agent.backend import Inventory


def inventory_body(inventory: Inventory) -> dict[str, Any]:
    """Plain JSON, in a stable order (namespaces, pods, nodes and services sorted)."""
    return {
        "namespaces": [
            {"name": name, "labels": dict(labels)}
            for name, labels in sorted(inventory.namespaces.items())
        ],
        "pods": sorted(
            (
                {
                    "namespace": p.namespace,
                    "name": p.name,
                    "labels": dict(p.labels),
                    "ip": p.ip,
                    "node": p.node,
                    "workload": p.workload,
                    "workload_kind": p.workload_kind,
                    "host_network": p.host_network,
                    "ports": [dict(port) for port in p.ports],
                }
                for p in inventory.pods
            ),
            key=lambda p: (p["namespace"], p["name"]),
        ),
        "nodes": sorted(
            ({"name": n.name, "ip": n.ip, "labels": dict(n.labels)} for n in inventory.nodes),
            key=lambda n: str(n["name"]),
        ),
        "services": sorted(
            (
                {
                    "namespace": s.namespace,
                    "name": s.name,
                    "selector": dict(s.selector),
                    "cluster_ip": s.cluster_ip,
                    "ports": [dict(port) for port in s.ports],
                }
                for s in inventory.services
            ),
            key=lambda s: (s["namespace"], s["name"]),
        ),
        "cilium_version": inventory.cilium_version,
        "supported_kinds": sorted(inventory.supported_kinds),
    }


def digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
