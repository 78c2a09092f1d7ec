"""Hubble label filters: Kubernetes label-selector syntax over Cilium labels.

``k8s:app=web``, ``app in (a,b)``, ``!k8s:app``, ``replicas>3``: parsed as apimachinery's
``labels.Parse`` does after Hubble's source translation, matched as Cilium's LabelArray.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import ClassVar

from netwarden.flows.filter_types import FilterError, go_int


@dataclass(frozen=True, slots=True)
class CiliumLabel:
    """A Cilium label ``source:key=value``; ``cidr:`` keys compare as prefixes."""

    source: str
    key: str
    value: str = ""

    def has_key(self, target: CiliumLabel) -> bool:
        """``target``'s key is this label's (``any`` source matches all sources)."""
        if target.source != "any" and self.source != target.source:
            return False
        if self.source == target.source == "cidr":
            outer, inner = _cidr_key(target.key), _cidr_key(self.key)
            if outer is None or inner is None:
                return False
            return outer.network.prefixlen <= inner.network.prefixlen and inner.ip in outer.network
        return self.key == target.key


def parse_cilium_label(text: str, delimiter: str = ":") -> CiliumLabel:
    """``k8s:app=web``, ``reserved:host``, ``$host``; no source = ``unspec``."""
    source, rest = "", text
    if text.startswith("$"):
        source, rest = "reserved", text[1:]
    elif delimiter in text:
        source, rest = text.split(delimiter, 1)
    elif delimiter != "." and text.startswith("reserved."):
        source, rest = "reserved", text[len("reserved.") :]
    key, sep, value = rest.partition("=")
    if sep and not key and source == "reserved":
        key, value = value, ""
    return CiliumLabel(source or "unspec", key, value)


def _cidr_key(key: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    text = key.replace("-", ":")
    _, slash, bits = text.partition("/")
    if not slash or not bits.isascii() or not bits.isdigit():
        return None
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        return None


class _Op(Enum):
    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = ">"
    LESS_THAN = "<"


@dataclass(frozen=True, slots=True)
class _Requirement:
    key: CiliumLabel  # the selector key as a selecting label (source "any" when none given)
    op: _Op
    values: frozenset[str]

    def matches(self, labels: tuple[CiliumLabel, ...]) -> bool:
        found = next((label.value for label in labels if label.has_key(self.key)), None)
        op = self.op
        if op in (_Op.IN, _Op.EQUALS, _Op.DOUBLE_EQUALS):
            return found is not None and found in self.values
        if op in (_Op.NOT_IN, _Op.NOT_EQUALS):
            return found is None or found not in self.values
        if op is _Op.EXISTS:
            return found is not None
        if op is _Op.DOES_NOT_EXIST:
            return found is None
        number = go_int(found) if found is not None else None
        if number is None:
            return False
        bound = int(next(iter(self.values)))
        return number > bound if op is _Op.GREATER_THAN else number < bound


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed Hubble label filter; all requirements must hold (none: matches all)."""

    text: str
    requirements: tuple[_Requirement, ...]

    def matches(self, labels: Sequence[str]) -> bool:
        array = _label_array(tuple(labels))
        return all(r.matches(array) for r in self.requirements)


@lru_cache(maxsize=8192)
def _label_array(labels: tuple[str, ...]) -> tuple[CiliumLabel, ...]:
    """Flow labels parsed and ordered by key, as Cilium's LabelArray (lookups take the first)."""
    return tuple(sorted((parse_cilium_label(text) for text in labels), key=lambda lb: lb.key))


@lru_cache(maxsize=1024)
def parse_label_selector(text: str) -> LabelSelector:
    """Parse a Hubble label filter (``k8s:app=web``, ``app in (a,b)``, ``!k8s:app``, ``n>3``)."""
    tokens = _lex_selector(_translate_sources(text))
    try:
        requirements = _SelectorParser(tokens).parse()
    except FilterError as exc:
        raise FilterError(f"invalid label selector {text!r}: {exc}") from None
    return LabelSelector(text, requirements)


def _translate_sources(selector: str) -> str:
    """``k8s:app=web`` -> ``k8s.app=web``; a key without source gets ``any.`` (Hubble's step)."""
    out: list[str] = []
    i, n = 0, len(selector)
    while i < n:
        while i < n and (selector[i].isspace() or selector[i] == "!"):
            out.append(selector[i])
            i += 1
        start = i
        while i < n and not (selector[i].isspace() or selector[i] in "=!,"):
            i += 1
        key = selector[start:i]
        out.append(("any:" + key if ":" not in key else key).replace(":", ".", 1))
        nesting = 0
        while i < n:
            char = selector[i]
            i += 1
            nesting += (char == "(") - (char == ")")
            out.append(char)
            if char == "," and nesting == 0:
                break
    return "".join(out)


_IDENT, _END = "identifier", "end of string"
_SYMBOLS = ("==", "!=", "=", "!", "(", ")", ",", ">", "<")
_KEYWORDS = {"in", "notin"}
_SELECTOR_SPACE = " \t\r\n"


