"""Name patterns in filters: FQDN and node-name ``*`` patterns, pod/service names, regexes."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from netwarden.flows.filter_types import FilterError

_FQDN = r"(?:[-0-9_a-z]+(?:\.[-0-9_a-z]+)*)"


def _fqdn_pattern_regex(pattern: str) -> str:
    pattern = pattern.strip()
    pattern = pattern.removesuffix(".").lower()
    if not pattern:
        raise FilterError("empty pattern")
    if pattern.endswith("."):
        raise FilterError("multiple trailing dots in pattern")
    out = []
    for char in pattern:
        if char == ".":
            out.append(r"\.")
        elif char == "*":
            out.append("[-.0-9a-z]*")
        elif char in "-_" or "0" <= char <= "9" or "a" <= char <= "z":
            out.append(char)
        else:
            raise FilterError(f"{char!r}: invalid rune in pattern {pattern!r}")
    return "".join(out)


def compile_fqdn_patterns(patterns: Sequence[str]) -> re.Pattern[str]:
    """``*.cilium.io``-style patterns -> one regex for ``fullmatch`` (lower-case names)."""
    return re.compile("(?:" + "|".join(_fqdn_pattern_regex(p) for p in patterns) + ")")


def compile_node_name_patterns(patterns: Sequence[str]) -> re.Pattern[str]:
    """``[cluster/]node`` patterns; a missing or empty part matches any name there."""
    parts = []
    for pattern in patterns:
        if not pattern:
            raise FilterError("empty pattern")
        if pattern.count("/") > 1:
            raise FilterError("too many slashes in pattern")
        cluster, _, node = pattern.rpartition("/")
        cluster_re = _fqdn_pattern_regex(cluster) if cluster else _FQDN
        node_re = _fqdn_pattern_regex(node) if node else _FQDN
        parts.append(f"{cluster_re}/{node_re}")
    return re.compile("(?:" + "|".join(parts) + ")")


def _parse_namespaced_name(text: str) -> tuple[str, str]:
    """``ns/name`` -> (ns, name); ``name`` -> (``default``, name); ``/name`` -> any namespace."""
    parts = text.split("/")
    if len(parts) > 1:
        return parts[0], parts[1]
    return "default", parts[0]


def namespaced_name_matcher(values: Sequence[str]) -> Callable[[str, str], bool]:
    """Hubble's pod/service filter on (namespace, name): a namespace and a name prefix."""
    wanted = []
    for value in values:
        if not value:
            raise FilterError("invalid filter, name must not be empty")
        wanted.append(_parse_namespaced_name(value))

    def match(namespace: str, name: str) -> bool:
        if not namespace and not name:
            return False
        return any(
            (not prefix or name.startswith(prefix)) and (not ns or ns == namespace)
            for ns, prefix in wanted
        )

    return match


def compile_regex(pattern: str, what: str) -> re.Pattern[str]:
    """A filter's regular expression (``dns_query``, ``http_path``, ``http_url``)."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise FilterError(f"invalid {what} filter: {pattern}: {exc}") from None
