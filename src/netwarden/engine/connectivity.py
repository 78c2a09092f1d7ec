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
from netwarden.engine.tables import PROTOCOLS, BoolArray, IntArray, SubjectTable
from netwarden.model.endpoint import Endpoint, EndpointKind
from netwarden.model.ports import MAX_PORT
from netwarden.model.rule import Direction

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
    pods = [p for p in pods if p.kind is EndpointKind.POD]
    eps = engine.classify(pods)
    _, first, inverse = np.unique(eps.cls, return_index=True, return_inverse=True)
    classes = eps.cls[first]
    k = len(classes)
    egress = [engine.subject_table(Direction.EGRESS, int(c)) for c in classes]
    ingress = [engine.subject_table(Direction.INGRESS, int(c)) for c in classes]
    e_ids, e_tables = _table_ids(egress)
    i_ids, i_tables = _table_ids(ingress)
    rg_e = np.stack([t.row_group[classes] for t in egress]).astype(np.int64)  # [src, dst]
    rg_i = np.stack([t.row_group[classes] for t in ingress]).astype(np.int64).T  # [src, dst]
    e_key = e_ids[:, None] * (int(rg_e.max()) + 1) + rg_e
    i_key = i_ids[None, :] * (int(rg_i.max()) + 1) + rg_i
    e_uniq, e_inv = np.unique(e_key.reshape(-1), return_inverse=True)
    i_uniq, i_inv = np.unique(i_key.reshape(-1), return_inverse=True)
    combined = e_inv.reshape(-1) * len(i_uniq) + i_inv.reshape(-1)
    uniq, pair_inv = np.unique(combined, return_inverse=True)
    allowed_of = engine.allowed_outcomes()
    e_span, i_span = int(rg_e.max()) + 1, int(rg_i.max()) + 1
    sets: dict[PortSet, int] = {}
    ids = np.empty(len(uniq), dtype=np.int32)
    for n, value in enumerate(uniq.tolist()):
        ek, ik = divmod(value, len(i_uniq))
        te, re = divmod(int(e_uniq[ek]), e_span)
        ti, ri = divmod(int(i_uniq[ik]), i_span)
        port_set = _port_set(e_tables[te], re, i_tables[ti], ri, allowed_of)
        ids[n] = sets.setdefault(port_set, len(sets))
    pair_set = ids[pair_inv.reshape(-1)].reshape(k, k)
    names = tuple(p.display() for p in pods)
    return ConnectivityMap(names, inverse.reshape(-1), pair_set, tuple(sets))


def _table_ids(tables: list[SubjectTable]) -> tuple[IntArray, list[SubjectTable]]:
    index: dict[int, int] = {}
    distinct: list[SubjectTable] = []
    ids = np.empty(len(tables), dtype=np.int64)
    for n, table in enumerate(tables):
        ids[n] = index.setdefault(id(table), len(index))
        if ids[n] == len(distinct):
            distinct.append(table)
    return ids, distinct


def _columns_allowed(table: SubjectTable, row_group: int, allowed_of: BoolArray) -> BoolArray:
    cols: BoolArray = allowed_of[table.lut[row_group, table.col_group]]
    return cols


def _port_set(
    e_table: SubjectTable, e_row: int, i_table: SubjectTable, i_row: int, allowed_of: BoolArray
) -> PortSet:
    e_cols = _columns_allowed(e_table, e_row, allowed_of)
    i_cols = _columns_allowed(i_table, i_row, allowed_of)
    bounds = np.union1d(e_table.bounds, i_table.bounds)
    e_idx = np.searchsorted(e_table.bounds, bounds, "right") - 1
    i_idx = np.searchsorted(i_table.bounds, bounds, "right") - 1
    ends = np.r_[bounds[1:] - 1, MAX_PORT]
    ranges = []
    for p in range(len(PROTOCOLS)):
        ok = e_cols[p * len(e_table.bounds) + e_idx] & i_cols[p * len(i_table.bounds) + i_idx]
        ranges.append(_to_ranges(bounds, ends, ok))
    other = bool(e_cols[-1] and i_cols[-1])
    return PortSet((ranges[0], ranges[1], ranges[2]), other)


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
