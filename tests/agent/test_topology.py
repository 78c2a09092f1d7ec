"""Topology parsing (located errors, manifests) and the concrete inventory built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwarden.agent.sim_inventory import build_inventory, identity_labels
from netwarden.agent.topology import load_topology, parse_topology
from netwarden.model.diagnostics import InputError

ROOT = Path(__file__).resolve().parents[2]
STOREFRONT = ROOT / "examples" / "topologies" / "storefront.yaml"

SMALL = """\
apiVersion: netwarden.dev/v1
kind: Topology
metadata: {name: small}
spec:
  namespaces:
  - {name: shop, labels: {team: shop}}
  workloads:
  - {namespace: shop, name: web, replicas: 3, labels: {app: web}, ports: [{port: 80}]}
  - {namespace: shop, name: db, kind: StatefulSet, replicas: 2, labels: {app: db},
     ports: [{name: pg, port: 5432}]}
  calls:
  - {from: shop/web, to: shop/db, port: 5432}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(InputError) as info:
        parse_topology(text, "topo.yaml")
    return [str(d) for d in info.value.diagnostics]


def test_storefront_loads_with_every_part_of_the_demo() -> None:
    topo = load_topology(STOREFRONT)
    names = {f"{w.namespace}/{w.name}" for w in topo.workloads}
    for expected in (
        "storefront/frontend", "storefront/cart", "storefront/checkout", "storefront/payments",
        "storefront/catalog", "storefront/postgres", "storefront/redis",
        "ingress-nginx/ingress-nginx-controller", "tools/scanner",
    ):  # fmt: skip
        assert expected in names
    assert {c.target for c in topo.calls} >= {"api.stripe.com", "203.0.113.66"}
    assert topo.scans and len(topo.scans[0].ports) >= 5
    assert "kube-system" in topo.namespaces


def test_a_bad_port_is_located_by_line_and_field() -> None:
    text = SMALL.replace("port: 5432}\n", "port: 99999}\n")
    errors = errors_of(text)
    assert errors == ["topo.yaml:12 (document 1) spec.calls[0].port: error: port 99999 is not "
                      "in 1-65535 (invalid-field)"]  # fmt: skip


def test_an_unknown_workload_in_a_call_is_located() -> None:
    errors = errors_of(SMALL.replace("to: shop/db", "to: shop/nope"))
    assert len(errors) == 1
    assert errors[0].startswith("topo.yaml:12 (document 1) spec.calls[0].to: error:")
    assert "no workload or service shop/nope" in errors[0]


def test_unknown_fields_and_bad_kinds_are_errors_not_silence() -> None:
    text = SMALL.replace("replicas: 3,", "replicas: 3, replica: 2,").replace(
        "kind: StatefulSet", "kind: CronJob"
    )
    errors = errors_of(text)
    assert any("spec.workloads[0].replica" in e and "unknown field" in e for e in errors)
    assert any("spec.workloads[1].kind" in e and "CronJob" in e for e in errors)


def test_a_yaml_syntax_error_is_located() -> None:
    errors = errors_of(SMALL + "  - {from: [\n")
    assert errors and errors[0].startswith("topo.yaml:") and "invalid YAML" in errors[0]


def test_manifests_add_workloads_services_and_unmanaged_policies() -> None:
    text = """\
apiVersion: v1
kind: Namespace
metadata: {name: blog, labels: {team: content}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: wordpress, namespace: blog}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: wordpress}}
    spec:
      serviceAccountName: wp
      containers: [{name: wp, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: www, namespace: blog}
spec: {selector: {app: wordpress}, ports: [{port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: legacy, namespace: blog}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""
    topo = parse_topology(text, "m.yaml")
    assert topo.namespaces["blog"]["team"] == "content"
    (wp,) = topo.workloads
    assert (wp.kind, wp.replicas, wp.service_account, wp.ports[0].name) == (
        "Deployment", 2, "wp", "http",
    )  # fmt: skip
    assert [p["metadata"]["name"] for p in topo.policies] == ["legacy"]
    inv = build_inventory(topo, "c1")
    assert len(inv.pods_of("blog/www")) == 2  # the Service selects the Deployment's pods
    svc = inv.service("blog", "www")
    assert svc is not None and svc.cluster_ip


def test_inventory_pods_ips_identities_and_kube_dns() -> None:
    inv = build_inventory(parse_topology(SMALL), "prod-eu")
    web = inv.by_workload["shop/web"]
    assert len(web) == 3
    # Same labels, same identity; the pod-template-hash label is not identity-relevant.
    assert len({p.identity for p in web}) == 1
    assert all("pod-template-hash" in p.info.labels for p in web)
    assert not any("pod-template-hash" in label for label in web[0].identity_labels)
    assert "k8s:io.cilium.k8s.policy.cluster=prod-eu" in web[0].identity_labels
    assert "k8s:io.cilium.k8s.namespace.labels.team=shop" in web[0].identity_labels
    db = inv.by_workload["shop/db"]
    assert [p.info.name for p in db] == ["db-0", "db-1"]
    assert len({p.identity for p in db}) == 1  # statefulset pod-name label is excluded
    assert db[0].identity != web[0].identity
    dns = inv.service("kube-system", "kube-dns")
    assert dns is not None and dns.cluster_ip == "10.96.0.10"
    assert len(inv.pods_of("kube-system/kube-dns")) == 2
    ips = [p.info.ip for p in inv.pods]
    assert len(set(ips)) == len(ips)
    assert {p.info.node for p in inv.pods} == {n.name for n in inv.nodes}


def test_inventory_is_deterministic_and_distinct_per_cluster() -> None:
    topo = parse_topology(SMALL)
    a1, a2, b = (build_inventory(topo, name) for name in ("prod-eu", "prod-eu", "prod-us"))
    assert [p.info for p in a1.pods] == [p.info for p in a2.pods]
    assert not {p.info.ip for p in a1.pods} & {p.info.ip for p in b.pods}
    # Deployment pods get per-cluster random-looking suffixes; StatefulSet pods are db-0, db-1.
    names_a, names_b = ({p.info.name for p in inv.pods} for inv in (a1, b))
    assert names_a & names_b == {"db-0", "db-1"}


def test_an_explicit_pod_cidr_is_used() -> None:
    topo = parse_topology(SMALL.replace("spec:\n", "spec:\n  podCIDR: 10.200.0.0/16\n", 1))
    inv = build_inventory(topo, "x")
    assert all(str(p.info.ip).startswith("10.200.") for p in inv.pods)


def test_load_errors_are_value_errors_listing_every_location(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text(SMALL.replace("to: shop/db", "to: shop/nope").replace("nodes", "x"))
    with pytest.raises(ValueError, match=r"t.yaml:12 \(document 1\) spec.calls\[0\].to"):
        load_topology(bad)
    with pytest.raises(ValueError, match="no such file"):
        load_topology(tmp_path / "missing.yaml")


def test_identity_label_filter_follows_cilium_defaults() -> None:
    kept = identity_labels(
        {
            "app": "a",
            "app.kubernetes.io/name": "a",
            "pod-template-hash": "x",
            "controller-revision-hash": "y",
            "statefulset.kubernetes.io/pod-name": "a-0",
            "topology.kubernetes.io/zone": "z",
            "kubernetes.io/hostname": "n",
        }
    )
    assert kept == {"app": "a", "app.kubernetes.io/name": "a"}
