"""Recommendations, their acceptance and traffic drift, for one namespace of a cluster.

The engine (``engine/recommend.py``) learns a least-privilege policy per workload from
the observed edges; this module supplies what it needs from the control plane and the
flow store, and applies the control plane's rules:

- **Authorization**: reading recommendations needs ``read-namespace-policy`` on the
  namespace, accepting one ``write-namespace-policy``. The edges are read within the
  caller's flow scope, so the evidence shown never goes beyond what the caller may see.
- **Status** per workload: ``policy-applied`` when a policy the cluster's desired state
  holds selects it, otherwise the engine's (``recommendation-available`` or
  ``not-enough-runtime-data`` with the reason). Workloads come from the flows and from
  the cluster's reported inventory (a workload without flows says so).
- **Accept**: the recommended object becomes a new version of the namespace policy of
  that name (created, or updated), through ``control/policies.py``: its authorization
  check, its audit entry, message ``accepted recommendation``.
- **Drift**: edges seen since the policies selecting the workload were last changed that
  those policies deny (engine verdict), with their example flows.

Hubble records the DNS name an external address was reached by in the flow
(``destination_names``); the edges carry it (``EdgeEnd.fqdn``): one edge per name.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import select

from netwarden.control import policies
from netwarden.control.access import Access, Invalid, NotFound
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
from netwarden.engine.recommend import (
    Evidence,
    KnownWorkload,
    Recommendation,
    RecommendedRule,
    RecommendOptions,
    Status,
    WorkloadRef,
    edge_verdicts,
    known_from_labels,
    prove,
    recommend,
    selected_by,
    stable_labels,
    workload_of,
)
from netwarden.flows.scope import FlowScope
from netwarden.flows.service import FlowService
from netwarden.model.observed import EdgeEnd, ObservedEdge
from netwarden.model.rule import NormalizedPolicy
from netwarden.sources.loader import load_text

ACCEPT_MESSAGE = "accepted recommendation"
DAY_NS = 86_400 * 10**9
DIFF_LIMIT = 500
DRIFT_EXAMPLES = 20


@dataclass(frozen=True, slots=True)
class Window:
    """The flows learned from (ns since the epoch) and the learning period."""

    since: int
    until: int
    min_learning: int = DAY_NS

    def to_dict(self) -> dict[str, object]:
        return {"since": self.since, "until": self.until, "min_learning_ns": self.min_learning}


# ---- the drift gauge ------------------------------------------------------------------

_GAUGES: dict[int, Gauge] = {}


def drift_gauge(registry: CollectorRegistry) -> Gauge:
    """``netwarden_recommendation_drift_edges``, registered once per registry."""
    gauge = _GAUGES.get(id(registry))
    if gauge is None:
        gauge = Gauge(
            "netwarden_recommendation_drift_edges",
            "Edges seen since a workload's policies last changed that they deny",
            ["cluster", "namespace", "workload"],
            registry=registry,
        )
        _GAUGES[id(registry)] = gauge
    return gauge


# ---- inputs -----------------------------------------------------------------------------


def _target(acc: Access, cluster: Cluster, namespace: str) -> Target:
    return policies.target_of(acc, cluster, namespace)


def _require(acc: Access, action: Action, cluster: Cluster, namespace: str) -> None:
    ns = acc.session.scalars(
        select(Namespace).filter_by(cluster_id=cluster.id, name=namespace)
    ).first()
    acc.require(
        action, _target(acc, cluster, namespace), f"recommendations {cluster.name}/{namespace}"
    )
    if ns is None:
        raise NotFound(f"namespace {namespace!r} not found in cluster {cluster.name}")


def edges(
    flows: FlowService, scope: FlowScope, cluster: Cluster, namespace: str, window: Window
) -> list[ObservedEdge]:
    """The cluster's edges in the window and scope that touch ``namespace`` (external
    destinations carry the DNS name Hubble recorded for them: ``EdgeEnd.fqdn``)."""
    found = flows.edges(scope, cluster=cluster.name, since=window.since, until=window.until)
    return [e for e in found if namespace in (e.source.namespace, e.destination.namespace)]


def known_workloads(acc: Access, cluster: Cluster, namespace: str) -> list[KnownWorkload]:
    inventory = acc.session.get(ClusterInventory, cluster.id)
    out: dict[WorkloadRef, KnownWorkload] = {}
    for pod in inventory.pods if inventory is not None else []:
        if pod.get("namespace") != namespace or pod.get("host_network"):
            continue
        labels = {str(k): str(v) for k, v in (pod.get("labels") or {}).items()}
        name = str(pod.get("workload") or "")
        kind = str(pod.get("workload_kind") or "")
        if not name:
            stable = stable_labels(labels.items())
            if not stable:
                continue
            name, kind = "pods:" + ",".join(f"{k}={v}" for k, v in sorted(stable.items())), "Pods"
        known = known_from_labels(cluster.name, namespace, name, kind or "Workload", labels)
        out.setdefault(known.ref, known)
    return list(out.values())


@dataclass
class Desired:
    """The cluster's desired objects, parsed, with the policy versions they come from."""

    objects: list[dict[str, Any]]
    parsed: list[tuple[dict[str, Any], NormalizedPolicy]]
    settings: Mapping[str, str]


