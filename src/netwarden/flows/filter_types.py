"""What every part of the flow filters shares: errors, small filter values, Go number syntax.

``Predicate`` is a compiled filter; :func:`all_of` ANDs the checks one filter field builds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from netwarden.model.flow import Flow

Predicate = Callable[[Flow], bool]

TCP_FLAG_NAMES = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS")


class FilterError(ValueError):
    """A filter the Hubble server would reject (its ``BuildFilter`` error)."""


class UnsupportedFilterError(FilterError):
    """A valid Hubble filter on flow data that ``model.flow`` does not decode yet."""


@dataclass(frozen=True, slots=True)
class EventTypeFilter:
    """``flow.EventTypeFilter``: ``type`` 0 matches any type; ``sub_type`` only if asked."""

    type: int = 0
    match_sub_type: bool = False
    sub_type: int = 0


@dataclass(frozen=True, slots=True)
class NetworkInterface:
    """``flow.NetworkInterface`` as a filter value: 0 / "" match anything."""

    index: int = 0
    name: str = ""


def all_of(checks: list[Predicate]) -> Predicate | None:
    """None without checks, the one check, or a predicate that needs every check to hold."""
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda flow: all(check(flow) for check in checks)


def go_int(text: str) -> int | None:
    """Go ``strconv.ParseInt(text, 10, 64)``: optional sign, decimal digits, 64-bit."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def go_uint(text: str, base0: bool = False) -> int | None:
    """Go ``strconv.ParseUint``: base 10, or with base 0 the 0x/0o/0b/0 prefixes and ``_``."""
    if not base0:
        return int(text) if text.isascii() and text.isdigit() else None
    if not re.fullmatch(r"[0-9A-Za-z_]+", text):
        return None
    if re.fullmatch(r"0[0-7_]+", text):
        text = "0o" + text[1:]
    try:
        return int(text, 0)
    except ValueError:
        return None
