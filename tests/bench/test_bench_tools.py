"""Fast checks of the benchmark tooling: the generator and the nca output reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netwarden.engine.connectivity import ALL, PortSet
from netwarden.model.ports import Protocol
from netwarden.sources.loader import load_text
from tests.bench.compare_nca import NCA_PORTS, _estimate, netwarden_answer, same_ports
from tests.bench.generate import generate
from tests.bench.nca import Representatives, parse_connections, workload_name
from tests.bench.report import Grid


def test_generator_is_deterministic_and_exact() -> None:
    a = generate(200, 40, seed=3)
    b = generate(200, 40, seed=3)
    assert a.yaml_text() == b.yaml_text()
    counts = a.counts()
    assert counts["pods"] == 200
    assert counts["policies"] == 40
    kinds = {k for k in counts if k.startswith("policies.")}
    assert {
        "policies.NetworkPolicy",
        "policies.CiliumNetworkPolicy",
        "policies.CiliumClusterwideNetworkPolicy",
        "policies.AdminNetworkPolicy",
        "policies.BaselineAdminNetworkPolicy",
    } <= kinds
    assert counts["distinct_pod_label_sets"] < counts["pods"]  # replicas share labels
    assert generate(200, 40, seed=4).yaml_text() != a.yaml_text()


def test_generated_manifests_load_without_errors() -> None:
    for np_only in (False, True):
        cluster = generate(200, 40, seed=5, np_only=np_only)
        inp = load_text(cluster.yaml_text(), "gen.yaml")
        assert not inp.errors, [str(d) for d in inp.errors[:3]]
        assert len(inp.policies) == 40
        assert sum(len(c.pods) for c in inp.clusters.values()) == 200
    kinds = {p["kind"] for p in generate(200, 40, seed=5, np_only=True).policies}
    assert kinds == {"NetworkPolicy"}


def test_nca_connection_strings() -> None:
    assert parse_connections("All connections")("SCTP", 9)
    assert not parse_connections("No connections")("TCP", 80)
    conn = parse_connections(
        "{protocols:TCP,dst_ports:80,5432-5439},{protocols:TCP, UDP,dst_ports:53}"
    )
    assert conn("TCP", 80) and conn("TCP", 5435) and conn("UDP", 53) and conn("TCP", 53)
    assert not conn("UDP", 80) and not conn("TCP", 5440)
    every_udp = parse_connections("{protocols:UDP}")
    assert every_udp("UDP", 1) and not every_udp("TCP", 1)
    but = parse_connections("All but {protocols:TCP,dst_ports:22}")
    assert but("TCP", 80) and not but("TCP", 22) and but("UDP", 22)


def _pod(name: str, owner: str | None, kind: str = "ReplicaSet", app: str = "a") -> dict:
    meta: dict = {"name": name, "namespace": "ns", "labels": {"app": app}}
    if owner:
        meta["ownerReferences"] = [{"kind": kind, "name": owner}]
    return {"metadata": meta}


def test_nca_representatives() -> None:
    pods = [
        _pod("web-5d9c7b8f6a-x1", "web-5d9c7b8f6a"),
        _pod("web-5d9c7b8f6a-x2", "web-5d9c7b8f6a"),
        _pod("web-5d9c7b8f6a-x3", "web-5d9c7b8f6a"),
        _pod("db-0", "db", "StatefulSet", app="db"),
    ]
    assert workload_name(pods[0]) == "ns/web(Deployment-StatefulSet)"
    reps = Representatives(pods)
    assert reps.kept == {"ns/web-5d9c7b8f6a-x1", "ns/web-5d9c7b8f6a-x2", "ns/db-0"}
    pairs = {
        ("ns/web-5d9c7b8f6a-x1", "ns/db-0"): "{protocols:TCP,dst_ports:5432}",
        ("ns/web-5d9c7b8f6a-x1", "ns/web-5d9c7b8f6a-x2"): "All connections",
    }
    m = reps.matrix(pairs, "TCP", 5432)
    expected = np.array(
        [[0, 1, 1, 1], [1, 0, 1, 1], [1, 1, 0, 1], [0, 0, 0, 0]],
        dtype=bool,
    )
    assert (m == expected).all()


def test_nca_strings_against_port_sets() -> None:
    tcp = PortSet((((80, 80), (5432, 5439)), (), ()), False)
    assert same_ports("{protocols:TCP,dst_ports:80,5432-5439}", tcp)
    assert not same_ports("{protocols:TCP,dst_ports:80,5432-5440}", tcp)
    assert not same_ports("{protocols:TCP, UDP,dst_ports:80,5432-5439}", tcp)
    assert same_ports("All connections", ALL)
    assert not same_ports("{protocols:TCP,UDP,SCTP}", ALL)  # ALL also allows ICMP
    full = ((0, 65535),)
    assert same_ports("{protocols:TCP,UDP,SCTP}", PortSet((full, full, full), False))
    assert same_ports("No connections", PortSet(((), (), ()), False))
    but = PortSet((((0, 21), (23, 65535)), full, full), True)
    assert same_ports("All but {protocols:TCP,dst_ports:22}", but)


def test_nca_time_estimate() -> None:
    assert _estimate({1000: 10.0}, 2000) is None
    seconds, k = _estimate({500: 2.5, 1000: 10.0}, 2000) or (0.0, 0.0)
    assert k == pytest.approx(2.0) and seconds == pytest.approx(40.0)


def test_port_matrices_from_the_map_match_engine_matrix(tmp_path: Path) -> None:
    cluster = generate(120, 24, seed=5, np_only=True)
    names = Representatives(cluster.pods).names
    nw = netwarden_answer(cluster.write_dir(tmp_path / "np"), names)
    assert nw.cmap.names == tuple(names)
    idx = np.array([3, 0, 17, 40], dtype=np.int64)
    for port, proto in NCA_PORTS:
        full = nw.engine.matrix(nw.pods, port, Protocol(proto))
        assert np.array_equal(nw.port_matrix(port, proto), full)
        assert np.array_equal(nw.port_matrix(port, proto, idx), full[idx][:, idx])


def test_grid_renders_aligned_columns() -> None:
    grid = Grid("t", ("pods", "time", "note"))
    grid.add("500", "1.00 s", "a")
    grid.add("4,000", "100 s", "")
    lines = grid.render().splitlines()
    assert lines[0] == "== t =="
    assert lines[2] == "500    1.00 s  a"
    assert lines[3] == "4,000   100 s"
    with pytest.raises(ValueError):
        grid.add("1")