def desired_of(acc: Access, cluster: Cluster) -> Desired:
    state = acc.session.get(DesiredState, cluster.id)
    objects = [dict(o) for o in (state.objects if state is not None else [])]
    parsed = []
    for obj in objects:
        loaded = load_text(json.dumps(obj), file="desired.json", cluster=cluster.name)
        if len(loaded.policies) == 1:
            parsed.append((obj, loaded.policies[0]))
    return Desired(objects, parsed, state.settings if state is not None else {})


def _subject_end(rec: Recommendation) -> EdgeEnd:
    ref = rec.workload
    return EdgeEnd("pod", ref.cluster, ref.namespace, ref.name, ref.kind, rec.selector)


# ---- the namespace list ---------------------------------------------------------------


def options_for(fmt: str, window: Window, allow_external_ips: bool = False) -> RecommendOptions:
    if fmt not in ("cilium", "k8s"):
        raise Invalid(f"format {fmt!r}: expected cilium or k8s")
    return RecommendOptions(
        format=fmt, min_learning_ns=window.min_learning, allow_external_ips=allow_external_ips
    )


def compute(
    acc: Access,
    flows: FlowService,
    scope: FlowScope,
    cluster: Cluster,
    namespace: str,
    window: Window,
    options: RecommendOptions,
) -> tuple[list[Recommendation], list[ObservedEdge]]:
    found = edges(flows, scope, cluster, namespace, window)
    known = known_workloads(acc, cluster, namespace)
    in_namespace = {k.ref for k in known}
    for edge in found:
        for end in (edge.source, edge.destination):
            ref = workload_of(end)
            if ref is not None and ref.namespace == namespace and end.cluster in ("", cluster.name):
                in_namespace.add(ref)
    recs = recommend(
        found, until_ns=window.until, options=options, known=known, workloads=in_namespace
    )
    return recs, found


def namespace_report(
    acc: Access,
    flows: FlowService,
    scope: FlowScope,
    cluster: Cluster,
    namespace: str,
    window: Window,
    options: RecommendOptions,
) -> dict[str, Any]:
    _require(acc, Action.READ_NAMESPACE_POLICY, cluster, namespace)
    recs, found = compute(acc, flows, scope, cluster, namespace, window, options)
    desired = desired_of(acc, cluster)
    items = []
    counts = {s.value: 0 for s in Status}
    for rec in recs:
        applied = selected_by([p for _, p in desired.parsed], _subject_end(rec), cluster.name)
        drifted = _drift_edges(acc, desired, rec, found, cluster) if applied else []
        status = Status.APPLIED if applied else rec.status
        counts[status.value] += 1
        _set_gauge(flows, cluster, rec, len(drifted) if applied else 0)
        items.append(
            {
                **_summary(rec),
                "status": status.value,
                "policies": applied,
                "recommendation": rec.status.value,
                "drift": bool(drifted),
                "drift_edges": len(drifted),
            }
        )
    return {
        "cluster": cluster.name,
        "namespace": namespace,
        "format": options.format,
        "window": window.to_dict(),
        "counts": counts,
        "workloads": items,
    }


