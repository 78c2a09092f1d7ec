"""Hubble Relay -> batches of ``hubble observe -o json`` lines, for the agent's flow thread.

A reader thread follows ``GetFlows`` through :class:`netwarden.flows.hubble_client.HubbleClient`
with its retry (a lost connection is resumed from the newest flow time, repeats
dropped); any other failure (Relay rejecting the request, an internal error) and a
stream that simply ends are resubscribed here with backoff, from the same point and
with the same de-duplication. Flows go through a bounded queue (when the agent cannot
ship them fast enough, the reader waits and Relay's ring buffer holds the rest), and
the caller gets a batch every ``interval`` seconds or every ``batch_size`` flows,
empty batches included (heartbeats).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from netwarden.flows.flowencode import flow_to_json
from netwarden.flows.hubble_client import Backoff, FlowSubscription, HubbleClient, HubbleError
from netwarden.model.flow import Flow

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
INTERVAL = 1.0  # seconds between batches (at most)
QUEUE_BOUND = 20_000
_TICK = 0.25  # longest wait before looking at ``stop`` again


def flow_line(flow: Flow) -> bytes:
    """One ``hubble observe -o json`` line: ``{"flow": ..., "node_name": ..., "time": ...}``."""
    body = flow_to_json(flow)
    document: dict[str, object] = {"flow": body}
    if flow.node_name:
        document["node_name"] = flow.node_name
    if "time" in body:
        document["time"] = body["time"]
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass(slots=True)
class RelayStats:
    flows: int = 0
    subscriptions: int = 0  # GetFlows calls made here (the client's own retries not counted)
    reconnects: int = 0  # the client's retries in finished subscriptions (see .reconnects)
    events_lost: int = 0  # lost-events notices from Hubble
    last_error: str = ""


class RelayFlows:
    """Follows one Hubble Relay; :meth:`batches` is the backend's ``flows(stop)``."""

    def __init__(
        self,
        client: HubbleClient,
        *,
        batch_size: int = BATCH_SIZE,
        interval: float = INTERVAL,
        retry: Backoff | None = None,
    ) -> None:
        self.client = client
        self.batch_size = batch_size
        self.interval = interval
        self.retry = retry or Backoff(initial=0.5, maximum=30.0, attempts=None)
        self.stats = RelayStats()
        self._queue: queue.Queue[bytes] = queue.Queue(QUEUE_BOUND)
        self._lock = threading.Lock()
        self._subscription: FlowSubscription | None = None
        self._last_time: int | None = None
        self._at_last_time: set[Flow] = set()

    @property
    def reconnects(self) -> int:
        """Reconnections so far: finished subscriptions' and the current one's."""
        with self._lock:
            current = self._subscription
            return self.stats.reconnects + (current.reconnects if current else 0)

    def batches(self, stop: threading.Event) -> Iterator[list[bytes]]:
        reader = threading.Thread(
            target=self._read, args=(stop,), name="netwarden-hubble", daemon=True
        )
        reader.start()
        try:
            while not stop.is_set():
                yield self._batch(stop)
        finally:
            self._cancel(stop)
            reader.join(5.0)

    def _batch(self, stop: threading.Event) -> list[bytes]:
        batch: list[bytes] = []
        deadline = time.monotonic() + self.interval
        while len(batch) < self.batch_size and not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=min(remaining, _TICK)))
            except queue.Empty:
                continue
        return batch

    def _cancel(self, stop: threading.Event) -> None:
        stop.set()
        with self._lock:
            subscription = self._subscription
        if subscription is not None:
            subscription.cancel()

    def _read(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                delivered = self._follow(stop)
            except HubbleError as exc:
                delivered = False
                self.stats.last_error = str(exc)
                log.warning("Hubble Relay: %s", exc)
            if stop.is_set():
                return
            failures = 0 if delivered else failures + 1
            stop.wait(self.retry.delay(max(1, failures)))

    def _follow(self, stop: threading.Event) -> bool:
        """One subscription until it ends; True when it delivered flows."""
        subscription = self.client.get_flows(follow=True, since=self._last_time, retry=self.retry)
        with self._lock:
            self._subscription = subscription
        if stop.is_set():
            subscription.cancel()
        self.stats.subscriptions += 1
        delivered = False
        try:
            for flow in subscription:
                if self._repeat(flow):
                    continue
                if not self._put(flow_line(flow), stop):
                    break
                delivered = True
                self.stats.flows += 1
        finally:
            with self._lock:
                self.stats.reconnects += subscription.reconnects
                self.stats.events_lost += subscription.events_lost
                self._subscription = None
            subscription.cancel()
        return delivered

    def _repeat(self, flow: Flow) -> bool:
        """After a resubscription from ``since``: drop the flows already delivered at
        exactly the newest time (the client does the same for its own retries)."""
        at = flow.time
        if at is None:
            return False
        if self._last_time is None or at > self._last_time:
            self._last_time, self._at_last_time = at, {flow}
        elif at == self._last_time:
            if self.stats.subscriptions > 1 and flow in self._at_last_time:
                return True
            self._at_last_time.add(flow)
        return False

    def _put(self, line: bytes, stop: threading.Event) -> bool:
        while not stop.is_set():
            try:
                self._queue.put(line, timeout=_TICK)
                return True
            except queue.Full:
                continue
        return False


def heartbeats(stop: threading.Event, interval: float = INTERVAL) -> Iterator[list[bytes]]:
    """Empty batches every ``interval`` until ``stop``: the flows of a cluster without Relay."""
    while not stop.wait(interval):
        yield []
