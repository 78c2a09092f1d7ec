"""The control-plane CLI (login, contexts, get, describe, apply, diff, delete, audit,
policy history/rollback, tokens) driven in-process against a real server on SQLite: an
org admin sets up a project from a manifest directory, a workspace admin manages its own
policies and is refused cluster-wide ones, and bad manifests are refused, located,
before anything is sent."""

from __future__ import annotations

import json
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
import yaml
from click.testing import Result
from typer.testing import CliRunner

from netwarden.api.app import create_app
from netwarden.api.auth import ControlPlaneAuthenticator
from netwarden.cli.main import app
from netwarden.client.control import ROLE_SCOPES
from netwarden.control.bootstrap import bootstrap
from netwarden.control.db import open_database, sqlite_url
from netwarden.control.models import Role
from netwarden.control.rbac import role_scope
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.service import FlowService
from tests.api.conftest import free_port

runner = CliRunner()


@dataclass
class Live:
    url: str
    admin_token: str
    home: Path


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    """A server on a fresh SQLite database (org "acme", user "admin" with a token), and a
    client configuration file of this test's own."""
    for name in ("NETWARDEN_API", "NETWARDEN_TOKEN", "NETWARDEN_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETWARDEN_CONFIG", str(tmp_path / "client" / "config.yaml"))
    db = open_database(sqlite_url(tmp_path / "control.db"))
    with db.session() as session:
        boot = bootstrap(session, "acme")
        assert boot is not None
    flows = FlowService(DuckDBFlowStore())
    application = create_app(flow_service=flows, authenticator=ControlPlaneAuthenticator(db), db=db)
    port = free_port()
    config = uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}", boot.token, tmp_path)
    finally:
        server.should_exit = True
        thread.join(10)
        flows.store.close()
        db.close()


def cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unhandled exception: {result.exception!r}\n{result.output}")
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}"
    assert "Traceback" not in result.output
    return result


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


ORG = """\
apiVersion: netwarden.dev/v1
kind: Project
metadata: {name: shop}
spec: {description: The web shop}
---
apiVersion: netwarden.dev/v1
kind: Workspace
metadata: {name: checkout}
spec: {project: shop}
"""
CLUSTERS = """\
apiVersion: netwarden.dev/v1
kind: Cluster
metadata:
  name: prod
  labels: {env: prod}
spec: {project: shop}
---
apiVersion: netwarden.dev/v1
kind: Cluster
metadata:
  name: staging
  labels: {env: staging}
spec: {project: shop, enforcementMode: audit}
"""
NAMESPACES = """\
apiVersion: netwarden.dev/v1
kind: List
items:
- apiVersion: netwarden.dev/v1
  kind: Namespace
  metadata: {name: payments, labels: {team: pay}}
  spec: {cluster: prod, workspace: checkout}
- apiVersion: netwarden.dev/v1
  kind: Namespace
  metadata: {name: payments}
  spec: {cluster: staging, workspace: checkout}
- apiVersion: netwarden.dev/v1
  kind: Namespace
  metadata: {name: web}
  spec: {cluster: prod}
"""
# Sorted first in the directory: apply still creates the user after the workspace.
ACCESS = """\
apiVersion: netwarden.dev/v1
kind: RoleBinding
metadata: {name: wendy-checkout}
spec: {user: wendy, role: workspace-admin, workspace: checkout}
---
apiVersion: netwarden.dev/v1
kind: User
metadata: {name: wendy}
spec: {email: wendy@example.com}
"""
DENY_ALL = """\
apiVersion: netwarden.dev/v1
kind: Policy
metadata: {name: prod-default-deny}
spec:
  cluster: prod
  manifest:
    apiVersion: cilium.io/v2
    kind: CiliumClusterwideNetworkPolicy
    metadata: {name: default-deny}
    spec:
      endpointSelector: {}
      ingress: [{}]
"""
NP = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: payments}}
spec:
  podSelector: {{matchLabels: {{app: {name}}}}}
  ingress:
  - from: [{{podSelector: {{matchLabels: {{app: web}}}}}}]
    ports: [{{port: {port}}}]
