"""The sync thread: the only thread that calls the backend's control methods (``apply``,
``live_objects``, ``inventory``). It applies each desired state the poll thread hands
over, checks drift, keeps the server's inventory current and reports status.

Timers (all from :class:`Intervals`): a drift check every ``drift_s`` (and right after
every apply), an inventory check every ``drift_s`` that sends when the inventory changed
or ``inventory_s`` passed, a status report every ``heartbeat_s`` and at once after an
apply, a restore, or a change of the drift found. A failed report is retried with
backoff; a 401/403/404 stops the agent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netwarden.agent.backend import Backend, ObjectRef, ObjectResult
from netwarden.agent.backoff import Backoff
from netwarden.agent.channel import AgentChannel, DesiredState, classify, route_missing
from netwarden.agent.drift import Drift, compare
from netwarden.agent.inventory import digest, inventory_body
from netwarden.agent.spool import Spool
from netwarden.agent.state import AgentState, load_state, save_state
from netwarden.client.http import ApiError

log = logging.getLogger("netwarden.agent")


@dataclass(frozen=True, slots=True)
class Intervals:
    heartbeat_s: float = 15.0
    drift_s: float = 10.0
    inventory_s: float = 300.0  # re-send the inventory at least this often
    poll_wait_s: float = 30.0
    batch_flows: int = 5000  # a spooled batch holds at most this many flows...
    batch_s: float = 0.5  # ...or the flows read in this long
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0


class Mailbox:
    """The newest desired state not yet taken (the poll thread puts, the sync thread
    takes; an older one not taken yet is superseded)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: DesiredState | None = None
        self._woken = False

    def put(self, item: DesiredState) -> None:
        with self._cond:
            self._item = item
            self._cond.notify_all()

    def take(self, timeout: float) -> DesiredState | None:
        with self._cond:
            self._cond.wait_for(lambda: self._woken or self._item is not None, max(timeout, 0))
            self._woken = False
            item, self._item = self._item, None
            return item

    def wake(self) -> None:
        """Make a waiting ``take`` (or the next one) return at once (at shutdown)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()


@dataclass
class SyncStatus:
    """What the sync thread last did (read by tests and the CLI's log lines)."""

    applied: DesiredState | None = None
    applies: int = 0
    results: list[dict[str, str]] = field(default_factory=list)
    drift: list[dict[str, str]] = field(default_factory=list)
    unmanaged: list[dict[str, str]] = field(default_factory=list)
    reports: int = 0
    inventories: int = 0
    cilium_version: str = ""


class Syncer:
    def __init__(
        self,
        backend: Backend,
        channel: AgentChannel,
        spool: Spool,
        state_dir: Path,
        intervals: Intervals,
        stop: threading.Event,
        fail: Callable[[str, ApiError | None], None],
    ) -> None:
        self.backend = backend
        self.channel = channel
        self.spool = spool
        self.state_dir = state_dir
        self.intervals = intervals
        self.stop = stop
        self.fail = fail
        self.status = SyncStatus()
        self._restored: dict[ObjectRef, dict[str, str]] = {}
        self._failed_apply = False
        self._inventory_digest = ""
        self._inventory_sent = float("-inf")
        self._inventory_unsupported = False
        self._report_backoff = Backoff(intervals.backoff_base_s, intervals.backoff_cap_s)
        self._report_due = 0.0

    # --- the loop ----------------------------------------------------------------------

    def run(self, first: DesiredState, mailbox: Mailbox) -> None:
        self.start(first)
        now = time.monotonic()
        drift_due = now + self.intervals.drift_s
        while not self.stop.is_set():
            wait = min(drift_due, self._report_due) - time.monotonic()
            desired = mailbox.take(wait)
            if self.stop.is_set():
                return
            if desired is not None:
                self._apply(desired)
                self._check_drift()
                self._report_due = 0.0
            now = time.monotonic()
            if now >= drift_due:
                if self._failed_apply and self.status.applied is not None:
                    self._apply(self.status.applied)
                if self._check_drift():
                    self._report_due = 0.0
                self._check_inventory()
                drift_due = time.monotonic() + self.intervals.drift_s
            if time.monotonic() >= self._report_due:
                self.report()

    def start(self, first: DesiredState) -> None:
        """Apply ``first`` unless the saved state says it is applied already; then check
        drift, send the inventory and report."""
        saved = load_state(self.state_dir)
        if (
            saved is not None
            and saved.cluster == first.cluster
            and saved.generation == first.generation
        ):
            log.info("generation %d was applied before the restart", first.generation)
            self.status.applied = first
            self.status.results = saved.results
        else:
            self._apply(first)
        self._check_drift()
        self._check_inventory()
        self.report()

    # --- steps -------------------------------------------------------------------------

    def _apply(self, desired: DesiredState) -> None:
        try:
            results = self.backend.apply(desired.objects, desired.settings)
        except Exception as exc:  # a backend failure must not stop the agent
            log.warning("applying generation %d failed: %s", desired.generation, exc)
            results = [ObjectResult(ObjectRef.of(o), "failed", str(exc)) for o in desired.objects]
        self.status.applied = desired
        self.status.applies += 1
        self.status.results = [r.to_dict() for r in results]
        self._failed_apply = any(r.status != "applied" for r in results)
        log.info(
            "applied generation %d: %d objects, %d failed",
            desired.generation,
            len(results),
            sum(r.status == "failed" for r in results),
        )
        if not self._failed_apply:
            state = AgentState(desired.cluster, desired.generation, self.status.results)
            save_state(self.state_dir, state)

    def _check_drift(self) -> bool:
        """Compare the live managed objects with the applied ones; restore when the
        settings say so. True when what is reported changed."""
        applied = self.status.applied
        if applied is None:
            return False
        try:
            live = self.backend.live_objects()
        except Exception as exc:
            log.warning("reading the cluster's policy objects failed: %s", exc)
            return False
        found = compare(applied.objects, live.managed)
        unmanaged = [ref.to_dict() for ref in sorted(live.unmanaged)]
        if found and applied.settings.get("drift") == "restore":
            self._restore(applied, found)
            found = []
        before = (self.status.drift, self.status.unmanaged)
        self.status.drift = [d.to_dict() for d in found]
        self.status.unmanaged = unmanaged
        return (self.status.drift, self.status.unmanaged) != before or bool(self._restored)

    def _restore(self, applied: DesiredState, found: list[Drift]) -> None:
        log.info("restoring %d drifted objects", len(found))
        self._apply(applied)
        for drift in found:
            self._restored[drift.ref] = drift.to_dict(restored=True)

    def _check_inventory(self) -> None:
        try:
            inventory = self.backend.inventory()
        except Exception as exc:
            log.warning("reading the cluster's inventory failed: %s", exc)
            return
        self.status.cilium_version = inventory.cilium_version
        body = inventory_body(inventory)
        found = digest(body)
        age = time.monotonic() - self._inventory_sent
        if found == self._inventory_digest and age < self.intervals.inventory_s:
            return
        try:
            answer = self.channel.send_inventory(body)
        except ApiError as exc:
            if route_missing(exc):
                if not self._inventory_unsupported:
                    log.warning("the server does not accept inventory (%s)", exc.status)
                self._inventory_unsupported = True
                self._inventory_digest, self._inventory_sent = found, time.monotonic()
            elif classify(exc) == "fatal":
                self.fail("inventory", exc)
            else:
                log.warning("sending the inventory failed: %s", exc)
            return
        self._inventory_digest, self._inventory_sent = found, time.monotonic()
        self.status.inventories += 1
        log.info("inventory sent: %s namespaces", answer.get("namespaces", "?"))

    def report_body(self) -> dict[str, Any]:
        applied = self.status.applied
        drift = [*self._restored.values(), *self.status.drift]
        return {
            "generation": applied.generation if applied is not None else 0,
            "objects": self.status.results,
            "drift": drift,
            "unmanaged": self.status.unmanaged,
            "cilium_version": self.status.cilium_version,
            "spool": self.spool.stats().to_dict(),
        }

    def report(self) -> None:
        body = self.report_body()
        try:
            self.channel.report_status(body)
        except ApiError as exc:
            outcome = classify(exc)
            if outcome == "fatal":
                self.fail("status", exc)
                return
            log.warning("reporting status failed: %s", exc)
            if outcome == "retry":
                self._report_due = time.monotonic() + self._report_backoff.failed()
                return
        else:
            self.status.reports += 1
            self._restored.clear()
        self._report_backoff.reset()
        self._report_due = time.monotonic() + self.intervals.heartbeat_s
