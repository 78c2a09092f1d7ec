"""Shared helpers for the unit tests: the standard e2e cluster, manifest builders and
a verdict checker that runs both evaluators and asserts they agree.

Standard cluster (kubernetes/kubernetes test/e2e/network/netpol/model.go, as in
../shared/semantics-examples/README.md): namespaces x, y, z labelled ns=<name>;
pods a, b, c in each, labelled pod=<name>, IP 10.0.<ns>.<pod> (x=1, y=2, z=3;
a=1, b=2, c=3); container ports 80 and 81 for TCP, UDP and SCTP named
serve-<port>-<proto>. With ``nodes=True``: node-1 = 172.16.0.1 (pods a and c),
node-2 = 172.16.0.2 (pods b).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.matching import HTTPRequest
from netwarden.engine.reference import ReferenceEvaluator
from netwarden.engine.verdict import DirectionVerdict, Reason, Verdict
from netwarden.engine.world import World
from netwarden.model.diagnostics import Diagnostic, Severity
from netwarden.model.ports import Protocol
from netwarden.model.rule import Tier
from netwarden.sources.loader import PolicyInput, load_text

NAMESPACES = ("x", "y", "z")
PODS = ("a", "b", "c")
_NS_NUM = {"x": 1, "y": 2, "z": 3}
_POD_NUM = {"a": 1, "b": 2, "c": 3}
NODE_IPS = {"node-1": "172.16.0.1", "node-2": "172.16.0.2"}
POD_NODE = {"a": "node-1", "b": "node-2", "c": "node-1"}

NP_API = "networking.k8s.io/v1"
CILIUM_API = "cilium.io/v2"
ANP_API = "policy.networking.k8s.io/v1alpha1"
CNP2_API = "policy.networking.k8s.io/v1alpha2"

# The tier every reason implies, and whether it allows.
_REASON_TIER: dict[Reason, Tier | None] = {
    Reason.NOT_ENFORCED: None,
    Reason.SELF: None,
    Reason.OWN_NODE: None,
    Reason.DEFAULT_ALLOW: None,
    Reason.ADMIN_ALLOW: Tier.ADMIN,
    Reason.ADMIN_DENY: Tier.ADMIN,
    Reason.ALLOW_RULE: Tier.NAMESPACED,
    Reason.DENY_RULE: Tier.NAMESPACED,
    Reason.L7_DENIED: Tier.NAMESPACED,
    Reason.ISOLATED: Tier.NAMESPACED,
    Reason.ENFORCEMENT_ALWAYS: Tier.NAMESPACED,
    Reason.BASELINE_ALLOW: Tier.BASELINE,
    Reason.BASELINE_DENY: Tier.BASELINE,
}
_ALLOWING = {
    Reason.NOT_ENFORCED,
    Reason.SELF,
    Reason.OWN_NODE,
    Reason.DEFAULT_ALLOW,
    Reason.ADMIN_ALLOW,
    Reason.ALLOW_RULE,
    Reason.BASELINE_ALLOW,
}


def pod_ip(namespace: str, pod: str) -> str:
    return f"10.0.{_NS_NUM[namespace]}.{_POD_NUM[pod]}"


def dump(*objects: Mapping[str, Any]) -> str:
    return "---\n".join(yaml.safe_dump(dict(o), sort_keys=False) for o in objects)


def namespace(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    all_labels = {"ns": name, "kubernetes.io/metadata.name": name, **(labels or {})}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": all_labels},
    }


def pod(
    ns: str,
    name: str,
    ip: str | None,
    labels: Mapping[str, str] | None = None,
    ports: Iterable[tuple[str, int, str]] = (),
    node: str | None = None,
    host_network: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "server",
                "image": "agnhost",
                "ports": [
                    {"name": n, "containerPort": p, "protocol": proto} for n, p, proto in ports
                ],
            }
        ]
    }
    status: dict[str, Any] = {}
    if ip is not None:
        status["podIP"] = ip
    if node is not None:
        spec["nodeName"] = node
        status["hostIP"] = NODE_IPS.get(node, "172.16.0.99")
    if host_network:
        spec["hostNetwork"] = True
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": dict(labels or {"pod": name})},
        "spec": spec,
        "status": status,
    }


E2E_PORTS = tuple(
    (f"serve-{p}-{proto.lower()}", p, proto) for p in (80, 81) for proto in ("TCP", "UDP", "SCTP")
)


def node(name: str, ip: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    all_labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", **(labels or {})}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": all_labels},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }


def apiserver_endpoints(*ips: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"port": 6443}]}],
    }


def cilium_config(**settings: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cilium-config", "namespace": "kube-system"},
        "data": {k.replace("_", "-"): v for k, v in settings.items()},
    }


def standard_objects(nodes: bool = False) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    if nodes:
        objects += [node(n, ip) for n, ip in NODE_IPS.items()]
    objects += [namespace(ns) for ns in NAMESPACES]
    for ns in NAMESPACES:
        for p in PODS:
            objects.append(
                pod(ns, p, pod_ip(ns, p), ports=E2E_PORTS, node=POD_NODE[p] if nodes else None)
            )
    return objects


# ---- policy builders ---------------------------------------------------------


def netpol(name: str, ns: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": NP_API,
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": dict(spec),
    }


def cnp(name: str, ns: str, spec: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": CILIUM_API,
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
    }
    if spec is not None:
        obj["spec"] = dict(spec)
    obj.update(extra)
    return obj


def ccnp(name: str, spec: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": CILIUM_API,
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": name},
    }
    if spec is not None:
        obj["spec"] = dict(spec)
    obj.update(extra)
    return obj


def anp(name: str, priority: int, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": ANP_API,
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": name},
        "spec": {"priority": priority, **spec},
    }


def banp(spec: Mapping[str, Any], name: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": ANP_API,
        "kind": "BaselineAdminNetworkPolicy",
        "metadata": {"name": name},
        "spec": dict(spec),
    }


def cnp2(name: str, tier: str, priority: int, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy."""
    return {
        "apiVersion": CNP2_API,
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": {"tier": tier, "priority": priority, **spec},
    }


