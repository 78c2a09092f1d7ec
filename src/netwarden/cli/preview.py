"""``netwarden preview``: the impact of a draft change on a cluster's recorded traffic.

``-f policy.yaml`` previews a new policy version, ``--delete NAME`` (``[NAMESPACE/]NAME``)
a deletion, ``--blueprint FILE`` a new blueprint version; the server replays the distinct
edges of the window through the engine before and after (``POST
/api/v1/clusters/{id}/preview``). Exit 0 whatever the verdicts; the token it prints is
what a write to a production cluster sends (``apply`` and the policy commands do it
themselves)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from netwarden.cli.context import ContextOpt, ServerOpt, TokenOpt, session
from netwarden.cli.names import Names
from netwarden.cli.offline import fail
from netwarden.cli.output import Format, OutputOpt, emit_documents, emit_table


def preview(
    cluster: Annotated[str, typer.Option("--cluster", help="Cluster name.")],
    file: Annotated[
        Path | None, typer.Option("-f", "--file", help="A policy YAML file (one object).")
    ] = None,
    delete: Annotated[
        str | None, typer.Option("--delete", help="Preview deleting policy [NAMESPACE/]NAME.")
    ] = None,
    blueprint: Annotated[
        Path | None, typer.Option("--blueprint", help="A Blueprint YAML file.")
    ] = None,
    since: Annotated[str, typer.Option(help="Window start: RFC 3339 or a duration (7d).")] = "7d",
    until: Annotated[str | None, typer.Option(help="Window end (default: now).")] = None,
    output: OutputOpt = Format.table,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Which recorded connections a change would deny or allow (exactly one of -f,
    --delete, --blueprint)."""
    if sum(x is not None for x in (file, delete, blueprint)) != 1:
        fail("error: give exactly one of -f, --delete, --blueprint")
    with session(context, server, token) as client:
        found = Names(client).require("cluster", cluster)
        change: dict[str, str] = {}
        if file is not None:
            change["yaml_text"] = _read(file)
        elif blueprint is not None:
            change["blueprint_yaml"] = _read(blueprint)
        else:
            assert delete is not None
            change["delete_policy"] = _policy_id(client, found["id"], delete)
        doc = client.preview(found["id"], since=since, until=until, **change)
    if output is not Format.table:
        emit_documents([doc], output, single=True)
        return
    typer.echo(summary(doc))
    rows = [
        [
            c["change"],
            c["source"]["display"],
            c["destination"]["display"],
            f"{c['port']}/{c['protocol']}",
            str(c["flows"]),
            c["last_seen"][:19],
            ",".join(c["deciding"]) or c["reason"],
        ]
        for c in doc["changes"]
    ]
    headers = ("CHANGE", "SOURCE", "DESTINATION", "PORT", "FLOWS", "LAST SEEN", "DECIDED BY")
    emit_table(headers, rows, "no recorded connection changes verdict")
    if doc["uncertain"]:
        typer.echo("uncertain (not evaluated):")
        uncertain = [
            [
                u["source"]["display"],
                u["destination"]["display"],
                f"{u['port']}/{u['protocol']}",
                str(u["flows"]),
                u["reason"],
            ]
            for u in doc["uncertain"]
        ]
        emit_table(("SOURCE", "DESTINATION", "PORT", "FLOWS", "REASON"), uncertain, "")


def summary(doc: dict[str, Any]) -> str:
    """One line: what the preview of a change found."""
    s = doc["summary"]
    what = doc["change"].get("policy") or doc["change"].get("blueprint") or ""
    return (
        f"preview {doc['change']['kind']} {what} on {doc['cluster']['name']} "
        f"({doc['window']['since'][:19]} .. {doc['window']['until'][:19]}, "
        f"{doc['edges']} edges, {doc['flows']} flows): "
        f"{s['allowed_to_denied']} connections allowed -> denied "
        f"({s['allowed_to_denied_flows']} flows), {s['denied_to_allowed']} denied -> allowed "
        f"({s['denied_to_allowed_flows']} flows), {s['uncertain']} uncertain"
    )


def print_summary(doc: dict[str, Any]) -> None:
    """The client's ``on_preview``: the summary on standard error (output stays clean)."""
    typer.echo(summary(doc), err=True)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        fail(f"error: {path}: {exc.strerror}")
        raise


def _policy_id(client: Any, cluster_id: str, name: str) -> str:
    namespace, _, short = name.rpartition("/")
    found = [
        p
        for p in client.list_policies(cluster_id)
        if p["name"] == short and (not namespace or p["namespace"] == namespace)
    ]
    if len(found) != 1:
        fail(f"error: {len(found)} policies named {name} on this cluster")
    policy_id: str = found[0]["id"]
    return policy_id


def register(app: typer.Typer) -> None:
    app.command("preview")(preview)
