"""The simulated backend: a cluster held in memory, enforced by the policy engine.

``SimulatedCluster`` implements :class:`~netwarden.agent.backend.Backend`. Its
inventory comes from a topology (``agent/topology.py``), made concrete by
``sim_inventory``; its policy objects live in ``sim_policy.PolicyObjects``; every
``apply`` (or live edit) rebuilds a World and a ``CompiledEngine``, decides every
traffic edge once (``sim_edges.decide``) and pre-encodes the Hubble lines each
connection produces (``traffic``). Between applies, generating flows only stamps times,
uuids and ports into those templates. Several clusters can live in one process: all
state is per instance. See ``docs/design/simulated-cluster.md``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from netwarden.agent.backend import Inventory, LiveObjects, ObjectRef, ObjectResult
from netwarden.agent.sim_edges import Edge, EdgeDecision, build_edges, decide
from netwarden.agent.sim_inventory import SimInventory, build_inventory, stable_hash
from netwarden.agent.sim_policy import (
    ALL_POLICY_KINDS,
    PolicyObjects,
    audit_mode,
    cilium_config,
)
from netwarden.agent.topology import Topology, load_topology
from netwarden.agent.traffic import Conversation, Generator, conversations
from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.explain import Explanation, explain_connection
from netwarden.engine.matching import HTTPRequest
from netwarden.engine.world import World
from netwarden.model.ports import Protocol

BATCHES_PER_SECOND = 5.0
MAX_CATCH_UP_NS = 5_000_000_000  # after a stall, generate at most 5 s of traffic at once


@dataclasses.dataclass(frozen=True, slots=True)
class EdgeVerdict:
    """What the engine decided for one edge, for tests, the demo and debugging."""

    label: str
    kind: str
    port: int
    protocol: str
    decision: EdgeDecision


class SimulatedCluster:
    """One simulated cluster (the ``Backend`` protocol), deterministic for a seed."""

    def __init__(
        self,
        topology: Topology,
        cluster: str,
        seed: int | None = None,
        *,
        rate: float | None = None,
        batches_per_second: float = BATCHES_PER_SECOND,
    ) -> None:
        self.cluster = cluster
        self.topology = topology
        self.seed = stable_hash("seed", cluster) % 2**32 if seed is None else seed
        self.batches_per_second = batches_per_second
        self._rate = topology.rate if rate is None else rate
        self._sim: SimInventory = build_inventory(topology, cluster)
        self._edges: list[Edge] = build_edges(topology, self._sim)
        supported = frozenset(topology.supported_kinds) or ALL_POLICY_KINDS
        self._objects = PolicyObjects(cluster, supported, topology.policies)
        self._settings: dict[str, str] = {}
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._generator = Generator(cluster, self.seed)
        self._verdicts: list[EdgeVerdict] = []
        self.world: World = World({}, [])
        self.recomputes = 0
        self._recompute()

    # ---- Backend ----------------------------------------------------------

    def apply(
        self, objects: Sequence[Mapping[str, Any]], settings: Mapping[str, str]
    ) -> list[ObjectResult]:
        with self._lock:
            results = self._objects.apply(objects)
            self._settings = dict(settings)
            self._recompute()
        return results

    def live_objects(self) -> LiveObjects:
        with self._lock:
            managed = {ref: copy.deepcopy(obj) for ref, obj in self._objects.managed.items()}
            return LiveObjects(managed=managed, unmanaged=sorted(self._objects.unmanaged))

    def inventory(self) -> Inventory:
        return self._sim.inventory(self._objects.supported)

    def flows(self, stop: threading.Event) -> Iterator[list[bytes]]:
        """Batches paced by the wall clock (``batches_per_second``) until ``stop`` is set."""
        interval = 1.0 / self.batches_per_second
        last = time.time_ns()
        carry = 0.0
        while not stop.is_set() and not self._closed.is_set():
            stop.wait(interval)
            if stop.is_set() or self._closed.is_set():
                return
            now = time.time_ns()
            span = min(now - last, MAX_CATCH_UP_NS)
            wanted = self.connection_rate() * span / 1e9 + carry
            count = int(wanted)
            carry = wanted - count
            yield self._generator.connections(count, now - span, span)
            last = now

    def close(self) -> None:
        self._closed.set()

    # ---- generation without pacing ----------------------------------------

    def connection_rate(self) -> float:
        """Connections per second: the calls' rates, scaled to the overall rate if set."""
        natural = self._generator.connection_rate
        if self._rate is None:
            return natural
        per = self._generator.flows_per_connection()
        return self._rate / per if per else 0.0

    def flow_rate(self) -> float:
        return self.connection_rate() * self._generator.flows_per_connection()

    def set_rate(self, flows_per_second: float | None) -> None:
        self._rate = flows_per_second

    def generate(self, n: int, start_ns: int | None = None) -> list[bytes]:
        """``n`` flow lines at once (no pacing), their times spread at the configured rate
        from ``start_ns`` (default: now). For benchmarks and tests."""
        start = time.time_ns() if start_ns is None else start_ns
        per = self._generator.flows_per_connection()
        rate = self.connection_rate()
        if n <= 0 or not per or not rate:
            return []
        out: list[bytes] = []
        while len(out) < n:
            count = max(1, math.ceil((n - len(out)) / per))
            span = int(count / rate * 1e9)
            out.extend(self._generator.connections(count, start, span))
            start += span
        del out[n:]
        return out

    # ---- the simulated cluster's own operations -----------------------------

    def edit_live(self, obj: Mapping[str, Any]) -> None:
        """Someone writes a policy object in the cluster (kubectl apply/edit): managed
        when it carries the ownership label, unmanaged otherwise. Simulates drift."""
        with self._lock:
            self._objects.put(obj)
            self._recompute()

    def delete_live(self, ref: ObjectRef) -> bool:
        """Someone deletes a policy object in the cluster; False if there was none."""
        with self._lock:
            found = self._objects.delete(ref)
            if found:
                self._recompute()
            return found

    def tamper(self, ref: ObjectRef, obj: Mapping[str, Any] | None) -> None:
        """Replace (``obj``) or delete (None) a live object: ``edit_live``/``delete_live``."""
        if obj is None:
            self.delete_live(ref)
        else:
            if ObjectRef.of(obj) != ref:
                self.delete_live(ref)
            self.edit_live(obj)

    def verdicts(self) -> list[EdgeVerdict]:
        """The engine's decision for every edge, as of the last apply or live edit."""
        return list(self._verdicts)

    def explain(
        self,
        source: str,
        destination: str,
        port: int,
        protocol: str = "TCP",
        http: tuple[str, str] | None = None,
        dns_name: str | None = None,
    ) -> Explanation:
        """The engine's trace for one connection (``ns/pod`` or IP on either side)."""
        world = self.world
        src = world.resolve(source)
        dst = world.resolve(destination, dns_name)
        request = HTTPRequest(http[0], http[1]) if http else None
        return explain_connection(world, src, dst, port, Protocol.parse(protocol), request)

    @property
    def settings(self) -> dict[str, str]:
        return dict(self._settings)

    @property
    def revision(self) -> int:
        return self._objects.revision

    def _recompute(self) -> None:
        engine_inv = self._sim.engine_inventory()
        engine_inv.config = cilium_config(self._settings)
        self.world = World({self.cluster: engine_inv}, self._objects.policies())
        engine = CompiledEngine(self.world)
        audit = audit_mode(self._settings)
        revision = self._objects.revision
        visible = self.topology.dns_visibility
        convs: list[Conversation] = []
        verdicts = []
        for edge in self._edges:
            decision = decide(edge, engine, self.cluster, revision, visible)
            verdicts.append(
                EdgeVerdict(edge.label, edge.kind, edge.port, edge.protocol.value, decision)
            )
            convs.extend(conversations(edge, decision, audit, self.cluster))
        self._verdicts = verdicts
        self._generator.load(convs)
        self.recomputes += 1


def load_simulated(path: str, cluster: str, seed: int | None = None) -> SimulatedCluster:
    """A simulated cluster from a topology file or directory; ``TopologyError`` (with
    located diagnostics) when the topology is invalid."""
    return SimulatedCluster(load_topology(Path(path)), cluster, seed)
