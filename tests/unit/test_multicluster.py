"""Several clusters in one run: `-f cluster=path` and `cluster:ns/pod` probes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from netwarden.cli.main import app

CLUSTER = """
apiVersion: v1
kind: Namespace
metadata: {{name: x, labels: {{ns: x}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: a, namespace: x, labels: {{app: a}}}}
status: {{podIP: {a}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: b, namespace: x, labels: {{app: b}}}}
status: {{podIP: {b}}}
"""

# In prod-eu, x/b only accepts x/a of its own cluster (no cluster label: the local
# cluster) and x/a of prod-us (explicit cluster label).
EU_POLICY = """
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: b-from-a, namespace: x}
spec:
  endpointSelector: {matchLabels: {app: b}}
  ingress:
  - fromEndpoints:
    - matchLabels: {app: a}
    - matchLabels: {app: a, io.cilium.k8s.policy.cluster: prod-us}
"""


def run(tmp_path: Path, probes: list[dict[str, object]]) -> list[dict[str, object]]:
    eu, us = tmp_path / "eu", tmp_path / "us"
    eu.mkdir()
    us.mkdir()
    (eu / "cluster.yaml").write_text(CLUSTER.format(a="10.1.0.1", b="10.1.0.2") + EU_POLICY)
    (us / "cluster.yaml").write_text(CLUSTER.format(a="10.2.0.1", b="10.2.0.2"))
    probe_file = tmp_path / "probes.json"
    probe_file.write_text(json.dumps(probes))
    args = ["verdict", "-f", f"prod-eu={eu}", "-f", f"prod-us={us}", "--probes", str(probe_file)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records: list[dict[str, object]] = json.loads(result.stdout)
    return records


def test_policies_apply_in_their_own_cluster(tmp_path: Path) -> None:
    records = run(
        tmp_path,
        [
            {"from": "prod-eu:x/a", "to": "prod-eu:x/b", "port": 80, "protocol": "TCP"},
            {"from": "prod-us:x/a", "to": "prod-eu:x/b", "port": 80, "protocol": "TCP"},
            {"from": "prod-us:x/b", "to": "prod-eu:x/b", "port": 80, "protocol": "TCP"},
            {"from": "prod-eu:x/b", "to": "prod-us:x/b", "port": 80, "protocol": "TCP"},
            {"from": "10.2.0.2", "to": "10.1.0.2", "port": 80, "protocol": "TCP"},
        ],
    )
    assert [r["verdict"] for r in records] == ["allow", "allow", "deny", "allow", "deny"]
    denied = records[2]["ingress"]
    assert isinstance(denied, dict)
    assert denied["reason"] == "isolated"
    assert denied["policies"][0]["cluster"] == "prod-eu"


def test_unknown_cluster_prefix_is_a_located_error(tmp_path: Path) -> None:
    eu = tmp_path / "eu"
    eu.mkdir()
    (eu / "c.yaml").write_text(CLUSTER.format(a="10.1.0.1", b="10.1.0.2"))
    probes = tmp_path / "p.yaml"
    probes.write_text("- {from: 'prod-xx:x/a', to: 'prod-eu:x/b', port: 80}\n")
    result = CliRunner().invoke(app, ["verdict", "-f", f"prod-eu={eu}", "--probes", str(probes)])
    assert result.exit_code == 2
    assert "p.yaml:1" in result.stderr and "prod-xx" in result.stderr
