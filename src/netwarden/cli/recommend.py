"""``netwarden recommend``: least-privilege policies learned from recorded traffic.

``netwarden recommend --cluster C [--namespace N] [--workload W]`` lists each workload's
status (table) or prints the recommended objects (``-o yaml``: ready to apply; ``-o
json``: the full documents with evidence, proof and comparison);
``netwarden recommend accept --cluster C --namespace N --workload W`` makes the
recommendation a new namespace policy version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from netwarden.cli.context import ContextOpt, ServerOpt, TokenOpt, session
from netwarden.cli.names import Names
from netwarden.cli.offline import fail
from netwarden.cli.output import Format, OutputOpt, emit_documents, emit_table
from netwarden.client.http import NetwardenClient

recommend_app = typer.Typer(
    help="Least-privilege policies learned from recorded flows.", invoke_without_command=True
)
ClusterOpt = Annotated[str, typer.Option("--cluster", help="Cluster name.")]
NamespaceOpt = Annotated[
    str | None, typer.Option("--namespace", "-n", help="Namespace (default: every one).")
]
WorkloadOpt = Annotated[
    str | None, typer.Option("--workload", "-w", help="Workload (Deployment, ... name).")
]
PolicyFormat = Annotated[
    str,
    typer.Option("--format", help="cilium (CiliumNetworkPolicy) or k8s (NetworkPolicy)."),
]
SinceOpt = Annotated[str, typer.Option("--since", help="Learning window start (7d, RFC 3339).")]
LearningOpt = Annotated[
    str, typer.Option("--min-learning", help="Minimum time a workload was seen (24h).")
]
ExternalOpt = Annotated[
    bool,
    typer.Option(
        "--allow-external-ips", help="Learn external addresses reached without a DNS name."
    ),
]


def _params(fmt: str, since: str, min_learning: str, external: bool) -> dict[str, Any]:
    if fmt not in ("cilium", "k8s"):
        fail(f"error: --format {fmt!r}: expected cilium or k8s")
    return {
        "format": fmt,
        "since": since,
        "min_learning": min_learning,
        "allow_external_ips": str(external).lower(),
    }


def _namespaces(client: NetwardenClient, cluster_id: str, namespace: str | None) -> list[str]:
    if namespace:
        return [namespace]
    items = client.json("GET", f"/api/v1/clusters/{cluster_id}/namespaces")["items"]
    return [str(n["name"]) for n in items]


def _time(ns: int | None) -> str:
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")


@recommend_app.callback()
def recommend(
    ctx: typer.Context,
    cluster: ClusterOpt = "",
    namespace: NamespaceOpt = None,
    workload: WorkloadOpt = None,
    output: OutputOpt = Format.table,
    fmt: PolicyFormat = "cilium",
    since: SinceOpt = "7d",
    min_learning: LearningOpt = "24h",
    allow_external_ips: ExternalOpt = False,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Each workload's status, or its recommended policy (with --workload or -o yaml)."""
    if ctx.invoked_subcommand is not None:
        return
    if not cluster:
        fail("error: --cluster is required")
    params = _params(fmt, since, min_learning, allow_external_ips)
    with session(context, server, token) as client:
        cluster_id = str(Names(client).require("cluster", cluster)["id"])
        if workload:
            if not namespace:
                fail("error: --workload needs --namespace")
            path = f"/api/v1/clusters/{cluster_id}/namespaces/{namespace}/recommendations"
            doc = client.json("GET", f"{path}/{workload}", params=params)
            _show_one(doc, output)
            return
        listings = [
            client.json(
                "GET",
                f"/api/v1/clusters/{cluster_id}/namespaces/{ns}/recommendations",
                params=params,
            )
            for ns in _namespaces(client, cluster_id, namespace)
        ]
        if output is Format.yaml:
            _emit_objects(client, cluster_id, listings, params)
            return
    if output is Format.json:
        emit_documents(listings, output)
        return
    rows = [
        [
            doc["namespace"],
            w["workload"],
            w["kind"],
            w["status"],
            str(w["rules"]),
            str(w["flows"]),
            _time(w["last_seen"]),
            "yes" if w["drift"] else "-",
            w["reason"],
        ]
        for doc in listings
        for w in doc["workloads"]
    ]
    headers = ("NAMESPACE", "WORKLOAD", "KIND", "STATUS", "RULES", "FLOWS", "LAST SEEN")
    emit_table((*headers, "DRIFT", "REASON"), rows, "no workloads")


