"""The probe file of ``netwarden verdict``: a YAML/JSON list of connections to evaluate."""

from __future__ import annotations

from dataclasses import dataclass

from netwarden.model.diagnostics import Diagnostic, Location
from netwarden.model.ports import Protocol
from netwarden.sources.common import parse_protocol
from netwarden.sources.yamldoc import Cursor, load_documents

_FIELDS = {"from", "to", "port", "protocol", "http", "dns_name", "expect", "cluster"}


@dataclass(frozen=True)
class Probe:
    source: str
    destination: str
    port: int
    protocol: Protocol
    location: Location
    http_method: str | None = None
    http_path: str | None = None
    http_host: str | None = None
    http_headers: tuple[tuple[str, str], ...] = ()
    dns_name: str | None = None
    expect: str | None = None


def parse_probes(text: str, file: str) -> tuple[list[Probe], list[Diagnostic]]:
    docs, diags = load_documents(text, file)
    if diags:
        return [], diags
    probes: list[Probe] = []
    for doc in docs:
        root = Cursor.root(doc, diags)
        items = root.get("probes") if isinstance(doc.data, dict) else root
        if isinstance(doc.data, dict) and not root.has("probes"):
            root.error("expected a list of probes (or an object with a 'probes' list)")
            continue
        for item in items.items():
            probe = _parse_probe(item)
            if probe is not None:
                probes.append(probe)
    return probes, diags


def _endpoint_text(cur: Cursor) -> str | None:
    text = cur.string()
    if not text:
        cur.error(f"{cur.path[-1]} is required: namespace/pod or an IP address")
        return None
    return text


def _parse_probe(cur: Cursor) -> Probe | None:
    if not cur.is_map("a probe"):
        return None
    for key in cur.keys():
        if key not in _FIELDS:
            cur.get(key).error(f"unknown probe field {key!r}", "unknown-field")
    src, dst = _endpoint_text(cur.get("from")), _endpoint_text(cur.get("to"))
    port_cur = cur.get("port")
    port = port_cur.integer()
    if port is None or not 0 <= port <= 65535:
        if port is not None or not port_cur.present:
            port_cur.error("port is required: a number 0-65535")
        return None
    protocol = parse_protocol(cur.get("protocol"), Protocol.TCP, allow_any=False)
    http = cur.get("http")
    method = path = host = None
    headers: list[tuple[str, str]] = []
    if http.is_map("an HTTP request"):
        method = http.get("method").string("GET")
        path = http.get("path").string("/")
        host = http.get("host").string()
        for key, value in http.get("headers").string_map().items():
            headers.append((key, value))
    if src is None or dst is None:
        return None
    return Probe(
        src,
        dst,
        port,
        protocol,
        cur.location,
        method,
        path,
        host,
        tuple(headers),
        cur.get("dns_name").string(),
        cur.get("expect").string(),
    )
