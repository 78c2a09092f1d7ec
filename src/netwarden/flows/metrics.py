"""Prometheus metrics modelled on Hubble's, for the flows Netwarden ingests.

Names, label names and label values follow Cilium's Hubble metric handlers
(``pkg/hubble/metrics/{flow,drop,policy}``, see ../shared/reference/hubble.md section 5),
so dashboards built for Hubble (e.g. Grafana 18015 "Cilium Policy Verdicts") work with a
``cluster`` matcher added. Every series also carries ``cluster`` and the endpoints'
namespaces (``source_namespace``, ``destination_namespace``: Hubble's ``labelsContext``
names), since Netwarden serves a fleet.

- ``hubble_flows_processed_total{protocol,type,subtype,verdict}``: every flow.
- ``hubble_drop_total{reason,protocol}``: DROPPED flows.
- ``hubble_policy_verdicts_total{direction,match,action}``: policy-verdict events (not
  from the host identity) and L7 events.
- ``netwarden_flows_ingested_total``, ``netwarden_flows_duplicate_total``,
  ``netwarden_flow_lines_rejected_total``, ``netwarden_live_lost_total``: the pipeline.
- ``netwarden_staged_verdicts_total{cluster,policy,outcome}``: flows a staged (not
  enforced) policy would deny / allow (``Flow.staged``), per staged policy.

Metrics live in their own :class:`CollectorRegistry` (one per server), without the
``_created`` series Hubble's Go exporter does not emit.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest

from netwarden.model.flow import (
    DROP_EVENT,
    POLICY_VERDICT_EVENT,
    Flow,
    TraceObservationPoint,
    enum_name,
)

disable_created_metrics()  # type: ignore[no-untyped-call]

CONTEXT = ("cluster", "source_namespace", "destination_namespace")
TRACE_EVENT = 4
CAPTURE_EVENTS = (3, 6)
L7_EVENT = 129
HOST_IDENTITY = 1
MATCH_NAMES = {0: "none", 1: "l3-only", 2: "l3-l4", 3: "l4-only", 4: "all", 5: "l3-proto"}
MATCH_NAMES[6] = "proto-only"
_L4_NAMES = ("TCP", "UDP", "ICMPv4", "ICMPv6", "SCTP", "VRRP", "IGMP")
_L7_LABELS = (("dns", "DNS"), ("http", "HTTP"), ("kafka", "Kafka"))


def flow_protocol(flow: Flow) -> str:
    """Hubble's ``FlowProtocol``: the L7 protocol for L7 events, the L4 one otherwise."""
    event = flow.event_type.type if flow.event_type is not None else 0
    l7 = flow.l7
    l4 = flow.l4
    l7_name = next(
        (label for name, label in _L7_LABELS if l7 is not None and getattr(l7, name) is not None),
        "",
    )
    l4_name = next((n for n in _L4_NAMES if l4 is not None and getattr(l4, n) is not None), "")
    return protocol_label(event, l7_name, l4_name)


def protocol_label(event: int, l7: str, l4: str) -> str:
    """``flow_protocol`` from the event type and the flow's first L7 ("DNS", "HTTP",
    "Kafka") and L4 ("TCP", ...) protocol present ("" for none)."""
    if event == L7_EVENT:
        return l7 or "Unknown L7"
    if event in (DROP_EVENT, TRACE_EVENT, POLICY_VERDICT_EVENT, *CAPTURE_EVENTS):
        return l4 or "Unknown L4"
    return "Unknown flow"


def flow_type(flow: Flow) -> tuple[str, str]:
    """Hubble's ``type`` and ``subtype`` labels of ``hubble_flows_processed_total``."""
    event = flow.event_type.type if flow.event_type is not None else 0
    return type_labels(event, flow_protocol(flow), flow.trace_observation_point)


