"""The plan of ``netwarden apply`` (and of each GitOps sync): each manifest object
compared with the server's.

Planning only reads (the list routes, each policy's current YAML) and resolves every
reference by name, to an object on the server or one the plan creates, so a dangling
reference or an impossible change stops the command before anything is sent. Each
:class:`Step` says what applying does (create, update, unchanged, prune), the compared
fields before and after (``netwarden diff`` shows them), and how to do it: the step's
``run`` resolves names to ids when it runs, after the steps that create its parents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netwarden.client.manifests import Resource, yaml_text
from netwarden.client.names import Names
from netwarden.model.diagnostics import Diagnostic, Location, Severity

Doc = dict[str, Any]
PolicyKey = tuple[str, str, str, str]  # cluster name, kind, namespace ("" cluster-wide), name


@dataclass
class Step:
    label: str
    action: str  # create | update | unchanged | prune
    before: str  # the compared fields as YAML ("" for none)
    after: str
    changes: list[str] = field(default_factory=list)
    resource: Resource | None = None
    run: Callable[[], None] | None = None

    @property
    def location(self) -> Location | None:
        return self.resource.location() if self.resource is not None else None


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


def _text(value: Doc | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else yaml_text(value)


def _changed(desired: Doc, current: Doc) -> list[str]:
    return [k for k in desired if desired[k] != current.get(k)]


class Planner:
    def __init__(self, names: Names, message: str | None = None) -> None:
        self.names = names
        self.message = message  # every version's message (None: say which file it is from)
        self.client = names.client
        self.plan = Plan()
        self.ids: dict[tuple[str, str], str | None] = {}  # None: the plan creates it
        self.project_of: dict[tuple[str, str], str] = {}  # workspaces and clusters
        self.wanted: set[PolicyKey] = set()
        self.bindings: list[Doc] | None = None  # read once, when a binding needs them
        self.policies: dict[str, list[Doc]] = {}  # per cluster id

    # --- bookkeeping -----------------------------------------------------------------------

    def add(
        self,
        r: Resource | None,
        label: str,
        action: str,
        before: Any,
        after: Any,
        changes: list[str] | None = None,
        run: Callable[[], None] | None = None,
    ) -> None:
        step = Step(label, action, _text(before), _text(after), changes or [], r, run)
        self.plan.steps.append(step)

    def problem(self, r: Resource, spec_field: str, message: str, warn: bool = False) -> None:
        severity = Severity.WARNING if warn else Severity.ERROR
        diag = Diagnostic("apply", severity, message, r.location("spec", spec_field))
        (self.plan.warnings if warn else self.plan.errors).append(diag)

    def known(self, kind: str, name: str) -> bool:
        if (kind, name) in self.ids:
            return True
        found = self.names.find(kind, name)
        if found is None:
            return False
        self.ids[kind, name] = found["id"]
        if kind in ("workspace", "cluster"):
            self.project_of[kind, name] = self.names.name_of("project", found["project"])
        return True

    def ref(self, r: Resource, spec_field: str, kind: str, name: str) -> bool:
        if self.known(kind, name):
            return True
        hidden = kind in ("user", "group") and self.names.users_hidden
        hint = f" (listing {kind}s needs a role)" if hidden else ""
        message = f"{kind} {name!r} is neither on the server nor in the manifests{hint}"
        self.problem(r, spec_field, message)
        return False

    def id(self, kind: str, name: str) -> str:
        """An object's id when a step runs (its creator ran before)."""
        found = self.ids[kind, name]
        assert found is not None, f"{kind} {name} was not created"
        return found

    def creates(self, kind: str, name: str, create: Callable[[], Doc]) -> Callable[[], None]:
        self.ids[kind, name] = None

        def run() -> None:
            self.ids[kind, name] = create()["id"]

        return run

    # --- projects, workspaces, users, groups -----------------------------------------------

    def project(self, r: Resource) -> None:
        name, description = r.spec["name"], r.spec["description"]
        desired = {"description": description}
        if not self.known("project", name):
            run = self.creates(
                "project", name, lambda: self.client.create_project(name, description)
            )
            self.add(r, r.label, "create", None, desired, run=run)
            return
        found = self.names.require("project", name)
        current = {"description": found["description"]}
        self.in_place(
            r, current, desired, lambda body: self.client.patch_project(found["id"], body)
        )

    def in_place(
        self, r: Resource, current: Doc, desired: Doc, patch: Callable[[Doc], Doc]
    ) -> None:
        """Unchanged, or an update step that PATCHes the fields that differ (``project``,
        shown but never patched: a move is refused by :meth:`immovable`)."""
        changes = _changed(desired, current)
        body = {k: desired[k] for k in changes if k != "project"}

        def run() -> None:
            patch(body)

        action = "update" if body else "unchanged"
        self.add(r, r.label, action, current, desired, changes, run if body else None)

    def workspace(self, r: Resource) -> None:
        name, project, description = r.spec["name"], r.spec["project"], r.spec["description"]
        if not self.ref(r, "project", "project", project):
            return
        desired = {"project": project, "description": description}
        if not self.known("workspace", name):
            self.project_of["workspace", name] = project
            run = self.creates(
                "workspace",
                name,
                lambda: self.client.create_workspace(
                    name, self.id("project", project), description
                ),
            )
            self.add(r, r.label, "create", None, desired, run=run)
            return
        self.immovable(r, "workspace", name, project)
        found = self.names.require("workspace", name)
        current = {
            "project": self.project_of["workspace", name],
            "description": found["description"],
        }
        self.in_place(
            r, current, desired, lambda body: self.client.patch_workspace(found["id"], body)
        )

    def immovable(self, r: Resource, kind: str, name: str, project: str) -> None:
        current = self.project_of[kind, name]
        if current != project:
            self.problem(
                r,
                "project",
                f"{kind} {name} is in project {current}: the API cannot move it to another project",
            )

    def user(self, r: Resource) -> None:
        name, email = r.spec["name"], r.spec["email"]
        desired = {"email": email}
        if not self.known("user", name):
            run = self.creates("user", name, lambda: self.client.create_user(name, email))
            self.add(r, r.label, "create", None, desired, run=run)
            return
        found = self.names.require("user", name)
        current = {"email": found["email"]}
        self.in_place(r, current, desired, lambda body: self.client.patch_user(found["id"], body))

    def group(self, r: Resource) -> None:
        """A group's members are its whole membership: the ones the manifest does not
        list are removed (members are added and removed one by one)."""
        name, members = r.spec["name"], r.spec["members"]
        ok = True
        for member in members:
            ok = self.ref(r, "members", "user", member) and ok
        if not ok:
            return
        desired = {"members": members}
        if not self.known("group", name):

            def create() -> Doc:
                group = self.client.create_group(name)
                for member in members:
                    self.client.add_group_member(group["id"], self.id("user", member))
                return group

            self.add(r, r.label, "create", None, desired, run=self.creates("group", name, create))
            return
        found = self.names.require("group", name)
        now = {m["name"]: m["id"] for m in found["members"]}
        added = [m for m in members if m not in now]
        removed = sorted(m for m in now if m not in members)
        changes = [f"member +{m}" for m in added] + [f"member -{m}" for m in removed]

        def run() -> None:
            for member in added:
                self.client.add_group_member(found["id"], self.id("user", member))
            for member in removed:
                self.client.remove_group_member(found["id"], now[member])

        current = {"members": sorted(now)}
        action = "update" if changes else "unchanged"
        self.add(r, r.label, action, current, desired, changes, run if changes else None)

    # --- clusters and namespaces -----------------------------------------------------------

    def cluster(self, r: Resource) -> None:
        s = r.spec
        name = s["name"]
        if not self.ref(r, "project", "project", s["project"]):
            return
        keys = ("labels", "policy_enforcement", "enforcement_mode")
        desired = {"project": s["project"], **{k: s[k] for k in keys}}
        if not self.known("cluster", name):
            self.project_of["cluster", name] = s["project"]

            def create() -> Doc:
                body = {"name": name, **desired, "project": self.id("project", s["project"])}
                return self.client.create_cluster(body)

            self.add(r, r.label, "create", None, desired, run=self.creates("cluster", name, create))
            return
        self.immovable(r, "cluster", name, s["project"])
        found = self.names.require("cluster", name)
        current = {"project": self.project_of["cluster", name], **{k: found[k] for k in keys}}
        changes = _changed(desired, current)
        patch = {k: desired[k] for k in changes if k != "project"}

        def run() -> None:
            self.client.patch_cluster(found["id"], patch)

        action = "update" if patch else "unchanged"
        self.add(r, r.label, action, current, desired, changes, run if patch else None)

    def namespace(self, r: Resource) -> None:
        s = r.spec
        cluster, workspace = s["cluster"], s["workspace"]
        ok = self.ref(r, "cluster", "cluster", cluster)
        if workspace is not None:
            ok = self.ref(r, "workspace", "workspace", workspace) and ok
        if not ok:
            return
        if workspace is not None and not self.same_project(r, workspace, cluster):
            return
        desired = {"labels": s["labels"], "workspace": workspace}
        cluster_id = self.ids["cluster", cluster]
        current = self._namespace(cluster_id, s["name"])

        def run() -> None:
            ws_id = self.id("workspace", workspace) if workspace else None
            self.client.put_namespace(self.id("cluster", cluster), s["name"], s["labels"], ws_id)

        if current is None:
            self.add(r, r.label, "create", None, desired, run=run)
            return
        changes = _changed(desired, current)
        self.add(r, r.label, "update" if changes else "unchanged", current, desired, changes, run)

    def same_project(self, r: Resource, workspace: str, cluster: str) -> bool:
        ws_project = self.project_of["workspace", workspace]
        cluster_project = self.project_of["cluster", cluster]
        if ws_project == cluster_project:
            return True
        message = (
            f"workspace {workspace} is in project {ws_project}, "
            f"cluster {cluster} in project {cluster_project}"
        )
        self.problem(r, "workspace", message)
        return False

    def _namespace(self, cluster_id: str | None, name: str) -> Doc | None:
        if cluster_id is None:
            return None
        for ns in self.names.namespaces(cluster_id):
            if ns["name"] == name:
                workspace = self.names.name_of("workspace", ns["workspace"]) or None
                return {"labels": ns["labels"], "workspace": workspace}
        return None
