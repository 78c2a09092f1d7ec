"""``netwarden get``, ``describe`` and ``delete``: the server's objects by kind and name."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Annotated, Any

import typer

from netwarden.cli import render
from netwarden.cli.context import ContextOpt, ServerOpt, TokenOpt, session
from netwarden.cli.kinds import VIEWS, Filters, kind_of
from netwarden.cli.names import Names
from netwarden.cli.offline import fail
from netwarden.cli.output import Format, OutputOpt, emit_documents, emit_table, parse_labels
from netwarden.client.http import NetwardenClient
from netwarden.client.manifests import yaml_text as to_yaml

Doc = dict[str, Any]
KindArg = Annotated[
    str,
    typer.Argument(
        help="projects, workspaces, clusters, namespaces, users, groups, rolebindings, "
        "blueprints or policies."
    ),
]
ClusterOpt = Annotated[
    str | None, typer.Option("--cluster", help="Cluster name (namespaces, policies).")
]
NamespaceOpt = Annotated[
    str | None, typer.Option("--namespace", "-n", help="Namespace (policies).")
]
PolicyKindOpt = Annotated[
    str | None, typer.Option("--kind", help="Policy kind, e.g. NetworkPolicy (policies).")
]


def _check_filters(kind: str, filters: Filters) -> None:
    given = {
        "label": bool(filters.labels),
        "cluster": filters.cluster is not None,
        "namespace": filters.namespace is not None,
        "kind": filters.policy_kind is not None,
    }
    allowed = {"label": {"cluster"}, "cluster": {"namespace", "policy"}}
    for flag, used in given.items():
        if used and kind not in allowed.get(flag, {"policy"}):
            fail(f"error: --{flag} does not apply to {kind}s")


def find(names: Names, kind: str, name: str, filters: Filters) -> list[Doc]:
    view = VIEWS[kind]
    found = [d for d in view.fetch(names, filters) if d[view.key] == name]
    if not found:
        fail(f"error: {kind} {name!r} not found (or not visible to you)")
    return found


def find_one(names: Names, kind: str, name: str, filters: Filters) -> Doc:
    found = find(names, kind, name, filters)
    if len(found) > 1:
        where = "--cluster, --namespace or --kind" if kind == "policy" else "--cluster"
        fail(f"error: {len(found)} {kind}s are called {name!r}: choose one with {where}")
    return found[0]


def find_policy(names: Names, name: str, cluster: str, namespace: str | None) -> Doc:
    """One policy, deleted ones included (their history and rollback still work)."""
    cluster_id = names.id_of("cluster", cluster)
    docs = names.client.list_policies(cluster_id, namespace, deleted=True)
    found = [d for d in docs if d["name"] == name]
    if not found:
        fail(f"error: policy {name!r} not found in cluster {cluster} (or not visible to you)")
    if len(found) > 1:
        fail(f"error: {len(found)} policies are called {name!r}: choose one with --namespace")
    return found[0]


def get(
    kind: KindArg,
    name: Annotated[str | None, typer.Argument(help="Only this object.")] = None,
    output: OutputOpt = Format.table,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="KEY=VALUE (clusters; repeatable).")
    ] = None,
    cluster: ClusterOpt = None,
    namespace: NamespaceOpt = None,
    policy_kind: PolicyKindOpt = None,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """List objects of a kind (names, not ids, for references). -o yaml prints
    netwarden.dev/v1 manifests that 'netwarden apply' accepts."""
    key = kind_of(kind)
    filters = Filters(parse_labels(label), cluster, namespace, policy_kind)
    _check_filters(key, filters)
    view = VIEWS[key]
    with session(context, server, token) as client:
        names = Names(client)
        docs = find(names, key, name, filters) if name else view.fetch(names, filters)
        if output is Format.table:
            rows = [view.row(names, d) for d in docs]
            emit_table(view.columns, rows, f"No {key}s found.")
        else:
            single = name is not None and len(docs) == 1
            emit_documents([view.manifest(names, d) for d in docs], output, single=single)


def describe(
    kind: KindArg,
    name: Annotated[str, typer.Argument(help="Object name (a role binding's id).")],
    cluster: ClusterOpt = None,
    namespace: NamespaceOpt = None,
    policy_kind: PolicyKindOpt = None,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Show one object in detail: its manifest form and what is related to it (a
    project's workspaces and clusters, a cluster's namespaces, a user's role bindings, a
    policy's current YAML and versions)."""
    key = kind_of(kind)
    filters = Filters({}, cluster, namespace, policy_kind)
    _check_filters(key, filters)
    with session(context, server, token) as client:
        names = Names(client)
        doc = find_one(names, key, name, filters)
        if key == "policy":
            _describe_policy(names, doc)
            return
        shown = VIEWS[key].manifest(names, doc)
        typer.echo(to_yaml({k: v for k, v in shown.items() if k != "apiVersion"}).rstrip())
        for title, headers, rows in _related(names, key, doc):
            table = textwrap.indent(render.table(headers, rows), "  ") if rows else "  (none)"
            typer.echo(f"\n{title}:\n{table}")