"""
CCNP = """\
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: allow-all}
spec:
  endpointSelector: {}
  ingress: [{fromEntities: [all]}]
"""


def org_dir(root: Path) -> Path:
    directory = root / "org"
    write(directory, "access.yaml", ACCESS)
    write(directory, "clusters.yaml", CLUSTERS)
    write(directory, "namespaces.yaml", NAMESPACES)
    write(directory, "org.yaml", ORG)
    write(directory / "policies", "deny.yaml", DENY_ALL)
    return directory


def lines(result: Result) -> list[str]:
    return result.stdout.strip().splitlines()


def test_role_scopes_match_the_server() -> None:
    assert ROLE_SCOPES == {role.value: role_scope(role).value for role in Role}


def test_login_and_contexts(live: Live) -> None:
    cli("get", "projects", code=2)  # no context yet: says how to log in
    bad = cli("login", "--server", live.url, "--token", "nw_wrong", code=2)
    assert "invalid token (401)" in bad.output
    done = cli("login", "--server", live.url, "--token", live.admin_token)
    context = f"admin@{live.url.removeprefix('http://')}"
    assert f"context {context!r} is current" in done.output
    config = live.home / "client" / "config.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    stored = yaml.safe_load(config.read_text())
    assert stored["current-context"] == context and stored["contexts"][0]["user"] == "admin"
    cli("login", "--server", live.url, "--token", live.admin_token, "--context", "other")
    table = cli("config", "get-contexts").stdout
    assert "* " in next(row for row in table.splitlines() if " other " in f"{row} ")
    cli("config", "use-context", context)
    assert cli("config", "current-context").stdout.strip() == context
    cli("config", "use-context", "nope", code=2)
    cli("get", "projects", "--context", "nope", code=2)
    # --server without --token: the context's token goes to the context's server only.
    elsewhere = cli("get", "projects", "--server", "http://127.0.0.1:9", code=2)
    assert "no token for http://127.0.0.1:9" in elsewhere.output
    assert cli("get", "projects", "--server", live.url + "/").stderr.startswith("No projects")
    # A token made for CI, then revoked: it stops working at once.
    made = cli("token", "create", "--user", "admin", "--name", "ci")
    token_id = made.stderr.split()[1]
    cli("login", "--server", live.url, "--token", made.stdout.strip(), "--context", "ci")
    assert cli("token", "revoke", token_id, "--context", "other").stdout.startswith("Token")
    assert "invalid token (401)" in cli("get", "projects", "--context", "ci", code=2).output


def test_a_server_settings_file_is_never_overwritten(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`netwarden serve` reads NETWARDEN_CONFIG too (TOML): login refuses to replace it."""
    settings = write(live.home, "server.toml", 'data_dir = "data"\nport = 8080\n')
    monkeypatch.setenv("NETWARDEN_CONFIG", str(settings))
    refused = cli("login", "--server", live.url, "--token", live.admin_token, code=2)
    assert "not a Netwarden client configuration" in refused.stderr
    assert settings.read_text() == 'data_dir = "data"\nport = 8080\n'
    assert "not a Netwarden client configuration" in cli("get", "projects", code=2).stderr


def test_control_plane_end_to_end(live: Live) -> None:
    cli("login", "--server", live.url, "--token", live.admin_token, "--context", "admin")
    org = org_dir(live.home)
    _set_up_the_org(org)
    wendy = cli("token", "create", "--user", "wendy", "--name", "laptop").stdout.strip()
    assert wendy.startswith("nw_")
    cli("login", "--server", live.url, "--token", wendy, "--context", "wendy")
    assert cli("config", "current-context").stdout.strip() == "wendy"  # login switches
    cli("config", "use-context", "admin")
    _get_and_describe()
    _workspace_admin_policies(live.home / "team")
    _history_rollback_and_audit()


