"""``raw`` in compressed blocks: how the DuckDB store keeps each flow's JSON.

A flow's ``raw`` (its Hubble line or canonical JSON, 1-1.5 kB) is most of the bytes of a
flow and, stored as a DuckDB string column, about half of the cost of an insert (DuckDB
analyses and compresses every value). The store instead cuts the ``raw`` values of a batch
into blocks of ``BLOCK_ROWS`` consecutive flows of one (cluster, day), compresses each block
once with zstd (Arrow's codec, a C++ call that releases the GIL, so it runs beside DuckDB's
insert of the other columns), and stores one row per block in ``flow_raw``; each flow
keeps ``raw_block`` (the ``seq`` of the block's first flow: the block's id) and
``raw_index`` (its position in the block). Blocks never span a cluster or a day, so
retention deletes them with the same ``cluster = ? AND day < ?`` as the flows.

A block row holds the count of values, ``zstd`` of their ``count + 1`` little-endian uint32
offsets and ``zstd`` of the concatenated UTF-8 values (compressed apart, so the values are
compressed straight from the Arrow column's buffer, without a copy). Queries read the
flows they need, then the blocks those point to (``BlockReader``, which keeps the last few
blocks decompressed, since candidates come in time order and neighbours share blocks).
See ``docs/design/flows.md`` ("Bulk ingest").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BLOCK_ROWS = 128
CODEC = "zstd"
_LEVEL = 1
_CACHED_BLOCKS = 256

BLOCKS_SQL = """
CREATE TABLE IF NOT EXISTS flow_raw (
    block BIGINT NOT NULL,           -- the seq of the block's first flow
    cluster VARCHAR NOT NULL,        -- every flow of a block has this cluster and day
    day DATE NOT NULL,
    count INTEGER NOT NULL,          -- flows in the block
    size INTEGER NOT NULL,           -- bytes of their raw values
    offsets BLOB NOT NULL,           -- zstd(count + 1 little-endian uint32 offsets)
    data BLOB NOT NULL               -- zstd(the raw values, concatenated)
);
"""
BLOCKS_SCHEMA = pa.schema(
    [
        ("block", pa.int64()),
        ("cluster", pa.string()),
        ("day", pa.date32()),
        ("count", pa.int32()),
        ("size", pa.int32()),
        ("offsets", pa.binary()),
        ("data", pa.binary()),
    ]
)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each flow of a batch goes: its block and index, and each block's members."""

    raw_block: Any  # pyarrow int64, one per flow
    raw_index: Any  # pyarrow int32
    blocks: list[tuple[int, str, Any, Any]]  # (block id, cluster, day, row indices)


def layout(table: Any, block_rows: int = BLOCK_ROWS) -> Layout:
    """Cut a batch (columns ``seq``, ``cluster``, ``day``; rows in ``seq`` order) into
    blocks of up to ``block_rows`` consecutive flows of one (cluster, day). Cheap: no data
    is touched, so the flows can be inserted while ``compress`` runs."""
    rows = table.num_rows
    seq = table.column("seq").to_numpy()
    block_of = np.empty(rows, dtype=np.int64)
    index_of = np.empty(rows, dtype=np.int32)
    blocks = []
    for cluster, day, group in _groups(table):
        for start in range(0, len(group), block_rows):
            members = group[start : start + block_rows]
            first = int(seq[members[0]])
            block_of[members] = first
            index_of[members] = np.arange(len(members), dtype=np.int32)
            blocks.append((first, cluster, day, members))
    return Layout(pa.array(block_of), pa.array(index_of), blocks)


