"""cilium.io/v2 CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy -> normalized rules.

See docs/semantics/cilium.md for the reading of each field.
"""

from __future__ import annotations

from dataclasses import dataclass

from netwarden.model.endpoint import CLUSTER_LABEL, NAMESPACE_LABEL, EndpointKind
from netwarden.model.inventory import CiliumConfig
from netwarden.model.labels import LabelSelector, Operator, Requirement
from netwarden.model.ports import ALL_PORTS, MAX_PORT, PortSpec, Protocol
from netwarden.model.rule import (
    Action,
    AnyPeer,
    CIDRPeer,
    Direction,
    DNSRule,
    EndpointSelector,
    Entity,
    EntityPeer,
    FQDNPeer,
    HTTPRule,
    Isolation,
    KafkaRule,
    L7Rules,
    NormalizedPolicy,
    Peer,
    PolicyRef,
    Rule,
    SelectorPeer,
    Tier,
)
from netwarden.sources.common import is_port_name, parse_cidr, parse_label_selector
from netwarden.sources.yamldoc import Cursor, decimal_int

CNP = "CiliumNetworkPolicy"
CCNP = "CiliumClusterwideNetworkPolicy"
_ENTITIES = {e.value: e for e in Entity}
_RULE_FIELDS = {
    "endpointSelector",
    "nodeSelector",
    "ingress",
    "ingressDeny",
    "egress",
    "egressDeny",
    "labels",
    "description",
    "enableDefaultDeny",
    "log",
}
_INGRESS_PEER_FIELDS = {
    "fromEndpoints",
    "fromRequires",
    "fromCIDR",
    "fromCIDRSet",
    "fromEntities",
    "fromGroups",
    "fromNodes",
}
_EGRESS_PEER_FIELDS = {
    "toEndpoints",
    "toRequires",
    "toCIDR",
    "toCIDRSet",
    "toEntities",
    "toServices",
    "toFQDNs",
    "toGroups",
    "toNodes",
}
_COMMON_FIELDS = {"toPorts", "icmps", "authentication"}


@dataclass(frozen=True)
class _Context:
    ref: PolicyRef
    cluster: str
    namespace: str | None  # None for clusterwide policies
    config: CiliumConfig


def parse_cilium_policy(
    root: Cursor, cluster: str, config: CiliumConfig
) -> NormalizedPolicy | None:
    kind = root.get("kind").string() or CNP
    meta = root.get("metadata")
    name = meta.get("name").string()
    if not name:
        meta.get("name").error("metadata.name is required")
        return None
    namespace = None
    if kind == CNP:
        namespace = meta.get("namespace").string() or "default"
    ref = PolicyRef(kind, name, namespace, cluster)
    ctx = _Context(ref, cluster, namespace, config)
    specs: list[Cursor] = []
    if root.get("spec").present:
        specs.append(root.get("spec"))
    specs.extend(root.get("specs").items())
    if not specs:
        root.get("spec").error("spec or specs is required")
        return None
    rules: list[Rule] = []
    isolations: list[Isolation] = []
    offsets = {Direction.INGRESS: 0, Direction.EGRESS: 0}
    for spec in specs:
        if not spec.is_map("a policy rule"):
            continue
        _parse_spec(spec, ctx, rules, isolations, offsets)
    return NormalizedPolicy(ref, tuple(rules), tuple(isolations), root.location, root.value)


def _parse_spec(
    spec: Cursor,
    ctx: _Context,
    rules: list[Rule],
    isolations: list[Isolation],
    offsets: dict[Direction, int],
) -> None:
    for key in spec.keys():
        if key not in _RULE_FIELDS:
            spec.get(key).error(f"unknown field {key!r}", "unknown-field")
    subject = _subject(spec, ctx)
    if subject is None:
        return
    default_deny = spec.get("enableDefaultDeny")
    if default_deny.is_map("an object with ingress/egress flags"):
        for key in default_deny.keys():
            if key not in ("ingress", "egress"):
                default_deny.get(key).error(f"unknown field {key!r}", "unknown-field")
    for direction, allow_key, deny_key in (
        (Direction.INGRESS, "ingress", "ingressDeny"),
        (Direction.EGRESS, "egress", "egressDeny"),
    ):
        allow_cur, deny_cur = spec.get(allow_key), spec.get(deny_key)
        # rule_validation.go Sanitize: len(r.Ingress) > 0 || len(r.IngressDeny) > 0,
        # so an empty list ("ingress: []") does not enable default deny.
        has_rules = bool(allow_cur.value) or bool(deny_cur.value)
        enabled = default_deny.get(direction.value).boolean(True)
        if not ctx.config.non_default_deny_policies:
            enabled = True
        if has_rules and enabled:
            isolations.append(Isolation(ctx.ref, direction, subject, spec.location))
        for action, cur in ((Action.ALLOW, allow_cur), (Action.DENY, deny_cur)):
            for rule_cur in cur.items():
                index = offsets[direction]
                offsets[direction] += 1
                rules.extend(_parse_rule(rule_cur, ctx, subject, direction, action, index))


