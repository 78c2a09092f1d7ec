"""Cluster-scoped admin policies -> normalized rules.

- policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy (admin tier) and
  BaselineAdminNetworkPolicy (baseline tier);
- policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy (tier Admin or Baseline).

See docs/semantics/admin.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from netwarden.model.diagnostics import Diagnostic, Severity
from netwarden.model.endpoint import EndpointKind
from netwarden.model.ports import PortSpec, Protocol
from netwarden.model.rule import (
    Action,
    AnyPeer,
    CIDRPeer,
    Direction,
    EndpointSelector,
    FQDNPeer,
    NormalizedPolicy,
    Peer,
    PolicyRef,
    Rule,
    SelectorPeer,
    Tier,
)
from netwarden.sources.common import (
    is_port_name,
    parse_cidr,
    parse_label_selector,
    parse_port_number,
    parse_protocol,
)
from netwarden.sources.yamldoc import Cursor

ANP = "AdminNetworkPolicy"
BANP = "BaselineAdminNetworkPolicy"
CLUSTER_NP = "ClusterNetworkPolicy"
_PODS = frozenset({EndpointKind.POD})
_HOSTS = frozenset({EndpointKind.HOST})
_MAX_PRIORITY = 1000


@dataclass(frozen=True)
class _Flavor:
    kind: str
    actions: dict[str, Action]
    max_rules: int
    v2_ports: bool


_FLAVORS = {
    ANP: _Flavor(
        ANP, {"Allow": Action.ALLOW, "Deny": Action.DENY, "Pass": Action.PASS}, 100, False
    ),
    BANP: _Flavor(BANP, {"Allow": Action.ALLOW, "Deny": Action.DENY}, 100, False),
    CLUSTER_NP: _Flavor(
        CLUSTER_NP, {"Accept": Action.ALLOW, "Deny": Action.DENY, "Pass": Action.PASS}, 25, True
    ),
}


def parse_admin_policy(root: Cursor, cluster: str) -> NormalizedPolicy | None:
    kind = root.get("kind").string() or ANP
    flavor = _FLAVORS[kind]
    meta = root.get("metadata")
    name = meta.get("name").string()
    if not name:
        meta.get("name").error("metadata.name is required")
        return None
    spec = root.get("spec")
    if not spec.is_map("the policy spec"):
        if not spec.present:
            spec.error("spec is required")
        return None
    if kind == BANP and name != "default":
        root.diagnostics.append(
            Diagnostic(
                "banp-name",
                Severity.WARNING,
                "a BaselineAdminNetworkPolicy must be named 'default'; the API server "
                "rejects this object, so it is ignored",
                meta.get("name").location,
            )
        )
        return None
    spec_fields = {"subject", "ingress", "egress"} | ({"priority"} if kind != BANP else set())
    _check_fields(spec, spec_fields | ({"tier"} if kind == CLUSTER_NP else set()))
    tier, priority = _tier_and_priority(spec, kind)
    if tier is None:
        return None
    ref = PolicyRef(kind, name, None, cluster)
    subject = _parse_subject(spec.get("subject"), cluster)
    if subject is None:
        return None
    rules: list[Rule] = []
    for direction, key in ((Direction.INGRESS, "ingress"), (Direction.EGRESS, "egress")):
        items = list(spec.get(key).items())
        if len(items) > flavor.max_rules:
            spec.get(key).error(f"at most {flavor.max_rules} {key} rules are allowed")
        for index, rule_cur in enumerate(items):
            rule = _parse_rule(rule_cur, flavor, ref, tier, priority, direction, subject, index)
            if rule is not None:
                rules.append(rule)
    return NormalizedPolicy(ref, tuple(rules), (), root.location, root.value)


def _check_fields(cur: Cursor, allowed: set[str]) -> None:
    for key in cur.keys():
        if key not in allowed:
            cur.get(key).error(f"unknown field {key!r}", "unknown-field")


def _tier_and_priority(spec: Cursor, kind: str) -> tuple[Tier | None, int]:
    if kind == BANP:
        return Tier.BASELINE, 0
    tier = Tier.ADMIN
    if kind == CLUSTER_NP:
        text = spec.get("tier").string()
        if text not in ("Admin", "Baseline"):
            spec.get("tier").error(f"tier must be Admin or Baseline, got {text!r}")
            return None, 0
        tier = Tier.ADMIN if text == "Admin" else Tier.BASELINE
    prio_cur = spec.get("priority")
    priority = prio_cur.integer()
    if priority is None:
        if not prio_cur.present:
            prio_cur.error("priority is required")
        return None, 0
    if not 0 <= priority <= _MAX_PRIORITY:
        prio_cur.error(f"priority {priority} is out of range 0-{_MAX_PRIORITY}")
        return None, 0
    return tier, priority


def _parse_subject(cur: Cursor, cluster: str) -> EndpointSelector | None:
    if not cur.is_map("a subject"):
        if not cur.present:
            cur.error("subject is required")
        return None
    keys = cur.keys()
    if len(keys) != 1 or keys[0] not in ("namespaces", "pods"):
        cur.error("subject needs exactly one of namespaces or pods")
        return None
    if keys[0] == "namespaces":
        ns_sel = parse_label_selector(cur.get("namespaces"))
        return EndpointSelector(_PODS, cluster, None, None, ns_sel)
    pods = cur.get("pods")
    if pods.is_map("a pods selector"):
        _check_fields(pods, {"namespaceSelector", "podSelector"})
    return EndpointSelector(
        _PODS,
        cluster,
        None,
        parse_label_selector(pods.get("podSelector")),
        parse_label_selector(pods.get("namespaceSelector")),
    )


def _parse_rule(
    cur: Cursor,
    flavor: _Flavor,
    ref: PolicyRef,
    tier: Tier,
    priority: int,
    direction: Direction,
    subject: EndpointSelector,
    index: int,
) -> Rule | None:
    if not cur.is_map("a rule"):
        return None
    peer_key = "from" if direction is Direction.INGRESS else "to"
    ports_key = "protocols" if flavor.v2_ports else "ports"
    _check_fields(cur, {"name", "action", peer_key, ports_key})
    action_text = cur.get("action").string()
    action = flavor.actions.get(action_text or "")
    if action is None:
        cur.get("action").error(
            f"action must be one of {', '.join(flavor.actions)}, got {action_text!r}"
        )
        return None
    peer_items = list(cur.get(peer_key).items())
    if not peer_items:
        cur.get(peer_key).error(f"{peer_key} needs at least one peer")
        return None
    peers: list[Peer] = []
    for peer_cur in peer_items:
        peers.extend(_parse_peer(peer_cur, direction, action, ref.cluster))
    ports: list[PortSpec] = []
    for port_cur in cur.get(ports_key).items():
        ports.extend(_parse_v2_port(port_cur) if flavor.v2_ports else _parse_v1_port(port_cur))
    if cur.get(ports_key).value == []:
        # +kubebuilder:validation:MinItems=1: omit the field to match every port.
        cur.get(ports_key).error(f"{ports_key} needs at least one entry (omit it for all ports)")
        return None
    if cur.get(ports_key).present and not ports:
        return None
    if any(p.name is not None for p in ports) and any(
        peer_cur.has(k) for peer_cur in peer_items for k in ("networks", "nodes", "domainNames")
    ):
        cur.get(ports_key).error(
            "named ports cannot be used with networks, nodes or domainNames peers "
            "(those have no named ports)"
        )
        return None
    return Rule(
        policy=ref,
        tier=tier,
        direction=direction,
        action=action,
        subject=subject,
        peers=tuple(peers),
        ports=tuple(ports) if ports else (PortSpec(Protocol.ANY),),
        priority=priority,
        index=index,
        name=cur.get("name").string(),
        location=cur.location,
    )


def _parse_peer(cur: Cursor, direction: Direction, action: Action, cluster: str) -> list[Peer]:
    if not cur.is_map("a peer"):
        return []
    keys = cur.keys()
    if not keys:
        # Fail closed: an Allow matches nothing, a Deny/Pass matches everything.
        return [] if action is Action.ALLOW else [AnyPeer()]
    allowed = {"namespaces", "pods"}
    if direction is Direction.EGRESS:
        allowed |= {"nodes", "networks", "domainNames"}
    out: list[Peer] = []
    for key in keys:
        sub = cur.get(key)
        if key not in allowed:
            sub.error(f"unknown {direction.value} peer type {key!r}", "unknown-field")
        elif key == "namespaces":
            ns_sel = parse_label_selector(sub)
            out.append(SelectorPeer(EndpointSelector(_PODS, cluster, None, None, ns_sel)))
        elif key == "pods":
            if sub.is_map("a pods selector"):
                _check_fields(sub, {"namespaceSelector", "podSelector"})
            pod_sel = parse_label_selector(sub.get("podSelector"))
            ns_sel = parse_label_selector(sub.get("namespaceSelector"))
            out.append(SelectorPeer(EndpointSelector(_PODS, cluster, None, pod_sel, ns_sel)))
        elif key == "nodes":
            node_sel = parse_label_selector(sub)
            out.append(SelectorPeer(EndpointSelector(_HOSTS, cluster, None, node=node_sel)))
        elif key == "networks":
            for net_cur in sub.items():
                net = parse_cidr(net_cur)
                if net is not None:
                    out.append(CIDRPeer(net, (), matches_cluster_endpoints=True))
        else:
            if action is not Action.ALLOW:
                sub.error("domainNames is only allowed in Allow/Accept rules")
                continue
            for name_cur in sub.items():
                text = (name_cur.string() or "").lower().rstrip(".")
                if text.startswith("*."):
                    # One or more labels, like Cilium's "**." prefix.
                    out.append(FQDNPeer(match_pattern="**." + text[2:]))
                elif text:
                    out.append(FQDNPeer(match_name=text))
    if len(keys) > 1:
        cur.error("a peer needs exactly one of " + ", ".join(sorted(allowed)))
        return []
    return out


def _parse_v1_port(cur: Cursor) -> list[PortSpec]:
    if not cur.is_map("a port"):
        return []
    keys = cur.keys()
    if len(keys) != 1:
        cur.error("a port needs exactly one of portNumber, namedPort or portRange")
        return []
    key = keys[0]
    sub = cur.get(key)
    if key == "portNumber":
        proto = parse_protocol(sub.get("protocol"), Protocol.TCP, allow_any=False)
        port = parse_port_number(sub.get("port"))
        if port is None:
            if not sub.get("port").present:
                sub.get("port").error("port is required")
            return []
        return [PortSpec(proto, port, port)]
    if key == "namedPort":
        name = sub.string() or ""
        if not is_port_name(name):
            sub.error(f"{name!r} is not a valid port name")
            return []
        return [PortSpec(Protocol.ANY, name=name)]
    if key == "portRange":
        proto = parse_protocol(sub.get("protocol"), Protocol.TCP, allow_any=False)
        start, end = parse_port_number(sub.get("start")), parse_port_number(sub.get("end"))
        if start is None or end is None:
            return []
        if end < start:
            sub.get("end").error(f"end {end} is smaller than start {start}")
            return []
        return [PortSpec(proto, start, end)]
    sub.error(f"unknown port type {key!r}", "unknown-field")
    return []


def _parse_v2_port(cur: Cursor) -> list[PortSpec]:
    if not cur.is_map("a protocol entry"):
        return []
    keys = cur.keys()
    if len(keys) != 1:
        cur.error("a protocols entry needs exactly one of tcp, udp, sctp or destinationNamedPort")
        return []
    key = keys[0]
    sub = cur.get(key)
    if key == "destinationNamedPort":
        name = sub.string() or ""
        if not is_port_name(name):
            sub.error(f"{name!r} is not a valid port name")
            return []
        return [PortSpec(Protocol.ANY, name=name)]
    protos = {"tcp": Protocol.TCP, "udp": Protocol.UDP, "sctp": Protocol.SCTP}
    if key not in protos:
        sub.error(f"unknown protocol {key!r}", "unknown-field")
        return []
    proto = protos[key]
    dport = sub.get("destinationPort")
    if not dport.present:
        return [PortSpec(proto)]
    if dport.has("number"):
        number = parse_port_number(dport.get("number"))
        return [] if number is None else [PortSpec(proto, number, number)]
    rng = dport.get("range")
    start, end = parse_port_number(rng.get("start")), parse_port_number(rng.get("end"))
    if start is None or end is None:
        dport.error("destinationPort needs number or range{start, end}")
        return []
    if not start < end:
        rng.error(f"range start {start} must be smaller than end {end}")
        return []
    return [PortSpec(proto, start, end)]