def _describe_policy(names: Names, doc: Doc) -> None:
    full = names.client.get_policy(doc["id"])
    cluster = names.name_of("cluster", doc["cluster"])
    where = f"{cluster}/{doc['namespace']}" if doc["namespace"] else cluster
    typer.echo(f"Policy:   {doc['kind']} {where}/{doc['name']}")
    typer.echo(f"ID:       {doc['id']}")
    typer.echo(f"Version:  {doc['version']}{' (deleted)' if doc['deleted'] else ''}")
    typer.echo(f"Author:   {full.get('author') or '-'}  ({doc['updated_at'][:19]})")
    typer.echo(f"Message:  {full.get('message') or '-'}")
    typer.echo("\nCurrent YAML:")
    typer.echo((full.get("yaml") or "(deleted)").rstrip())
    headers, rows = version_table(names.client.policy_versions(doc["id"]))
    typer.echo("\nVersions:\n" + textwrap.indent(render.table(headers, rows), "  "))


def version_table(versions: list[Doc]) -> tuple[list[str], list[list[str]]]:
    rows = [
        [
            str(v["version"]),
            v["author"],
            v["created_at"][:19],
            (v.get("git_commit") or "-")[:12],
            "" if v["yaml"] else "deleted",
            v["message"] or "-",
        ]
        for v in versions
    ]
    return ["VERSION", "AUTHOR", "CREATED", "COMMIT", "STATE", "MESSAGE"], rows


def _related(names: Names, key: str, doc: Doc) -> list[tuple[str, list[str], list[list[str]]]]:
    if key == "project":
        workspaces = [[w["name"]] for w in names.all("workspace") if w["project"] == doc["id"]]
        clusters = [[c["name"]] for c in names.all("cluster") if c["project"] == doc["id"]]
        return [("Workspaces", ["NAME"], workspaces), ("Clusters", ["NAME"], clusters)]
    if key == "cluster":
        rows = [
            [n["name"], names.name_of("workspace", n["workspace"]) or "-"]
            for n in names.namespaces(doc["id"])
        ]
        return [("Namespaces", ["NAME", "WORKSPACE"], rows)]
    if key == "workspace":
        rows = [
            [names.name_of("cluster", n["cluster"]), n["name"]]
            for n in VIEWS["namespace"].fetch(names, Filters())
            if n["workspace"] == doc["id"]
        ]
        return [("Namespaces", ["CLUSTER", "NAME"], rows)]
    if key in ("user", "group"):
        view = VIEWS["rolebinding"]
        bindings = [
            b
            for b in names.client.list_bindings()
            if b["subject_kind"] == key and b["subject"] == doc["id"]
        ]
        related = [("Role bindings", list(view.columns), [view.row(names, b) for b in bindings])]
        if key == "user":
            groups = [[g["name"]] for g in names.all("group") if _member(g, doc["id"])]
            related.insert(0, ("Groups", ["NAME"], groups))
        return related
    return []


def _member(group: Doc, user_id: str) -> bool:
    return any(m["id"] == user_id for m in group["members"])


def delete(
    kind: KindArg,
    name: Annotated[str, typer.Argument(help="Object name (a role binding's id).")],
    cluster: ClusterOpt = None,
    namespace: NamespaceOpt = None,
    policy_kind: PolicyKindOpt = None,
    message: Annotated[str, typer.Option("--message", "-m", help="Policies: why.")] = "",
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete a project, workspace, cluster, user, group, role binding or policy (a
    policy's deletion is a new version: 'netwarden policy rollback' brings it back). A
    workspace goes only once no namespace is assigned to it; a user's tokens are revoked
    and their role bindings and group memberships removed; a group's role bindings go
    with it. The API cannot delete namespaces or blueprints."""
    key = kind_of(kind)
    if key not in DELETABLE and key != "policy":  # a policy's deletion is a new version
        fail(f"error: the API cannot delete {key}s")
    filters = Filters({}, cluster, namespace, policy_kind)
    _check_filters(key, filters)
    with session(context, server, token) as client:
        names = Names(client)
        doc = find_one(names, key, name, filters)
        if key == "policy":
            done = client.delete_policy(doc["id"], message, doc["version"])
            typer.echo(f"{doc['kind'].lower()}/{doc['name']} deleted (version {done['version']})")
            return
        DELETABLE[key](client, doc["id"])
        typer.echo(f"{key}/{name} deleted")


DELETABLE: dict[str, Callable[[NetwardenClient, str], None]] = {
    "project": NetwardenClient.delete_project,
    "workspace": NetwardenClient.delete_workspace,
    "cluster": NetwardenClient.delete_cluster,
    "user": NetwardenClient.delete_user,
    "group": NetwardenClient.delete_group,
    "rolebinding": NetwardenClient.delete_binding,
}


def register(app: typer.Typer) -> None:
    app.command()(get)
    app.command()(describe)
    app.command()(delete)
