"""Flow enrichment: endpoint metadata, workloads and engine verdict attribution."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.matching import HTTPRequest
from netwarden.engine.verdict import Reason
from netwarden.engine.world import World
from netwarden.flows import decode_path, decode_text
from netwarden.flows.enrich import (
    AttributedBy,
    Decision,
    EnrichedFlow,
    Enricher,
    derive_workload,
    enrich_flows,
    has_policy_fields,
    hubble_decision,
)
from netwarden.model.endpoint import Endpoint, EndpointKind
from netwarden.model.flow import Flow, Workload
from netwarden.model.ports import Protocol
from netwarden.model.rule import Direction, Tier
from netwarden.sources.loader import load_text
from tests.flows.samples import hubble_dir

ROOT = Path(__file__).resolve().parents[2]

# The demo plus a baseline policy: kube-system refuses monitoring (baseline tier).
BASELINE = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}
  ingress:
  - name: no-monitoring
    action: Deny
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
"""

IPS = {
    "kube-system/coredns-0": "10.0.0.10",
    "shop/frontend-0": "10.0.1.10",
    "shop/frontend-1": "10.0.2.10",
    "shop/cart-0": "10.0.2.11",
    "shop/db-0": "10.0.1.12",
    "payments/api-0": "10.0.2.20",
    "monitoring/prometheus-0": "10.0.1.30",
}
NODES = {"node-1": "172.16.0.1", "node-2": "172.16.0.2"}


def demo_world() -> World:
    texts = [p.read_text() for p in sorted((ROOT / "examples" / "demo").glob("*.yaml"))]
    inp = load_text("\n---\n".join([*texts, BASELINE]), "demo.yaml")
    assert not inp.errors, [str(e) for e in inp.errors]
    return World(inp.clusters, inp.policies)


@pytest.fixture(scope="module")
def world() -> World:
    return demo_world()


@pytest.fixture()
def enricher(world: World) -> Enricher:
    return Enricher(CompiledEngine(world))


def pod_ep(name: str, **extra: Any) -> dict[str, Any]:
    namespace, pod = name.split("/")
    return {"namespace": namespace, "pod_name": pod, **extra}


WORLD_EP = {"identity": 2, "labels": ["reserved:world"]}


def line(
    src: str,
    dst: str,
    *,
    sport: int = 45000,
    dport: int = 80,
    proto: str = "TCP",
    verdict: str = "FORWARDED",
    source: dict[str, Any] | None = None,
    destination: dict[str, Any] | None = None,
    **fields: Any,
) -> str:
    """A Hubble ``-o json`` line between two IPs (or ``ns/pod`` names of the demo)."""
    src_ip, dst_ip = IPS.get(src, src), IPS.get(dst, dst)
    if source is None:
        source = pod_ep(src) if src in IPS else {}
    if destination is None:
        destination = pod_ep(dst) if dst in IPS else {}
    if proto in ("ICMPv4", "ICMPv6"):
        l4: dict[str, Any] = {proto: {"type": 8}}
    else:
        l4 = {proto: {"source_port": sport, "destination_port": dport}}
    flow = {
        "time": "2024-05-01T10:00:00Z",
        "verdict": verdict,
        "IP": {"source": src_ip, "destination": dst_ip, "ipVersion": "IPv4"},
        "l4": l4,
        "source": source,
        "destination": destination,
        "Type": "L3_L4",
        "node_name": "node-1",
        **fields,
    }
    return json.dumps({"flow": flow, "node_name": "node-1", "time": flow["time"]})


def decode(*lines: str) -> list[Flow]:
    result = decode_text("\n".join(lines))
    assert result.errors == [], [str(e) for e in result.errors]
    assert len(result.flows) == len(lines)
    return result.flows


def one(enricher: Enricher, text: str, **options: bool) -> EnrichedFlow:
    (flow,) = decode(text)
    (out,) = enricher.enrich([flow], **options)
    assert out.flow is flow
    return out


# ---- endpoints and workloads ------------------------------------------------


def test_endpoint_info_from_the_inventory_when_the_flow_has_only_ips(enricher: Enricher) -> None:
    out = one(enricher, line("shop/cart-0", "shop/db-0", dport=5432, source={}, destination={}))
    src = out.source
    assert (src.kind, src.cluster, src.namespace, src.pod) == ("pod", "default", "shop", "cart-0")
    assert src.origin == "inventory"
    assert "k8s:app=cart" in src.labels and "k8s:io.kubernetes.pod.namespace=shop" in src.labels
    assert src.workload == Workload("cart", "StatefulSet") and src.workload_rule == "pod-name"
    assert out.verdict is Decision.ALLOW and out.uncertain_reason is None


