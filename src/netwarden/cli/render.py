"""Text and JSON renderings of engine results."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum

from netwarden.engine.verdict import DirectionVerdict, Verdict
from netwarden.flows.endpoints import EndpointInfo
from netwarden.flows.enrich import Decision, EnrichedFlow
from netwarden.flows.flowencode import flow_to_json, format_time
from netwarden.model.diagnostics import Diagnostic, Severity
from netwarden.model.endpoint import RESERVED_IDENTITIES
from netwarden.model.flow import DropReason, Flow, FlowEndpoint
from netwarden.model.flow import Verdict as FlowVerdict


def direction_summary(dv: DirectionVerdict) -> str:
    word = "allow" if dv.allowed else "deny"
    tier = dv.tier.value if dv.tier else "default"
    text = f"{word} ({tier}: {dv.reason.value})"
    if dv.rules:
        names = sorted({str(r.policy) for r in dv.rules})
        text += " by " + ", ".join(names)
    return text


def verdict_record(
    v: Verdict, probe_from: str, probe_to: str, extra: dict[str, object]
) -> dict[str, object]:
    record: dict[str, object] = {
        "from": probe_from,
        "to": probe_to,
        "port": v.port,
        "protocol": v.protocol.value,
        "verdict": "allow" if v.allowed else "deny",
    }
    record.update(extra)
    record["egress"] = v.egress.to_dict()
    record["ingress"] = v.ingress.to_dict()
    return record


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def dumps(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=False)


def diagnostics_text(diags: Sequence[Diagnostic]) -> str:
    return "\n".join(str(d) for d in diags)


def lint_table(findings: Sequence[Diagnostic]) -> str:
    """Lint findings as a table, then a one-line summary."""
    counts = {s: sum(1 for d in findings if d.severity is s) for s in Severity}
    summary = (
        f"{len(findings)} finding{'' if len(findings) == 1 else 's'}: "
        f"{counts[Severity.ERROR]} error, {counts[Severity.WARNING]} warning, "
        f"{counts[Severity.INFO]} info"
    )
    if not findings:
        return "no findings"
    rows = []
    for d in findings:
        rows.append([str(d.location), d.severity.value, d.code, d.subject, d.message])
    return table(["LOCATION", "SEVERITY", "CODE", "SUBJECT", "MESSAGE"], rows) + "\n" + summary


# ---- flows (netwarden flows) ------------------------------------------------


def stream_row(cells: Sequence[str]) -> str:
    """A table row without look-ahead (live flows): fixed minimum widths."""
    widths = (23, 34, 34, 10, 24, 40, 6)
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()


def _reserved(fe: FlowEndpoint) -> str:
    for label in fe.labels:
        if label.startswith("reserved:"):
            return label.removeprefix("reserved:")
    return ""


def flow_endpoint_name(fe: FlowEndpoint, ip: str, info: EndpointInfo | None = None) -> str:
    """namespace/pod when known (from the flow, else the inventory), else the IP (kind)."""
    if fe.pod_name:
        return f"{fe.namespace}/{fe.pod_name}" if fe.namespace else fe.pod_name
    if info is not None and info.pod:
        return f"{info.namespace}/{info.pod}"
    kind = _reserved(fe) or (info.kind if info is not None and info.kind != "unknown" else "")
    name = ip or "?"
    return f"{name} ({kind})" if kind and kind != "pod" else name


def _ports(flow: Flow) -> tuple[int, int, str]:
    l4 = flow.l4
    if l4 is None:
        return 0, 0, ""
    for proto in ("TCP", "UDP", "SCTP"):
        layer = getattr(l4, proto, None)
        if layer is not None:
            return layer.source_port, layer.destination_port, proto
    for proto in ("ICMPv4", "ICMPv6", "VRRP", "IGMP"):
        if getattr(l4, proto, None) is not None:
            return 0, 0, proto
    return 0, 0, l4.protocol


def flow_time(flow: Flow) -> str:
    return "" if flow.time is None else format_time(flow.time)[:23] + "Z"


def _verdict_text(flow: Flow) -> str:
    verdict = flow.verdict.name if isinstance(flow.verdict, Enum) else str(flow.verdict)
    reason = flow.drop_reason_desc
    if verdict == "DROPPED" and reason not in (DropReason.DROP_REASON_UNKNOWN, ""):
        verdict += f" ({reason.name if isinstance(reason, Enum) else reason})"
    return verdict


def _direction_text(dv: DirectionVerdict) -> str:
    tier = dv.tier.value if dv.tier else "default"
    text = f"{dv.direction.value} {tier} {dv.reason.value}"
    if dv.rules:
        text += " by " + ", ".join(str(r) for r in dv.rules)
    return text


def attribution_text(enriched: EnrichedFlow, brief: bool = False) -> str:
    """Which tier/policy/rule decided the flow: the denying direction(s), or both allows.

    ``brief``: only the first denying direction (egress drops before ingress is reached).
    """
    if enriched.uncertain_reason is not None:
        return f"unknown: {enriched.uncertain_reason}"
    egress, ingress = enriched.egress, enriched.ingress
    if egress is None or ingress is None:
        return enriched.verdict.value
    if enriched.verdict is Decision.DENY:
        denying = [dv for dv in (egress, ingress) if not dv.allowed]
        denying = denying[:1] if brief else denying
        return "deny: " + "; ".join(_direction_text(dv) for dv in denying)
    return f"allow: {_direction_text(egress)}; {_direction_text(ingress)}"


def _agrees(enriched: EnrichedFlow) -> str:
    if enriched.agrees_with_hubble is None:
        return "-"
    return "yes" if enriched.agrees_with_hubble else "NO"


def flow_row(flow: Flow, enriched: EnrichedFlow | None, attributed: bool) -> list[str]:
    """TIME, SOURCE, DESTINATION, PORT, VERDICT (and POLICY, AGREES when attributed)."""
    ip = flow.IP
    src_info = enriched.source if enriched else None
    dst_info = enriched.destination if enriched else None
    src = flow_endpoint_name(flow.source, ip.source if ip else "", src_info)
    dst = flow_endpoint_name(flow.destination, ip.destination if ip else "", dst_info)
    _, dport, proto = _ports(flow)
    port = f"{dport}/{proto}" if dport else proto
    row = [flow_time(flow), src, dst, port, _verdict_text(flow)]
    if attributed:
        row += (
            [attribution_text(enriched, brief=True), _agrees(enriched)] if enriched else ["", "-"]
        )
    return row


def flow_record(flow: Flow, enriched: EnrichedFlow | None) -> dict[str, object]:
    """The flow as Hubble's GetFlowsResponse JSON, plus ``attribution`` when enriched."""
    record: dict[str, object] = {"flow": flow_to_json(flow)}
    if flow.node_name:
        record["node_name"] = flow.node_name
    if flow.time is not None:
        record["time"] = format_time(flow.time)
    if enriched is not None:
        data = enriched.to_dict()
        attribution = dict(data["attribution"])  # type: ignore[call-overload]
        attribution["summary"] = attribution_text(enriched)
        attribution["source"] = data["source"]
        attribution["destination"] = data["destination"]
        record["attribution"] = attribution
    return record


