"""The disk spool: order, bounds (oldest dropped first, never the batch in flight),
atomic segments, and resuming after a restart."""

from __future__ import annotations

import gzip
import json
import os
import threading
from pathlib import Path

import pytest

from netwarden.agent import spool as spool_module
from netwarden.agent.spool import Spool


def lines(tag: str, n: int, width: int = 40) -> list[bytes]:
    return [f'{{"flow":{{"uuid":"{tag}-{i}","pad":"{"x" * width}"}}}}'.encode() for i in range(n)]


def test_batches_come_back_oldest_first_and_whole(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    first = spool.put(lines("a", 3))
    second = spool.put(lines("b", 2))
    assert spool.put([]) is None
    assert first is not None and second is not None and first.seq < second.seq
    assert first.batch != second.batch
    claimed = spool.claim(timeout=0)
    assert claimed == first
    assert spool.claim(timeout=0) is None  # one batch in flight at a time
    assert gzip.decompress(spool.read(first)).splitlines() == lines("a", 3)
    spool.ack(first)
    assert spool.claim(timeout=0) == second
    stats = spool.stats()
    assert (stats.pending_batches, stats.pending_flows, stats.dropped_batches) == (1, 2, 0)
    spool.ack(second)
    assert spool.stats().pending_batches == 0 and spool.stats().pending_bytes == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".ndjson.gz")]


def test_a_release_keeps_the_batch_first_in_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    first = spool.put(lines("a", 1))
    spool.put(lines("b", 1))
    claimed = spool.claim(timeout=0)
    assert claimed == first
    spool.release(claimed)
    assert spool.claim(timeout=0) == first


def test_the_bound_drops_the_oldest_batches_first_and_counts_them(tmp_path: Path) -> None:
    probe = Spool(tmp_path / "probe", 1 << 20)
    size = probe.put(lines("p", 10)).size  # type: ignore[union-attr]
    spool = Spool(tmp_path / "s", max_bytes=size * 3 + size // 2)  # room for three
    put = [spool.put(lines(f"b{i}", 10)) for i in range(7)]
    kept = spool.segments()
    assert [s.seq for s in kept] == [s.seq for s in put[-3:] if s is not None]
    stats = spool.stats()
    assert stats.pending_bytes <= spool.max_bytes
    assert (stats.dropped_batches, stats.dropped_flows) == (4, 40)
    assert stats.to_dict() == {
        "pending_batches": 3, "pending_flows": 30, "dropped_batches": 4, "dropped_flows": 40,
    }  # fmt: skip
    on_disk = sorted(p.name for p in (tmp_path / "s").iterdir() if p.name.endswith(".gz"))
    assert on_disk == [s.name for s in kept]


def test_the_batch_in_flight_is_never_dropped(tmp_path: Path) -> None:
    probe = Spool(tmp_path / "probe", 1 << 20)
    size = probe.put(lines("p", 10)).size  # type: ignore[union-attr]
    spool = Spool(tmp_path / "s", max_bytes=size * 2 + size // 2)
    oldest = spool.put(lines("old", 10))
    claimed = spool.claim(timeout=0)
    assert claimed == oldest
    for i in range(5):
        spool.put(lines(f"n{i}", 10))
    assert oldest in spool.segments()
    assert gzip.decompress(spool.read(claimed)).splitlines() == lines("old", 10)
    spool.ack(claimed)
    assert spool.stats().dropped_batches == 4  # n0..n3 went instead
    assert [s.flows for s in spool.segments()] == [10]


def test_a_rejected_batch_is_deleted_and_counted_as_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    bad = spool.put(lines("bad", 4))
    claimed = spool.claim(timeout=0)
    assert claimed == bad
    spool.reject(claimed)
    stats = spool.stats()
    assert (stats.pending_batches, stats.dropped_batches, stats.dropped_flows) == (0, 1, 4)


def test_claim_waits_for_a_put(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(spool.claim(timeout=10)))
    waiter.start()
    put = spool.put(lines("x", 1))
    waiter.join(10)
    assert got == [put]


def test_wake_makes_a_waiting_claim_return(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(spool.claim(timeout=30)))
    waiter.start()
    spool.wake()
    waiter.join(5)
    assert not waiter.is_alive() and got == [None]
    spool.wake()  # a wake before the claim is not lost
    assert spool.claim(timeout=30) is None


def test_resume_after_a_restart(tmp_path: Path) -> None:
    probe = Spool(tmp_path / "probe", 1 << 20)
    size = probe.put(lines("p", 10)).size  # type: ignore[union-attr]
    bound = size * 3 + size // 2
    spool = Spool(tmp_path / "s", bound)
    put = [spool.put(lines(f"b{i}", 10)) for i in range(5)]  # two dropped
    acked = spool.claim(timeout=0)
    assert acked is not None
    spool.ack(acked)
    before = spool.segments()
    again = Spool(tmp_path / "s", bound)  # a new process on the same directory
    assert again.segments() == before
    assert [s.batch for s in again.segments()] == [s.batch for s in put[3:] if s is not None]
    stats = again.stats()
    assert (stats.pending_batches, stats.dropped_batches, stats.dropped_flows) == (2, 2, 20)
    new = again.put(lines("after", 1))
    assert new is not None and new.seq > max(s.seq for s in before)
    assert again.claim(timeout=0) == before[0]


def test_resume_after_all_batches_were_acknowledged_keeps_counting_up(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    first = spool.put(lines("a", 1))
    assert first is not None
    spool.ack(first)
    second = spool.put(lines("b", 1))
    assert second is not None and second.seq > first.seq


def test_a_smaller_bound_on_restart_drops_the_oldest(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    put = [spool.put(lines(f"b{i}", 10)) for i in range(4)]
    size = max(s.size for s in put if s is not None)
    again = Spool(tmp_path, size * 2 + size // 2)
    assert [s.seq for s in again.segments()] == [s.seq for s in put[2:] if s is not None]
    assert again.stats().dropped_batches == 2


def test_a_crash_while_writing_leaves_no_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path, 1 << 20)
    kept = spool.put(lines("kept", 2))

    def crash(src: str, dst: str) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(spool_module.os, "replace", crash)
    assert spool.put(lines("lost", 2)) is None  # counted as dropped, not raised
    assert (spool.stats().dropped_batches, spool.stats().dropped_flows) == (1, 2)
    monkeypatch.undo()
    assert any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())  # the partial write
    again = Spool(tmp_path, 1 << 20)
    assert again.segments() == [kept]
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


def test_segments_are_fsynced_before_they_appear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(spool_module.os, "fsync", fsync)
    monkeypatch.setattr(spool_module.os, "replace", replace)
    Spool(tmp_path, 1 << 20).put(lines("a", 1))
    assert events == ["fsync", "rename", "fsync"]  # the file, then the directory


def test_damaged_counters_restart_the_counts_but_keep_the_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    spool.put(lines("a", 1))
    (tmp_path / "dropped.json").write_text("{not json")
    again = Spool(tmp_path, 1 << 20)
    assert again.stats().pending_batches == 1 and again.stats().dropped_batches == 0
    (tmp_path / "dropped.json").write_text(json.dumps({"dropped_batches": 3, "dropped_flows": 9}))
    assert Spool(tmp_path, 1 << 20).stats().dropped_flows == 9


def test_the_bound_is_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        Spool(tmp_path, 0)
