"""``netwarden audit``, ``netwarden policy history|rollback|promote``, ``netwarden
blueprint promote`` and ``netwarden token create|revoke``, and the registration of every
control-plane command."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from netwarden.cli import apply, resources
from netwarden.cli import context as contexts
from netwarden.cli.context import ContextOpt, ServerOpt, TokenOpt, session
from netwarden.cli.names import Names
from netwarden.cli.offline import fail
from netwarden.cli.output import Format, OutputOpt, emit_documents, emit_table
from netwarden.cli.resources import find_policy, version_table
from netwarden.client.http import ApiError

ClusterOpt = Annotated[str, typer.Option("--cluster", help="The policy's cluster.")]
NamespaceOpt = Annotated[
    str | None, typer.Option("--namespace", "-n", help="The policy's namespace.")
]


class Outcome(StrEnum):
    allowed = "allowed"
    denied = "denied"


def audit(
    actor: Annotated[str | None, typer.Option("--actor", help="Only this user's entries.")] = None,
    outcome: Annotated[Outcome | None, typer.Option("--outcome", help="allowed or denied.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Newest N.")] = 50,
    output: OutputOpt = Format.table,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """The audit log, newest first: who did what, when, and whether it was allowed
    (refusals are recorded too). Needs an org role."""
    with session(context, server, token) as client:
        entries = client.audit(limit, outcome.value if outcome else None, actor)
    if output is not Format.table:
        emit_documents(entries, output)
        return
    rows = [
        [(e["at"] or "")[:19], e["actor"], e["outcome"], e["action"], e["kind"], e["name"]]
        for e in entries
    ]
    emit_table(["TIME", "ACTOR", "OUTCOME", "ACTION", "KIND", "NAME"], rows, "No entries.")


policy_app = typer.Typer(
    help="A policy's versions: history, rollback, promote (staged).", no_args_is_help=True
)
blueprint_app = typer.Typer(help="A blueprint's staged version: promote.", no_args_is_help=True)
HoursOpt = Annotated[
    float,
    typer.Option(
        "--hours", min=0.001, max=744, help="Staged outcomes of the last N hours go to the audit."
    ),
]
MessageOpt = Annotated[str, typer.Option("--message", "-m", help="Why.")]


@policy_app.command("history")
def history(
    name: Annotated[str, typer.Argument(help="Policy name.")],
    cluster: ClusterOpt,
    namespace: NamespaceOpt = None,
    output: OutputOpt = Format.table,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Every version of a policy, newest first (a deletion is a version too)."""
    with session(context, server, token) as client:
        doc = find_policy(Names(client), name, cluster, namespace)
        versions = client.policy_versions(doc["id"])
    if output is Format.table:
        emit_table(*version_table(versions), "No versions.")
    else:
        emit_documents(versions, output)


@policy_app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="Policy name.")],
    cluster: ClusterOpt,
    to: Annotated[int, typer.Option("--to", min=1, help="The version to bring back.")],
    namespace: NamespaceOpt = None,
    message: Annotated[str, typer.Option("--message", "-m", help="Why.")] = "",
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Make a new version with an old version's YAML (refused if the policy changed
    while this ran)."""
    with session(context, server, token) as client:
        doc = find_policy(Names(client), name, cluster, namespace)
        done = client.rollback_policy(doc["id"], to, message, doc["version"])
    typer.echo(
        f"{doc['kind'].lower()}/{doc['name']} rolled back to version {to}: "
        f"now version {done['version']}"
    )


@policy_app.command("promote")
def promote_policy(
    name: Annotated[str, typer.Argument(help="Policy name.")],
    cluster: ClusterOpt,
    namespace: NamespaceOpt = None,
    hours: HoursOpt = 24.0,
    message: MessageOpt = "",
    output: OutputOpt = Format.table,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Enforce a staged policy in one step (a new version, not staged); the audit entry
    gets the flows it would have denied or allowed in the last --hours."""
    with session(context, server, token) as client:
        doc = find_policy(Names(client), name, cluster, namespace)
        done = client.promote("policies", doc["id"], hours, message)
        entry = _promotion(client, doc["id"])
    _print_promotion(f"{doc['kind'].lower()}/{doc['name']}", done, entry, output)


