"""The agent's disk spool of flow batches: what was read from the cluster and not yet
acknowledged by the server.

One batch is one segment file, ``<seq>.<batch>.<flows>.ndjson.gz``: the batch's Hubble
JSON lines, gzip-compressed (the exact body the sender posts), ``seq`` a counter that
orders segments oldest first, ``batch`` the stable id the server sees in
``X-Netwarden-Batch`` (a resend after a crash carries the same id), ``flows`` the number
of lines. A segment is written to a temporary file, fsync'd, renamed into place and the
directory fsync'd, so after a crash a segment is either whole or absent; leftover
temporary files are removed on open. A segment is deleted only when the server
acknowledged it (:meth:`Spool.ack`).

The spool is bounded (``max_bytes`` of segment files): when a new segment makes it
exceed the bound, the oldest segments are dropped first (never the one the sender has in
flight), and the dropped batches and flows are counted. The counters survive a restart
(``dropped.json``), so the status the agent reports is cumulative.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SEGMENT = re.compile(r"^(\d{12})\.([0-9a-f]{32})\.(\d+)\.ndjson\.gz$")
TMP_PREFIX = ".tmp-"
COUNTERS = "dropped.json"
log = logging.getLogger("netwarden.agent")


@dataclass(frozen=True, slots=True, order=True)
class Segment:
    seq: int
    batch: str
    flows: int
    size: int

    @property
    def name(self) -> str:
        return f"{self.seq:012d}.{self.batch}.{self.flows}.ndjson.gz"


@dataclass(frozen=True, slots=True)
class SpoolStats:
    pending_batches: int
    pending_flows: int
    pending_bytes: int
    dropped_batches: int
    dropped_flows: int

    def to_dict(self) -> dict[str, int]:
        """The ``spool`` object of the agent's status report."""
        return {
            "pending_batches": self.pending_batches,
            "pending_flows": self.pending_flows,
            "dropped_batches": self.dropped_batches,
            "dropped_flows": self.dropped_flows,
        }


