"""The plan's role bindings and policies, ``--prune``, :func:`build_plan`, and
:func:`execute` (running a plan's steps).

A policy is compared as an object: the server's current YAML, parsed, against the
manifest's object, so formatting alone never makes a new version; a change is sent with
``If-Match`` of the version read, so an edit someone made meanwhile is refused (412)
instead of overwritten. ``--prune`` deletes the policies of the clusters the manifests'
policies target that the manifests no longer hold (policies only: nothing else is
pruned).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from netwarden.client.http import ApiError
from netwarden.client.manifests import Resource, policy_object, yaml_text
from netwarden.client.names import Names
from netwarden.client.plan import Doc, Plan, Planner, PolicyKey, Step

PRUNE_MESSAGE = "pruned by netwarden apply"
DONE = {"create": "created", "update": "updated", "prune": "pruned", "unchanged": "unchanged"}


def build_plan(
    names: Names, resources: list[Resource], prune: bool, message: str | None = None
) -> Plan:
    """The plan (reads only). ``message``: the message of every version the plan makes
    (default: "netwarden apply (FILE)", and PRUNE_MESSAGE for deletions)."""
    planner = Planner(names, message)
    for r in resources:
        PLANNERS[r.kind](planner, r)
    if prune:
        plan_prune(planner, resources)
    return planner.plan


@dataclass
class StepFailed(Exception):
    """The server refused a step: the steps before it (``changed`` of them) were made."""

    step: Step
    error: ApiError
    changed: int
    records: list[Doc]  # the steps before it, as run

    def __str__(self) -> str:
        where = f"{self.step.location}: " if self.step.location is not None else ""
        done = (
            f"the {self.changed} change(s) listed above were made"
            if self.changed
            else "nothing changed"
        )
        return f"{where}error: {self.step.label}: {self.error}\nerror: apply stopped; {done}"


def execute(plan: Plan, dry_run: bool, on_step: Callable[[Doc], None] | None = None) -> list[Doc]:
    """Run the steps in order (none with ``dry_run``): one record per step (object,
    action done or "would ...", changes), passed to ``on_step`` as it is done.
    :class:`StepFailed` stops at the first refused step."""
    records: list[Doc] = []
    changed = 0
    for step in plan.steps:
        if step.action != "unchanged" and not dry_run:
            assert step.run is not None
            try:
                step.run()
            except ApiError as exc:
                raise StepFailed(step, exc, changed, records) from None
            changed += 1
        verb = DONE[step.action]
        if dry_run and step.action != "unchanged":
            verb = f"would {step.action}"
        record: Doc = {"object": step.label, "action": verb, "changes": step.changes}
        if on_step is not None:
            on_step(record)
        records.append(record)
    return records


def summary(records: list[Doc]) -> dict[str, int]:
    """How many steps had each action ("created": 2, "unchanged": 5, ...)."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record["action"]] = counts.get(record["action"], 0) + 1
    return counts


def plan_binding(p: Planner, r: Resource) -> None:
    s = r.spec
    kind, subject, role = s["subject_kind"], s["subject"], s["role"]
    scope_kind, scope = s["scope_kind"], s["scope"]
    ok = p.ref(r, kind, kind, subject)
    if scope_kind != "org":
        ok = p.ref(r, scope_kind, scope_kind, scope) and ok
    if not ok:
        return
    desired = {kind: subject, "role": role, scope_kind: scope or "(the org)"}

    def scope_id() -> str:
        return str(p.names.me()["org"]) if scope_kind == "org" else p.id(scope_kind, scope)

    def run() -> None:
        p.client.create_binding(kind, p.id(kind, subject), role, scope_id())

    subject_id = p.ids[kind, subject]
    known_scope = scope_kind == "org" or p.ids[scope_kind, scope] is not None
    if subject_id is not None and known_scope and _bound(p, kind, subject_id, role, scope_id()):
        p.add(r, r.label, "unchanged", desired, desired)
    else:
        p.add(r, r.label, "create", None, desired, run=run)


def _bound(p: Planner, kind: str, subject_id: str, role: str, scope_id: str) -> bool:
    if p.bindings is None:
        p.bindings = p.client.list_bindings()
    return any(
        b["subject_kind"] == kind
        and b["subject"] == subject_id
        and b["role"] == role
        and b["scope"] == scope_id
        for b in p.bindings
    )


def _key(cluster: str, doc: Doc) -> PolicyKey:
    return cluster, doc["kind"], doc.get("namespace") or "", doc["name"]