@blueprint_app.command("promote")
def promote_blueprint(
    name: Annotated[str, typer.Argument(help="Blueprint name.")],
    hours: HoursOpt = 24.0,
    message: MessageOpt = "",
    output: OutputOpt = Format.table,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Release a staged blueprint version in one step (it rolls out, in waves when it has
    them); the audit entry gets the flows it would have decided in the last --hours."""
    with session(context, server, token) as client:
        blueprint_id = Names(client).require("blueprint", name)["id"]
        done = client.promote("blueprints", blueprint_id, hours, message)
        entry = _promotion(client, blueprint_id)
    _print_promotion(f"blueprint/{name}", done, entry, output)


def _promotion(client: Any, object_id: str) -> dict[str, Any]:
    """The staged outcomes the server put in the promotion's audit entry (needs an org
    role to read the audit log: empty otherwise)."""
    try:
        entries = client.audit(20, None, None)
    except ApiError:
        return {}
    for entry in entries:
        if entry.get("action") == "promote" and entry.get("id") == object_id:
            found: dict[str, Any] = (entry.get("after") or {}).get("staged_preview") or {}
            return found
    return {}


def _print_promotion(
    what: str, done: dict[str, Any], preview: dict[str, Any], output: Format
) -> None:
    if output is not Format.table:
        emit_documents([{**done, "staged_preview": preview or None}], output)
        return
    typer.echo(f"{what} promoted: now version {done['version']}, enforced")
    if not preview:
        return
    flows = preview.get("flows", {})
    typer.echo(
        f"staged outcomes over {preview.get('hours')} h: "
        f"{flows.get('deny', 0)} flows would have been denied, {flows.get('allow', 0)} allowed"
    )
    rows = [
        [c["outcome"], c["source"], c["destination"], f"{c['port'] or ''}/{c['protocol']}",
         str(c["flows"]), (c["last_seen"] or "")[:19]]
        for c in preview.get("connections", [])
    ]  # fmt: skip
    emit_table(["OUTCOME", "SOURCE", "DESTINATION", "PORT", "FLOWS", "LAST SEEN"], rows, "")


token_app = typer.Typer(help="API tokens of users and cluster agents.", no_args_is_help=True)


@token_app.command("create")
def create_token(
    user: Annotated[str | None, typer.Option("--user", help="A user's name.")] = None,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="A cluster's name: a token for its agent.")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A name for the token.")] = "",
    ttl_days: Annotated[
        int | None, typer.Option("--ttl-days", min=1, max=3650, help="Expire after N days.")
    ] = None,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Issue a token to a user (--user) or to a cluster's agent (--cluster) and print it
    (once: only its hash is stored). Org Admins issue user tokens to anyone, users to
    themselves; agent tokens need the cluster's Infra Admin (or an Org Admin)."""
    if (user is None) == (cluster is None):
        fail("error: give --user NAME or --cluster NAME")
    with session(context, server, token) as client:
        names = Names(client)
        if user is not None:
            issued = client.create_user_token(names.id_of("user", user), name, ttl_days)
        else:
            issued = client.create_agent_token(
                names.id_of("cluster", cluster or ""), name, ttl_days
            )
    expires = issued.get("expires_at") or "never"
    owner = user if user is not None else f"the agent of cluster {cluster}"
    typer.echo(f"Token {issued['id']} for {owner} (expires: {expires}), shown once:", err=True)
    typer.echo(issued["token"])


@token_app.command("revoke")
def revoke_token(
    token_id: Annotated[str, typer.Argument(help="The token's id (from 'token create').")],
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Revoke a token: it stops working at once."""
    with session(context, server, token) as client:
        client.revoke_token(token_id)
    typer.echo(f"Token {token_id} revoked.")


def register(app: typer.Typer) -> None:
    """Every command that talks to a Netwarden server's control plane."""
    contexts.register(app)
    resources.register(app)
    apply.register(app)
    app.command()(audit)
    app.add_typer(policy_app, name="policy")
    app.add_typer(blueprint_app, name="blueprint")
    app.add_typer(token_app, name="token")
