"""Flows the flow-store tests share: the Hubble samples, replicas of them, a policy drop."""

from __future__ import annotations

from dataclasses import replace

from netwarden.flows import decode_path
from netwarden.flows.store import NANOS_PER_DAY
from netwarden.model.flow import (
    IP,
    TCP,
    DropReason,
    Flow,
    FlowEndpoint,
    IPVersion,
    Layer4,
    Policy,
    TCPFlags,
    TrafficDirection,
    Verdict,
    Workload,
)
from tests.flows.samples import EXPECTED, hubble_dir

DAY = NANOS_PER_DAY
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z


def sample_flows() -> list[Flow]:
    flows: list[Flow] = []
    for name in sorted(EXPECTED):
        result = decode_path(hubble_dir() / name)
        assert result.ok
        flows += result.flows
    return flows


def replicate(flows: list[Flow], count: int, prefix: str, start: int = T0) -> list[Flow]:
    """``count`` distinct flows (uuid ``prefix-i``) cycling through ``flows``, 1 ms apart."""
    return [
        replace(flows[i % len(flows)], uuid=f"{prefix}-{i}", time=start + i * 1_000_000)
        for i in range(count)
    ]


POLICY_FLOW = Flow(
    time=T0,
    uuid="c0ffee00-0000-4000-8000-000000000001",
    verdict=Verdict.DROPPED,
    drop_reason_desc=DropReason.POLICY_DENY,
    IP=IP(source="10.0.1.5", destination="10.0.2.7", ipVersion=IPVersion.IPv4),
    l4=Layer4(TCP=TCP(source_port=43210, destination_port=5432, flags=TCPFlags(SYN=True))),
    source=FlowEndpoint(
        identity=12345,
        cluster_name="prod-eu",
        namespace="shop",
        labels=("k8s:app=web",),
        pod_name="web-7d9f8-abcde",
        workloads=(Workload("web", "Deployment"),),
    ),
    destination=FlowEndpoint(
        identity=23456,
        cluster_name="prod-eu",
        namespace="data",
        pod_name="db-0",
        workloads=(Workload("db", "StatefulSet"),),
    ),
    node_name="prod-eu/node-1",
    traffic_direction=TrafficDirection.INGRESS,
    is_reply=False,
    ingress_denied_by=(Policy(name="deny-web", namespace="data", kind="CiliumNetworkPolicy"),),
    Summary="TCP Flags: SYN",
)

SAMPLES = sample_flows()
