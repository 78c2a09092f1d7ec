"""Bulk import of Hubble JSON lines into a flow store: the decode+ingest path.

``import_lines(store, source)`` reads a binary stream block by block with
:func:`netwarden.flows.arrow_decode.iter_decode_arrow` and stores each block's table with
``store.append_arrow``, one transaction per block, in line order. Blocks are large
(``BULK_BLOCK_BYTES``, about 87,000 lines of 1.5 kB): every append pays a fixed cost
(dedup query, rollups, edge rollup, commit), which 32 MB blocks paid three times as often.

``ahead=True`` decodes block N+1 in a worker thread while block N is stored (at most one
decoded block waits: bounded memory). ``pyarrow.json`` and DuckDB release the GIL, but on
the two-core machine both already use both cores, and the overlap measured no faster and
about 10% more CPU, so it is off by default (``docs/design/flows.md``, "Bulk ingest").

Nothing about what is stored changes either way: each block is acknowledged
(``on_block``) only after its ``append_arrow`` returned, i.e. committed, and a failed
append stops the import there (the blocks before it stay stored, the ones after it were
never offered).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from netwarden.flows.arrow_decode import ArrowDecodeResult, iter_decode_arrow
from netwarden.flows.store import AppendResult
from netwarden.model.diagnostics import Diagnostic

BlockCallback = Callable[[ArrowDecodeResult, AppendResult], None]
BULK_BLOCK_BYTES = 128 << 20


@dataclass(slots=True)
class BulkResult:
    """An import's totals: lines read, flows decoded and stored (new), lines decoded by
    the exact decoder, skipped lines by kind, located errors; and the seconds the decoder
    and the store were busy (they overlap: their sum exceeds the elapsed time)."""

    lines: int = 0
    flows: int = 0
    stored: int = 0
    exact_lines: int = 0
    blocks: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[Diagnostic] = field(default_factory=list)
    decode_s: float = 0.0
    append_s: float = 0.0


class _Done:
    """The decoder's last item: the blocks ended, or it failed with ``error``."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def import_lines(
    store: Any,
    source: BinaryIO,
    file: str = "<input>",
    *,
    cluster: str | None = None,
    now: int | None = None,
    block_bytes: int = BULK_BLOCK_BYTES,
    on_block: BlockCallback | None = None,
    ahead: bool = False,
) -> BulkResult:
    """Decode ``source`` (Hubble JSON lines) and store its flows, a block at a time.

    ``cluster`` overrides the observing cluster, ``now`` (ns) dates flows without a time
    (default: the start of the import), as in ``iter_decode_arrow`` and ``append_arrow``.
    ``on_block(decoded, appended)`` is called after each block is stored. ``ahead=True``
    decodes the next block in a worker thread while one is stored.
    """
    ingest = now if now is not None else time.time_ns()
    blocks = iter_decode_arrow(source, file, block_bytes=block_bytes, cluster=cluster, now=ingest)
    out = BulkResult()
    if not ahead:
        while True:
            started = time.perf_counter()
            decoded = next(blocks, None)
            out.decode_s += time.perf_counter() - started
            if decoded is None:
                return out
            _store(store, decoded, cluster, ingest, out, on_block)
    ready: queue.Queue[ArrowDecodeResult | _Done] = queue.Queue(maxsize=1)
    stop = threading.Event()
    busy = [0.0]
    worker = threading.Thread(
        target=_decode_ahead, args=(blocks, ready, stop, busy), name="flow-decode", daemon=True
    )
    worker.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, _Done):
                if item.error is not None:
                    raise item.error
                return out
            _store(store, item, cluster, ingest, out, on_block)
    finally:
        stop.set()
        while worker.is_alive():  # unblock a worker waiting to hand over a block
            try:
                ready.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
        out.decode_s = busy[0]


def _decode_ahead(
    blocks: Any, ready: queue.Queue[Any], stop: threading.Event, busy: list[float]
) -> None:
    """The worker: decode blocks and hand them over one at a time until told to stop."""
    try:
        while not stop.is_set():
            started = time.perf_counter()
            decoded = next(blocks, None)
            busy[0] += time.perf_counter() - started
            if decoded is None:
                break
            ready.put(decoded)
    except BaseException as exc:  # handed to the importing thread, which raises it
        ready.put(_Done(exc))
        return
    ready.put(_Done())


def _store(
    store: Any,
    decoded: ArrowDecodeResult,
    cluster: str | None,
    now: int,
    out: BulkResult,
    on_block: BlockCallback | None,
) -> None:
    started = time.perf_counter()
    appended = store.append_arrow(decoded.table, cluster=cluster, now=now)
    out.append_s += time.perf_counter() - started
    out.blocks += 1
    out.lines += decoded.lines
    out.flows += decoded.flows
    out.stored += appended.stored
    out.exact_lines += decoded.exact_lines
    out.skipped.update(decoded.skipped)
    out.errors += decoded.errors
    if on_block is not None:
        on_block(decoded, appended)