def test_endpoint_info_prefers_the_flows_own_fields(enricher: Enricher) -> None:
    source = pod_ep(
        "shop/frontend-0",
        identity=4242,
        cluster_name="prod",
        labels=["k8s:app=frontend", "k8s:io.kubernetes.pod.namespace=shop"],
        workloads=[{"name": "storefront", "kind": "Deployment"}],
    )
    out = one(enricher, line("shop/frontend-0", "shop/cart-0", dport=8080, source=source))
    src = out.source
    assert src.cluster == "prod" and src.identity == 4242
    assert src.labels == ("k8s:app=frontend", "k8s:io.kubernetes.pod.namespace=shop")
    assert src.workload == Workload("storefront", "Deployment") and src.workload_rule == "hubble"
    assert src.origin == "flow+inventory"
    # An unknown cluster name does not hide the pod: the World has one cluster.
    assert out.verdict is Decision.ALLOW


@pytest.mark.parametrize(
    ("pod", "labels", "workloads", "expected", "rule"),
    [
        ("x", {}, (Workload("web", "Deployment"),), Workload("web", "Deployment"), "hubble"),
        (
            "web-6b746f74dc-9rcxx",
            {"pod-template-hash": "6b746f74dc"},
            (),
            Workload("web", "Deployment"),
            "owner-label",
        ),
        (
            "kafka-12",
            {"statefulset.kubernetes.io/pod-name": "kafka-12"},
            (),
            Workload("kafka", "StatefulSet"),
            "owner-label",
        ),
        (
            "node-exporter-x7k2p",
            {"controller-revision-hash": "5c9d", "pod-template-generation": "3"},
            (),
            Workload("node-exporter", "DaemonSet"),
            "owner-label",
        ),
        (
            "productpage-v1-6b746f74dc-9rcxx",
            {},
            (),
            Workload("productpage-v1", "Deployment"),
            "pod-name",
        ),
        ("coredns-5d78c9869d-abcde", {}, (), Workload("coredns", "Deployment"), "pod-name"),
        ("db-0", {}, (), Workload("db", "StatefulSet"), "pod-name"),
        ("redis-cluster-17", {}, (), Workload("redis-cluster", "StatefulSet"), "pod-name"),
        ("cilium-x7k2p", {}, (), Workload("cilium", "DaemonSet"), "pod-name"),
        (
            "standalone",
            {"app.kubernetes.io/name": "shop", "app": "other"},
            (),
            Workload("shop", ""),
            "label:app.kubernetes.io/name",
        ),
        ("standalone", {"app": "debug"}, (), Workload("debug", ""), "label:app"),
        ("standalone", {}, (), None, "none"),
        ("", {}, (), None, "none"),
    ],
)
def test_derive_workload(
    pod: str,
    labels: dict[str, str],
    workloads: tuple[Workload, ...],
    expected: Workload | None,
    rule: str,
) -> None:
    assert derive_workload(pod, labels, workloads) == (expected, rule)


def test_owner_labels_beat_the_name_convention() -> None:
    # "web-server-x7k2p" reads as Deployment "web" by name; DaemonSet labels say otherwise.
    assert derive_workload("web-server-x7k2p", {}) == (Workload("web", "Deployment"), "pod-name")
    labels = {"controller-revision-hash": "1", "pod-template-generation": "1"}
    assert derive_workload("web-server-x7k2p", labels)[0] == Workload("web-server", "DaemonSet")


def test_workload_from_inventory_labels(world: World) -> None:
    enricher = Enricher(CompiledEngine(world))
    # Hubble's workloads field wins over the inventory-derived name.
    source = pod_ep("shop/db-0", workloads=[{"name": "postgres", "kind": "StatefulSet"}])
    out = one(enricher, line("shop/db-0", "shop/cart-0", dport=8080, source=source))
    assert out.source.workload == Workload("postgres", "StatefulSet")
    assert out.destination.workload == Workload("cart", "StatefulSet")


# ---- attribution per tier -----------------------------------------------------


