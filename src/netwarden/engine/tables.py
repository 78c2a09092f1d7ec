"""Verdict tables of the compiled evaluator and the pieces they are built from.

A ``SubjectTable`` holds the outcomes of one (direction, subject class); the
``Decider`` turns the set of rules matching a cell into an outcome with the
tier logic; the helpers compute port intervals and group equal rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from netwarden.engine.classes import ClassIndex, EndpointClass
from netwarden.engine.matching import entity_matches, resolve_named_port
from netwarden.engine.verdict import DirectionVerdict, Reason, rule_refs
from netwarden.model.endpoint import Endpoint, EndpointKind
from netwarden.model.inventory import CiliumConfig, EnforcementMode
from netwarden.model.ports import MAX_PORT, PortSpec, Protocol
from netwarden.model.rule import (
    Action,
    Direction,
    Entity,
    EntityPeer,
    Isolation,
    Rule,
    RuleRef,
    Tier,
)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
PROTOCOLS = (Protocol.TCP, Protocol.UDP, Protocol.SCTP)
PROTO_INDEX = {p: i for i, p in enumerate(PROTOCOLS)}
T = TypeVar("T")


@dataclass
class SubjectTable:
    """Outcome ids for one (direction, subject class), factorized.

    ``lut[row_group[peer_class], col_group[port_column]]`` is the outcome id.
    Rows (peer classes) and columns (port intervals x protocol) with the same
    set of matching rules share a group, so the table is small even when the
    cluster has thousands of classes.
    """

    rules: list[Rule]
    bounds: IntArray  # sorted interval starts, bounds[0] == 0
    row_group: npt.NDArray[np.int32]  # per peer class
    col_group: npt.NDArray[np.int32]  # per port column
    lut: npt.NDArray[np.int32]  # (row groups, column groups) -> outcome id
    row_patterns: dict[bytes, int]  # rule bitmask of a row group -> its index
    col_bits: npt.NDArray[np.uint64]  # (column groups, words)
    decider: Decider
    exact_rows: bool  # egress named ports: groups hold whole rows of cells

    @property
    def n_rows(self) -> int:
        return len(self.row_group)

    def column(self, port: int, protocol: Protocol) -> int:
        pi = PROTO_INDEX.get(protocol)
        if pi is None:
            return len(self.col_group) - 1  # the "other protocol" column
        return pi * len(self.bounds) + int(np.searchsorted(self.bounds, port, "right")) - 1

    def columns(self, ports: IntArray, protos: IntArray) -> IntArray:
        n = len(self.bounds)
        idx = np.searchsorted(self.bounds, ports, "right") - 1
        out = protos * n + idx
        return np.where(protos < len(PROTOCOLS), out, len(self.col_group) - 1)

    def cell(self, row: int, column: int) -> int:
        return int(self.lut[self.row_group[row], self.col_group[column]])

    def cells(self, rows: IntArray, columns: IntArray) -> npt.NDArray[np.int32]:
        return self.lut[self.row_group[rows], self.col_group[columns]]


class Interner(Generic[T]):
    """Equal values get one small integer id; ``items[id]`` is the value."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self.ids: dict[T, int] = {}

    def intern(self, value: T) -> int:
        found = self.ids.get(value)
        if found is None:
            found = len(self.items)
            self.items.append(value)
            self.ids[value] = found
        return found


Outcomes = Interner[DirectionVerdict]


def interval_ends(bounds: IntArray) -> IntArray:
    """The last port of each elementary interval that starts at ``bounds[i]``."""
    ends = np.empty(len(bounds), dtype=np.int64)
    ends[:-1] = bounds[1:] - 1
    ends[-1] = MAX_PORT
    return ends


def entity_row(peer: EntityPeer, cls: EndpointClass, subject: Endpoint) -> bool:
    if peer.entity in (Entity.HOST, Entity.REMOTE_NODE):
        # The row's variant says whether the node is the subject's own.
        if cls.kind is not EndpointKind.HOST:
            return False
        return cls.key.local is (peer.entity is Entity.HOST)
    return entity_matches(peer.entity, cls.representative, subject)


def unique_rows(arr: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.uint64], IntArray]:
    """Distinct rows of a 2-D array and, for each row, the index of its distinct row."""
    reps, inv = group_rows(arr)
    return arr[reps], inv


def group_rows(arr: npt.NDArray[np.uint64]) -> tuple[IntArray, IntArray]:
    """Group equal rows: (index of one representative row per group, group of each row).

    All-zero rows (no rule matches: the common case for most peers of a
    subject) are grouped without sorting them.
    """
    n, width = arr.shape
    nonzero = arr.any(axis=1)
    idx = np.flatnonzero(nonzero)
    inv = np.zeros(n, dtype=np.int64)
    if len(idx) == 0:
        return np.zeros(1, dtype=np.int64), inv
    sub = arr[idx]
    if width == 1:
        _, first, sub_inv = np.unique(sub[:, 0], return_index=True, return_inverse=True)
    else:
        view = np.ascontiguousarray(sub).view(np.dtype((np.void, sub.dtype.itemsize * width)))
        _, first, sub_inv = np.unique(view.reshape(-1), return_index=True, return_inverse=True)
    reps = idx[first]
    if len(idx) == n:
        return reps, sub_inv.reshape(-1)
    zero_row = int(np.flatnonzero(~nonzero)[0])
    inv[idx] = sub_inv.reshape(-1) + 1
    return np.r_[zero_row, reps], inv