_RESERVED_IDS = {number: name for name, number in RESERVED_IDENTITIES.items()}


def _compact_endpoint(fe: FlowEndpoint, ip: str, port: int, info: EndpointInfo | None) -> str:
    if fe.pod_name:
        name = f"{fe.namespace}/{fe.pod_name}" if fe.namespace else fe.pod_name
    elif info is not None and info.pod:
        name = f"{info.namespace}/{info.pod}"
    else:
        name = ip or "?"
    if port:
        name += f":{port}"
    reserved = _reserved(fe) or _RESERVED_IDS.get(fe.identity, "")
    if reserved:
        return f"{name} ({reserved})"
    return f"{name} (ID:{fe.identity})" if fe.identity else name


def _event_text(flow: Flow) -> str:
    event = flow.event_type.type if flow.event_type else 0
    if flow.l7 is not None:
        l7 = flow.l7
        kind = "http" if l7.http else "dns" if l7.dns else "kafka" if l7.kafka else "l7"
        sub = l7.type.name.lower() if isinstance(l7.type, Enum) else str(l7.type).lower()
        return f"{kind}-{sub}"
    if event == 5:
        direction = flow.traffic_direction
        name = direction.name if isinstance(direction, Enum) else str(direction)
        return f"policy-verdict:{name}"
    verdict = flow.verdict
    if verdict is FlowVerdict.DROPPED or event == 1:
        reason = flow.drop_reason_desc
        text = reason.name if isinstance(reason, Enum) else str(reason)
        return text.lower().replace("_", "-")
    point = flow.trace_observation_point
    name = point.name if isinstance(point, Enum) else str(point)
    return name.lower().replace("_", "-")


def flow_compact(flow: Flow, enriched: EnrichedFlow | None) -> str:
    """One line like ``hubble observe -o compact``, plus the attribution when enriched."""
    ip = flow.IP
    sport, dport, _ = _ports(flow)
    src = _compact_endpoint(
        flow.source, ip.source if ip else "", sport, enriched.source if enriched else None
    )
    dst = _compact_endpoint(
        flow.destination,
        ip.destination if ip else "",
        dport,
        enriched.destination if enriched else None,
    )
    reply = flow.is_reply if flow.is_reply is not None else (True if flow.reply else None)
    if reply is None:
        arrow = f"{src} <> {dst}"
    elif reply:
        arrow = f"{dst} <- {src}"
    else:
        arrow = f"{src} -> {dst}"
    when = ""
    if flow.time is not None:
        moment = datetime.fromtimestamp(flow.time / 1e9, UTC)
        when = f"{moment:%b} {moment.day:2d} {moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"
    verdict = flow.verdict.name if isinstance(flow.verdict, Enum) else str(flow.verdict)
    line = f"{when}: {arrow} {_event_text(flow)} {verdict}"
    if flow.Summary:
        line += f" ({flow.Summary})"
    if enriched is not None:
        line += f" [{attribution_text(enriched, brief=True)}; agrees: {_agrees(enriched)}]"
    return line
