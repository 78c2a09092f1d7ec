"""Exponential backoff with jitter and a cap, for every reconnecting loop of the agent.

The n-th consecutive failure waits a delay drawn from ``[ceiling/2, ceiling]`` where
``ceiling = min(cap, base * factor**n)`` ("equal jitter"): the wait grows exponentially,
never exceeds ``cap``, never collapses to zero, and agents that lost the server at the same
moment spread their reconnects over half the window instead of arriving together.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


def backoff_delay(
    attempt: int, *, base: float, cap: float, factor: float = 2.0, rng: random.Random
) -> float:
    """The wait before retry number ``attempt`` (0 for the first retry)."""
    if attempt < 0:
        raise ValueError("attempt is 0 or more")
    ceiling = cap if attempt >= 64 else min(cap, base * factor**attempt)
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass
class Backoff:
    """The retry state of one loop: ``failed()`` gives the next delay, ``reset()`` after a
    success starts over from ``base``."""

    base: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def failed(self) -> float:
        delay = backoff_delay(
            self.attempt, base=self.base, cap=self.cap, factor=self.factor, rng=self.rng
        )
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0

    def wait(self, stop: threading.Event) -> bool:
        """Sleep the next delay unless ``stop`` is set first; True when stopped."""
        return stop.wait(self.failed())