def compress(raw: Any, plan: Layout) -> Any:
    """The ``flow_raw`` rows (``BLOCKS_SCHEMA``) of a batch's ``raw`` column laid out by
    ``plan``: two zstd calls per block (they release the GIL), on slices of the column's
    buffers when the block's rows are contiguous (the usual case: no copy)."""
    codec = pa.Codec(CODEC, compression_level=_LEVEL)
    raw = raw.combine_chunks() if isinstance(raw, pa.ChunkedArray) else raw
    all_offsets = np.frombuffer(raw.buffers()[1], dtype=np.int32)[raw.offset :]
    values = raw.buffers()[2]
    counts: list[int] = []
    sizes: list[int] = []
    offsets: list[bytes] = []
    data: list[bytes] = []
    for _, _, _, members in plan.blocks:
        first, last = int(members[0]), int(members[-1])
        if last - first + 1 == len(members):
            bounds = all_offsets[first : last + 2]
            start, end = int(bounds[0]), int(bounds[-1])
            body: Any = values.slice(start, end - start) if values is not None else b""
        else:
            part = raw.take(pa.array(members))
            bounds = np.frombuffer(part.buffers()[1], dtype=np.int32)[: len(part) + 1]
            start, end = 0, int(bounds[-1])
            body = part.buffers()[2] or b""
        counts.append(len(members))
        sizes.append(end - start)
        offsets.append(codec.compress((bounds - start).astype("<u4").tobytes(), asbytes=True))
        data.append(codec.compress(body, asbytes=True))
    return pa.Table.from_arrays(
        [
            pa.array([b[0] for b in plan.blocks], pa.int64()),
            pa.array([b[1] for b in plan.blocks], pa.string()),
            pa.array([b[2] for b in plan.blocks], pa.date32()),
            pa.array(counts, pa.int32()),
            pa.array(sizes, pa.int32()),
            pa.array(offsets, pa.binary()),
            pa.array(data, pa.binary()),
        ],
        schema=BLOCKS_SCHEMA,
    )


def _groups(table: Any) -> Iterable[tuple[str, Any, Any]]:
    """(cluster, day, row indices in order) of each (cluster, day) of the table."""
    rows = table.num_rows
    if not rows:
        return []
    clusters, days = table.column("cluster"), table.column("day")
    one_cluster = pc.count_distinct(clusters).as_py() == 1
    if one_cluster and pc.count_distinct(days).as_py() == 1:
        return [(clusters[0].as_py(), days[0].as_py(), np.arange(rows))]
    numbered = pa.table(
        {"cluster": clusters, "day": days, "_row": pa.array(np.arange(rows, dtype=np.int64))}
    )
    grouped = numbered.group_by(["cluster", "day"], use_threads=False).aggregate([("_row", "list")])
    out = []
    for cluster, day, members in zip(
        grouped.column("cluster").to_pylist(),
        grouped.column("day").to_pylist(),
        grouped.column("_row_list").to_pylist(),
        strict=True,
    ):
        out.append((cluster, day, np.sort(np.asarray(members, dtype=np.int64))))
    return out


def unpack(count: int, size: int, offsets: bytes, data: bytes) -> list[str]:
    """The raw values of one block."""
    codec = pa.Codec(CODEC)
    bounds = np.frombuffer(
        codec.decompress(offsets, decompressed_size=4 * (count + 1), asbytes=True), dtype="<u4"
    ).tolist()
    body = codec.decompress(data, decompressed_size=size, asbytes=True) if size else b""
    pairs = pairwise(bounds)
    if body.isascii():
        text = body.decode("ascii")
        return [text[a:b] for a, b in pairs]
    return [body[a:b].decode("utf-8") for a, b in pairs]


class BlockReader:
    """Raw values by (block, index), reading blocks with ``fetch(block ids) -> rows of
    (block, count, size, offsets, data)`` and keeping the last ``_CACHED_BLOCKS`` decompressed."""

    def __init__(self, fetch: Callable[[Sequence[int]], Iterable[tuple[Any, ...]]]) -> None:
        self._fetch = fetch
        self._cache: OrderedDict[int, list[str]] = OrderedDict()

    def load(self, blocks: Iterable[int]) -> None:
        """Read the blocks among ``blocks`` that are not cached, in one call."""
        missing = sorted({b for b in blocks if b not in self._cache})
        if not missing:
            return
        for block, count, size, offsets, data in self._fetch(missing):
            self._cache[int(block)] = unpack(int(count), int(size), offsets, data)
            while len(self._cache) > max(_CACHED_BLOCKS, len(missing)):
                self._cache.popitem(last=False)

    def get(self, block: int, index: int) -> str | None:
        """The value, or None when the block is gone (deleted by retention meanwhile)."""
        values = self._cache.get(block)
        if values is None or index >= len(values):
            return None
        self._cache.move_to_end(block)
        return values[index]