def _summary(rec: Recommendation) -> dict[str, Any]:
    return {
        "workload": rec.workload.name,
        "kind": rec.workload.kind,
        "reason": rec.reason,
        "rules": len(rec.rules),
        "excluded": len(rec.excluded),
        "denied": len(rec.denied),
        "flows": rec.evidence.flows if rec.evidence else 0,
        "first_seen": rec.evidence.first_seen if rec.evidence else None,
        "last_seen": rec.evidence.last_seen if rec.evidence else None,
        "policy_name": rec.name,
    }


def _set_gauge(flows: FlowService, cluster: Cluster, rec: Recommendation, value: int) -> None:
    gauge = drift_gauge(flows.metrics.registry)
    gauge.labels(cluster.name, rec.workload.namespace, rec.workload.name).set(value)


# ---- one workload -----------------------------------------------------------------------


def _one(
    acc: Access,
    flows: FlowService,
    scope: FlowScope,
    cluster: Cluster,
    namespace: str,
    workload: str,
    window: Window,
    options: RecommendOptions,
) -> tuple[Recommendation, list[ObservedEdge]]:
    recs, found = compute(acc, flows, scope, cluster, namespace, window, options)
    rec = next((r for r in recs if r.workload.name == workload), None)
    if rec is None:
        raise NotFound(f"workload {namespace}/{workload} has no flows and is not in the inventory")
    return rec, found


def workload_report(
    acc: Access,
    flows: FlowService,
    scope: FlowScope,
    cluster: Cluster,
    namespace: str,
    workload: str,
    window: Window,
    options: RecommendOptions,
) -> dict[str, Any]:
    _require(acc, Action.READ_NAMESPACE_POLICY, cluster, namespace)
    rec, found = _one(acc, flows, scope, cluster, namespace, workload, window, options)
    desired = desired_of(acc, cluster)
    applied = selected_by([p for _, p in desired.parsed], _subject_end(rec), cluster.name)
    out: dict[str, Any] = {
        **_summary(rec),
        "cluster": cluster.name,
        "namespace": namespace,
        "format": options.format,
        "window": window.to_dict(),
        "status": (Status.APPLIED if applied else rec.status).value,
        "recommendation": rec.status.value,
        "policies": applied,
        "selector": dict(rec.selector),
        "yaml": to_yaml(rec.manifest) if rec.manifest else None,
        "rule_evidence": [rule_doc(r) for r in rec.rules],
        "excluded": [{"edge": edge_doc(x.edge), "reason": x.reason} for x in rec.excluded],
        "denied": [edge_doc(e) for e in rec.denied],
    }
    if rec.manifest is not None:
        proof = prove([rec], found, cluster.name)[rec.workload]
        out["proof"] = proof.to_dict()
        out["compare"] = side_by_side(acc, cluster, desired, rec, applied)
    drifted = _drift_edges(acc, desired, rec, found, cluster) if applied else []
    out["drift"] = {
        "drift": bool(drifted),
        "edges": [edge_doc(e) for e in drifted[:DRIFT_EXAMPLES]],
    }
    return out


def to_yaml(manifest: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(manifest), sort_keys=False, default_flow_style=False)


def rule_doc(rule: RecommendedRule) -> dict[str, Any]:
    peer = rule.peer
    out: dict[str, Any] = {
        "direction": rule.direction,
        "peer": {
            "kind": peer.kind,
            "namespace": peer.namespace or None,
            "workload": peer.workload or None,
            "labels": dict(peer.labels) or None,
            "cidr": peer.cidr or None,
            "fqdn": peer.fqdn or None,
            "addresses": list(peer.addresses) or None,
            "entity": peer.entity or None,
        },
        "ports": [{"port": p, "protocol": proto} for p, proto in rule.ports],
        "http": [{"method": h.method, "path": h.path} for h in rule.http],
        "dns": rule.dns,
        "evidence": rule.evidence.to_dict(),
        "description": rule.describe(),
    }
    if rule.note:
        out["note"] = rule.note
    return out