def test_admin_tier_allow(enricher: Enricher) -> None:
    out = one(enricher, line("monitoring/prometheus-0", "shop/db-0", dport=9187))
    assert out.verdict is Decision.ALLOW and out.attributed_by is AttributedBy.ENGINE
    assert out.ingress is not None and out.ingress.tier is Tier.ADMIN
    assert out.ingress.reason is Reason.ADMIN_ALLOW
    (rule,) = out.ingress.rules
    assert (rule.policy.kind, rule.policy.name) == (
        "AdminNetworkPolicy",
        "allow-monitoring-scrapes",
    )
    assert out.egress is not None and out.egress.reason is Reason.DEFAULT_ALLOW
    assert (out.protocol, out.port, out.is_reply) == ("TCP", 9187, False)


def test_namespaced_tier_allow_and_isolation_deny(enricher: Enricher) -> None:
    allowed = one(enricher, line("shop/cart-0", "shop/db-0", dport=5432))
    assert allowed.verdict is Decision.ALLOW
    assert allowed.egress is not None and allowed.egress.reason is Reason.ALLOW_RULE
    assert allowed.egress.tier is Tier.NAMESPACED
    assert {r.policy.name for r in allowed.egress.rules} == {"cart-api"}
    assert allowed.ingress is not None and allowed.ingress.reason is Reason.ALLOW_RULE
    assert {r.policy.name for r in allowed.ingress.rules} == {"db-from-cart"}

    denied = one(enricher, line("shop/frontend-0", "shop/db-0", dport=5432))
    assert denied.verdict is Decision.DENY
    assert denied.egress is not None and not denied.egress.allowed
    assert denied.egress.reason is Reason.ISOLATED
    assert denied.ingress is not None and not denied.ingress.allowed


def test_namespaced_deny_rule_to_the_world(enricher: Enricher) -> None:
    out = one(
        enricher,
        line("payments/api-0", "169.254.169.254", dport=80, destination=WORLD_EP),
    )
    assert out.destination.kind == "world" and out.destination.identity == 2
    assert out.verdict is Decision.DENY
    assert out.egress is not None and out.egress.reason is Reason.DENY_RULE
    assert {r.policy.name for r in out.egress.rules} == {"payments-api"}
    assert out.ingress is not None and out.ingress.reason is Reason.NOT_ENFORCED


def test_fqdn_allow_uses_the_flows_destination_names(enricher: Enricher) -> None:
    text = line(
        "payments/api-0",
        "104.18.0.10",
        dport=443,
        destination=WORLD_EP,
        destination_names=["api.stripe.com"],
    )
    out = one(enricher, text)
    assert out.verdict is Decision.ALLOW and out.destination.names == ("api.stripe.com",)
    nameless = one(enricher, line("payments/api-0", "104.18.0.10", dport=443, destination=WORLD_EP))
    assert nameless.verdict is Decision.DENY


def test_baseline_tier_deny_and_default_allow(enricher: Enricher) -> None:
    out = one(
        enricher, line("monitoring/prometheus-0", "kube-system/coredns-0", dport=53, proto="UDP")
    )
    assert out.verdict is Decision.DENY
    assert out.ingress is not None and out.ingress.tier is Tier.BASELINE
    assert out.ingress.reason is Reason.BASELINE_DENY
    assert {r.policy.kind for r in out.ingress.rules} == {"BaselineAdminNetworkPolicy"}

    default = one(enricher, line("kube-system/coredns-0", "monitoring/prometheus-0", dport=9090))
    assert default.verdict is Decision.ALLOW
    assert default.egress is not None and default.egress.reason is Reason.DEFAULT_ALLOW
    assert default.ingress is not None and default.ingress.reason is Reason.DEFAULT_ALLOW
    assert default.ingress.tier is None


def test_l7_rules_narrow_an_http_flow(enricher: Enricher) -> None:
    def http(method: str, url: str) -> str:
        l7 = {"type": "REQUEST", "http": {"method": method, "url": url}}
        return line("shop/frontend-0", "shop/cart-0", dport=8080, Type="L7", l7=l7)

    get = one(enricher, http("GET", "http://cart:8080/cart/42"))
    assert get.verdict is Decision.ALLOW
    delete = one(enricher, http("DELETE", "http://cart:8080/cart/42"))
    assert delete.verdict is Decision.DENY
    assert delete.ingress is not None and delete.ingress.reason is Reason.L7_DENIED