def _set_up_the_org(org: Path) -> None:
    dry = cli("apply", "-f", str(org), "--dry-run")
    assert "project/shop would create" in dry.stdout and "(dry run" in dry.stdout
    assert cli("get", "projects", "--context", "admin").stderr.startswith("No projects")
    first = lines(cli("apply", "-f", str(org)))
    assert first == [
        "project/shop created",
        "workspace/checkout created",
        "cluster/prod created",
        "cluster/staging created",
        "namespace/prod/payments created",
        "namespace/staging/payments created",
        "namespace/prod/web created",
        "user/wendy created",
        "rolebinding/wendy/workspace-admin/workspace/checkout created",
        "ciliumclusterwidenetworkpolicy/prod/default-deny created",
        "10 created",
    ]
    again = lines(cli("apply", "-f", str(org)))
    assert all(line.endswith(" unchanged") for line in again[:-1]) and again[-1] == "10 unchanged"
    assert cli("diff", "-f", str(org)).stdout == ""
    # A changed label: diff shows it (exit 1), apply updates only that cluster.
    write(org, "clusters.yaml", CLUSTERS.replace("env: staging", "env: stage"))
    shown = cli("diff", "-f", str(org), code=1).stdout
    assert "-  env: staging\n+  env: stage" in shown and "server: cluster/staging" in shown
    updated = cli("apply", "-f", str(org), "-o", "json").stdout
    records = {r["object"]: r for r in json.loads(updated)["items"]}
    assert records["cluster/staging"]["action"] == "updated"
    assert records["cluster/staging"]["changes"] == ["labels"]
    assert records["cluster/prod"]["action"] == "unchanged"
    write(org, "clusters.yaml", CLUSTERS)
    cli("apply", "-f", str(org))


def _get_and_describe() -> None:
    clusters = cli("get", "clusters").stdout
    assert clusters.splitlines()[0].split()[:3] == ["NAME", "PROJECT", "LABELS"]
    assert "prod     shop     env=prod" in clusters and "audit" in clusters
    assert [r.split()[0] for r in lines(cli("get", "clusters", "-l", "env=prod"))] == [
        "NAME",
        "prod",
    ]
    namespaces = lines(cli("get", "ns", "--cluster", "prod"))
    assert [r.split()[:3] for r in namespaces[1:]] == [
        ["prod", "payments", "checkout"],
        ["prod", "web", "-"],
    ]
    bindings = cli("get", "rolebindings").stdout
    assert "user:wendy  workspace-admin  workspace:checkout" in bindings
    assert "user:admin  org-admin        org" in bindings
    project = cli("describe", "project", "shop").stdout
    assert "description: The web shop" in project and "Clusters:" in project
    assert "prod" in project and "checkout" in project
    one = json.loads(cli("get", "cluster", "prod", "-o", "json").stdout)
    assert one["kind"] == "Cluster" and one["spec"]["project"] == "shop"
    cli("get", "cluster", "nope", code=2)
    cli("get", "gizmos", code=2)
    cli("get", "projects", "--label", "a=b", code=2)
    # The workspace admin sees its workspace's project and the user directory (to bind
    # roles by name), but may not create users.
    assert "wendy" in cli("get", "users", "--context", "wendy").output
    assert lines(cli("get", "workspaces", "--context", "wendy"))[1].startswith("checkout")


