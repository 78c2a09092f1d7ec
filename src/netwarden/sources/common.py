"""Parsing pieces shared by the policy kinds: selectors, ports, CIDRs."""

from __future__ import annotations

import ipaddress

from netwarden.model.labels import LabelSelector, Operator, Requirement
from netwarden.model.ports import MAX_PORT, PortSpec, Protocol
from netwarden.model.rule import IPNetwork
from netwarden.sources.yamldoc import Cursor

_OPERATORS = {op.value: op for op in Operator}
_PORT_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def parse_label_selector(cur: Cursor, key_transform: str = "none") -> LabelSelector:
    """A metav1.LabelSelector. ``key_transform='cilium'`` strips Cilium source prefixes."""
    if cur.value is None:
        return LabelSelector()
    if not cur.is_map("a label selector"):
        return LabelSelector()
    reqs: list[Requirement] = []
    for key, value in sorted(cur.get("matchLabels").string_map().items()):
        reqs.append(Requirement(_key(key, key_transform), Operator.IN, frozenset({value})))
    for expr in cur.get("matchExpressions").items():
        if not expr.is_map("a match expression"):
            continue
        key_text = expr.get("key").string()
        op_text = expr.get("operator").string()
        values = expr.get("values").string_list()
        if not key_text:
            expr.get("key").error("matchExpressions entry needs a key")
            continue
        op = _OPERATORS.get(op_text or "")
        if op is None:
            expr.get("operator").error(
                f"unknown operator {op_text!r} (expected In, NotIn, Exists or DoesNotExist)"
            )
            continue
        if op in (Operator.IN, Operator.NOT_IN) and not values:
            expr.get("values").error(f"operator {op.value} needs at least one value")
            continue
        if op in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
            expr.get("values").error(f"operator {op.value} takes no values")
            continue
        reqs.append(Requirement(_key(key_text, key_transform), op, frozenset(values)))
    unknown = set(cur.keys()) - {"matchLabels", "matchExpressions"}
    for key in sorted(unknown):
        cur.get(key).error(f"unknown field {key!r} in a label selector", "unknown-field")
    return LabelSelector(tuple(reqs))


def _key(key: str, transform: str) -> str:
    if transform != "cilium":
        return key
    for prefix in ("k8s:", "any:"):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def parse_protocol(cur: Cursor, default: Protocol, allow_any: bool) -> Protocol:
    text = cur.string()
    if text is None:
        return default
    try:
        proto = Protocol.parse(text)
    except ValueError as exc:
        cur.error(str(exc))
        return default
    if proto in (Protocol.ICMP, Protocol.ICMPV6) or (proto is Protocol.ANY and not allow_any):
        cur.error(f"protocol {text!r} is not allowed here (expected TCP, UDP or SCTP)")
        return default
    return proto


def parse_port_number(cur: Cursor, allow_zero: bool = False) -> int | None:
    value = cur.integer()
    if value is None:
        return None
    low = 0 if allow_zero else 1
    if not low <= value <= MAX_PORT:
        cur.error(f"port {value} is out of range {low}-{MAX_PORT}")
        return None
    return value


def port_range(protocol: Protocol, start: int, end: int | None, cur: Cursor) -> PortSpec | None:
    if end is None:
        return PortSpec(protocol, start, start)
    if end < start:
        cur.error(f"endPort {end} is smaller than port {start}")
        return None
    return PortSpec(protocol, start, end)


def parse_cidr(cur: Cursor) -> IPNetwork | None:
    text = cur.string()
    if text is None:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        cur.error(f"{text!r} is not a valid CIDR")
        return None


def is_port_name(text: str) -> bool:
    """IANA_SVC_NAME: 1-15 chars, lowercase alphanumerics and '-', at least one letter."""
    return (
        0 < len(text) <= 15
        and all(c in _PORT_NAME_CHARS for c in text)
        and any(c.isalpha() for c in text)
        and not text.startswith("-")
        and not text.endswith("-")
        and "--" not in text
    )
