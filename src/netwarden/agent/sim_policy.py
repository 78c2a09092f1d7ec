"""The simulated cluster's policy objects and how their verdicts look in Hubble flows.

:class:`PolicyObjects` holds the live policy objects (managed and unmanaged) as the
cluster would, parses each with the engine's own loader (``sources.loader``) and
remembers the parse per object text, so an unchanged object is never parsed twice.
:func:`side_decision` turns one direction's engine verdict into the fields Hubble's
policy-verdict events carry (verdict, drop reason, ``*_allowed_by``/``*_denied_by``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netwarden.agent.backend import MANAGED_BY, MANAGER, ObjectRef, ObjectResult
from netwarden.agent.sim_inventory import stable_hash
from netwarden.engine.verdict import DirectionVerdict, Reason
from netwarden.model.diagnostics import Severity
from netwarden.model.inventory import CiliumConfig, EnforcementMode
from netwarden.model.rule import NormalizedPolicy, PolicyRef
from netwarden.sources.loader import PolicyInput, load_documents_into
from netwarden.sources.yamldoc import SourceDoc

ALL_POLICY_KINDS = frozenset(
    {
        "NetworkPolicy",
        "CiliumNetworkPolicy",
        "CiliumClusterwideNetworkPolicy",
        "AdminNetworkPolicy",
        "BaselineAdminNetworkPolicy",
        "ClusterNetworkPolicy",
    }
)
CLUSTER_SCOPED = frozenset(ALL_POLICY_KINDS - {"NetworkPolicy", "CiliumNetworkPolicy"})
_ALLOWED = frozenset({Reason.ALLOW_RULE, Reason.ADMIN_ALLOW, Reason.BASELINE_ALLOW})
_EXPLICIT_DENY = frozenset({Reason.DENY_RULE, Reason.ADMIN_DENY, Reason.BASELINE_DENY})
POLICY_DENIED = 133  # no rule allows (default deny)
POLICY_DENY = 181  # an explicit deny rule


def is_managed(obj: Mapping[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return isinstance(labels, dict) and labels.get(MANAGED_BY) == MANAGER


def cilium_config(settings: Mapping[str, str]) -> CiliumConfig:
    """``policyEnforcement`` is Cilium's ``enable-policy`` (default/always/never)."""
    try:
        mode = EnforcementMode(settings.get("policyEnforcement", "default"))
    except ValueError:
        mode = EnforcementMode.DEFAULT
    return CiliumConfig(enforcement=mode)


def audit_mode(settings: Mapping[str, str]) -> bool:
    """``enforcementMode: audit`` is Cilium's ``policy-audit-mode: true``."""
    return settings.get("enforcementMode", "enforce") == "audit"


@dataclass(frozen=True, slots=True)
class Parsed:
    policy: NormalizedPolicy | None
    error: str


