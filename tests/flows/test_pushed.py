"""Pushed batches through the columnar path store what the object path stores: the same
flows (as queries return them), the same acknowledgement counts and the same metrics,
with and without a policy timeline, with policies in force, staged versions, flows that
carry Hubble's policy lists and flows that do not, stamped and unstamped node names."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netwarden.agent.simulated import load_simulated
from netwarden.flows.decode import decode_lines
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.metrics import FlowMetrics
from netwarden.flows.pushed import GroupCommit, decode_pushed, store_pushed
from netwarden.flows.scope import FlowScope
from netwarden.flows.service import FlowService
from netwarden.flows.timeline import PolicyTimeline
from netwarden.flows.timeparse import parse_time
from netwarden.model.flow import Flow
from tests.flows.test_staged_flows import ALLOW_FROM_INGRESS, DENY, TOPOLOGY, _source, _world

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "hubble"
T0 = 1_700_000_000_000_000_000
BLUEPRINT = [DENY, ALLOW_FROM_INGRESS]

Timeline = Callable[[], PolicyTimeline | None]


def _no_timeline() -> PolicyTimeline | None:
    return None


def _open() -> PolicyTimeline:
    timeline = PolicyTimeline()
    timeline.record(0, _world([]), "nothing applied")
    return timeline


def _enforced() -> PolicyTimeline:
    timeline = PolicyTimeline()
    timeline.record(0, _world(BLUEPRINT), "generation 2")
    return timeline


def _staged() -> PolicyTimeline:
    timeline = PolicyTimeline()
    staged = [_source("NetworkPolicy/storefront/default-deny", DENY)]
    timeline.record(0, _world([]), "generation 1", staged)
    return timeline


def _later() -> PolicyTimeline:
    """Policies from a time after some of the flows: those before it take the snapshot
    of their time."""
    timeline = PolicyTimeline()
    timeline.record(0, _world([]), "generation 1")
    timeline.record(_middle_time(), _world(BLUEPRINT), "generation 2")
    return timeline


def _middle_time() -> int:
    times = [json.loads(line)["flow"]["time"] for line in _simulated(False)]
    return parse_time(sorted(times)[len(times) // 2])


def _sample_lines(stamp: str | None) -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted(SAMPLES.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            if stamp is not None and line.startswith(b'{"flow"'):
                line = re.sub(
                    rb'"node_name":"(?:[^"/]*/)?', b'"node_name":"%s/' % stamp.encode(), line
                )
            lines.append(line)
    return lines


def _simulated(enforcing: bool) -> list[bytes]:
    cluster = load_simulated(TOPOLOGY, "c1", seed=3)
    if enforcing:
        cluster.apply(BLUEPRINT, {})
    return cluster.generate(2_000, start_ns=T0)


def _bare(lines: list[bytes]) -> list[bytes]:
    """The lines as bare flows (the older ``hubble observe`` form): no envelope."""
    out = []
    for line in lines:
        envelope = json.loads(line)
        out.append(json.dumps(envelope["flow"], separators=(",", ":")).encode())
    return out


def _named_empty_lists(lines: list[bytes]) -> list[bytes]:
    """Every third line names an empty ``egress_allowed_by`` (a list the engine fills in:
    such a row must not get the key twice)."""
    head = b'{"flow":{'
    return [
        head + b'"egress_allowed_by":[],' + line[len(head) :] if i % 3 == 0 else line
        for i, line in enumerate(lines)
    ]


def _both(lines: list[bytes], cluster: str, timeline: Timeline) -> tuple[Any, Any]:
    """(object path, columnar path): each a (service, ack-like counts) after one push."""
    body = b"\n".join(lines) + b"\n"
    reference = FlowService(DuckDBFlowStore(":memory:"), metrics=FlowMetrics())
    made = timeline()
    if made is not None:
        reference._timelines[cluster] = made
    decoded = decode_lines(body.splitlines())
    old = reference.ingest(decoded.flows, cluster)

    pushed_service = FlowService(DuckDBFlowStore(":memory:"), metrics=FlowMetrics())
    made = timeline()
    if made is not None:
        pushed_service._timelines[cluster] = made
    pushed = decode_pushed(body, cluster, made, file="<batch>", now=T0)
    commit = GroupCommit(pushed_service.store)
    new, _ = store_pushed(commit, pushed_service.metrics, pushed_service.hub, pushed, cluster, T0)
    assert (old.offered, old.stored) == (new.offered, new.stored)
    assert pushed.lines == decoded.lines and pushed.skipped == decoded.skipped
    return reference, pushed_service


def _stored(service: FlowService) -> list[Flow]:
    return service.query(FlowScope.all(), order="asc")


def _series(service: FlowService) -> list[str]:
    text = service.metrics.exposition().decode()
    return sorted(line for line in text.splitlines() if line and not line.startswith("#"))


CASES: dict[str, tuple[Callable[[], list[bytes]], str, Timeline]] = {
    "samples, unstamped": (lambda: _sample_lines(None), "prod", _no_timeline),
    "samples, stamped": (lambda: _sample_lines("prod"), "prod", _no_timeline),
    "samples, other cluster's stamp": (lambda: _sample_lines("dev"), "prod", _no_timeline),
    "samples, stamped, open timeline": (lambda: _sample_lines("c1"), "c1", _open),
    "storefront, no timeline": (lambda: _simulated(False), "c1", _no_timeline),
    "storefront, nothing applied": (lambda: _simulated(False), "c1", _open),
    "storefront, engine attributes": (lambda: _simulated(False), "c1", _enforced),
    "storefront, enforcing, lists carried": (lambda: _simulated(True), "c1", _enforced),
    "storefront, staged": (lambda: _simulated(False), "c1", _staged),
    "storefront, policies from mid-batch": (lambda: _simulated(False), "c1", _later),
    "storefront, engine attributes, bare lines": (
        lambda: _bare(_simulated(False)),
        "c1",
        _enforced,
    ),
    "storefront, engine attributes, empty lists named": (
        lambda: _named_empty_lists(_simulated(False)),
        "c1",
        _enforced,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_columnar_path_stores_what_the_object_path_stores(case: str) -> None:
    make, cluster, timeline = CASES[case]
    reference, pushed = _both(make(), cluster, timeline)
    old, new = _stored(reference), _stored(pushed)
    assert len(old) == len(new) > 0
    for a, b in zip(old, new, strict=True):
        assert a == b, (a.uuid, b.uuid)
    assert _series(reference) == _series(pushed)


def test_without_policies_in_force_flows_take_the_columnar_path() -> None:
    lines = _simulated(False)
    pushed = decode_pushed(b"\n".join(lines), "c1", _open(), file="<batch>", now=T0)
    assert pushed.offered == len(lines)
    # The scanner's probes (a pod the inventory knows more about) take the object path.
    assert len(pushed.objects) < 0.1 * pushed.offered
    alone = decode_pushed(b"\n".join(lines), "c1", None, file="<batch>", now=T0)
    assert not alone.objects


def test_flows_needing_the_engine_or_a_stamp_take_the_object_path() -> None:
    lines = _sample_lines(None)
    pushed = decode_pushed(b"\n".join(lines), "prod", None, file="<batch>", now=T0)
    assert len(pushed.objects) == pushed.offered  # no node name says "prod/"
    staged = decode_pushed(b"\n".join(_simulated(True)), "c1", _staged(), file="<batch>", now=T0)
    assert len(staged.objects) == staged.offered  # every flow is marked by staged versions


def test_with_policies_in_force_the_engine_answers_once_per_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows the engine attributes take the columnar path: the engine runs on one flow per
    connection (not per flow), and a later batch of the same connections runs it on none
    (the answers are remembered per snapshot); what is stored is what the object path
    stores (the equivalence test above)."""
    timeline = _enforced()
    enriched: list[int] = []
    real = PolicyTimeline.enrich

    def counting(self: PolicyTimeline, flows: Any, *args: Any, **kwargs: Any) -> Any:
        enriched.append(len(flows))
        return real(self, flows, *args, **kwargs)

    monkeypatch.setattr(PolicyTimeline, "enrich", counting)
    cluster = load_simulated(TOPOLOGY, "c1", seed=3)
    first = decode_pushed(b"\n".join(cluster.generate(2_000, start_ns=T0)), "c1", timeline,
                          file="<batch>", now=T0)  # fmt: skip
    assert first.shared_keys > 0
    assert len(first.objects) < 0.1 * first.offered  # the scanner's and HTTP flows
    assert sum(enriched) < 0.2 * first.offered
    # Lists spliced into the pushed lines say what the policy columns say.
    spliced = 0
    for row in first.table.to_pylist():
        flow = json.loads(row["raw"]).get("flow")
        if row["seq"] in first.objects or flow is None:
            continue
        for name in ("egress_allowed_by", "ingress_allowed_by", "egress_denied_by"):
            named = [f"{p['kind']}/{p['namespace']}/{p['name']}" for p in flow.get(name, [])]
            assert named == row[name], (row["seq"], name)
            spliced += bool(named)
    assert spliced > 0.1 * first.offered
    enriched.clear()
    later = cluster.generate(2_000, start_ns=T0 + 10**9)
    second = decode_pushed(b"\n".join(later), "c1", timeline, file="<batch>", now=T0)
    assert second.shared_keys > 0
    # Beside the object path's flows, only connections new in this batch (a few).
    assert sum(enriched) - len(second.objects) < 0.1 * second.shared_keys


