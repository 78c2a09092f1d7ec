"""``netwarden apply`` and ``netwarden diff``: manifests against the server's state.

Both read and check every manifest first (located errors, nothing sent), then plan by
reading the server (:mod:`netwarden.client.planning`, shared with the server's GitOps
follower). ``apply`` runs the plan's steps in dependency order and prints a line per
object; ``diff`` prints the differences and exits 1 when there are some.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any

import typer

from netwarden.cli import render
from netwarden.cli.context import ContextOpt, ServerOpt, TokenOpt, session
from netwarden.cli.names import Names
from netwarden.cli.offline import fail
from netwarden.cli.output import Format, OutputOpt, emit_documents
from netwarden.client.manifests import Resource, load_manifests
from netwarden.client.plan import Plan, Step
from netwarden.client.planning import StepFailed, build_plan, execute, summary
from netwarden.control.blueprint_spec import read_spec

FilesOpt = Annotated[
    list[str],
    typer.Option("-f", "--file", help="Manifest file or directory (repeatable)."),
]
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Cluster of plain Kubernetes policy objects (NetworkPolicy, CNP, CCNP, ANP, "
        "BANP) in the files; netwarden.dev/v1 Policy objects name theirs in spec.cluster.",
    ),
]
PruneOpt = Annotated[
    bool,
    typer.Option(
        "--prune",
        help="Also delete the policies of the clusters the manifests' policies target that "
        "the manifests no longer hold. Only policies are pruned, never projects, "
        "workspaces, clusters, namespaces, users or role bindings.",
    ),
]
DiffPruneOpt = Annotated[
    bool,
    typer.Option(
        "--prune", help="Also show the policies 'apply --prune' would delete (policies only)."
    ),
]


def _load(files: list[str], cluster: str | None) -> list[Resource]:
    loaded = load_manifests(files, read_spec, cluster)
    if loaded.errors:
        fail(loaded.errors)
    if not loaded.resources:
        fail(f"error: no objects to apply in {', '.join(files)}")
    return loaded.resources


def _checked(plan: Plan) -> None:
    for warning in plan.warnings:
        typer.echo(str(warning), err=True)
    if plan.errors:
        fail(render.diagnostics_text(plan.errors) + "\nerror: nothing was applied")


def _line(record: dict[str, Any]) -> str:
    changes = f" ({', '.join(record['changes'])})" if record["changes"] else ""
    return f"{record['object']} {record['action']}{changes}"


def _execute(plan: Plan, dry_run: bool, echo: bool) -> list[dict[str, Any]]:
    def shown(record: dict[str, Any]) -> None:
        typer.echo(_line(record))

    try:
        return execute(plan, dry_run, shown if echo else None)
    except StepFailed as exc:
        fail(str(exc))


def _summary(records: list[dict[str, Any]], dry_run: bool) -> str:
    text = ", ".join(f"{n} {action}" for action, n in summary(records).items())
    return text + (" (dry run: nothing was changed)" if dry_run else "")


def apply(
    files: FilesOpt,
    cluster: ClusterOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan (would create, ...); change nothing.")
    ] = False,
    prune: PruneOpt = False,
    output: OutputOpt = Format.table,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create or update what the manifests describe: netwarden.dev/v1 Project, Workspace,
    Cluster, Namespace, User, RoleBinding and Policy objects (and plain Kubernetes policy
    objects with --cluster), in that order. Idempotent: a second run reports every object
    unchanged. Every manifest is checked first; any error stops the command before
    anything is sent. See docs/reference/manifests.md."""
    resources = _load(files, cluster)
    with session(context, server, token) as client:
        plan = build_plan(Names(client), resources, prune)
        _checked(plan)
        records = _execute(plan, dry_run, echo=output is Format.table)
    if output is Format.table:
        typer.echo(_summary(records, dry_run))
    else:
        emit_documents(records, output)


def _unified(step: Step) -> str:
    where = step.location.file if step.location is not None else "(pruned)"
    lines = difflib.unified_diff(
        step.before.splitlines(keepends=True),
        step.after.splitlines(keepends=True),
        fromfile=f"server: {step.label}",
        tofile=f"{where}: {step.label}",
    )
    return "".join(lines).rstrip("\n")


def diff(
    files: FilesOpt,
    cluster: ClusterOpt = None,
    prune: DiffPruneOpt = False,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Show what 'netwarden apply' would change, as unified diffs between the server's
    state and the files' (a policy: the server's current YAML against the file's object).
    Exit status: 0 when there is no difference, 1 when there are differences, 2 on
    error."""
    resources = _load(files, cluster)
    with session(context, server, token) as client:
        plan = build_plan(Names(client), resources, prune)
        _checked(plan)
    changed = [s for s in plan.steps if s.action != "unchanged"]
    for step in changed:
        typer.echo(_unified(step))
    raise typer.Exit(1 if changed else 0)


def register(app: typer.Typer) -> None:
    app.command()(apply)
    app.command()(diff)
