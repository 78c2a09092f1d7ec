"""Versioned blueprints: create, change (ETag), delete, roll back; each change
recomputes the desired state of the clusters the blueprint reaches (before or after).

A blueprint owned by a project is written by that project's Infra Admins (and Org
Admins) and may only reach the project's clusters; an org-wide blueprint (no project)
is Org Admins' and may reach every cluster of the org.

A version written ``staged`` is not released (no rollout starts; the clusters keep the
versions they hold) but evaluated on the flows of the clusters it reaches;
:func:`promote` writes it again as an enforced version, which rolls out as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from netwarden.control import desired, staging, waves
from netwarden.control.access import Access, Conflict, Invalid
from netwarden.control.blueprint_spec import BlueprintSpec, parse_blueprint
from netwarden.control.models import Blueprint, BlueprintVersion, Cluster, Project, utcnow
from netwarden.control.rbac import Action, Target
from netwarden.control.versioning import check_version, fetch_version


def blueprint_doc(bp: Blueprint, version: BlueprintVersion | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": bp.id,
        "name": bp.name,
        "project": bp.project_id,
        "version": bp.version,
        "released_version": bp.released_version or None,
        "deleted": bp.deleted,
        "staged": bp.staged,
        "updated_at": bp.updated_at.isoformat(),
    }
    if version is not None:
        out |= {"yaml": version.yaml, "author": version.author, "message": version.message}
    return out


def _target(acc: Access, project_id: str | None) -> Target:
    return Target(acc.actor.org_id, project_id=project_id)


def reach(acc: Access, bp: Blueprint, spec: BlueprintSpec | None) -> list[Cluster]:
    """The clusters a blueprint (version) is assigned to, within its owner's clusters."""
    if spec is None:
        return []
    query = select(Cluster).where(Cluster.org_id == acc.actor.org_id)
    if bp.project_id is not None:
        query = query.where(Cluster.project_id == bp.project_id)
    return [
        c
        for c in acc.session.scalars(query)
        if desired.assigned(spec, desired.ClusterFacts(c.name, c.labels or {}, {}))
    ]


def create(
    acc: Access, text: str, message: str, project_id: str | None, *, staged: bool = False
) -> Blueprint:
    spec = parse_blueprint(text)
    if project_id is not None:
        acc.get(Project, project_id, "project")
    acc.require(Action.WRITE_CLUSTER_POLICY, _target(acc, project_id), f"blueprint {spec.name}")
    taken = acc.session.scalars(
        select(Blueprint).filter_by(org_id=acc.actor.org_id, name=spec.name)
    ).first()
    if taken is not None and not taken.deleted:
        raise Conflict(f"blueprint {spec.name} exists (id {taken.id}): change it instead")
    bp = taken or Blueprint(org_id=acc.actor.org_id, project_id=project_id, name=spec.name)
    bp.deleted = False
    acc.session.add(bp)
    acc.session.flush()
    _new_version(acc, bp, text, message, None, spec, staged=staged)
    return bp


def load(acc: Access, blueprint_id: str, *, write: bool = False) -> Blueprint:
    bp = acc.get(Blueprint, blueprint_id, "blueprint")
    action = Action.WRITE_CLUSTER_POLICY if write else Action.READ_CLUSTER_POLICY
    acc.require(action, _target(acc, bp.project_id), f"blueprint {bp.name}", bp.id)
    return bp


def version(acc: Access, bp: Blueprint, number: int) -> BlueprintVersion:
    return fetch_version(acc, BlueprintVersion, "blueprint_id", bp, number, "blueprint")


def _check(bp: Blueprint, expected: int | None) -> None:
    check_version(bp, expected, "blueprint")


def update(
    acc: Access,
    blueprint_id: str,
    text: str,
    message: str,
    expected: int | None,
    *,
    staged: bool = False,
) -> Blueprint:
    bp = load(acc, blueprint_id, write=True)
    _check(bp, expected)
    spec = parse_blueprint(text)
    if spec.name != bp.name:
        raise Conflict(f"the YAML names blueprint {spec.name}, not {bp.name}")
    if not bp.deleted and bp.staged == staged and version(acc, bp, bp.version).yaml == text:
        return bp
    bp.deleted = False
    _new_version(acc, bp, text, message, _current_spec(acc, bp), spec, staged=staged)
    return bp


def promote(
    acc: Access,
    blueprint_id: str,
    preview: Callable[[Blueprint, list[Cluster]], dict[str, Any]],
    message: str = "",
    expected: int | None = None,
) -> Blueprint:
    """Write the staged current version again, enforced: it rolls out (in waves, when it
    has them); the audit entry carries the staged outcomes ``preview`` gives for the
    clusters it reaches."""
    bp = load(acc, blueprint_id, write=True)
    _check(bp, expected)
    if bp.deleted or not bp.staged:
        raise Conflict(f"blueprint {bp.name} is not staged: nothing to promote")
    text = version(acc, bp, bp.version).yaml
    spec = parse_blueprint(text)
    staged_version = bp.version
    outcomes = preview(bp, reach(acc, bp, spec))
    _new_version(
        acc,
        bp,
        text,
        message or f"promote staged version {staged_version}",
        _current_spec(acc, bp),
        spec,
        action="promote",
        extra={"promoted_version": staged_version, "staged_preview": outcomes},
    )
    return bp


def staged_label(bp: Blueprint) -> str:
    """The name flows carry for the blueprint's staged version."""
    return f"Blueprint//{bp.name}"


def _released_spec(acc: Access, bp: Blueprint) -> BlueprintSpec | None:
    """The version the clusters hold (``released_version``), when it is not the current."""
    if not bp.released_version or bp.released_version == bp.version:
        return None
    text = version(acc, bp, bp.released_version).yaml
    return desired.parsed_blueprint(text) if text else None


