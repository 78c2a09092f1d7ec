"""The compiled evaluator agrees with the reference on random clusters, policies and flows."""

from __future__ import annotations

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.connectivity import connectivity_map
from netwarden.engine.matching import HTTPRequest
from netwarden.engine.reference import ReferenceEvaluator
from netwarden.engine.world import World
from netwarden.model.endpoint import EndpointKind
from netwarden.model.ports import Protocol
from netwarden.sources.loader import load_text
from tests.property.strategies import clusters, connections

PROTO_INDEX = {"TCP": 0, "UDP": 1, "SCTP": 2}


def build(docs: list[dict]) -> World:
    inp = load_text(yaml.safe_dump_all(docs), "generated.yaml")
    assert not inp.errors, [str(e) for e in inp.errors]
    return World(inp.clusters, inp.policies)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    docs=clusters(),
    conns=st.lists(connections(), min_size=1, max_size=25),
    precompile=st.booleans(),
)
def test_compiled_equals_reference(docs: list[dict], conns: list[dict], precompile: bool) -> None:
    world = build(docs)
    reference = ReferenceEvaluator(world)
    compiled = CompiledEngine(world)
    if precompile:
        # Tables built before external endpoints are seen: they grow row by row.
        compiled.compile_all()
    for c in conns:
        src = world.resolve(c["from"])
        dst = world.resolve(c["to"], c["dns_name"])
        http = HTTPRequest(*c["http"]) if "http" in c else None
        proto = Protocol(c["protocol"])
        expected = reference.verdict(src, dst, c["port"], proto, http)
        got = compiled.verdict(src, dst, c["port"], proto, http)
        assert got.egress == expected.egress, (c, got.egress, expected.egress)
        assert got.ingress == expected.ingress, (c, got.ingress, expected.ingress)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=clusters(), conns=st.lists(connections(), min_size=1, max_size=40))
def test_batch_equals_scalar(docs: list[dict], conns: list[dict]) -> None:
    world = build(docs)
    compiled = CompiledEngine(world)
    endpoints = []
    index: dict[tuple[str, str | None], int] = {}
    pairs = []
    for c in conns:
        ids = []
        for text, dns in ((c["from"], None), (c["to"], c["dns_name"])):
            key = (text, dns)
            if key not in index:
                index[key] = len(endpoints)
                endpoints.append(world.resolve(text, dns))
            ids.append(index[key])
        pairs.append(ids)
    arrays = compiled.classify(endpoints)
    src = np.array([p[0] for p in pairs], dtype=np.int64)
    dst = np.array([p[1] for p in pairs], dtype=np.int64)
    ports = np.array([c["port"] for c in conns], dtype=np.int64)
    protos = np.array([PROTO_INDEX[c["protocol"]] for c in conns], dtype=np.int64)
    result = compiled.batch(arrays, src, dst, ports, protos)
    for i, c in enumerate(conns):
        scalar = compiled.verdict(
            endpoints[src[i]], endpoints[dst[i]], c["port"], Protocol(c["protocol"])
        )
        assert bool(result.allowed[i]) == scalar.allowed, (c, scalar)
        assert compiled.outcome(int(result.egress[i])) == scalar.egress, c
        assert compiled.outcome(int(result.ingress[i])) == scalar.ingress, c


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=clusters(),
    after=clusters(),
    conns=st.lists(connections(), min_size=1, max_size=20),
)
def test_incremental_updates_equal_fresh_compile(
    before: list[dict], after: list[dict], conns: list[dict]
) -> None:
    """Engine built on one cluster, then updated to another (new labels, pods, nodes,
    policies), answers exactly like the reference evaluator on the new cluster."""
    old_world, new_world = build(before), build(after)
    engine = CompiledEngine(old_world)
    engine.compile_all()
    engine.update_world(new_world)
    engine.update_policies(add=new_world.policies, remove=[p.ref for p in old_world.policies])
    reference = ReferenceEvaluator(new_world)
    for c in conns:
        src = new_world.resolve(c["from"])
        dst = new_world.resolve(c["to"], c["dns_name"])
        proto = Protocol(c["protocol"])
        expected = reference.verdict(src, dst, c["port"], proto)
        got = engine.verdict(src, dst, c["port"], proto)
        assert (got.egress, got.ingress) == (expected.egress, expected.ingress), c


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=clusters(), port=st.sampled_from([53, 80, 81]), proto=st.sampled_from(["TCP", "UDP"]))
def test_matrix_equals_pairwise_reference(docs: list[dict], port: int, proto: str) -> None:
    world = build(docs)
    pods = world.pods()
    matrix = CompiledEngine(world).matrix(pods, port, Protocol(proto))
    reference = ReferenceEvaluator(world)
    for i, src in enumerate(pods):
        for j, dst in enumerate(pods):
            expected = reference.verdict(src, dst, port, Protocol(proto)).allowed
            assert bool(matrix[i, j]) == expected, (src.display(), dst.display())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=clusters())
def test_connectivity_map_equals_reference(docs: list[dict]) -> None:
    world = build(docs)
    pods = [p for p in world.pods() if p.kind is EndpointKind.POD]
    cmap = connectivity_map(CompiledEngine(world), pods)
    reference = ReferenceEvaluator(world)
    for i, src in enumerate(pods):
        for j, dst in enumerate(pods):
            allowed = cmap.allowed(i, j)
            for port in (0, 52, 53, 54, 79, 80, 81, 82, 443, 8080, 65535):
                for pi, proto in enumerate((Protocol.TCP, Protocol.UDP, Protocol.SCTP)):
                    expected = reference.verdict(src, dst, port, proto).allowed
                    assert allowed.allows(port, pi) == expected, (
                        src.display(),
                        dst.display(),
                        port,
                        proto,
                        allowed.describe(),
                    )
