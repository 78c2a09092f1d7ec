"""``netwarden gitops status|sync``: the server's GitOps follower."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from netwarden.cli.context import ContextOpt, ServerOpt, TokenOpt, session
from netwarden.cli.offline import fail
from netwarden.cli.output import Format, OutputOpt, emit_documents
from netwarden.client.http import NetwardenClient

gitops_app = typer.Typer(
    help="The git repository the server follows: status, sync now.", no_args_is_help=True
)


def _commit(doc: dict[str, Any] | None) -> str:
    if not doc:
        return "-"
    return f"{doc['sha'][:12]} {doc['subject']} ({doc['time'][:19]})"


def _error(error: dict[str, Any]) -> str:
    where = error.get("file") or ""
    if where and error.get("line"):
        where += f":{error['line']}"
    if error.get("field"):
        where += f" {error['field']}"
    return f"  {where + ': ' if where else ''}{error['message']}"


def _text(status: dict[str, Any]) -> str:
    if status["state"] == "disabled":
        return "GitOps: disabled (the server has no gitops_repo setting)"
    last = status.get("last_attempt") or {}
    plan = ", ".join(f"{n} {action}" for action, n in status["plan"].items()) or "-"
    lines = [
        f"State:        {status['state']}",
        f"Repository:   {status['repo']} (branch {status['branch']}, path {status['path']})",
        f"Last synced:  {_commit(status['last_synced'])}",
        f"Last attempt: {(last.get('at') or 'never')[:19]} {_commit(last.get('commit'))}",
        f"Plan:         {plan}",
    ]
    lines += [f"  {c['object']} {c['action']}" for c in status.get("changes", [])]
    if status["errors"]:
        lines.append("Errors:")
        lines += [_error(e) for e in status["errors"]]
    if status.get("warnings"):
        lines.append("Warnings:")
        lines += [_error(e) for e in status["warnings"]]
    return "\n".join(lines)


def _emit(status: dict[str, Any], output: Format) -> None:
    if output is Format.table:
        typer.echo(_text(status))
    else:
        emit_documents([status], output, single=True)


@gitops_app.command("status")
def status(
    output: OutputOpt = Format.table,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """The followed repository, the last synced commit, the last attempt and its errors
    (file, line, field) and plan. Org Admins and org viewers."""
    with session(context, server, token) as client:
        found = client.gitops_status()
    _emit(found, output)
    if found["state"] == "failed":
        raise typer.Exit(1)


def _wait(client: NetwardenClient, attempts: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = client.gitops_status()
        if found["attempts"] > attempts:
            return found
        if time.monotonic() > deadline:
            fail(f"error: no sync finished within {timeout:g} s (it may still be running)")
        time.sleep(0.25)


@gitops_app.command("sync")
def sync(
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for the sync and show its result.")
    ] = True,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds to wait for the sync.")
    ] = 120.0,
    output: OutputOpt = Format.table,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Fetch the branch and apply its head now, even when that commit was applied
    already (restoring changes made since by other means). Org Admins. Exit status 1
    when the sync failed."""
    with session(context, server, token) as client:
        requested = client.gitops_sync()
        if not wait:
            typer.echo("Sync requested.")
            return
        found = _wait(client, int(requested["attempts"]), timeout)
    _emit(found, output)
    if found["state"] == "failed":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(gitops_app, name="gitops")
