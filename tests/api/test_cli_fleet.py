"""The control plane's proof scenario, driven through the CLI against a running server:
a project, clusters labelled prod and staging, a workspace with a bound Workspace Admin,
a default-deny blueprint assigned by label, the desired state of exactly the matching
clusters, a namespace policy changed by the Workspace Admin, who is refused a
cluster-wide policy; then the agent's pull and report show up in `rollout status`."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import Result

from netwarden.cli.main import app
from tests.api.test_cli_control import Live, live, runner  # noqa: F401 (fixture)

FLEET = """apiVersion: netwarden.dev/v1
kind: Project
metadata: {name: shop}
---
apiVersion: netwarden.dev/v1
kind: Cluster
metadata: {name: prod-eu, labels: {env: prod}}
spec: {project: shop}
---
apiVersion: netwarden.dev/v1
kind: Cluster
metadata: {name: staging, labels: {env: staging}}
spec: {project: shop}
---
apiVersion: netwarden.dev/v1
kind: Workspace
metadata: {name: checkout}
spec: {project: shop}
---
apiVersion: netwarden.dev/v1
kind: Namespace
metadata: {name: cart}
spec: {cluster: prod-eu, workspace: checkout}
---
apiVersion: netwarden.dev/v1
kind: Namespace
metadata: {name: kube-system}
spec: {cluster: prod-eu}
---
apiVersion: netwarden.dev/v1
kind: User
metadata: {name: wendy}
---
apiVersion: netwarden.dev/v1
kind: RoleBinding
metadata: {name: wendy-checkout}
spec: {user: wendy, role: workspace-admin, workspace: checkout}
"""
BLUEPRINT = """apiVersion: netwarden.dev/v1
kind: Blueprint
metadata: {name: day0}
spec:
  project: shop
  assign: {clusterSelector: {matchLabels: {env: prod}}}
  namespaceDefaults:
  - name: deny
    exclude: [kube-system]
    policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: default-deny}
      spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""
TEAM_POLICY = """apiVersion: netwarden.dev/v1
kind: Policy
spec:
  cluster: prod-eu
  manifest:
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {{name: cart-from-web, namespace: cart}}
    spec:
      podSelector: {{matchLabels: {{app: cart}}}}
      ingress: [{{ports: [{{port: {port}}}]}}]
"""
CCNP = """apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: allow-all}
spec: {endpointSelector: {}, ingress: [{fromEntities: [all]}]}
"""


def cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}"
    return result


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)
    return directory


def test_blueprint_by_label_and_workspace_admin_limits(live: Live) -> None:  # noqa: F811
    cli("login", "--server", live.url, "--token", live.admin_token, "--context", "admin")
    fleet = write(live.home / "fleet", "fleet.yaml", FLEET)
    cli("apply", "-f", str(fleet))
    write(fleet, "day0.yaml", BLUEPRINT)
    applied = cli("apply", "-f", str(fleet)).output
    assert "blueprint/day0" in applied and "created" in applied
    assert "unchanged" in cli("apply", "-f", str(fleet)).output.split("blueprint/day0")[1][:40]
    prod = cli("rollout", "desired", "prod-eu", "-o", "table").output
    assert "NetworkPolicy  cart" in prod and "blueprint/day0@v1#deny" in prod
    assert "kube-system" not in prod.split("SOURCE")[1]  # excluded
    staging = cli("rollout", "desired", "staging", "-o", "table").output
    assert "no objects" in staging  # env=staging does not match the blueprint
    assert "day0" in cli("get", "blueprints").output

    token = cli("token", "create", "--user", "wendy").stdout.strip()
    cli("login", "--server", live.url, "--token", token, "--context", "wendy")
    team = write(live.home / "team", "cart.yaml", TEAM_POLICY.format(port=8080))
    cli("apply", "-f", str(team), "--context", "wendy")
    write(team, "cart.yaml", TEAM_POLICY.format(port=9090))
    assert "update" in cli("apply", "-f", str(team), "--context", "wendy").output
    ccnp = write(live.home / "ccnp", "ccnp.yaml", CCNP)
    refused = cli("apply", "-f", str(ccnp), "--cluster", "prod-eu", "--context", "wendy", code=2)
    assert "(403)" in refused.stderr
    objects = cli("rollout", "desired", "prod-eu", "-o", "table", "--context", "admin").output
    assert "cart-from-web" in objects and "allow-all" not in objects

    # The cluster's agent pulls its desired state and reports it applied: rollout follows.
    issued = cli("token", "create", "--cluster", "prod-eu", "--context", "admin")
    assert "agent of cluster prod-eu" in issued.stderr
    cli("token", "create", "--cluster", "prod-eu", "--context", "wendy", code=2)  # not hers
    cli("token", "create", "--context", "admin", code=2)  # neither --user nor --cluster
    agent = {"Authorization": f"Bearer {issued.stdout.strip()}"}
    with httpx.Client(base_url=live.url, timeout=10) as http:
        state = http.get("/api/v1/agent/desired-state", headers=agent).json()
        before = cli("rollout", "status", "--context", "admin").output
        assert "prod-eu" in before and "unknown" in before
        report = {
            "generation": state["generation"],
            "objects": [
                {"kind": o["kind"], "namespace": o["metadata"].get("namespace", ""),
                 "name": o["metadata"]["name"], "status": "applied"}
                for o in state["objects"]
            ],
        }  # fmt: skip
        assert http.post("/api/v1/agent/status", json=report, headers=agent).status_code == 200
    after = cli("rollout", "status", "--context", "admin").output
    prod_line = next(line for line in after.splitlines() if line.startswith("prod-eu"))
    assert "synced" in prod_line
