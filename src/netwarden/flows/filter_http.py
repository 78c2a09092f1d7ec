"""The HTTP fields of a filter: status code, method, path, URL and header.

``http_path`` matches the decoded path of the request URI, parsed as Go's
``net/url.ParseRequestURI`` does (:func:`request_uri_path`).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from netwarden.flows.filter_patterns import compile_regex
from netwarden.flows.filter_types import FilterError, Predicate, all_of
from netwarden.model.flow import HTTP, Flow, HTTPHeader

if TYPE_CHECKING:
    from netwarden.flows.filter_core import FlowFilter

L7_EVENT = 129  # monitor message type of L7 (access log) events

_STATUS_FULL = re.compile(r"[1-5][0-9]{2}")
_STATUS_PREFIX = re.compile(r"[1-5][0-9]?\+")


def http_predicate(ff: FlowFilter) -> Predicate | None:
    """The HTTP fields ANDed; they need ``event_type`` (if set) to include L7 events."""
    used = [name for name in _HTTP_BUILDERS if getattr(ff, name)]  # the error names used[0]
    if not used:
        return None
    if ff.event_type and not any(t.type == L7_EVENT for t in ff.event_type):
        raise FilterError(
            f"filtering by {used[0]} requires the event type filter to only match 'l7' events"
        )
    checks = [_HTTP_BUILDERS[name](getattr(ff, name)) for name in used]
    return all_of(checks)


def _on_http(test: Callable[[HTTP], bool]) -> Predicate:
    """The flow has an HTTP record and ``test`` holds for it."""

    def match(flow: Flow) -> bool:
        http = flow.l7.http if flow.l7 is not None else None
        return http is not None and test(http)

    return match


def _http_status(values: Sequence[str]) -> Predicate:
    full: set[str] = set()
    prefixes: list[str] = []
    for value in values:
        if _STATUS_FULL.fullmatch(value):
            full.add(value)
        elif _STATUS_PREFIX.fullmatch(value):
            prefixes.append(value[:-1])
        else:
            raise FilterError(f"invalid http status code filter: {value!r}")

    def test(http: HTTP) -> bool:
        if http.code == 0:
            return False
        code = f"{http.code:03d}"
        return code in full or any(code.startswith(p) for p in prefixes)

    return _on_http(test)


def _http_method(values: Sequence[str]) -> Predicate:
    wanted = frozenset(v.lower() for v in values)
    return _on_http(lambda http: bool(http.method) and http.method.lower() in wanted)


def _http_url(values: Sequence[str]) -> Predicate:
    return _http_search(values, "http url", lambda url: url)


def _http_path(values: Sequence[str]) -> Predicate:
    return _http_search(values, "http path", request_uri_path)


def _http_search(
    values: Sequence[str], what: str, text_of: Callable[[str], str | None]
) -> Predicate:
    """Any regex found in ``text_of(url)`` (a flow without URL, or text None: no match)."""
    patterns = [compile_regex(v, what) for v in values]

    def test(http: HTTP) -> bool:
        text = text_of(http.url) if http.url else None
        return text is not None and any(p.search(text) for p in patterns)

    return _on_http(test)


def _http_header(values: Sequence[HTTPHeader]) -> Predicate:
    wanted = frozenset((h.key, h.value) for h in values)
    return _on_http(lambda http: any((h.key, h.value) in wanted for h in http.headers))


_HTTP_BUILDERS: dict[str, Callable[[Any], Predicate]] = {
    "http_status_code": _http_status,
    "http_method": _http_method,
    "http_path": _http_path,
    "http_url": _http_url,
    "http_header": _http_header,
}


# --- the request URI path (Go net/url.ParseRequestURI) ------------------------------------

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_HOST_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:\[\]<>\"%\u0080-\U0010ffff]*")
_LOW_HOST_ESCAPE = re.compile(r"%(?!25)[0-7][0-9A-Fa-f]")  # only non-ASCII (or %25) escapes
_USERINFO_CHARS = re.compile(r"[A-Za-z0-9\-._:~!$&'()*+,;=%@]*")


def request_uri_path(url: str) -> str | None:
    """The decoded path of an HTTP request URI (absolute URL or ``/path``); None if invalid."""
    if not url or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return None
    if url == "*":
        return "*"
    if url.startswith(":"):
        return None
    scheme_match = _SCHEME.match(url)
    scheme, rest = (scheme_match.group(1), url[scheme_match.end() :]) if scheme_match else ("", url)
    if rest.endswith("?") and rest.count("?") == 1:
        rest = rest[:-1]
    else:
        rest = rest.partition("?")[0]
    if not rest.startswith("/"):
        return "" if scheme else None  # scheme:opaque has no path; a relative path is invalid
    if scheme and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        if not _valid_authority(authority):
            return None
        rest = slash + path
    if _BAD_ESCAPE.search(rest):
        return None
    return urllib.parse.unquote(rest, errors="surrogateescape")


def _valid_authority(authority: str) -> bool:
    userinfo, at, host = authority.rpartition("@")
    if at and (not _USERINFO_CHARS.fullmatch(userinfo) or _BAD_ESCAPE.search(userinfo)):
        return False
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            return False
        port = host[end + 1 :]
        if port and not re.fullmatch(r":[0-9]*", port):
            return False
    elif ":" in host and not re.fullmatch(r"[0-9]*", host.rpartition(":")[2]):
        return False
    if _BAD_ESCAPE.search(host) or _LOW_HOST_ESCAPE.search(host):
        return False
    return bool(_HOST_CHARS.fullmatch(host))