def sel(**labels: str) -> dict[str, Any]:
    return {"matchLabels": dict(labels)}


def ns_sel(name: str) -> dict[str, Any]:
    return {"matchLabels": {"ns": name}}


# ---- loading -------------------------------------------------------------------


def load(*objects: Mapping[str, Any], nodes: bool = False, standard: bool = True) -> PolicyInput:
    all_objects = (standard_objects(nodes) if standard else []) + [dict(o) for o in objects]
    return load_text(dump(*all_objects), "test.yaml")


def build(*objects: Mapping[str, Any], nodes: bool = False, standard: bool = True) -> World:
    """The standard cluster plus ``objects``; fails the test on any input error."""
    inp = load(*objects, nodes=nodes, standard=standard)
    assert not inp.errors, "\n".join(str(d) for d in inp.errors)
    return World(inp.clusters, inp.policies)


def errors(text: str, file: str = "test.yaml") -> list[Diagnostic]:
    return [d for d in load_text(text, file).diagnostics if d.severity is Severity.ERROR]


def warnings(inp: PolicyInput) -> list[Diagnostic]:
    return [d for d in inp.diagnostics if d.severity is Severity.WARNING]


# ---- verdicts ------------------------------------------------------------------

DirSpec = Reason | tuple[Any, ...]


def evaluate(
    world: World,
    src: str,
    dst: str,
    port: int,
    protocol: str | Protocol = "TCP",
    *,
    http: Mapping[str, Any] | None = None,
    dns_name: str | None = None,
) -> Verdict:
    """Both evaluators on one connection; asserts they agree and returns the verdict."""
    s = world.resolve(src)
    d = world.resolve(dst, dns_name)
    proto = protocol if isinstance(protocol, Protocol) else Protocol.parse(protocol)
    req = None
    if http is not None:
        headers = tuple((k, v) for k, v in (http.get("headers") or {}).items())
        req = HTTPRequest(
            http.get("method", "GET"), http.get("path", "/"), http.get("host"), headers
        )
    ref = ReferenceEvaluator(world).verdict(s, d, port, proto, req)
    comp = CompiledEngine(world).verdict(s, d, port, proto, req)
    assert (ref.egress, ref.ingress) == (comp.egress, comp.ingress), (
        f"reference and compiled disagree on {src} -> {dst} {port}/{proto.value}:\n"
        f"  reference: {ref.egress}\n             {ref.ingress}\n"
        f"  compiled:  {comp.egress}\n             {comp.ingress}"
    )
    return ref


def _check_direction(label: str, got: DirectionVerdict, spec: DirSpec) -> None:
    reason, *policies = spec if isinstance(spec, tuple) else (spec,)
    assert got.reason is reason, f"{label}: expected {reason.value}, got {got}"
    assert got.tier is _REASON_TIER[reason], f"{label}: tier {got.tier} for {reason.value}"
    assert got.allowed is (reason in _ALLOWING), f"{label}: allowed={got.allowed} for {reason}"
    if policies:
        if any("#" in p for p in policies):
            actual = {f"{r.policy}#{r.index}" for r in got.rules}
        else:
            actual = {str(r.policy) for r in got.rules}
        assert actual == set(policies), f"{label}: policies {sorted(actual)} != {sorted(policies)}"


def check(
    world: World,
    src: str,
    dst: str,
    port: int,
    protocol: str | Protocol = "TCP",
    *,
    egress: DirSpec,
    ingress: DirSpec,
    http: Mapping[str, Any] | None = None,
    dns_name: str | None = None,
) -> Verdict:
    """Evaluate with both engines and check each direction's reason, tier and policies.

    A direction spec is a Reason, or (Reason, "Kind/ns/name", ...) to also check the
    deciding policies; "Kind/ns/name#2" checks the rule index too.
    """
    v = evaluate(world, src, dst, port, protocol, http=http, dns_name=dns_name)
    _check_direction(f"egress of {src}", v.egress, egress)
    _check_direction(f"ingress of {dst}", v.ingress, ingress)
    assert v.allowed is (v.egress.allowed and v.ingress.allowed)
    return v


def allowed(
    world: World,
    src: str,
    dst: str,
    port: int,
    protocol: str | Protocol = "TCP",
    *,
    http: Mapping[str, Any] | None = None,
    dns_name: str | None = None,
) -> bool:
    return evaluate(world, src, dst, port, protocol, http=http, dns_name=dns_name).allowed