class PolicyObjects:
    """Live policy objects by ref; managed ones are exactly what the last apply left."""

    def __init__(self, cluster: str, supported: frozenset[str], unmanaged: Iterable[Any]) -> None:
        self.cluster = cluster
        self.supported = supported
        self.managed: dict[ObjectRef, dict[str, Any]] = {}
        self.unmanaged: dict[ObjectRef, dict[str, Any]] = {}
        self.revision = 1  # Cilium's policy repository revision
        self._parsed: dict[str, Parsed] = {}
        for obj in unmanaged:
            self.unmanaged[ObjectRef.of(obj)] = copy.deepcopy(obj)

    def parse(self, obj: Mapping[str, Any]) -> Parsed:
        """The engine's reading of one object, or its located errors."""
        key = json.dumps(obj, sort_keys=True, default=str)
        found = self._parsed.get(key)
        if found is None:
            found = self._parse(obj)
            if len(self._parsed) > 4096:
                self._parsed.clear()
            self._parsed[key] = found
        return found

    def _parse(self, obj: Mapping[str, Any]) -> Parsed:
        ref = ObjectRef.of(obj)
        if ref.kind not in self.supported:
            kinds = ", ".join(sorted(self.supported))
            return Parsed(None, f"{ref.kind} is not supported by this cluster (supported: {kinds})")
        if not ref.name:
            return Parsed(None, "metadata.name is required")
        if ref.kind not in CLUSTER_SCOPED and not ref.namespace:
            return Parsed(None, f"a {ref.kind} needs metadata.namespace")
        where = f"{ref.kind} {ref.namespace + '/' if ref.namespace else ''}{ref.name}"
        result = PolicyInput()
        load_documents_into(
            result, [SourceDoc(where, 0, copy.deepcopy(dict(obj)), {})], self.cluster
        )
        errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
        if errors:
            return Parsed(None, "; ".join(str(d) for d in errors))
        if len(result.policies) != 1:
            return Parsed(None, f"{where}: not a policy object the engine reads")
        return Parsed(result.policies[0], "")

    def apply(self, objects: Sequence[Mapping[str, Any]]) -> list[ObjectResult]:
        """Managed objects become ``objects``; failures keep the live version (if any)."""
        results: list[ObjectResult] = []
        desired: dict[ObjectRef, dict[str, Any]] = {}
        for obj in objects:
            ref = ObjectRef.of(obj)
            if ref in self.unmanaged:
                message = f"an unmanaged {ref.kind} with this name exists; it is not touched"
                results.append(ObjectResult(ref, "failed", message))
                continue
            parsed = self.parse(obj)
            if parsed.policy is None:
                results.append(ObjectResult(ref, "failed", parsed.error))
                if ref in self.managed:
                    desired[ref] = self.managed[ref]  # the cluster keeps the old version
                continue
            live = copy.deepcopy(dict(obj))
            meta = live.setdefault("metadata", {})
            meta.setdefault("labels", {})[MANAGED_BY] = MANAGER
            desired[ref] = live
            results.append(ObjectResult(ref, "applied"))
        if desired != self.managed:
            self.revision += 1
        self.managed = desired
        return results

    def put(self, obj: Mapping[str, Any]) -> None:
        """Someone else writes an object in the cluster (kubectl edit/apply)."""
        ref = ObjectRef.of(obj)
        self.managed.pop(ref, None)
        self.unmanaged.pop(ref, None)
        target = self.managed if is_managed(obj) else self.unmanaged
        target[ref] = copy.deepcopy(dict(obj))
        self.revision += 1

    def delete(self, ref: ObjectRef) -> bool:
        found = self.managed.pop(ref, None) or self.unmanaged.pop(ref, None)
        if found is not None:
            self.revision += 1
        return found is not None

    def policies(self) -> list[NormalizedPolicy]:
        """The policies in force: every live object the engine can read."""
        out = []
        for obj in (*self.managed.values(), *self.unmanaged.values()):
            parsed = self.parse(obj)
            if parsed.policy is not None:
                out.append(parsed.policy)
        return out


# ---- Hubble's view of a decision ---------------------------------------------


@dataclass(frozen=True, slots=True)
class SideDecision:
    """One direction of a connection as Hubble's policy-verdict event reports it."""

    allowed: bool
    enforced: bool  # selected by policy: a policy-verdict event (else a trace event)
    match_type: int = 0
    allowed_by: tuple[dict[str, Any], ...] = ()
    denied_by: tuple[dict[str, Any], ...] = ()
    drop_reason: int = 0  # POLICY_DENIED / POLICY_DENY
    l7: bool = False  # requests go through the L7 proxy (L7 rules narrow the allow)
    reason: str = ""


def hubble_policy(ref: PolicyRef, revision: int) -> dict[str, Any]:
    """A ``flow.Policy`` as Cilium's policy correlation fills it."""
    uid = f"{stable_hash('uid', ref.cluster, ref.kind, ref.namespace or '', ref.name):016x}"
    uid = f"{uid[:8]}-{uid[8:12]}-4{uid[13:16]}-a{uid[1:4]}-{uid[4:16]}"
    labels = [
        f"k8s:io.cilium.k8s.policy.derived-from={ref.kind}",
        f"k8s:io.cilium.k8s.policy.name={ref.name}",
    ]
    if ref.namespace:
        labels.append(f"k8s:io.cilium.k8s.policy.namespace={ref.namespace}")
    labels.append(f"k8s:io.cilium.k8s.policy.uid={uid}")
    out: dict[str, Any] = {"name": ref.name}
    if ref.namespace:
        out["namespace"] = ref.namespace
    out.update({"labels": sorted(labels), "revision": str(revision), "kind": ref.kind})
    return out


def side_decision(dv: DirectionVerdict, revision: int) -> SideDecision:
    policies: dict[PolicyRef, None] = {}
    for rule in dv.rules:
        policies[rule.policy] = None
    listed = tuple(hubble_policy(ref, revision) for ref in policies)
    reason = dv.reason.value
    if dv.reason in _ALLOWED or (dv.reason is Reason.L7_DENIED):
        has_l7 = bool(dv.l7)
        return SideDecision(True, True, 2, allowed_by=listed, l7=has_l7, reason=reason)
    if dv.allowed:
        return SideDecision(True, False, reason=reason)  # no policy selects it: not enforced
    drop = POLICY_DENY if dv.reason in _EXPLICIT_DENY else POLICY_DENIED
    return SideDecision(False, True, 0, denied_by=listed, drop_reason=drop, reason=reason)
