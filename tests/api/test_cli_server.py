"""The CLI against a running server: `flows import` (store file or server), `flows --api`
(stored flows in the caller's scope), and the client's live stream."""

from __future__ import annotations

import gzip
import json
import threading
import time
from pathlib import Path

from typer.testing import CliRunner

from netwarden.cli.main import app
from netwarden.client.http import ApiError, LiveEvent, NetwardenClient
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.filter_core import FlowFilter
from netwarden.model.flow import Verdict
from tests.api.test_flow_api import fleet, lines_of
from tests.flows.samples import sample_path
from tests.flows.test_service import TCP_SAMPLE, flow

runner = CliRunner()


def test_import_into_a_store_file_twice_stores_once(tmp_path: Path) -> None:
    db = tmp_path / "flows.duckdb"
    args = ["flows", "import", str(sample_path(TCP_SAMPLE)), "--cluster", "kind", "--db", str(db)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "400 lines: 400 flows stored, 0 already stored" in first.output
    again = runner.invoke(app, [*args, "--batch-lines", "64"])
    assert "400 flows stored" not in again.output and "400 already stored" in again.output
    with DuckDBFlowStore(db) as store:
        assert store.count() == 400


def test_import_reports_malformed_lines_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines_of(flow(1, "a", "b")) + "{oops\n")
    result = runner.invoke(
        app, ["flows", "import", str(bad), "--cluster", "c1", "--db", str(tmp_path / "x.db")]
    )
    assert result.exit_code == 1
    assert f"{bad}:2" in result.output and "1 flows stored" in result.output
    assert "Traceback" not in result.output


def test_import_locates_malformed_lines_in_the_file_whatever_the_batch(
    tmp_path: Path, live_server: str
) -> None:
    """Lines are sent in batches of ``--batch-lines``; an error names the line of the
    file, not of its batch, into a store file and through the server alike."""
    bad = tmp_path / "bad.jsonl"
    good = [lines_of(flow(i, "a", "b")).strip() for i in range(1, 6)]
    bad.write_text("\n".join([*good[:3], "{oops", *good[3:]]) + "\n")  # line 4 of 6
    store = ["--cluster", "c1", "--db", str(tmp_path / "x.db"), "--batch-lines", "2"]
    server = ["--cluster", "c1", "--api", live_server, "--token", "agent-c1", "--batch-lines", "2"]
    for options in (store, server):
        result = runner.invoke(app, ["flows", "import", str(bad), *options])
        assert result.exit_code == 1, result.output
        assert f"{bad}:4:" in result.output and f"{bad}:2:" not in result.output
        assert "6 lines: 5 flows stored" in result.output


def test_import_through_the_server_then_query_in_scope(live_server: str, tmp_path: Path) -> None:
    export = tmp_path / "c1.jsonl"
    export.write_text(fleet()["c1"])
    push = ["flows", "import", str(export), "--cluster", "c1", "--api", live_server]
    refused = runner.invoke(app, [*push, "--token", "ws-shop"])
    assert refused.exit_code == 2 and "may not push flows for cluster 'c1'" in refused.output
    pushed = runner.invoke(app, [*push, "--token", "agent-c1"])
    assert pushed.exit_code == 0 and "3 flows stored" in pushed.output
    query = ["flows", "--api", live_server, "--token", "ws-shop", "-o", "json", "--last", "10"]
    result = runner.invoke(app, query)
    assert result.exit_code == 0, result.output
    seen = [json.loads(line)["flow"]["uuid"] for line in result.output.splitlines()]
    assert seen == ["uuid-1", "uuid-3"]  # web->db is outside the workspace's scope
    dropped = runner.invoke(app, [*query, "--verdict", "DROPPED"])
    assert [json.loads(line)["flow"]["uuid"] for line in dropped.output.splitlines()] == ["uuid-3"]
    anonymous = runner.invoke(app, ["flows", "--api", live_server, "--token", "nope"])
    assert anonymous.exit_code == 2 and "invalid token (401)" in anonymous.output


def test_client_live_stream(live_server: str) -> None:
    events: list[LiveEvent] = []

    def read() -> None:
        with NetwardenClient(live_server, "org-admin") as client:
            dropped = [FlowFilter(verdict=(Verdict.DROPPED,))]
            for event in client.stream_flows(dropped):
                events.append(event)
                return

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.5)
    with NetwardenClient(live_server, "agent-c1") as agent:
        ack = agent.push_flows("c1", fleet()["c1"].encode())
    assert ack["stored"] == 3
    reader.join(10)
    assert [e.flow.uuid for e in events if e.flow] == ["uuid-3"]


def test_client_errors_are_readable(live_server: str) -> None:
    with NetwardenClient(live_server, "org-admin") as client:
        try:
            client.query_flows([], since="not-a-time")
        except ApiError as exc:
            assert exc.status == 400 and "since" in str(exc)
        else:
            raise AssertionError("expected an ApiError")
    with NetwardenClient("http://127.0.0.1:9", "x", timeout=2) as client:
        try:
            client.query_flows()
        except ApiError as exc:
            assert exc.status == 0 and "cannot reach" in str(exc)


def test_import_reads_gzip_exports_and_locates_lines_that_are_not_utf8(tmp_path: Path) -> None:
    """A .gz export is read as it is decompressed; a line that is not UTF-8 is an error of
    its own line, the others are stored; a truncated .gz says so after what it imported."""
    good = [lines_of(flow(i, "a", "b")).strip().encode() for i in range(1, 4)]
    export = tmp_path / "export.jsonl.gz"
    export.write_bytes(gzip.compress(b"\n".join([good[0], b"\xff\xfe{", *good[1:]]) + b"\n"))
    db = ["--cluster", "c1", "--db", str(tmp_path / "x.db")]
    result = runner.invoke(app, ["flows", "import", str(export), *db])
    assert result.exit_code == 1, result.output
    assert f"{export}:2:" in result.output and "4 lines: 3 flows stored" in result.output
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(export.read_bytes()[:-20])
    cut = runner.invoke(app, ["flows", "import", str(truncated), *db])
    assert cut.exit_code == 2 and f"error: {truncated}:" in cut.output
    assert "Traceback" not in cut.output