# ---- replies --------------------------------------------------------------------


def test_a_reply_is_attributed_to_its_original_connection(enricher: Enricher) -> None:
    out = one(
        enricher,
        line("shop/db-0", "shop/cart-0", sport=5432, dport=45000, is_reply=True),
    )
    assert out.is_reply and out.port == 5432
    assert out.verdict is Decision.ALLOW
    # Client cart-0's egress and server db-0's ingress, as for the request.
    request = one(enricher, line("shop/cart-0", "shop/db-0", sport=45000, dport=5432))
    assert (out.egress, out.ingress) == (request.egress, request.ingress)
    assert out.egress is not None and out.egress.direction is Direction.EGRESS
    assert {r.policy.name for r in out.egress.rules} == {"cart-api"}
    # Endpoint info still follows the packet.
    assert (out.source.pod, out.destination.pod) == ("db-0", "cart-0")


def test_the_deprecated_reply_flag_counts(enricher: Enricher) -> None:
    out = one(enricher, line("shop/db-0", "shop/frontend-0", sport=5432, reply=True))
    assert out.is_reply and out.port == 5432 and out.verdict is Decision.DENY


def test_a_reply_whose_connection_the_engine_denies_disagrees(enricher: Enricher) -> None:
    text = line("shop/db-0", "shop/frontend-0", sport=5432, dport=41000, is_reply=True)
    out = one(enricher, text)
    assert out.verdict is Decision.DENY and out.hubble_verdict is Decision.ALLOW
    assert out.agrees_with_hubble is False


# ---- uncertainty ------------------------------------------------------------------


def test_icmp_is_uncertain(enricher: Enricher) -> None:
    out = one(enricher, line("shop/frontend-0", "shop/cart-0", proto="ICMPv4"))
    assert out.verdict is Decision.UNKNOWN and out.attributed_by is AttributedBy.NONE
    assert out.uncertain_reason is not None and "ICMPv4" in out.uncertain_reason
    assert out.egress is None and out.ingress is None and out.agrees_with_hubble is None
    assert out.source.pod == "frontend-0"  # endpoints are still enriched


def test_unknown_ips(enricher: Enricher) -> None:
    # An IP outside the inventory that Hubble labels reserved:world is the world.
    world = one(enricher, line("203.0.113.50", "shop/frontend-1", dport=8080, source=WORLD_EP))
    assert world.uncertain_reason is None and world.source.kind == "world"
    assert world.verdict is Decision.ALLOW
    assert world.ingress is not None and world.ingress.reason is Reason.ALLOW_RULE
    # Without an identity from the flow, an unknown IP is not guessed to be the world.
    bare = one(enricher, line("203.0.113.50", "shop/frontend-1", dport=8080))
    assert bare.verdict is Decision.UNKNOWN
    assert bare.uncertain_reason is not None
    assert bare.uncertain_reason.startswith("source: 203.0.113.50 is not in the inventory")
    assert bare.source.kind == "unknown" and bare.source.origin == "none"
    # A pod the inventory does not know.
    ghost = one(
        enricher,
        line("10.0.9.9", "shop/cart-0", dport=8080, source=pod_ep("shop/ghost-7d9f8-abcde")),
    )
    assert ghost.uncertain_reason == "source: pod shop/ghost-7d9f8-abcde is not in the inventory"
    assert ghost.source.workload == Workload("ghost", "Deployment")
    # An identity that is not reserved:world for an IP the inventory lacks.
    labelled = one(
        enricher,
        line("10.0.9.9", "shop/cart-0", dport=8080, source={"identity": 31337}),
    )
    assert (
        labelled.uncertain_reason is not None and "not reserved:world" in labelled.uncertain_reason
    )


def test_nodes_resolve_by_ip(enricher: Enricher) -> None:
    host = {"identity": 1, "labels": ["reserved:host"]}
    out = one(enricher, line(NODES["node-1"], "shop/db-0", dport=5432, source=host))
    assert out.source.kind == "host" and out.uncertain_reason is None
    # The pod's own node reaches it whatever the policies say.
    assert out.ingress is not None and out.ingress.reason is Reason.OWN_NODE
    missing = one(enricher, line("172.16.9.9", "shop/db-0", dport=5432, source=host))
    assert missing.uncertain_reason is not None and "not a node" in missing.uncertain_reason


