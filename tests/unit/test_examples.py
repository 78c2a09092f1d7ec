"""The examples the demo runs stay true."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from netwarden.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_demo_probes_evaluate() -> None:
    args = ["verdict", "-f", str(EXAMPLES / "demo"), "--probes", str(EXAMPLES / "demo-probes.yaml")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    verdicts = [r["verdict"] for r in json.loads(result.stdout)]
    assert verdicts.count("allow") == 7 and verdicts.count("deny") == 6


def test_demo_flows_agree_with_the_policies() -> None:
    args = [
        "flows",
        "--file",
        str(EXAMPLES / "demo-flows.jsonl"),
        "-p",
        str(EXAMPLES / "demo"),
        "-o",
        "json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(records) == 8
    assert all(r["attribution"]["agrees"] is True for r in records)