def _emit_objects(
    client: NetwardenClient, cluster_id: str, listings: list[Any], params: dict[str, Any]
) -> None:
    """Every available recommendation as YAML documents (``kubectl apply``-able)."""
    texts = []
    for doc in listings:
        path = f"/api/v1/clusters/{cluster_id}/namespaces/{doc['namespace']}/recommendations"
        for w in doc["workloads"]:
            if w["recommendation"] == "recommendation-available":
                one = client.json("GET", f"{path}/{w['workload']}", params=params)
                texts.append(one["yaml"])
    typer.echo("---\n".join(texts), nl=False)


def _show_one(doc: dict[str, Any], output: Format) -> None:
    if output is Format.json:
        emit_documents([doc], output, single=True)
        return
    if output is Format.yaml:
        if doc.get("yaml") is None:
            fail(f"error: no recommendation: {doc['reason']}")
        typer.echo(doc["yaml"], nl=False)
        return
    typer.echo(f"{doc['namespace']}/{doc['workload']} ({doc['kind']}): {doc['status']}")
    typer.echo(f"  {doc['reason']}")
    proof = doc.get("proof")
    if proof:
        verdict = "holds" if proof["ok"] else "FAILS"
        typer.echo(
            f"  proof {verdict}: {proof['covered_edges']}/{proof['learned_edges']} edges "
            f"allowed, {proof['probes_beyond_evidence']} probes beyond the evidence"
        )
    rows = [
        [
            r["description"],
            str(r["evidence"]["flows"]),
            _time(r["evidence"]["first_seen"]),
            _time(r["evidence"]["last_seen"]),
            ",".join(r["evidence"]["examples"][:1]) or "-",
        ]
        for r in doc.get("rule_evidence", [])
    ]
    emit_table(("RULE", "FLOWS", "FIRST SEEN", "LAST SEEN", "EXAMPLE"), rows, "  no rules")
    for x in doc.get("excluded", []):
        typer.echo(
            f"  set aside: {x['edge']['from']} -> {x['edge']['to']}:{x['edge']['port']}"
            f" ({x['reason']})"
        )


@recommend_app.command("accept")
def accept(
    cluster: ClusterOpt,
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Namespace.")],
    workload: Annotated[str, typer.Option("--workload", "-w", help="Workload name.")],
    fmt: PolicyFormat = "cilium",
    since: SinceOpt = "7d",
    min_learning: LearningOpt = "24h",
    allow_external_ips: ExternalOpt = False,
    message: Annotated[str, typer.Option("--message", "-m", help="Version message.")] = "",
    output: OutputOpt = Format.table,
    context: ContextOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Accept WORKLOAD's recommendation: a new version of its namespace policy."""
    body = {
        **_params(fmt, since, min_learning, allow_external_ips),
        "allow_external_ips": allow_external_ips,
        "message": message,
    }
    with session(context, server, token) as client:
        cluster_id = str(Names(client).require("cluster", cluster)["id"])
        path = f"/api/v1/clusters/{cluster_id}/namespaces/{namespace}/recommendations"
        shown = client.json(
            "GET",
            f"{path}/{workload}",
            params=_params(fmt, since, min_learning, allow_external_ips),
        )
        headers = client.previewed(cluster_id, yaml_text=shown["yaml"]) if shown.get("yaml") else {}
        policy = client.json("POST", f"{path}/{workload}/accept", json=body, headers=headers)
    if output is not Format.table:
        emit_documents([policy], output, single=True)
        return
    typer.echo(
        f"{policy['kind']} {namespace}/{policy['name']} version {policy['version']} "
        f"(policy {policy['id']}): {policy['message']}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(recommend_app, name="recommend")
