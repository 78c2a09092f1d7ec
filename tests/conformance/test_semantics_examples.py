"""Every case in ../shared/semantics-examples goes through `netwarden verdict`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from netwarden.cli.main import app
from tests.conftest import shared_dir

EXAMPLES = sorted((shared_dir() / "semantics-examples").glob("*.yaml"))


@pytest.mark.parametrize("case_file", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_case(case_file: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(case_file.read_text())
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(case["manifests"])
    probes = tmp_path / "probes.yaml"
    probes.write_text(yaml.safe_dump(case["probes"]))
    result = CliRunner().invoke(app, ["verdict", "-f", str(manifests), "--probes", str(probes)])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert len(records) == len(case["probes"])
    failures = []
    for probe, record in zip(case["probes"], records, strict=True):
        assert record["from"] == probe["from"] and record["to"] == probe["to"]
        for key in ("egress", "ingress"):
            assert {"allowed", "tier", "policies"} <= set(record[key])
        if record["verdict"] != probe["expect"]:
            failures.append(f"{probe} -> {record['verdict']}: {record}")
    assert not failures, "\n".join(failures)