def end_text(end: EdgeEnd) -> str:
    ref = workload_of(end)
    return ref.display() if ref is not None else end.display()


def edge_doc(edge: ObservedEdge) -> dict[str, Any]:
    return {
        "from": end_text(edge.source),
        "to": end_text(edge.destination),
        "port": edge.port,
        "protocol": edge.protocol,
        "l7": edge.l7 or None,
        "verdict": edge.verdict,
        "evidence": Evidence.of([edge]).to_dict(),
    }


def _current_policy(acc: Access, cluster: Cluster, rec: Recommendation) -> Policy | None:
    kind = rec.manifest["kind"] if rec.manifest else ""
    return acc.session.scalars(
        select(Policy).filter_by(
            cluster_id=cluster.id, namespace=rec.workload.namespace, kind=kind, name=rec.name
        )
    ).first()


def side_by_side(
    acc: Access, cluster: Cluster, desired: Desired, rec: Recommendation, applied: list[str]
) -> dict[str, Any]:
    """The policies selecting the workload now, the recommended object, their text diff
    and the connections that change on the cluster's reported pods."""
    assert rec.manifest is not None
    new_yaml = to_yaml(rec.manifest)
    current = [
        _stored_yaml(acc, obj) or to_yaml(obj)
        for obj, policy in desired.parsed
        if str(policy.ref) in applied
    ]
    old_yaml = "---\n".join(current)
    text = "".join(
        difflib.unified_diff(
            old_yaml.splitlines(keepends=True),
            new_yaml.splitlines(keepends=True),
            fromfile="current",
            tofile="recommended",
        )
    )
    same = _current_policy(acc, cluster, rec)
    return {
        "current": current,
        "recommended": new_yaml,
        "policy_id": same.id if same is not None and not same.deleted else None,
        "text_diff": text,
        "connections": connection_changes(acc, cluster, desired, rec),
    }


def connection_changes(
    acc: Access, cluster: Cluster, desired: Desired, rec: Recommendation
) -> dict[str, Any]:
    inventory = acc.session.get(ClusterInventory, cluster.id)
    if inventory is None:
        return {"available": False, "reason": f"cluster {cluster.name} has reported no inventory"}
    assert rec.manifest is not None
    ref = (rec.manifest["kind"], rec.workload.namespace, rec.name)
    others = [o for o in desired.objects if _ref(o) != ref]
    rows = acc.session.scalars(select(Namespace).filter_by(cluster_id=cluster.id)).all()
    namespaces = {ns.name: dict(ns.labels or {}) for ns in rows}
    workspaces = {ns.name: ns.workspace_id for ns in rows}
    before = world_for(cluster.name, namespaces, inventory, desired.objects, desired.settings)
    after = world_for(
        cluster.name, namespaces, inventory, [*others, dict(rec.manifest)], desired.settings
    )
    readable: dict[str, bool] = {}

    def visible(endpoint: str) -> bool:
        namespace = endpoint.split("/", 1)[0] if "/" in endpoint else ""
        if namespace not in readable:
            target = Target(acc.actor.org_id, cluster.project_id, workspaces.get(namespace))
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
        "pods": len(inventory.pods),
        "inventory_at": inventory.reported_at.isoformat(),
        "changes": changes[:DIFF_LIMIT],
        "truncated": len(changes) > DIFF_LIMIT,
    }