def _cluster_policies(p: Planner, cluster_id: str) -> list[Doc]:
    if cluster_id not in p.policies:
        p.policies[cluster_id] = p.client.list_policies(cluster_id)
    return p.policies[cluster_id]


def plan_policy(p: Planner, r: Resource) -> None:
    s = r.spec
    cluster = s["cluster"]
    if not p.ref(r, "cluster", "cluster", cluster):
        return
    key = _key(cluster, s)
    p.wanted.add(key)
    message = p.message or f"netwarden apply ({r.doc.file})"
    cluster_id = p.ids["cluster", cluster]
    docs = _cluster_policies(p, cluster_id) if cluster_id is not None else []
    found = next((d for d in docs if _key(cluster, d) == key), None)
    if found is None:

        def create() -> None:
            p.client.create_policy(
                p.id("cluster", cluster), s["text"], message, staged=s.get("staged", False)
            )

        p.add(r, r.label, "create", None, s["text"], run=create)
        return
    full = p.client.get_policy(found["id"])
    current = policy_object(full)
    staged = bool(s.get("staged", False))
    if current == s["manifest"] and bool(full.get("staged")) == staged:
        p.add(r, r.label, "unchanged", s["text"], s["text"])
        return
    version = int(full["version"])

    def update() -> None:
        p.client.update_policy(found["id"], s["text"], message, version, staged=staged)

    change = [f"version {version} -> {version + 1}" + (" (staged)" if staged else "")]
    p.add(r, r.label, "update", _yaml(current), s["text"], change, update)


def plan_blueprint(p: Planner, r: Resource) -> None:
    """Create or update a blueprint; compared as objects like policies, sent with
    ``If-Match``. The server recomputes the desired state of the clusters it reaches."""
    s = r.spec
    project = s["project"]
    if project and not p.ref(r, "project", "project", project):
        return
    message = p.message or f"netwarden apply ({r.doc.file})"
    found = next((b for b in p.client.list_blueprints() if b["name"] == s["name"]), None)
    if found is None:

        def create() -> None:
            owner = p.id("project", project) if project else None
            p.client.create_blueprint(s["text"], message, owner, staged=s.get("staged", False))

        p.add(r, r.label, "create", None, s["text"], run=create)
        return
    full = p.client.get_blueprint(found["id"])
    current = yaml.safe_load(full["yaml"]) if full.get("yaml") else None
    staged = bool(s.get("staged", False))
    if current == s["manifest"] and bool(full.get("staged")) == staged:
        p.add(r, r.label, "unchanged", s["text"], s["text"])
        return
    version = int(full["version"])

    def update() -> None:
        p.client.update_blueprint(found["id"], s["text"], message, version, staged=staged)

    change = [f"version {version} -> {version + 1}" + (" (staged)" if staged else "")]
    p.add(r, r.label, "update", _yaml(current), s["text"], change, update)


def _yaml(value: Any) -> str:
    return yaml_text(value) if value is not None else ""


def plan_prune(p: Planner, resources: list[Resource]) -> None:
    clusters = sorted({r.spec["cluster"] for r in resources if r.kind == "Policy"})
    for cluster in clusters:
        cluster_id = p.ids.get(("cluster", cluster))
        if cluster_id is None:  # unknown, or created by this plan: nothing to prune
            continue
        for doc in _cluster_policies(p, cluster_id):
            if _key(cluster, doc) in p.wanted:
                continue
            where = f"{cluster}/{doc['namespace']}" if doc["namespace"] else cluster
            label = f"{doc['kind'].lower()}/{where}/{doc['name']}"
            p.add(None, label, "prune", _prune_text(p, doc), None, run=_pruner(p, doc))


def _prune_text(p: Planner, doc: Doc) -> str:
    return _yaml(policy_object(p.client.get_policy(doc["id"])))


def _pruner(p: Planner, doc: Doc) -> Callable[[], None]:
    def run() -> None:
        p.client.delete_policy(doc["id"], p.message or PRUNE_MESSAGE, doc["version"])

    return run


PLANNERS: dict[str, Callable[[Planner, Resource], None]] = {
    "Project": Planner.project,
    "Workspace": Planner.workspace,
    "Cluster": Planner.cluster,
    "Namespace": Planner.namespace,
    "User": Planner.user,
    "Group": Planner.group,
    "RoleBinding": plan_binding,
    "Blueprint": plan_blueprint,
    "Policy": plan_policy,
}