def delete(acc: Access, blueprint_id: str, message: str, expected: int | None) -> Blueprint:
    bp = load(acc, blueprint_id, write=True)
    _check(bp, expected)
    children = [
        name
        for name, sourced in desired.load_blueprints(acc.session, acc.actor.org_id).items()
        if sourced.spec.extends == bp.name
    ]
    if children:
        raise Conflict(f"blueprint {bp.name} is extended by {', '.join(sorted(children))}")
    if not bp.deleted:
        before = _current_spec(acc, bp)
        bp.deleted = True
        _new_version(acc, bp, "", message or "deleted", before, None)
    return bp


def rollback(
    acc: Access, blueprint_id: str, to: int, message: str, expected: int | None
) -> Blueprint:
    bp = load(acc, blueprint_id, write=True)
    _check(bp, expected)
    old = version(acc, bp, to)
    before = _current_spec(acc, bp)
    spec = parse_blueprint(old.yaml) if old.yaml else None
    bp.deleted = spec is None
    _new_version(acc, bp, old.yaml, message or f"roll back to version {to}", before, spec)
    return bp


def _current_spec(acc: Access, bp: Blueprint) -> BlueprintSpec | None:
    if bp.deleted or not bp.version:
        return None
    text = version(acc, bp, bp.version).yaml
    return desired.parsed_blueprint(text) if text else None


def _new_version(
    acc: Access,
    bp: Blueprint,
    text: str,
    message: str,
    before: BlueprintSpec | None,
    after: BlueprintSpec | None,
    *,
    staged: bool = False,
    action: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    previous: dict[str, Any] | None = {"version": bp.version} if bp.version else None
    was_staged = bp.staged
    if previous is not None and was_staged:
        previous["staged"] = True
    held = _released_spec(acc, bp)  # what the clusters hold, when not the current version
    bp.version += 1
    bp.updated_at = utcnow()
    staged = staged and bool(text)  # a deletion is never staged
    bp.staged = staged
    acc.session.add(
        BlueprintVersion(
            blueprint_id=bp.id,
            version=bp.version,
            yaml=text,
            author=acc.actor.subject,
            message=message,
            git_commit=acc.git_commit,
            staged=staged,
        )
    )
    acc.session.flush()
    reached = {
        c.id: c for c in [*reach(acc, bp, before), *reach(acc, bp, after), *reach(acc, bp, held)]
    }
    # A staged version is not released: no rollout starts, the clusters keep theirs.
    rollout = None if staged else waves.start(acc.session, bp, after, list(reached.values()))
    clusters = set(reached) | _dependents_reach(acc, bp, after is not None)
    changed = desired.recompute(acc.session, acc.actor.org_id, clusters) if clusters else {}
    if staged or was_staged:
        staging.changed(acc, clusters)
    if action is None:
        action = "delete" if not text else ("create" if bp.version == 1 else "update")
    after_doc: dict[str, Any] = {
        "version": bp.version,
        "yaml": text,
        "clusters_changed": len(changed),
    }
    if staged:
        after_doc["staged"] = True
    after_doc |= extra or {}
    if rollout is not None:
        after_doc["rollout"] = [
            {"wave": w["name"], "clusters": len(w["clusters"])} for w in rollout.waves
        ]
    acc.record(
        action, "blueprint", bp.id, bp.name, before=previous, after=after_doc, detail=message
    )


def _dependents_reach(acc: Access, bp: Blueprint, exists: bool) -> set[str]:
    """Clusters of the blueprints that extend ``bp`` (directly or not): they change too.
    Also checks that ``bp``'s own ``extends`` chain resolves (Invalid otherwise)."""
    everything = desired.load_blueprints(acc.session, acc.actor.org_id)
    if exists:
        desired.chain(bp.name, everything)
    rows = {
        b.name: b for b in acc.session.scalars(select(Blueprint).filter_by(org_id=acc.actor.org_id))
    }
    out: set[str] = set()
    for name, sourced in everything.items():
        if name == bp.name or name not in rows:
            continue
        try:
            ancestors = {b.name for b in desired.chain(name, everything)}
        except Invalid:  # another blueprint's broken chain is not this change's business
            continue
        if bp.name in ancestors:
            out |= {c.id for c in reach(acc, rows[name], sourced.spec)}
    return out


def rollout(acc: Access, blueprint_id: str) -> dict[str, Any]:
    """The blueprint's latest rollout: its waves and each cluster's state in them."""
    bp = load(acc, blueprint_id)
    latest = waves.current(acc.session, bp)
    doc: dict[str, Any] = {
        "blueprint": bp.name,
        "version": bp.version,
        "released_version": bp.released_version,
    }
    if latest is None:
        return doc | {"state": "none", "waves": []}
    return doc | waves.rollout_doc(acc.session, latest)


def control_rollout(acc: Access, blueprint_id: str, verb: str) -> dict[str, Any]:
    """``pause``, ``resume`` or ``promote`` the rollout in progress (writers only)."""
    bp = load(acc, blueprint_id, write=True)
    before = waves.current(acc.session, bp)
    before_doc = {"state": before.state, "wave": before.wave} if before is not None else None
    if verb == "pause":
        changed = waves.pause(acc.session, bp, acc.actor.subject)
    elif verb == "resume":
        changed = waves.resume(acc.session, bp)
    elif verb == "promote":
        changed = waves.promote(acc.session, bp)
    else:
        raise Invalid(f"unknown rollout action {verb!r} (pause, resume, promote)")
    acc.record(
        f"rollout-{verb}",
        "blueprint",
        bp.id,
        bp.name,
        before=before_doc,
        after={"state": changed.state, "wave": changed.wave, "version": changed.version},
    )
    return rollout(acc, blueprint_id)
