"""Offline commands: they read manifests from files and need no server."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from netwarden.cli import render
from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.connectivity import connectivity_map
from netwarden.engine.explain import explain_connection
from netwarden.engine.lint import CHECKS, SEVERITY_RANK
from netwarden.engine.lint import lint as run_lint
from netwarden.engine.matrix import connectivity_matrix
from netwarden.engine.probe import resolve_probes
from netwarden.engine.world import UnknownEndpoint, World
from netwarden.model.diagnostics import Diagnostic, Severity
from netwarden.model.ports import Protocol
from netwarden.sources.loader import PolicyInput, load_inputs
from netwarden.sources.probes import parse_probes


class Output(StrEnum):
    json = "json"
    table = "table"


class FailOn(StrEnum):
    error = "error"
    warning = "warning"
    never = "never"


FilesOpt = Annotated[
    list[str],
    typer.Option(
        "-f",
        "--file",
        help="Manifest file or directory (repeatable); 'cluster=path' names the cluster.",
    ),
]


def fail(diags: list[Diagnostic] | str) -> NoReturn:
    text = diags if isinstance(diags, str) else render.diagnostics_text(diags)
    typer.echo(text, err=True)
    raise typer.Exit(2)


def load_world(files: list[str], quiet_notes: bool = True) -> tuple[World, PolicyInput]:
    if not files:
        fail("error: at least one -f/--file is required")
    inp = load_inputs(files)
    if inp.errors:
        fail(inp.errors)
    for diag in inp.diagnostics:
        if diag.severity is Severity.WARNING or not quiet_notes:
            typer.echo(str(diag), err=True)
    return World(inp.clusters, inp.policies), inp


def verdict(
    files: FilesOpt,
    probes: Annotated[Path, typer.Option("--probes", help="YAML/JSON list of probes.")],
    output: Annotated[
        Output, typer.Option("-o", "--output", help="json: one record per probe; table: text.")
    ] = Output.json,
) -> None:
    """Evaluate connectivity probes against the policies in the inputs."""
    world, _ = load_world(files)
    try:
        text = probes.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{probes}: error: cannot read probes: {exc}")
    parsed, diags = parse_probes(text, str(probes))
    if [d for d in diags if d.severity is Severity.ERROR]:
        fail(diags)
    resolved, diags = resolve_probes(world, parsed)
    if diags:
        fail(diags)
    engine = CompiledEngine(world)
    records = []
    rows = []
    for rp in resolved:
        v = engine.verdict(rp.source, rp.destination, rp.probe.port, rp.probe.protocol, rp.http)
        extra: dict[str, object] = {}
        if rp.http is not None:
            extra["http"] = {"method": rp.http.method, "path": rp.http.path}
        if rp.probe.dns_name:
            extra["dns_name"] = rp.probe.dns_name
        records.append(render.verdict_record(v, rp.probe.source, rp.probe.destination, extra))
        rows.append(
            [
                rp.probe.source,
                rp.probe.destination,
                f"{rp.probe.port}/{rp.probe.protocol.value}",
                "allow" if v.allowed else "deny",
                render.direction_summary(v.egress),
                render.direction_summary(v.ingress),
            ]
        )
    if output is Output.json:
        typer.echo(render.dumps(records))
    else:
        headers = ["FROM", "TO", "PORT", "VERDICT", "EGRESS", "INGRESS"]
        typer.echo(render.table(headers, rows))


def _protocol(text: str) -> Protocol:
    try:
        proto = Protocol.parse(text)
    except ValueError as exc:
        fail(f"error: --protocol: {exc}")
    return proto


def explain(
    files: FilesOpt,
    source: Annotated[str, typer.Option("--from", help="namespace/pod or IP")],
    destination: Annotated[str, typer.Option("--to", help="namespace/pod or IP")],
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Destination port.")],
    protocol: Annotated[str, typer.Option("--protocol", help="TCP, UDP or SCTP.")] = "TCP",
    dns_name: Annotated[
        str | None, typer.Option("--dns-name", help="Name the destination IP was resolved from.")
    ] = None,
    http_method: Annotated[
        str | None, typer.Option("--http-method", help="HTTP request method (L7 rules).")
    ] = None,
    http_path: Annotated[
        str | None, typer.Option("--http-path", help="HTTP request path (L7 rules).")
    ] = None,
    output: Annotated[
        Output, typer.Option("-o", "--output", help="table: readable trace; json: data.")
    ] = Output.table,
) -> None:
    """Trace every tier, policy and rule that decides one connection."""
    world, _ = load_world(files)
    try:
        src = world.resolve(source)
        dst = world.resolve(destination, dns_name)
    except UnknownEndpoint as exc:
        fail(f"error: {exc}")
    from netwarden.engine.matching import HTTPRequest

    http = HTTPRequest(http_method, http_path or "/") if http_method else None
    exp = explain_connection(world, src, dst, port, _protocol(protocol), http)
    if output is Output.json:
        typer.echo(render.dumps(exp.to_dict()))
    else:
        typer.echo(exp.render())


def matrix(
    files: FilesOpt,
    ports: Annotated[
        str,
        typer.Option(
            "--ports",
            help="Comma-separated PORT/PROTOCOL list, or 'all' for the full connectivity map "
            "(allowed ports of every pod pair).",
        ),
    ] = "80/TCP",
    namespaces: Annotated[
        str | None, typer.Option("--namespaces", help="Comma-separated namespaces to include")
    ] = None,
    output: Annotated[
        Output, typer.Option("-o", "--output", help="table: truth tables; json: nested maps.")
    ] = Output.table,
) -> None:
    """Connectivity matrix of every pod pair, per port (truth-table style), or all ports."""
    world, _ = load_world(files)
    ns_filter = {n.strip() for n in namespaces.split(",")} if namespaces else None
    engine = CompiledEngine(world)
    if ports.strip().lower() == "all":
        pods = [p for p in world.pods() if ns_filter is None or p.namespace in ns_filter]
        pods.sort(key=lambda p: (p.cluster, p.namespace or "", p.name or ""))
        pairs = connectivity_map(engine, pods).allowed_pairs()
        if output is Output.json:
            records = [{"from": s, "to": d, "allowed": p.describe()} for s, d, p in pairs]
            typer.echo(render.dumps(records))
        else:
            rows = [[s, d, p.describe()] for s, d, p in pairs]
            typer.echo(render.table(["FROM", "TO", "ALLOWED"], rows))
            typer.echo(f"{len(pairs)} of {len(pods) * (len(pods) - 1)} ordered pod pairs connect")
        return
    port_list: list[tuple[int, Protocol]] = []
    for item in ports.split(","):
        number, _, proto = item.strip().partition("/")
        if not number.isdigit() or not 0 <= int(number) <= 65535:
            fail(f"error: --ports: {item!r} is not PORT/PROTOCOL or 'all'")
        port_list.append((int(number), _protocol(proto or "TCP")))
    result = connectivity_matrix(engine, world, port_list, ns_filter)
    if output is Output.json:
        typer.echo(render.dumps(result.to_dict()))
    else:
        typer.echo(result.render())


def lint(
    files: Annotated[
        list[str] | None,
        typer.Option(
            "-f",
            "--file",
            help="Manifest file or directory (repeatable); 'cluster=path' names the cluster.",
        ),
    ] = None,
    output: Annotated[
        Output, typer.Option("-o", "--output", help="table: one line per finding; json: data.")
    ] = Output.table,
    fail_on: Annotated[
        FailOn,
        typer.Option("--fail-on", help="Exit 1 when a finding is at least this severe."),
    ] = FailOn.warning,
    checks: Annotated[
        list[str] | None,
        typer.Option("--check", help="Run only this check (code or NWxxx; repeatable)."),
    ] = None,
    list_checks: Annotated[
        bool, typer.Option("--list-checks", help="List every check and exit.")
    ] = False,
) -> None:
    """Find policy misconfigurations: selectors that match nothing, blocked DNS,
    shadowed rules, named ports and CIDRs that match nothing, unsupported features."""
    if list_checks:
        _print_checks(output)
        return
    if checks:
        known = {c.code for c in CHECKS} | {c.number for c in CHECKS}
        unknown = sorted(set(checks) - known)
        if unknown:
            fail(f"error: --check: unknown check {', '.join(unknown)} (see --list-checks)")
    world, _ = load_world(files or [])
    findings = run_lint(world, checks or None)
    if output is Output.json:
        typer.echo(render.dumps([d.to_dict() for d in findings]))
    else:
        typer.echo(render.lint_table(findings))
    if fail_on is not FailOn.never:
        threshold = SEVERITY_RANK[Severity(fail_on.value)]
        if any(SEVERITY_RANK[d.severity] >= threshold for d in findings):
            raise typer.Exit(1)


def _print_checks(output: Output) -> None:
    if output is Output.json:
        records = [
            {"code": c.code, "severity": c.severity.value, "summary": c.summary} for c in CHECKS
        ]
        typer.echo(render.dumps(records))
    else:
        rows = [[c.code, c.severity.value, c.summary] for c in CHECKS]
        typer.echo(render.table(["CODE", "SEVERITY", "SUMMARY"], rows))


def register(app: typer.Typer) -> None:
    app.command()(verdict)
    app.command()(explain)
    app.command()(matrix)
    app.command()(lint)


def main() -> None:  # pragma: no cover
    sys.exit(0)
