"""The ingest paths' shortcuts keep every guarantee: a pushed line stored as the flow's raw
JSON, attribution left to Hubble's policy fields (staged marks still computed), DuckDB's
insert in row groups, and bulk import (with or without decoding ahead of the store)."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import pyarrow as pa
import pytest

from netwarden.agent.simulated import load_simulated
from netwarden.flows.arrow_decode import decode_arrow
from netwarden.flows.bulk import import_lines
from netwarden.flows.decode import decode_line, decode_lines, decode_lines_with_text
from netwarden.flows.duckdb_store import DuckDBFlowStore, _row_groups
from netwarden.flows.enrich import AttributedBy, has_policy_fields
from netwarden.flows.flow_columns import flow_from_raw, flow_table
from netwarden.flows.flowencode import format_time
from netwarden.flows.pushed import stamp_cluster
from netwarden.flows.raw_blocks import BlockReader
from netwarden.flows.scope import FlowScope
from netwarden.flows.service import FlowService
from netwarden.flows.staged import StagedSource
from netwarden.flows.store import canonical_json
from netwarden.flows.timeline import PolicyTimeline
from netwarden.model.flow import Flow
from tests.flows.samples import hubble_dir
from tests.flows.test_service import CLUSTER, DENY_DB, MINUTE, T0, world_of
from tests.flows.test_staged_flows import ALLOW_FROM_INGRESS, ALLOW_LABEL, DENY, TOPOLOGY, _world


def sample_objects() -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(hubble_dir().glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def with_uuids(
    objects: list[dict[str, Any]], node: str | None = None, first: int = 0
) -> list[bytes]:
    """The sample lines as flows with uuids (the samples have none; numbered from
    ``first``), optionally with the node name ``node`` (flow and envelope)."""
    out = []
    for index, obj in enumerate(objects, first):
        obj = json.loads(json.dumps(obj))
        inner = obj["flow"] if isinstance(obj.get("flow"), dict) else obj
        if "flow" in obj or any(k in obj for k in ("verdict", "IP", "source", "Type", "l4")):
            inner["uuid"] = f"0c6b1f4e-0000-4000-8000-{index:012d}"
            if node is not None:
                inner["node_name"] = node
                if "flow" in obj:
                    obj["node_name"] = node
        out.append(json.dumps(obj, separators=(",", ":")).encode())
    return out


def stored_raw(store: DuckDBFlowStore) -> dict[str, str]:
    """uuid -> the raw JSON the store keeps for the flow (its block's value)."""
    with store._db.cursor() as con, store._db.cursor() as blocks:
        rows = con.execute("SELECT uuid, raw, raw_block, raw_index FROM flows").fetchall()
        sql = "SELECT block, count, size, offsets, data FROM flow_raw WHERE block IN ({})"
        reader = BlockReader(
            lambda ids: blocks.execute(sql.format(",".join(map(str, ids)))).fetchall()
        )
        reader.load(block for _, _, block, _ in rows if block is not None)
        out = {}
        for uuid, raw, block, index in rows:
            value = raw if block is None else reader.get(block, index)
            assert value is not None
            out[uuid] = value
        return out


# --- a pushed line as the flow's raw JSON ----------------------------------------------


def test_each_flows_line_is_kept_and_replays_to_the_same_flow() -> None:
    objects = sample_objects()
    lines: list[str | bytes] = [
        b"\xef\xbb\xbf" + json.dumps(objects[0]).encode(),  # a byte-order mark on line 1
        "",
        '{"node_status": {}}',
        "{not json",
        *(json.dumps(o) for o in objects[1:]),
        json.dumps(objects[1]["flow"]) if "flow" in objects[1] else json.dumps(objects[1]),
    ]
    decoded, texts = decode_lines_with_text(lines, "mixed")
    plain = decode_lines(lines, "mixed")
    assert decoded.flows == plain.flows and decoded.errors == plain.errors
    assert decoded.skipped == plain.skipped and decoded.lines == plain.lines
    assert len(texts) == len(decoded.flows) == len(objects) + 1
    assert not texts[0].startswith("\ufeff")
    for flow, text in zip(decoded.flows, texts, strict=True):
        assert flow_from_raw(text) == flow
        assert decode_line(text) == flow


def test_flow_table_stores_given_lines_and_canonical_json_otherwise() -> None:
    lines = with_uuids(sample_objects()[:20])
    decoded, texts = decode_lines_with_text(lines)
    flows = decoded.flows
    no_uuid = Flow(time=T0, node_name="n")
    raws: list[str | None] = [*texts[:10], *([None] * 10), "{}"]
    table = flow_table([*flows, no_uuid], "c1", T0, 0, raws=raws)
    stored = table.column("raw").to_pylist()
    assert stored[:10] == texts[:10]
    assert stored[10:20] == [canonical_json(f) for f in flows[10:]]
    # Without a uuid the key hashes the canonical JSON, so that is what is stored.
    assert stored[20] == canonical_json(no_uuid)
    assert table.column("key").to_pylist()[20].startswith("sha256:")
    assert table.drop_columns(["raw"]) == flow_table([*flows, no_uuid], "c1", T0, 0).drop_columns(
        ["raw"]
    )


def test_ingest_stores_unchanged_flows_with_their_line_and_changed_ones_encoded() -> None:
    objects = sample_objects()
    as_is = with_uuids(objects[:30], node="c1/node-1")  # stamping leaves these alone
    stamped = with_uuids(objects[30:60], node="node-1", first=30)  # these get "c1/"
    service = FlowService(DuckDBFlowStore())
    ack = service.ingest_lines([*as_is, *stamped], "c1")
    assert ack.stored == ack.offered == 60 and not ack.errors
    raw = stored_raw(service.store)  # type: ignore[arg-type]
    flows, texts = decode_lines_with_text([*as_is, *stamped])
    for index, (flow, text) in enumerate(zip(flows.flows, texts, strict=True)):
        expected = stamp_cluster(flow, "c1")
        if index < 30:
            assert expected is flow and raw[flow.uuid] == text
        else:
            assert expected is not flow and raw[flow.uuid] == canonical_json(expected)
    stored = sorted(service.query(FlowScope.all()), key=lambda f: f.uuid)
    assert stored == sorted((stamp_cluster(f, "c1") for f in flows.flows), key=lambda f: f.uuid)
    again = service.ingest_lines([*as_is, *stamped], "c1")
    assert again.stored == 0 and again.duplicates == 60


def test_attributed_flows_are_stored_as_attributed() -> None:
    """A flow the engine attributes changes (policy lists): its canonical JSON is stored;
    a flow carrying Hubble's policy fields is kept as it came, line and all."""
    service = FlowService(DuckDBFlowStore())
    service.timeline("c1").record(T0, world_of(CLUSTER + DENY_DB))

    def line(uuid: str, port: int, **fields: Any) -> bytes:
        def pod(name: str, workload: str) -> dict[str, Any]:
            workloads = [{"name": workload, "kind": "StatefulSet"}]
            return {"namespace": "shop", "pod_name": name, "workloads": workloads}

        flow = {
            "time": format_time(T0 + MINUTE), "uuid": uuid, "verdict": "FORWARDED",
            "IP": {"source": "10.0.0.1", "destination": "10.0.0.2", "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": 40000, "destination_port": port}},
            "source": pod("web-0", "web"), "destination": pod("db-0", "db"),
            "node_name": "c1/node-1", "event_type": {"type": 4}, **fields,
        }  # fmt: skip
        return json.dumps({"flow": flow, "node_name": "c1/node-1"}).encode()

    allowed_by = [{"name": "hubble-says", "namespace": "shop", "kind": "NetworkPolicy"}]
    lines = [line("engine", 5432), line("hubble", 5432, ingress_allowed_by=allowed_by)]
    service.ingest_lines(lines, "c1")
    by_uuid = {f.uuid: f for f in service.query(FlowScope.all())}
    assert [p.name for p in by_uuid["engine"].ingress_allowed_by] == ["db-ingress"]
    assert [p.name for p in by_uuid["hubble"].ingress_allowed_by] == ["hubble-says"]
    raw = stored_raw(service.store)  # type: ignore[arg-type]
    assert raw["hubble"] == lines[1].decode()
    assert raw["engine"] == canonical_json(by_uuid["engine"])


