"""The simulated cluster: enforcement by the engine, Hubble-format flows, apply/prune/drift."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from netwarden.agent.backend import MANAGED_BY, MANAGER, ObjectRef
from netwarden.agent.simulated import SimulatedCluster, load_simulated
from netwarden.flows._generated.observer import observer_pb2
from netwarden.flows.decode import decode_lines
from netwarden.model.flow import Flow, Verdict

ROOT = Path(__file__).resolve().parents[2]
STOREFRONT = str(ROOT / "examples" / "topologies" / "storefront.yaml")
START = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MANAGED = {MANAGED_BY: MANAGER}


def managed(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"].setdefault("labels", {}).update(MANAGED)
    return obj


def netpol(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return managed(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def cnp(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return managed(
        {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


DENY_INGRESS = netpol("default-deny", "storefront", {"podSelector": {}, "policyTypes": ["Ingress"]})
DENY_EGRESS = netpol("deny-egress", "storefront", {"podSelector": {}, "policyTypes": ["Egress"]})
ALLOW_DNS = cnp(
    "allow-dns",
    "storefront",
    {
        "endpointSelector": {},
        "egress": [
            {
                "toEndpoints": [
                    {
                        "matchLabels": {
                            "k8s:io.kubernetes.pod.namespace": "kube-system",
                            "k8s-app": "kube-dns",
                        }
                    }
                ],
                "toPorts": [
                    {
                        "ports": [{"port": "53", "protocol": "ANY"}],
                        "rules": {"dns": [{"matchPattern": "*"}]},
                    }
                ],
            }
        ],
    },
)
CATALOG_L7 = cnp(
    "catalog-l7",
    "storefront",
    {
        "endpointSelector": {"matchLabels": {"app": "catalog"}},
        "ingress": [
            {
                "fromEndpoints": [{"matchLabels": {"app": "frontend"}}],
                "toPorts": [
                    {
                        "ports": [{"port": "8080", "protocol": "TCP"}],
                        "rules": {"http": [{"method": "GET", "path": "/api/products"}]},
                    }
                ],
            }
        ],
    },
)
DENY_BAD_IP = cnp(
    "deny-bad-ip",
    "storefront",
    {
        "endpointSelector": {"matchLabels": {"app": "catalog"}},
        "egress": [{"toEntities": ["all"]}],  # a deny alone would isolate catalog
        "egressDeny": [{"toCIDR": ["203.0.113.66/32"]}],
    },
)


@pytest.fixture(scope="module")
def cluster() -> SimulatedCluster:
    return load_simulated(STOREFRONT, "prod-eu", seed=7)


@pytest.fixture
def fresh() -> SimulatedCluster:
    return load_simulated(STOREFRONT, "prod-eu", seed=7)


def flows_of(sim: SimulatedCluster, n: int = 6000) -> list[Flow]:
    lines = sim.generate(n, START)
    assert len(lines) == n
    result = decode_lines(lines)
    assert result.errors == [] and not result.skipped
    assert len(result.flows) == n
    return result.flows


def where(
    flows: list[Flow], src: str, dst: str = "", port: int | None = None
) -> Callable[[], list[Flow]]:
    def select() -> list[Flow]:
        out = []
        for f in flows:
            s = f"{f.source.namespace}/{f.source.pod_name}"
            d = f"{f.destination.namespace}/{f.destination.pod_name}"
            if f.destination.pod_name == "" and f.IP is not None:
                d = f.IP.destination
            if not s.startswith(src) or not d.startswith(dst):
                continue
            l4 = f.l4
            dport = 0
            if l4 is not None and l4.TCP is not None:
                dport = l4.TCP.destination_port
            elif l4 is not None and l4.UDP is not None:
                dport = l4.UDP.destination_port
            if port is None or dport == port:
                out.append(f)
        return out

    return select


def policy_events(flows: list[Flow]) -> list[Flow]:
    return [f for f in flows if f.event_type is not None and f.event_type.type == 5]


def test_without_policies_everything_is_forwarded_with_trace_events(
    fresh: SimulatedCluster,
) -> None:
    flows = flows_of(fresh)
    assert {f.verdict for f in flows} == {Verdict.FORWARDED}
    assert not policy_events(flows)  # no endpoint is selected by a policy: traces only
    types = {(f.event_type.type, f.event_type.sub_type) for f in flows if f.event_type}
    assert (4, 5) in types and (4, 0) in types  # from-endpoint, to-endpoint
    assert any(f.is_reply for f in flows) and any(f.is_reply is False for f in flows)
    # DNS visibility: lookups to kube-dns with answers.
    dns = [f for f in flows if f.l7 is not None and f.l7.dns is not None]
    answers = [f for f in dns if f.is_reply and f.l7 and f.l7.dns and f.l7.dns.ips]
    assert any(f.l7.dns.query == "api.stripe.com." for f in answers if f.l7 and f.l7.dns)
    nx = [f for f in dns if f.l7 and f.l7.dns and f.l7.dns.rcode == 3]
    assert nx and all(f.l7 and f.l7.dns and not f.l7.dns.ips for f in nx)
    # No L7 rule: no HTTP records.
    assert not [f for f in flows if f.l7 is not None and f.l7.http is not None]
    # The unexpected traffic is there.
    assert where(flows, "storefront/catalog", "203.0.113.66", 4444)()
    assert len({f.destination.namespace for f in where(flows, "tools/scanner")()}) == 2


def test_default_deny_drops_the_affected_edges_and_names_the_policy(
    fresh: SimulatedCluster,
) -> None:
    results = fresh.apply([DENY_INGRESS], {})
    assert [r.status for r in results] == ["applied"]
    flows = flows_of(fresh)
    to_catalog = where(flows, "storefront/frontend", "storefront/catalog", 8080)()
    dropped = [f for f in to_catalog if f.verdict is Verdict.DROPPED]
    assert dropped and all(f.traffic_direction.name == "INGRESS" for f in dropped)  # type: ignore[union-attr]
    for f in dropped:
        assert f.drop_reason_desc.name == "POLICY_DENIED"  # type: ignore[union-attr]
        assert [(p.kind, p.namespace, p.name) for p in f.ingress_denied_by] == [
            ("NetworkPolicy", "storefront", "default-deny")
        ]
    # Stops at the drop: no reply for a dropped connection.
    assert not [f for f in to_catalog if f.is_reply]
    # The egress side is not selected: a forwarded trace event.
    assert any(f.verdict is Verdict.FORWARDED and f.event_type.type == 4 for f in to_catalog)  # type: ignore[union-attr]
    # Traffic into other namespaces is untouched.
    into_ingress = where(flows, "", "ingress-nginx/")()
    assert into_ingress and {f.verdict for f in into_ingress} == {Verdict.FORWARDED}
    # Egress to the world from storefront is not affected by an ingress policy.
    stripe = where(flows, "storefront/payments", "198.51.100.", 443)()
    assert stripe and {f.verdict for f in stripe} == {Verdict.FORWARDED}


def test_audit_mode_reports_audit_and_lets_traffic_through(fresh: SimulatedCluster) -> None:
    fresh.apply([DENY_INGRESS], {"enforcementMode": "audit"})
    flows = flows_of(fresh)
    to_catalog = where(flows, "storefront/frontend", "storefront/catalog", 8080)()
    audited = [f for f in to_catalog if f.verdict is Verdict.AUDIT]
    assert audited
    assert not [f for f in flows if f.verdict is Verdict.DROPPED]
    for f in audited:
        assert [p.name for p in f.ingress_denied_by] == ["default-deny"]
    replies = [f for f in where(flows, "storefront/catalog", "storefront/frontend")() if f.is_reply]
    assert replies  # the connection went on


def test_allow_dns_lets_lookups_through_while_egress_is_default_deny(
    fresh: SimulatedCluster,
) -> None:
    fresh.apply([DENY_EGRESS, ALLOW_DNS], {"enforcementMode": "enforce"})
    flows = flows_of(fresh, 8000)
    dns = where(flows, "storefront/", "kube-system/", 53)()
    verdicts = [f for f in policy_events(dns) if f.traffic_direction.name == "EGRESS"]  # type: ignore[union-attr]
    assert verdicts and {f.verdict for f in verdicts} == {Verdict.FORWARDED}
    assert {p.name for f in verdicts for p in f.egress_allowed_by} == {"allow-dns"}
    assert [f for f in dns if f.l7 is not None and f.l7.dns is not None]
    db = policy_events(where(flows, "storefront/catalog", "storefront/postgres", 5432)())
    assert db and {f.verdict for f in db} == {Verdict.DROPPED}
    # Every policy that selects catalog for egress isolates it: both are named.
    assert {p.name for f in db for p in f.egress_denied_by} == {"deny-egress", "allow-dns"}


def test_l7_rules_produce_http_records_with_l7_verdicts(fresh: SimulatedCluster) -> None:
    fresh.apply([CATALOG_L7], {})
    flows = flows_of(fresh, 8000)
    http = [
        f
        for f in where(flows, "storefront/frontend", "storefront/catalog")()
        if f.l7 is not None and f.l7.http is not None
    ]
    requests = {(f.l7.http.url.rsplit(":8080", 1)[1], f.verdict) for f in http if not f.is_reply}  # type: ignore[union-attr]
    assert requests == {("/api/products", Verdict.FORWARDED), ("/api/products/42", Verdict.DROPPED)}
    codes = {
        f.l7.http.code
        for f in where(flows, "storefront/catalog", "storefront/frontend")()
        if f.l7 and f.l7.http
    }
    assert codes == {200, 403}
    # Ingress to catalog from anyone but the frontend is now denied: the scanner.
    scans = policy_events(where(flows, "tools/scanner", "storefront/catalog")())
    assert scans and {f.verdict for f in scans} == {Verdict.DROPPED}


def test_an_explicit_deny_is_policy_deny_with_the_rule_named(fresh: SimulatedCluster) -> None:
    fresh.apply([DENY_BAD_IP], {})
    flows = flows_of(fresh, 20000)
    bad = where(flows, "storefront/catalog", "203.0.113.66", 4444)()
    assert bad and {f.verdict for f in bad} == {Verdict.DROPPED}
    assert {f.drop_reason_desc.name for f in bad} == {"POLICY_DENY"}  # type: ignore[union-attr]
    assert {p.name for f in bad for p in f.egress_denied_by} == {"deny-bad-ip"}
    labels = bad[0].egress_denied_by[0].labels
    assert "k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy" in labels
    # The allow-all beside the deny keeps catalog's other egress going.
    db = where(flows, "storefront/catalog", "storefront/postgres", 5432)()
    assert db and {f.verdict for f in db} == {Verdict.FORWARDED}


def test_policy_enforcement_never_and_always(fresh: SimulatedCluster) -> None:
    fresh.apply([DENY_INGRESS], {"policyEnforcement": "never"})
    assert not [f for f in flows_of(fresh) if f.verdict is not Verdict.FORWARDED]
    fresh.apply([], {"policyEnforcement": "always"})
    flows = flows_of(fresh)
    dropped = [f for f in flows if f.verdict is Verdict.DROPPED]
    assert dropped and all(f.drop_reason_desc.name == "POLICY_DENIED" for f in dropped)  # type: ignore[union-attr]
    assert not [f for f in flows if f.is_reply and f.IP and not f.IP.source.startswith("192.0.2")]


def test_every_kind_of_line_decodes_and_parses_strictly_as_hubble(fresh: SimulatedCluster) -> None:
    seen: set[tuple[str, int, bool]] = set()
    for objects, settings in (
        ([], {}),
        ([DENY_INGRESS, CATALOG_L7, DENY_BAD_IP], {}),
        ([DENY_EGRESS, ALLOW_DNS], {"enforcementMode": "audit"}),
    ):
        fresh.apply(objects, settings)
        lines = fresh.generate(6000, START)
        result = decode_lines(lines)
        assert result.errors == [] and not result.skipped and len(result.flows) == len(lines)
        for line in lines:
            msg = json_format.Parse(
                line, observer_pb2.GetFlowsResponse()
            )  # strict: no unknown keys
            assert msg.flow.uuid and msg.node_name == msg.flow.node_name
        for f in result.flows:
            assert f.event_type is not None
            seen.add((f.verdict.name, f.event_type.type, bool(f.is_reply)))  # type: ignore[union-attr]
    expected = {
        ("FORWARDED", 4, False), ("FORWARDED", 4, True), ("FORWARDED", 5, False),
        ("DROPPED", 5, False), ("AUDIT", 5, False), ("FORWARDED", 129, False),
        ("FORWARDED", 129, True), ("DROPPED", 129, False),
    }  # fmt: skip
    assert expected <= seen


def test_uuids_are_unique_and_same_seed_gives_same_flows() -> None:
    a = load_simulated(STOREFRONT, "prod-eu", seed=3)
    b = load_simulated(STOREFRONT, "prod-eu", seed=3)
    c = load_simulated(STOREFRONT, "prod-eu", seed=4)
    other = load_simulated(STOREFRONT, "prod-us", seed=3)
    lines = a.generate(3000, START)
    assert lines == b.generate(3000, START)
    assert lines != c.generate(3000, START)
    flows = decode_lines(lines).flows
    uuids = {f.uuid for f in flows}
    assert len(uuids) == len(flows)
    other_flows = decode_lines(other.generate(3000, START)).flows
    assert not uuids & {f.uuid for f in other_flows}
    assert {f.source.cluster_name for f in other_flows if f.source.pod_name} == {"prod-us"}
    # Wall-clock stamping changes only the times.
    later = load_simulated(STOREFRONT, "prod-eu", seed=3).generate(3000)
    strip = [(f.uuid, f.source, f.destination, f.l4) for f in decode_lines(later).flows]
    assert strip == [(f.uuid, f.source, f.destination, f.l4) for f in flows]


def test_apply_prunes_managed_objects_and_never_touches_unmanaged() -> None:
    topo_policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "legacy", "namespace": "storefront"},
        "spec": {"podSelector": {"matchLabels": {"app": "redis"}}, "policyTypes": ["Ingress"]},
    }
    sim = load_simulated(STOREFRONT, "c1", seed=1)
    sim.topology.policies.append(topo_policy)
    sim = SimulatedCluster(sim.topology, "c1", seed=1)
    legacy = ObjectRef("NetworkPolicy", "storefront", "legacy")
    assert sim.live_objects().unmanaged == [legacy]
    sim.apply([DENY_INGRESS, ALLOW_DNS], {})
    assert set(sim.live_objects().managed) == {
        ObjectRef.of(DENY_INGRESS), ObjectRef.of(ALLOW_DNS),
    }  # fmt: skip
    results = sim.apply([ALLOW_DNS], {})
    assert [(r.ref.name, r.status) for r in results] == [("allow-dns", "applied")]
    live = sim.live_objects()
    assert set(live.managed) == {ObjectRef.of(ALLOW_DNS)}
    assert live.managed[ObjectRef.of(ALLOW_DNS)]["metadata"]["labels"][MANAGED_BY] == MANAGER
    assert live.unmanaged == [legacy]
    # The unmanaged policy still isolates redis.
    cart = where(flows_of(sim), "storefront/cart", "storefront/redis", 6379)()
    assert {f.verdict for f in policy_events(cart)} == {Verdict.DROPPED}
    # A desired object with the name of an unmanaged one fails, the live one stays.
    clash = managed({**topo_policy, "metadata": {"name": "legacy", "namespace": "storefront"}})
    (result,) = sim.apply([clash], {})
    assert result.status == "failed" and "unmanaged" in result.error
    assert sim.live_objects().unmanaged == [legacy]


def test_rejected_objects_fail_with_the_engines_located_error() -> None:
    sim = load_simulated(STOREFRONT, "c1", seed=1)
    bad = cnp(
        "bad",
        "storefront",
        {"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "99999"}]}]}]},
    )
    crd = managed(
        {
            "apiVersion": "example.io/v1",
            "kind": "FancyPolicy",
            "metadata": {"name": "f", "namespace": "storefront"},
            "spec": {},
        }
    )
    results = sim.apply([bad, DENY_INGRESS, crd], {})
    assert [r.status for r in results] == ["failed", "applied", "failed"]
    assert "spec.ingress[0].toPorts[0].ports[0].port" in results[0].error
    assert results[0].error.startswith("CiliumNetworkPolicy storefront/bad")
    assert "FancyPolicy is not supported" in results[2].error
    assert set(sim.live_objects().managed) == {ObjectRef.of(DENY_INGRESS)}


def test_live_edits_simulate_drift_and_change_enforcement(fresh: SimulatedCluster) -> None:
    fresh.apply([DENY_INGRESS], {})
    ref = ObjectRef.of(DENY_INGRESS)
    assert {f.verdict for f in policy_events(flows_of(fresh))} == {Verdict.DROPPED}
    assert fresh.delete_live(ref)
    assert ref not in fresh.live_objects().managed
    assert {f.verdict for f in flows_of(fresh)} == {Verdict.FORWARDED}
    edited = managed(
        netpol(
            "default-deny",
            "storefront",
            {"podSelector": {"matchLabels": {"app": "redis"}}, "policyTypes": ["Ingress"]},
        )
    )
    fresh.tamper(ref, edited)
    live = fresh.live_objects().managed[ref]
    assert live["spec"]["podSelector"] == {"matchLabels": {"app": "redis"}}
    dropped = {
        f.destination.pod_name.split("-")[0]
        for f in flows_of(fresh)
        if f.verdict is Verdict.DROPPED
    }
    assert dropped == {"redis"}
    # The next apply restores the desired object.
    fresh.apply([DENY_INGRESS], {})
    assert fresh.live_objects().managed[ref]["spec"] == DENY_INGRESS["spec"]


def test_verdicts_are_computed_per_apply_not_per_flow(fresh: SimulatedCluster) -> None:
    before = fresh.recomputes
    fresh.generate(20000, START)
    assert fresh.recomputes == before
    fresh.apply([DENY_INGRESS], {})
    assert fresh.recomputes == before + 1
    decided = {v.label: v.decision.allowed for v in fresh.verdicts()}
    assert decided["storefront/frontend -> storefront/catalog:8080"] is False
    assert decided["storefront/payments -> api.stripe.com:443"] is True
    catalog = next(p for p in fresh.inventory().pods if p.workload == "catalog")
    frontend = next(p for p in fresh.inventory().pods if p.workload == "frontend")
    exp = fresh.explain(f"storefront/{frontend.name}", f"storefront/{catalog.name}", 8080)
    assert not exp.verdict.allowed
    assert "default-deny" in exp.render()


def test_flows_are_paced_batches_until_stop() -> None:
    sim = load_simulated(STOREFRONT, "paced", seed=5)
    sim.set_rate(2000.0)
    stop = threading.Event()
    batches: list[list[bytes]] = []
    started = time.monotonic()
    for batch in sim.flows(stop):
        batches.append(batch)
        if time.monotonic() - started > 1.0:
            stop.set()
    elapsed = time.monotonic() - started
    total = sum(len(b) for b in batches)
    assert 3 <= len(batches) <= 8  # ~5 batches per second
    assert 1000 <= total <= 2000 * elapsed * 1.5
    result = decode_lines([line for b in batches for line in b])
    assert result.errors == [] and len(result.flows) == total


def test_several_clusters_in_one_process_are_independent() -> None:
    eu = load_simulated(STOREFRONT, "prod-eu", seed=1)
    us = load_simulated(STOREFRONT, "prod-us", seed=1)
    eu.apply([DENY_INGRESS], {})
    us_flows = flows_of(us)
    assert {f.verdict for f in us_flows} == {Verdict.FORWARDED}
    assert not us.live_objects().managed
    eu_ips = {p.ip for p in eu.inventory().pods}
    assert not eu_ips & {p.ip for p in us.inventory().pods}


def test_inventory_reports_what_the_server_needs(cluster: SimulatedCluster) -> None:
    inv = cluster.inventory()
    assert inv.cilium_version and "CiliumNetworkPolicy" in inv.supported_kinds
    assert inv.namespaces["storefront"]["team"] == "shop"
    kinds = {(p.workload, p.workload_kind) for p in inv.pods}
    assert ("postgres", "StatefulSet") in kinds and ("frontend", "Deployment") in kinds
    assert {s.name for s in inv.services} >= {"kube-dns", "frontend", "postgres", "kubernetes"}
    assert len(inv.nodes) == 3 and all(n.ip for n in inv.nodes)


def test_generation_is_fast_enough(cluster: SimulatedCluster) -> None:
    cluster.generate(2000, START)  # warm up
    started = time.perf_counter()
    lines = cluster.generate(50_000, START)
    rate = len(lines) / (time.perf_counter() - started)
    assert rate > 20_000, f"{rate:.0f} flows/s"
