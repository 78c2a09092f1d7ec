"""Live tail: stream matching flows to subscribers as they are ingested.

Ingestion calls :meth:`LiveHub.publish` after a batch is committed; it never waits for a
subscriber. Each :class:`Subscription` has a bounded buffer: when a slow reader lets it
fill, the oldest flows are dropped and counted, and the reader is told how many it lost
(``LiveBatch.lost``) the next time it reads, like Hubble's ``lost_events``.

A subscription filters with its caller's :class:`FlowScope` first (a flow outside it is
never queued), then with ``hubble observe`` whitelist/blacklist filters. Readers either
block (:meth:`Subscription.get`, threads) or await (:meth:`Subscription.aget`, asyncio:
the HTTP server's server-sent events).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from netwarden.flows.filter_core import FlowFilter, compile_filters
from netwarden.flows.scope import FlowScope
from netwarden.model.flow import Flow

# Flows a subscriber may fall behind by before it is told it lost some: a few seconds at
# thousands of flows per second, and more than one group commit of agents' batches
# (several 5,000-flow pushes published at once).
DEFAULT_BUFFER = 16_384


@dataclass(frozen=True, slots=True)
class LiveBatch:
    """What a reader gets: the flows queued since its last read, and how many it lost."""

    flows: tuple[tuple[str, Flow], ...]  # (cluster, flow)
    lost: int


class Subscription:
    """One live reader: scope and filters, and a bounded buffer of (cluster, flow)."""

    def __init__(
        self,
        hub: LiveHub,
        scope: FlowScope,
        whitelist: Sequence[FlowFilter],
        blacklist: Sequence[FlowFilter],
        buffer: int,
    ) -> None:
        if buffer < 1:
            raise ValueError("buffer must be at least 1")
        self._hub = hub
        self.scope = scope
        self._allow = compile_filters(whitelist)
        self._deny = compile_filters(blacklist)
        self._queue: deque[tuple[str, Flow]] = deque(maxlen=buffer)
        self._lost = 0
        self.lost_total = 0
        self._ready = threading.Condition()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.closed = False

    def offer(self, cluster: str, flows: Sequence[Flow]) -> None:
        """Queue the flows this subscriber may and wants to see; never blocks for long."""
        keep = [(cluster, f) for f in flows if self._wants(cluster, f)]
        if not keep:
            return
        with self._ready:
            overflow = len(self._queue) + len(keep) - (self._queue.maxlen or 0)
            if overflow > 0:
                self._lost += overflow
                self.lost_total += overflow
            self._queue.extend(keep)  # a full deque drops from the left: oldest first
            self._ready.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def _wants(self, cluster: str, flow: Flow) -> bool:
        if not self.scope.sees_flow(flow, cluster):
            return False
        if self._allow and not any(p(flow) for p in self._allow):
            return False
        return not any(p(flow) for p in self._deny)

    def drain(self) -> LiveBatch:
        """Everything queued now (possibly nothing), without waiting."""
        with self._ready:
            return self._take()

    def _take(self) -> LiveBatch:
        batch = LiveBatch(tuple(self._queue), self._lost)
        self._queue.clear()
        self._lost = 0
        return batch

    def get(self, timeout: float | None = None) -> LiveBatch:
        """Wait (up to ``timeout`` seconds) until something is queued, then take it all."""
        with self._ready:
            if not self._queue and not self._lost and not self.closed:
                self._ready.wait(timeout)
            return self._take()

    async def aget(self, timeout: float | None = None) -> LiveBatch:
        """``get`` for asyncio readers (the event loop is never blocked)."""
        event = asyncio.Event()
        with self._ready:
            if self._queue or self._lost or self.closed:
                return self._take()
            self._waiters.append((asyncio.get_running_loop(), event))
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        return self.drain()

    def close(self) -> None:
        self._hub.unsubscribe(self)
        with self._ready:
            self.closed = True
            self._ready.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)


class LiveHub:
    """Fan-out of ingested flows to the current subscriptions."""

    def __init__(self, *, buffer: int = DEFAULT_BUFFER) -> None:
        self.buffer = buffer
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()
        self.on_lost: Callable[[int], None] | None = None

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def subscribe(
        self,
        scope: FlowScope,
        whitelist: Sequence[FlowFilter] = (),
        blacklist: Sequence[FlowFilter] = (),
        *,
        buffer: int | None = None,
    ) -> Subscription:
        """A new reader; filters are checked here (``FilterError`` for a bad one)."""
        sub = Subscription(self, scope, whitelist, blacklist, buffer or self.buffer)
        with self._lock:
            self._subscriptions.append(sub)
        return sub

    @contextmanager
    def subscription(
        self,
        scope: FlowScope,
        whitelist: Sequence[FlowFilter] = (),
        blacklist: Sequence[FlowFilter] = (),
        *,
        buffer: int | None = None,
    ) -> Iterator[Subscription]:
        sub = self.subscribe(scope, whitelist, blacklist, buffer=buffer)
        try:
            yield sub
        finally:
            sub.close()

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)

    def publish(self, cluster: str, flows: Sequence[Flow]) -> None:
        """Offer a committed batch to every subscriber (each filters for itself)."""
        if not flows:
            return
        with self._lock:
            subscriptions = list(self._subscriptions)
        for sub in subscriptions:
            before = sub.lost_total
            sub.offer(cluster, flows)
            if self.on_lost is not None and sub.lost_total > before:
                self.on_lost(sub.lost_total - before)
