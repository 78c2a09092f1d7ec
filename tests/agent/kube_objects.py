"""Kubernetes objects for the Kubernetes backend's tests, and a polling helper."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

JSON = dict[str, Any]
T = TypeVar("T")

WAIT = 10.0  # seconds: an upper bound for anything that should happen at once


def eventually(check: Callable[[], T], timeout: float = WAIT, interval: float = 0.02) -> T:
    """Poll ``check`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        time.sleep(interval)


def namespace(name: str, **labels: str) -> JSON:
    labels = {"kubernetes.io/metadata.name": name, **labels}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(
    ns: str,
    name: str,
    labels: dict[str, str] | None = None,
    ip: str | None = None,
    node: str = "kind-worker",
    owner: tuple[str, str] | None = None,
    ports: list[JSON] | None = None,
    phase: str = "Running",
    image: str = "nginx:1.27",
    container: str = "app",
) -> JSON:
    meta: JSON = {"name": name, "namespace": ns, "labels": dict(labels or {})}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": "u-" + owner[1],
                "controller": True,
            }
        ]
    spec: JSON = {
        "nodeName": node,
        "containers": [{"name": container, "image": image, "ports": ports or []}],
    }
    status: JSON = {"phase": phase}
    if ip:
        status["podIP"] = ip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def node(name: str, ip: str, **labels: str) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {
            "addresses": [
                {"type": "Hostname", "address": name},
                {"type": "InternalIP", "address": ip},
            ]
        },
    }


def service(ns: str, name: str, selector: dict[str, str], cluster_ip: str, port: int) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": selector,
            "clusterIP": cluster_ip,
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def cilium_config(**data: str) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cilium-config", "namespace": "kube-system"},
        "data": data,
    }


def cnp(ns: str, name: str, app: str, port: str = "8080", **labels: str) -> JSON:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": labels,
            "annotations": {"netwarden.dev/source": "policy/shop@1"},
        },
        "spec": {
            "endpointSelector": {"matchLabels": {"app": app}},
            "ingress": [{"toPorts": [{"ports": [{"port": port, "protocol": "TCP"}]}]}],
        },
    }


def ccnp(name: str) -> JSON:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": name},
        "spec": {"endpointSelector": {}, "egress": [{"toEntities": ["kube-apiserver"]}]},
    }


def network_policy(ns: str, name: str) -> JSON:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def admin_policy(name: str, priority: int = 10) -> JSON:
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": name},
        "spec": {
            "priority": priority,
            "subject": {"namespaces": {}},
            "ingress": [{"name": "deny-all", "action": "Deny", "from": [{"namespaces": {}}]}],
        },
    }


def seed() -> list[JSON]:
    """A small cluster: two nodes, kube-system with Cilium, a shop namespace with a
    Deployment, a StatefulSet, a CronJob's pod, a finished pod and a bare pod."""
    return [
        namespace("kube-system"),
        namespace("shop", team="storefront", env="prod"),
        node("kind-control-plane", "172.18.0.2", **{"node-role.kubernetes.io/control-plane": ""}),
        node("kind-worker", "172.18.0.3"),
        cilium_config(**{"enable-policy": "default", "policy-audit-mode": "false"}),
        pod(
            "kube-system",
            "cilium-x7k2p",
            {"k8s-app": "cilium"},
            "172.18.0.3",
            owner=("DaemonSet", "cilium"),
            container="cilium-agent",
            image="quay.io/cilium/cilium:v1.19.4@sha256:0123abcd",
        ),
        pod(
            "shop",
            "frontend-5d8f7b9c4d-abcde",
            {"app": "frontend", "pod-template-hash": "5d8f7b9c4d"},
            "10.244.1.10",
            owner=("ReplicaSet", "frontend-5d8f7b9c4d"),
            ports=[{"name": "http", "containerPort": 8080}],
        ),
        pod(
            "shop",
            "db-0",
            {"app": "db"},
            "10.244.1.11",
            owner=("StatefulSet", "db"),
            ports=[{"name": "pg", "containerPort": 5432, "protocol": "TCP"}],
        ),
        pod(
            "shop",
            "report-29412345-q8z7x",
            {"job-name": "report-29412345"},
            "10.244.1.12",
            owner=("Job", "report-29412345"),
        ),
        pod(
            "shop",
            "migrate-x2z9d",
            {"job-name": "migrate"},
            "10.244.1.13",
            owner=("Job", "migrate"),
            phase="Succeeded",
        ),
        pod("shop", "debug", {"run": "debug"}, None),
        service("shop", "frontend", {"app": "frontend"}, "10.96.0.20", 80),
        service("shop", "db", {"app": "db"}, "None", 5432),
    ]
