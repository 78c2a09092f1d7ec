"""`netwarden flows`: hubble observe-style reading, filtering and verdict attribution.

Expected counts were checked against the sample data independently of netwarden
(plain json parsing of ../shared/samples/hubble)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netwarden.cli.main import app
from tests.conftest import ROOT, shared_dir

DEMO = str(ROOT / "examples" / "demo")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["flows", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unhandled exception: {result.exception!r}\n{result.output}")
    return result.exit_code, result.stdout, result.stderr


def samples() -> Path:
    return shared_dir() / "samples" / "hubble"


def tcp400() -> str:
    return str(samples() / "hubble-otel-basic-sample-400-tcp-flows.jsonl")


def json_lines(*args: str) -> list[dict[str, object]]:
    code, out, err = run("-o", "json", *args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def count(*args: str) -> int:
    return len(json_lines(*args))


# ---- sample files and hubble observe filters ------------------------------------------


def test_all_sample_files_read() -> None:
    files = sorted(samples().glob("*.jsonl"))
    args = [arg for f in files for arg in ("--file", str(f))]
    assert count(*args) == 440  # 2 + 10 + 18 + 400 + 5 + 5


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([], 400),
        (["--namespace", "bookinfo"], 386),
        (["-n", "bookinfo"], 386),
        (["--to-port", "9080"], 255),
        (["--port", "9080"], 386),
        (["--verdict", "REDIRECTED"], 27),
        (["--traffic-direction", "ingress"], 75),
        (["--http-method", "GET"], 65),
        (["--pod", "bookinfo/productpage"], 319),
        (["--protocol", "icmpv4"], 0),
        (["--from-namespace", "bookinfo", "--not", "--to-namespace", "bookinfo"], 29),
        (["--last", "7"], 7),
        (["--since", "2021-11-10T10:40:58Z", "--until", "2021-11-10T10:40:59Z"], 94),
    ],
)
def test_filters_on_400_flow_sample(filters: list[str], expected: int) -> None:
    assert count("--file", tcp400(), *filters) == expected


def test_not_applies_to_the_next_flag_only() -> None:
    # Same flags, different order: --not negates whatever follows it.
    assert (
        count("--file", tcp400(), "--not", "--verdict", "FORWARDED", "--verdict", "REDIRECTED")
        == 27
    )
    assert (
        count("--file", tcp400(), "--verdict", "FORWARDED", "--not", "--verdict", "REDIRECTED")
        == 373
    )


def test_drop_reason_and_drops_shortcut() -> None:
    dropped = str(samples() / "cilium-docs-exporter-dropped.jsonl")
    assert count("--file", dropped, "--drop-reason-desc", "POLICY_DENIED") == 1
    assert count("--file", dropped, "--drops") == 2
    assert count("--file", tcp400(), "--drops") == 0


def test_icmp_sample_protocol() -> None:
    icmp = str(samples() / "hubble-otel-basic-sample-400-icmpv4-flows.jsonl")
    assert count("--file", icmp, "--protocol", "icmpv4") == 18


def test_json_output_is_hubble_json_per_line() -> None:
    ten = str(samples() / "hubble-otel-basic-sample-10-flows.jsonl")
    records = json_lines("--file", ten)
    assert len(records) == 10
    first = records[0]
    assert set(first) == {"flow", "node_name", "time"}
    flow = first["flow"]
    assert isinstance(flow, dict)
    assert flow["verdict"] == "FORWARDED"
    assert flow["source"]["pod_name"] == "reviews-v1-545db77b95-s6jb8"
    assert "attribution" not in first


def test_table_and_compact_output() -> None:
    ten = str(samples() / "hubble-otel-basic-sample-10-flows.jsonl")
    code, out, _ = run("--file", ten)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "SOURCE", "DESTINATION", "PORT", "VERDICT"]
    assert len(lines) == 11
    assert "bookinfo/reviews-v1-545db77b95-s6jb8" in lines[1]
    assert "10.0.2.1 (host)" in lines[1]
    code, out, _ = run("--file", ten, "-o", "compact")
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith("Jun 16 16:52:13.136: ")
    assert "to-stack FORWARDED (TCP Flags: ACK, FIN)" in first


# ---- malformed input ---------------------------------------------------------------------


def test_malformed_line_is_reported_and_not_fatal(tmp_path: Path) -> None:
    ten = (samples() / "hubble-otel-basic-sample-10-flows.jsonl").read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([ten[0], "{not json", ten[1], '["array"]']) + "\n")
    code, out, err = run("--file", str(bad), "-o", "json")
    assert code == 0
    assert len(out.splitlines()) == 2
    assert f"{bad}:2: error: invalid JSON" in err
    assert f"{bad}:4: error: expected a JSON object" in err
    assert "2 malformed lines skipped" in err
    assert "Traceback" not in err


# ---- attribution with the demo policies ----------------------------------------------


def _flow(second: int, src: tuple[str, str], dst: tuple[str, str], port: int, verdict: str) -> str:
    flow: dict[str, object] = {
        "time": f"2024-05-01T10:00:0{second}.000000000Z",
        "verdict": verdict,
        "IP": {"source": src[1], "destination": dst[1], "ipVersion": "IPv4"},
        "l4": {"TCP": {"source_port": 40000 + second, "destination_port": port}},
        "source": {"namespace": "shop", "pod_name": src[0]},
        "destination": {"namespace": "shop", "pod_name": dst[0]},
        "node_name": "node-1",
        "is_reply": False,
    }
    if verdict == "DROPPED":
        flow["drop_reason_desc"] = "POLICY_DENIED"
    return json.dumps({"flow": flow, "node_name": "node-1", "time": flow["time"]})


FRONTEND = ("frontend-0", "10.0.1.10")
CART = ("cart-0", "10.0.2.11")
DB = ("db-0", "10.0.1.12")


@pytest.fixture
def demo_flows(tmp_path: Path) -> str:
    path = tmp_path / "demo.jsonl"
    lines = [
        _flow(0, FRONTEND, DB, 5432, "DROPPED"),  # denied by policy: agrees
        _flow(1, CART, DB, 5432, "FORWARDED"),  # allowed by db-from-cart: agrees
        _flow(2, FRONTEND, DB, 5432, "FORWARDED"),  # Hubble forwarded what policy denies
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_attribution_json(demo_flows: str) -> None:
    records = json_lines("--file", demo_flows, "-p", DEMO)
    assert len(records) == 3
    drop, allow, odd = (r["attribution"] for r in records)
    assert isinstance(drop, dict) and isinstance(allow, dict) and isinstance(odd, dict)
    assert drop["verdict"] == "deny" and drop["agrees"] is True
    assert drop["egress"]["reason"] == "isolated"
    egress_policies = {p["name"] for p in drop["egress"]["policies"]}
    assert "frontend-public" in egress_policies
    ingress_policies = {p["name"] for p in drop["ingress"]["policies"]}
    assert "db-from-cart" in ingress_policies
    assert allow["verdict"] == "allow" and allow["agrees"] is True
    assert allow["ingress"]["policies"][0]["name"] == "db-from-cart"
    assert allow["ingress"]["policies"][0]["rule"] == 0
    assert odd["verdict"] == "deny" and odd["agrees"] is False


def test_drops_table_shows_the_policy(demo_flows: str) -> None:
    code, out, err = run("--file", demo_flows, "-p", DEMO, "--drops")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == [
        "TIME",
        "SOURCE",
        "DESTINATION",
        "PORT",
        "VERDICT",
        "POLICY",
        "AGREES",
    ]
    assert len(rows) == 1
    row = rows[0]
    assert "shop/frontend-0" in row and "shop/db-0" in row and "5432/TCP" in row
    assert "DROPPED (POLICY_DENIED)" in row
    assert "deny: egress namespaced isolated by" in row
    assert "NetworkPolicy/shop/frontend-public (default deny for egress)" in row
    assert row.rstrip().endswith("yes")


def test_table_flags_disagreement(demo_flows: str) -> None:
    code, out, _ = run("--file", demo_flows, "-p", DEMO, "--from-pod", "shop/frontend-0")
    assert code == 0
    rows = out.splitlines()[1:]
    assert len(rows) == 2
    assert rows[0].rstrip().endswith("yes")
    assert rows[1].rstrip().endswith("NO")


def test_compact_with_attribution(demo_flows: str) -> None:
    code, out, _ = run("--file", demo_flows, "-p", DEMO, "-o", "compact", "--to-port", "5432")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("May  1 10:00:01.000: shop/cart-0:40001 -> shop/db-0:5432 ")
    assert "allow: egress namespaced allow-rule" in lines[1]
    assert "NetworkPolicy/shop/db-from-cart ingress[0]" in lines[1]


# ---- bad options: exit 2, a clear message, no traceback --------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give one source: --file"),
        (["--file", "x.jsonl", "--server", "localhost:4245"], "give one source: --file"),
        (["--verdict", "NOPE"], "invalid --verdict value: NOPE"),
        (["--not"], "trailing --not"),
        (["--not", "--not", "--pod", "a"], "consecutive --not"),
        (["--pod", "shop/a", "--from-pod", "shop/b"], "cannot be combined"),
        (["--traffic-direction", "sideways"], "invalid traffic direction"),
        (["--drops", "--verdict", "FORWARDED"], "--drops and --verdict cannot be combined"),
        (["--follow"], "--follow needs --server"),
        (["--since", "yesterday"], "--since: 'yesterday' is neither"),
        (["--last", "0"], "Invalid value for '--last'"),
    ],
)
def test_bad_options(args: list[str], message: str) -> None:
    if "--file" not in args and args:
        args = ["--file", tcp400(), *args]
    code, out, err = run(*args)
    assert code == 2, (code, out, err)
    assert out == ""
    assert message in err, err
    assert "Traceback" not in err


def test_missing_file(tmp_path: Path) -> None:
    code, out, err = run("--file", str(tmp_path / "nope.jsonl"))
    assert code == 2 and out == ""
    assert "nope.jsonl: error: no such file or directory" in err


def test_bad_policies(tmp_path: Path, demo_flows: str) -> None:
    code, out, err = run("--file", demo_flows, "-p", str(tmp_path / "missing.yaml"))
    assert code == 2 and out == ""
    assert "missing.yaml" in err


def test_unreachable_server() -> None:
    code, out, err = run("--server", "127.0.0.1:1")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: Hubble at 127.0.0.1:1 is unavailable")
    assert "Traceback" not in err