def test_kept_hubble_policy_fields(enricher: Enricher) -> None:
    allowed_by = [{"name": "cart-api", "namespace": "shop", "kind": "CiliumNetworkPolicy"}]
    text = line("shop/frontend-0", "shop/db-0", dport=5432, egress_allowed_by=allowed_by)
    out = one(enricher, text)
    assert out.attributed_by is AttributedBy.HUBBLE
    assert out.egress is None and out.ingress is None
    assert out.verdict is Decision.ALLOW and out.agrees_with_hubble is None
    assert out.flow.egress_allowed_by[0].name == "cart-api"
    # On request the engine attributes it too, and says it disagrees; the fields stay.
    forced = one(enricher, text, always_attribute=True)
    assert forced.attributed_by is AttributedBy.ENGINE and forced.verdict is Decision.DENY
    assert forced.agrees_with_hubble is False
    assert forced.flow.egress_allowed_by == out.flow.egress_allowed_by

    denied_by = [{"name": "x", "namespace": "shop", "kind": "CiliumNetworkPolicy"}]
    text = line("shop/cart-0", "shop/db-0", dport=5432, verdict="DROPPED",
                drop_reason_desc="POLICY_DENY", egress_denied_by=denied_by)  # fmt: skip
    kept = one(enricher, text)
    assert kept.verdict is Decision.DENY and kept.attributed_by is AttributedBy.HUBBLE
    (again,) = Enricher(enricher.engine, always_attribute=True).enrich([kept.flow])
    assert again.attributed_by is AttributedBy.ENGINE and again.verdict is Decision.ALLOW
    assert again.flow.egress_denied_by == kept.flow.egress_denied_by


def test_a_policy_drop_keeps_hubbles_verdict_unless_attribution_is_asked_for(
    enricher: Enricher,
) -> None:
    """A drop for a policy reason states Hubble's policy decision (``has_policy_fields``):
    by default it is kept, not recomputed; on request the engine attributes it."""
    text = line("shop/cart-0", "shop/db-0", dport=5432, verdict="DROPPED",
                drop_reason_desc="POLICY_DENIED")  # fmt: skip
    (flow,) = decode(text)
    assert has_policy_fields(flow)
    kept = one(enricher, text)
    assert kept.attributed_by is AttributedBy.HUBBLE and kept.verdict is Decision.DENY
    assert kept.egress is None and kept.ingress is None and kept.agrees_with_hubble is None
    forced = one(enricher, text, always_attribute=True)
    assert forced.attributed_by is AttributedBy.ENGINE and forced.verdict is Decision.ALLOW
    # The numeric reason alone (no description) says the same; other drops do not.
    for reason in (133, 181):
        numeric = line("shop/cart-0", "shop/db-0", dport=5432, verdict="DROPPED",
                       drop_reason=reason)  # fmt: skip
        assert has_policy_fields(decode(numeric)[0])
        assert one(enricher, numeric).attributed_by is AttributedBy.HUBBLE
    other = line("shop/cart-0", "shop/db-0", dport=5432, verdict="DROPPED",
                 drop_reason_desc="CT_MAP_INSERTION_FAILED")  # fmt: skip
    assert not has_policy_fields(decode(other)[0])
    assert one(enricher, other).attributed_by is AttributedBy.ENGINE
    forwarded = decode(line("shop/cart-0", "shop/db-0", dport=5432))[0]
    assert not has_policy_fields(forwarded)


def test_agreement_with_dropped_policy_denied(enricher: Enricher) -> None:
    def dropped(src: str, dst: str, port: int) -> str:
        return line(src, dst, dport=port, verdict="DROPPED", drop_reason_desc="POLICY_DENIED")

    agree = one(enricher, dropped("shop/frontend-0", "shop/db-0", 5432), always_attribute=True)
    assert agree.hubble_verdict is Decision.DENY and agree.verdict is Decision.DENY
    assert agree.agrees_with_hubble is True
    disagree = one(enricher, dropped("shop/cart-0", "shop/db-0", 5432), always_attribute=True)
    assert disagree.verdict is Decision.ALLOW and disagree.agrees_with_hubble is False
    forwarded = one(enricher, line("shop/cart-0", "shop/db-0", dport=5432))
    assert forwarded.agrees_with_hubble is True
    # A drop for another reason states no policy decision: nothing to compare.
    other = line("shop/cart-0", "shop/db-0", dport=5432, verdict="DROPPED",
                 drop_reason_desc="CT_MAP_INSERTION_FAILED")  # fmt: skip
    assert one(enricher, other).agrees_with_hubble is None
    numeric = line("shop/cart-0", "shop/db-0", dport=5432, verdict="DROPPED", drop_reason=133)
    assert hubble_decision(decode(numeric)[0]) is Decision.DENY