def _lex_selector(text: str) -> list[tuple[str, str]]:
    """Tokens as (kind, literal): kind is a symbol, a keyword, identifier or end of string."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _SELECTOR_SPACE:
            i += 1
        if i == n:
            tokens.append((_END, ""))
            return tokens
        symbol = next((s for s in _SYMBOLS if text.startswith(s, i)), None)
        if symbol is not None:
            tokens.append((symbol, symbol))
            i += len(symbol)
            continue
        start = i
        while i < n and text[i] not in _SELECTOR_SPACE and text[i] not in "=!(),><":
            i += 1
        word = text[start:i]
        tokens.append((word if word in _KEYWORDS else _IDENT, word))


class _SelectorParser:
    """The Kubernetes label-selector grammar (apimachinery ``labels.Parse``)."""

    _OPERATORS: ClassVar[dict[str, _Op]] = {
        "in": _Op.IN,
        "notin": _Op.NOT_IN,
        "=": _Op.EQUALS,
        "==": _Op.DOUBLE_EQUALS,
        "!=": _Op.NOT_EQUALS,
        ">": _Op.GREATER_THAN,
        "<": _Op.LESS_THAN,
    }

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        kind, literal = self.tokens[self.pos]
        return (_IDENT if kind in _KEYWORDS else kind), literal  # keywords are values here

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def parse(self) -> tuple[_Requirement, ...]:
        requirements: list[_Requirement] = []
        while True:
            kind, literal = self.peek()
            if kind == _END:
                return tuple(requirements)
            if kind not in (_IDENT, "!"):
                raise FilterError(f"found {literal!r}, expected: !, identifier, or end of string")
            requirements.append(self.requirement())
            kind, literal = self.take()
            if kind == _END:
                return tuple(requirements)
            if kind != ",":
                raise FilterError(f"found {literal!r}, expected: ',' or end of string")
            if self.peek()[0] not in (_IDENT, "!"):
                raise FilterError(f"found {self.peek()[1]!r}, expected: identifier after ','")

    def requirement(self) -> _Requirement:
        negated = self.peek()[0] == "!"
        if negated:
            self.take()
        kind, key = self.take()
        if kind != _IDENT:
            raise FilterError(f"found {key!r}, expected: identifier")
        _check_label_key(key)
        if negated or self.peek()[0] in (_END, ","):
            op = _Op.DOES_NOT_EXIST if negated else _Op.EXISTS
            return _Requirement(_selecting_label(key), op, frozenset())
        kind, literal = self.tokens[self.pos]  # operators: keywords count as such here
        self.pos += 1
        op_or_none = self._OPERATORS.get(kind)
        if op_or_none is None:
            raise FilterError(f"found {literal!r}, expected an operator")
        values = self.value_set() if op_or_none in (_Op.IN, _Op.NOT_IN) else self.exact_value()
        return _new_requirement(key, op_or_none, values)

    def value_set(self) -> set[str]:
        if self.take()[0] != "(":
            raise FilterError("expected: '('")
        kind, literal = self.peek()
        if kind == ")":
            self.take()
            return {""}
        if kind not in (_IDENT, ","):
            raise FilterError(f"found {literal!r}, expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:
            kind, literal = self.take()
            if kind == _IDENT:
                values.add(literal)
                after = self.peek()[0]
                if after == ")":
                    self.take()
                    return values
                if after != ",":
                    raise FilterError(f"found {self.peek()[1]!r}, expected: ',' or ')'")
            elif kind == ",":  # "(,a", "a,,b" and "a,)" each add the empty value
                after = self.peek()[0]
                if not values or after in (",", ")"):
                    values.add("")
                if after == ")":
                    self.take()
                    return values
            else:
                raise FilterError(f"found {literal!r}, expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek()[0] in (_END, ","):
            return {""}
        kind, literal = self.take()
        if kind != _IDENT:
            raise FilterError(f"found {literal!r}, expected: identifier")
        return {literal}


def _new_requirement(key: str, op: _Op, values: set[str]) -> _Requirement:
    if op in (_Op.GREATER_THAN, _Op.LESS_THAN):
        if go_int(next(iter(values))) is None:
            raise FilterError(f"for '{op.value}' the value must be an integer")
    for value in values:
        if len(value) > 63 or (value and not _LABEL_VALUE.fullmatch(value)):
            raise FilterError(f"invalid label value {value!r}")
    return _Requirement(_selecting_label(key), op, frozenset(values))


def _selecting_label(key: str) -> CiliumLabel:
    """A translated selector key (``k8s.app``) as a label to look up; no source = ``any``."""
    label = parse_cilium_label(key, ".")
    return CiliumLabel("any", label.key) if label.source == "unspec" else label


_LABEL_VALUE = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)


def _check_label_key(key: str) -> None:
    """Kubernetes qualified name: ``[dns-subdomain/]name`` (name: 63 chars, alnum ends)."""
    prefix, slash, name = key.rpartition("/")
    bad = (
        key.count("/") > 1
        or (slash and not (prefix and len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix)))
        or not name
        or len(name) > 63
        or not _LABEL_VALUE.fullmatch(name)
    )
    if bad:
        raise FilterError(f"invalid label key {key!r}")