def _subject(spec: Cursor, ctx: _Context) -> EndpointSelector | None:
    has_ep, has_node = spec.has("endpointSelector"), spec.has("nodeSelector")
    if has_ep == has_node:
        spec.error("exactly one of endpointSelector or nodeSelector is required")
        return None
    if has_node:
        if ctx.namespace is not None:
            spec.get("nodeSelector").error(
                "nodeSelector is only allowed in a CiliumClusterwideNetworkPolicy"
            )
            return None
        sel = parse_label_selector(spec.get("nodeSelector"), "cilium")
        return EndpointSelector(frozenset({EndpointKind.HOST}), ctx.cluster, None, node=sel)
    sel = parse_label_selector(spec.get("endpointSelector"), "cilium")
    kinds = _selected_kinds(sel)
    if EndpointKind.HOST in kinds:
        return EndpointSelector(kinds, ctx.cluster, None, cilium=sel)
    if ctx.namespace is not None:
        sel = _override_namespace(spec.get("endpointSelector"), sel, ctx.namespace)
    return EndpointSelector(kinds, ctx.cluster, ctx.namespace, cilium=sel)


def _override_namespace(cur: Cursor, sel: LabelSelector, namespace: str) -> LabelSelector:
    """A CNP's endpointSelector gets matchLabels[namespace] = the policy's namespace
    (ParseToCiliumRule AddMatch), replacing a namespace written in matchLabels."""
    match_labels = cur.get("matchLabels").value
    if not isinstance(match_labels, dict):
        return sel
    for key, value in match_labels.items():
        if str(key).removeprefix("k8s:").removeprefix("any:") != NAMESPACE_LABEL:
            continue
        written = Requirement(NAMESPACE_LABEL, Operator.IN, frozenset({str(value)}))
        if str(value) != namespace:
            cur.get("matchLabels").get(str(key)).warn(
                f"a CiliumNetworkPolicy only selects endpoints of its own namespace "
                f"{namespace!r}: Cilium replaces this label",
                "namespace-overridden",
            )
        reqs = list(sel.requirements)
        if written in reqs:
            reqs.remove(written)
        return LabelSelector(tuple(reqs), sel.matches_nothing)
    return sel


def _selected_kinds(sel: LabelSelector) -> frozenset[EndpointKind]:
    for req in sel.requirements:
        if req.key.startswith("reserved:") and req.operator in (Operator.IN, Operator.EXISTS):
            kind = req.key.removeprefix("reserved:")
            for k in EndpointKind:
                if k.value == kind:
                    return frozenset({k})
    return frozenset({EndpointKind.POD})


def _parse_rule(
    cur: Cursor,
    ctx: _Context,
    subject: EndpointSelector,
    direction: Direction,
    action: Action,
    index: int,
) -> list[Rule]:
    if not cur.is_map("a rule"):
        return []
    peer_fields = _INGRESS_PEER_FIELDS if direction is Direction.INGRESS else _EGRESS_PEER_FIELDS
    for key in cur.keys():
        if key not in peer_fields | _COMMON_FIELDS:
            cur.get(key).error(
                f"unknown field {key!r} in a {direction.value} rule", "unknown-field"
            )
    peers, has_l3 = _parse_peers(cur, ctx, direction)
    port_rules = list(cur.get("toPorts").items())
    if cur.has("icmps"):
        cur.get("icmps").warn(
            "ICMP rules are not evaluated: the ICMP part of this rule allows nothing here",
            "unsupported",
        )
        if not port_rules:
            return []  # an ICMP-only rule: it must not open TCP/UDP/SCTP
    if not has_l3 and not port_rules:
        # An empty rule selects no peer: it only enables default deny.
        return []
    if not has_l3:
        peers = [AnyPeer()]
    elif not peers:
        return []
    out: list[Rule] = []
    if not port_rules:
        out.append(_rule(ctx, subject, direction, action, index, peers, [ALL_PORTS], None, cur))
    for pr in port_rules:
        if not pr.is_map("a port rule"):
            continue
        ports = _parse_ports(pr.get("ports"))
        if ports is None:
            continue
        l7 = _parse_l7(pr.get("rules"))
        if l7 is not None and action is Action.DENY:
            pr.get("rules").error("L7 rules are not allowed in deny rules")
            continue
        if l7 is not None and not _l7_ports_valid(pr, l7, ports, direction):
            continue
        out.append(_rule(ctx, subject, direction, action, index, peers, ports, l7, pr))
    return out


