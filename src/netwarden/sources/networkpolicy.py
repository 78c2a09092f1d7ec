"""networking.k8s.io/v1 NetworkPolicy -> normalized rules.

Semantics follow the Kubernetes API reference and the e2e netpol suite; see
docs/semantics/networkpolicy.md.
"""

from __future__ import annotations

from netwarden.model.endpoint import EndpointKind
from netwarden.model.ports import ALL_PORTS, PortSpec, Protocol
from netwarden.model.rule import (
    Action,
    AnyPeer,
    CIDRPeer,
    Direction,
    EndpointSelector,
    Isolation,
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
    port_range,
)
from netwarden.sources.yamldoc import Cursor

KIND = "NetworkPolicy"
_PODS = frozenset({EndpointKind.POD})


def parse_network_policy(root: Cursor, cluster: str) -> NormalizedPolicy | None:
    meta = root.get("metadata")
    name = meta.get("name").string()
    namespace = meta.get("namespace").string() or "default"
    if not name:
        meta.get("name").error("metadata.name is required")
        return None
    spec = root.get("spec")
    if not spec.is_map("the policy spec"):
        if not spec.present:
            spec.error("spec is required")
        return None
    ref = PolicyRef(KIND, name, namespace, cluster)
    _check_fields(spec, {"podSelector", "policyTypes", "ingress", "egress"})
    if not spec.has("podSelector"):
        spec.get("podSelector").error("spec.podSelector is required (use {} to select all pods)")
    subject = EndpointSelector(
        _PODS, cluster, namespace, parse_label_selector(spec.get("podSelector"))
    )
    directions = _policy_types(spec)
    rules: list[Rule] = []
    isolations: list[Isolation] = []
    for direction in directions:
        isolations.append(Isolation(ref, direction, subject, spec.location))
        key = "ingress" if direction is Direction.INGRESS else "egress"
        for index, rule_cur in enumerate(spec.get(key).items()):
            rule = _parse_rule(rule_cur, ref, direction, subject, index, cluster, namespace)
            if rule is not None:
                rules.append(rule)
    for direction, key in ((Direction.INGRESS, "ingress"), (Direction.EGRESS, "egress")):
        if direction not in directions and spec.get(key).value:
            spec.get(key).warn(
                f"{key} rules are ignored: policyTypes does not include "
                f"{'Ingress' if key == 'ingress' else 'Egress'}",
                "ignored-rules",
            )
    return NormalizedPolicy(ref, tuple(rules), tuple(isolations), root.location, root.value)


def _check_fields(cur: Cursor, allowed: set[str]) -> None:
    for key in cur.keys():
        if key not in allowed:
            cur.get(key).error(f"unknown field {key!r}", "unknown-field")


def _policy_types(spec: Cursor) -> list[Direction]:
    types_cur = spec.get("policyTypes")
    if types_cur.value is None or types_cur.value == []:
        # Defaulting (pkg/apis/networking/v1/defaults.go): Ingress always,
        # Egress when the policy has at least one egress rule.
        out = [Direction.INGRESS]
        if isinstance(spec.get("egress").value, list) and spec.get("egress").value:
            out.append(Direction.EGRESS)
        return out
    out = []
    for item in types_cur.items():
        text = item.string()
        if text == "Ingress":
            out.append(Direction.INGRESS)
        elif text == "Egress":
            out.append(Direction.EGRESS)
        else:
            item.error(f"unknown policy type {text!r} (expected Ingress or Egress)")
    return sorted(set(out), key=lambda d: d.value != "ingress")


