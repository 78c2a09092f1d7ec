"""Versioned policies: validate with the engine, create, change, compare, roll back, delete.

Each change adds an immutable :class:`PolicyVersion` (author, time, message, YAML); the
policy row holds the current version number, which is also its ETag: a change made
against an older version is refused (412) instead of silently overwriting someone
else's edit. A deletion is a version with empty YAML, so it can be rolled back too.

What a policy is comes from its YAML, parsed by the engine's loader: one object of a
kind the engine supports, namespaced kinds (NetworkPolicy, CiliumNetworkPolicy) in the
namespace they are filed under, cluster-wide kinds (CiliumClusterwideNetworkPolicy,
AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy) without one. Any
problem is an :class:`Invalid` with the loader's located diagnostics (line, field path).

A version can be written ``staged``: it is not enforced (the cluster keeps the policy's
``enforced_version``, the latest version not staged) but evaluated on the cluster's flows
(``control/staging.py``); :func:`promote` makes it enforced in one step, with the staged
outcomes of the last hours in the audit entry.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from netwarden.control import desired, staging
from netwarden.control.access import Access, Conflict, Invalid
from netwarden.control.models import Cluster, Namespace, Policy, PolicyScope, PolicyVersion, utcnow
from netwarden.control.rbac import Action, Target
from netwarden.control.versioning import check_version, fetch_version
from netwarden.model.diagnostics import Severity
from netwarden.model.rule import NormalizedPolicy
from netwarden.sources.loader import load_text

NAMESPACED_KINDS = frozenset({"NetworkPolicy", "CiliumNetworkPolicy"})
CLUSTER_WIDE_KINDS = frozenset(
    {
        "CiliumClusterwideNetworkPolicy",
        "AdminNetworkPolicy",
        "BaselineAdminNetworkPolicy",
        "ClusterNetworkPolicy",
    }
)


@dataclass(frozen=True, slots=True)
class Parsed:
    kind: str
    name: str
    namespace: str  # "" for cluster-wide kinds
    policy: NormalizedPolicy

    @property
    def scope(self) -> PolicyScope:
        return PolicyScope.NAMESPACE if self.namespace else PolicyScope.CLUSTER_WIDE


def parse(yaml_text: str, file: str = "policy.yaml") -> Parsed:
    """One supported policy object, or :class:`Invalid` with located errors."""
    loaded = load_text(yaml_text, file=file)
    errors = [d for d in loaded.diagnostics if d.severity is Severity.ERROR]
    if errors:
        raise Invalid(
            f"{len(errors)} error(s) in the policy: {errors[0].message}",
            [
                {
                    "field": d.location.path,
                    "line": d.location.line,
                    "message": d.message,
                    "code": d.code,
                }
                for d in errors
            ],
        )
    if len(loaded.policies) != 1 or (
        loaded.clusters and any(inv.pods or inv.namespaces for inv in loaded.clusters.values())
    ):
        raise Invalid(
            "a policy document holds exactly one policy object",
            [{"field": "", "line": 1, "message": f"found {len(loaded.policies)} policies"}],
        )
    policy = loaded.policies[0]
    ref = policy.ref
    if ref.kind not in NAMESPACED_KINDS | CLUSTER_WIDE_KINDS:
        raise Invalid(f"kind {ref.kind} is not a policy kind Netwarden manages")
    namespace = ref.namespace or ""
    if ref.kind in NAMESPACED_KINDS and not namespace:
        raise Invalid(
            f"{ref.kind} {ref.name} needs metadata.namespace",
            [{"field": "metadata.namespace", "line": None, "message": "required"}],
        )
    return Parsed(ref.kind, ref.name, namespace, policy)


def policy_doc(policy: Policy, version: PolicyVersion | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": policy.id,
        "kind": policy.kind,
        "name": policy.name,
        "namespace": policy.namespace or None,
        "scope": policy.scope,
        "cluster": policy.cluster_id,
        "project": policy.project_id,
        "workspace": policy.workspace_id,
        "version": policy.version,
        "deleted": policy.deleted,
        "staged": policy.staged,
        "enforced_version": policy.enforced_version or None,
        "updated_at": policy.updated_at.isoformat(),
    }
    if version is not None:
        out["yaml"] = version.yaml
        out["author"] = version.author
        out["message"] = version.message
    return out


def version_doc(version: PolicyVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "author": version.author,
        "message": version.message,
        "created_at": version.created_at.isoformat(),
        "git_commit": version.git_commit or None,
        "staged": version.staged,
        "yaml": version.yaml,
    }


def target_of(acc: Access, cluster: Cluster, namespace: str) -> Target:
    workspace = None
    if namespace:
        ns = acc.session.scalars(
            select(Namespace).filter_by(cluster_id=cluster.id, name=namespace)
        ).first()
        workspace = ns.workspace_id if ns is not None else None
    return Target(acc.actor.org_id, project_id=cluster.project_id, workspace_id=workspace)


def _actions(scope: str) -> tuple[Action, Action]:
    if scope == PolicyScope.CLUSTER_WIDE:
        return Action.READ_CLUSTER_POLICY, Action.WRITE_CLUSTER_POLICY
    return Action.READ_NAMESPACE_POLICY, Action.WRITE_NAMESPACE_POLICY


def _what(p: Parsed | Policy, cluster: Cluster) -> str:
    where = f"{cluster.name}/{p.namespace}" if p.namespace else cluster.name
    return f"policy {p.kind} {where}/{p.name}"


def create(
    acc: Access,
    cluster: Cluster,
    yaml_text: str,
    message: str,
    commit: str = "",
    *,
    staged: bool = False,
) -> Policy:
    parsed = parse(yaml_text)
    target = target_of(acc, cluster, parsed.namespace)
    acc.require(_actions(parsed.scope)[1], target, _what(parsed, cluster))
    existing = acc.session.scalars(
        select(Policy).filter_by(
            cluster_id=cluster.id, namespace=parsed.namespace, kind=parsed.kind, name=parsed.name
        )
    ).first()
    if existing is not None and not existing.deleted:
        raise Conflict(f"{_what(parsed, cluster)} exists (id {existing.id}): change it instead")
    policy = existing or Policy(
        org_id=acc.actor.org_id,
        project_id=cluster.project_id,
        cluster_id=cluster.id,
        scope=parsed.scope.value,
        kind=parsed.kind,
        namespace=parsed.namespace,
        name=parsed.name,
        version=0,
    )
    policy.workspace_id = target.workspace_id
    policy.deleted = False
    acc.session.add(policy)
    acc.session.flush()
    _add_version(acc, policy, yaml_text, message, commit, staged=staged)
    return policy


def load(acc: Access, policy_id: str, *, write: bool = False) -> tuple[Policy, Cluster]:
    """A policy the caller may read (or write); NotFound for other orgs' ids."""
    policy = acc.get(Policy, policy_id, "policy")
    cluster = acc.get(Cluster, policy.cluster_id, "cluster")
    target = Target(acc.actor.org_id, policy.project_id, policy.workspace_id)
    read, change = _actions(policy.scope)
    acc.require(change if write else read, target, _what(policy, cluster), policy.id)
    return policy, cluster