def test_a_reply_shares_its_connection_whatever_its_client_port() -> None:
    """The server's port decides (the source port of a reply): replies to two clients
    that differ only in the client's port get one answer, the right one for each."""
    timeline = _enforced()
    lines = [line for line in _simulated(False) if b'"is_reply":true' in line]
    pushed = decode_pushed(b"\n".join(lines), "c1", timeline, file="<batch>", now=T0)
    assert 0 < pushed.shared_keys < len(lines) / 4
    reference, columnar = _both(lines, "c1", _enforced)
    assert _stored(reference) == _stored(columnar)


def test_a_resent_batch_is_stored_and_counted_once() -> None:
    lines = _simulated(True)
    service = FlowService(DuckDBFlowStore(":memory:"), metrics=FlowMetrics())
    body = b"\n".join(lines)
    commit = GroupCommit(service.store)
    for _ in range(2):
        pushed = decode_pushed(body, "c1", None, file="<batch>", now=T0)
        result, _ = store_pushed(commit, service.metrics, service.hub, pushed, "c1", T0)
    assert result.stored == 0 and result.duplicates == len(lines)
    text = service.metrics.exposition().decode()
    assert f'netwarden_flows_ingested_total{{cluster="c1"}} {float(len(lines))}' in text
    assert f'netwarden_flows_duplicate_total{{cluster="c1"}} {float(len(lines))}' in text


