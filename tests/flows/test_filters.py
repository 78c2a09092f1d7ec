"""Hubble FlowFilter semantics (netwarden.flows.filters), case by case and on the real samples.

Expectations come from the Hubble server's filters (Cilium v1.19.4 ``pkg/hubble/filters``)
and the ``hubble observe`` CLI (``hubble/cmd/observe/flows_filter.go``); the sample
counts were checked against the raw JSON (see the comments next to each number).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netwarden.flows import decode_path
from netwarden.flows.filters import (
    EventTypeFilter,
    FilterError,
    FlowFilter,
    NetworkInterface,
    ObserveFilters,
    UnsupportedFilterError,
    filter_flows,
    matches,
    namespaced_name_matcher,
    observe_filters,
    parse_label_selector,
    request_uri_path,
)
from netwarden.model.flow import (
    DNS,
    HTTP,
    IP,
    TCP,
    UDP,
    CiliumEventType,
    DropReason,
    Flow,
    FlowEndpoint,
    FlowType,
    HTTPHeader,
    ICMPv4,
    IPVersion,
    L7FlowType,
    Layer4,
    Layer7,
    TCPFlags,
    TrafficDirection,
    Verdict,
    Workload,
)
from tests.flows.samples import hubble_dir

# --- hand-made flows ---------------------------------------------------------------------------

WEB = FlowEndpoint(
    ID=101,
    identity=12345,
    cluster_name="prod-eu",
    namespace="shop",
    labels=(
        "k8s:app=web",
        "k8s:io.kubernetes.pod.namespace=shop",
        "k8s:tier=frontend",
        "k8s:replicas=3",
    ),
    pod_name="web-7d9f8-abcde",
    workloads=(Workload(name="web", kind="Deployment"),),
)
DB = FlowEndpoint(
    identity=23456,
    cluster_name="prod-us",
    namespace="data",
    labels=("k8s:app=db", "k8s:io.kubernetes.pod.namespace=data", "container:app=postgres"),
    pod_name="db-0",
    workloads=(Workload(name="db", kind="StatefulSet"),),
)
WORLD = FlowEndpoint(identity=16777217, labels=("reserved:world", "cidr:140.82.112.0/20"))

TCP_FLOW = Flow(
    time=1_700_000_000_000_000_000,
    uuid="5f1b2c3d-0000-4000-8000-000000000001",
    verdict=Verdict.FORWARDED,
    IP=IP(source="10.0.1.5", destination="10.0.2.7", ipVersion=IPVersion.IPv4),
    l4=Layer4(TCP=TCP(source_port=43210, destination_port=5432, flags=TCPFlags(SYN=True))),
    source=WEB,
    destination=DB,
    Type=FlowType.L3_L4,
    node_name="prod-eu/node-1.example.com",
    event_type=CiliumEventType(type=5, sub_type=0),
    traffic_direction=TrafficDirection.EGRESS,
    is_reply=False,
)
HTTP_FLOW = Flow(
    uuid="5f1b2c3d-0000-4000-8000-000000000002",
    verdict=Verdict.FORWARDED,
    IP=IP(source="10.0.2.7", destination="10.0.1.5", ipVersion=IPVersion.IPv4),
    l4=Layer4(TCP=TCP(source_port=8080, destination_port=43210)),
    source=DB,
    destination=WEB,
    Type=FlowType.L7,
    node_name="node-2",
    l7=Layer7(
        type=L7FlowType.RESPONSE,
        http=HTTP(
            code=404,
            method="GET",
            url="http://api.shop.svc:8080/v1/items/42?expand=true",
            protocol="HTTP/1.1",
            headers=(HTTPHeader("X-Team", "shop"), HTTPHeader("Accept", "*/*")),
        ),
    ),
    event_type=CiliumEventType(type=129),
    traffic_direction=TrafficDirection.INGRESS,
    is_reply=True,
)
DNS_FLOW = Flow(
    verdict=Verdict.FORWARDED,
    IP=IP(source="10.0.1.5", destination="10.96.0.10", ipVersion=IPVersion.IPv4),
    l4=Layer4(UDP=UDP(source_port=53000, destination_port=53)),
    source=WEB,
    destination=WORLD,
    destination_names=("api.github.com",),
    Type=FlowType.L7,
    node_name="node-1",
    l7=Layer7(type=L7FlowType.REQUEST, dns=DNS(query="api.github.com.", qtypes=("A",))),
    event_type=CiliumEventType(type=129),
    traffic_direction=TrafficDirection.EGRESS,
    is_reply=False,
)
DROP_FLOW = Flow(
    verdict=Verdict.DROPPED,
    drop_reason_desc=DropReason.POLICY_DENIED,
    IP=IP(source="fd00::1", destination="fd00::2", ipVersion=IPVersion.IPv6, encrypted=True),
    l4=Layer4(ICMPv4=ICMPv4(type=8)),
    source=WORLD,
    destination=DB,
    node_name="node-1",
    event_type=CiliumEventType(type=1, sub_type=133),
    traffic_direction=TrafficDirection.INGRESS,
)
NO_IP_FLOW = Flow(verdict=Verdict.FORWARDED, node_name="")

FLOWS = {
    "tcp": TCP_FLOW,
    "http": HTTP_FLOW,
    "dns": DNS_FLOW,
    "drop": DROP_FLOW,
    "noip": NO_IP_FLOW,
}


def _case(
    flow: str, expected: bool, **fields: Any
) -> tuple[str, FlowFilter, Flow, bool]:  # (id, filter, flow, expected)
    name = ",".join(f"{k}={v}" for k, v in fields.items())
    return (f"{flow}:{name}:{expected}", FlowFilter(**fields), FLOWS[flow], expected)


# One or more positive and negative cases per FlowFilter field.
FIELD_CASES = [
    # IPs: exact strings or CIDRs; an absent IP never matches
    _case("tcp", True, source_ip=("10.0.1.5",)),
    _case("tcp", False, source_ip=("10.0.2.7",)),
    _case("tcp", True, source_ip=("10.9.9.9", "10.0.0.0/16")),
    _case("tcp", True, destination_ip=("10.0.2.0/24",)),
    _case("tcp", False, destination_ip=("10.0.3.0/24",)),
    _case("tcp", True, destination_ip=("10.0.2.1/24",)),  # host bits set: still a prefix
    _case("tcp", False, source_ip=("::/0",)),  # IPv6 prefix, IPv4 address
    _case("drop", True, source_ip=("fd00::/8",)),
    _case("noip", False, source_ip=("0.0.0.0/0",)),
    # pods: [namespace/]prefix, bare name = default namespace
    _case("tcp", True, source_pod=("shop/",)),
    _case("tcp", True, source_pod=("shop/web",)),
    _case("tcp", True, source_pod=("shop/web-7d9f8-abcde",)),
    _case("tcp", False, source_pod=("shop/db",)),
    _case("tcp", False, source_pod=("web",)),  # namespace default
    _case("tcp", True, source_pod=("/web",)),  # any namespace
    _case("tcp", True, destination_pod=("data/db-",)),
    _case("tcp", False, destination_pod=("shop/",)),
    _case("drop", False, source_pod=("/",)),  # no namespace and no pod name: never
    _case("drop", True, destination_pod=("/",)),
    # verdict, drop reason (only on DROPPED), traffic direction, event type
    _case("tcp", True, verdict=(Verdict.FORWARDED,)),
    _case("tcp", False, verdict=(Verdict.DROPPED, Verdict.AUDIT)),
    _case("drop", True, verdict=(Verdict.DROPPED, Verdict.AUDIT)),
    _case("drop", True, drop_reason_desc=(DropReason.POLICY_DENIED,)),
    _case("drop", False, drop_reason_desc=(DropReason.POLICY_DENY,)),
    _case("tcp", False, drop_reason_desc=(DropReason.DROP_REASON_UNKNOWN,)),
    _case("tcp", True, traffic_direction=(TrafficDirection.EGRESS,)),
    _case("http", False, traffic_direction=(TrafficDirection.EGRESS,)),
    _case("tcp", True, event_type=(EventTypeFilter(type=5),)),
    _case("tcp", False, event_type=(EventTypeFilter(type=4),)),
    _case("tcp", True, event_type=(EventTypeFilter(type=0),)),  # type 0: any event
    _case("noip", False, event_type=(EventTypeFilter(type=0),)),  # ... but there must be one
    _case("drop", True, event_type=(EventTypeFilter(1, True, 133),)),
    _case("drop", False, event_type=(EventTypeFilter(1, True, 181),)),
    _case("drop", True, event_type=(EventTypeFilter(1, False, 181),)),  # sub_type unchecked
    # FQDNs: * patterns against source_names / destination_names
    _case("dns", True, destination_fqdn=("api.github.com",)),
    _case("dns", True, destination_fqdn=("*.github.com",)),
    _case("dns", True, destination_fqdn=("API.GitHub.com.",)),  # pattern is lower-cased
    _case("dns", False, destination_fqdn=("*.gitlab.com",)),
    _case("dns", False, source_fqdn=("*",)),  # no source names
    _case("dns", True, destination_fqdn=("*",)),
    _case("dns", False, destination_fqdn=("github.com",)),
    # http status code: full code or prefix with +
    _case("http", True, http_status_code=("404",)),
    _case("http", True, http_status_code=("4+",)),
    _case("http", True, http_status_code=("40+",)),
    _case("http", False, http_status_code=("41+", "5+", "200")),
    _case("tcp", False, http_status_code=("4+",)),
    # labels (more in LABEL_CASES)
    _case("tcp", True, source_label=("k8s:app=web",)),
    _case("tcp", False, source_label=("k8s:app=db",)),
    _case("tcp", True, destination_label=("app=db",)),
    _case("drop", True, source_label=("reserved:world",)),
    # protocol: L4 by header, L7 by record, case-insensitive
    _case("tcp", True, protocol=("TCP",)),
    _case("tcp", False, protocol=("udp", "icmp")),
    _case("dns", True, protocol=("udp",)),
    _case("dns", True, protocol=("dns",)),
    _case("dns", False, protocol=("http",)),
    _case("http", True, protocol=("http",)),
    _case("drop", True, protocol=("icmp",)),
    _case("drop", True, protocol=("ICMPv4",)),
    _case("drop", False, protocol=("icmpv6",)),
    # ports: decimal strings, TCP/UDP/SCTP only
    _case("tcp", True, source_port=("43210",)),
    _case("tcp", True, destination_port=("5432", "5433")),
    _case("tcp", False, destination_port=("80",)),
    _case("tcp", True, destination_port=("05432",)),  # leading zeros parse (Go ParseUint)
    _case("dns", True, destination_port=("53",)),
    _case("drop", False, destination_port=("0",)),  # ICMP has no ports
    # reply: is_reply; unknown counts as false only on DROPPED flows
    _case("tcp", True, reply=(False,)),
    _case("tcp", False, reply=(True,)),
    _case("http", True, reply=(True,)),
    _case("drop", True, reply=(False,)),
    _case("noip", False, reply=(False,)),
    _case("noip", False, reply=(True, False)),
    # identities
    _case("tcp", True, source_identity=(12345,)),
    _case("tcp", False, source_identity=(23456,)),
    _case("tcp", True, destination_identity=(1, 23456)),
    _case("drop", True, source_identity=(16777217,)),
    # DNS query: regular expression, searched
    _case("dns", True, dns_query=(r"github\.com\.$",)),
    _case("dns", True, dns_query=("git",)),
    _case("dns", False, dns_query=("^github",)),
    _case("http", False, dns_query=(".*",)),  # not a DNS record
    # HTTP method (case-insensitive), path (regex on the decoded path), URL, header
    _case("http", True, http_method=("get",)),
    _case("http", False, http_method=("POST",)),
    _case("http", True, http_path=(r"^/v1/items/\d+$",)),
    _case("http", False, http_path=("expand",)),  # the query is not part of the path
    _case("http", True, http_url=("expand=true",)),
    _case("http", True, http_url=(r"^http://api\.shop",)),
    _case("http", False, http_url=("^/v1",)),
    _case("http", True, http_header=(HTTPHeader("X-Team", "shop"),)),
    _case("http", False, http_header=(HTTPHeader("x-team", "shop"),)),  # key is exact
    _case("http", False, http_header=(HTTPHeader("X-Team", "data"),)),
    # TCP flags: an entry matches when all its flags are set; entries OR
    _case("tcp", True, tcp_flags=(TCPFlags(SYN=True),)),
    _case("tcp", False, tcp_flags=(TCPFlags(SYN=True, ACK=True),)),
    _case("tcp", True, tcp_flags=(TCPFlags(FIN=True), TCPFlags(SYN=True))),
    _case("tcp", True, tcp_flags=(TCPFlags(),)),  # no flag asked: any TCP flow with flags
    _case("http", False, tcp_flags=(TCPFlags(),)),  # TCP without a flags object
    _case("dns", False, tcp_flags=(TCPFlags(),)),
    # node name (more in NODE_CASES)
    _case("tcp", True, node_name=("prod-eu/node-1.example.com",)),
    _case("tcp", True, node_name=("node-1.*",)),
    _case("tcp", False, node_name=("default/node-1.*",)),
    _case("noip", False, node_name=("*",)),  # empty node name never matches
    # IP version, encryption, translated source
    _case("tcp", True, ip_version=(IPVersion.IPv4,)),
    _case("tcp", False, ip_version=(IPVersion.IPv6,)),
    _case("noip", True, ip_version=(IPVersion.IP_NOT_USED,)),
    _case("drop", True, encrypted=(True,)),
    _case("tcp", True, encrypted=(False,)),
    _case("noip", True, encrypted=(False,)),
    _case("tcp", False, source_ip_xlated=("10.0.1.5",)),
    # workloads: empty name or kind is a wildcard
    _case("tcp", True, source_workload=(Workload(name="web", kind="Deployment"),)),
    _case("tcp", True, source_workload=(Workload(name="web"),)),
    _case("tcp", True, source_workload=(Workload(kind="Deployment"),)),
    _case("tcp", True, source_workload=(Workload(),)),
    _case("tcp", False, source_workload=(Workload(name="web", kind="StatefulSet"),)),
    _case("drop", False, source_workload=(Workload(),)),  # no workloads
    _case("tcp", True, destination_workload=(Workload(kind="StatefulSet"),)),
    # uuid, cluster names (exact, not patterns)
    _case("tcp", True, uuid=("5f1b2c3d-0000-4000-8000-000000000001",)),
    _case("tcp", False, uuid=("5f1b2c3d-0000-4000-8000-000000000002",)),
    _case("tcp", True, source_cluster_name=("prod-eu",)),
    _case("tcp", False, source_cluster_name=("prod-*",)),
    _case("tcp", True, destination_cluster_name=("prod-eu", "prod-us")),
    _case("drop", False, source_cluster_name=("prod-eu",)),
]


@pytest.mark.parametrize(
    ("flow_filter", "flow", "expected"),
    [case[1:] for case in FIELD_CASES],
    ids=[case[0] for case in FIELD_CASES],
)
def test_field(flow_filter: FlowFilter, flow: Flow, expected: bool) -> None:
    assert flow_filter.match(flow) is expected
    # the same filter as a one-element whitelist, and as a blacklist
    assert matches(flow, [flow_filter]) is expected
    assert matches(flow, [], [flow_filter]) is not expected


def test_every_supported_field_has_cases() -> None:
    covered = {name for _, ff, _, _ in FIELD_CASES for name in ff.set_fields()}
    unsupported = {
        "source_service",
        "destination_service",
        "node_labels",
        "trace_id",
        "interface",
        "ip_trace_id",
    }
    netwarden = {"staged_denied", "staged_allowed"}  # extension: tests/flows/test_staged_flows.py
    all_fields = set(FlowFilter.__dataclass_fields__)
    assert all_fields - unsupported - netwarden - covered == set()
    for name in ("verdict", "source_pod", "http_status_code", "protocol"):
        results = {expected for _, ff, _, expected in FIELD_CASES if name in ff.set_fields()}
        assert results == {True, False}, name


# --- combining ----------------------------------------------------------------------------------


def test_empty_filter_and_empty_lists_match_everything() -> None:
    for flow in FLOWS.values():
        assert FlowFilter().match(flow)
        assert matches(flow)
        assert matches(flow, [FlowFilter()])
        assert not matches(flow, [], [FlowFilter()])  # an empty blacklist filter drops all


def test_fields_and_together_values_or_together() -> None:
    both = FlowFilter(source_pod=("shop/",), verdict=(Verdict.FORWARDED,))
    assert both.match(TCP_FLOW)
    assert not replace(both, verdict=(Verdict.DROPPED,)).match(TCP_FLOW)
    assert not replace(both, source_pod=("data/",)).match(TCP_FLOW)
    assert replace(both, source_pod=("data/", "shop/")).match(TCP_FLOW)
    # the source side and the destination side of one filter must both hold
    assert FlowFilter(source_pod=("shop/",), destination_pod=("data/",)).match(TCP_FLOW)
    assert not FlowFilter(source_pod=("shop/",), destination_pod=("shop/",)).match(TCP_FLOW)


def test_whitelist_any_blacklist_none() -> None:
    shop_out = FlowFilter(source_pod=("shop/",))
    to_world = FlowFilter(destination_label=("reserved:world",))
    dropped = FlowFilter(verdict=(Verdict.DROPPED,))
    flows = list(FLOWS.values())
    assert list(filter_flows(flows, [shop_out])) == [TCP_FLOW, DNS_FLOW]
    assert list(filter_flows(flows, [shop_out, dropped])) == [TCP_FLOW, DNS_FLOW, DROP_FLOW]
    assert list(filter_flows(flows, [shop_out], [to_world])) == [TCP_FLOW]
    assert list(filter_flows(flows, [], [dropped, to_world])) == [TCP_FLOW, HTTP_FLOW, NO_IP_FLOW]
    assert list(filter_flows(flows, [dropped], [dropped])) == []
    assert ObserveFilters((shop_out,), (to_world,)).match(TCP_FLOW)
    assert not ObserveFilters((shop_out,), (to_world,)).match(DNS_FLOW)


def test_filters_are_validated_before_the_first_flow() -> None:
    def flows() -> Any:
        raise AssertionError("read a flow")
        yield  # pragma: no cover

    with pytest.raises(FilterError):
        filter_flows(flows(), [FlowFilter(source_port=("http",))])


def test_filter_values_are_tuples() -> None:
    assert FlowFilter(source_pod=["a/"]).source_pod == ("a/",)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        FlowFilter(source_pod="a/")  # type: ignore[arg-type]
    assert hash(FlowFilter(source_pod=("a/",))) == hash(FlowFilter(source_pod=("a/",)))


# --- pods and namespaces -------------------------------------------------------------------------

NAMESPACED_CASES = [
    # (filter value, flow namespace, flow pod, expected)
    ("shop/", "shop", "web-1", True),
    ("shop/", "shop", "", True),  # an endpoint with a namespace but no pod
    ("shop/", "shopping", "web-1", False),  # namespaces compare exactly
    ("shop/web", "shop", "web-1", True),
    ("shop/web", "shop", "webhook", True),  # plain string prefix
    ("shop/web-1", "shop", "web", False),
    ("web", "default", "web-1", True),  # no namespace: default
    ("web", "shop", "web-1", False),
    ("/web", "shop", "web-1", True),  # empty namespace: any
    ("/web", "", "web-1", True),
    ("/", "shop", "x", True),  # -A: anything with a namespace or a pod
    ("/", "", "", False),
    ("shop/web/extra", "shop", "web-1", True),  # parts after the second "/" are ignored
]


@pytest.mark.parametrize(("value", "namespace", "pod", "expected"), NAMESPACED_CASES)
def test_namespaced_name(value: str, namespace: str, pod: str, expected: bool) -> None:
    assert namespaced_name_matcher([value])(namespace, pod) is expected
    flow = replace(TCP_FLOW, source=FlowEndpoint(namespace=namespace, pod_name=pod))
    assert FlowFilter(source_pod=(value,)).match(flow) is expected


def test_empty_pod_name_is_rejected() -> None:
    with pytest.raises(FilterError, match="must not be empty"):
        FlowFilter(source_pod=("",)).compile()


# --- label selectors -----------------------------------------------------------------------------

LABELS = (
    "k8s:app=web",
    "k8s:io.kubernetes.pod.namespace=shop",
    "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop",
    "k8s:replicas=3",
    "container:tier=frontend",
    "reserved:world",
    "cidr:10.1.2.0/24",
    "cidr:2001-db8--/32",
)

LABEL_CASES = [
    ("k8s:app=web", True),
    ("k8s:app==web", True),
    ("app=web", True),  # no source: any
    ("any:app=web", True),
    ("container:app=web", False),  # the source must agree
    ("unspec:app=web", True),  # Cilium reads an "unspec" selector source as "any"
    ("k8s:app=db", False),
    ("k8s:app!=db", True),
    ("k8s:app!=web", False),
    ("k8s:missing!=x", True),  # != holds when the label is absent
    ("app in (web, api)", True),
    ("k8s:app in (db,api)", False),
    ("app notin (db)", True),
    ("app notin (web,db)", False),
    ("k8s:missing notin (x)", True),
    ("app", True),  # exists
    ("k8s:app", True),
    ("container:app", False),
    ("!k8s:app", False),
    ("!container:app", True),
    ("!missing", True),
    ("reserved:world", True),
    ("reserved:host", False),
    ("!reserved:world", False),
    ("k8s:io.kubernetes.pod.namespace=shop", True),
    ("k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop", True),
    ("tier=frontend", True),  # any source: container:tier
    ("k8s:tier=frontend", False),
    ("app=web,tier=frontend", True),  # comma: AND
    ("app=web, tier=backend", False),
    ("app in (web,api),!reserved:host", True),
    ("replicas>2", True),
    ("replicas>3", False),
    ("replicas<4", True),
    ("app>2", False),  # not a number: false
    ("missing<4", False),
    ("cidr:10.0.0.0/8", True),  # cidr labels match broader selector prefixes
    ("cidr:10.1.2.0/24", True),
    ("cidr:10.1.2.0/25", False),  # narrower than the label
    ("cidr:11.0.0.0/8", False),
    ("cidr:2001-db8-0-0-0-0-0-0/16", True),  # IPv6 cidr labels use - for :
    ("", True),  # the empty selector selects everything
]


@pytest.mark.parametrize(("selector", "expected"), LABEL_CASES)
def test_label_selector(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected
    flow = replace(TCP_FLOW, destination=FlowEndpoint(labels=LABELS))
    assert FlowFilter(destination_label=(selector,)).match(flow) is expected


def test_label_selectors_in_one_field_or_together() -> None:
    flow = replace(TCP_FLOW, source=FlowEndpoint(labels=LABELS))
    assert FlowFilter(source_label=("app=db", "reserved:world")).match(flow)
    assert not FlowFilter(source_label=("app=db", "reserved:host")).match(flow)


def test_label_lookup_takes_the_first_label_with_the_key() -> None:
    # Cilium's label array is ordered by key; an "any" lookup sees the first match only.
    labels = ("k8s:app=web", "container:app=postgres")
    assert parse_label_selector("app=web").matches(labels)
    assert not parse_label_selector("app=postgres").matches(labels)
    assert parse_label_selector("container:app=postgres").matches(labels)


@pytest.mark.parametrize(
    "selector",
    [
        "app=",  # an empty value is allowed
        "app in ()",
        "app in (,web)",
        "app in (web,)",
        "k8s:app in (notin)",
    ],
)
def test_label_selector_accepts_kubernetes_edge_syntax(selector: str) -> None:
    parse_label_selector(selector)


@pytest.mark.parametrize(
    "selector",
    [
        "app=web=x",
        "app in web",
        "app in (web",
        "app=web,",
        "app=-web",  # values start and end with an alphanumeric
        "app>x",
        "app>-1",  # not a valid label value either
        "!app=web",
        "app web",
        "k8s:bad key=x",
        "a/b/c=x",
        "UPPER.case/x=y",  # the key prefix is a DNS subdomain
        "app=" + "x" * 64,
        "   ",
        "=web",
        "cidr:2001-db8--/16",  # "db8--" is not a DNS label: write the zeros out
    ],
)
def test_invalid_label_selectors(selector: str) -> None:
    with pytest.raises(FilterError, match="invalid label selector"):
        parse_label_selector(selector)
    with pytest.raises(FilterError):
        FlowFilter(source_label=(selector,)).compile()


@given(st.text(alphabet="ak8s:=!,() in<>/.-x3 notin", max_size=30))
def test_label_selector_parser_fails_only_with_filter_errors(text: str) -> None:
    try:
        selector = parse_label_selector(text)
    except FilterError:
        return
    selector.matches(LABELS)


# --- node names -------------------------------------------------------------------------------

NODE_CASES = [
    # (pattern, node name on the flow, expected); bare names are in cluster "default"
    ("node-1", "node-1", True),
    ("node-1", "prod/node-1", True),  # no cluster in the pattern: any cluster
    ("default/node-1", "node-1", True),
    ("default/node-1", "prod/node-1", False),
    ("prod/node-1", "node-1", False),
    ("prod/*", "prod/node-1", True),
    ("prod/", "prod/node-1", True),  # empty part: any name
    ("/node-1", "prod/node-1", True),
    ("prod-*/*", "prod-eu/node-1", True),
    ("*", "kind-kind/kind-worker", True),
    ("kind-*", "kind-kind/kind-worker", True),
    ("kind-*", "kind-control-plane", True),
    ("kind-kind/*", "kind-control-plane", False),
    ("*.example.com", "node-1.example.com", True),
    ("*.example.com", "node-1.example.org", False),
    ("node", "node-1", False),  # whole-name match
    ("node-*", "node-1.example.com", True),  # * spans dots
    ("NODE-1", "node-1", True),  # the pattern is lower-cased ...
    ("node-1", "NODE-1", False),  # ... the node name is not
    ("node-1.", "node-1", True),  # one trailing dot is dropped
]


@pytest.mark.parametrize(("pattern", "node", "expected"), NODE_CASES)
def test_node_name(pattern: str, node: str, expected: bool) -> None:
    flow = replace(TCP_FLOW, node_name=node)
    assert FlowFilter(node_name=(pattern,)).match(flow) is expected


@pytest.mark.parametrize("pattern", ["", "a/b/c", "node_1?", "node..", " ", "a/ "])
def test_invalid_node_name_patterns(pattern: str) -> None:
    with pytest.raises(FilterError):
        FlowFilter(node_name=(pattern,)).compile()


# --- HTTP status codes -------------------------------------------------------------------------

STATUS_CASES = [
    # (filter values, response code, expected)
    (("200",), 200, True),
    (("200",), 201, False),
    (("2+",), 204, True),
    (("20+",), 204, True),
    (("21+",), 204, False),
    (("4+", "5+"), 503, True),
    (("4+", "5+"), 302, False),
    (("1+",), 101, True),
    (("2+",), 0, False),  # no code: a request, not a response
]


@pytest.mark.parametrize(("values", "code", "expected"), STATUS_CASES)
def test_http_status(values: tuple[str, ...], code: int, expected: bool) -> None:
    flow = replace(HTTP_FLOW, l7=Layer7(type=L7FlowType.RESPONSE, http=HTTP(code=code)))
    assert FlowFilter(http_status_code=values).match(flow) is expected


@pytest.mark.parametrize("value", ["600", "6+", "099", "2", "20", "2++", "+", "200+", "4xx", ""])
def test_invalid_http_status(value: str) -> None:
    with pytest.raises(FilterError, match="status code"):
        FlowFilter(http_status_code=(value,)).compile()


# --- what Hubble rejects, what the model cannot answer yet ------------------------------------

INVALID = [
    FlowFilter(source_ip=("10.0.0.256",)),
    FlowFilter(destination_ip=("10.0.0.0/33",)),
    FlowFilter(source_ip=("10.0.0.0/255.0.0.0",)),
    FlowFilter(source_ip=("example.com",)),
    FlowFilter(source_pod=("",)),
    FlowFilter(source_port=("65536",)),
    FlowFilter(destination_port=("-1",)),
    FlowFilter(destination_port=("+80",)),
    FlowFilter(destination_port=("http",)),
    FlowFilter(protocol=("quic",)),
    FlowFilter(source_fqdn=("",)),
    FlowFilter(source_fqdn=("a..",)),
    FlowFilter(destination_fqdn=("exa mple.com",)),
    FlowFilter(dns_query=("(",)),
    FlowFilter(http_path=("[",)),
    FlowFilter(http_url=("*",)),
    FlowFilter(source_cluster_name=("",)),
    # HTTP fields need an event_type filter that allows L7 (129) events
    FlowFilter(http_method=("GET",), event_type=(EventTypeFilter(type=4),)),
    FlowFilter(http_status_code=("200",), event_type=(EventTypeFilter(type=1),)),
]


@pytest.mark.parametrize("flow_filter", INVALID, ids=[str(f.to_json()) for f in INVALID])
def test_filters_hubble_rejects(flow_filter: FlowFilter) -> None:
    with pytest.raises(FilterError):
        flow_filter.compile()


def test_http_with_an_l7_event_type_is_fine() -> None:
    ff = FlowFilter(
        http_method=("GET",), event_type=(EventTypeFilter(type=4), EventTypeFilter(type=129))
    )
    assert ff.match(HTTP_FLOW)


@pytest.mark.parametrize(
    "flow_filter",
    [
        FlowFilter(source_service=("shop/api",)),
        FlowFilter(destination_service=("api",)),
        FlowFilter(node_labels=("kubernetes.io/os=linux",)),
        FlowFilter(trace_id=("4bf92f3577b34da6a3ce929d0e0e4736",)),
        FlowFilter(interface=(NetworkInterface(name="eth0"),)),
        FlowFilter(ip_trace_id=(7,)),
    ],
)
def test_fields_the_model_does_not_decode_are_refused(flow_filter: FlowFilter) -> None:
    with pytest.raises(UnsupportedFilterError, match="does not decode"):
        flow_filter.compile()


# --- request URI paths (Go net/url.ParseRequestURI) --------------------------------------------

URI_CASES = [
    ("http://api:8080/v1/items?x=1", "/v1/items"),
    ("https://user:pw@api.example.com/a%20b", "/a b"),
    ("/healthz", "/healthz"),
    ("/a?", "/a"),
    ("/a#frag", "/a#frag"),  # no fragment splitting for request URIs
    ("http://api", ""),
    ("http:opaque", ""),
    ("*", "*"),
    ("relative/path", None),
    ("", None),
    (":8080/x", None),
    ("/bad%zzescape", None),
    ("http://api:port/x", None),
    ("http://[::1]:8080/x", "/x"),
    ("http://[::1/x", None),
    ("http://a b/x", None),
    ("/with\ncontrol", None),
]


@pytest.mark.parametrize(("url", "path"), URI_CASES)
def test_request_uri_path(url: str, path: str | None) -> None:
    assert request_uri_path(url) == path


@given(st.text(max_size=40))
def test_request_uri_path_never_raises(url: str) -> None:
    request_uri_path(url)


# --- hubble observe flags ------------------------------------------------------------------------


def _raw(options: list[Any], **kwargs: Any) -> dict[str, list[str]]:
    """Like ``hubble observe --print-raw-filters``: each filter as compact JSON."""
    built = observe_filters(options, **kwargs)
    return {
        "allowlist": [json.dumps(f.to_json(), separators=(",", ":")) for f in built.whitelist],
        "denylist": [json.dumps(f.to_json(), separators=(",", ":")) for f in built.blacklist],
    }


def test_documented_raw_filters() -> None:
    # both examples are from Cilium's exporter documentation (--print-raw-filters)
    assert _raw([("--verdict", "DROPPED"), ("--verdict", "ERROR")]) == {
        "allowlist": ['{"verdict":["DROPPED","ERROR"]}'],
        "denylist": [],
    }
    assert _raw(["--not", ("--namespace", "kube-system")]) == {
        "allowlist": [],
        "denylist": ['{"source_pod":["kube-system/"]}', '{"destination_pod":["kube-system/"]}'],
    }


OBSERVE_CASES: list[tuple[list[Any], list[dict[str, Any]]]] = [
    ([], []),
    # either-side flags: a source filter OR a destination filter
    ([("pod", "web")], [{"source_pod": ["web"]}, {"destination_pod": ["web"]}]),
    ([("ip", "10.0.0.1")], [{"source_ip": ["10.0.0.1"]}, {"destination_ip": ["10.0.0.1"]}]),
    ([("l", "app=web")], [{"source_label": ["app=web"]}, {"destination_label": ["app=web"]}]),
    ([("port", "53")], [{"source_port": ["53"]}, {"destination_port": ["53"]}]),
    (
        [("identity", "world"), ("identity", "0x10")],
        [{"source_identity": [2, 16]}, {"destination_identity": [2, 16]}],
    ),
    (
        [("workload", "Deployment/web"), ("workload", "db"), ("workload", "Job/")],
        [
            {
                "source_workload": [
                    {"name": "web", "kind": "Deployment"},
                    {"name": "db"},
                    {"kind": "Job"},
                ]
            },
            {
                "destination_workload": [
                    {"name": "web", "kind": "Deployment"},
                    {"name": "db"},
                    {"kind": "Job"},
                ]
            },
        ],
    ),
    (
        [("cluster", "prod")],
        [{"source_cluster_name": ["prod"]}, {"destination_cluster_name": ["prod"]}],
    ),
    # other flags are copied into both halves
    (
        [("pod", "web"), ("verdict", "DROPPED")],
        [
            {"source_pod": ["web"], "verdict": ["DROPPED"]},
            {"destination_pod": ["web"], "verdict": ["DROPPED"]},
        ],
    ),
    # from-/to- forms set one side in both halves, which then collapse into one filter
    (
        [("from-pod", "shop/web"), ("to-pod", "data/db")],
        [{"source_pod": ["shop/web"], "destination_pod": ["data/db"]}],
    ),
    # namespaces become pod prefixes, or prefix the names that have none
    ([("namespace", "shop")], [{"source_pod": ["shop/"]}, {"destination_pod": ["shop/"]}]),
    ([("n", "a"), ("n", "b")], [{"source_pod": ["a/", "b/"]}, {"destination_pod": ["a/", "b/"]}]),
    (
        [("n", "shop"), ("pod", "web")],
        [{"source_pod": ["shop/web"]}, {"destination_pod": ["shop/web"]}],
    ),
    (["-A"], [{"source_pod": ["/"]}, {"destination_pod": ["/"]}]),
    (
        [("from-namespace", "shop"), ("to-namespace", "data")],
        [{"source_pod": ["shop/"], "destination_pod": ["data/"]}],
    ),
    (["from-all-namespaces"], [{"source_pod": ["/"]}]),
    (
        [("n", "shop"), ("from-label", "app=web")],
        [
            {"source_pod": ["shop/"], "source_label": ["app=web"]},
            {"destination_pod": ["shop/"], "source_label": ["app=web"]},
        ],
    ),
    # value parsing
    ([("type", "trace:to-endpoint")], [{"event_type": [{"type": 4, "match_sub_type": True}]}]),
    ([("t", "drop"), ("t", "l7")], [{"event_type": [{"type": 1}, {"type": 129}]}]),
    ([("type", "policy-verdict")], [{"event_type": [{"type": 5}]}]),
    ([("type", "4:3")], [{"event_type": [{"type": 4, "match_sub_type": True, "sub_type": 3}]}]),
    (
        [("tcp-flags", "syn,ack"), ("tcp-flags", "FIN")],
        [{"tcp_flags": [{"SYN": True, "ACK": True}, {"FIN": True}]}],
    ),
    ([("traffic-direction", "Ingress")], [{"traffic_direction": ["INGRESS"]}]),
    (
        ["-4", ("ip-version", "v6"), ("ip-version", "bogus")],
        [{"ip_version": ["IPv4", "IPv6", "IP_NOT_USED"]}],
    ),
    ([("http-header", "X-Team:shop:x")], [{"http_header": [{"key": "X-Team", "value": "shop:x"}]}]),
    ([("drop-reason-desc", "POLICY_DENIED")], [{"drop_reason_desc": ["POLICY_DENIED"]}]),
    (["encrypted"], [{"encrypted": [True]}]),
    (
        [("http-status", "5+"), ("http-method", "get")],
        [{"http_status_code": ["5+"], "http_method": ["get"]}],
    ),
]


@pytest.mark.parametrize(("options", "whitelist"), OBSERVE_CASES)
def test_observe_whitelist(options: list[Any], whitelist: list[dict[str, Any]]) -> None:
    built = observe_filters(options)
    assert [f.to_json() for f in built.whitelist] == whitelist
    assert built.blacklist == ()


def test_not_moves_only_the_next_flag_to_the_blacklist() -> None:
    built = observe_filters([("n", "shop"), "not", ("verdict", "DROPPED"), ("protocol", "tcp")])
    assert [f.to_json() for f in built.whitelist] == [
        {"source_pod": ["shop/"], "protocol": ["tcp"]},
        {"destination_pod": ["shop/"], "protocol": ["tcp"]},
    ]
    assert [f.to_json() for f in built.blacklist] == [{"verdict": ["DROPPED"]}]


def test_several_not_flags_share_one_blacklist_filter() -> None:
    # As in the CLI: every --not'ed flag goes to the same blacklist builder, so
    # `--not --verdict DROPPED --not --protocol udp` excludes DROPPED *and* UDP flows only.
    built = observe_filters(["not", ("verdict", "DROPPED"), "not", ("protocol", "udp")])
    assert [f.to_json() for f in built.blacklist] == [{"verdict": ["DROPPED"], "protocol": ["udp"]}]
    built = observe_filters(["not", ("n", "kube-system"), "not", ("verdict", "DROPPED")])
    assert [f.to_json() for f in built.blacklist] == [
        {"source_pod": ["kube-system/"], "verdict": ["DROPPED"]},
        {"destination_pod": ["kube-system/"], "verdict": ["DROPPED"]},
    ]


def test_allowlist_and_denylist_are_appended() -> None:
    extra = FlowFilter(verdict=(Verdict.AUDIT,))
    built = observe_filters([("from-pod", "shop/")], allowlist=[extra], denylist=[extra])
    assert built.whitelist == (FlowFilter(source_pod=("shop/",)), extra)
    assert built.blacklist == (extra,)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([("ip", "1.1.1.1"), ("from-ip", "2.2.2.2")], "--from-ip and --ip cannot be combined"),
        ([("from-pod", "a"), ("n", "shop")], "--from-pod and --namespace cannot be combined"),
        ([("label", "a=b"), ("to-label", "c=d")], "--label and --to-label cannot be combined"),
        ([("port", "1"), ("from-port", "2")], "cannot be combined"),
        (["encrypted", "unencrypted"], "--encrypted and --unencrypted cannot be combined"),
        ([("fqdn", "a.com"), ("pod", "x")], "cannot be combined"),
        ([("n", "shop"), ("pod", "data/db")], "namespace conflict"),
        ([("from-service", "a/x"), ("from-pod", "b/y")], "namespace of service"),
        (["not", "not", ("pod", "x")], "consecutive --not"),
        ([("pod", "x"), "not"], "trailing --not"),
        ([("verdict", "dropped")], "invalid --verdict value"),
        ([("drop-reason-desc", "")], "invalid --drop-reason-desc"),
        ([("tcp-flags", "syn,,ack")], "unknown tcp flag"),
        ([("traffic-direction", "both")], "invalid traffic direction"),
        ([("identity", "nobody")], "invalid security identity"),
        ([("identity", "010x")], "invalid security identity"),
        ([("type", "4:to-endpoint")], "sub-type"),  # sub-type names need a type name
        ([("type", "bogus")], "unable to parse type"),
        ([("http-header", "no-colon")], "expected name:value"),
        ([("bogus-flag", "x")], "unknown hubble observe filter flag"),
        ([("pod", "")], "must not be empty"),  # the server's check, made up front
        ([("to-port", "http")], "invalid port"),
    ],
)
def test_observe_errors(options: list[Any], message: str) -> None:
    with pytest.raises(FilterError, match=message):
        observe_filters(options)


def test_observe_refuses_what_the_model_cannot_answer() -> None:
    with pytest.raises(UnsupportedFilterError):
        observe_filters([("service", "shop/api")])
    with pytest.raises(UnsupportedFilterError):
        observe_filters([("cel-expression", "_flow.verdict == 2")])


def test_not_either_side_blacklist_excludes_both_directions() -> None:
    built = observe_filters(["not", ("pod", "shop/web")])
    assert not built.match(TCP_FLOW)  # from shop/web
    assert not built.match(HTTP_FLOW)  # to shop/web
    assert built.match(DROP_FLOW)


# --- JSON form -----------------------------------------------------------------------------------


def test_json_round_trip() -> None:
    ff = FlowFilter(
        source_pod=("shop/",),
        verdict=(Verdict.DROPPED, Verdict.AUDIT),
        event_type=(EventTypeFilter(type=4, match_sub_type=True, sub_type=0),),
        reply=(False,),
        source_identity=(2,),
        tcp_flags=(TCPFlags(SYN=True),),
        source_workload=(Workload(kind="Deployment"),),
        http_header=(HTTPHeader("a", "b"),),
        ip_version=(IPVersion.IPv6,),
        drop_reason_desc=(DropReason.POLICY_DENY,),
        interface=(NetworkInterface(index=2),),
        ip_trace_id=(2**64 - 1,),
    )
    data = ff.to_json()
    assert data["verdict"] == ["DROPPED", "AUDIT"]
    assert data["event_type"] == [{"type": 4, "match_sub_type": True}]
    assert data["ip_trace_id"] == ["18446744073709551615"]
    assert FlowFilter.from_json(json.loads(json.dumps(data))) == ff


def test_json_accepts_camel_case_and_enum_numbers() -> None:
    ff = FlowFilter.from_json(
        {
            "sourcePod": ["shop/"],
            "verdict": [2, "AUDIT"],
            "eventType": [{"type": 1, "matchSubType": True, "subType": 133}],
            "destinationIdentity": ["16777217"],
            "trafficDirection": ["INGRESS"],
            "experimental": {},
        }
    )
    assert ff == FlowFilter(
        source_pod=("shop/",),
        verdict=(Verdict.DROPPED, Verdict.AUDIT),
        event_type=(EventTypeFilter(1, True, 133),),
        destination_identity=(16777217,),
        traffic_direction=(TrafficDirection.INGRESS,),
    )


@pytest.mark.parametrize(
    "data",
    [
        {"source_pods": ["x"]},
        {"verdict": ["NOPE"]},
        {"verdict": [99]},
        {"verdict": "DROPPED"},
        {"source_identity": [-1]},
        {"source_identity": [2**32]},
        {"reply": ["true"]},
        {"source_pod": [1]},
        {"event_type": [{"type": "4"}]},
        {"event_type": [{"kind": 4}]},
        {"source_workload": ["web"]},
    ],
)
def test_invalid_json_filters(data: dict[str, Any]) -> None:
    with pytest.raises(FilterError):
        FlowFilter.from_json(data)


def test_json_cel_expression_is_unsupported() -> None:
    with pytest.raises(UnsupportedFilterError):
        FlowFilter.from_json({"experimental": {"cel_expression": ["true"]}})


# --- the real samples ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_flows() -> list[Flow]:
    flows: list[Flow] = []
    for path in sorted(hubble_dir().glob("*.jsonl")):
        result = decode_path(path)
        assert result.errors == []
        flows.extend(result.flows)
    assert len(flows) == 440  # 2 + 10 + 18 + 400 + 5 + 5 lines (samples README)
    return flows


# `hubble observe` options -> number of the 440 sample flows they return. Each count was
# checked against the raw JSON lines (jq-style scripts, independent of this module):
SAMPLE_CASES: list[tuple[list[Any], int]] = [
    ([], 440),
    # kube-system: 12 flows from it + 11 to it (DNS sample 5+5, HTTP sample 2+2, the
    # 10-flow sample's event-exporter 1+1, ...) minus 5 with both ends there (DNS sample)
    ([("n", "kube-system")], 18),
    (["not", ("n", "kube-system")], 422),  # 440 - 18
    ([("from-namespace", "kube-system")], 12),
    ([("to-namespace", "kube-system")], 11),
    ([("from-namespace", "kube-system"), ("to-namespace", "kube-system")], 5),  # DNS sample
    # productpage in the 400-flow TCP sample: 168 from, 151 to, 0 to itself
    ([("from-pod", "bookinfo/productpage")], 168),
    ([("to-pod", "bookinfo/productpage")], 151),
    ([("pod", "bookinfo/productpage")], 319),
    ([("n", "bookinfo"), ("pod", "productpage")], 319),
    ([("from-pod", "bookinfo/productpage"), ("to-pod", "bookinfo/reviews")], 56),
    ([("pod", "productpage")], 0),  # namespace "default": none in the samples
    # labels: 47 more than the pod filter, the productpage flows without pod names
    ([("label", "k8s:app=productpage")], 366),
    ([("from-label", "app in (reviews, ratings)")], 136),
    ([("from-label", "k8s:version")], 375),
    ([("to-label", "reserved:world")], 18),
    ([("to-label", "reserved:host")], 36),
    ([("to-identity", "host")], 36),
    ([("identity", "health")], 19),  # ICMP sample 18 + the 10-flow sample 1
    # the README's 27 policy-verdict events in the TCP sample, all REDIRECTED egress
    ([("type", "policy-verdict")], 27),
    ([("type", "policy-verdict"), ("verdict", "REDIRECTED")], 27),
    ([("type", "policy-verdict"), ("traffic-direction", "ingress")], 0),
    ([("verdict", "REDIRECTED")], 27),
    ([("type", "trace")], 336),  # 308 + 10 + 18
    ([("type", "trace:to-endpoint")], 129),
    ([("type", "l7")], 75),  # 65 + 5 + 5
    ([("protocol", "http")], 70),  # HTTP sample 5 + all 65 L7 events of the TCP sample
    ([("http-status", "2+")], 32),  # 200 responses, all in the TCP sample
    ([("protocol", "dns")], 5),
    ([("protocol", "icmp")], 19),  # ICMP sample 18 + the docs' ICMPv6 drop
    ([("protocol", "icmpv6")], 1),
    ([("http-status", "5+")], 2),  # the HTTP sample's two 503 responses
    ([("http-status", "503"), ("http-method", "GET")], 2),
    ([("http-path", "^/metrics$")], 5),
    ([("to-port", "9080")], 255),
    ([("to-port", "9080"), ("traffic-direction", "ingress")], 39),
    ([("tcp-flags", "syn")], 112),
    ([("tcp-flags", "syn,ack")], 40),
    ([("ip", "10.244.0.0/16")], 419),
    ([("from-ip", "10.244.0.0/16")], 418),
    (["-6"], 1),
    ([("verdict", "DROPPED")], 2),
    ([("drop-reason-desc", "POLICY_DENIED")], 1),
    # node names: bare names are in cluster "default"; the docs sample is kind-kind/
    ([("node-name", "kind-*")], 420),
    ([("node-name", "kind-kind/*")], 2),
    ([("node-name", "default/kind-*")], 418),
    ([("node-name", "gke-*")], 20),
]


@pytest.mark.parametrize(
    ("options", "expected"), SAMPLE_CASES, ids=[str(o) for o, _ in SAMPLE_CASES]
)
def test_sample_counts(sample_flows: list[Flow], options: list[Any], expected: int) -> None:
    assert len(list(observe_filters(options).filter(sample_flows))) == expected


def test_sample_dns_query_and_reply(sample_flows: list[Flow]) -> None:
    # DNS sample: queries 1 and 3 end in istio-system.svc.cluster.local. (request +
    # response for 1, request only for 3); 2 responses are replies
    query = FlowFilter(dns_query=(r"\.istio-system\.svc\.cluster\.local\.$",))
    assert len(list(filter_flows(sample_flows, [query]))) == 3
    replies = FlowFilter(protocol=("dns",), reply=(True,))
    assert len(list(filter_flows(sample_flows, [replies]))) == 2
    # is_reply: 140 true, 231 false, 69 absent of which 2 DROPPED (count as false)
    assert len(list(filter_flows(sample_flows, [FlowFilter(reply=(True,))]))) == 140
    assert len(list(filter_flows(sample_flows, [FlowFilter(reply=(False,))]))) == 233


EITHER_SIDE_VALUES = [
    ("pod", "bookinfo/reviews"),
    ("pod", "/kube-dns"),
    ("label", "k8s:app=prometheus"),
    ("identity", "world"),
    ("ip", "10.156.0.0/16"),
    ("port", "53"),
]


@pytest.mark.parametrize(("flag", "value"), EITHER_SIDE_VALUES)
def test_either_side_is_from_or_to_and_not_is_the_complement(
    sample_flows: list[Flow], flag: str, value: str
) -> None:
    either = set(map(id, observe_filters([(flag, value)]).filter(sample_flows)))
    source = set(map(id, observe_filters([(f"from-{flag}", value)]).filter(sample_flows)))
    destination = set(map(id, observe_filters([(f"to-{flag}", value)]).filter(sample_flows)))
    assert either == source | destination
    assert either  # each value occurs in the samples
    negated = set(map(id, observe_filters(["not", (flag, value)]).filter(sample_flows)))
    assert negated == set(map(id, sample_flows)) - either