def _l7_ports_valid(pr: Cursor, l7: L7Rules, ports: list[PortSpec], direction: Direction) -> bool:
    """PortRule.sanitize (pkg/policy/api/rule_validation.go) checks on L7 rules."""
    if l7.dns and direction is Direction.INGRESS:
        pr.get("rules").get("dns").error("DNS rules are not allowed on ingress")
        return False
    if not pr.get("ports").present:
        return True
    if any(p.all_ports for p in ports):
        pr.get("ports").error("L7 rules can not be used when a port is 0")
        return False
    # As written, before ANY expands to TCP/UDP/SCTP.
    written = [(p.get("protocol").string() or "ANY").upper() for p in pr.get("ports").items()]
    bad = next((w for w in written if w != "TCP"), None)
    if (l7.http or l7.kafka) and bad is not None:
        pr.get("ports").error(f"L7 rules can only apply to TCP (not {bad}) except for DNS rules")
        return False
    return True


def _rule(
    ctx: _Context,
    subject: EndpointSelector,
    direction: Direction,
    action: Action,
    index: int,
    peers: list[Peer],
    ports: list[PortSpec],
    l7: L7Rules | None,
    cur: Cursor,
) -> Rule:
    return Rule(
        policy=ctx.ref,
        tier=Tier.NAMESPACED,
        direction=direction,
        action=action,
        subject=subject,
        peers=tuple(peers),
        ports=tuple(ports),
        l7=l7,
        index=index,
        location=cur.location,
    )


def _parse_peers(cur: Cursor, ctx: _Context, direction: Direction) -> tuple[list[Peer], bool]:
    prefix = "from" if direction is Direction.INGRESS else "to"
    peers: list[Peer] = []
    has_l3 = False
    for sel_cur in cur.get(prefix + "Endpoints").items():
        has_l3 = True
        peers.append(_endpoint_peer(sel_cur, ctx))
    for node_cur in cur.get(prefix + "Nodes").items():
        has_l3 = True
        sel = parse_label_selector(node_cur, "cilium")
        peers.append(SelectorPeer(EndpointSelector(frozenset({EndpointKind.HOST}), node=sel)))
    for ent_cur in cur.get(prefix + "Entities").items():
        has_l3 = True
        text = ent_cur.string()
        entity = _ENTITIES.get(text or "")
        if entity is None:
            ent_cur.error(f"unknown entity {text!r} (expected one of {', '.join(_ENTITIES)})")
            continue
        peers.append(EntityPeer(entity))
    for cidr_cur in cur.get(prefix + "CIDR").items():
        has_l3 = True
        net = parse_cidr(cidr_cur)
        if net is not None:
            peers.append(CIDRPeer(net, (), matches_cluster_endpoints=False))
    for set_cur in cur.get(prefix + "CIDRSet").items():
        has_l3 = True
        peer = _parse_cidr_set(set_cur)
        if peer is not None:
            peers.append(peer)
    if direction is Direction.EGRESS:
        for fqdn_cur in cur.get("toFQDNs").items():
            has_l3 = True
            fqdn = _parse_fqdn(fqdn_cur)
            if fqdn is not None:
                peers.append(fqdn)
    for key in (prefix + "Requires", prefix + "Groups", "toServices"):
        if cur.has(key) and (direction is Direction.EGRESS or key != "toServices"):
            has_l3 = True
            cur.get(key).warn(f"{key} is not evaluated by this engine", "unsupported")
    return peers, has_l3


def _endpoint_peer(cur: Cursor, ctx: _Context) -> Peer:
    sel = parse_label_selector(cur, "cilium")
    # A selector on one reserved label is that entity (entity.go maps each entity to
    # exactly such a selector). "reserved:host" and "reserved:remote-node" depend on
    # the observer, which only the entity peer models.
    if len(sel.requirements) == 1 and not sel.matches_nothing:
        req = sel.requirements[0]
        entity = _ENTITIES.get(req.key.removeprefix("reserved:"))
        if (
            req.key.startswith("reserved:")
            and entity is not None
            and entity not in (Entity.ALL, Entity.CLUSTER, Entity.NONE)
            and (req.operator is Operator.EXISTS or req.values == frozenset({""}))
        ):
            return EntityPeer(entity)
    return SelectorPeer(_peer_selector(sel, ctx))


def _peer_selector(sel: LabelSelector, ctx: _Context) -> EndpointSelector:
    keys = sel.keys()
    if any(k.startswith("reserved:") for k in keys):
        return EndpointSelector(_selected_kinds(sel), None, None, cilium=sel)
    if ctx.namespace is not None and NAMESPACE_LABEL not in keys:
        # pkg/k8s/apis/cilium.io/utils: selectors without a namespace label are
        # limited to the policy's namespace.
        sel = sel.with_requirement(
            Requirement(NAMESPACE_LABEL, Operator.IN, frozenset({ctx.namespace}))
        )
    cluster = None
    if ctx.config.default_local_cluster and CLUSTER_LABEL not in keys:
        cluster = ctx.cluster
    return EndpointSelector(frozenset({EndpointKind.POD}), cluster, None, cilium=sel)


