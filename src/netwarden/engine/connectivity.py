"""The full connectivity map: for every pair of pods, which ports and protocols are allowed.

This answers what network-config-analyzer's ``--connectivity`` answers. It works
on endpoint classes, not pods: the allowed ports of a pair depend only on the
source's egress table row for the destination class and the destination's
ingress table row for the source class, so each distinct combination of
(egress table, row group, ingress table, row group) is computed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.tables import (
    PROTOCOLS,
    BoolArray,
    IntArray,
    Interner,
    SubjectTable,
    interval_ends,
)
from netwarden.model.endpoint import Endpoint, EndpointKind
from netwarden.model.ports import MAX_PORT
from netwarden.model.rule import Direction
from netwarden.sources.gcpause import no_cycle_collection

Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class PortSet:
    """Allowed destination ports per protocol (TCP, UDP, SCTP) and whether other
    protocols (ICMP, ...) are allowed."""

    ranges: tuple[Ranges, Ranges, Ranges]
    other: bool

    @property
    def empty(self) -> bool:
        return not self.other and not any(self.ranges)

    @property
    def everything(self) -> bool:
        full = ((0, MAX_PORT),)
        return self.other and all(r == full for r in self.ranges)

    def allows(self, port: int, protocol_index: int) -> bool:
        if protocol_index >= len(PROTOCOLS):
            return self.other
        return any(a <= port <= b for a, b in self.ranges[protocol_index])

    def describe(self) -> str:
        if self.everything:
            return "all connections"
        if self.empty:
            return "no connections"
        parts = []
        for proto, ranges in zip(PROTOCOLS, self.ranges, strict=True):
            if ranges == ((0, MAX_PORT),):
                parts.append(f"{proto.value} all ports")
            elif ranges:
                text = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
                parts.append(f"{proto.value} {text}")
        if self.other:
            parts.append("other protocols")
        return "; ".join(parts)


_FULL: Ranges = ((0, MAX_PORT),)
ALL = PortSet((_FULL, _FULL, _FULL), True)


@dataclass(frozen=True)
class ConnectivityMap:
    names: tuple[str, ...]
    class_of: IntArray  # endpoint index -> row/column of ``pair_set``
    pair_set: npt.NDArray[np.int32]  # class pair -> index into ``sets``
    sets: tuple[PortSet, ...]

    def allowed(self, i: int, j: int) -> PortSet:
        if i == j:
            return ALL  # a pod reaching itself
        return self.sets[int(self.pair_set[self.class_of[i], self.class_of[j]])]

    def allowed_pairs(self) -> list[tuple[str, str, PortSet]]:
        out = []
        for i, src in enumerate(self.names):
            for j, dst in enumerate(self.names):
                ports = self.allowed(i, j)
                if i != j and not ports.empty:
                    out.append((src, dst, ports))
        return out


def connectivity_map(engine: CompiledEngine, pods: Sequence[Endpoint]) -> ConnectivityMap:
    """Allowed ports of every ordered pair of pods (host-networked pods excluded)."""
    with no_cycle_collection():
        return _connectivity_map(engine, pods)


def _connectivity_map(engine: CompiledEngine, pods: Sequence[Endpoint]) -> ConnectivityMap:
    """The map, computed per class pair.

    Every (table, row group) has an allowed-port *profile*; few distinct
    profiles exist, so each pair of (egress profile, ingress profile) is
    intersected once and the k x k class pairs are mapped with array lookups.
    """
    pods = [p for p in pods if p.kind is EndpointKind.POD]
    eps = engine.classify(pods)
    _, first, inverse = np.unique(eps.cls, return_index=True, return_inverse=True)
    classes = eps.cls[first]
    for cid in classes.tolist():  # build every table first: that interns all outcomes
        for direction in Direction:
            engine.subject_table(direction, cid)
    allowed_of = engine.allowed_outcomes()
    profiles: Interner[PortSet] = Interner()
    e_prof = _direction_profiles(engine, Direction.EGRESS, classes, allowed_of, profiles)
    i_prof = _direction_profiles(engine, Direction.INGRESS, classes, allowed_of, profiles).T
    n = len(profiles.items)
    combined = e_prof.reshape(-1) * n + i_prof.reshape(-1)
    uniq, pair_inv = np.unique(combined, return_inverse=True)
    sets: dict[PortSet, int] = {}
    ids = np.empty(len(uniq), dtype=np.int32)
    for index, value in enumerate(uniq.tolist()):
        e, i = divmod(value, n)
        port_set = _intersect(profiles.items[e], profiles.items[i])
        ids[index] = sets.setdefault(port_set, len(sets))
    k = len(classes)
    pair_set = ids[pair_inv.reshape(-1)].reshape(k, k)
    names = tuple(p.display() for p in pods)
    return ConnectivityMap(names, inverse.reshape(-1), pair_set, tuple(sets))


def _direction_profiles(
    engine: CompiledEngine,
    direction: Direction,
    classes: IntArray,
    allowed_of: BoolArray,
    profiles: Interner[PortSet],
) -> IntArray:
    """[subject, peer] -> profile id of the subject's table row for that peer class."""
    by_table: dict[int, IntArray] = {}  # id(table) -> profile id per row group
    out = np.empty((len(classes), len(classes)), dtype=np.int64)
    for n, cid in enumerate(classes.tolist()):
        table = engine.subject_table(direction, cid)
        per_group = by_table.get(id(table))
        if per_group is None:
            per_group = np.array(
                [
                    profiles.intern(_row_profile(table, g, allowed_of))
                    for g in range(table.lut.shape[0])
                ],
                dtype=np.int64,
            )
            by_table[id(table)] = per_group
        out[n] = per_group[table.row_group[classes]]
    return out


def _row_profile(table: SubjectTable, row_group: int, allowed_of: BoolArray) -> PortSet:
    cols = allowed_of[table.lut[row_group, table.col_group]]
    starts = table.bounds
    ends = interval_ends(starts)
    n = len(starts)
    ranges = [_to_ranges(starts, ends, cols[p * n : (p + 1) * n]) for p in range(len(PROTOCOLS))]
    return PortSet((ranges[0], ranges[1], ranges[2]), bool(cols[-1]))


def _intersect(a: PortSet, b: PortSet) -> PortSet:
    ranges = [_intersect_ranges(x, y) for x, y in zip(a.ranges, b.ranges, strict=True)]
    return PortSet((ranges[0], ranges[1], ranges[2]), a.other and b.other)


def _intersect_ranges(a: Ranges, b: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _to_ranges(starts: IntArray, ends: IntArray, ok: BoolArray) -> Ranges:
    out: list[tuple[int, int]] = []
    for start, end, allowed in zip(starts.tolist(), ends.tolist(), ok.tolist(), strict=True):
        if not allowed:
            continue
        if out and out[-1][1] + 1 == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return tuple(out)