def test_to_dict_is_json(enricher: Enricher) -> None:
    out = one(enricher, line("shop/cart-0", "shop/db-0", dport=5432))
    data = json.loads(json.dumps(out.to_dict()))
    assert data["attribution"]["verdict"] == "allow"
    assert data["attribution"]["agrees"] is True
    assert data["source"]["workload"] == "cart"


# ---- batches --------------------------------------------------------------------------


def test_a_batch_equals_flow_by_flow(world: World) -> None:
    texts = [
        line("shop/cart-0", "shop/db-0", dport=5432),
        line("shop/frontend-0", "shop/db-0", dport=5432),
        line("shop/frontend-0", "shop/cart-0", proto="ICMPv4"),
        line("monitoring/prometheus-0", "kube-system/coredns-0", dport=53, proto="UDP"),
        line("203.0.113.50", "shop/frontend-1", dport=8080, source=WORLD_EP),
        line("shop/db-0", "shop/cart-0", sport=5432, is_reply=True),
    ] * 7
    flows = decode(*texts)
    whole = Enricher(CompiledEngine(world)).enrich(flows)
    small = Enricher(CompiledEngine(world), batch_size=4).enrich(flows)
    streamed = list(Enricher(CompiledEngine(world), batch_size=5).enrich_stream(iter(flows)))
    singles = [Enricher(CompiledEngine(world)).enrich_one(f) for f in flows]
    assert whole == small == streamed == singles
    assert enrich_flows(flows, world) == whole


ENDPOINT_NAMES = [*IPS, *NODES]
PORTS = [53, 80, 443, 5432, 8080, 8443, 9090, 9187, 1, 65535, 30000]


@st.composite
def flow_specs(draw: st.DrawFn) -> tuple[str, str, int, int, str, bool]:
    src = draw(st.sampled_from([*ENDPOINT_NAMES, "world"]))
    dst = draw(st.sampled_from([*ENDPOINT_NAMES, "world"]))
    port = draw(st.one_of(st.sampled_from(PORTS), st.integers(0, 65535)))
    sport = draw(st.integers(1024, 65535))
    proto = draw(st.sampled_from(["TCP", "UDP", "SCTP"]))
    return src, dst, port, sport, proto, draw(st.booleans())


def _spec_line(spec: tuple[str, str, int, int, str, bool]) -> str:
    src, dst, port, sport, proto, reply = spec

    def side(name: str) -> tuple[str, dict[str, Any]]:
        if name == "world":
            return "198.51.100.4", WORLD_EP
        if name in NODES:
            return NODES[name], {"identity": 6, "labels": ["reserved:remote-node"]}
        return IPS[name], pod_ep(name)

    (src_ip, src_ep), (dst_ip, dst_ep) = side(src), side(dst)
    a, b = (port, sport) if reply else (sport, port)
    return line(src_ip, dst_ip, sport=a, dport=b, proto=proto, source=src_ep,
                destination=dst_ep, is_reply=reply)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(flow_specs(), min_size=1, max_size=40))
def test_batch_attribution_equals_engine_verdict(specs: list[Any]) -> None:
    world = _WORLD
    engine = CompiledEngine(world)
    flows = decode(*(_spec_line(s) for s in specs))
    enriched = Enricher(engine).enrich(flows)
    scalar = CompiledEngine(world)
    for spec, out in zip(specs, enriched, strict=True):
        src, dst, port, _sport, proto, reply = spec
        assert out.uncertain_reason is None, out.uncertain_reason
        ends = [_endpoint(world, src), _endpoint(world, dst)]
        client, server = ends[::-1] if reply else ends
        expected = scalar.verdict(client, server, port, Protocol(proto))
        assert (out.egress, out.ingress) == (expected.egress, expected.ingress)
        assert out.verdict is (Decision.ALLOW if expected.allowed else Decision.DENY)
        assert out.port == port and out.is_reply is reply


_WORLD = demo_world()