def _parse_rule(
    cur: Cursor,
    ref: PolicyRef,
    direction: Direction,
    subject: EndpointSelector,
    index: int,
    cluster: str,
    namespace: str,
) -> Rule | None:
    if cur.value is None:
        cur.value = {}
    if not cur.is_map("a rule"):
        return None
    peer_key = "from" if direction is Direction.INGRESS else "to"
    _check_fields(cur, {peer_key, "ports"})
    peers: list[Peer] = []
    for peer_cur in cur.get(peer_key).items():
        peer = _parse_peer(peer_cur, cluster, namespace)
        if peer is not None:
            peers.append(peer)
    had_peers = bool(cur.get(peer_key).value)
    if had_peers and not peers:
        return None  # every peer was invalid: already reported
    ports: list[PortSpec] = []
    for port_cur in cur.get("ports").items():
        port = _parse_port(port_cur)
        if port is not None:
            ports.append(port)
    if cur.get("ports").value and not ports:
        return None
    return Rule(
        policy=ref,
        tier=Tier.NAMESPACED,
        direction=direction,
        action=Action.ALLOW,
        subject=subject,
        peers=tuple(peers) if peers else (AnyPeer(),),
        ports=tuple(ports) if ports else (ALL_PORTS,),
        index=index,
        location=cur.location,
    )


def _parse_peer(cur: Cursor, cluster: str, namespace: str) -> Peer | None:
    if not cur.is_map("a peer"):
        if cur.value is None:
            cur.error("a peer must set podSelector, namespaceSelector or ipBlock")
        return None
    _check_fields(cur, {"podSelector", "namespaceSelector", "ipBlock"})
    has_pod, has_ns, has_ip = (cur.has(k) for k in ("podSelector", "namespaceSelector", "ipBlock"))
    if has_ip:
        if has_pod or has_ns:
            cur.error("ipBlock cannot be combined with podSelector or namespaceSelector")
            return None
        return _parse_ip_block(cur.get("ipBlock"))
    if not (has_pod or has_ns):
        cur.error("a peer must set podSelector, namespaceSelector or ipBlock")
        return None
    pod_sel = parse_label_selector(cur.get("podSelector")) if has_pod else None
    if has_ns:
        ns_sel = parse_label_selector(cur.get("namespaceSelector"))
        return SelectorPeer(EndpointSelector(_PODS, cluster, None, pod_sel, ns_sel))
    return SelectorPeer(EndpointSelector(_PODS, cluster, namespace, pod_sel))


def _parse_ip_block(cur: Cursor) -> Peer | None:
    if not cur.is_map("an ipBlock"):
        return None
    _check_fields(cur, {"cidr", "except"})
    if not cur.get("cidr").present:
        cur.get("cidr").error("ipBlock.cidr is required")
        return None
    network = parse_cidr(cur.get("cidr"))
    if network is None:
        return None
    excepts = []
    for ex_cur in cur.get("except").items():
        ex = parse_cidr(ex_cur)
        if ex is None:
            continue
        if ex.version != network.version or not ex.subnet_of(network):  # type: ignore[arg-type]
            ex_cur.error(f"except {ex} is not inside cidr {network}")
            continue
        if ex.prefixlen <= network.prefixlen:
            # API validation: each except must be a strict subset of cidr.
            ex_cur.error(f"except {ex} must be a strict subset of cidr {network}")
            continue
        excepts.append(ex)
    return CIDRPeer(network, tuple(excepts), matches_cluster_endpoints=True)


def _parse_port(cur: Cursor) -> PortSpec | None:
    if cur.value is None:
        cur.value = {}
    if not cur.is_map("a port"):
        return None
    _check_fields(cur, {"port", "protocol", "endPort"})
    protocol = parse_protocol(cur.get("protocol"), Protocol.TCP, allow_any=False)
    port_cur = cur.get("port")
    end_cur = cur.get("endPort")
    if isinstance(port_cur.value, str):
        # IntOrString: a string is always a port name; "80" is not a valid name
        # (it needs a letter), so the API server rejects a quoted number.
        name = port_cur.value
        if not is_port_name(name):
            hint = (
                " (write the number unquoted)"
                if name.strip().isascii() and name.strip().isdigit()
                else ""
            )
            port_cur.error(f"{name!r} is not a valid port name (IANA_SVC_NAME){hint}")
            return None
        if end_cur.present:
            end_cur.error("endPort cannot be used with a named port")
            return None
        return PortSpec(protocol, name=name)
    if not port_cur.present:
        if end_cur.present:
            end_cur.error("endPort requires port")
            return None
        return PortSpec(protocol)
    start = parse_port_number(port_cur)
    if start is None:
        return None
    end = parse_port_number(end_cur) if end_cur.present else None
    if end_cur.present and end is None:
        return None
    return port_range(protocol, start, end, end_cur)
