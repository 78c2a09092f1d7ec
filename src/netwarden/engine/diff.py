"""Semantic diff: which connections a policy change opens or closes.

Two worlds (the same inventory, policies before and after) are compiled and their
connectivity maps compared pod pair by pod pair; for each ordered pair whose allowed
ports differ the diff says which ports were added and which removed, per protocol.
Pairs are compared per class pair (pods of one endpoint class behave alike), so the
cost follows the number of classes, not pods squared, until differences are listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.connectivity import PortSet, Ranges, connectivity_map
from netwarden.engine.world import World
from netwarden.model.endpoint import EndpointKind


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    """Ports from ``source`` to ``destination`` allowed after and not before (``added``)
    and allowed before and not after (``removed``)."""

    source: str
    destination: str
    added: PortSet
    removed: PortSet

    def to_dict(self) -> dict[str, object]:
        return {
            "from": self.source,
            "to": self.destination,
            "added": None if self.added.empty else self.added.describe(),
            "removed": None if self.removed.empty else self.removed.describe(),
        }


def semantic_diff(
    before: World, after: World, *, limit: int | None = None
) -> list[ConnectionChange]:
    """Every pod pair whose allowed connections differ between the two worlds (pods are
    taken from ``after``; a pod missing from ``before`` compares against its view of
    the same pod list)."""
    pods = sorted(
        (p for p in after.endpoints() if p.kind is EndpointKind.POD), key=lambda p: p.display()
    )
    old = connectivity_map(CompiledEngine(before), pods)
    new = connectivity_map(CompiledEngine(after), pods)
    changes: list[ConnectionChange] = []
    for i, src in enumerate(old.names):
        for j, dst in enumerate(old.names):
            if i == j:
                continue
            a, b = old.allowed(i, j), new.allowed(i, j)
            if a == b:
                continue
            changes.append(ConnectionChange(src, dst, subtract(b, a), subtract(a, b)))
            if limit is not None and len(changes) >= limit:
                return changes
    return changes


def subtract(a: PortSet, b: PortSet) -> PortSet:
    """The ports ``a`` allows and ``b`` does not."""
    ranges = tuple(_minus(x, y) for x, y in zip(a.ranges, b.ranges, strict=True))
    return PortSet((ranges[0], ranges[1], ranges[2]), a.other and not b.other)


def _minus(a: Ranges, b: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    for start, end in a:
        pieces = [(start, end)]
        for lo, hi in b:
            next_pieces = []
            for s, e in pieces:
                if hi < s or lo > e:
                    next_pieces.append((s, e))
                    continue
                if s < lo:
                    next_pieces.append((s, lo - 1))
                if hi < e:
                    next_pieces.append((hi + 1, e))
            pieces = next_pieces
        out.extend(pieces)
    return tuple(out)
