"""Dry runs of drafts, for editors: ``POST /api/v1/policies/validate`` (a policy) and
``POST /api/v1/blueprints/validate`` (a blueprint).

The console's YAML editors post the draft on every pause in typing. The answer is what
creating or changing the object would say about its content, without storing anything:
a problem document (422) with the located errors (``errors[]`` of ``{field, line,
message, code}``: the engine loader's, for a blueprint also those of every policy it
embeds), or what the draft is, with whether the caller may write it.

Authorization of a policy draft: the cluster must be one the caller can see (an
Infra/Project role over its project, or a workspace with a namespace on it; Org roles
everywhere), otherwise 403; other orgs' clusters answer 404. A blueprint draft needs
``read-cluster-policy`` over the blueprint's project (the existing blueprint's, else the
one named; none: the org). Validation reads nothing else and writes nothing, so the
check is a read check plus, for a parsed draft, the write decision the real change
would meet (reported, not enforced: the editor shows it before publishing).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from netwarden.api.guarded import Guarded, GuardedRoute
from netwarden.control import blueprints as blueprint_service
from netwarden.control import policies as service
from netwarden.control import waves
from netwarden.control.access import Access, Forbidden, Invalid
from netwarden.control.blueprint_spec import BlueprintSpec, parse_blueprint
from netwarden.control.desired import ClusterFacts, assigned
from netwarden.control.models import Blueprint, Cluster, Namespace, PolicyScope, Project
from netwarden.control.preview import PreviewGate, blueprint_reach
from netwarden.control.rbac import Action, Target

router = APIRouter(prefix="/api/v1", tags=["policies"], route_class=GuardedRoute)


class ValidateIn(BaseModel):
    yaml: str = Field(description="The draft: one policy object (YAML or JSON).")
    cluster: str = Field(description="The id of the cluster the policy is for.")


def _may_see(acc: Access, cluster: Cluster) -> bool:
    """The cluster is in the caller's reach: its project, or a workspace on it."""
    org = acc.actor.org_id
    if acc.allowed(Action.READ_ORG, Target(org, project_id=cluster.project_id)):
        return True
    workspaces = acc.session.scalars(
        select(Namespace.workspace_id).where(
            Namespace.cluster_id == cluster.id, Namespace.workspace_id.is_not(None)
        )
    )
    return any(acc.allowed(Action.READ_ORG, Target(org, workspace_id=w)) for w in workspaces)


@router.post(
    "/policies/validate",
    summary="Validate a policy draft (dry run): located errors, or what it is and who may write it",
)
def validate_policy(body: ValidateIn, acc: Guarded) -> dict[str, Any]:
    cluster = acc.get(Cluster, body.cluster, "cluster")
    if not _may_see(acc, cluster):
        raise Forbidden(f"{acc.actor.subject} may not read cluster {cluster.name}")
    parsed = service.parse(body.yaml)  # Invalid (422) with located errors
    write = (
        Action.WRITE_CLUSTER_POLICY
        if parsed.scope is PolicyScope.CLUSTER_WIDE
        else Action.WRITE_NAMESPACE_POLICY
    )
    target = service.target_of(acc, cluster, parsed.namespace)
    return {
        "valid": True,
        "kind": parsed.kind,
        "name": parsed.name,
        "namespace": parsed.namespace or None,
        "scope": parsed.scope.value,
        "cluster": cluster.id,
        "rules": len(parsed.policy.rules),
        "may_write": acc.allowed(write, target),
    }


class BlueprintValidateIn(BaseModel):
    yaml: str = Field(description="The draft: one Blueprint manifest (YAML or JSON).")
    blueprint: str | None = Field(
        None, description="The id of the blueprint this is a new version of (none: a new one)."
    )
    project: str | None = Field(
        None, description="Owning project id of a new blueprint (none: org-wide)."
    )


def _assigned(acc: Access, owner: str | None, spec: BlueprintSpec) -> list[Cluster]:
    """The clusters this version is assigned to, within the owner's (none: the org's)."""
    query = select(Cluster).where(Cluster.org_id == acc.actor.org_id).order_by(Cluster.name)
    if owner is not None:
        query = query.where(Cluster.project_id == owner)
    return [
        c
        for c in acc.session.scalars(query)
        if assigned(spec, ClusterFacts(c.name, c.labels or {}, {}))
    ]


@router.post(
    "/blueprints/validate",
    tags=["blueprints"],
    summary="Validate a blueprint draft (dry run): located errors, or the clusters it is "
    "assigned to, its waves, whether writing it needs a preview and who may write it",
)
def validate_blueprint(body: BlueprintValidateIn, acc: Guarded, request: Request) -> dict[str, Any]:
    org = acc.actor.org_id
    existing: Blueprint | None = None
    if body.blueprint:
        existing = blueprint_service.load(acc, body.blueprint)  # read-cluster-policy
        owner = existing.project_id
    else:
        owner = body.project
        if owner is not None:
            acc.get(Project, owner, "project")
        acc.require(Action.READ_CLUSTER_POLICY, Target(org, project_id=owner), "blueprints")
    spec = parse_blueprint(body.yaml)  # Invalid (422) with located errors
    errors = []
    if existing is not None and spec.name != existing.name:
        message = f"a new version keeps the blueprint's name {existing.name!r}"
        errors.append({"field": "metadata.name", "line": None, "message": message})
    if existing is None:
        taken = acc.session.scalars(
            select(Blueprint).filter_by(org_id=org, name=spec.name, deleted=False)
        ).first()
        if taken is not None:
            message = f"blueprint {spec.name} exists: publish a new version of it instead"
            errors.append({"field": "metadata.name", "line": None, "message": message})
    if spec.extends:
        parent = acc.session.scalars(
            select(Blueprint.id).filter_by(org_id=org, name=spec.extends, deleted=False)
        ).first()
        if parent is None:
            message = f"no blueprint named {spec.extends!r} to extend"
            errors.append({"field": "spec.extends", "line": None, "message": message})
    if errors:
        raise Invalid(f"{len(errors)} error(s) in the blueprint: {errors[0]['message']}", errors)
    gate: PreviewGate = request.app.state.preview
    clusters = _assigned(acc, owner, spec)
    reached = blueprint_reach(acc, spec.name, owner, spec)
    names = {c.id: c.name for c in reached}

    def doc(c: Cluster) -> dict[str, Any]:
        return {"id": c.id, "name": c.name, "production": gate.required(c)}

    plan = waves.plan(spec.name, spec, reached) if spec.rollout.waves else []
    return {
        "valid": True,
        "kind": "Blueprint",
        "name": spec.name,
        "blueprint": existing.id if existing is not None else None,
        "version": (existing.version if existing is not None else 0) + 1,
        "project": owner,
        "extends": spec.extends,
        "cluster_policies": len(spec.cluster_policies),
        "namespace_defaults": len(spec.namespace_defaults),
        "policies": len(spec.cluster_policies)
        + sum(len(d.policies) for d in spec.namespace_defaults),
        "assigned": [doc(c) for c in clusters],
        "reached": [doc(c) for c in reached],
        "waves": [{"name": w["name"], "clusters": [names[i] for i in w["clusters"]]} for w in plan],
        "preview_required": any(gate.required(c) for c in reached),
        "may_write": acc.allowed(Action.WRITE_CLUSTER_POLICY, Target(org, project_id=owner)),
    }