def _parse_cidr_set(cur: Cursor) -> Peer | None:
    if not cur.is_map("a CIDR rule"):
        return None
    if cur.has("cidrGroupRef") or cur.has("cidrGroupSelector"):
        cur.warn("cidrGroupRef is not evaluated by this engine", "unsupported")
        return None
    net = parse_cidr(cur.get("cidr"))
    if net is None:
        if not cur.get("cidr").present:
            cur.get("cidr").error("cidr is required")
        return None
    excepts = []
    for ex_cur in cur.get("except").items():
        ex = parse_cidr(ex_cur)
        if ex is not None:
            if ex.version != net.version or not ex.subnet_of(net):  # type: ignore[arg-type]
                ex_cur.error(f"except {ex} is not inside cidr {net}")
                continue
            excepts.append(ex)
    return CIDRPeer(net, tuple(excepts), matches_cluster_endpoints=False)


def _parse_fqdn(cur: Cursor) -> FQDNPeer | None:
    if not cur.is_map("an FQDN selector"):
        return None
    name = cur.get("matchName").string()
    pattern = cur.get("matchPattern").string()
    if (name is None) == (pattern is None):
        cur.error("exactly one of matchName or matchPattern is required")
        return None
    return FQDNPeer(
        name.lower().rstrip(".") if name else None, pattern.lower() if pattern else None
    )


_TRANSPORT = (Protocol.TCP, Protocol.UDP, Protocol.SCTP)


def _parse_ports(cur: Cursor) -> list[PortSpec] | None:
    if not cur.present:
        return [ALL_PORTS]
    out: list[PortSpec] = []
    for pc in cur.items():
        if not pc.is_map("a port"):
            return None
        proto = Protocol.ANY
        proto_text = pc.get("protocol").string()
        if proto_text is not None:
            try:
                proto = Protocol.parse(proto_text)
            except ValueError as exc:
                pc.get("protocol").error(str(exc))
                return None
            if proto in (Protocol.ICMP, Protocol.ICMPV6):
                pc.get("protocol").error(
                    f"protocol {proto_text!r} is not allowed in toPorts (use icmps)"
                )
                return None
        port_text = (pc.get("port").string() or "0").strip()
        start = decimal_int(port_text)
        if start is None:
            # Cilium accepts IANA service names in any case and lower-cases them.
            name = port_text.lower()
            if not is_port_name(name):
                pc.get("port").error(f"{port_text!r} is neither a port number nor a port name")
                return None
            out.append(PortSpec(proto, name=name))
            continue
        end = pc.get("endPort").integer()
        if start > MAX_PORT:
            pc.get("port").error(f"port {start} is out of range 0-{MAX_PORT}")
            return None
        if end is not None and not start <= end <= MAX_PORT:
            pc.get("endPort").error(f"invalid port range {start}-{end}")
            return None
        # In toPorts, ANY (or no protocol) means TCP, UDP and SCTP, not ICMP
        # (pkg/policy/rule.go expands it); port 0 means every port.
        protocols = _TRANSPORT if proto is Protocol.ANY else (proto,)
        for each in protocols:
            if start == 0:
                out.append(PortSpec(each))
            else:
                out.append(PortSpec(each, start, end if end else start))
    return out or [ALL_PORTS]


def _parse_l7(cur: Cursor) -> L7Rules | None:
    if not cur.is_map("L7 rules"):
        return None
    http = tuple(
        HTTPRule(
            h.get("method").string(),
            h.get("path").string(),
            h.get("host").string(),
            tuple(h.get("headers").string_list()),
        )
        for h in cur.get("http").items()
        if h.is_map("an HTTP rule")
    )
    dns = []
    for d in cur.get("dns").items():
        if d.is_map("a DNS rule"):
            name, pattern = d.get("matchName").string(), d.get("matchPattern").string()
            if (name is None) == (pattern is None):
                d.error("exactly one of matchName or matchPattern is required")
                continue
            dns.append(DNSRule(name.lower().rstrip(".") if name else None, pattern))
    kafka = tuple(
        KafkaRule(
            k.get("role").string(),
            k.get("apiKey").string(),
            k.get("apiVersion").string(),
            k.get("clientID").string(),
            k.get("topic").string(),
        )
        for k in cur.get("kafka").items()
        if k.is_map("a Kafka rule")
    )
    for key in cur.keys():
        if key not in ("http", "dns", "kafka"):
            cur.get(key).warn(f"L7 rules of type {key!r} are not evaluated", "unsupported")
    rules = L7Rules(http, tuple(dns), kafka)
    return None if rules.empty and not cur.keys() else rules
