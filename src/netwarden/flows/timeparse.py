"""Times in flow queries: RFC 3339, or a Go-style duration before now (``5m``, ``1h30m``).

Shared by ``netwarden flows`` and the HTTP API, so ``--since 1h`` means the same in both.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")
_DURATIONS = re.compile(r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d))+")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86_400.0,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_duration(text: str) -> bool:
    return _DURATIONS.fullmatch(text.strip()) is not None


def duration_seconds(text: str) -> float:
    """``1h30m`` -> 5400.0; ValueError when ``text`` is not a duration."""
    value = text.strip()
    if not is_duration(value):
        raise ValueError(f"{text!r} is not a duration (5m, 1h30m, 7d)")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(value))


def parse_time(text: str, now: datetime | None = None) -> int:
    """RFC 3339 time or a duration before ``now`` -> nanoseconds since the epoch.

    Raises ValueError with a message fit for the user.
    """
    value = text.strip()
    if is_duration(value):
        moment = (now or datetime.now(UTC)) - timedelta(seconds=duration_seconds(value))
    else:
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ValueError(
                f"{text!r} is neither an RFC 3339 time nor a duration (5m, 1h)"
            ) from None
        if moment.tzinfo is None:
            raise ValueError(f"{text!r} has no time zone (add Z or +00:00)")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