class Spool:
    """Segments on disk, oldest first. Thread-safe: one writer (``put``) and one sender
    (``claim`` / ``ack`` / ``release`` / ``reject``) at a time."""

    def __init__(
        self, directory: Path, max_bytes: int, *, fsync: bool = True, compresslevel: int = 1
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("the spool's bound is a positive number of bytes")
        self.directory = directory
        self.max_bytes = max_bytes
        self._fsync = fsync
        self._level = compresslevel
        self._cond = threading.Condition()
        self._segments: dict[int, Segment] = {}
        self._bytes = 0
        self._claimed: int | None = None
        self._dropped_batches = 0
        self._dropped_flows = 0
        self._last_seq = 0
        self._woken = False
        directory.mkdir(parents=True, exist_ok=True)
        self._recover()

    # --- writer ------------------------------------------------------------------------

    def put(self, lines: Sequence[bytes]) -> Segment | None:
        """Spool one batch; drops the oldest segments when the spool is over its bound
        afterwards. None for an empty batch, and for one that cannot be written (counted
        as dropped: the agent keeps running on a full disk)."""
        if not lines:
            return None
        body = gzip.compress(b"\n".join(lines) + b"\n", compresslevel=self._level, mtime=0)
        with self._cond:
            seq = self._last_seq = self._last_seq + 1
        segment = Segment(seq, uuid.uuid4().hex, len(lines), len(body))
        try:
            self._write_atomic(segment.name, body)
        except OSError as exc:  # disk full, read-only: the batch is lost, and counted
            log.warning("cannot spool %d flows, dropped: %s", len(lines), exc)
            with self._cond:
                self._dropped_batches += 1
                self._dropped_flows += len(lines)
            return None
        with self._cond:
            self._segments[seq] = segment
            self._bytes += segment.size
            self._enforce_bound()
            self._cond.notify_all()
        return segment

    def _enforce_bound(self) -> None:
        dropped = False
        for seq in sorted(self._segments):
            if self._bytes <= self.max_bytes:
                break
            if seq == self._claimed:
                continue
            segment = self._segments.pop(seq)
            self._bytes -= segment.size
            self._unlink(segment)
            self._dropped_batches += 1
            self._dropped_flows += segment.flows
            dropped = True
        if dropped:
            self._save_counters()

    # --- sender ------------------------------------------------------------------------

    def claim(self, timeout: float | None = None) -> Segment | None:
        """The oldest segment, marked in flight (it is not dropped while claimed); waits
        up to ``timeout`` for one. None when there is none (or one is claimed already)."""
        with self._cond:
            self._cond.wait_for(lambda: self._woken or self._claimable() is not None, timeout)
            self._woken = False
            segment = self._claimable()
            if segment is not None:
                self._claimed = segment.seq
            return segment

    def _claimable(self) -> Segment | None:
        if self._claimed is not None or not self._segments:
            return None
        return self._segments[min(self._segments)]

    def read(self, segment: Segment) -> bytes:
        """The segment's gzip-compressed body."""
        return (self.directory / segment.name).read_bytes()

    def ack(self, segment: Segment) -> None:
        """The server acknowledged the segment: delete it."""
        with self._cond:
            self._remove(segment)

    def release(self, segment: Segment) -> None:
        """Sending failed; the segment stays, first in line."""
        with self._cond:
            if self._claimed == segment.seq:
                self._claimed = None
            self._enforce_bound()
            self._cond.notify_all()

    def reject(self, segment: Segment) -> None:
        """The server refused the segment for good (it cannot decode it): delete it and
        count it as dropped, so one bad segment does not block the others."""
        with self._cond:
            if self._remove(segment):
                self._dropped_batches += 1
                self._dropped_flows += segment.flows
                self._save_counters()

    def _remove(self, segment: Segment) -> bool:
        if self._claimed == segment.seq:
            self._claimed = None
        found = self._segments.pop(segment.seq, None)
        if found is not None:
            self._bytes -= found.size
            self._unlink(found)
        self._cond.notify_all()
        return found is not None

    def wake(self) -> None:
        """Make a waiting ``claim`` (or the next one) return at once (at shutdown)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def stats(self) -> SpoolStats:
        with self._cond:
            return SpoolStats(
                pending_batches=len(self._segments),
                pending_flows=sum(s.flows for s in self._segments.values()),
                pending_bytes=self._bytes,
                dropped_batches=self._dropped_batches,
                dropped_flows=self._dropped_flows,
            )

    def segments(self) -> list[Segment]:
        with self._cond:
            return [self._segments[k] for k in sorted(self._segments)]

    # --- files -------------------------------------------------------------------------

    def _recover(self) -> None:
        for path in self.directory.iterdir():
            if path.name.startswith(TMP_PREFIX):
                path.unlink(missing_ok=True)
                continue
            match = SEGMENT.match(path.name)
            if match is None:
                continue
            seq, batch, flows = int(match[1]), match[2], int(match[3])
            segment = Segment(seq, batch, flows, path.stat().st_size)
            self._segments[seq] = segment
            self._bytes += segment.size
            self._last_seq = max(self._last_seq, seq)
        counters = self.directory / COUNTERS
        if counters.exists():
            try:
                saved = json.loads(counters.read_text())
                self._dropped_batches = int(saved["dropped_batches"])
                self._dropped_flows = int(saved["dropped_flows"])
            except (ValueError, KeyError, TypeError):
                pass  # a damaged counter file restarts the counts; the segments matter
        self._enforce_bound()

    def _save_counters(self) -> None:
        data = {"dropped_batches": self._dropped_batches, "dropped_flows": self._dropped_flows}
        self._write_atomic(COUNTERS, json.dumps(data).encode())

    def _write_atomic(self, name: str, data: bytes) -> None:
        write_atomic(self.directory / name, data, fsync=self._fsync)

    def _unlink(self, segment: Segment) -> None:
        (self.directory / segment.name).unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write ``path`` so that a crash leaves the old content or the new, never a part."""
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{uuid.uuid4().hex[:8]}")
    with open(tmp, "wb") as out:
        out.write(data)
        if fsync:
            out.flush()
            os.fsync(out.fileno())
    os.replace(tmp, path)
    if fsync:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
