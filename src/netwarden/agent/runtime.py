"""The agent runtime: one agent per cluster, four threads around a backend.

- poll: long-polls ``GET /api/v1/agent/desired-state?after=<generation>&wait=S`` and
  hands each new desired state to the sync thread (a server whose generation went
  backwards, a reset database, is answered by fetching the whole state again);
- sync (:mod:`netwarden.agent.sync`): applies, checks drift, sends inventory, reports
  status and heartbeats; the only thread calling the backend's control methods;
- reader and sender (:mod:`netwarden.agent.shipping`): backend flows -> disk spool ->
  server, deleted from the spool only when acknowledged.

Every network loop retries with exponential backoff with jitter and a cap, so the agent
rides out a server restart: the cluster keeps what was applied, flows accumulate in the
spool (bounded, oldest dropped first and counted). A 401/403 (token revoked) or 404
(cluster deleted) stops the agent with a message (:attr:`Agent.fatal`). :meth:`Agent.stop`
(the CLI calls it on SIGTERM/SIGINT) stops the threads and keeps the spool. See
``docs/design/agent.md``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from netwarden.agent.backend import Backend
from netwarden.agent.backoff import Backoff
from netwarden.agent.channel import (
    AgentChannel,
    DesiredState,
    Fatal,
    classify,
    fatal_message,
)
from netwarden.agent.shipping import AckHook, Sender, read_flows
from netwarden.agent.spool import Spool
from netwarden.agent.sync import Intervals, Mailbox, Syncer
from netwarden.client.http import ApiError

log = logging.getLogger("netwarden.agent")
DEFAULT_SPOOL_MAX_MB = 256
JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class AgentConfig:
    server: str
    token: str
    spool_dir: Path
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_MB * 1024 * 1024
    intervals: Intervals = field(default_factory=Intervals)
    fsync: bool = True


def connect(config: AgentConfig, stop: threading.Event) -> DesiredState | None:
    """The cluster's current desired state (which names the cluster), retrying with
    backoff until the server answers; None when ``stop`` was set first. Raises
    :class:`Fatal` when the server refuses the token or the cluster is gone."""
    intervals = config.intervals
    backoff = Backoff(intervals.backoff_base_s, intervals.backoff_cap_s)
    channel = AgentChannel(config.server, config.token)
    try:
        while not stop.is_set():
            try:
                return channel.desired_state(0, 0)
            except ApiError as exc:
                if classify(exc) != "retry":
                    raise Fatal(fatal_message(exc) if exc.status else str(exc)) from None
                log.warning("cannot reach the server yet, retrying: %s", exc)
            if backoff.wait(stop):
                return None
        return None
    finally:
        channel.close()


class Agent:
    """One cluster's agent. ``run()`` blocks until :meth:`stop` or a fatal error."""

    def __init__(
        self,
        config: AgentConfig,
        backend: Backend,
        first: DesiredState,
        *,
        on_ack: AckHook | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """``first``: the desired state :func:`connect` returned. ``on_ack`` is called
        with each acknowledged batch and the server's answer; ``stop``: an event that
        stops the agent when set (shared with the caller's signal handlers)."""
        self.config = config
        self.backend = backend
        self.cluster = first.cluster
        self.first = first
        self.stop_event = stop if stop is not None else threading.Event()
        self.fatal: str | None = None
        self.spool = Spool(config.spool_dir, config.spool_max_bytes, fsync=config.fsync)
        self.mailbox = Mailbox()
        intervals = config.intervals
        self._channels = [
            AgentChannel(config.server, config.token) for _ in ("poll", "sync", "send")
        ]
        self.syncer = Syncer(
            backend,
            self._channels[1],
            self.spool,
            config.spool_dir,
            intervals,
            self.stop_event,
            self._fail,
        )
        self.sender = Sender(
            self.cluster,
            self._channels[2],
            self.spool,
            intervals,
            self.stop_event,
            self._fail,
            on_ack,
        )
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def run(self) -> str | None:
        """Run until stopped; the fatal error's message, or None after a clean stop."""
        targets: dict[str, Callable[[], None]] = {
            "sync": lambda: self.syncer.run(self.first, self.mailbox),
            "reader": lambda: read_flows(
                self.backend, self.spool, self.config.intervals, self.stop_event
            ),
            "sender": self.sender.run,
        }
        self._threads = [
            threading.Thread(target=self._guard(name, fn), name=f"agent-{name}")
            for name, fn in targets.items()
        ]
        # The poll thread may sit in a long poll when the agent stops; it holds no state,
        # so it is a daemon that the stop does not wait for.
        poll = threading.Thread(
            target=self._guard("poll", self._poll), name="agent-poll", daemon=True
        )
        for thread in [*self._threads, poll]:
            thread.start()
        log.info("agent of cluster %s running", self.cluster)
        self.stop_event.wait()
        self.mailbox.wake()
        self.spool.wake()
        for thread in self._threads:
            thread.join(JOIN_TIMEOUT_S)
        poll.join(0.5)
        for channel in self._channels[1:]:
            channel.close()
        return self.fatal

    def stop(self) -> None:
        self.stop_event.set()

    def _fail(self, where: str, error: ApiError | None) -> None:
        message = fatal_message(error) if error is not None else where
        with self._lock:
            if self.fatal is None:
                self.fatal = message
                log.error("stopping: %s", message)
        self.stop_event.set()

    def _guard(self, name: str, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Exception as exc:
                log.exception("the %s thread failed", name)
                self._fail(f"internal error in the {name} thread: {exc}", None)

        return run

    def _poll(self) -> None:
        try:
            self._poll_loop(self._channels[0])
        finally:
            self._channels[0].close()

    def _poll_loop(self, channel: AgentChannel) -> None:
        intervals = self.config.intervals
        backoff = Backoff(intervals.backoff_base_s, intervals.backoff_cap_s)
        known = self.first.generation
        while not self.stop_event.is_set():
            try:
                state = channel.desired_state(known, intervals.poll_wait_s)
                if not state.changed and state.generation < known:
                    log.warning("the server's generation went back to %d", state.generation)
                    state = channel.desired_state(0, 0)
            except ApiError as exc:
                if classify(exc) == "fatal":
                    self._fail("desired state", exc)
                    return
                log.warning("polling the desired state failed: %s", exc)
                backoff.wait(self.stop_event)
                continue
            backoff.reset()
            if state.changed or state.generation != known:
                known = state.generation
                self.mailbox.put(state)
