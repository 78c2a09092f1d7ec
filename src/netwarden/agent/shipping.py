"""Flow shipping: the reader thread moves the backend's flow batches into the disk spool,
the sender thread posts spooled batches to the server and deletes each one only after
the server acknowledged it.

The reader coalesces the backend's batches into spooled batches of at most
``batch_flows`` flows or ``batch_s`` seconds of reading (checked whenever the backend
yields, including its empty heartbeat batches); at shutdown it spools what it holds. A
backend whose flow source fails is restarted with backoff.

The sender sends the oldest batch first, one at a time, with its stable batch id: a
batch whose acknowledgement was lost (the server died after committing it) is sent again
after the reconnect and the server stores none of its flows twice. No answer or a 5xx:
retry the same batch with backoff. A 401/403/404: the agent stops. Any other refusal
(the batch does not decode, is too large): the batch is dropped and counted as dropped,
so one bad batch cannot block the spool.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from netwarden.agent.backend import Backend
from netwarden.agent.backoff import Backoff
from netwarden.agent.channel import AgentChannel, classify
from netwarden.agent.spool import Segment, Spool
from netwarden.agent.sync import Intervals
from netwarden.client.http import ApiError

log = logging.getLogger("netwarden.agent")
AckHook = Callable[[Segment, dict[str, Any]], None]


def read_flows(backend: Backend, spool: Spool, intervals: Intervals, stop: threading.Event) -> None:
    """The reader thread: backend flows -> spool, until ``stop``."""
    backoff = Backoff(intervals.backoff_base_s, intervals.backoff_cap_s)
    pending: list[bytes] = []
    while not stop.is_set():
        started = time.monotonic()
        try:
            for batch in backend.flows(stop):
                if batch and not pending:
                    started = time.monotonic()
                pending.extend(batch)
                full = len(pending) >= intervals.batch_flows
                if pending and (full or time.monotonic() - started >= intervals.batch_s):
                    spool.put(pending)
                    pending = []
                    backoff.reset()
                if stop.is_set():
                    break
        except Exception as exc:  # the flow source failed: keep what was read, restart
            log.warning("reading flows failed: %s", exc)
            if pending:
                spool.put(pending)
                pending = []
            backoff.wait(stop)
    if pending:
        spool.put(pending)


class Sender:
    """The sender thread: spool -> ``POST /api/v1/clusters/{cluster}/flows``."""

    def __init__(
        self,
        cluster: str,
        channel: AgentChannel,
        spool: Spool,
        intervals: Intervals,
        stop: threading.Event,
        fail: Callable[[str, ApiError | None], None],
        on_ack: AckHook | None = None,
    ) -> None:
        self.cluster = cluster
        self.channel = channel
        self.spool = spool
        self.stop = stop
        self.fail = fail
        self.on_ack = on_ack
        self.backoff = Backoff(intervals.backoff_base_s, intervals.backoff_cap_s)
        self.acked_batches = 0
        self.acked_flows = 0
        self.failures = 0

    def run(self) -> None:
        while not self.stop.is_set():
            segment = self.spool.claim(timeout=1.0)
            if segment is None:
                continue
            try:
                self.send(segment)
            finally:
                self.spool.release(segment)

    def send(self, segment: Segment) -> None:
        """Send one claimed segment: acknowledged, rejected, or left for a retry."""
        try:
            body = self.spool.read(segment)
            ack = self.channel.push_flows(self.cluster, body, segment.batch)
        except FileNotFoundError:  # removed under us (cannot happen while claimed)
            self.spool.ack(segment)
            return
        except ApiError as exc:
            self._failed(segment, exc)
            return
        self.spool.ack(segment)
        self.backoff.reset()
        self.acked_batches += 1
        self.acked_flows += segment.flows
        if self.on_ack is not None:
            self.on_ack(segment, ack)

    def _failed(self, segment: Segment, exc: ApiError) -> None:
        outcome = classify(exc)
        if outcome == "fatal":
            self.fail("flows", exc)
        elif outcome == "reject":
            log.warning("the server refused flow batch %s, dropped: %s", segment.batch, exc)
            self.spool.reject(segment)
        else:
            self.failures += 1
            if self.failures == 1 or self.backoff.attempt == 0:
                log.warning("sending flows failed, retrying with backoff: %s", exc)
            self.spool.release(segment)
            self.backoff.wait(self.stop)