def type_labels(event: int, protocol: str, point: TraceObservationPoint | str) -> tuple[str, str]:
    """``flow_type`` from the event type, ``flow_protocol`` and the trace observation
    point (an unknown point is kept as its text)."""
    if event == L7_EVENT:
        return "L7", protocol if protocol in ("DNS", "HTTP", "Kafka") else ""
    if event == DROP_EVENT:
        return "Drop", ""
    if event == POLICY_VERDICT_EVENT:
        return "PolicyVerdict", ""
    if event == TRACE_EVENT:
        if isinstance(point, TraceObservationPoint):
            return "Trace", point.name.lower().replace("_", "-")
        return "Trace", str(point)
    if event in CAPTURE_EVENTS:
        return "Capture", ""
    return "Unknown", str(event)


def _match(flow: Flow, event: int) -> str:
    if event == L7_EVENT:
        return f"l7/{flow_protocol(flow).lower()}"
    return MATCH_NAMES.get(flow.policy_match_type, "unknown")


class FlowMetrics:
    """The counters of one server, incremented per ingested batch."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.processed = Counter(
            "hubble_flows_processed_total",
            "Total number of flows processed",
            [*CONTEXT, "protocol", "type", "subtype", "verdict"],
            registry=r,
        )
        self.drops = Counter(
            "hubble_drop_total", "Number of drops", [*CONTEXT, "reason", "protocol"], registry=r
        )
        self.policy = Counter(
            "hubble_policy_verdicts_total",
            "Total number of Cilium network policy verdicts",
            [*CONTEXT, "direction", "match", "action"],
            registry=r,
        )
        self.ingested = Counter(
            "netwarden_flows_ingested_total", "Flows stored", ["cluster"], registry=r
        )
        self.duplicates = Counter(
            "netwarden_flows_duplicate_total",
            "Flows received again (already stored) and not counted twice",
            ["cluster"],
            registry=r,
        )
        self.rejected = Counter(
            "netwarden_flow_lines_rejected_total",
            "Lines of pushed flow batches that did not decode",
            ["cluster"],
            registry=r,
        )
        self.staged = Counter(
            "netwarden_staged_verdicts_total",
            "Flows a staged (not enforced) policy would deny or allow",
            ["cluster", "policy", "outcome"],
            registry=r,
        )
        self.live_lost = Counter(
            "netwarden_live_lost_total",
            "Flows dropped from slow live-tail subscribers' buffers",
            registry=r,
        )

    def observe(self, cluster: str, flows: Sequence[Flow]) -> None:
        """Count a stored batch (tallied first: one counter update per label set)."""
        processed: Tally[tuple[str, ...]] = Tally()
        drops: Tally[tuple[str, ...]] = Tally()
        policy: Tally[tuple[str, ...]] = Tally()
        staged: Tally[tuple[str, ...]] = Tally()
        for flow in flows:
            for mark in flow.staged:
                staged[(cluster, mark.policy, mark.outcome)] += 1
            context = (cluster, flow.source.namespace, flow.destination.namespace)
            protocol = flow_protocol(flow)
            verdict = enum_name(flow.verdict)
            processed[(*context, protocol, *flow_type(flow), verdict)] += 1
            if verdict == "DROPPED":
                drops[(*context, enum_name(flow.drop_reason_desc), protocol)] += 1
            event = flow.event_type.type if flow.event_type is not None else 0
            is_verdict = event == POLICY_VERDICT_EVENT and flow.source.identity != HOST_IDENTITY
            if is_verdict or event == L7_EVENT:
                direction = enum_name(flow.traffic_direction).lower()
                policy[(*context, direction, _match(flow, event), verdict.lower())] += 1
        for counter, tally in ((self.processed, processed), (self.drops, drops)):
            for labels, n in tally.items():
                counter.labels(*labels).inc(n)
        for labels, n in policy.items():
            self.policy.labels(*labels).inc(n)
        for labels, n in staged.items():
            self.staged.labels(*labels).inc(n)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