def current(acc: Access, policy: Policy) -> PolicyVersion:
    return version(acc, policy, policy.version)


def version(acc: Access, policy: Policy, number: int) -> PolicyVersion:
    return fetch_version(acc, PolicyVersion, "policy_id", policy, number, "policy")


def _check(policy: Policy, expected: int | None) -> None:
    check_version(policy, expected, "policy")


def update(
    acc: Access,
    policy_id: str,
    yaml_text: str,
    message: str,
    expected: int | None = None,
    commit: str = "",
    *,
    staged: bool = False,
) -> Policy:
    policy, _ = load(acc, policy_id, write=True)
    _check(policy, expected)
    parsed = parse(yaml_text)
    same = (parsed.kind, parsed.name, parsed.namespace) == (
        policy.kind,
        policy.name,
        policy.namespace,
    )
    if not same:
        raise Invalid(
            f"the YAML is {parsed.kind} {parsed.namespace}/{parsed.name}: a policy keeps its kind, "
            "name and namespace (create a new one instead)",
            [{"field": "metadata", "line": None, "message": "kind, name or namespace changed"}],
        )
    if not policy.deleted and policy.staged == staged and current(acc, policy).yaml == yaml_text:
        return policy  # nothing changed: no new version (idempotent apply)
    policy.deleted = False
    _add_version(acc, policy, yaml_text, message, commit, staged=staged)
    return policy


