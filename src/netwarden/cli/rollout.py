"""``netwarden rollout status`` and ``netwarden rollout desired CLUSTER``: where each
cluster stands (synced / pending / failed / drifted / unknown) and the exact objects the
control plane wants it to hold."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from netwarden.cli.context import ContextOpt, ServerOpt, TokenOpt, session
from netwarden.cli.names import Names
from netwarden.cli.output import Format, OutputOpt, emit_documents, emit_table

rollout_app = typer.Typer(help="Rollout of desired state to clusters.", no_args_is_help=True)


@rollout_app.command("status")
def status(
    output: OutputOpt = Format.table,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Sync state of every cluster you may see: desired vs applied generation, errors."""
    with session(context, server, token) as client:
        items: list[dict[str, Any]] = client.json("GET", "/api/v1/rollout")["items"]
    if output is not Format.table:
        emit_documents(items, output)
        return
    rows = [
        [
            i["cluster"],
            i["state"],
            str(i["desired_generation"]),
            str(i["applied_generation"]),
            str(len(i["errors"])),
            str(len(i["drift"])),
            (i["last_heartbeat"] or "-")[:19],
        ]
        for i in items
    ]
    headers = ("CLUSTER", "STATE", "DESIRED", "APPLIED", "ERRORS", "DRIFT", "HEARTBEAT")
    emit_table(headers, rows, "no clusters")


@rollout_app.command("desired")
def desired(
    cluster: Annotated[str, typer.Argument(help="Cluster name.")],
    output: OutputOpt = Format.yaml,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """The objects the control plane wants CLUSTER to hold (with their sources)."""
    with session(context, server, token) as client:
        found = Names(client).require("cluster", cluster)
        state = client.desired_state(found["id"])
    if output is Format.table:
        rows = [
            [
                o["kind"],
                o["metadata"].get("namespace", "-"),
                o["metadata"]["name"],
                o["metadata"]["annotations"]["netwarden.dev/source"],
            ]
            for o in state["objects"]
        ]
        typer.echo(f"generation {state['generation']}; settings {state['settings']}")
        emit_table(("KIND", "NAMESPACE", "NAME", "SOURCE"), rows, "no objects")
        for conflict in state.get("conflicts", []):
            typer.echo(f"conflict: {conflict}", err=True)
        return
    emit_documents(state["objects"], output)


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")
