"""Timing helpers and plain-text tables for the benchmark report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float


def timed(fn: Callable[[], T]) -> tuple[T, Timing]:
    """Run ``fn`` once; its result and wall/CPU time of this process."""
    c0, w0 = time.process_time(), time.perf_counter()
    result = fn()
    w1, c1 = time.perf_counter(), time.process_time()
    return result, Timing(w1 - w0, c1 - c0)


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 100:
        return f"{seconds:,.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_rate(per_s: float) -> str:
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f} M/s"
    if per_s >= 1e3:
        return f"{per_s / 1e3:.1f} k/s"
    return f"{per_s:.0f} /s"


def fmt_n(n: float) -> str:
    return f"{n:,.0f}"


@dataclass
class Table:
    """Rows of (section, metric, value, cpu, note); printed with aligned columns."""

    title: str
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _section: str = ""

    def note(self, text: str) -> None:
        """A line printed under the title, before the rows."""
        self.notes.append(text)

    def add(self, section: str, metric: str, value: str, cpu: str = "", note: str = "") -> None:
        shown = section if section != self._section else ""
        self._section = section
        self.rows.append((shown, metric, value, cpu, note))

    def add_timing(self, section: str, metric: str, t: Timing, note: str = "") -> None:
        self.add(section, metric, fmt_s(t.wall_s), fmt_s(t.cpu_s), note)

    def render(self) -> str:
        header = ("", "", "wall", "cpu", "check / note")
        rows = [header, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [f"== {self.title} ==", *(f"   {n}" for n in self.notes)]
        for r in rows:
            cells = [
                r[0].ljust(widths[0]),
                r[1].ljust(widths[1]),
                r[2].rjust(widths[2]),
                r[3].rjust(widths[3]),
            ]
            lines.append(("  ".join(cells) + "  " + r[4]).rstrip())
        return "\n".join(lines)


@dataclass
class Grid:
    """A table with its own column headers: first column left-aligned, the rest
    right-aligned except the last (a note)."""

    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        if len(cells) != len(self.header):
            raise ValueError(f"{len(cells)} cells for {len(self.header)} columns")
        self.rows.append(tuple(cells))

    def render(self) -> str:
        rows = [self.header, *self.rows]
        last = len(self.header) - 1
        widths = [max(len(r[i]) for r in rows) for i in range(last)]
        lines = [f"== {self.title} =="]
        for r in rows:
            cells = [r[0].ljust(widths[0]), *(r[i].rjust(widths[i]) for i in range(1, last))]
            lines.append(("  ".join(cells) + "  " + r[last]).rstrip())
        return "\n".join(lines)


def check_note(ok: int, total: int, what: str) -> str:
    mark = "ok" if ok == total else "CHECK FAILED"
    return f"{mark}: {what} {ok}/{total}"


def as_json(value: Any) -> Any:
    """Timings and tuples in a JSON-friendly shape."""
    if isinstance(value, Timing):
        return {"wall_s": round(value.wall_s, 6), "cpu_s": round(value.cpu_s, 6)}
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value
