"""What ``get`` and ``describe`` know about each kind: how to list it, its table row, and
its manifest form (the ``netwarden.dev/v1`` object ``apply`` reads back)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from netwarden.cli.names import Names
from netwarden.cli.offline import fail
from netwarden.cli.output import labels_text
from netwarden.client.manifests import policy_object

Doc = dict[str, Any]
API_VERSION = "netwarden.dev/v1"


@dataclass(frozen=True)
class Filters:
    labels: dict[str, str] = field(default_factory=dict)
    cluster: str | None = None
    namespace: str | None = None
    policy_kind: str | None = None


@dataclass(frozen=True)
class View:
    kind: str
    columns: tuple[str, ...]
    fetch: Callable[[Names, Filters], list[Doc]]
    row: Callable[[Names, Doc], list[str]]
    manifest: Callable[[Names, Doc], Doc]
    key: str = "name"  # the field NAME matches


def _object(kind: str, metadata: Doc, spec: Doc, status: Doc | None = None) -> Doc:
    out: Doc = {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}
    if status:
        out["status"] = status
    return out


# --- projects, workspaces, users, groups ---------------------------------------------------


def _project(_: Names, d: Doc) -> Doc:
    return _object(
        "Project", {"name": d["name"], "uid": d["id"]}, {"description": d["description"]}
    )


def _workspace(names: Names, d: Doc) -> Doc:
    spec = {"project": names.name_of("project", d["project"]), "description": d["description"]}
    return _object("Workspace", {"name": d["name"], "uid": d["id"]}, spec)


def _user(_: Names, d: Doc) -> Doc:
    meta = {"name": d["name"], "uid": d["id"]}
    return _object("User", meta, {"email": d["email"]}, {"disabled": d["disabled"]})


def _group(_: Names, d: Doc) -> Doc:
    members = sorted(m["name"] for m in d["members"])
    return _object("Group", {"name": d["name"], "uid": d["id"]}, {"members": members})


def _group_row(_: Names, d: Doc) -> list[str]:
    members = ", ".join(sorted(m["name"] for m in d["members"]))
    return [d["name"], members or "-", d["id"]]


# --- clusters and namespaces ---------------------------------------------------------------


def _clusters(names: Names, f: Filters) -> list[Doc]:
    if f.labels:
        return names.client.list_clusters(f.labels)
    return names.all("cluster")


def _cluster_row(names: Names, d: Doc) -> list[str]:
    return [
        d["name"],
        names.name_of("project", d["project"]),
        labels_text(d["labels"]),
        d["policy_enforcement"],
        d["enforcement_mode"],
        d.get("cilium_version") or "-",
        d.get("last_heartbeat") or "never",
    ]


def _cluster(names: Names, d: Doc) -> Doc:
    meta = {"name": d["name"], "uid": d["id"], "labels": d["labels"]}
    spec = {
        "project": names.name_of("project", d["project"]),
        "policyEnforcement": d["policy_enforcement"],
        "enforcementMode": d["enforcement_mode"],
    }
    status = {
        "ciliumVersion": d.get("cilium_version"),
        "cniProfile": d.get("cni_profile"),
        "lastHeartbeat": d.get("last_heartbeat"),
    }
    return _object("Cluster", meta, spec, status)


def _namespaces(names: Names, f: Filters) -> list[Doc]:
    if f.cluster is not None:
        clusters = [names.require("cluster", f.cluster)]
    else:
        clusters = names.all("cluster")
    return [ns for c in clusters for ns in names.namespaces(c["id"])]


def _namespace_row(names: Names, d: Doc) -> list[str]:
    return [
        names.name_of("cluster", d["cluster"]),
        d["name"],
        names.name_of("workspace", d["workspace"]) or "-",
        labels_text(d["labels"]),
    ]


def _namespace(names: Names, d: Doc) -> Doc:
    spec: Doc = {"cluster": names.name_of("cluster", d["cluster"])}
    if d["workspace"]:
        spec["workspace"] = names.name_of("workspace", d["workspace"])
    meta = {"name": d["name"], "uid": d["id"], "labels": d["labels"]}
    return _object("Namespace", meta, spec)


# --- role bindings and policies ------------------------------------------------------------


def _subject(names: Names, d: Doc) -> str:
    return names.name_of("group" if d["subject_kind"] == "group" else "user", d["subject"])


def _scope_text(names: Names, d: Doc) -> str:
    if d["scope_kind"] == "org":
        return "org"
    return f"{d['scope_kind']}:{names.name_of(d['scope_kind'], d['scope'])}"


def _binding_row(names: Names, d: Doc) -> list[str]:
    subject = f"{d['subject_kind']}:{_subject(names, d)}"
    return [d["id"], subject, d["role"], _scope_text(names, d)]


def _binding(names: Names, d: Doc) -> Doc:
    subject = _subject(names, d)
    spec: Doc = {d["subject_kind"]: subject, "role": d["role"]}
    if d["scope_kind"] != "org":
        spec[d["scope_kind"]] = names.name_of(d["scope_kind"], d["scope"])
    meta = {"name": f"{subject}-{d['role']}", "uid": d["id"]}
    return _object("RoleBinding", meta, spec)


def _policies(names: Names, f: Filters) -> list[Doc]:
    cluster = names.id_of("cluster", f.cluster) if f.cluster else None
    return names.client.list_policies(cluster, f.namespace, f.policy_kind)


def _policy_row(names: Names, d: Doc) -> list[str]:
    return [
        names.name_of("cluster", d["cluster"]),
        d["namespace"] or "-",
        d["kind"],
        d["name"],
        str(d["version"]),
        d["updated_at"][:19],
    ]


def _policy(names: Names, d: Doc) -> Doc:
    full = d if "yaml" in d else names.client.get_policy(d["id"])
    meta: Doc = {"name": d["name"], "uid": d["id"]}
    if d["namespace"]:
        meta["namespace"] = d["namespace"]
    spec = {"cluster": names.name_of("cluster", d["cluster"]), "manifest": policy_object(full)}
    status = {"version": d["version"], "updatedAt": d["updated_at"], "deleted": d["deleted"]}
    return _object("Policy", meta, spec, status)


def _blueprint(names: Names, d: Doc) -> Doc:
    """The manifest as last applied (``apply`` reads it back unchanged)."""
    full = names.client.get_blueprint(d["id"])
    found: Doc = yaml.safe_load(full["yaml"]) if full.get("yaml") else {}
    return found


def _all(kind: str) -> Callable[[Names, Filters], list[Doc]]:
    return lambda names, _: names.all(kind)


VIEWS: dict[str, View] = {
    "project": View(
        "Project",
        ("NAME", "DESCRIPTION", "ID"),
        _all("project"),
        lambda _, d: [d["name"], d["description"] or "-", d["id"]],
        _project,
    ),
    "workspace": View(
        "Workspace",
        ("NAME", "PROJECT", "DESCRIPTION", "ID"),
        _all("workspace"),
        lambda n, d: [
            d["name"],
            n.name_of("project", d["project"]),
            d["description"] or "-",
            d["id"],
        ],
        _workspace,
    ),
    "cluster": View(
        "Cluster",
        ("NAME", "PROJECT", "LABELS", "ENFORCEMENT", "MODE", "CILIUM", "HEARTBEAT"),
        _clusters,
        _cluster_row,
        _cluster,
    ),
    "namespace": View(
        "Namespace",
        ("CLUSTER", "NAME", "WORKSPACE", "LABELS"),
        _namespaces,
        _namespace_row,
        _namespace,
    ),
    "user": View(
        "User",
        ("NAME", "EMAIL", "DISABLED", "ID"),
        lambda names, _: names.client.list_users(),
        lambda _, d: [d["name"], d["email"] or "-", str(d["disabled"]).lower(), d["id"]],
        _user,
    ),
    "group": View(
        "Group",
        ("NAME", "MEMBERS", "ID"),
        _all("group"),
        _group_row,
        _group,
    ),
    "rolebinding": View(
        "RoleBinding",
        ("ID", "SUBJECT", "ROLE", "SCOPE"),
        lambda names, _: names.client.list_bindings(),
        _binding_row,
        _binding,
        key="id",
    ),
    "blueprint": View(
        "Blueprint",
        ("NAME", "PROJECT", "VERSION", "UPDATED"),
        lambda names, _: names.client.list_blueprints(),
        lambda n, d: [
            d["name"],
            n.name_of("project", d["project"]) if d["project"] else "(org)",
            str(d["version"]),
            d["updated_at"][:19],
        ],
        _blueprint,
    ),
    "policy": View(
        "Policy",
        ("CLUSTER", "NAMESPACE", "KIND", "NAME", "VERSION", "UPDATED"),
        _policies,
        _policy_row,
        _policy,
    ),
}
ALIASES = {
    **{k: k for k in VIEWS},
    **{f"{k}s": k for k in VIEWS if k != "policy"},
    "policies": "policy",
    "pol": "policy",
    "bp": "blueprint",
    "ws": "workspace",
    "ns": "namespace",
    "rb": "rolebinding",
    "role-binding": "rolebinding",
    "role-bindings": "rolebinding",
}


def kind_of(text: str) -> str:
    found = ALIASES.get(text.lower())
    if found is None:
        fail(f"error: unknown kind {text!r}: expected one of {', '.join(VIEWS)} (or plurals)")
    return found