def _ref(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", ""))


# ---- accept -------------------------------------------------------------------------------


def accept(
    acc: Access,
    flows: FlowService,
    scope: FlowScope,
    cluster: Cluster,
    namespace: str,
    workload: str,
    window: Window,
    options: RecommendOptions,
    message: str = "",
    check: Callable[[str], None] | None = None,
) -> Policy:
    """The recommendation becomes the namespace policy of its name: created, or a new
    version (the policies module checks ``write-namespace-policy`` and audits).
    ``check`` sees the policy text before it is written (the production preview gate)."""
    _require(acc, Action.WRITE_NAMESPACE_POLICY, cluster, namespace)
    rec, found = _one(acc, flows, scope, cluster, namespace, workload, window, options)
    if rec.manifest is None:
        raise Invalid(f"no recommendation for {namespace}/{workload}: {rec.reason}")
    proof = prove([rec], found, cluster.name)[rec.workload]
    if not proof.ok:
        raise Invalid(
            "the recommendation failed its proof",
            [{"field": f.kind, "message": f.detail} for f in proof.findings],
        )
    text = to_yaml(rec.manifest)
    note = f"{ACCEPT_MESSAGE}: {message}" if message else ACCEPT_MESSAGE
    existing = _current_policy(acc, cluster, rec)
    if check is not None:
        check(text)
    if existing is None:
        return policies.create(acc, cluster, text, note)
    return policies.update(acc, existing.id, text, note)


# ---- drift ----------------------------------------------------------------------------------


def _version_of(acc: Access, obj: Mapping[str, Any]) -> PolicyVersion | None:
    """The policy version a desired object comes from (``policy/ID@vN``), if any."""
    source = str(((obj.get("metadata") or {}).get("annotations") or {}).get(SOURCE, ""))
    if not source.startswith("policy/") or "@v" not in source:
        return None
    policy_id, _, number = source.removeprefix("policy/").partition("@v")
    return acc.session.scalars(
        select(PolicyVersion).filter_by(policy_id=policy_id, version=int(number or 0))
    ).first()


def _stored_yaml(acc: Access, obj: Mapping[str, Any]) -> str:
    version = _version_of(acc, obj)
    return version.yaml if version is not None else ""


def _policy_times(acc: Access, objects: Iterable[Mapping[str, Any]]) -> list[datetime]:
    """When each object's policy version was written (``policy/ID@vN`` sources)."""
    versions = [_version_of(acc, obj) for obj in objects]
    return [v.created_at for v in versions if v is not None]


def _drift_edges(
    acc: Access,
    desired: Desired,
    rec: Recommendation,
    found: Sequence[ObservedEdge],
    cluster: Cluster,
) -> list[ObservedEdge]:
    """The workload's edges seen since its policies last changed that they deny."""
    subject = _subject_end(rec)
    selecting = [(obj, p) for obj, p in desired.parsed if selected_by([p], subject, cluster.name)]
    times = _policy_times(acc, [obj for obj, _ in selecting])
    since = int(max(times).timestamp() * 1e9) if times else 0
    mine = [
        e
        for e in found
        if e.last_seen >= since
        and rec.workload in (workload_of(e.source), workload_of(e.destination))
    ]
    verdicts = edge_verdicts(mine, [p for _, p in desired.parsed], cluster.name)
    return [edge for edge, allowed in verdicts if not allowed]


def drift_report(
    acc: Access,
    flows: FlowService,
    scope: FlowScope,
    cluster: Cluster,
    namespace: str,
    window: Window,
) -> dict[str, Any]:
    _require(acc, Action.READ_NAMESPACE_POLICY, cluster, namespace)
    options = RecommendOptions(min_learning_ns=0)
    recs, found = compute(acc, flows, scope, cluster, namespace, window, options)
    desired = desired_of(acc, cluster)
    items = []
    for rec in recs:
        applied = selected_by([p for _, p in desired.parsed], _subject_end(rec), cluster.name)
        drifted = _drift_edges(acc, desired, rec, found, cluster) if applied else []
        _set_gauge(flows, cluster, rec, len(drifted))
        items.append(
            {
                "workload": rec.workload.name,
                "kind": rec.workload.kind,
                "policies": applied,
                "drift": bool(drifted),
                "edges": [edge_doc(e) for e in drifted[:DRIFT_EXAMPLES]],
                "edge_count": len(drifted),
            }
        )
    return {
        "cluster": cluster.name,
        "namespace": namespace,
        "window": window.to_dict(),
        "drift": any(i["drift"] for i in items),
        "workloads": items,
    }
