"""The recommendation engine on hand-made edges: what is learned, what is set aside, the
rendered objects, and a proof that fails when a rule is wider than its evidence."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from netwarden.engine.recommend import (
    Recommendation,
    RecommendOptions,
    Status,
    edge_verdicts,
    parse_manifest,
    path_pattern,
    prove,
    recommend,
    stable_labels,
)
from netwarden.model.observed import EdgeEnd, ObservedEdge

HOUR = 3600 * 10**9
NOW = 1_800_000_000 * 10**9


def pod(ns: str, workload: str, **labels: str) -> EdgeEnd:
    full = {
        **labels,
        "io.kubernetes.pod.namespace": ns,
        "io.cilium.k8s.policy.cluster": "c1",
        "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": ns,
    }
    return EdgeEnd("pod", "c1", ns, workload, "Deployment", tuple(sorted(full.items())))


def world(ip: str, fqdn: str = "") -> EdgeEnd:
    return EdgeEnd("world", ip=ip, fqdn=fqdn)


WEB = pod("shop", "web", app="web", **{"pod-template-hash": "abc12"})
API = pod("shop", "api", app="api", tier="backend")
DB = pod("data", "db", app="db")
DNS = pod("kube-system", "coredns", **{"k8s-app": "kube-dns"})
SCANNER = EdgeEnd("pod", "c1", "tools", "", "", (("app", "scanner"),))


def edge(src: EdgeEnd, dst: EdgeEnd, port: int, proto: str = "TCP", **kw: Any) -> ObservedEdge:
    values: dict[str, Any] = {
        "flows": 10,
        "first_seen": NOW - 48 * HOUR,
        "last_seen": NOW - HOUR,
        "examples": (f"uuid-{src.workload}-{port}-{kw.get('l7', '')}",),
    }
    values.update(kw)
    return ObservedEdge(src, dst, port, proto, **values)


EDGES = [
    edge(WEB, API, 8080, l7=""),
    edge(WEB, API, 8080, l7="HTTP GET /api/items/42"),
    edge(WEB, API, 8080, l7="HTTP GET /api/items/7?full=1"),
    edge(WEB, API, 8080, l7="HTTP POST /api/orders/3f2b8c1e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"),
    edge(API, DB, 5432),
    edge(API, DNS, 53, "UDP", l7="DNS api.payments.example"),
    edge(API, world("198.51.100.7", "api.payments.example"), 443),
    edge(API, world("203.0.113.66"), 4444),
    edge(world("192.0.2.10"), WEB, 443),
    edge(WEB, DB, 5432, verdict="DROPPED"),
    *(edge(SCANNER, API, port) for port in (22, 80, 443, 3306, 8080)),
]


def by_name(recs: list[Recommendation]) -> dict[str, Recommendation]:
    return {r.workload.name: r for r in recs}


def test_stable_labels_drop_cilium_and_per_pod_labels() -> None:
    assert stable_labels(WEB.labels) == {"app": "web"}
    assert stable_labels((("k8s:app", "x"), ("reserved:host", ""))) == {"app": "x"}


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("/api/items/42", "/api/items/[0-9]+"),
        (
            "/a.b/3f2b8c1e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
            r"/a\.b/" + "[0-9a-fA-F]{8}-" + "[0-9a-fA-F]{4}-" * 3 + "[0-9a-fA-F]{12}",
        ),
        ("/", "/"),
    ],
)
def test_path_patterns_generalize_ids(path: str, pattern: str) -> None:
    assert path_pattern(path) == pattern


def test_cilium_recommendation_learns_peers_ports_dns_fqdn_and_http() -> None:
    recs = by_name(recommend(EDGES, until_ns=NOW, options=RecommendOptions(scan_ports=5)))
    api = recs["api"]
    assert api.status is Status.AVAILABLE
    described = sorted(r.describe() for r in api.rules)
    assert described == [
        "egress to 198.51.100.7 on 443/TCP".replace("198.51.100.7", "api.payments.example"),
        "egress to data/db on 5432/TCP",
        "egress to kube-system/coredns on 53/UDP",
        "ingress from shop/web on 8080/TCP HTTP GET /api/items/[0-9]+; POST /api/orders/"
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    ]
    ingress = next(r for r in api.rules if r.direction == "ingress")
    assert ingress.evidence.flows == 40 and ingress.evidence.edges == 4
    assert len(ingress.evidence.examples) == 3
    reasons = sorted(x.reason.split(":")[0] for x in api.excluded)
    assert (
        reasons == ["external address 203.0.113.66 reached without a DNS name"] + ["tools/pods"] * 5
    )
    spec = api.manifest["spec"] if api.manifest else {}
    assert spec["endpointSelector"] == {"matchLabels": {"app": "api", "tier": "backend"}}
    assert {
        "toFQDNs": [{"matchName": "api.payments.example"}],
        "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}],
    } in spec["egress"]
    dns_rule = next(r for r in spec["egress"] if "rules" in str(r))
    assert dns_rule["toPorts"][0]["rules"] == {"dns": [{"matchPattern": "*"}]}
    web = recs["web"]
    assert [r.describe() for r in web.rules if r.direction == "ingress"] == [
        "ingress from 192.0.2.10/32 on 443/TCP"
    ]
    assert [e.port for e in web.denied] == [5432]  # negative evidence, no rule
    assert not any(r.peer.workload == "db" for r in web.rules)
    scanner = recs["pods:app=scanner"]
    assert scanner.rules == () and scanner.manifest is not None
    assert scanner.manifest["spec"]["egress"] == [{}] and scanner.manifest["spec"]["ingress"] == [
        {}
    ]


def test_k8s_output_uses_a_marked_ipblock_fallback_and_namespace_names() -> None:
    api = by_name(recommend(EDGES, until_ns=NOW, options=RecommendOptions(format="k8s")))["api"]
    assert api.manifest is not None
    meta = api.manifest["metadata"]
    assert (
        meta["annotations"]["netwarden.dev/ipblock-fallback"] == "api.payments.example=198.51.100.7"
    )
    egress = api.manifest["spec"]["egress"]
    assert {
        "to": [{"ipBlock": {"cidr": "198.51.100.7/32"}}],
        "ports": [{"port": 443, "protocol": "TCP"}],
    } in egress
    to_db = next(r for r in egress if r["ports"][0]["port"] == 5432)
    assert to_db["to"] == [
        {
            "podSelector": {"matchLabels": {"app": "db"}},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}},
        }
    ]
    fallback = next(r for r in api.rules if r.peer.kind == "fqdn")
    assert fallback.note.startswith("ipBlock fallback")
    assert all(not r.http for r in api.rules)  # NetworkPolicy has no L7


@pytest.mark.parametrize("fmt", ["cilium", "k8s"])
def test_recommendations_parse_and_prove(fmt: str) -> None:
    recs = recommend(EDGES, until_ns=NOW, options=RecommendOptions(format=fmt))
    proofs = prove(recs, EDGES, "c1")
    for rec in recs:
        assert rec.manifest is not None
        policy, errors = parse_manifest(rec.manifest, "c1")
        assert policy is not None, errors
        proof = proofs[rec.workload]
        assert proof.ok, proof.findings
        assert proof.covered == proof.learned and proof.probes > 0
    assert proofs[by_name(recs)["api"].workload].learned == 7  # 4 in (L4 + 3 HTTP), 3 out


def _broken(rec: Recommendation, change: str) -> Recommendation:
    manifest = copy.deepcopy(rec.manifest)
    assert manifest is not None
    ingress = manifest["spec"]["ingress"][0]
    if change == "selector":
        ingress["fromEndpoints"][0]["matchLabels"].pop("app")
    elif change == "port":
        ingress["toPorts"][0]["ports"][0]["port"] = "8081"
    elif change == "extra-port":
        ingress["toPorts"].append({"ports": [{"port": "9090", "protocol": "TCP"}]})
    elif change == "http":
        ingress["toPorts"][0]["rules"]["http"].append({"method": "PATCH", "path": "/.*"})
    elif change == "namespace":
        ingress["fromEndpoints"][0]["matchLabels"].pop("k8s:io.kubernetes.pod.namespace")
        ingress["fromEndpoints"][0]["matchLabels"]["k8s:io.kubernetes.pod.namespace"] = "other"
    return Recommendation(**{**rec.__dict__, "manifest": manifest})


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ("selector", "broader"),
        ("port", "not-allowed"),
        ("extra-port", "broader"),
        ("http", "broader"),
        ("namespace", "not-allowed"),
    ],
)
def test_the_proof_fails_when_a_rule_is_not_what_the_evidence_says(change: str, kind: str) -> None:
    api = by_name(recommend(EDGES, until_ns=NOW))["api"]
    proof = prove([_broken(api, change)], EDGES, "c1")[api.workload]
    assert not proof.ok
    assert kind in {f.kind for f in proof.findings}, proof.findings


def test_invalid_object_fails_the_proof() -> None:
    api = by_name(recommend(EDGES, until_ns=NOW))["api"]
    manifest = copy.deepcopy(api.manifest)
    assert manifest is not None
    manifest["spec"]["ingress"][0]["toPorts"][0]["ports"][0]["port"] = "99999"
    bad = Recommendation(**{**api.__dict__, "manifest": manifest})
    proof = prove([bad], EDGES, "c1")[api.workload]
    assert [f.kind for f in proof.findings] == ["invalid"]


def test_learning_period_and_missing_flows() -> None:
    young = [edge(WEB, API, 8080, first_seen=NOW - HOUR, last_seen=NOW)]
    from netwarden.engine.recommend import KnownWorkload, WorkloadRef

    known = [KnownWorkload(WorkloadRef("c1", "shop", "idle", "StatefulSet"), (("app", "idle"),))]
    recs = by_name(recommend(young, until_ns=NOW, known=known))
    assert recs["web"].status is Status.NOT_ENOUGH_DATA
    assert recs["web"].reason.startswith("too new: first flow 1.0 h ago")
    assert recs["idle"].status is Status.NOT_ENOUGH_DATA
    assert recs["idle"].reason == "no flows recorded"
    assert recs["idle"].workload.kind == "StatefulSet"
    learned = recommend(young, until_ns=NOW, options=RecommendOptions(min_learning_ns=0))
    assert all(r.status is Status.AVAILABLE for r in learned)


def test_external_ips_are_learned_only_when_asked() -> None:
    opts = RecommendOptions(allow_external_ips=True)
    api = by_name(recommend(EDGES, until_ns=NOW, options=opts))["api"]
    assert "egress to 203.0.113.66/32 on 4444/TCP" in [r.describe() for r in api.rules]


def test_edge_verdicts_with_the_recommendations_in_force() -> None:
    recs = recommend(EDGES, until_ns=NOW)
    policies = [p for r in recs if r.manifest for p in [parse_manifest(r.manifest, "c1")[0]] if p]
    verdicts = {
        (e.source.workload or "scanner", e.port, e.l7): ok
        for e, ok in edge_verdicts(EDGES, policies, "c1")
    }
    assert verdicts[("web", 8080, "HTTP GET /api/items/42")]
    assert verdicts[("api", 5432, "")] and verdicts[("api", 443, "")]
    assert not verdicts[("api", 4444, "")]
    assert not verdicts[("web", 5432, "")]
    assert not verdicts[("scanner", 22, "")]
