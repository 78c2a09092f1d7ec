"""Staged policies in the flow pipeline: marks (Hubble's ``extensions``), the per-connection
verdict cache, the FlowFilter extension (Python and SQL push-down), metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netwarden.agent.inventory import inventory_body
from netwarden.agent.simulated import load_simulated
from netwarden.control.inventory import world_for
from netwarden.control.models import ClusterInventory
from netwarden.engine.world import World
from netwarden.flows.decode import decode_lines
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.filter_core import FlowFilter, filter_flows
from netwarden.flows.flowencode import flow_to_json
from netwarden.flows.flowjson import flow_from_json
from netwarden.flows.scope import FlowScope
from netwarden.flows.service import FlowService
from netwarden.flows.staged import StagedEvaluator, StagedSource
from netwarden.flows.store_sql import filter_sql
from netwarden.flows.timeline import PolicyTimeline
from netwarden.model.flow import Flow, StagedVerdict

TOPOLOGY = "examples/topologies/storefront.yaml"
DENY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny", "namespace": "storefront"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
}
ALLOW_FROM_INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "frontend-from-ingress", "namespace": "storefront"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "frontend"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                        }
                    }
                ]
            }
        ],
    },
}
DENY_LABEL = "NetworkPolicy/storefront/default-deny"
ALLOW_LABEL = "NetworkPolicy/storefront/frontend-from-ingress"


def _world(objects: list[dict[str, Any]]) -> World:
    body = inventory_body(load_simulated(TOPOLOGY, "c1", seed=1).inventory())
    namespaces = {ns["name"]: ns.get("labels", {}) for ns in body["namespaces"]}
    inventory = ClusterInventory(pods=body["pods"], nodes=body["nodes"])
    return world_for("c1", namespaces, inventory, objects, {})


def _source(label: str, obj: dict[str, Any]) -> StagedSource:
    meta = obj["metadata"]
    return StagedSource(
        label, 1, _world([obj]), frozenset({(obj["kind"], meta["namespace"], meta["name"])})
    )


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return load_simulated(TOPOLOGY, "c1", seed=1).generate(1_500)


@pytest.fixture(scope="module")
def flows(lines: list[bytes]) -> list[Flow]:
    return decode_lines(lines).flows


def _timeline(*sources: StagedSource) -> PolicyTimeline:
    timeline = PolicyTimeline()
    timeline.record(0, _world([]), "generation 1", sources)
    return timeline


def _server_namespace(flow: Flow) -> str:
    reply = flow.is_reply if flow.is_reply is not None else flow.reply
    return (flow.source if reply else flow.destination).namespace


def test_the_mark_rides_in_hubbles_extensions_and_round_trips() -> None:
    flow = Flow(uuid="u1", staged=(StagedVerdict(DENY_LABEL, 3, "deny"),))
    doc = flow_to_json(flow)
    assert doc["extensions"]["@type"] == "type.netwarden.dev/netwarden.v1.FlowExtensions"
    assert doc["extensions"]["staged"] == [{"policy": DENY_LABEL, "version": 3, "outcome": "deny"}]
    assert "staged" not in doc
    assert flow_from_json(doc) == flow
    foreign = {"uuid": "u2", "extensions": {"@type": "type.googleapis.com/x.Y", "a": 1}}
    assert flow_from_json(foreign).staged == ()
    bad = json.dumps({"flow": {"uuid": "u3", "extensions": {**doc["extensions"], "staged": [
        {"policy": "p", "version": 1, "outcome": "maybe"}]}}})  # fmt: skip
    result = decode_lines([bad])
    assert (
        not result.flows and result.errors[0].location.path == "flow.extensions.staged[0].outcome"
    )


def test_flows_into_the_staged_namespace_are_marked_would_be_denied(flows: list[Flow]) -> None:
    enriched = _timeline(_source(DENY_LABEL, DENY)).enrich(flows)
    marked = [e for e in enriched if e.staged]
    assert marked and len(marked) < len(flows)
    for e in marked:
        assert e.staged == (StagedVerdict(DENY_LABEL, 1, "deny"),)
        assert _server_namespace(e.flow) == "storefront"
        assert e.verdict.value == "allow"  # enforced: nothing denies it today
    unmarked_into_storefront = [
        e for e in enriched
        if not e.staged and _server_namespace(e.flow) == "storefront" and not e.uncertain
    ]  # fmt: skip
    # Every attributed connection into the storefront would be denied (self-traffic aside).
    assert all(
        e.ingress is not None and e.ingress.reason.value in ("self", "own-node")
        for e in unmarked_into_storefront
    )


def test_the_cache_gives_the_engines_answer_flow_by_flow(flows: list[Flow]) -> None:
    source = _source(ALLOW_LABEL, ALLOW_FROM_INGRESS)
    timeline = _timeline(source)
    enriched = timeline.enrich(flows)
    evaluator = timeline.staged_evaluators(timeline.snapshots[0])[0]
    assert evaluator.evaluated < len(flows) / 5  # most flows repeat a connection
    base = PolicyTimeline()
    base.record(0, _world([]), "generation 1")
    plain = base.enrich(flows)
    uncached = StagedEvaluator(source, max_cached=0)
    one_by_one = [uncached.marks([e])[0] for e in plain]
    assert [e.staged[0] if e.staged else None for e in enriched] == one_by_one
    outcomes = {m.outcome for e in enriched for m in e.staged}
    assert outcomes == {"allow", "deny"}  # from ingress-nginx allowed, the rest denied
    for e in enriched:
        for m in e.staged:
            client = e.flow.destination if e.is_reply else e.flow.source
            assert (m.outcome == "allow") == (client.namespace == "ingress-nginx")


def test_each_staged_version_is_evaluated_on_its_own(flows: list[Flow]) -> None:
    both = _timeline(_source(DENY_LABEL, DENY), _source(ALLOW_LABEL, ALLOW_FROM_INGRESS))
    only_deny = _timeline(_source(DENY_LABEL, DENY)).enrich(flows)
    for e, alone in zip(both.enrich(flows), only_deny, strict=True):
        assert [m for m in e.staged if m.policy == DENY_LABEL] == list(alone.staged)


def test_stored_marks_filter_in_sql_and_python_and_count(lines: list[bytes]) -> None:
    service = FlowService(DuckDBFlowStore())
    service.timeline("c1").record(0, _world([]), "g1", [_source(DENY_LABEL, DENY)])
    ack = service.ingest_lines(lines, "c1")
    assert ack.stored == ack.offered > 0
    everything = service.query(FlowScope.all())
    for wanted in ("*", "default-deny", "storefront/default-deny", DENY_LABEL):
        ff = FlowFilter(staged_denied=(wanted,))
        got = service.query(FlowScope.all(), [ff])
        assert got == list(filter_flows(everything, [ff])) and got
    assert service.query(FlowScope.all(), [FlowFilter(staged_denied=("default",))]) == []
    assert service.query(FlowScope.all(), [FlowFilter(staged_allowed=("*",))]) == []
    denied = service.query(FlowScope.all(), [FlowFilter(staged_denied=("*",))])
    sql, _, exact = filter_sql(FlowFilter(staged_denied=("*",)))
    assert exact and "staged_denied" in sql
    assert not filter_sql(FlowFilter(staged_denied=("default-deny",)))[2]
    counted = service.metrics.staged.labels("c1", DENY_LABEL, "deny")._value.get()
    assert counted == len(denied)
    assert FlowFilter.from_json({"netwarden": {"stagedDenied": ["x"]}}).staged_denied == ("x",)
    assert FlowFilter(staged_denied=("x",)).to_json() == {"netwarden": {"staged_denied": ["x"]}}


def test_cli_staged_denied_filters_a_flows_file(tmp_path: Any, lines: list[bytes]) -> None:
    from typer.testing import CliRunner

    from netwarden.cli.main import app

    service = FlowService(DuckDBFlowStore())
    service.timeline("c1").record(0, _world([]), "g1", [_source(DENY_LABEL, DENY)])
    service.ingest_lines(lines, "c1")
    stored = service.query(FlowScope.all())
    path = tmp_path / "flows.jsonl"
    path.write_text("\n".join(json.dumps({"flow": flow_to_json(f)}) for f in stored) + "\n")
    denied = [f for f in stored if f.staged]
    runner = CliRunner()
    for args in (["--staged-denied", "*"], ["--staged-denied", "default-deny"]):
        result = runner.invoke(app, ["flows", "--file", str(path), "-o", "json", *args])
        assert result.exit_code == 0, result.output
        assert len(result.output.splitlines()) == len(denied) > 0
    both = ["--staged-denied", "default-deny", "--to-namespace", "kube-system"]
    result = runner.invoke(app, ["flows", "--file", str(path), "-o", "json", *both])
    assert result.exit_code == 0 and result.output.strip() == ""
    none = runner.invoke(app, ["flows", "--file", str(path), "--staged-denied", "nope"])
    assert none.exit_code == 0 and DENY_LABEL not in none.output