# --- attribution left to Hubble's fields; staged marks still computed ---------------------


@pytest.fixture(scope="module")
def enforced_flows() -> list[Flow]:
    """Storefront flows with a default deny into ``storefront`` enforced: its policy
    events carry Hubble's policy fields (drops as POLICY_DENIED)."""
    cluster = load_simulated(TOPOLOGY, "c1", seed=1)
    cluster.apply([DENY], {})
    return decode_lines(cluster.generate(1_500)).flows


def test_staged_marks_are_computed_for_flows_that_keep_hubbles_verdict(
    enforced_flows: list[Flow],
) -> None:
    carrying = [f for f in enforced_flows if has_policy_fields(f)]
    assert carrying and len(carrying) < len(enforced_flows)
    meta = ALLOW_FROM_INGRESS["metadata"]
    staged = StagedSource(
        ALLOW_LABEL,
        1,
        _world([DENY, ALLOW_FROM_INGRESS]),
        frozenset({(ALLOW_FROM_INGRESS["kind"], meta["namespace"], meta["name"])}),
    )
    timeline = PolicyTimeline()
    timeline.record(0, _world([DENY]), "generation 2", [staged])
    enriched = timeline.enrich(enforced_flows)
    kept = [e for e in enriched if has_policy_fields(e.flow)]
    assert all(e.attributed_by is AttributedBy.HUBBLE and e.egress is None for e in kept)
    # Staging the allow from ingress-nginx would let today's drops into the frontend in:
    # those drops keep Hubble's DENY and carry the staged "allow" mark.
    allowed = [e for e in kept if [m.outcome for m in e.staged] == ["allow"]]
    assert allowed
    for e in allowed:
        assert e.flow.source.namespace == "ingress-nginx" and e.hubble_verdict is not None
        assert e.verdict.value == "deny"
    # The marks are the staged evaluator's for exactly these attributions.
    evaluator = timeline.staged_evaluators(timeline.snapshots[0])[0]
    assert [m for e in kept for m in e.staged] == [
        m for m in evaluator.marks(kept) if m is not None
    ]
    # On request the engine attributes them too.
    asked = timeline.enrich(enforced_flows, always_attribute=True)
    assert not any(a.attributed_by is AttributedBy.HUBBLE for a in asked)


