"""Recommendations as Kubernetes objects: CiliumNetworkPolicy or NetworkPolicy."""

from __future__ import annotations

import json
from typing import Any

from netwarden.engine.recommend.values import (
    FALLBACK_ANNOTATION,
    MANAGED_BY,
    Recommendation,
    RecommendedRule,
    RulePeer,
    cidr_of,
)
from netwarden.model.endpoint import (
    K8S_NAMESPACE_NAME_LABEL,
    NAMESPACE_LABEL,
)

# ---- rendering to Kubernetes objects -----------------------------------------------


def _metadata(rec: Recommendation) -> dict[str, Any]:
    # Stable text (no counts or times): accepting an unchanged recommendation again
    # makes no new policy version. The evidence is in the recommendation, not the object.
    annotations = {MANAGED_BY: f"learned from the flows of {rec.workload.kind} {rec.workload.name}"}
    fallback = [
        f"{r.peer.fqdn}={','.join(r.peer.addresses)}"
        for r in rec.rules
        if r.peer.kind == "fqdn" and rec.format == "k8s"
    ]
    if fallback:
        annotations[FALLBACK_ANNOTATION] = "; ".join(fallback)
    return {"name": rec.name, "namespace": rec.workload.namespace, "annotations": annotations}


def render_cilium(rec: Recommendation) -> dict[str, Any]:
    spec: dict[str, Any] = {"endpointSelector": {"matchLabels": dict(rec.selector)}}
    for direction in ("ingress", "egress"):
        rules = [_cilium_rule(r) for r in rec.rules if r.direction == direction]
        spec[direction] = rules or [{}]  # [{}]: default deny, nothing allowed
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": _metadata(rec),
        "spec": spec,
    }


def _cilium_rule(rule: RecommendedRule) -> dict[str, Any]:
    word = "from" if rule.direction == "ingress" else "to"
    peer = rule.peer
    out: dict[str, Any] = {}
    if peer.kind == "pod":
        labels = {**dict(peer.labels), "k8s:" + NAMESPACE_LABEL: peer.namespace}
        out[word + "Endpoints"] = [{"matchLabels": labels}]
    elif peer.kind == "fqdn":
        out["toFQDNs"] = [{"matchName": peer.fqdn}]
    elif peer.kind == "cidr":
        out[word + "CIDR"] = [peer.cidr]
    else:
        out[word + "Entities"] = [peer.entity]
    plain = [p for p in rule.ports if not (rule.dns and p[0] == 53) and not rule.http]
    port_rules: list[dict[str, Any]] = []
    if plain:
        port_rules.append({"ports": [_cilium_port(p) for p in plain]})
    if rule.dns:
        dns = [_cilium_port(p) for p in rule.ports if p[0] == 53]
        port_rules.append({"ports": dns, "rules": {"dns": [{"matchPattern": "*"}]}})
    if rule.http:
        http = [{"method": h.method, "path": h.path} for h in rule.http]
        for p in rule.ports:
            entry: dict[str, Any] = {"ports": [_cilium_port(p)]}
            if p[1] == "TCP":
                entry["rules"] = {"http": http}
            port_rules.append(entry)
    out["toPorts"] = port_rules
    return out


def _cilium_port(port: tuple[int, str]) -> dict[str, str]:
    return {"port": str(port[0]), "protocol": port[1]}


def render_k8s(rec: Recommendation) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": dict(rec.selector)},
        "policyTypes": ["Ingress", "Egress"],
    }
    for direction, word in (("ingress", "from"), ("egress", "to")):
        spec[direction] = [
            {
                word: _k8s_peers(r.peer, rec.workload.namespace),
                "ports": [{"port": p, "protocol": proto} for p, proto in r.ports],
            }
            for r in rec.rules
            if r.direction == direction
        ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(rec),
        "spec": spec,
    }


def _k8s_peers(peer: RulePeer, namespace: str) -> list[dict[str, Any]]:
    if peer.kind == "pod":
        out: dict[str, Any] = {"podSelector": {"matchLabels": dict(peer.labels)}}
        if peer.namespace != namespace:
            out["namespaceSelector"] = {"matchLabels": {K8S_NAMESPACE_NAME_LABEL: peer.namespace}}
        return [out]
    cidrs = [cidr_of(a) for a in peer.addresses] if peer.kind == "fqdn" else [peer.cidr]
    return [{"ipBlock": {"cidr": c}} for c in cidrs]


def manifest_json(rec: Recommendation) -> str:
    return json.dumps(rec.manifest, sort_keys=False)