def rule_port_columns(
    rule: Rule, direction: Direction, subject: Endpoint, bounds: IntArray
) -> BoolArray:
    """Port columns a rule matches (named ports resolve on the subject for ingress)."""
    cols = np.zeros(len(PROTOCOLS) * len(bounds) + 1, dtype=bool)
    for spec in rule.ports:
        if spec.name is None:
            cols |= spec_columns(spec, bounds)
        elif direction is Direction.INGRESS:
            for proto, number in resolve_named_port(spec, subject):
                cols |= spec_columns(PortSpec(proto, number, number), bounds)
    return cols


def same_node_of(a: Endpoint, b: Endpoint) -> bool:
    return a.node_name is not None and a.node_name == b.node_name


TIER_ORDER = {Tier.ADMIN: 0, Tier.NAMESPACED: 1, Tier.BASELINE: 2}


def port_bounds(
    rules: list[Rule], direction: Direction, subject: Endpoint, classes: ClassIndex
) -> IntArray:
    points = {0}
    for rule in rules:
        for spec in rule.ports:
            if spec.name is None:
                points.add(spec.start)
                points.add(spec.end + 1)
            elif direction is Direction.INGRESS:
                for _, number in resolve_named_port(spec, subject):
                    points.update((number, number + 1))
            else:
                for number in classes.named_port_numbers(spec.name):
                    points.update((number, number + 1))
    return np.array(sorted(p for p in points if p <= MAX_PORT), dtype=np.int64)


def spec_columns(spec: PortSpec, bounds: IntArray) -> BoolArray:
    n_int = len(bounds)
    ends = interval_ends(bounds)
    in_range = (bounds >= spec.start) & (ends <= spec.end)
    cols = np.zeros(len(PROTOCOLS) * n_int + 1, dtype=bool)
    for pi, proto in enumerate(PROTOCOLS):
        if spec.matches_protocol(proto):
            cols[pi * n_int : (pi + 1) * n_int] = in_range
    if spec.protocol is Protocol.ANY and spec.all_ports:
        cols[-1] = True
    return cols


class Decider:
    """Decides one cell from the set of rules that match it (tier logic)."""

    def __init__(
        self,
        direction: Direction,
        subject: Endpoint,
        rules: list[Rule],
        isolations: list[Isolation],
        config: CiliumConfig,
        outcomes: Outcomes,
    ) -> None:
        self.direction = direction
        self.subject = subject
        self.rules = rules
        self.never = config.enforcement is EnforcementMode.NEVER
        self.always = (
            config.enforcement is EnforcementMode.ALWAYS and subject.kind is EndpointKind.POD
        )
        isolating = {RuleRef(i.policy, direction, -1, None, Action.DENY) for i in isolations}
        self.isolation_refs = tuple(sorted(isolating, key=str))
        self._outcomes = outcomes
        self._cache: dict[bytes, int] = {}

    def outcome_id(self, words: npt.NDArray[np.uint64]) -> int:
        key = words.tobytes()
        found = self._cache.get(key)
        if found is None:
            found = self._outcomes.intern(self.decide(words))
            self._cache[key] = found
        return found

    def decide(self, words: npt.NDArray[np.uint64]) -> DirectionVerdict:
        matched = [r for i, r in enumerate(self.rules) if (int(words[i // 64]) >> (i % 64)) & 1]
        d = self.direction
        pod = self.subject.kind is EndpointKind.POD
        for rule in matched:
            if rule.tier is Tier.ADMIN and pod:
                if rule.action is Action.PASS:
                    break
                reason = Reason.ADMIN_ALLOW if rule.action is Action.ALLOW else Reason.ADMIN_DENY
                return DirectionVerdict(
                    d, rule.action is Action.ALLOW, reason, Tier.ADMIN, (rule.ref(),)
                )
        if not self.never:
            ns = [r for r in matched if r.tier is Tier.NAMESPACED]
            denies = [r for r in ns if r.action is Action.DENY]
            if denies:
                return DirectionVerdict(
                    d, False, Reason.DENY_RULE, Tier.NAMESPACED, rule_refs(denies)
                )
            allows = [r for r in ns if r.action is Action.ALLOW]
            if allows:
                l7 = (
                    ()
                    if any(r.l7 is None for r in allows)
                    else tuple(r.l7 for r in allows if r.l7 is not None)
                )
                return DirectionVerdict(
                    d, True, Reason.ALLOW_RULE, Tier.NAMESPACED, rule_refs(allows), l7
                )
            if self.isolation_refs:
                return DirectionVerdict(
                    d, False, Reason.ISOLATED, Tier.NAMESPACED, self.isolation_refs
                )
            if self.always:
                return DirectionVerdict(d, False, Reason.ENFORCEMENT_ALWAYS, Tier.NAMESPACED)
        if pod:
            for rule in matched:
                if rule.tier is Tier.BASELINE:
                    if rule.action is Action.PASS:
                        break
                    allowed = rule.action is Action.ALLOW
                    reason = Reason.BASELINE_ALLOW if allowed else Reason.BASELINE_DENY
                    return DirectionVerdict(d, allowed, reason, Tier.BASELINE, (rule.ref(),))
        return DirectionVerdict(d, True, Reason.DEFAULT_ALLOW)


@dataclass(frozen=True)
class EndpointArrays:
    cls: IntArray
    local: IntArray
    node: IntArray
    enforced: BoolArray
    is_pod: BoolArray
    is_host: BoolArray
    uid: IntArray  # equal for the same endpoint


@dataclass(frozen=True)
class BatchResult:
    allowed: BoolArray
    egress: npt.NDArray[np.int32]
    ingress: npt.NDArray[np.int32]
    same_pod: BoolArray
