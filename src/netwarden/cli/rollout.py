"""``netwarden rollout status`` and ``netwarden rollout desired CLUSTER``: where each
cluster stands (synced / pending / failed / drifted / unknown) and the exact objects the
control plane wants it to hold; ``netwarden rollout waves BLUEPRINT`` and ``pause`` /
``resume`` / ``promote``: a blueprint version's staged rollout."""

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


def _show_waves(doc: dict[str, Any], output: Format) -> None:
    if output is not Format.table:
        emit_documents([doc], output)
        return
    typer.echo(
        f"blueprint {doc['blueprint']} version {doc['version']} "
        f"(released everywhere: v{doc['released_version']}): {doc['state']}"
        + (f", wave {doc['wave']}" if doc.get("wave") else "")
    )
    if doc.get("message"):
        typer.echo(doc["message"])
    rows = [
        [w["name"], w["phase"], c["cluster"], c["state"]]
        for w in doc.get("waves", [])
        for c in w["clusters"] or [{"cluster": "-", "state": "-"}]
    ]
    emit_table(("WAVE", "PHASE", "CLUSTER", "STATE"), rows, "no staged rollout")


def _waves_command(verb: str | None, summary: str) -> None:
    """``rollout waves`` (GET) and the controls (POST ``rollout/VERB``): one shape."""

    def command(
        blueprint: Annotated[str, typer.Argument(help="Blueprint name.")],
        output: OutputOpt = Format.table,
        context: ContextOpt = None,
        server: ServerOpt = None,
        token: TokenOpt = None,
    ) -> None:
        with session(context, server, token) as client:
            found = Names(client).require("blueprint", blueprint)
            path = f"/api/v1/blueprints/{found['id']}/rollout"
            doc = client.json("POST", f"{path}/{verb}") if verb else client.json("GET", path)
        _show_waves(doc, output)

    command.__doc__ = summary
    rollout_app.command(verb or "waves")(command)


_waves_command(None, "A blueprint's latest staged rollout: its waves and each cluster's state.")
_waves_command("pause", "Pause a blueprint's rollout in progress (no further wave is released).")
_waves_command("resume", "Resume a paused rollout (a wave that still fails pauses it again).")
_waves_command("promote", "Release the next wave now, whatever the current wave's state.")


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")