def _endpoint(world: World, name: str) -> Endpoint:
    if name == "world":
        return Endpoint(
            EndpointKind.WORLD, world.default_cluster, ipaddress.ip_address("198.51.100.4")
        )
    if name in NODES:
        return world.by_ip(ipaddress.ip_address(NODES[name]))
    return world.resolve(name)


def test_http_batch_matches_engine_verdict_with_request(world: World) -> None:
    engine = CompiledEngine(world)
    l7 = {"type": "REQUEST", "http": {"method": "POST", "url": "/cart/items"}}
    (flow,) = decode(line("shop/frontend-1", "shop/cart-0", dport=8080, Type="L7", l7=l7))
    (out,) = Enricher(engine).enrich([flow])
    expected = CompiledEngine(world).verdict(
        world.resolve("shop/frontend-1"),
        world.resolve("shop/cart-0"),
        8080,
        Protocol.TCP,
        HTTPRequest("POST", "/cart/items"),
    )
    assert (out.egress, out.ingress) == (expected.egress, expected.ingress)
    assert out.verdict is Decision.ALLOW


def test_the_world_changing_resets_resolution(world: World) -> None:
    engine = CompiledEngine(World({}, []))
    enricher = Enricher(engine)
    (flow,) = decode(line("shop/cart-0", "shop/db-0", dport=5432))
    assert enricher.enrich([flow])[0].verdict is Decision.UNKNOWN
    engine.update_world(world)
    assert enricher.enrich([flow])[0].source.origin == "flow+inventory"


# ---- the real samples --------------------------------------------------------------


@pytest.mark.parametrize("always", [False, True])
def test_samples_against_an_empty_world(always: bool) -> None:
    enricher = Enricher(CompiledEngine(World({}, [])), always_attribute=always, batch_size=97)
    files = sorted(hubble_dir().glob("*.jsonl"))
    assert files
    total = kept = 0
    for file in files:
        flows = decode_path(file).flows
        out = enricher.enrich(flows)
        assert [e.flow for e in out] == flows, file.name
        total += len(out)
        for e in out:
            if not always and has_policy_fields(e.flow):  # a policy drop: Hubble's verdict
                assert e.attributed_by is AttributedBy.HUBBLE and e.uncertain_reason is None
                assert e.egress is None and e.ingress is None
                kept += 1
                continue
            l4 = e.flow.l4
            if l4 is None or l4.protocol not in ("TCP", "UDP", "SCTP"):
                assert e.uncertain_reason is not None and e.verdict is Decision.UNKNOWN
            if e.flow.source.pod_name or e.flow.destination.pod_name:
                # No pod is in an empty inventory: never attributed, never guessed.
                assert e.uncertain_reason is not None and "not in the inventory" in (
                    e.uncertain_reason
                )
            if e.uncertain_reason is not None:
                assert e.egress is None and e.ingress is None
                assert e.agrees_with_hubble is None
            else:
                assert e.attributed_by is AttributedBy.ENGINE
    assert total == 440
    assert kept == (0 if always else 1)  # the samples' one POLICY_DENIED drop


def test_sample_workloads_and_identities() -> None:
    path = hubble_dir() / "hubble-otel-basic-sample-400-tcp-flows.jsonl"
    flows = decode_path(path).flows
    enricher = Enricher(CompiledEngine(World({}, [])))
    out = enricher.enrich(flows)
    first = out[0]
    assert first.source.workload == Workload("productpage-v1", "Deployment")
    assert first.destination.workload == Workload("reviews-v2", "Deployment")
    assert first.source.cluster == "kind-kind" and first.source.identity == 3418
    assert first.source.origin == "flow"
    dropped = decode_path(hubble_dir() / "cilium-docs-exporter-dropped.jsonl").flows
    icmp, tcp = enricher.enrich(dropped)
    assert icmp.uncertain_reason is not None and "ICMPv6" in icmp.uncertain_reason
    # A POLICY_DENIED drop keeps Hubble's verdict; on request the engine (which knows no
    # pod here) says it cannot attribute it.
    assert tcp.hubble_verdict is Decision.DENY and tcp.verdict is Decision.DENY
    assert tcp.attributed_by is AttributedBy.HUBBLE
    assert tcp.destination.workload == Workload("deathstar", "Deployment")
    (asked,) = enricher.enrich([tcp.flow], always_attribute=True)
    assert asked.verdict is Decision.UNKNOWN and asked.uncertain_reason is not None
