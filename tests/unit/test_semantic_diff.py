"""Semantic diff of a policy change on the demo fleet, checked against the reference
evaluator port by port."""

from __future__ import annotations

from pathlib import Path

from netwarden.engine.connectivity import ALL, PortSet
from netwarden.engine.diff import semantic_diff, subtract
from netwarden.engine.reference import ReferenceEvaluator
from netwarden.engine.world import World
from netwarden.model.endpoint import EndpointKind
from netwarden.model.ports import Protocol
from netwarden.sources.loader import load_inputs

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"
PORTS = (53, 80, 443, 5432, 8080, 9090)


def world(*names: str) -> World:
    loaded = load_inputs([str(DEMO / n) for n in names])
    assert not loaded.errors
    return World(loaded.clusters, loaded.policies)


def test_removing_the_shop_policies_reports_exactly_the_changed_connections() -> None:
    before = world("00-cluster.yaml", "10-day0-defaults.yaml", "20-shop.yaml")
    after = world("00-cluster.yaml", "10-day0-defaults.yaml")
    changes = semantic_diff(before, after)
    assert changes, "dropping shop's allow rules must close connections"
    old, new = ReferenceEvaluator(before), ReferenceEvaluator(after)
    pods = {p.display(): p for p in after.endpoints() if p.kind is EndpointKind.POD}
    changed = {(c.source, c.destination): c for c in changes}
    for src_name, src in pods.items():
        for dst_name, dst in pods.items():
            if src_name == dst_name:
                continue
            change = changed.get((src_name, dst_name))
            for port in PORTS:
                was = old.verdict(src, dst, port, Protocol.TCP).allowed
                now = new.verdict(src, dst, port, Protocol.TCP).allowed
                if was == now:
                    assert change is None or not (
                        change.added.allows(port, 0) or change.removed.allows(port, 0)
                    ), (src_name, dst_name, port)
                else:
                    assert change is not None, (src_name, dst_name, port)
                    assert (
                        change.removed.allows(port, 0) is was
                        and change.added.allows(port, 0) is now
                    )


def test_no_change_no_diff_and_limit() -> None:
    same = world("00-cluster.yaml", "10-day0-defaults.yaml", "20-shop.yaml")
    assert semantic_diff(same, same) == []
    before = world("00-cluster.yaml")
    after = world("00-cluster.yaml", "10-day0-defaults.yaml")
    assert len(semantic_diff(before, after, limit=3)) == 3


def test_port_set_subtraction() -> None:
    tcp = PortSet((((1, 100), (200, 300)), (), ()), False)
    hole = PortSet((((50, 250),), (), ()), False)
    assert subtract(tcp, hole).ranges[0] == ((1, 49), (251, 300))
    assert subtract(hole, tcp).ranges[0] == ((101, 199),)
    assert subtract(ALL, ALL).empty and subtract(ALL, tcp).other is not False