def test_unknown_spacing_of_the_metric_facts_takes_the_object_path() -> None:
    line = _simulated(True)[0].replace(b'"event_type":{', b'"event_type": {')
    pushed = decode_pushed(line, "c1", None, file="<batch>", now=T0)
    assert pushed.offered == 1 and len(pushed.objects) == 1


def test_concurrent_pushes_commit_together_and_each_gets_its_own_answer() -> None:
    store = DuckDBFlowStore(":memory:")
    commit = GroupCommit(store)
    cluster = load_simulated(TOPOLOGY, "c1", seed=5)
    bodies = [b"\n".join(cluster.generate(500, start_ns=T0 + i * 10**9)) for i in range(12)]
    bodies.append(bodies[0])  # a resend racing the first send: stored once in all
    tables = [decode_pushed(b, "c1", None, file="<b>", now=T0).table for b in bodies]
    results: list[Any] = [None] * len(tables)
    start = threading.Barrier(len(tables))

    def push(i: int) -> None:
        start.wait()
        results[i] = commit.append(tables[i], T0)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(len(tables))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(r is not None for r in results)
    assert commit.batches == len(tables) and commit.groups < len(tables)
    for result in results[1:-1]:
        assert result.stored == 500 and list(result.new_rows) == list(range(500))
    first, resent = results[0], results[-1]
    assert first.stored + resent.stored == 500  # whichever went first stored them
    assert sum(r.stored for r in results) == 12 * 500
    assert len(store.query(limit=None)) == 12 * 500


def test_a_failed_group_fails_each_of_its_pushes() -> None:
    class Broken:
        def append_arrow(self, table: Any, **_: Any) -> Any:
            raise OSError("disk full")

    commit = GroupCommit(Broken())  # type: ignore[arg-type]
    table = decode_pushed(b"\n".join(_simulated(False)[:10]), "c1", None, file="b", now=T0)
    with pytest.raises(OSError, match="disk full"):
        commit.append(table.table, T0)
    assert commit.groups == 0


def test_answers_are_kept_for_the_snapshots_used_last() -> None:
    """The per-connection answers of a snapshot are memory: kept for as many snapshots as
    the timeline keeps engines, the least recently used dropped."""
    timeline = PolicyTimeline(max_engines=2)
    first, second, third = (timeline.record(i, _world([]), f"g{i}") for i in (1, 2, 3))
    timeline.answers(first)["key"] = "answer"
    timeline.answers(second)["key"] = "answer"
    assert timeline.answers(first) == {"key": "answer"}  # first is now the most recent
    timeline.answers(third)["key"] = "answer"  # second, the least recent, is dropped
    assert timeline.answers(first) == {"key": "answer"}
    assert timeline.answers(second) == {}
