"""``netwarden flows``: read flows like ``hubble observe``, filter them, explain verdicts.

Flows come from JSON lines files (``--file``, ``hubble observe -o json|jsonpb`` or exporter
output) or from Hubble Relay (``--server``). Filter flags have ``hubble observe``'s names and
semantics (:func:`netwarden.flows.filters.observe_filters`); since ``--not`` negates the
*next* filter flag, the command records the order the flags were given in (Click keeps
one entry per occurrence) and hands them to ``observe_filters`` in that order.
With ``-p/--policies``, each flow is attributed with the policy engine.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from netwarden.cli import flows_import, render
from netwarden.cli.context import flows_target
from netwarden.cli.flows_api import from_api
from netwarden.cli.offline import fail, load_world
from netwarden.engine.compiled import CompiledEngine
from netwarden.flows.decode import decode_path
from netwarden.flows.enrich import EnrichedFlow, Enricher
from netwarden.flows.filters import (
    FilterError,
    FlowFilter,
    ObserveFilters,
    Option,
    observe_filters,
)
from netwarden.flows.hubble_client import HubbleClient, HubbleError
from netwarden.flows.timeparse import parse_time
from netwarden.model.diagnostics import Diagnostic
from netwarden.model.flow import Flow, Verdict

# Python parameter name -> hubble observe flag, for every filter option of the command.
FILTER_FLAGS = {
    "not_": "not",
    "namespace": "namespace",
    "from_namespace": "from-namespace",
    "to_namespace": "to-namespace",
    "pod": "pod",
    "from_pod": "from-pod",
    "to_pod": "to-pod",
    "label": "label",
    "from_label": "from-label",
    "to_label": "to-label",
    "fqdn": "fqdn",
    "from_fqdn": "from-fqdn",
    "to_fqdn": "to-fqdn",
    "ip": "ip",
    "from_ip": "from-ip",
    "to_ip": "to-ip",
    "identity": "identity",
    "from_identity": "from-identity",
    "to_identity": "to-identity",
    "port": "port",
    "from_port": "from-port",
    "to_port": "to-port",
    "protocol": "protocol",
    "verdict": "verdict",
    "drop_reason_desc": "drop-reason-desc",
    "traffic_direction": "traffic-direction",
    "event_type": "type",
    "tcp_flags": "tcp-flags",
    "http_method": "http-method",
    "http_path": "http-path",
    "http_status": "http-status",
    "node_name": "node-name",
}
_ORDER = "netwarden.flows.filter_order"
DEFAULT_SERVER_LAST = 20  # hubble observe's default when neither --follow nor a range is given


class FlowsCommand(TyperGroup):
    """Records the filter flags in command-line order (``--not`` applies to the next one).

    A group: ``netwarden flows [FILTERS]`` reads flows, ``netwarden flows import`` stores
    an export."""

    # ``ctx`` is Typer's (vendored) Click context; Any keeps this independent of where
    # Typer gets Click from.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        parser = self.make_parser(ctx)
        try:  # a first, side-effect-free parse, only for the order of the options
            opts, _, order = parser.parse_args(args=list(args))
        except Exception:  # a usage error: the real parse below reports it
            opts, order = {}, []
        seen: Counter[str] = Counter()
        ordered: list[Option] = []
        for param in order:
            name = param.name or ""
            flag = FILTER_FLAGS.get(name)
            if flag is None:
                continue
            if flag == "not":
                ordered.append("not")
                continue
            values = opts.get(name) or []
            ordered.append((flag, str(values[seen[name]])))
            seen[name] += 1
        ctx.meta[_ORDER] = ordered
        return super().parse_args(ctx, args)


class FlowOutput(StrEnum):
    table = "table"
    json = "json"
    compact = "compact"


def _filter_opt(flag: str, help_text: str, short: str | None = None) -> Any:
    names = [f"--{flag}"] if short is None else [f"-{short}", f"--{flag}"]
    return typer.Option(*names, help=help_text, rich_help_panel="Filters (hubble observe)")


FilterOpt = list[str] | None


def flows(
    ctx: typer.Context,
    files: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            "--from-file",
            help="Flows file: hubble observe -o json/jsonpb lines or Hubble exporter "
            "output (repeatable; '-' is standard input).",
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option("--server", help="Hubble Relay (or agent) address, HOST:PORT."),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            envvar="NETWARDEN_API",
            help="Netwarden server URL: stored flows (and --follow: live) in your scope "
            "(default with no other source: the current context, see 'netwarden login').",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="NETWARDEN_TOKEN", help="API token for --api."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep streaming new flows (--server or --api).")
    ] = False,
    last: Annotated[
        int | None,
        typer.Option(
            "--last",
            min=1,
            help="Only the last N matching flows (per node through Relay). "
            f"--server without --follow/--since/--until: {DEFAULT_SERVER_LAST}.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Flows since this time: RFC 3339 or a duration ago (5m, 1h30m)."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Flows until this time: RFC 3339 or a duration ago (5m, 1h30m)."
        ),
    ] = None,
    policies: Annotated[
        list[str] | None,
        typer.Option(
            "-p",
            "--policies",
            help="Manifest file or directory, as 'verdict -f' (repeatable): attribute "
            "every flow to the tier, policy and rule that decide it.",
        ),
    ] = None,
    drops: Annotated[
        bool,
        typer.Option(
            "--drops", help="Dropped flows only (with -p: and the policy that dropped them)."
        ),
    ] = False,
    output: Annotated[
        FlowOutput,
        typer.Option(
            "-o",
            "--output",
            help="table: one row per flow; json: one JSON object per line (the flow as "
            "Hubble JSON, plus 'attribution' with -p); compact: hubble's compact lines.",
        ),
    ] = FlowOutput.table,
    not_: Annotated[
        int,
        typer.Option(
            "--not",
            count=True,
            help="Negate the next filter flag, as hubble observe does: "
            "'--not --pod shop/db-0'. Several --not filters AND together.",
            rich_help_panel="Filters (hubble observe)",
        ),
    ] = 0,
    namespace: Annotated[FilterOpt, _filter_opt("namespace", "Either side in NS.", "n")] = None,
    from_namespace: Annotated[FilterOpt, _filter_opt("from-namespace", "Source in NS.")] = None,
    to_namespace: Annotated[FilterOpt, _filter_opt("to-namespace", "Destination in NS.")] = None,
    pod: Annotated[FilterOpt, _filter_opt("pod", "Either side: [NS/]POD prefix.")] = None,
    from_pod: Annotated[FilterOpt, _filter_opt("from-pod", "Source [NS/]POD prefix.")] = None,
    to_pod: Annotated[FilterOpt, _filter_opt("to-pod", "Destination [NS/]POD prefix.")] = None,
    label: Annotated[
        FilterOpt, _filter_opt("label", "Either side matches a label selector.", "l")
    ] = None,
    from_label: Annotated[FilterOpt, _filter_opt("from-label", "Source label selector.")] = None,
    to_label: Annotated[FilterOpt, _filter_opt("to-label", "Destination label selector.")] = None,
    fqdn: Annotated[FilterOpt, _filter_opt("fqdn", "Either side's DNS name (* wildcards).")] = None,
    from_fqdn: Annotated[FilterOpt, _filter_opt("from-fqdn", "Source DNS name.")] = None,
    to_fqdn: Annotated[FilterOpt, _filter_opt("to-fqdn", "Destination DNS name.")] = None,
    ip: Annotated[FilterOpt, _filter_opt("ip", "Either side's IP or CIDR.")] = None,
    from_ip: Annotated[FilterOpt, _filter_opt("from-ip", "Source IP or CIDR.")] = None,
    to_ip: Annotated[FilterOpt, _filter_opt("to-ip", "Destination IP or CIDR.")] = None,
    identity: Annotated[
        FilterOpt, _filter_opt("identity", "Either side's security identity.")
    ] = None,
    from_identity: Annotated[
        FilterOpt, _filter_opt("from-identity", "Source security identity.")
    ] = None,
    to_identity: Annotated[
        FilterOpt, _filter_opt("to-identity", "Destination security identity.")
    ] = None,
    port: Annotated[FilterOpt, _filter_opt("port", "Either side's L4 port.")] = None,
    from_port: Annotated[FilterOpt, _filter_opt("from-port", "Source L4 port.")] = None,
    to_port: Annotated[FilterOpt, _filter_opt("to-port", "Destination L4 port.")] = None,
    protocol: Annotated[
        FilterOpt, _filter_opt("protocol", "L4/L7 protocol: tcp, udp, icmpv4, http, dns, ...")
    ] = None,
    verdict: Annotated[
        FilterOpt, _filter_opt("verdict", "FORWARDED, DROPPED, AUDIT, REDIRECTED, ...")
    ] = None,
    drop_reason_desc: Annotated[
        FilterOpt, _filter_opt("drop-reason-desc", "Drop reason, e.g. POLICY_DENIED.")
    ] = None,
    traffic_direction: Annotated[
        FilterOpt, _filter_opt("traffic-direction", "ingress or egress.")
    ] = None,
    event_type: Annotated[
        FilterOpt, _filter_opt("type", "Event type: trace, drop, l7, policy-verdict[:SUB].", "t")
    ] = None,
    tcp_flags: Annotated[
        FilterOpt, _filter_opt("tcp-flags", "Comma-separated TCP flags, e.g. SYN,ACK.")
    ] = None,
    http_method: Annotated[FilterOpt, _filter_opt("http-method", "HTTP method.")] = None,
    http_path: Annotated[FilterOpt, _filter_opt("http-path", "HTTP path regex.")] = None,
    http_status: Annotated[
        FilterOpt, _filter_opt("http-status", "HTTP status code or class (404, 5+).")
    ] = None,
    node_name: Annotated[
        FilterOpt, _filter_opt("node-name", "Node name pattern ([CLUSTER/]NODE, wildcards).")
    ] = None,
    staged_denied: Annotated[
        str | None,
        typer.Option(
            "--staged-denied",
            metavar="POLICY",
            help="Only flows a staged (not enforced) policy would deny: POLICY is its "
            "name, namespace/name or Kind/namespace/name (a blueprint's name), '*' any.",
            rich_help_panel="Filters (Netwarden)",
        ),
    ] = None,
) -> None:
    """Read flows like `hubble observe` (from files, Hubble Relay or the Netwarden
    server's store in your scope), filter them with
    hubble observe's filter flags, and, with -p, explain each verdict: the tier, policy and
    rule that allowed or denied the flow, and whether that agrees with Hubble. Filter flags
    apply in command-line order, so '--not' negates the flag right after it."""
    if ctx.invoked_subcommand is not None:
        return
    options: list[Option] = list(ctx.meta.get(_ORDER, []))
    if sum(map(bool, (files, server, api))) > 1:
        fail("error: give one source: --file (one or more), --server (Hubble Relay) or --api")
    if drops:
        if _positive_flags(options, "verdict"):
            fail("error: --drops and --verdict cannot be combined (--drops is --verdict DROPPED)")
        options.insert(0, ("verdict", Verdict.DROPPED.name))
    try:
        filters = with_staged_denied(observe_filters(options), staged_denied)
    except FilterError as exc:  # UnsupportedFilterError is a FilterError
        fail(f"error: {exc}")
    since_ns = _time_option("--since", since)
    until_ns = _time_option("--until", until)
    enricher = None
    if policies:
        world, _ = load_world(policies)
        enricher = Enricher(CompiledEngine(world), always_attribute=True)
    if files:
        if follow:
            fail("error: --follow needs --server")
        stream = _from_files(files, filters, since_ns, until_ns, last)
        _emit(stream, enricher, output, batch=True)
        return
    if server is None:  # --api, or the current context (netwarden login)
        api, token = flows_target(api, token)
        stream = from_api(api, token, filters, since, until, last, follow)
        _emit(stream, enricher, output, batch=not follow)
        return
    assert server is not None
    number = last or 0
    if not follow and last is None and since is None and until is None:
        number = DEFAULT_SERVER_LAST
    try:
        client = HubbleClient(server)
    except (HubbleError, ValueError) as exc:
        fail(f"error: --server {server}: {exc}")
    with client:
        try:
            subscription = client.get_flows(
                whitelist=[f.to_json() for f in filters.whitelist],
                blacklist=[f.to_json() for f in filters.blacklist],
                since=since_ns,
                until=until_ns,
                number=number,
                follow=follow,
            )
            with subscription:
                _emit(subscription, enricher, output, batch=not follow)
            for diag in subscription.errors:
                typer.echo(str(diag), err=True)
        except HubbleError as exc:
            fail(f"error: {exc}")
        except KeyboardInterrupt:  # pragma: no cover - interactive --follow
            raise typer.Exit(0) from None


def with_staged_denied(filters: ObserveFilters, policy: str | None) -> ObserveFilters:
    """``--staged-denied``: every whitelist filter also needs the staged mark (AND)."""
    if policy is None:
        return filters
    wanted = (policy or "*",)
    allow = [replace(f, staged_denied=wanted) for f in filters.whitelist]
    return ObserveFilters(tuple(allow or [FlowFilter(staged_denied=wanted)]), filters.blacklist)


def _positive_flags(options: Iterable[Option], flag: str) -> bool:
    negate = False
    for option in options:
        name = option if isinstance(option, str) else option[0]
        if name == "not":
            negate = True
            continue
        if name == flag and not negate:
            return True
        negate = False
    return False


def _time_option(name: str, text: str | None, now: datetime | None = None) -> int | None:
    """RFC 3339 time or a Go duration (``1h30m``) before now -> nanoseconds since the epoch."""
    if text is None:
        return None
    try:
        return parse_time(text, now)
    except ValueError as exc:
        fail(f"error: {name}: {exc}")


def _from_files(
    files: list[str],
    filters: ObserveFilters,
    since: int | None,
    until: int | None,
    last: int | None,
) -> Iterator[Flow]:
    """The matching flows of every file in order; decode errors reported on stderr."""
    results = []
    for path in files:
        result = decode_path(path)
        if result.errors and result.errors[0].location.line is None:
            fail([result.errors[0]])  # missing or unreadable file: nothing to show
        results.append((path, result))
    selected: Iterable[Flow] = (
        flow
        for _, result in results
        for flow in filters.filter(result.flows)
        if _in_range(flow, since, until)
    )
    if last is not None:
        selected = deque(selected, maxlen=last)
    yield from selected
    _report_decoding(results)


def _in_range(flow: Flow, since: int | None, until: int | None) -> bool:
    if since is None and until is None:
        return True
    if flow.time is None:
        return False
    return (since is None or flow.time >= since) and (until is None or flow.time <= until)


def _report_decoding(results: list[tuple[str, Any]]) -> None:
    errors: list[Diagnostic] = [d for _, result in results for d in result.errors]
    for diag in errors:
        typer.echo(str(diag), err=True)
    if errors:
        per_file = ", ".join(f"{path}: {len(r.errors)}" for path, r in results if r.errors)
        flows_read = sum(len(r.flows) for _, r in results)
        lines = sum(r.lines for _, r in results)
        typer.echo(
            f"{len(errors)} malformed line{'s' if len(errors) != 1 else ''} skipped "
            f"({per_file}); {flows_read} flows decoded from {lines} lines",
            err=True,
        )


def _emit(
    stream: Iterable[Flow], enricher: Enricher | None, output: FlowOutput, *, batch: bool
) -> None:
    items: Iterable[tuple[Flow, EnrichedFlow | None]]
    if enricher is None:
        items = ((flow, None) for flow in stream)
    elif batch:
        flows = list(stream)
        items = zip(flows, enricher.enrich(flows), strict=True)
    else:
        items = ((e.flow, e) for e in enricher.enrich_stream(stream, always_attribute=True))
    if output is FlowOutput.table:
        headers = ["TIME", "SOURCE", "DESTINATION", "PORT", "VERDICT"]
        if enricher is not None:
            headers += ["POLICY", "AGREES"]
        rows = (render.flow_row(flow, enriched, enricher is not None) for flow, enriched in items)
        if batch:
            typer.echo(render.table(headers, list(rows)))
        else:  # streaming: no look-ahead for column widths
            typer.echo(render.stream_row(headers))
            for row in rows:
                typer.echo(render.stream_row(row))
        return
    for flow, enriched in items:
        if output is FlowOutput.json:
            typer.echo(json.dumps(render.flow_record(flow, enriched), separators=(",", ":")))
        else:
            typer.echo(render.flow_compact(flow, enriched))


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        cls=FlowsCommand,
        invoke_without_command=True,
        no_args_is_help=False,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    group.callback()(flows)
    flows_import.register(group)
    app.add_typer(group, name="flows")


__all__ = ["FILTER_FLAGS", "FlowsCommand", "flows", "register"]
