"""cProfile a call and summarize where its time goes (self time and inclusive time)."""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_CODE_ROOTS = ("/src/netwarden/", "/site-packages/", "/lib/python3")


@dataclass(frozen=True)
class Entry:
    function: str
    calls: int
    self_s: float
    inclusive_s: float


@dataclass(frozen=True)
class Profile:
    title: str
    wall_s: float  # under the profiler
    total_s: float  # profiler's total
    by_self: list[Entry]
    by_inclusive: list[Entry]

    def render(self, top: int = 12) -> str:
        lines = [f"-- profile: {self.title} (cProfile; {self.wall_s:.2f} s under the profiler)"]
        lines.append("   self%   self s  incl%   incl s      calls  function (by self time)")
        lines += [self._line(e) for e in self.by_self[:top]]
        lines.append("   self%   self s  incl%   incl s      calls  function (by inclusive time)")
        lines += [self._line(e) for e in self.by_inclusive[:top]]
        return "\n".join(lines)

    def _line(self, e: Entry) -> str:
        total = self.total_s or 1.0
        return (
            f"  {100 * e.self_s / total:5.1f}% {e.self_s:8.3f} {100 * e.inclusive_s / total:5.1f}%"
            f" {e.inclusive_s:8.3f} {e.calls:10,d}  {e.function}"
        )

    def to_json(self, top: int = 20) -> dict[str, Any]:
        def rows(entries: list[Entry]) -> list[dict[str, Any]]:
            return [
                {
                    "function": e.function,
                    "calls": e.calls,
                    "self_s": round(e.self_s, 4),
                    "self_pct": round(100 * e.self_s / (self.total_s or 1.0), 1),
                    "inclusive_s": round(e.inclusive_s, 4),
                    "inclusive_pct": round(100 * e.inclusive_s / (self.total_s or 1.0), 1),
                }
                for e in entries[:top]
            ]

        return {
            "title": self.title,
            "wall_s": round(self.wall_s, 3),
            "by_self": rows(self.by_self),
            "by_inclusive": rows(self.by_inclusive),
        }


def _name(key: tuple[str, int, str]) -> str:
    filename, line, func = key
    if filename == "~":
        return func  # a builtin, e.g. {method 'get' of 'dict' objects}
    for root in _CODE_ROOTS:
        at = filename.find(root)
        if at >= 0:
            filename = filename[at + len(root) :]
            break
    return f"{filename}:{line}({func})"


def profile_call(title: str, fn: Callable[[], Any]) -> Profile:
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(prof)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = stats.stats  # type: ignore[attr-defined]
    entries = [
        Entry(_name(key), int(nc), float(tt), float(ct)) for key, (_, nc, tt, ct, _) in raw.items()
    ]
    entries = [e for e in entries if "profile_call" not in e.function]
    # Percentages are of the profiled call's own time (the largest inclusive time).
    total = max([float(stats.total_tt), *(e.inclusive_s for e in entries)])  # type: ignore[attr-defined]
    by_self = sorted(entries, key=lambda e: e.self_s, reverse=True)
    skip = ("<lambda>", "tests/bench/")
    by_incl = sorted(
        (e for e in entries if not any(s in e.function for s in skip)),
        key=lambda e: e.inclusive_s,
        reverse=True,
    )
    return Profile(title, wall, total, by_self, by_incl)