def _workspace_admin_policies(team: Path) -> None:
    cli("config", "use-context", "wendy")
    write(team, "db.yaml", NP.format(name="db", port=5432))
    apply = ("apply", "-f", str(team), "--cluster", "prod")
    assert lines(cli(*apply))[0] == "networkpolicy/prod/payments/db created"
    assert lines(cli(*apply))[0] == "networkpolicy/prod/payments/db unchanged"
    write(team, "db.yaml", NP.format(name="db", port=6432))
    shown = cli("diff", "-f", str(team), "--cluster", "prod", code=1).stdout
    assert "-    - port: 5432\n+    - port: 6432" in shown
    dry = lines(cli(*apply, "--dry-run"))[0]
    assert dry == "networkpolicy/prod/payments/db would update (version 1 -> 2)"
    cli("diff", "-f", str(team), "--cluster", "prod", code=1)  # the dry run changed nothing
    assert lines(cli(*apply))[0] == "networkpolicy/prod/payments/db updated (version 1 -> 2)"
    cli("diff", "-f", str(team), "--cluster", "prod")
    # A cluster-wide policy is an infra role's: refused, exit 2, nothing else applied.
    ccnp = write(team.parent / "ccnp", "ccnp.yaml", CCNP)
    refused = cli("apply", "-f", str(ccnp), "--cluster", "prod", code=2)
    assert "ccnp.yaml:1 (document 1): error: ciliumclusterwidenetworkpolicy/prod/allow-all" in (
        refused.stderr
    )
    assert "wendy may not write-cluster-policy" in refused.stderr and "(403)" in refused.stderr
    # --prune removes the policy whose file is gone (its own cluster's policies only).
    write(team, "cache.yaml", NP.format(name="cache", port=6379))
    assert "networkpolicy/prod/payments/cache created" in cli(*apply).stdout
    (team / "cache.yaml").unlink()
    assert "networkpolicy/prod/payments/cache unchanged" not in cli(*apply).stdout
    would = cli(*apply, "--prune", "--dry-run").stdout
    assert "networkpolicy/prod/payments/cache would prune" in would
    pruned = lines(cli(*apply, "--prune"))
    assert pruned[:2] == [
        "networkpolicy/prod/payments/db unchanged",
        "networkpolicy/prod/payments/cache pruned",
    ]
    assert [r.split()[3] for r in lines(cli("get", "policies"))[1:]] == ["db"]
    # A pruned policy applied again comes back (its history goes on).
    write(team, "cache.yaml", NP.format(name="cache", port=6380))
    assert "networkpolicy/prod/payments/cache created" in cli(*apply).stdout
    history = lines(cli("policy", "history", "cache", "--cluster", "prod"))
    assert [r.split()[0] for r in history[1:]] == ["3", "2", "1"]
    (team / "cache.yaml").unlink()
    assert "networkpolicy/prod/payments/cache pruned" in cli(*apply, "--prune").stdout
    cli("config", "use-context", "admin")


def _history_rollback_and_audit() -> None:
    described = cli("describe", "policy", "db", "--cluster", "prod").stdout
    assert "Version:  2" in described and "port: 6432" in described
    assert "netwarden apply (" in described and "VERSION  AUTHOR" in described
    history = lines(cli("policy", "history", "db", "--cluster", "prod"))
    assert [r.split()[:2] for r in history[1:]] == [["2", "wendy"], ["1", "wendy"]]
    rolled = cli("policy", "rollback", "db", "--cluster", "prod", "--to", "1").stdout
    assert "now version 3" in rolled
    assert "port: 5432" in cli("describe", "policy", "db", "--cluster", "prod").stdout
    cache = lines(cli("policy", "history", "cache", "--cluster", "prod", "-n", "payments"))
    assert "deleted" in cache[1] and "pruned by netwarden apply" in cache[1]
    assert len(cache) == 5  # header, deleted, created again, deleted, created
    denied = cli("audit", "--outcome", "denied").stdout
    assert "wendy" in denied and "write-cluster-policy" in denied and "allow-all" in denied
    assert "admin" not in denied.replace("wendy", "")
    entries = json.loads(cli("audit", "--actor", "wendy", "-o", "json", "--limit", "5").stdout)
    assert {e["actor"] for e in entries["items"]} == {"wendy"}
    assert "wendy may not read-audit" in cli("audit", "--context", "wendy", code=2).output
    cli("delete", "policy", "db", "--cluster", "prod")
    cli("delete", "workspace", "checkout", code=2)