def promote(
    acc: Access,
    policy_id: str,
    preview: Callable[[Policy, Cluster], dict[str, Any]],
    message: str = "",
    expected: int | None = None,
) -> Policy:
    """Make the staged current version enforced: a new version with its YAML, not staged.
    ``preview`` gives the staged outcomes recorded for it (``staging.preview``), put in
    the audit entry's ``after``."""
    policy, cluster = load(acc, policy_id, write=True)
    _check(policy, expected)
    if policy.deleted or not policy.staged:
        raise Conflict(f"{_what(policy, cluster)} is not staged: nothing to promote")
    staged_version = policy.version
    outcomes = preview(policy, cluster)
    _add_version(
        acc,
        policy,
        current(acc, policy).yaml,
        message or f"promote staged version {staged_version}",
        "",
        action="promote",
        extra={"promoted_version": staged_version, "staged_preview": outcomes},
    )
    return policy


def staged_label(policy: Policy) -> str:
    """The name flows carry for the policy's staged version (``Kind/namespace/name``)."""
    return f"{policy.kind}/{policy.namespace}/{policy.name}"


def delete(acc: Access, policy_id: str, message: str, expected: int | None = None) -> Policy:
    policy, _ = load(acc, policy_id, write=True)
    _check(policy, expected)
    if policy.deleted:
        return policy
    policy.deleted = True
    _add_version(acc, policy, "", message or "deleted", "")
    return policy


def rollback(
    acc: Access, policy_id: str, to: int, message: str, expected: int | None = None
) -> Policy:
    policy, _ = load(acc, policy_id, write=True)
    _check(policy, expected)
    old = version(acc, policy, to)
    policy.deleted = old.yaml == ""
    _add_version(acc, policy, old.yaml, message or f"roll back to version {to}", "")
    return policy


def _add_version(
    acc: Access,
    policy: Policy,
    yaml_text: str,
    message: str,
    commit: str,
    *,
    staged: bool = False,
    action: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    before = None
    was_staged = policy.staged
    if policy.version:
        before = {"version": policy.version, "yaml": current(acc, policy).yaml}
        if was_staged:
            before |= {"staged": True, "enforced_version": policy.enforced_version or None}
    policy.version += 1
    policy.updated_at = utcnow()
    staged = staged and bool(yaml_text)  # a deletion is never staged
    policy.staged = staged
    if not staged:
        policy.enforced_version = policy.version
    acc.session.add(
        PolicyVersion(
            policy_id=policy.id,
            version=policy.version,
            yaml=yaml_text,
            author=acc.actor.subject,
            message=message,
            git_commit=commit or acc.git_commit,
            staged=staged,
        )
    )
    acc.session.flush()
    desired.recompute(acc.session, acc.actor.org_id, [policy.cluster_id])
    if staged or was_staged:
        staging.changed(acc, [policy.cluster_id])
    if action is None:
        action = "delete" if not yaml_text else ("create" if policy.version == 1 else "update")
    after: dict[str, Any] = {"version": policy.version, "yaml": yaml_text}
    if staged:
        after |= {"staged": True, "enforced_version": policy.enforced_version or None}
    after |= extra or {}
    acc.record(
        action,
        "policy",
        policy.id,
        f"{policy.kind} {policy.namespace}/{policy.name}",
        before=before,
        after=after,
        detail=message,
    )


def text_diff(old: PolicyVersion, new: PolicyVersion) -> str:
    lines = difflib.unified_diff(
        old.yaml.splitlines(keepends=True),
        new.yaml.splitlines(keepends=True),
        fromfile=f"version {old.version}",
        tofile=f"version {new.version}",
    )
    return "".join(lines)


def rule_diff(old: PolicyVersion, new: PolicyVersion) -> dict[str, list[str]]:
    """The normalized rules (tier, direction, action, peers, ports) each version has and
    the other lacks: what the engine sees change, whatever the YAML's formatting."""
    before = _rules(old.yaml)
    after = _rules(new.yaml)
    return {
        "added": sorted(after - before),
        "removed": sorted(before - after),
    }


def _rules(yaml_text: str) -> set[str]:
    if not yaml_text:
        return set()
    parsed = parse(yaml_text)
    rules = {
        f"{r.tier.value} priority {r.priority}: pods [{r.subject}] {r.describe()}"
        for r in parsed.policy.rules
    }
    rules |= {
        f"default deny {i.direction.value} for pods [{i.subject}]" for i in parsed.policy.isolations
    }
    return rules