# --- DuckDB's insert in row groups -------------------------------------------------------


def test_row_groups_cut_every_column_at_the_same_rows() -> None:
    numbers = pa.chunked_array([list(range(7)), list(range(7, 300_000))])
    texts = [str(i) for i in range(300_000)]
    words = pa.chunked_array([texts[:150_000], texts[150_000:]])
    table = pa.table({"n": numbers, "w": words})
    out = _row_groups(table)
    assert out.equals(table)
    sizes = [batch.num_rows for batch in out.to_batches()]
    assert sizes == [122_880, 122_880, 300_000 - 2 * 122_880]
    assert all(c.num_chunks == 3 for c in out.columns)


# --- bulk import (optionally decoding ahead of the store) ------------------------------


def _bulk_lines() -> bytes:
    good = with_uuids(sample_objects())
    lines = [*good[:100], b'{"node_status": {}}', b"{bad", *good[100:]]
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("ahead", [True, False])
def test_bulk_import_stores_what_the_decoder_finds_block_by_block(ahead: bool) -> None:
    data = _bulk_lines()
    expected = decode_arrow(data, "in", now=T0)
    store = DuckDBFlowStore()
    acked: list[tuple[int, int]] = []
    result = import_lines(
        store, io.BytesIO(data), "in", now=T0, block_bytes=64 << 10, ahead=ahead,
        on_block=lambda d, a: acked.append((d.lines, a.stored)),
    )  # fmt: skip
    assert result.blocks == len(acked) > 3
    assert result.lines == expected.lines and result.flows == expected.flows
    assert result.stored == sum(s for _, s in acked) == expected.flows
    assert result.skipped == expected.skipped
    assert [(e.location.line, e.code) for e in result.errors] == [
        (e.location.line, e.code) for e in expected.errors
    ]
    assert store.count() == expected.flows
    again = import_lines(store, io.BytesIO(data), "in", now=T0, block_bytes=64 << 10)
    assert again.stored == 0 and store.count() == expected.flows


class _Failing:
    """A store whose third append fails."""

    def __init__(self) -> None:
        self.store = DuckDBFlowStore()
        self.calls = 0

    def append_arrow(self, table: Any, **options: Any) -> Any:
        self.calls += 1
        if self.calls == 3:
            raise OSError("disk full")
        return self.store.append_arrow(table, **options)


@pytest.mark.parametrize("ahead", [True, False])
def test_a_failed_append_stops_the_import_and_the_decoder(ahead: bool) -> None:
    data = _bulk_lines()
    failing = _Failing()
    acked: list[int] = []
    with pytest.raises(OSError, match="disk full"):
        import_lines(
            failing, io.BytesIO(data), "in", now=T0, block_bytes=32 << 10, ahead=ahead,
            on_block=lambda d, a: acked.append(a.stored),
        )  # fmt: skip
    assert failing.calls == 3 and len(acked) == 2  # nothing offered after the failure
    assert failing.store.count() == sum(acked)  # the acknowledged blocks stay stored
    assert not [t for t in threading.enumerate() if t.name == "flow-decode"]  # it ended


def test_a_decoder_failure_reaches_the_caller() -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError("read failed")

    with pytest.raises(OSError, match="read failed"):
        import_lines(DuckDBFlowStore(), Broken(), "in", now=T0, ahead=True)


def test_a_pushed_body_may_end_its_lines_with_crlf_or_cr() -> None:
    """``ingest_body`` splits lines as ``ingest_lines`` does: on \\n, \\r\\n and \\r."""
    lines = load_simulated(TOPOLOGY, "c1", seed=1).generate(30, start_ns=T0)
    counts = []
    for ending in (b"\n", b"\r\n", b"\r"):
        service = FlowService(DuckDBFlowStore())
        ack = service.ingest_body(ending.join(lines) + ending, "c1")
        counts.append((ack.lines, ack.stored, ack.error_count))
    assert counts == [(30, 30, 0)] * 3