def test_get_yaml_applies_back_unchanged(live: Live) -> None:
    """What `get -o yaml` prints, apply reads back: nothing to change."""
    cli("login", "--server", live.url, "--token", live.admin_token)
    cli("apply", "-f", str(org_dir(live.home)))
    kinds = ("projects", "workspaces", "clusters", "namespaces", "users", "rolebindings")
    for kind in (*kinds, "policies"):
        write(live.home / "export", f"{kind}.yaml", cli("get", kind, "-o", "yaml").stdout)
    assert (
        "kind: CiliumClusterwideNetworkPolicy" in (live.home / "export/policies.yaml").read_text()
    )
    exported = lines(cli("apply", "-f", str(live.home / "export")))
    assert exported[-1] == "12 unchanged"  # 1+1+2+3 org objects, 2 users, 2 bindings, 1 policy


BAD = """\
apiVersion: netwarden.dev/v1
kind: Cluster
metadata:
  name: Prod_EU
  labels: {env: prod}
spec:
  project: shop
  enforcementMode: loud
---
apiVersion: netwarden.dev/v1
kind: RoleBinding
metadata: {name: x}
spec: {user: wendy, role: workspace-admin, project: shop}
---
apiVersion: netwarden.dev/v1
kind: Policy
metadata: {name: x}
spec:
  cluster: prod
  manifest:
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: db, namespace: payments}
    spec:
      podSelector: {}
      ingress:
      - ports: [{port: postgres-port!}]
---
apiVersion: netwarden.dev/v1
kind: Gizmo
metadata: {name: x}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: plain}
spec: {podSelector: {}}
"""


def test_bad_manifests_are_located_and_nothing_is_sent(live: Live) -> None:
    cli("login", "--server", live.url, "--token", live.admin_token)
    good = write(live.home / "m", "a-project.yaml", ORG)
    bad = write(live.home / "m", "b-bad.yaml", BAD)
    refused = cli("apply", "-f", str(good.parent), code=2)
    errors = refused.stderr
    assert f"{bad}:4 (document 1) metadata.name: error: 'Prod_EU' is not a DNS label" in errors
    assert f"{bad}:8 (document 1) spec.enforcementMode: error: expected one of enforce" in errors
    assert f"{bad}:13 (document 2) spec.project: error: workspace-admin is bound over" in errors
    assert f"{bad}:27 (document 3) spec.manifest.spec.ingress[0].ports[0].port" in errors
    assert f"{bad}:30 (document 4) kind: error: unknown kind Gizmo" in errors
    assert f"{bad}:34 (document 5) kind: error: a plain NetworkPolicy needs --cluster" in errors
    assert cli("get", "projects").stderr.startswith("No projects")  # nothing was sent
    # References are checked against the server before anything changes.
    dangling = write(live.home / "d", "ws.yaml", ORG.replace("project: shop", "project: nope"))
    refused = cli("apply", "-f", str(dangling), code=2)
    assert f"{dangling}:9 (document 2) spec.project: error: project 'nope' is neither" in (
        refused.stderr
    )
    assert "nothing was applied" in refused.stderr
    assert cli("get", "projects").stderr.startswith("No projects")
    duplicate = write(live.home / "dup", "two.yaml", ORG + "---\n" + ORG)
    assert "is also defined at" in cli("apply", "-f", str(duplicate), code=2).stderr
    assert "no such file" in cli("apply", "-f", str(live.home / "missing"), code=2).stderr


def test_api_errors_show_their_fields(live: Live) -> None:
    cli("login", "--server", live.url, "--token", live.admin_token)
    long_name = "u" * 130  # the server allows 127 characters
    user = f"apiVersion: netwarden.dev/v1\nkind: User\nmetadata: {{name: {long_name}}}\n"
    path = write(live.home / "u", "user.yaml", ORG + "---\n" + user)
    result = cli("apply", "-f", str(path), code=2)
    assert f"{path}:11 (document 3): error: user/{long_name}:" in result.stderr
    assert "  body.name: String should have at most 127 characters" in result.stderr
    assert "apply stopped; the 2 change(s) listed above were made" in result.stderr
    assert lines(result)[:2] == ["project/shop created", "workspace/checkout created"]
