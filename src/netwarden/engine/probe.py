"""Evaluate probes (from the probe file format) against a world."""

from __future__ import annotations

from dataclasses import dataclass

from netwarden.engine.matching import HTTPRequest
from netwarden.engine.world import UnknownEndpoint, World
from netwarden.model.diagnostics import Diagnostic, Severity
from netwarden.model.endpoint import Endpoint
from netwarden.sources.probes import Probe


@dataclass(frozen=True)
class ResolvedProbe:
    probe: Probe
    source: Endpoint
    destination: Endpoint
    http: HTTPRequest | None


def resolve_probes(
    world: World, probes: list[Probe]
) -> tuple[list[ResolvedProbe], list[Diagnostic]]:
    out: list[ResolvedProbe] = []
    diags: list[Diagnostic] = []
    for probe in probes:
        try:
            src = world.resolve(probe.source)
            dst = world.resolve(probe.destination, probe.dns_name)
        except UnknownEndpoint as exc:
            diags.append(Diagnostic("unknown-endpoint", Severity.ERROR, str(exc), probe.location))
            continue
        http = None
        if probe.http_method is not None:
            http = HTTPRequest(
                probe.http_method, probe.http_path or "/", probe.http_host, probe.http_headers
            )
        out.append(ResolvedProbe(probe, src, dst, http))
    return out, diags
