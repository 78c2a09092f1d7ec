"""Manifests for ``netwarden apply`` and the GitOps follower: Netwarden's own kinds
(``netwarden.dev/v1``) and plain Kubernetes policy objects, read with the line of every
field and checked before anything is sent. Each object becomes a :class:`Resource`: its
kind, identity and desired fields, names for references (the plan resolves them to ids),
and where it came from.

Blueprints are checked by a :data:`BlueprintReader` the caller passes in (the control
plane's ``blueprint_spec.read_spec``): this package is a client of the API and does not
import the control plane.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from netwarden.client.control import ROLE_SCOPES
from netwarden.model.diagnostics import Diagnostic, Location, PathKey, Severity
from netwarden.model.inventory import ClusterInventory
from netwarden.model.rule import NormalizedPolicy
from netwarden.sources.admin import ANP, BANP, CLUSTER_NP, parse_admin_policy
from netwarden.sources.cilium import CCNP, CNP, parse_cilium_policy
from netwarden.sources.loader import manifest_files
from netwarden.sources.networkpolicy import parse_network_policy
from netwarden.sources.yamldoc import Cursor, SourceDoc, load_documents

API_VERSION = "netwarden.dev/v1"
ORDER = (
    "Project",
    "Workspace",
    "Cluster",
    "Namespace",
    "User",
    "Group",
    "RoleBinding",
    "Blueprint",
    "Policy",
)
POLICY_API_VERSIONS = {
    "NetworkPolicy": "networking.k8s.io/v1",
    CNP: "cilium.io/v2",
    CCNP: "cilium.io/v2",
    ANP: "policy.networking.k8s.io/v1alpha1",
    BANP: "policy.networking.k8s.io/v1alpha1",
    CLUSTER_NP: "policy.networking.k8s.io/v1alpha2",
}
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
TOP_FIELDS = {"apiVersion", "kind", "metadata", "spec", "status"}


class Named(Protocol):
    @property
    def name(self) -> str: ...


# Reads the Blueprint object at a cursor: its spec (anything with a ``name``), or None;
# errors go to the cursor's diagnostics, located in its document.
BlueprintReader = Callable[[Cursor], Named | None]


def yaml_text(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def policy_object(full: dict[str, Any]) -> Any:
    """The policy object of a policy document with ``yaml`` (None when deleted)."""
    text = full.get("yaml") or ""
    return yaml.safe_load(text) if text else None


@dataclass
class Resource:
    """One object to apply: ``spec`` holds the desired fields, references by name."""

    kind: str
    label: str  # how plan lines name it: "cluster/prod", "networkpolicy/prod/shop/db"
    spec: dict[str, Any]
    doc: SourceDoc
    path: PathKey  # the object's own path in its document

    def location(self, *fields: str | int) -> Location:
        return self.doc.location((*self.path, *fields))

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.label


@dataclass
class Loaded:
    resources: list[Resource]
    errors: list[Diagnostic]


def load_manifests(
    paths: list[str], read_blueprint: BlueprintReader, cluster: str | None = None
) -> Loaded:
    """Every object of the files and directories, checked; errors are located."""
    diags: list[Diagnostic] = []
    resources: list[Resource] = []
    for arg in paths:
        path = Path(arg)
        if not path.exists():
            diags.append(_error("no such file or directory", Location(arg), "no-such-file"))
            continue
        for file in manifest_files(path):
            for doc in _read(file, diags):
                for cur in _objects(doc, diags):
                    resource = read_object(cur, cluster, read_blueprint)
                    if resource is not None:
                        resources.append(resource)
    _check_duplicates(resources, diags)
    resources.sort(key=lambda r: ORDER.index(r.kind))  # stable: file order within a kind
    errors = [d for d in diags if d.severity is Severity.ERROR]
    return Loaded(resources, errors)


def _error(message: str, location: Location, code: str = "invalid-field") -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, location)


def _read(file: Path, diags: list[Diagnostic]) -> list[SourceDoc]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        diags.append(_error(f"cannot read: {exc}", Location(str(file)), "unreadable"))
        return []
    docs, errors = load_documents(text, str(file))
    diags.extend(errors)
    return docs


def _objects(doc: SourceDoc, diags: list[Diagnostic]) -> list[Cursor]:
    root = Cursor.root(doc, diags)
    if isinstance(doc.data, dict) and doc.data.get("kind") == "List":
        return list(root.get("items").items())
    return [root]


def _check_duplicates(resources: list[Resource], diags: list[Diagnostic]) -> None:
    seen: dict[tuple[str, str], Resource] = {}
    for r in resources:
        first = seen.setdefault(r.key, r)
        if first is not r:
            message = f"{r.label} is also defined at {first.location()}"
            diags.append(_error(message, r.location(), "duplicate"))


def read_object(
    cur: Cursor, cluster: str | None, read_blueprint: BlueprintReader
) -> Resource | None:
    """One document object as a Resource (None, with diagnostics, when it is bad)."""
    if not cur.is_map("a manifest object"):
        return None
    kind = cur.get("kind").string()
    api_version = cur.get("apiVersion").string()
    if not kind:
        cur.get("kind").error("kind is required")
        return None
    if api_version == API_VERSION:
        reader = READERS.get(kind)
        if kind == "Blueprint":
            _known_fields(cur, TOP_FIELDS)
            return _blueprint(cur, read_blueprint)
        if reader is None:
            cur.get("kind").error(f"unknown kind {kind}: expected one of {', '.join(ORDER)}")
            return None
        _known_fields(cur, TOP_FIELDS)
        return reader(cur)
    if kind in POLICY_API_VERSIONS:
        if cluster is None:
            cur.get("kind").error(
                f"a plain {kind} needs --cluster (or wrap it in a {API_VERSION} Policy)"
            )
            return None
        return _policy_resource(cur, cluster, cur)
    cur.get("apiVersion").error(
        f"{api_version or '(no apiVersion)'} {kind} is not something netwarden apply manages: "
        f"expected apiVersion {API_VERSION} or a network policy kind"
    )
    return None


def _known_fields(cur: Cursor, allowed: set[str]) -> None:
    for key in cur.keys():
        if key not in allowed:
            cur.get(key).error(f"unknown field {key!r} (expected: {', '.join(sorted(allowed))})")


def _name(cur: Cursor, what: str) -> str | None:
    meta = cur.get("metadata")
    _known_fields(meta, {"name", "uid", "labels", "annotations"})
    name = meta.get("name").string()
    if not name:
        meta.get("name").error(f"metadata.name is required (the {what}'s name)")
        return None
    if what not in ("user", "group") and not NAME.match(name):
        meta.get("name").error(f"{name!r} is not a DNS label (a-z, 0-9, '-', at most 63)")
        return None
    return name


def _spec(cur: Cursor, allowed: set[str]) -> Cursor:
    spec = cur.get("spec")
    if spec.present and spec.is_map("an object"):
        _known_fields(spec, allowed)
    return spec


def _required(spec: Cursor, key: str, what: str) -> str | None:
    value = spec.get(key).string()
    if not value:
        spec.get(key).error(f"spec.{key} is required (the {what}'s name)")
    return value


def _choice(spec: Cursor, key: str, choices: tuple[str, ...]) -> str:
    value = spec.get(key).string(choices[0]) or choices[0]
    if value not in choices:
        spec.get(key).error(f"expected one of {', '.join(choices)}, got {value!r}")
    return value


def _resource(cur: Cursor, kind: str, label: str, spec: dict[str, Any]) -> Resource:
    return Resource(kind, label, spec, cur.doc, cur.path)


# --- Netwarden kinds ---------------------------------------------------------------------


def _project(cur: Cursor) -> Resource | None:
    name = _name(cur, "project")
    spec = _spec(cur, {"description"})
    description = spec.get("description").string("") or ""
    if name is None:
        return None
    return _resource(cur, "Project", f"project/{name}", {"name": name, "description": description})


def _workspace(cur: Cursor) -> Resource | None:
    name = _name(cur, "workspace")
    spec = _spec(cur, {"project", "description"})
    project = _required(spec, "project", "project")
    description = spec.get("description").string("") or ""
    if name is None or project is None:
        return None
    fields = {"name": name, "project": project, "description": description}
    return _resource(cur, "Workspace", f"workspace/{name}", fields)


def _cluster(cur: Cursor) -> Resource | None:
    name = _name(cur, "cluster")
    spec = _spec(cur, {"project", "policyEnforcement", "enforcementMode"})
    fields = {
        "name": name,
        "project": _required(spec, "project", "project"),
        "labels": cur.get("metadata").get("labels").string_map(),
        "policy_enforcement": _choice(spec, "policyEnforcement", ("default", "always", "never")),
        "enforcement_mode": _choice(spec, "enforcementMode", ("enforce", "audit")),
    }
    if name is None or fields["project"] is None:
        return None
    return _resource(cur, "Cluster", f"cluster/{name}", fields)


def _namespace(cur: Cursor) -> Resource | None:
    name = _name(cur, "namespace")
    spec = _spec(cur, {"cluster", "workspace"})
    fields = {
        "name": name,
        "cluster": _required(spec, "cluster", "cluster"),
        "workspace": spec.get("workspace").string() or None,
        "labels": cur.get("metadata").get("labels").string_map(),
    }
    if name is None or fields["cluster"] is None:
        return None
    return _resource(cur, "Namespace", f"namespace/{fields['cluster']}/{name}", fields)


def _user(cur: Cursor) -> Resource | None:
    name = _name(cur, "user")
    spec = _spec(cur, {"email"})
    email = spec.get("email").string("") or ""
    if name is None:
        return None
    return _resource(cur, "User", f"user/{name}", {"name": name, "email": email})


def _group(cur: Cursor) -> Resource | None:
    """A group and its members (user names): the whole membership, so applying removes
    the members the manifest no longer lists."""
    name = _name(cur, "group")
    spec = _spec(cur, {"members"})
    members: list[str] = []
    if spec.has("members"):
        members = spec.get("members").string_list()
        for i, member in enumerate(members):
            if member in members[:i]:
                spec.get("members").error(f"user {member!r} is listed twice")
    if name is None:
        return None
    return _resource(cur, "Group", f"group/{name}", {"name": name, "members": sorted(members)})


def _binding(cur: Cursor) -> Resource | None:
    spec = _spec(cur, {"user", "group", "role", "project", "workspace"})
    if not spec.is_map("an object"):
        spec.error("spec is required: user or group, role and project or workspace")
        return None
    role = spec.get("role").string()
    scope_kind = ROLE_SCOPES.get(role or "")
    if scope_kind is None:
        spec.get("role").error(f"expected a role: {', '.join(ROLE_SCOPES)}, got {role!r}")
        return None
    if spec.has("group") and spec.has("user"):
        spec.get("group").error("a binding is for a user or a group, not both")
        return None
    subject_kind = "group" if spec.has("group") else "user"
    subject = _required(spec, subject_kind, subject_kind)
    scope = _binding_scope(spec, role or "", scope_kind)
    if subject is None or (scope is None and scope_kind != "org"):
        return None
    fields = {
        "subject_kind": subject_kind,
        "subject": subject,
        "role": role,
        "scope_kind": scope_kind,
        "scope": scope,
    }
    where = f"{scope_kind}/{scope}" if scope else "org"
    who = subject if subject_kind == "user" else f"group:{subject}"
    return _resource(cur, "RoleBinding", f"rolebinding/{who}/{role}/{where}", fields)


def _binding_scope(spec: Cursor, role: str, scope_kind: str) -> str | None:
    for other in ("project", "workspace"):
        if other != scope_kind and spec.has(other):
            wanted = f"spec.{scope_kind}" if scope_kind != "org" else "no scope (the org)"
            spec.get(other).error(f"{role} is bound over {wanted}, not a {other}")
    if scope_kind == "org":
        return None
    return _required(spec, scope_kind, scope_kind)


def _blueprint(cur: Cursor, read_blueprint: BlueprintReader) -> Resource | None:
    """A Blueprint (its own format, validated with located errors); the optional
    ``spec.project`` names the owning project (none: org-wide)."""
    errors_before = sum(d.severity is Severity.ERROR for d in cur.diagnostics)
    spec = read_blueprint(cur)
    errors_after = sum(d.severity is Severity.ERROR for d in cur.diagnostics)
    if spec is None or errors_after > errors_before or not spec.name:
        return None
    project = cur.get("spec").get("project").string()
    staged, manifest = _staged_flag(cur)
    fields = {
        "name": spec.name,
        "project": project,
        "manifest": manifest,
        "text": yaml_text(manifest),
        "staged": staged,
    }
    return _resource(cur, "Blueprint", f"blueprint/{spec.name}", fields)


def _staged_flag(cur: Cursor) -> tuple[bool, Any]:
    """A Blueprint's ``spec.staged`` (deploy as staged), and the manifest without it (the
    server stores the blueprint itself; staging is how a version is deployed)."""
    flag = cur.get("spec").get("staged")
    staged = bool(flag.boolean(False)) if flag.present else False
    if not flag.present or not isinstance(cur.value, dict):
        return staged, cur.value
    spec = {k: v for k, v in cur.value["spec"].items() if k != "staged"}
    return staged, {**cur.value, "spec": spec}


def _policy(cur: Cursor) -> Resource | None:
    spec = _spec(cur, {"cluster", "manifest", "staged"})
    staged = bool(spec.get("staged").boolean(False))
    cluster = _required(spec, "cluster", "cluster")
    manifest = spec.get("manifest")
    if not manifest.is_map("a policy object"):
        if not manifest.present:
            manifest.error("spec.manifest is required (a NetworkPolicy, CNP, CCNP, ANP or BANP)")
        return None
    kind = manifest.get("kind").string() or ""
    if kind not in POLICY_API_VERSIONS:
        manifest.get("kind").error(f"expected a policy kind: {', '.join(POLICY_API_VERSIONS)}")
        return None
    if cluster is None:
        return None
    return _policy_resource(manifest, cluster, cur, staged)


def _policy_resource(
    manifest: Cursor, cluster: str, cur: Cursor, staged: bool = False
) -> Resource | None:
    parsed = check_policy(manifest)
    if parsed is None:
        return None
    ref = parsed.ref
    namespace = ref.namespace or ""
    where = f"{cluster}/{namespace}" if namespace else cluster
    fields = {
        "cluster": cluster,
        "kind": ref.kind,
        "namespace": namespace,
        "name": ref.name,
        "manifest": manifest.value,
        "text": yaml_text(manifest.value),
        "staged": staged,  # spec.staged: deploy as staged (evaluated, not enforced)
    }
    return _resource(cur, "Policy", f"{ref.kind.lower()}/{where}/{ref.name}", fields)


def check_policy(cur: Cursor) -> NormalizedPolicy | None:
    """The engine's own reading of a policy object (located errors, None when bad)."""
    kind = cur.get("kind").string() or ""
    expected = POLICY_API_VERSIONS[kind]
    if cur.get("apiVersion").string() != expected:
        cur.get("apiVersion").error(f"{kind} needs apiVersion {expected}")
        return None
    before = len([d for d in cur.diagnostics if d.severity is Severity.ERROR])
    inventory = ClusterInventory("apply")
    if kind == "NetworkPolicy":
        parsed = parse_network_policy(cur, inventory.name)
    elif kind in (CNP, CCNP):
        parsed = parse_cilium_policy(cur, inventory.name, inventory.config)
    else:
        parsed = parse_admin_policy(cur, inventory.name)
    errors = len([d for d in cur.diagnostics if d.severity is Severity.ERROR])
    return parsed if errors == before else None


READERS: dict[str, Callable[[Cursor], Resource | None]] = {  # Blueprint: see read_object
    "Project": _project,
    "Workspace": _workspace,
    "Cluster": _cluster,
    "Namespace": _namespace,
    "User": _user,
    "Group": _group,
    "RoleBinding": _binding,
    "Policy": _policy,
}
