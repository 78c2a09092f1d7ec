"""``netwarden rollout waves|pause|resume|promote`` against a running server: a waved
blueprint applied from a manifest reaches staging first, the operator promotes it to
prod, and controls on a finished rollout are refused with the server's reason."""

from __future__ import annotations

from tests.api.test_cli_control import Live, cli, live, write  # noqa: F401 (fixture)
from tests.api.test_cli_fleet import FLEET

WAVED = """apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {name: day0}
spec:
  project: shop
  assign: {clusterSelector: {matchExpressions: [{key: env, operator: Exists}]}}
  clusterPolicies:
  - apiVersion: cilium.io/v2
    kind: CiliumClusterwideNetworkPolicy
    metadata: {name: allow-dns}
    spec:
      endpointSelector: {}
      egress:
      - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system}}]
        toPorts: [{ports: [{port: "53", protocol: ANY}]}]
  rollout:
    waves:
    - {name: staging, clusterSelector: {matchLabels: {env: staging}}}
    - {name: prod}
"""


def test_waves_from_the_cli(live: Live) -> None:  # noqa: F811
    cli("login", "--server", live.url, "--token", live.admin_token, "--context", "admin")
    fleet = write(live.home / "fleet", "fleet.yaml", FLEET).parent
    write(fleet, "day0.yaml", WAVED)
    cli("apply", "-f", str(fleet))
    shown = cli("rollout", "waves", "day0").output
    assert "progressing, wave staging" in shown
    staging = next(line for line in shown.splitlines() if line.startswith("staging"))
    assert "current" in staging and "unknown" in staging  # no agent has reported
    assert "no objects" in cli("rollout", "desired", "prod-eu", "-o", "table").output
    assert "paused by admin" in cli("rollout", "pause", "day0").output
    promoted = cli("rollout", "promote", "day0").output
    assert "wave prod" in promoted
    assert "allow-dns" in cli("rollout", "desired", "prod-eu", "-o", "table").output
    done = cli("rollout", "promote", "day0", "-o", "json").output
    assert '"state": "completed"' in done
    refused = cli("rollout", "pause", "day0", code=2)
    assert "no rollout in progress" in refused.stderr
    cli("rollout", "waves", "nope", code=2)
