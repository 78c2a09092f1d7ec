"""The compiled evaluator: per-subject verdict tables, scalar and batch lookups.

For each (direction, subject class) the engine builds a table indexed by
(peer class, port class) whose cells are ids of interned outcomes
(DirectionVerdict values that carry the deciding tier and rules). Port classes
are the elementary intervals of the subject's own rules' ports, per protocol.
Cells are computed in bulk: each rule's peer mask x port mask sets one bit of a
per-cell rule bitmask; every distinct bitmask is decided once.

Tables are built on first use (``compile_all`` builds every one) and extended
row by row when new endpoint classes appear. A policy change drops only the
tables of the subjects the old or new policy selects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from netwarden.engine.classes import ClassIndex
from netwarden.engine.matching import HTTPRequest, l7_allows, resolve_named_port
from netwarden.engine.reference import precheck
from netwarden.engine.tables import (
    PROTO_INDEX,
    PROTOCOLS,
    TIER_ORDER,
    BatchResult,
    BoolArray,
    Decider,
    EndpointArrays,
    IntArray,
    Outcomes,
    SubjectTable,
    entity_row,
    group_rows,
    port_bounds,
    rule_port_columns,
    same_node_of,
    spec_columns,
    unique_rows,
)
from netwarden.engine.verdict import DirectionVerdict, Reason, Verdict
from netwarden.engine.world import World
from netwarden.model.endpoint import Endpoint, EndpointKind
from netwarden.model.ports import PortSpec, Protocol
from netwarden.model.rule import (
    AnyPeer,
    CIDRPeer,
    Direction,
    EntityPeer,
    FQDNPeer,
    Isolation,
    NormalizedPolicy,
    Peer,
    PolicyRef,
    Rule,
    SelectorPeer,
)
from netwarden.sources.gcpause import no_cycle_collection

_ENFORCED = frozenset({EndpointKind.POD, EndpointKind.HOST})


class CompiledEngine:
    """Fast verdicts over a World; incrementally updatable."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.generation = 0
        self._outcomes = Outcomes()
        self._allowed_cache: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        with no_cycle_collection():
            self._set_policies(world.policies)

    # ---- construction and updates -----------------------------------------

    def _set_policies(self, policies: Sequence[NormalizedPolicy]) -> None:
        self.policies = {p.ref: p for p in policies}
        self._rules = [r for p in policies for r in p.rules]
        self._isolations = [i for p in policies for i in p.isolations]
        cidrs: dict[CIDRPeer, None] = {}
        fqdns: dict[FQDNPeer, None] = {}
        for rule in self._rules:
            for peer in rule.peers:
                if isinstance(peer, CIDRPeer):
                    cidrs[peer] = None
                elif isinstance(peer, FQDNPeer):
                    fqdns[peer] = None
        old = getattr(self, "classes", None)
        self.classes = ClassIndex(list(cidrs), list(fqdns))
        self._cidr_ids = {c: i for i, c in enumerate(self.classes.cidrs)}
        self._fqdn_ids = {f: i for i, f in enumerate(self.classes.fqdns)}
        self._tables: dict[tuple[Direction, int], SubjectTable] = {}
        self._subject_rules: dict[tuple[Direction, int], list[Rule]] = {}
        self._index: dict[int, list[Rule]] = {}
        self._index_generation = -1
        self._peer_cache: dict[tuple[int, str], BoolArray] = {}
        self._shared: dict[tuple[object, ...], SubjectTable] = {}
        self._port_cache: dict[tuple[object, ...], BoolArray] = {}
        self._iso_index: dict[int, list[Isolation]] = {}
        self._iso_generation = -1
        self._iso_classes = 0
        if old is not None:
            for cls in old.classes:
                if not cls.key.local:
                    self.classes.class_of(cls.representative)
        for ep in self.world.endpoints():
            self.classes.class_of(ep)
        self.generation += 1

    def update_policies(
        self, add: Iterable[NormalizedPolicy] = (), remove: Iterable[PolicyRef] = ()
    ) -> int:
        """Add/replace and remove policies; returns the number of tables dropped."""
        added = list(add)
        removed = set(remove) | {p.ref for p in added}
        touched_old = [self.policies[r] for r in removed if r in self.policies]
        policies = [p for r, p in self.policies.items() if r not in removed] + added
        new_peers = any(
            isinstance(peer, CIDRPeer | FQDNPeer)
            for p in (*added, *touched_old)
            for r in p.rules
            for peer in r.peers
        )
        self.world = World(self.world.clusters, policies)
        if new_peers:
            # CIDR/FQDN peers change the class partition: rebuild it.
            self._set_policies(policies)
            return -1
        self.policies = {p.ref: p for p in policies}
        self._rules = [r for p in policies for r in p.rules]
        self._isolations = [i for p in policies for i in p.isolations]
        subjects: set[int] = set()
        for policy in (*touched_old, *added):
            for sel in [r.subject for r in policy.rules] + [i.subject for i in policy.isolations]:
                subjects |= self.classes.selected(sel)
                subjects |= {self.classes.local_variant(c) for c in self.classes.selected(sel)}
        dropped = 0
        for key in list(self._tables):
            if key[1] in subjects:
                del self._tables[key]
                self._subject_rules.pop(key, None)
                dropped += 1
        self._subject_rules = {k: v for k, v in self._subject_rules.items() if k[1] not in subjects}
        self._peer_cache.clear()  # keyed by rule identity
        self._shared.clear()
        self.generation += 1
        return dropped

    def update_world(self, world: World) -> int:
        """Swap in a new inventory (pods added/removed/relabelled, namespace labels).

        Tables depend only on policies and endpoint classes, so they stay valid:
        endpoints new to the partition add classes (and rows, on next use).
        Returns the number of classes added. Agent settings (cilium-config)
        changes rebuild everything.
        """
        configs_changed = any(
            world.config(name) != self.world.config(name)
            for name in set(world.clusters) | set(self.world.clusters)
        )
        self.world = World(world.clusters, list(self.policies.values()))
        if configs_changed:
            self._set_policies(list(self.policies.values()))
            return -1
        before = len(self.classes)
        for ep in world.endpoints():
            self.classes.class_of(ep)
        return len(self.classes) - before

    def add_endpoint(self, ep: Endpoint) -> int:
        """Register an endpoint (a new pod, say); returns its class id."""
        return self.classes.class_of(ep)

    def compile_all(self) -> int:
        """Build every table of every pod and node class; returns how many."""
        with no_cycle_collection():
            return self._compile_all()

    def _compile_all(self) -> int:
        count = 0
        for cls in list(self.classes.classes):
            if cls.kind in _ENFORCED and not cls.key.local:
                for direction in Direction:
                    self._table(direction, cls.id)
                    count += 1
        return count

    # ---- scalar lookups ---------------------------------------------------

    def verdict(
        self,
        src: Endpoint,
        dst: Endpoint,
        port: int,
        protocol: Protocol,
        http: HTTPRequest | None = None,
    ) -> Verdict:
        egress = self.direction(Direction.EGRESS, src, dst, dst, port, protocol, http)
        ingress = self.direction(Direction.INGRESS, dst, src, dst, port, protocol, http)
        return Verdict(src, dst, port, protocol, egress, ingress)

    def direction(
        self,
        direction: Direction,
        subject: Endpoint,
        peer: Endpoint,
        destination: Endpoint,
        port: int,
        protocol: Protocol,
        http: HTTPRequest | None = None,
    ) -> DirectionVerdict:
        pre = precheck(direction, subject, peer)
        if pre is not None:
            return pre
        sid = self.classes.class_of(subject)
        pid = self.classes.class_of(peer)
        if peer.kind is EndpointKind.HOST and same_node_of(peer, subject):
            pid = self.classes.local_variant(pid)
        table = self._table(direction, sid)
        if pid >= table.n_rows:
            table = self._extend(direction, sid, table)
        outcome = self._outcomes.items[table.cell(pid, table.column(port, protocol))]
        if outcome.l7 and http is not None and not l7_allows(list(outcome.l7), http):
            return DirectionVerdict(
                direction, False, Reason.L7_DENIED, outcome.tier, outcome.rules, outcome.l7
            )
        return outcome

    # ---- batch lookups ----------------------------------------------------

    def classify(self, endpoints: Sequence[Endpoint]) -> EndpointArrays:
        """Class ids and node/pod ids of endpoints, for batch evaluation."""
        nodes: dict[str, int] = {}
        uids: dict[tuple[object, ...], int] = {}
        n = len(endpoints)
        uid = np.empty(n, dtype=np.int64)
        cls = np.empty(n, dtype=np.int64)
        local = np.empty(n, dtype=np.int64)
        node = np.empty(n, dtype=np.int64)
        enforced = np.empty(n, dtype=bool)
        is_pod = np.empty(n, dtype=bool)
        is_host = np.empty(n, dtype=bool)
        for i, ep in enumerate(endpoints):
            cid = self.classes.class_of(ep)
            cls[i] = cid
            local[i] = self.classes.local_variant(cid)
            node[i] = nodes.setdefault(ep.node_name, len(nodes)) if ep.node_name else -1 - i
            enforced[i] = ep.kind in _ENFORCED
            is_pod[i] = ep.kind is EndpointKind.POD
            is_host[i] = ep.kind is EndpointKind.HOST
            key = (ep.kind, ep.cluster, ep.namespace, ep.name, ep.ip)
            uid[i] = uids.setdefault(key, len(uids))
        return EndpointArrays(cls, local, node, enforced, is_pod, is_host, uid)

    def batch(
        self, eps: EndpointArrays, src: IntArray, dst: IntArray, ports: IntArray, protos: IntArray
    ) -> BatchResult:
        """Verdicts for many connections given as indexes into ``eps``.

        ``protos`` holds indexes into (TCP, UDP, SCTP); 3 means another protocol.
        """
        same_pod = (eps.uid[src] == eps.uid[dst]) & eps.is_pod[src]
        egress = self._batch_direction(Direction.EGRESS, eps, src, dst, ports, protos)
        ingress = self._batch_direction(Direction.INGRESS, eps, dst, src, ports, protos)
        allowed_of = self._allowed_array()
        allowed = (allowed_of[egress] & allowed_of[ingress]) | same_pod
        return BatchResult(allowed, egress, ingress, same_pod)

    def subject_table(self, direction: Direction, sid: int) -> SubjectTable:
        """The table of a subject class, with rows for every class known now."""
        table = self._table(direction, sid)
        if table.n_rows < len(self.classes):
            table = self._extend(direction, sid, table)
        return table

    def rules_selecting(self, direction: Direction, sid: int) -> list[Rule]:
        """Rules whose subject selects a class, in evaluation order (tier, priority)."""
        return list(self._rules_for(direction, sid))

    def allowed_outcomes(self) -> BoolArray:
        """Outcome id -> allowed."""
        return self._allowed_array()

    def outcome(self, outcome_id: int) -> DirectionVerdict:
        return self._outcomes.items[outcome_id]

    def _allowed_array(self) -> npt.NDArray[np.bool_]:
        if len(self._allowed_cache) != len(self._outcomes.items):
            self._allowed_cache = np.array([o.allowed for o in self._outcomes.items], dtype=bool)
        return self._allowed_cache

    def _batch_direction(
        self,
        direction: Direction,
        eps: EndpointArrays,
        subj: IntArray,
        peer: IntArray,
        ports: IntArray,
        protos: IntArray,
    ) -> npt.NDArray[np.int32]:
        out = np.empty(len(subj), dtype=np.int32)
        not_enforced = self._outcomes.intern(DirectionVerdict(direction, True, Reason.NOT_ENFORCED))
        own_node = self._outcomes.intern(DirectionVerdict(direction, True, Reason.OWN_NODE))
        s_cls = eps.cls[subj]
        same_node = eps.node[subj] == eps.node[peer]
        p_rows = np.where(eps.is_host[peer] & same_node, eps.local[peer], eps.cls[peer])
        order = np.argsort(s_cls, kind="stable")
        sorted_cls = s_cls[order]
        starts = np.flatnonzero(np.r_[True, sorted_cls[1:] != sorted_cls[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            idx = order[start:end]
            sid = int(sorted_cls[start])
            if self.classes.classes[sid].kind not in _ENFORCED:
                out[idx] = not_enforced
                continue
            table = self._table(direction, sid)
            rows = p_rows[idx]
            if rows.max() >= table.n_rows:
                table = self._extend(direction, sid, table)
            out[idx] = table.cells(rows, table.columns(ports[idx], protos[idx]))
        pod_subject = eps.is_pod[subj]
        out[pod_subject & eps.is_host[peer] & same_node] = own_node
        self_id = self._outcomes.intern(DirectionVerdict(direction, True, Reason.SELF))
        out[pod_subject & (eps.uid[subj] == eps.uid[peer])] = self_id
        return out

    def matrix(self, pods: Sequence[Endpoint], port: int, protocol: Protocol) -> BoolArray:
        """Allowed[i, j] for every pair of endpoints, computed once per class pair."""
        eps = self.classify(pods)
        n = len(pods)
        proto = PROTO_INDEX.get(protocol, len(PROTOCOLS))
        if eps.is_host.any():
            # Nodes: the own-node exception depends on the pair, not the classes.
            src, dst = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
            ports = np.full(n * n, port, dtype=np.int64)
            protos = np.full(n * n, proto, dtype=np.int64)
            return self.batch(eps, src, dst, ports, protos).allowed.reshape(n, n)
        _, first, inverse = np.unique(eps.cls, return_index=True, return_inverse=True)
        k = len(first)
        reps = np.concatenate([first, first])
        pair_eps = EndpointArrays(
            eps.cls[reps],
            eps.local[reps],
            np.arange(-1, -2 * k - 1, -1),  # no node: never "own node"
            eps.enforced[reps],
            eps.is_pod[reps],
            eps.is_host[reps],
            np.arange(2 * k),  # distinct endpoints: a class pair is two different pods
        )
        src, dst = np.repeat(np.arange(k), k), k + np.tile(np.arange(k), k)
        ports = np.full(k * k, port, dtype=np.int64)
        protos = np.full(k * k, proto, dtype=np.int64)
        by_class = self.batch(pair_eps, src, dst, ports, protos).allowed.reshape(k, k)
        inverse = inverse.reshape(-1)
        allowed = by_class[inverse][:, inverse]
        np.fill_diagonal(allowed, True)  # a pod reaching itself
        return allowed

    # ---- table construction -----------------------------------------------

    def _rules_for(self, direction: Direction, sid: int) -> list[Rule]:
        key = (direction, sid)
        found = self._subject_rules.get(key)
        if found is None:
            index = self._rule_index()
            candidates = index.get(sid)
            if candidates is None:  # a class that appeared after the index was built
                candidates = [r for r in self._rules if sid in self.classes.selected(r.subject)]
                index[sid] = candidates
            found = [r for r in candidates if r.direction is direction]
            found.sort(key=lambda r: (TIER_ORDER[r.tier], r.order_key))
            self._subject_rules[key] = found
        return found

    def _rule_index(self) -> dict[int, list[Rule]]:
        """Class id -> rules whose subject selects it (built once per policy generation)."""
        if self._index_generation != self.generation:
            index: dict[int, list[Rule]] = {c.id: [] for c in self.classes.classes}
            for rule in self._rules:
                for cid in self.classes.selected(rule.subject):
                    index[cid].append(rule)
            self._index = index
            self._index_generation = self.generation
        return self._index

    def _isolations_for(self, direction: Direction, sid: int) -> list[Isolation]:
        if self._iso_generation != self.generation:
            index: dict[int, list[Isolation]] = {}
            for iso in self._isolations:
                for cid in self.classes.selected(iso.subject):
                    index.setdefault(cid, []).append(iso)
            self._iso_index = index
            self._iso_generation = self.generation
            self._iso_classes = len(self.classes)
        if sid >= self._iso_classes and sid not in self._iso_index:
            # A class that appeared after the index was built.
            self._iso_index[sid] = [
                i for i in self._isolations if sid in self.classes.selected(i.subject)
            ]
        return [i for i in self._iso_index.get(sid, []) if i.direction is direction]

    def _table(self, direction: Direction, sid: int) -> SubjectTable:
        table = self._tables.get((direction, sid))
        if table is None:
            key = self._share_key(direction, sid)
            table = self._shared.get(key)
            if table is None:
                table = self._build(direction, sid)
                self._shared[key] = table
            self._tables[(direction, sid)] = table
        return table

    def _share_key(self, direction: Direction, sid: int) -> tuple[object, ...]:
        """Subjects with the same rules, isolations, cluster, kind and (for ingress named
        ports) container ports have identical tables: build one, share it."""
        rules = self._rules_for(direction, sid)
        subject = self.classes.classes[sid].representative
        named = direction is Direction.INGRESS and any(p.name for r in rules for p in r.ports)
        return (
            direction,
            tuple(id(r) for r in rules),
            tuple(id(i) for i in self._isolations_for(direction, sid)),
            subject.cluster,
            subject.kind,
            subject.named_ports if named else (),
        )

    def _build(self, direction: Direction, sid: int) -> SubjectTable:
        """Compute a subject's table.

        Each cell's matching rules form a bitmask: the peer bits of its row AND
        the port bits of its column (plus per-row port bits for egress named
        ports, which resolve on each destination). Rows and columns with equal
        patterns are grouped and each distinct combination is decided once.
        """
        rules = self._rules_for(direction, sid)
        subject = self.classes.classes[sid].representative
        bounds = port_bounds(rules, direction, subject, self.classes)
        n_rows = len(self.classes)
        n_cols = len(PROTOCOLS) * len(bounds) + 1
        words = max(1, (len(rules) + 63) // 64)
        row_bits = np.zeros((n_rows, words), dtype=np.uint64)
        col_bits = np.zeros((n_cols, words), dtype=np.uint64)
        named_bits: npt.NDArray[np.uint64] | None = None
        bounds_key = bounds.tobytes()
        for i, rule in enumerate(rules):
            word, bit = i // 64, np.uint64(1 << (i % 64))
            # Column bits are set even for rules that match no peer yet: rows
            # added later (new classes) combine with them.
            col_bits[self._port_columns(rule, direction, subject, bounds, bounds_key), word] |= bit
            peer_mask = self._rule_peer_mask(rule, subject)
            if not peer_mask.any():
                continue
            row_bits[peer_mask, word] |= bit
            if direction is Direction.EGRESS and any(p.name for p in rule.ports):
                if named_bits is None:
                    named_bits = np.zeros((n_rows, n_cols, words), dtype=np.uint64)
                named = self._named_egress_columns(rule, peer_mask, bounds)
                named_bits[named, word] |= bit
        decider = Decider(
            direction,
            subject,
            rules,
            self._isolations_for(direction, sid),
            self.world.config(subject.cluster),
            self._outcomes,
        )
        if named_bits is not None:
            return self._exact_table(rules, bounds, decider, row_bits, col_bits, named_bits)
        r_uniq, r_inv = unique_rows(row_bits)
        c_uniq, c_inv = unique_rows(col_bits)
        lut = np.empty((len(r_uniq), len(c_uniq)), dtype=np.int32)
        for ri, r in enumerate(r_uniq):
            for ci, c in enumerate(c_uniq):
                lut[ri, ci] = decider.outcome_id(r & c)
        patterns = {r.tobytes(): ri for ri, r in enumerate(r_uniq)}
        return SubjectTable(
            rules,
            bounds,
            r_inv.astype(np.int32),
            c_inv.astype(np.int32),
            lut,
            patterns,
            c_uniq,
            decider,
            False,
        )

    def _exact_table(
        self,
        rules: list[Rule],
        bounds: IntArray,
        decider: Decider,
        row_bits: npt.NDArray[np.uint64],
        col_bits: npt.NDArray[np.uint64],
        named_bits: npt.NDArray[np.uint64],
    ) -> SubjectTable:
        """A table with egress named ports: a cell's bits are (row & column) | named[row, col]."""
        n_rows, n_cols, _words = named_bits.shape
        col_sig = np.concatenate(
            [col_bits, named_bits.transpose(1, 0, 2).reshape(n_cols, -1)], axis=1
        )
        c_reps, c_inv = group_rows(col_sig)
        row_sig = np.concatenate([row_bits, named_bits[:, c_reps, :].reshape(n_rows, -1)], axis=1)
        r_reps, r_inv = group_rows(row_sig)
        lut = np.empty((len(r_reps), len(c_reps)), dtype=np.int32)
        for gi, r in enumerate(r_reps.tolist()):
            for ci, c in enumerate(c_reps.tolist()):
                bits = (row_bits[r] & col_bits[c]) | named_bits[r, c]
                lut[gi, ci] = decider.outcome_id(bits)
        return SubjectTable(
            rules,
            bounds,
            r_inv.astype(np.int32),
            c_inv.astype(np.int32),
            lut,
            {},
            col_bits[c_reps],
            decider,
            True,
        )

    def _extend(self, direction: Direction, sid: int, table: SubjectTable) -> SubjectTable:
        """Add rows for classes that appeared after the table was built.

        The table is updated in place, so every subject sharing it sees the rows.
        """
        subject = self.classes.classes[sid].representative
        bounds = port_bounds(table.rules, direction, subject, self.classes)
        if table.exact_rows or not np.array_equal(bounds, table.bounds):
            fresh = self._build(direction, sid)
            table.__dict__.update(fresh.__dict__)
            return table
        words = table.col_bits.shape[1]
        rows = np.arange(table.n_rows, len(self.classes), dtype=np.int64)
        row_bits = np.zeros((len(rows), words), dtype=np.uint64)
        for i, rule in enumerate(table.rules):
            mask = self._rule_peer_mask(rule, subject)[rows]
            row_bits[mask, i // 64] |= np.uint64(1 << (i % 64))
        lut_rows = [table.lut]
        groups = np.empty(len(rows), dtype=np.int32)
        patterns = table.row_patterns
        for k, bits in enumerate(row_bits):
            key = bits.tobytes()
            group = patterns.get(key)
            if group is None:
                group = len(patterns)
                patterns[key] = group
                ids = [table.decider.outcome_id(bits & c) for c in table.col_bits]
                lut_rows.append(np.array([ids], dtype=np.int32))
            groups[k] = group
        table.row_group = np.concatenate([table.row_group, groups])
        table.lut = np.vstack(lut_rows)
        return table

    def _port_columns(
        self, rule: Rule, direction: Direction, subject: Endpoint, bounds: IntArray, key: bytes
    ) -> BoolArray:
        """Port columns of a rule (cached: tables with the same bounds share them)."""
        named = any(p.name for p in rule.ports) and direction is Direction.INGRESS
        cache_key = (rule.ports, key, subject.named_ports if named else ())
        found = self._port_cache.get(cache_key)
        if found is None:
            found = rule_port_columns(rule, direction, subject, bounds)
            self._port_cache[cache_key] = found
        return found

    def _named_egress_columns(
        self, rule: Rule, peer_mask: BoolArray, bounds: IntArray
    ) -> BoolArray:
        n_cols = len(PROTOCOLS) * len(bounds) + 1
        out = np.zeros((len(peer_mask), n_cols), dtype=bool)
        named = [s for s in rule.ports if s.name is not None]
        for r_i in np.flatnonzero(peer_mask).tolist():
            dest = self.classes.classes[r_i].representative
            if dest.kind is EndpointKind.WORLD:
                continue
            for spec in named:
                for proto, number in resolve_named_port(spec, dest):
                    out[r_i] |= spec_columns(PortSpec(proto, number, number), bounds)
        return out

    def _rule_peer_mask(self, rule: Rule, subject: Endpoint) -> BoolArray:
        """Peer classes a rule matches (cached per rule and subject cluster)."""
        key = (id(rule), subject.cluster)
        n = len(self.classes)
        found = self._peer_cache.get(key)
        if found is None or len(found) != n:
            found = np.zeros(n, dtype=bool)
            for peer in rule.peers:
                found |= self._peer_mask(peer, subject)
            self._peer_cache[key] = found
        return found

    def _peer_mask(self, peer: Peer, subject: Endpoint) -> BoolArray:
        """Which classes (rows) the peer matches, from the subject's point of view."""
        classes = self.classes
        if isinstance(peer, AnyPeer):
            return np.ones(len(classes), dtype=bool)
        if isinstance(peer, SelectorPeer):
            return classes.mask(peer.selector, lambda: classes.selected(peer.selector))
        if isinstance(peer, CIDRPeer):
            cid = self._cidr_ids[peer]
            return classes.mask(
                ("cidr", cid), lambda: {c.id for c in classes.classes if cid in c.key.cidrs}
            )
        if isinstance(peer, FQDNPeer):
            fid = self._fqdn_ids[peer]
            return classes.mask(
                ("fqdn", fid), lambda: {c.id for c in classes.classes if fid in c.key.fqdns}
            )
        assert isinstance(peer, EntityPeer)
        key = ("entity", peer.entity, subject.cluster)
        return classes.mask(
            key, lambda: {c.id for c in classes.classes if entity_row(peer, c, subject)}
        )
