"""The Kubernetes backend against a Kubernetes API server in miniature (fake_kube.py).

Inventory through list + watch (events, bookmarks, resumption after a dropped
connection, a relist after 410 Gone), discovery of the policy kinds, and server-side
apply with pruning, conflicts and unsupported kinds. The fake is the test boundary:
docs/design/agent-kubernetes.md gives the manual check on a kind + Cilium cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s_client

from netwarden.agent import kube_watch
from netwarden.agent import kubernetes as kube_backend
from netwarden.agent.backend import FIELD_MANAGER, MANAGED_BY, ObjectRef, PodInfo
from netwarden.agent.kube_api import KubeApi, KubeConfigError, _mirror_bearer_token, load_client
from netwarden.agent.kube_watch import Backoff
from netwarden.agent.kubernetes import KubernetesBackend, apply_body
from tests.agent.fake_kube import ADMIN, CILIUM_CLUSTER, CLUSTER_NETWORK_POLICY, FakeKube
from tests.agent.kube_objects import (
    WAIT,
    admin_policy,
    ccnp,
    cnp,
    eventually,
    namespace,
    network_policy,
    pod,
    seed,
)

FAST = Backoff(initial=0.02, maximum=0.2)


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    fake = FakeKube(bookmark_interval=0.05).start()
    for obj in seed():
        fake.put(obj)
    try:
        yield fake
    finally:
        fake.stop()


def connect(fake: FakeKube, tmp_path: Path, **options: object) -> KubernetesBackend:
    api = KubeApi(load_client(str(fake.kubeconfig(tmp_path)), in_cluster=False))
    backend = KubernetesBackend("kind-test", api, backoff=FAST, **options)  # type: ignore[arg-type]
    if not backend.wait_synced(WAIT):
        backend.close()
        raise AssertionError(f"not synced: {[r.stats for r in backend.reflectors]}")
    return backend


@pytest.fixture
def backend(kube: FakeKube, tmp_path: Path) -> Iterator[KubernetesBackend]:
    backend = connect(kube, tmp_path)
    try:
        yield backend
    finally:
        backend.close()


def pods_by_name(backend: KubernetesBackend) -> dict[str, PodInfo]:
    return {f"{p.namespace}/{p.name}": p for p in backend.inventory().pods}


# --- inventory ------------------------------------------------------------------------------


def test_inventory_from_lists(backend: KubernetesBackend) -> None:
    inventory = backend.inventory()
    assert inventory.namespaces["shop"] == {
        "kubernetes.io/metadata.name": "shop",
        "team": "storefront",
        "env": "prod",
    }
    pods = pods_by_name(backend)
    assert "shop/migrate-x2z9d" not in pods  # finished: no endpoint, its IP is free
    workloads = {name: (p.workload_kind, p.workload) for name, p in pods.items()}
    assert workloads == {
        "kube-system/cilium-x7k2p": ("DaemonSet", "cilium"),
        "shop/frontend-5d8f7b9c4d-abcde": ("Deployment", "frontend"),
        "shop/db-0": ("StatefulSet", "db"),
        "shop/report-29412345-q8z7x": ("CronJob", "report"),
        "shop/debug": ("", ""),
    }
    frontend = pods["shop/frontend-5d8f7b9c4d-abcde"]
    assert (frontend.ip, frontend.node, frontend.host_network) == (
        "10.244.1.10",
        "kind-worker",
        False,
    )
    assert list(frontend.ports) == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert pods["shop/debug"].ip is None
    assert [(n.name, n.ip) for n in inventory.nodes] == [
        ("kind-control-plane", "172.18.0.2"),
        ("kind-worker", "172.18.0.3"),
    ]
    services = {s.name: s for s in inventory.services}
    assert services["frontend"].cluster_ip == "10.96.0.20"
    assert services["db"].cluster_ip is None  # headless
    assert services["frontend"].selector == {"app": "frontend"}
    assert inventory.cilium_version == "1.19.4"
    assert inventory.supported_kinds == {
        "NetworkPolicy",
        "CiliumNetworkPolicy",
        "CiliumClusterwideNetworkPolicy",
        "AdminNetworkPolicy",
        "BaselineAdminNetworkPolicy",
    }
    assert backend.cilium_settings().config == {
        "enable-policy": "default",
        "policy-audit-mode": "false",
    }


def test_supported_kinds_follow_discovery(tmp_path: Path) -> None:
    fake = FakeKube([*CILIUM_CLUSTER, CLUSTER_NETWORK_POLICY]).start()
    try:
        backend = connect(fake, tmp_path)
        try:
            assert backend.inventory().supported_kinds == {
                "NetworkPolicy",
                "CiliumNetworkPolicy",
                "CiliumClusterwideNetworkPolicy",
                "ClusterNetworkPolicy",
            }
            assert any(r.path == "/apis" for r in fake.requests)
            assert any(r.path == "/apis/policy.networking.k8s.io/v1alpha2" for r in fake.requests)
        finally:
            backend.close()
    finally:
        fake.stop()


def test_inventory_follows_watch_events(kube: FakeKube, tmp_path: Path) -> None:
    backend = connect(kube, tmp_path, watch_timeout=1)
    try:
        kube.put(
            pod("shop", "cart-0", {"app": "cart"}, "10.244.1.20", owner=("StatefulSet", "cart"))
        )
        kube.put(namespace("shop", team="storefront", env="staging"))
        kube.remove("Pod", "shop", "debug")
        eventually(lambda: "shop/cart-0" in pods_by_name(backend))
        eventually(lambda: "shop/debug" not in pods_by_name(backend))
        eventually(lambda: backend.inventory().namespaces["shop"]["env"] == "staging")
        # A pod's labels change: the same pod, new labels.
        kube.put(pod("shop", "cart-0", {"app": "cart", "tier": "api"}, "10.244.1.20"))
        eventually(lambda: pods_by_name(backend)["shop/cart-0"].labels.get("tier") == "api")
        # The server ends each watch after timeoutSeconds=1: watched again from the last
        # version seen, never listed again.
        eventually(lambda: backend.pods.stats.watches >= 3)
        assert backend.pods.stats.lists == 1
        assert backend.pods.stats.resumed >= 2
        versions = [int(r.query["resourceVersion"]) for r in kube.watch_requests("pods")]
        assert versions == sorted(versions) and versions[-1] > versions[0]
        assert all(r.query["allowWatchBookmarks"] == "true" for r in kube.watch_requests("pods"))
    finally:
        backend.close()


def test_bookmarks_move_the_version_of_an_idle_watch(
    kube: FakeKube, backend: KubernetesBackend
) -> None:
    events = backend.nodes.stats.events
    kube.put(pod("shop", "cart-0", {"app": "cart"}, "10.244.1.20"))  # no node changes
    target = kube.version
    eventually(lambda: int(backend.nodes.resource_version) >= target)
    assert backend.nodes.stats.bookmarks >= 1
    assert backend.nodes.stats.events == events
    # Thanks to the bookmark, compaction after that version does not force a relist.
    kube.drop_watches(meanwhile=kube.compact)
    eventually(lambda: backend.nodes.stats.watches >= 2 and kube.open_watches("nodes") == 1)
    assert backend.nodes.stats.lists == 1 and backend.nodes.stats.relists_after_gone == 0


def test_resumes_after_a_dropped_watch_connection(
    kube: FakeKube, backend: KubernetesBackend
) -> None:
    eventually(lambda: kube.open_watches("pods") == 1)
    before = len(kube.watch_requests("pods"))

    def while_disconnected() -> None:
        kube.put(pod("shop", "cart-0", {"app": "cart"}, "10.244.1.20"))
        kube.remove("Pod", "shop", "db-0")

    kube.drop_watches(meanwhile=while_disconnected)
    eventually(lambda: "shop/cart-0" in pods_by_name(backend))
    eventually(lambda: "shop/db-0" not in pods_by_name(backend))
    stats = backend.pods.stats
    assert stats.dropped >= 1 and "watch interrupted" in stats.last_error
    assert stats.lists == 1 and stats.relists_after_gone == 0  # the events came by watch
    resumed = kube.watch_requests("pods")[before]
    added = kube.get("Pod", "shop", "cart-0")
    assert added is not None
    assert int(resumed.query["resourceVersion"]) < int(added["metadata"]["resourceVersion"])


def test_relists_after_410_gone(
    kube: FakeKube, backend: KubernetesBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_watch, "PAGE_SIZE", 2)  # the relist is paginated

    def while_disconnected() -> None:
        kube.put(pod("shop", "cart-0", {"app": "cart"}, "10.244.1.20"))
        kube.remove("Pod", "shop", "db-0")
        kube.compact()  # the events above are gone: only a list can show them

    eventually(lambda: kube.open_watches("pods") == 1)
    kube.drop_watches(meanwhile=while_disconnected)
    eventually(lambda: backend.pods.stats.relists_after_gone >= 1)
    eventually(lambda: "shop/cart-0" in pods_by_name(backend))
    assert "shop/db-0" not in pods_by_name(backend)
    assert len(pods_by_name(backend)) == 5
    assert backend.pods.stats.lists == 2
    pages = [r for r in kube.requests if r.path == "/api/v1/pods" and "watch" not in r.query]
    assert [r.query.get("limit") for r in pages[-3:]] == ["2", "2", "2"]
    assert "continue" in pages[-1].query
    eventually(lambda: kube.open_watches("pods") == 1)  # and watching again


def test_bad_credentials_are_reported_not_raised(kube: FakeKube, tmp_path: Path) -> None:
    api = KubeApi(load_client(str(kube.kubeconfig(tmp_path, token="wrong")), in_cluster=False))
    backend = KubernetesBackend("kind-test", api, backoff=FAST)
    try:
        assert not backend.wait_synced(0.3)
        eventually(lambda: "HTTP 401 Unauthorized" in backend.pods.stats.last_error)
        assert backend.inventory().pods == []
    finally:
        backend.close()


def test_from_config(kube: FakeKube, tmp_path: Path) -> None:
    backend = KubernetesBackend.from_config(
        "kind-test", str(kube.kubeconfig(tmp_path)), in_cluster=False, hubble_relay=None
    )
    try:
        assert backend.cluster == "kind-test" and backend.hubble is None
        assert backend.wait_synced(WAIT)
        assert len(backend.inventory().pods) == 5
    finally:
        backend.close()


# --- apply ----------------------------------------------------------------------------------


def managers(obj: dict[str, object]) -> dict[str, str]:
    fields = obj["metadata"]["managedFields"]  # type: ignore[index]
    return {entry["manager"]: entry["operation"] for entry in fields}


def test_apply_creates_updates_and_prunes_only_managed(
    kube: FakeKube, backend: KubernetesBackend
) -> None:
    kube.put(cnp("shop", "legacy", "frontend"))  # someone else's: never touched
    desired = [
        network_policy("shop", "default-deny"),
        cnp("shop", "frontend", "frontend"),
        ccnp("allow-apiserver"),
    ]
    results = backend.apply(desired, {})
    assert [(r.ref.name, r.status, r.error) for r in results] == [
        ("default-deny", "applied", ""),
        ("frontend", "applied", ""),
        ("allow-apiserver", "applied", ""),
    ]
    created = kube.get("CiliumNetworkPolicy", "shop", "frontend")
    assert created is not None
    assert created["metadata"]["labels"] == {MANAGED_BY: "netwarden"}
    assert created["metadata"]["annotations"] == {"netwarden.dev/source": "policy/shop@1"}
    assert managers(created) == {FIELD_MANAGER: "Apply"}
    patches = [r for r in kube.requests if r.method == "PATCH"]
    assert {r.query["fieldManager"] for r in patches} == {FIELD_MANAGER}
    assert not any("force" in r.query for r in patches)

    # Applying the same again writes nothing.
    version = kube.version
    assert {r.status for r in backend.apply(desired, {})} == {"applied"}
    assert kube.version == version

    # The CNP changes and loses a field; the NetworkPolicy is no longer desired.
    changed = cnp("shop", "frontend", "frontend", port="9090")
    del changed["metadata"]["annotations"]
    results = backend.apply([changed, ccnp("allow-apiserver")], {})
    assert {r.status for r in results} == {"applied"}
    updated = kube.get("CiliumNetworkPolicy", "shop", "frontend")
    assert updated is not None
    assert updated["spec"]["ingress"][0]["toPorts"][0]["ports"][0]["port"] == "9090"
    assert "annotations" not in updated["metadata"]  # applied no more: removed
    assert updated["metadata"]["generation"] == 2
    assert kube.get("NetworkPolicy", "shop", "default-deny") is None
    assert backend.last_apply.pruned == [ObjectRef("NetworkPolicy", "shop", "default-deny")]
    assert kube.get("CiliumNetworkPolicy", "shop", "legacy") is not None
    deletes = [r for r in kube.requests if r.method == "DELETE"]
    assert len(deletes) == 1 and deletes[0].body["preconditions"]["uid"]

    live = backend.live_objects()
    assert set(live.managed) == {
        ObjectRef("CiliumNetworkPolicy", "shop", "frontend"),
        ObjectRef("CiliumClusterwideNetworkPolicy", "", "allow-apiserver"),
    }
    assert (
        live.managed[ObjectRef("CiliumNetworkPolicy", "shop", "frontend")]["spec"]
        == (updated["spec"])
    )
    assert live.unmanaged == [ObjectRef("CiliumNetworkPolicy", "shop", "legacy")]
    selectors = {
        r.query.get("labelSelector")
        for r in kube.requests
        if r.method == "GET" and r.path == "/apis/cilium.io/v2/ciliumnetworkpolicies"
    }
    assert selectors == {f"{MANAGED_BY}=netwarden", f"{MANAGED_BY}!=netwarden"}

    # Nothing desired: every managed object goes, the unmanaged one stays.
    assert backend.apply([], {}) == []
    assert backend.live_objects().managed == {}
    assert kube.get("CiliumNetworkPolicy", "shop", "legacy") is not None


def test_conflict_is_reported_then_forced_on_request(
    kube: FakeKube, backend: KubernetesBackend
) -> None:
    desired = cnp("shop", "frontend", "frontend")
    assert backend.apply([desired], {})[0].status == "applied"
    edited = kube.get("CiliumNetworkPolicy", "shop", "frontend")
    assert edited is not None
    edited["spec"]["endpointSelector"]["matchLabels"]["app"] = "everything"
    kube.put(edited, manager="kubectl-edit")  # drift: another manager owns the field now

    [result] = backend.apply([desired], {})
    assert result.status == "failed"
    assert result.error.startswith("HTTP 409 Conflict: Apply failed with 1 conflict: ")
    assert 'conflict with "kubectl-edit"' in result.error
    assert ".spec.endpointSelector.matchLabels.app" in result.error
    current = kube.get("CiliumNetworkPolicy", "shop", "frontend")
    assert current is not None
    assert current["spec"]["endpointSelector"]["matchLabels"]["app"] == "everything"
    assert backend.last_apply.pruned == []  # a failed desired object is not pruned

    [result] = backend.apply([desired], {}, force=True)
    assert (result.status, result.error) == ("applied", "")
    assert backend.last_apply.forced == [result.ref]
    restored = kube.get("CiliumNetworkPolicy", "shop", "frontend")
    assert restored is not None
    assert restored["spec"]["endpointSelector"]["matchLabels"]["app"] == "frontend"
    assert managers(restored) == {FIELD_MANAGER: "Apply"}  # the edit's ownership taken over
    forced = [r for r in kube.requests if r.method == "PATCH" and r.query.get("force")]
    assert [r.query["force"] for r in forced] == ["true"]


def test_unsupported_and_invalid_objects_fail_alone(tmp_path: Path) -> None:
    fake = FakeKube(CILIUM_CLUSTER).start()  # no AdminNetworkPolicy CRDs
    for obj in seed():
        fake.put(obj)
    fake.put(cnp("shop", "legacy", "frontend"))
    backend = connect(fake, tmp_path)
    try:
        wrong_version = cnp("shop", "v3", "frontend")
        wrong_version["apiVersion"] = "cilium.io/v3"
        no_namespace = cnp("", "floating", "frontend")
        del no_namespace["metadata"]["namespace"]
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "shop"},
        }
        desired = [
            admin_policy("deny-all"),
            cnp("shop", "frontend", "frontend"),
            wrong_version,
            cnp("missing", "frontend", "frontend"),
            no_namespace,
            config_map,
            cnp("shop", "legacy", "frontend"),
            ccnp("allow-apiserver"),
        ]
        results = backend.apply(desired, {})
        statuses = [(r.ref.name, r.status) for r in results]
        assert statuses == [
            ("deny-all", "failed"),
            ("frontend", "applied"),
            ("v3", "failed"),
            ("frontend", "failed"),
            ("floating", "failed"),
            ("x", "failed"),
            ("legacy", "failed"),
            ("allow-apiserver", "applied"),
        ]
        errors = [r.error for r in results]
        assert errors[0] == (
            "the cluster does not serve AdminNetworkPolicy in policy.networking.k8s.io/v1alpha1: "
            "its CRD or API group is not installed"
        )
        assert "(it serves CiliumNetworkPolicy as cilium.io/v2)" in errors[2]
        assert errors[3] == 'HTTP 404 NotFound: namespaces "missing" not found'
        assert errors[4] == "CiliumNetworkPolicy needs metadata.namespace"
        assert errors[5].startswith("ConfigMap is not a policy kind the agent manages")
        assert "not managed by Netwarden, left untouched" in errors[6]
        legacy = fake.get("CiliumNetworkPolicy", "shop", "legacy")
        assert legacy is not None and MANAGED_BY not in legacy["metadata"]["labels"]
        assert not any(r.path.endswith("/legacy") for r in fake.requests)
        assert fake.get("ConfigMap", "shop", "x") is None
    finally:
        backend.close()
        fake.stop()


def test_a_crd_installed_later_is_discovered_on_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_backend, "REDISCOVER_AFTER", 0.0)
    fake = FakeKube(CILIUM_CLUSTER).start()
    backend = connect(fake, tmp_path)
    try:
        assert "AdminNetworkPolicy" not in backend.inventory().supported_kinds
        fake.resources.extend(ADMIN)  # the network-policy-api CRDs get installed
        [result] = backend.apply([admin_policy("deny-all")], {})
        assert (result.status, result.error) == ("applied", "")
        assert "AdminNetworkPolicy" in backend.inventory().supported_kinds
        assert fake.get("AdminNetworkPolicy", "", "deny-all") is not None
    finally:
        backend.close()
        fake.stop()


def test_cilium_settings_are_reported_not_changed(
    kube: FakeKube, backend: KubernetesBackend, caplog: pytest.LogCaptureFixture
) -> None:
    assert backend.cilium_settings().mismatches == ()
    with caplog.at_level(logging.WARNING, logger="netwarden.agent.kubernetes"):
        backend.apply([], {"enforcementMode": "audit", "policyEnforcement": "default"})
    [mismatch] = backend.cilium_settings().mismatches
    assert mismatch.startswith("enforcementMode=audit needs policy-audit-mode='true' in ConfigMap")
    assert mismatch in caplog.text
    assert not any(
        r.path.startswith("/api/v1/namespaces/kube-system/configmaps") and r.method != "GET"
        for r in kube.requests
    )
    config = kube.get("ConfigMap", "kube-system", "cilium-config")
    assert config is not None and config["data"]["policy-audit-mode"] == "false"
    watches = kube.watch_requests("configmaps")
    assert watches and watches[0].query["fieldSelector"] == "metadata.name=cilium-config"
    assert watches[0].path == "/api/v1/namespaces/kube-system/configmaps"
    backend.apply([], {"enforcementMode": "enforce"})
    assert backend.cilium_settings().mismatches == ()


def test_apply_body_strips_server_fields() -> None:
    live = cnp("shop", "frontend", "frontend")
    live["metadata"].update(uid="u", resourceVersion="7", managedFields=[], generation=3)
    live["status"] = {"conditions": []}
    body = apply_body(live)
    assert set(body["metadata"]) == {"name", "namespace", "labels", "annotations"}
    assert "status" not in body and body["metadata"]["labels"][MANAGED_BY] == "netwarden"
    assert "uid" in live["metadata"]  # the input is not modified


def test_configuration_errors_are_value_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(KubeConfigError, match=r"^kubeconfig .*missing"):
        load_client(str(tmp_path / "missing"), in_cluster=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ValueError, match=r"^in-cluster configuration: "):
        load_client(None, in_cluster=True)


def test_rotated_tokens_reach_the_request_header() -> None:
    """kubernetes 36.0.0's loaders write api_key["authorization"]; requests read
    api_key["BearerToken"]. The mirror also follows the loader's refresh hook."""
    configuration = k8s_client.Configuration()
    configuration.api_key["authorization"] = "Bearer first"
    assert configuration.auth_settings() == {}  # the bug: no credentials at all

    def rotate(config: k8s_client.Configuration) -> None:
        config.api_key["authorization"] = "Bearer rotated"

    configuration.refresh_api_key_hook = rotate
    _mirror_bearer_token(configuration)
    assert configuration.auth_settings()["BearerToken"]["value"] == "Bearer rotated"
